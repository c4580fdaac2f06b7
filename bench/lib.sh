# Shared by the bench/*-run.sh scripts (sourced, not run): builds, then makes a private
# network namespace ($ns, loopback only) and a throwaway PostgreSQL cluster under /var/tmp (a real
# disk: fsync on tmpfs would flatter every figure), exports SMS_BRIDGE_DATABASE_URL, and removes
# it all on exit. Processes started in the background go in $pids (started with ip netns exec
# directly, which execs, so each pid is the process's own).
#   bench_setup NAME [INITDB_OPTIONS...]
# BENCH_API_BIN names another sms-bridge-api binary to measure (e.g. an older build, for a
# before/after comparison in one session); the default is the one just built.
bench_setup() {
  local name=$1
  shift
  bash .ci/install-deps.sh >/dev/null
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build >/dev/null
  api_bin=${BENCH_API_BIN:-build/api-daemon/sms-bridge-api}
  ns="sb${name}$$"
  work=$(mktemp -d -p /var/tmp "sms-bridge-${name}-bench-XXXXXX")
  chmod 755 "$work"
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  pids=()
  trap bench_cleanup EXIT INT TERM
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  mkdir -p "$work/pg" && chown postgres:postgres "$work/pg"
  runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg/data" -A trust -U postgres "$@" >/dev/null
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -w -l "$work/pg/log" \
    -o "-k $work/pg -c listen_addresses='' -c max_connections=100" start >/dev/null
  runuser -u postgres -- "$pg_bin/createdb" -h "$work/pg" -U postgres sms_bridge
  export SMS_BRIDGE_DATABASE_URL="postgresql:///sms_bridge?host=$work/pg&user=postgres"
}

bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -f "$work/pg/data/postmaster.pid" ] && runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -w -m fast stop >/dev/null 2>&1
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}

# The firewall helper (one "metrics" door) and sms-bridge-api on 127.0.0.1:PORT in $ns, with the
# admin bench:bench-password; sets $api_pid. Waits until both answer.
#   bench_start_api PORT METRICS_PORT
bench_start_api() {
  local port=$1 metrics_port=$2
  cat > "$work/helper.json" <<JSON
{"socket": "$work/fw.sock", "state_file": "$work/port_mappings.json",
 "services": {"metrics": {"target": "127.0.0.1:$metrics_port"}}}
JSON
  # Background processes are started with ip netns exec directly (it execs), so $! is their own pid.
  ip netns exec "$ns" build/firewall-helper/sms-bridge-firewall-helper --config "$work/helper.json" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$work/fw.sock" ] && break; sleep 0.1; done
  "$api_bin" migrate >/dev/null
  echo "bench-password" | "$api_bin" admin add bench >/dev/null
  SMS_BRIDGE_LISTEN=127.0.0.1:$port SMS_BRIDGE_METRICS_LISTEN=127.0.0.1:$metrics_port SMS_BRIDGE_FIREWALL_SOCKET="$work/fw.sock" \
  SMS_BRIDGE_LOG_DIR="$work/logs" SMS_BRIDGE_HISTORY_FILE="$work/metrics-history.bin" SMS_BRIDGE_SETTINGS_FILE="$work/sms_settings.json" SMS_BRIDGE_SERVER_IP=127.0.0.1 \
    ip netns exec "$ns" "$api_bin" 2>/dev/null &
  api_pid=$!
  pids+=($api_pid)
  for _ in $(seq 100); do ip netns exec "$ns" curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
}
