#!/usr/bin/env bash
# Stops the laptop monitoring stack (its data volumes are kept) and closes the server doors that
# scripts/monitoring-session.sh opened.
#   scripts/stop-monitoring.sh          stop, keep Prometheus' and Grafana's data
#   scripts/stop-monitoring.sh --purge  stop and delete that data too
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

purge=false
case "${1:-}" in
  --purge) purge=true ;;
  -h | --help)
    sed -n '2,5s/^# \{0,1\}//p' "$0"
    exit 0 ;;
  "") ;;
  *) die "unknown argument '$1'; see --help." ;;
esac

load_env
failed=0
close_session_doors || failed=1

if $purge; then compose down -v; else compose down; fi
echo "The monitoring stack is stopped.$($purge || echo " Its data is kept; 'scripts/stop-monitoring.sh --purge' deletes it.")"
exit "$failed"
