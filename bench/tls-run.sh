#!/usr/bin/env bash
# What TLS in front costs: sms-bridge-api's /health over plain HTTP, then through the compose
# "tls" profile's proxy (compose/tls/nginx.conf, Debian's nginx, a private CA's certificate) with
# kept-alive connections, then with a new TLS handshake for every request. One run, one private
# network namespace (loopback only); wrk -t2 -c64; the CPU wrk itself used is reported beside each
# figure, since the generator shares the 2 cores. As root; about a minute. Prints a Markdown report.
#   bash bench/tls-run.sh [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
[ "${1:-}" = "--seconds" ] && seconds=$2

source bench/lib.sh
bench_setup tls --no-sync
in_ns() { ip netns exec "$ns" "$@"; }
bench_start_api 18080 19464

# A private CA and a certificate for 127.0.0.1, as an operator without a public name would make.
tls="$work/tls"
mkdir -p "$tls" "$work/nginx"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=bench CA" \
  -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$tls/privkey.pem" -out "$tls/server.csr" 2>/dev/null
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 2 \
  -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') -out "$tls/fullchain.pem" 2>/dev/null
# The shipped config, pointed at this namespace's daemon and ports.
sed -e "s|server sms_receiver:8080;|server 127.0.0.1:18080;|" -e "s|listen 8443 ssl|listen 127.0.0.1:18443 ssl|" \
    -e "s|listen 8081 |listen 127.0.0.1:18081 |" -e '/listen \[::\]/d' -e "s|/etc/sms-bridge/tls/|$tls/|" \
    -e "s| /tmp/| $work/nginx/|" -e "s|access_log /dev/stdout combined;|access_log off;|" \
    compose/tls/nginx.conf > "$work/nginx.conf"
in_ns nginx -q -t -c "$work/nginx.conf" -g "daemon off;"
ip netns exec "$ns" nginx -c "$work/nginx.conf" -g "daemon off;" 2>"$work/nginx.log" &
pids+=($!)
for _ in $(seq 100); do in_ns curl -s -o /dev/null --cacert "$tls/ca.pem" https://127.0.0.1:18443/health && break; sleep 0.1; done
redirect=$(in_ns curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1:18081/health)

# wrk's summary, and the CPU (user + system) wrk used as a share of the run: cores it took.
measure() {  # NAME URL [HEADER]
  local out cpu
  out=$( { /usr/bin/time -f "CPU %U %S" ip netns exec "$ns" wrk -t2 -c64 -d"${seconds}s" --latency ${3:+-H "$3"} "$2"; } 2>&1)
  cpu=$(awk -v s="$seconds" '/^CPU/ {printf "%.2f", ($2 + $3) / s}' <<<"$out")
  echo "$1|$(awk '/^Requests\/sec/ {print $2}' <<<"$out")|$(awk '$1 == "50%" {print $2}' <<<"$out")|$(awk '$1 == "99%" {print $2}' <<<"$out")|$(awk '/Non-2xx/ {print $5}' <<<"$out")|$cpu"
}
in_ns wrk -t2 -c64 -d2s "http://127.0.0.1:18080/health" >/dev/null  # warm-up
plain=$(measure "plain HTTP to sms-bridge-api" "http://127.0.0.1:18080/health")
kept=$(measure "HTTPS through the tls proxy, connections kept alive" "https://127.0.0.1:18443/health")
fresh=$(measure "HTTPS through the tls proxy, a TLS handshake per request" "https://127.0.0.1:18443/health" "Connection: close")

echo "## TLS in front of sms-bridge-api — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t2 -c64 -d${seconds}s, GET /health"
echo
echo "| path | requests/s | p50 | p99 | non-2xx | wrk's CPU (cores) |"
echo "|---|---|---|---|---|---|"
for row in "$plain" "$kept" "$fresh"; do
  IFS='|' read -r name r p50 p99 errors cpu <<<"$row"
  echo "| $name | $r | $p50 | $p99 | ${errors:-0} | $cpu |"
done
echo
python3 - "$(cut -d'|' -f2 <<<"$plain")" "$(cut -d'|' -f2 <<<"$kept")" "$(cut -d'|' -f2 <<<"$fresh")" "$redirect" <<'PY'
import sys
plain, kept, fresh = (float(x) for x in sys.argv[1:4])
print(f"- kept-alive HTTPS through the proxy: **{100 * kept / plain:.0f}%** of plain HTTP's requests/s; "
      f"a handshake per request: **{100 * fresh / plain:.0f}%**.")
print(f"- plain HTTP on the proxy's port 80 answers `{sys.argv[4]}`.")
PY
