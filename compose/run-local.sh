#!/usr/bin/env bash
# Runs SMS Bridge locally on an embedded default, as root on Debian 12:
#   - a throwaway PostgreSQL cluster (initdb in a temporary directory),
#   - the firewall helper and sms-bridge-api in a private network namespace ("the server"),
#     reached from this machine over one veth pair — the machine's own firewall is never touched,
#   - an admin account, and the curl lines that open a monitoring door for this machine.
# Ctrl-C stops everything and removes the namespace, the veth pair and the temporary files.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "run-local: run me as root (network namespaces and nftables need it): sudo bash compose/run-local.sh" >&2
  exit 2
fi

bash .ci/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build

ns="sbrun$$"
host_if="sbr$$h"; ns_if="sbr$$n"
host_ip=10.233.0.1; server_ip=10.233.0.2
work=$(mktemp -d /tmp/sms-bridge-run-XXXXXX)
chmod 755 "$work"
pg_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pids=()

cleanup() {
  trap - EXIT INT TERM
  echo
  echo "run-local: stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -f "$work/pg/data/postmaster.pid" ]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -w -m fast stop >/dev/null 2>&1 || true
  fi
  ip netns del "$ns" 2>/dev/null || true  # also removes the veth pair
  ip link del "$host_if" 2>/dev/null || true
  rm -rf "$work"
  echo "run-local: stopped; namespace, veth pair and $work removed"
}
trap cleanup EXIT INT TERM

# The server namespace and the one veth pair that reaches it.
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip link add "$host_if" type veth peer name "$ns_if" netns "$ns"
ip addr add "$host_ip/24" dev "$host_if"
ip link set "$host_if" up
ip netns exec "$ns" ip addr add "$server_ip/24" dev "$ns_if"
ip netns exec "$ns" ip link set "$ns_if" up
# Doors to 127.0.0.1 targets need route_localnet on the ingress interface (inside the namespace only).
ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$ns_if.route_localnet=1"

# PostgreSQL: its Unix socket in $work/pg, and TCP on 127.0.0.1:5432 inside the namespace (the
# target of the "postgres" door).
mkdir -p "$work/pg"
chown postgres:postgres "$work/pg"
runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg/data" -A trust -U postgres --no-sync >/dev/null
ip netns exec "$ns" runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -w -l "$work/pg/log" \
  -o "-k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
runuser -u postgres -- "$pg_bin/createdb" -h "$work/pg" -U postgres sms_bridge
database_url="postgresql:///sms_bridge?host=$work/pg&user=postgres"

# The firewall helper, owning table inet sms_bridge in the namespace.
cat > "$work/firewall-helper.json" <<JSON
{
  "socket": "$work/firewall.sock",
  "state_file": "$work/port_mappings.json",
  "services": {
    "metrics":  {"target": "127.0.0.1:9464"},
    "postgres": {"target": "127.0.0.1:5432"}
  }
}
JSON
ip netns exec "$ns" build/firewall-helper/sms-bridge-firewall-helper --config "$work/firewall-helper.json" \
  2> >(sed 's/^/  /' >&2) &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/firewall.sock" ] && break; sleep 0.1; done
[ -S "$work/firewall.sock" ] || { echo "run-local: the firewall helper did not start" >&2; exit 1; }

# The admin: SMS_BRIDGE_ADMIN_PASSWORD if set, otherwise a random one.
admin_password=${SMS_BRIDGE_ADMIN_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}  # 24 characters less any /+: well over the 12 admin add needs
unset SMS_BRIDGE_ADMIN_USERNAME SMS_BRIDGE_ADMIN_PASSWORD  # the admin is made below, not by the daemon
export SMS_BRIDGE_DATABASE_URL="$database_url"
build/api-daemon/sms-bridge-api migrate >/dev/null
printf '%s\n' "$admin_password" | build/api-daemon/sms-bridge-api admin add admin >/dev/null 2>&1 ||
  printf '%s\n' "$admin_password" | build/api-daemon/sms-bridge-api admin passwd admin >/dev/null

# The SMS API's secrets: random for this run (the gateway key is printed below).
sms_api_key=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
SMS_BRIDGE_HMAC_SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=') SMS_BRIDGE_SMS_API_KEY="$sms_api_key" \
SMS_BRIDGE_LISTEN="0.0.0.0:8080" SMS_BRIDGE_METRICS_LISTEN="127.0.0.1:9464" \
SMS_BRIDGE_FIREWALL_SOCKET="$work/firewall.sock" SMS_BRIDGE_SERVER_IP="$server_ip" \
SMS_BRIDGE_SETTINGS_FILE="$work/sms_settings.json" SMS_BRIDGE_LOG_DIR="$work/logs" SMS_BRIDGE_HISTORY_FILE="$work/metrics-history.bin" \
  ip netns exec "$ns" build/api-daemon/sms-bridge-api 2> >(sed 's/^/  /' >&2) &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://$server_ip:8080/health" && break; sleep 0.1; done

cat <<EOF

SMS Bridge is running (server namespace $ns, reached at $server_ip from this machine).

  admin login:   admin / $admin_password
  admin UI:      http://$server_ip:8080/admin   (from this machine's browser)
  health:        curl http://$server_ip:8080/health
  services:      curl -u admin:$admin_password http://$server_ip:8080/admin/monitoring/services
  open a door:   curl -u admin:$admin_password -H 'Content-Type: application/json' \\
                   -d '{"service": "metrics", "duration_minutes": 60}' \\
                   http://$server_ip:8080/admin/monitoring/open-port
  through it:    curl http://$server_ip:9100/health
  postgres door: curl -u admin:$admin_password -H 'Content-Type: application/json' \\
                   -d '{"service": "postgres", "duration_minutes": 15}' \\
                   http://$server_ip:8080/admin/monitoring/open-port
                 psql -h $server_ip -p 5433 -U postgres sms_bridge
  status:        curl -u admin:$admin_password http://$server_ip:8080/admin/monitoring/port-status
  close:         curl -u admin:$admin_password -H 'Content-Type: application/json' \\
                   -d '{"service": "metrics"}' http://$server_ip:8080/admin/monitoring/close-port
  audit trail:   curl -u admin:$admin_password http://$server_ip:8080/admin/monitoring/history
  logs:          curl -u admin:$admin_password http://$server_ip:8080/admin/monitoring/logs/download/sms-bridge-api.log?tail=20

  SMS onboarding (the default settings allow +91 numbers):
  register:      curl -H 'Content-Type: application/json' -d '{"mobile_number": "+919876543210"}' \
                   http://$server_ip:8080/onboarding/register
  the SMS:       curl -H 'Content-Type: application/json' -H 'X-API-Key: $sms_api_key' \
                   -d '{"mobile_number": "+919876543210", "message": "ONBOARD:<hash>", "received_at": "2026-01-01T00:00:00Z"}' \
                   http://$server_ip:8080/sms/receive
  PIN:           curl -H 'Content-Type: application/json' -d '{"mobile_number": "+919876543210", "pin": "1234", "hash": "<hash>"}' \
                   http://$server_ip:8080/pin-setup

run-local: ready. Press Ctrl-C to stop.
EOF
wait
