-- Similarity requests that each need an embedding: every request carries a
-- stacktrace no request sent before (the run's seed from BENCH_SEED, the
-- thread and a counter in the function names and the crashing line), so the
-- embedder's LRU never answers and the model runs for each one.
local counter = 0
local created = 0
local seed = tonumber(os.getenv("BENCH_SEED") or "0") or 0

-- Runs in the main state once per thread: gives each thread its own id
-- (a global in that thread's state), so threads never repeat a text.
function setup(thread)
  created = created + 1
  thread:set("tid", created)
end

local template = '{"project_id": 2, "hash": "%08x%08x%016d", ' ..
  '"stacktrace": "ValueError: invalid literal for int() with base 10: \'x%d-%d-%d\'\\n' ..
  '  File \\"billing/jobs.py\\", function run_invoice_batch_%d\\n    for invoice in batch.pending_%d():\\n' ..
  '  File \\"billing/invoices.py\\", function total_%d\\n    amount += int(line.amount_%d)", ' ..
  '"exception_type": "ValueError", "k": 1, "threshold": 0.01, "referrer": "ingest", ' ..
  '"use_reranking": true, "model": "v1", "training_mode": false}'

function request()
  counter = counter + 1
  local t = tid or 0
  local body = string.format(template, seed, t, counter, seed, t, counter,
    counter, seed * 100 + t, counter % 9973, counter % 7919)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json;charset=utf-8"}, body)
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
