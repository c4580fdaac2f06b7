# Shared by bench/api-run.sh and bench/sms-run.sh (sourced, not run): builds, then makes a private
# network namespace ($ns, loopback only) and a throwaway PostgreSQL cluster under /var/tmp (a real
# disk: fsync on tmpfs would flatter every figure), exports SMS_BRIDGE_DATABASE_URL, and removes
# it all on exit. Processes started in the background go in $pids (started with ip netns exec
# directly, which execs, so each pid is the process's own).
#   bench_setup NAME [INITDB_OPTIONS...]
bench_setup() {
  local name=$1
  shift
  bash .ci/install-deps.sh >/dev/null
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build >/dev/null
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
