#!/usr/bin/env bash
# Starts the laptop monitoring stack (Prometheus, Grafana, the postgres exporter).
#   scripts/start-monitoring.sh            start with config/prometheus-remote.yml as it is
#   scripts/start-monitoring.sh --open     open the server's doors first (scripts/monitoring-session.sh)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

case "${1:-}" in
  --open) shift; exec "$project_dir/scripts/monitoring-session.sh" "$@" ;;
  -h | --help)
    sed -n '2,4s/^# \{0,1\}//p' "$0"
    exit 0 ;;
  "") ;;
  *) die "unknown argument '$1'; see --help." ;;
esac

load_env
require_setting GRAFANA_ADMIN_PASSWORD
require_setting SMS_BRIDGE_HOST
require_setting POSTGRES_MONITOR_PASSWORD
if [ ! -f "$prometheus_config" ]; then
  die "there is no config/prometheus-remote.yml yet; run scripts/monitoring-session.sh (it downloads it), or download it from the admin UI (Monitoring → Export Prometheus config) into $project_dir/config/."
fi

compose up -d
cat <<MSG
The monitoring stack is starting (on this laptop only, 127.0.0.1):
  Prometheus  http://localhost:9090   (targets: http://localhost:9090/targets)
  Grafana     http://localhost:3000   (user ${GRAFANA_ADMIN_USER:-admin}; the password is in .env)
Check it with scripts/check-monitoring.sh. Scrapes succeed only while the server's doors are open.
MSG
