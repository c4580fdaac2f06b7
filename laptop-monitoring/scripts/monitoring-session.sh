#!/usr/bin/env bash
# One step from nothing to dashboards: opens the server's monitoring doors for this laptop,
# downloads the server's Prometheus config into config/ and the metrics history it kept while the
# doors were closed (scripts/backfill-history.py), starts the stack, pushes that history in and tells how long the
# doors stay open. scripts/stop-monitoring.sh closes the doors this opened.
#
#   scripts/monitoring-session.sh [--minutes N] [--doors metrics,postgres] [--source CIDR] [--reason TEXT]
#                                 [--otp CODE]
#
# Defaults come from .env (MONITORING_MINUTES, MONITORING_DOORS, MONITORING_SOURCE, MONITORING_REASON).
# Without a source, the server opens each door for the address it sees this laptop connect from.
# The reason (at most 200 characters) is recorded in the server's audit trail with each open.
# --otp gives the admin's one-time code (a second factor); without it, on a terminal, it is asked
# for when the server wants one.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

load_env
minutes=${MONITORING_MINUTES:-60}
doors=${MONITORING_DOORS:-metrics,postgres}
source_cidr=${MONITORING_SOURCE:-}
reason=${MONITORING_REASON:-}
otp=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=${2:?--minutes needs a number}; shift 2 ;;
    --doors) doors=${2:?--doors needs a list such as metrics,postgres}; shift 2 ;;
    --source) source_cidr=${2:?--source needs a CIDR}; shift 2 ;;
    --reason) reason=${2:?--reason needs a text, such as "disk alert on the server"}; shift 2 ;;
    --otp) otp=${2:?--otp needs the one-time code from your authenticator app}; shift 2 ;;
    -h | --help)
      sed -n '2,14s/^# \{0,1\}//p' "$0"
      exit 0 ;;
    *) die "unknown argument '$1'; see --help." ;;
  esac
done
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -lt 15 ] || [ "$minutes" -gt 240 ]; then
  die "the doors open for 15 to 240 minutes; '$minutes' is not in that range (--minutes or MONITORING_MINUTES)."
fi
if ! [[ "$doors" =~ ^[a-z0-9_,-]+$ ]]; then
  die "'$doors' is not a comma-separated list of door names such as metrics,postgres (--doors or MONITORING_DOORS)."
fi
if [ -n "$source_cidr" ] && ! [[ "$source_cidr" =~ ^[0-9a-fA-F.:]+(/[0-9]+)?$ ]]; then
  die "'$source_cidr' is not an address or CIDR (--source or MONITORING_SOURCE)."
fi
require_setting SMS_BRIDGE_URL
require_setting SMS_BRIDGE_ADMIN_PASSWORD
require_setting GRAFANA_ADMIN_PASSWORD

# If anything below fails, the doors this run opened are closed again.
trap 'status=$?; if [ "$status" -ne 0 ]; then close_session_doors || true; fi; forget_otp_session' EXIT
[ -n "$otp" ] && otp_login "$otp"

source_field=""
[ -n "$source_cidr" ] && source_field=", \"source\": \"$source_cidr\""
reason_field=""
if [ -n "$reason" ]; then  # JSON-quoted by python3 (as json_field parses): any text stays one string
  command -v python3 >/dev/null 2>&1 || die "python3 is not installed; install it and run me again."
  reason_field=", \"reason\": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$reason")"
fi
expires=()
# A live scrape from here on is this session's: the backfill leaves the time since it to the live
# scrape. Whole seconds: BSD date has no %N.
doors_opened_ms=$(( $(date +%s) * 1000 ))
IFS=, read -r -a wanted <<<"$doors"
for door in "${wanted[@]}"; do
  answer=$(api POST /admin/monitoring/open-port "{\"service\": \"$door\", \"duration_minutes\": $minutes$source_field$reason_field}")
  state=$(json_field status <<<"$answer")
  port=$(json_field port <<<"$answer" || echo "?")
  from=$(json_field source <<<"$answer" || echo "?")
  deadline=$(json_field expires_at <<<"$answer" || echo "")
  if [ "$state" = opened ]; then
    echo "$door" >>"$session_file"
    echo "opened the $door door: port $port, for $from, until $deadline"
  else
    echo "the $door door was already open (port $port, for $from, until $deadline); it is left as it is"
  fi
  [ -n "$deadline" ] && expires+=("$deadline")
done

exported=$(mktemp "$project_dir/config/.prometheus-remote.XXXXXX")
if ! api GET /admin/monitoring/export-prometheus-config >"$exported"; then
  rm -f "$exported"
  exit 1
fi
mv "$exported" "$prometheus_config"
echo "saved the server's Prometheus config as config/prometheus-remote.yml"

# The server's history of the closed-door time is downloaded before the stack scrapes anything and
# pushed once Prometheus runs. A failed backfill is a warning: the live dashboards work without it.
backfill=ok
python3 "$project_dir/scripts/backfill-history.py" fetch ||
  { backfill=failed; echo "warning: the server's metrics history was not downloaded; the dashboards show live data only." >&2; }

"$project_dir/scripts/start-monitoring.sh"
trap forget_otp_session EXIT
if [ "$backfill" = ok ]; then
  python3 "$project_dir/scripts/backfill-history.py" push --doors-opened-at "$doors_opened_ms" ||
    echo "warning: the server's metrics history was not pushed into Prometheus; run scripts/backfill-history.py push to retry." >&2
fi

if [ ${#expires[@]} -gt 0 ]; then
  python3 - "${expires[@]}" <<'PY'
import datetime, sys
now = datetime.datetime.now(datetime.timezone.utc)
soonest = min(datetime.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in sys.argv[1:])
left = max(0, int((soonest - now).total_seconds()))
print(f"The first door closes at {soonest.astimezone():%H:%M:%S %Z} (in {left // 60} min {left % 60} s). "
      "scripts/stop-monitoring.sh closes the doors and stops the stack.")
PY
fi
