#!/usr/bin/env bash
# Runs the firewall-helper benchmark in a network namespace of its own and prints a Markdown
# report. As root; takes about three minutes (60 s of it measuring idle wake-ups).
#   bash bench/run.sh [--iterations N] [--idle-seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh >/dev/null
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build >/dev/null

ns="sbbench$$"
work=$(mktemp -d -p /var/tmp sms-bridge-bench-XXXXXX)  # a real disk: fsync on tmpfs would flatter the floors
helper_pid=""
cleanup() {
  [ -n "$helper_pid" ] && kill "$helper_pid" 2>/dev/null && wait "$helper_pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  [ -n "${KEEP_BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up

# 10,009 services s0..s10008 on external ports 20000..30008, all forwarding to one local target
# (s10001..s10008: the doors of the open-all comparison).
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
json.dump({
    "socket": f"{work}/fw.sock", "state_file": f"{work}/port_mappings.json", "table": "sms_bridge",
    "services": {f"s{i}": {"target": "127.0.0.1:9"} for i in range(10009)},
    "external_ports": {"min": 20000, "max": 30008, "forbidden": []},
    "duration_seconds": {"min": 1, "max": 3600},
    "max_grants": 20000, "max_pending_events": 100000,
}, open(f"{work}/helper.json", "w"))
PY

ip netns exec "$ns" build/firewall-helper/sms-bridge-firewall-helper --config "$work/helper.json" 2>"$work/helper.log" &
helper_pid=$!
for _ in $(seq 100); do [ -S "$work/fw.sock" ] && break; sleep 0.1; done
[ -S "$work/fw.sock" ] || { cat "$work/helper.log"; exit 1; }

echo "## Firewall helper benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, kernel $(uname -r), nft $(nft --version | awk '{print $2}')"
echo
ip netns exec "$ns" build/bench/helper_bench --socket "$work/fw.sock" --helper-pid "$helper_pid" --work-dir "$work" "$@"
