#!/usr/bin/env bash
# The metrics history's bounds: a sampling tick's cost and the memory a full budget takes, on the
# series a real sms-bridge-api serves. Starts the helper and the api in a namespace of its own
# (bench/lib.sh), sends the admin and health requests an operator's day has (so that /metrics
# has the series of the routes used), captures /metrics, and runs build/bench/history_bench on it.
#   sudo bash bench/history-run.sh [--budget BYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
budget=8388608
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget=${2:?--budget needs a number of bytes}; shift 2 ;;
    -h | --help) sed -n '2,6s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "history-run.sh: unknown argument '$1'; see --help." >&2; exit 2 ;;
  esac
done
bench_setup history
bench_start_api 18090 19090
get() { ip netns exec "$ns" curl -s -o /dev/null -u bench:bench-password "http://127.0.0.1:18090$1"; }
post() { ip netns exec "$ns" curl -s -o /dev/null -u bench:bench-password -H 'Content-Type: application/json' -X POST --data-binary "$2" "http://127.0.0.1:18090$1"; }
for _ in 1 2 3; do
  for path in /health /admin/monitoring/port-status /admin/monitoring/services /admin/monitoring/history \
              /admin/monitoring/audit /admin/monitoring/export-prometheus-config /admin/notifications /admin/session /nowhere; do
    get "$path"
  done
  post /admin/monitoring/open-port '{"service": "metrics", "duration_minutes": 15}'
  post /admin/monitoring/close-port '{"service": "metrics"}'
  ip netns exec "$ns" curl -s -o /dev/null -u bench:wrong "http://127.0.0.1:18090/admin/monitoring/port-status"
done
ip netns exec "$ns" curl -s "http://127.0.0.1:19090/metrics" > "$work/metrics.txt"
served=$(ip netns exec "$ns" curl -s "http://127.0.0.1:19090/metrics/history" | grep -cv '^#' || true)
echo "## The metrics history"
echo
echo "Run of $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, budget $budget bytes; /metrics has $(grep -cv '^#' "$work/metrics.txt") series; its /metrics/history answered $served samples (the ticks since it started)"
echo
build/bench/history_bench "$work/metrics.txt" "$work" --budget "$budget"
