#!/usr/bin/env bash
# The api-daemon benchmark, all in one run and one private network namespace (loopback only):
#   /health and GET port-status throughput and latency (wrk, 64 connections) for sms-bridge-api,
#   against FastAPI + uvicorn serving the same /health JSON, twice: as the original wrote it (def,
#   run on a thread pool) and tuned as a FastAPI user runs it (async def, uvloop, httptools: the
#   baseline), and a bare Boost.Beast server (the ceiling); open-port and close-port round trips
#   through HTTP (auth, the helper, the audit commit); the api-daemon's RSS after the load; and how
#   much of the two cores wrk itself took.
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
# The original's stack, with two workers for the two cores (asyncio and h11 named: uvicorn would
# pick uvloop and httptools by itself where they are installed); and the same tuned (uvloop and
# httptools named, so a missing one is an error rather than a silent fallback).
ip netns exec "$ns" env --chdir=bench/api /usr/bin/python3 -m uvicorn fastapi_health:app --host 127.0.0.1 --port 18081 \
  --workers 2 --loop asyncio --http h11 --log-level warning &
pids+=($!)
ip netns exec "$ns" env --chdir=bench/api /usr/bin/python3 -m uvicorn fastapi_health_async:app --host 127.0.0.1 --port 18083 \
  --workers 2 --loop uvloop --http httptools --log-level warning &
pids+=($!)
for port in 18080 18081 18082 18083; do
  for _ in $(seq 100); do in_ns curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
done

auth="Authorization: Basic $(printf 'bench:bench-password' | base64)"
# wrk's summary: requests/s, and the 50% and 99% latencies from --latency; and wrk's own CPU time
# over the run as a share of the machine (it shares the two cores with the server it measures).
measure() {  # NAME URL [HEADER]
  local out cpu_file
  cpu_file=$(mktemp)
  if [ -n "${3:-}" ]; then
    out=$( { /usr/bin/time -f '%U %S' -o "$cpu_file" ip netns exec "$ns" wrk -t2 -c64 -d"${seconds}s" --latency -H "$3" "$2"; } )
  else
    out=$( { /usr/bin/time -f '%U %S' -o "$cpu_file" ip netns exec "$ns" wrk -t2 -c64 -d"${seconds}s" --latency "$2"; } )
  fi
  local rps p50 p99 errors share
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  share=$(awk -v s="$seconds" -v n="$(nproc)" '{printf "%.0f%%", 100 * ($1 + $2) / (s * n)}' "$cpu_file")
  rm -f "$cpu_file"
  echo "$1|$rps|$p50|$p99|${errors:-0}|$share"
}
in_ns wrk -t2 -c64 -d2s "http://127.0.0.1:18080/health" >/dev/null  # warm-up
fastapi=$(measure "FastAPI + uvicorn (2 workers), def, asyncio + h11: as the original" "http://127.0.0.1:18081/health")
tuned=$(measure "FastAPI + uvicorn (2 workers), async def, uvloop + httptools: the baseline" "http://127.0.0.1:18083/health")
beast=$(measure "bare Boost.Beast, /health" "http://127.0.0.1:18082/health")
health=$(measure "sms-bridge-api, /health" "http://127.0.0.1:18080/health")
# Warmed like /health: a fresh daemon's first seconds of Basic reads are slow (p99 67.5 ms against
# 2.7-3.1 ms in the runs after it, 2026-12-03), and they include the credentials' one argon2id check.
in_ns wrk -t2 -c64 -d2s -H "$auth" "http://127.0.0.1:18080/admin/monitoring/port-status" >/dev/null
status=$(measure "sms-bridge-api, GET /admin/monitoring/port-status (Basic), no door open" "http://127.0.0.1:18080/admin/monitoring/port-status" "$auth")
# The same with a door open, so each answer carries a door (its URLs, deadline and kernel timeout).
door() {  # open-port|close-port
  in_ns curl -sf -o /dev/null -X POST -H "$auth" -H "Content-Type: application/json" \
    --data '{"service": "metrics", "duration_minutes": 60, "source": "10.9.9.9/32"}' "http://127.0.0.1:18080/admin/monitoring/$1"
}
door open-port
status_door=$(measure "sms-bridge-api, GET /admin/monitoring/port-status (Basic), one door open" "http://127.0.0.1:18080/admin/monitoring/port-status" "$auth")
door close-port
open=$(in_ns python3 bench/api/open_port_client.py 127.0.0.1 18080 bench bench-password 200)
rss=$(awk '/^VmRSS/ {print $2" "$3}' "/proc/$api_pid/status")
hwm=$(awk '/^VmHWM/ {print $2" "$3}' "/proc/$api_pid/status")

rate() { cut -d'|' -f2 <<<"$1"; }
echo "## sms-bridge-api benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t2 -c64 -d${seconds}s, loopback in a private namespace"
echo
echo "| server and route | requests/s | p50 | p99 | non-2xx | wrk's share of the $(nproc) cores |"
echo "|---|---|---|---|---|---|"
for row in "$fastapi" "$tuned" "$beast" "$health" "$status" "$status_door"; do
  IFS='|' read -r name r p50 p99 errors share <<<"$row"
  echo "| $name | $r | $p50 | $p99 | $errors | $share |"
done
echo
python3 - "$(rate "$health")" "$(rate "$tuned")" "$(rate "$beast")" "$open" "$rss" "$hwm" "$(rate "$fastapi")" "$(rate "$status")" "$(rate "$status_door")" <<'PY'
import json, sys
health, tuned, beast = (float(x) for x in sys.argv[1:4])
o = json.loads(sys.argv[4])
untuned, status, status_door = float(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9])
print(f"- /health: **{100 * health / beast:.0f}%** of the bare Beast ceiling; **{health / tuned:.1f}×** the tuned FastAPI "
      f"(async def, uvloop, httptools), {health / untuned:.1f}× FastAPI as the original wrote it (the tuned one is "
      f"{tuned / untuned:.1f}× that).")
print(f"- GET port-status with Basic: **{100 * status / health:.0f}%** of /health's requests/s with no door open, "
      f"**{100 * status_door / health:.0f}%** with one.")
print(f"- open-port through HTTP (auth, helper, audit commit), {o['pairs']} pairs: median **{o['open_median_ms']:.2f} ms** "
      f"(p99 {o['open_p99_ms']:.2f} ms); close-port median {o['close_median_ms']:.2f} ms (p99 {o['close_p99_ms']:.2f} ms).")
print(f"- sms-bridge-api resident memory after the load: **{sys.argv[5]}** (peak {sys.argv[6]}).")
PY
