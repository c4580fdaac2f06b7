#!/usr/bin/env bash
# Sustained mixed load: SMS onboarding flows (register, the SMS, the PIN) and admin rounds (open a
# door through the real firewall helper, status, close, history, services, audit, /health,
# /metrics) against sms-bridge-api for SECONDS (default 300), in a private network namespace,
# with a durable cluster under /var/tmp. Reports throughput, p50/p99 per kind, errors, and the
# resident memory of sms-bridge-api and the helper after a warm-up and at the end. As root.
#   bash bench/soak-run.sh [--seconds S] [--sms-connections N] [--admin-connections N]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=300 sms_connections=8 admin_connections=4 warmup=20
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --sms-connections) sms_connections=$2; shift 2 ;;
    --admin-connections) admin_connections=$2; shift 2 ;;
    *) echo "soak-run: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [ "$seconds" -lt 60 ] || [ "$seconds" -gt 3600 ]; then
  echo "soak-run: --seconds must be 60 to 3600" >&2
  exit 2
fi

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_setup soak
build/api-daemon/sms-bridge-api migrate >/dev/null
printf 'soak admin password\n' | build/api-daemon/sms-bridge-api admin add soak >/dev/null

ip netns exec "$ns" sysctl -qw net.ipv4.conf.lo.route_localnet=1
cat > "$work/helper.json" <<JSON
{"socket": "$work/fw.sock", "state_file": "$work/state/port_mappings.json",
 "services": {"metrics": {"target": "127.0.0.1:19090"}, "postgres": {"target": "127.0.0.1:5432"},
              "redis": {"target": "127.0.0.1:6379"}, "pgbouncer": {"target": "127.0.0.1:6432"}}}
JSON
mkdir -p "$work/state"
ip netns exec "$ns" build/firewall-helper/sms-bridge-firewall-helper --config "$work/helper.json" 2>/dev/null &
helper=$!
pids+=("$helper")
for _ in $(seq 100); do [ -S "$work/fw.sock" ] && break; sleep 0.1; done

cat > "$work/sms_settings.json" <<JSON
{"settings": {"allowed_countries": ["+91"], "count_threshold": 100000,
  "monitoring_ports": {"metrics": {"port": 9100, "enabled": true}, "postgres": {"port": 5433, "enabled": true},
                       "redis": {"port": 6380, "enabled": true}, "pgbouncer": {"port": 6434, "enabled": true}}}}
JSON
SMS_BRIDGE_LISTEN=127.0.0.1:18090 SMS_BRIDGE_METRICS_LISTEN=127.0.0.1:19090 SMS_BRIDGE_LOG_DIR="$work/logs" SMS_BRIDGE_HISTORY_FILE="$work/metrics-history.bin" \
SMS_BRIDGE_SETTINGS_FILE="$work/sms_settings.json" SMS_BRIDGE_HMAC_SECRET=soak-hmac-secret-0123456789 \
SMS_BRIDGE_SMS_API_KEY=soak-api-key-0123456789 SMS_BRIDGE_FIREWALL_SOCKET="$work/fw.sock" \
SMS_BRIDGE_SERVER_IP=127.0.0.1 \
  ip netns exec "$ns" build/api-daemon/sms-bridge-api 2>/dev/null &
api=$!
pids+=("$api")
for _ in $(seq 100); do ip netns exec "$ns" curl -s -o /dev/null http://127.0.0.1:18090/health && break; sleep 0.1; done

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }  # KiB
ip netns exec "$ns" python3 bench/soak/soak.py 127.0.0.1 18090 19090 soak-api-key-0123456789 "soak:soak admin password" \
  "$sms_connections" "$admin_connections" "$seconds" > "$work/result.json" &
load=$!
sleep "$warmup"
api_start=$(rss "$api") helper_start=$(rss "$helper")
sleep $((seconds - warmup - 2))
api_end=$(rss "$api") helper_end=$(rss "$helper")
wait "$load"
kill -0 "$api" && kill -0 "$helper"  # both still running

echo "## Sustained load — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${seconds} s, $sms_connections SMS + $admin_connections admin connections"
echo
python3 - "$work/result.json" "$api_start" "$api_end" "$helper_start" "$helper_end" "$warmup" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a0, a1, h0, h1, warm = (int(x) for x in sys.argv[2:7])
growth = lambda x0, x1: 100.0 * (x1 - x0) / x0
print("| traffic | per second | total | request p50 | request p99 |")
print("|---|---|---|---|---|")
print(f"| SMS flows (register + SMS + PIN) | {r['sms_flows_per_second']:.0f} | {r['sms_flows']} | {r['sms_p50_ms']:.2f} ms | {r['sms_p99_ms']:.2f} ms |")
print(f"| admin rounds (open, status, close, 3 reads, health, metrics) | {r['admin_rounds_per_second']:.1f} | {r['admin_rounds']} | {r['admin_p50_ms']:.2f} ms | {r['admin_p99_ms']:.2f} ms |")
print()
print(f"| process | RSS after {warm} s | RSS at the end | growth |")
print("|---|---|---|---|")
print(f"| sms-bridge-api | {a0 / 1024:.1f} MiB | {a1 / 1024:.1f} MiB | {growth(a0, a1):+.1f}% |")
print(f"| sms-bridge-firewall-helper | {h0 / 1024:.1f} MiB | {h1 / 1024:.1f} MiB | {growth(h0, h1):+.1f}% |")
print()
print(f"- {r['requests']} requests, errors: **{r['errors']}**" + (f" (first: {json.dumps(r['first_errors'])})" if r['errors'] else "") + ".")
ok = r["errors"] == 0 and growth(a0, a1) <= 10 and growth(h0, h1) <= 10
print(f"- expectation (zero errors, RSS growth ≤ 10%): **{'met' if ok else 'NOT met'}**")
PY
