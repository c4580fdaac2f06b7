#!/usr/bin/env bash
# Checks the laptop monitoring stack: containers, Prometheus and Grafana health, and whether the
# server's targets are being scraped. Exit 0 when all is well, 1 otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

case "${1:-}" in
  -h | --help)
    sed -n '2,3s/^# \{0,1\}//p' "$0"
    exit 0 ;;
  "") ;;
  *) die "unknown argument '$1'; see --help." ;;
esac
command -v curl >/dev/null 2>&1 || die "curl is not installed; install it and run me again."

problems=0
echo "== containers"
compose ps || problems=1

echo "== Prometheus (http://localhost:9090)"
if curl -fsS --max-time 5 http://127.0.0.1:9090/-/healthy >/dev/null; then
  echo "healthy"
else
  echo "not answering: start the stack with scripts/start-monitoring.sh"
  problems=1
fi

echo "== Grafana (http://localhost:3000)"
if curl -fsS --max-time 5 http://127.0.0.1:3000/api/health >/dev/null; then
  echo "healthy"
else
  echo "not answering: start the stack with scripts/start-monitoring.sh"
  problems=1
fi

echo "== scrape targets"
if targets=$(curl -fsS --max-time 5 http://127.0.0.1:9090/api/v1/targets 2>/dev/null); then
  summary=$(printf '%s' "$targets" | python3 -c 'import json,sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print(t["labels"].get("job", "?"), t["health"], t.get("lastError", ""))' 2>/dev/null) ||
    die "python3 is needed to read the targets; install it and run me again."
  printf '%s\n' "$summary"
  if printf '%s\n' "$summary" | grep -qv ' up'; then
    echo "a target is down: are the server's doors open? (scripts/monitoring-session.sh opens them)"
    problems=1
  fi
else
  problems=1
fi

echo "== metrics history backfilled from the server"
state_file="$project_dir/.history-backfill.json"
marker=$(curl -fsS --max-time 5 'http://127.0.0.1:9090/api/v1/query?query=count_over_time(sms_bridge_history_backfilled%5B7d%5D)' 2>/dev/null || echo "")
python3 - "$state_file" "$marker" <<'PY' || true
import json, sys, time
try:
    state = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    state = {"spans": []}
fmt = lambda ms: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))
for first, last in state.get("spans", []):
    print(f"backfilled {fmt(first)} to {fmt(last)}")
if not state.get("spans"):
    print("nothing backfilled yet (scripts/monitoring-session.sh does it)")
try:
    result = json.loads(sys.argv[2])["data"]["result"]
    print(f"Prometheus holds {sum(int(r['value'][1]) for r in result)} backfilled sample times (last 7 days)")
except (ValueError, KeyError, IndexError):
    print("Prometheus was not asked for the backfilled times (not answering)")
PY

if [ -f "$session_file" ]; then
  echo "== doors opened by scripts/monitoring-session.sh: $(tr '\n' ' ' <"$session_file")"
fi
if [ "$problems" -ne 0 ]; then
  echo "== last log lines"
  compose logs --tail=10 || true
  exit 1
fi
echo "All well."
