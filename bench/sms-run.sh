#!/usr/bin/env bash
# The SMS API benchmark: /sms/receive + /pin-setup through sms-bridge-api at 32 connections with
# durable commits (fsync on, synchronous_commit on), against pgbench running the same statements
# (bench/sms/flow.sql) at 32 clients on the same cluster, and two servers sharing that cluster (the
# 32 connections spread over them), in the same run. Loopback only, in a
# private network namespace; the cluster lives under /var/tmp (a real disk). As root; ~1 minute.
#   bash bench/sms-run.sh [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
[ "${1:-}" = "--seconds" ] && seconds=$2

source bench/lib.sh
bench_setup sms  # durable: fsync and synchronous_commit stay on
"$api_bin" migrate >/dev/null

# Pre-registered numbers: +9190... for the api (codes = base32 of the index), +9180... for pgbench.
items=200000
python3 - "$items" > "$work/codes.csv" <<'PY'
import base64, sys
for i in range(1, int(sys.argv[1]) + 1):
    print(f"+9190{i:08d},{base64.b32encode(i.to_bytes(5, 'big')).decode()}")
    print(f"+9180{i:08d},P{i:07d}")
PY
psql -q -h "$work/pg" -U postgres sms_bridge -c "CREATE TEMP TABLE c (m text, h text)" \
  -c "\\copy c FROM '$work/codes.csv' CSV" \
  -c "INSERT INTO onboarding_codes (mobile_number, hash, expires_at) SELECT m, h, now() + interval '1 day' FROM c" \
  -c "CREATE SEQUENCE bench_pgbench_seq" -c "VACUUM ANALYZE"

cat > "$work/sms_settings.json" <<JSON
{"settings": {"allowed_countries": ["+91"], "count_threshold": 1000}}
JSON
# sms-bridge-api NAME PORT DB_CONNECTIONS: one server on this cluster, in $ns; waits until it answers.
start_server() {
  local name=$1 port=$2 connections=$3
  SMS_BRIDGE_LISTEN=127.0.0.1:$port SMS_BRIDGE_METRICS_LISTEN=127.0.0.1:$((port + 1000)) SMS_BRIDGE_LOG_DIR="$work/logs-$name" \
  SMS_BRIDGE_HISTORY_FILE="$work/metrics-history-$name.bin" SMS_BRIDGE_SETTINGS_FILE="$work/sms_settings.json" \
  SMS_BRIDGE_HMAC_SECRET=bench-hmac-secret-0123456789 SMS_BRIDGE_SMS_API_KEY=bench-api-key-0123456789 \
  SMS_BRIDGE_DATABASE_CONNECTIONS=$connections SMS_BRIDGE_SERVER_IP=127.0.0.$((port - 18089)) \
  SMS_BRIDGE_FIREWALL_SOCKET="$work/no-helper.sock" SMS_BRIDGE_MONITORING_ENABLED=false \
    ip netns exec "$ns" "$api_bin" 2>/dev/null &
  pids+=($!)
  server_pid=$!
  for _ in $(seq 100); do ip netns exec "$ns" curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
}
# The load generator's CPU time goes to $work/cpu-NAME, as a share of the machine (it shares the cores).
load() {  # PORTS FIRST_NUMBER NAME
  /usr/bin/time -f '%U %S' -o "$work/cpu-$3" ip netns exec "$ns" python3 bench/sms/load.py 127.0.0.1 "$1" bench-api-key-0123456789 32 "$seconds" "$2"
}
share() { awk -v s="$seconds" -v n="$(nproc)" '{printf "%.0f%%", 100 * ($1 + $2) / (s * n)}' "$work/cpu-$1"; }

start_server one 18090 32
api=$(load 18090 1 one)
stop_server() {  # ends the server last started, and forgets its pid (it may be reused)
  kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
  local kept=() pid
  for pid in "${pids[@]}"; do [ "$pid" = "$server_pid" ] || kept+=("$pid"); done
  pids=("${kept[@]}")
}
stop_server
# -l logs each item's latency (µs, the third column), for pgbench's own p50 and p99.
pgbench=$(/usr/bin/time -f '%U %S' -o "$work/cpu-pgbench" runuser -u postgres -- "$pg_bin/pgbench" -h "$work/pg" -U postgres -n -c 32 -j 2 -T "$seconds" -r \
  -l --log-prefix="$work/pg/pgbench_log" -f bench/sms/flow.sql sms_bridge 2>&1)
pg_percentiles=$(cat "$work"/pg/pgbench_log.* | python3 -c '
import statistics, sys
ms = sorted(int(line.split()[2]) / 1000 for line in sys.stdin if line.strip())
print(f"{statistics.median(ms):.2f} {ms[int(0.99 * (len(ms) - 1))]:.2f}")')
# Two servers on the same database, 16 database connections each (the database sees 32, as
# above), the 32 client connections spread over them; other numbers than the first run's.
start_server two-a 18091 16
start_server two-b 18092 16
replicas=$(load 18091,18092 100001 two)
pg_tps=$(awk '/^tps = / {print $3}' <<<"$pgbench")
pg_failed=$(awk '/number of failed transactions/ {print $5}' <<<"$pgbench")

echo "## SMS API benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, 32 connections, ${seconds} s, fsync and synchronous_commit on"
echo
python3 - "$api" "$pg_tps" "${pg_failed:-0}" "$replicas" $pg_percentiles "$(share one)" "$(share pgbench)" "$(share two)" <<'PY'
import json, sys
api, replicas = json.loads(sys.argv[1]), json.loads(sys.argv[4])
pg_tps, pg_failed = float(sys.argv[2]), sys.argv[3]
pg_p50, pg_p99 = float(sys.argv[5]), float(sys.argv[6])
share_one, share_pgbench, share_two = sys.argv[7:10]
print("| run | items/s (receive + pin-setup) | request p50 | request p99 | errors | the load generator's share of the cores |")
print("|---|---|---|---|---|---|")
print(f"| sms-bridge-api over HTTP | {api['items_per_second']:.0f} | {api['p50_ms']:.2f} ms | {api['p99_ms']:.2f} ms | {api['errors']} | {share_one} (load.py) |")
print(f"| pgbench, the same statements (ceiling); its latencies are per item, two commits | {pg_tps:.0f} | {pg_p50:.2f} ms | "
      f"{pg_p99:.2f} ms | {pg_failed} | {share_pgbench} (pgbench) |")
print(f"| two sms-bridge-api servers, one database, 16 + 16 database connections | {replicas['items_per_second']:.0f} | "
      f"{replicas['p50_ms']:.2f} ms | {replicas['p99_ms']:.2f} ms | {replicas['errors']} | {share_two} (load.py) |")
print()
def errors(run):
    return f"**{run['errors']}**{' (first: ' + json.dumps(run['first_error']) + ')' if run['errors'] else ''}"
print(f"- sms-bridge-api reaches **{100 * api['items_per_second'] / pg_tps:.0f}%** of pgbench's rate; request p99 **{api['p99_ms']:.1f} ms** "
      f"(pgbench's p99 per item, two commits, is {pg_p99:.1f} ms); errors: {errors(api)}.")
print(f"- Two servers: **{replicas['items_per_second'] / api['items_per_second']:.2f}×** one server's rate, on the same 2 cores "
      f"(what it shows is the cost of sharing the database, not more capacity); errors: {errors(replicas)}.")
PY
