-- Similarity requests on the cache path: the same body every time, so the
-- embedding comes from the embedder's LRU and only the index is searched.
-- Shaped like Sentry's ingest call (SEER_API.md).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json;charset=utf-8"
wrk.body = '{"project_id": 1, "hash": "0123456789abcdef0123456789abcdef", ' ..
  '"stacktrace": "KeyError: \'u-42\'\\n  File \\"app/views.py\\", function profile_page\\n' ..
  '    return show_profile(profiles, user_id)\\n  File \\"app/profiles.py\\", function lookup\\n' ..
  '    return profiles[user_id]", "exception_type": "KeyError", "k": 1, "threshold": 0.01, ' ..
  '"referrer": "ingest", "use_reranking": true, "model": "v1", "training_mode": false}'

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
