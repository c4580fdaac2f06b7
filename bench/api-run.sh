#!/usr/bin/env bash
# The api-daemon benchmark, all in one run and one private network namespace (loopback only):
#   /health and GET port-status throughput and latency (wrk, 64 connections) for sms-bridge-api,
#   against FastAPI + uvicorn serving the same /health JSON (the original's stack) and a bare
#   Boost.Beast server (the ceiling); open-port and close-port round trips through HTTP (auth, the
#   helper, the audit commit); the api-daemon's RSS after the load.
# As root; about two minutes. Prints a Markdown report.
#   bash bench/api-run.sh [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
[ "${1:-}" = "--seconds" ] && seconds=$2

source bench/lib.sh
bench_setup api --no-sync  # this benchmark does not measure commits
in_ns() { ip netns exec "$ns" "$@"; }

bench_start_api 18080 19464
ip netns exec "$ns" build/bench/beast_hello 18082 >/dev/null &
pids+=($!)
# The original's stack, with two workers for the two cores.
ip netns exec "$ns" env --chdir=bench/api /usr/bin/python3 -m uvicorn fastapi_health:app --host 127.0.0.1 --port 18081 \
  --workers 2 --log-level warning &
pids+=($!)
for port in 18080 18081 18082; do
  for _ in $(seq 100); do in_ns curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
done

auth="Authorization: Basic $(printf 'bench:bench-password' | base64)"
# wrk's summary: requests/s, and the 50% and 99% latencies from --latency.
measure() {  # NAME URL [HEADER]
  local out
  if [ -n "${3:-}" ]; then out=$(in_ns wrk -t2 -c64 -d"${seconds}s" --latency -H "$3" "$2"); else out=$(in_ns wrk -t2 -c64 -d"${seconds}s" --latency "$2"); fi
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$1|$rps|$p50|$p99|${errors:-0}"
}
in_ns wrk -t2 -c64 -d2s "http://127.0.0.1:18080/health" >/dev/null  # warm-up
fastapi=$(measure "FastAPI + uvicorn (2 workers), /health" "http://127.0.0.1:18081/health")
beast=$(measure "bare Boost.Beast, /health" "http://127.0.0.1:18082/health")
health=$(measure "sms-bridge-api, /health" "http://127.0.0.1:18080/health")
status=$(measure "sms-bridge-api, GET /admin/monitoring/port-status (Basic)" "http://127.0.0.1:18080/admin/monitoring/port-status" "$auth")
open=$(in_ns python3 bench/api/open_port_client.py 127.0.0.1 18080 bench bench-password 200)
rss=$(awk '/^VmRSS/ {print $2" "$3}' "/proc/$api_pid/status")
hwm=$(awk '/^VmHWM/ {print $2" "$3}' "/proc/$api_pid/status")

rate() { cut -d'|' -f2 <<<"$1"; }
echo "## sms-bridge-api benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t2 -c64 -d${seconds}s, loopback in a private namespace"
echo
echo "| server and route | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
for row in "$fastapi" "$beast" "$health" "$status"; do
  IFS='|' read -r name r p50 p99 errors <<<"$row"
  echo "| $name | $r | $p50 | $p99 | $errors |"
done
echo
python3 - "$(rate "$health")" "$(rate "$fastapi")" "$(rate "$beast")" "$open" "$rss" "$hwm" <<'PY'
import json, sys
health, fastapi, beast = (float(x) for x in sys.argv[1:4])
o = json.loads(sys.argv[4])
print(f"- /health: **{health / fastapi:.1f}×** FastAPI's requests/s, **{100 * health / beast:.0f}%** of the bare Beast ceiling.")
print(f"- open-port through HTTP (auth, helper, audit commit), {o['pairs']} pairs: median **{o['open_median_ms']:.2f} ms** "
      f"(p99 {o['open_p99_ms']:.2f} ms); close-port median {o['close_median_ms']:.2f} ms (p99 {o['close_p99_ms']:.2f} ms).")
print(f"- sms-bridge-api resident memory after the load: **{sys.argv[5]}** (peak {sys.argv[6]}).")
PY
