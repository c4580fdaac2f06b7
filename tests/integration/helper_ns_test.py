#!/usr/bin/env python3
"""Integration tests of sms-bridge-firewall-helper against the real kernel, in network namespaces.

Each scenario builds its own world and always tears it down (try/finally, atexit, signals):

    laptop ns  (10.231.1.2) ──veth── server ns (10.231.1.1, 10.231.2.1) ──veth── stranger ns (10.231.2.2)

The server namespace runs the helper and two TCP echo targets: one on the interface address
10.231.1.1:7001 ("iface") and one on 127.0.0.1:7002 ("local", reachable through DNAT because
route_localnet is set on the server's veths, inside that namespace only). The machine's own
namespace, ruleset and sysctls are never touched; traffic stays between these namespaces.

Usage: helper_ns_test.py --bin-dir DIR --scenario NAME
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import argparse
import glob
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from kit import sites
from kit.core import TestFailure, absent_tools, check, kill_all, missing_prerequisites, run_scenario

SERVER_LAPTOP_IP = "10.231.1.1"
LAPTOP_IP = "10.231.1.2"
SERVER_STRANGER_IP = "10.231.2.1"
STRANGER_IP = "10.231.2.2"
IFACE_TARGET_PORT = 7001
LOCAL_TARGET_PORT = 7002
NOBODY = 65534


# ---------------------------------------------------------------------------------------------
# Helpers that run inside a namespace (this file re-executed with --echo-server/--probe/--agent)

def echo_server(host, port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(64)

    def serve(conn):
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def probe(host, port):
    """Connect, send, expect the echo. Prints ok/refused/timeout/eof/reset."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect((host, port))
        s.sendall(b"probe\n")
        data = s.recv(100)
        print("ok" if data == b"probe\n" else "eof")
    except ConnectionRefusedError:
        print("refused")
    except ConnectionResetError:
        print("reset")
    except (socket.timeout, TimeoutError):
        print("timeout")
    except OSError as e:
        print(f"error {e}")
    finally:
        s.close()


def agent(host, port):
    """A long-lived connection driven by stdin: each 'ping' line reports what the flow did."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect((host, port))
    except OSError as e:
        print(f"failed {e}", flush=True)
        return
    print("connected", flush=True)
    for line in sys.stdin:
        if line.strip() != "ping":
            continue
        start = time.monotonic()
        s.settimeout(1.0)
        try:
            s.sendall(b"ping\n")
            data = s.recv(100)
            outcome = "echo" if data == b"ping\n" else "eof"
        except ConnectionResetError:
            outcome = "reset"
        except BrokenPipeError:
            outcome = "reset"
        except (socket.timeout, TimeoutError):
            outcome = "timeout"
        except OSError as e:
            outcome = f"error-{e.errno}"
        print(f"{outcome} {int((time.monotonic() - start) * 1000)}", flush=True)


# ---------------------------------------------------------------------------------------------
# The world: namespaces, targets, the helper

class World(sites.World):
    def __init__(self, bin_dir, tag):
        super().__init__(os.path.dirname(bin_dir), "sms-bridge-it-")
        self.bin_dir = bin_dir
        self.tag = tag
        self.server = f"sbS{tag}"
        self.laptop = f"sbL{tag}"
        self.stranger = f"sbX{tag}"
        self.helper = None
        self.socket = os.path.join(self.tmp, "run", "firewall.sock")
        self.state = os.path.join(self.tmp, "state", "port_mappings.json")
        os.makedirs(os.path.dirname(self.socket))
        os.makedirs(os.path.dirname(self.state))
        self.config_path = os.path.join(self.tmp, "helper.json")
        self.helper_log = os.path.join(self.tmp, "helper.log")

    # -- set-up and tear-down
    def ns(self, ns, *cmd, check_rc=True):
        return sites.netns(ns, *cmd, check_rc=check_rc, timeout=60)

    def build(self):
        for ns in (self.server, self.laptop, self.stranger):
            self.add_namespace(ns)
        for peer, s_if, p_if, s_ip, p_ip in ((self.laptop, "s-lap", "l-eth", SERVER_LAPTOP_IP, LAPTOP_IP),
                                            (self.stranger, "s-str", "x-eth", SERVER_STRANGER_IP, STRANGER_IP)):
            sites.veth(self.server, s_if, s_ip, peer, p_if, p_ip)
            self.ns(peer, "ip", "route", "add", "default", "via", s_ip)
            # route_localnet inside the server namespace only: the 127.0.0.1 target is reachable by DNAT.
            self.ns(self.server, "sysctl", "-qw", f"net.ipv4.conf.{s_if}.route_localnet=1")
        self.start_in(self.server, "--echo-server", SERVER_LAPTOP_IP, str(IFACE_TARGET_PORT))
        self.start_in(self.server, "--echo-server", "127.0.0.1", str(LOCAL_TARGET_PORT))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.ns(self.server, sys.executable, __file__, "--probe", "127.0.0.1", str(LOCAL_TARGET_PORT)).stdout.strip() == "ok" and \
               self.ns(self.server, sys.executable, __file__, "--probe", SERVER_LAPTOP_IP, str(IFACE_TARGET_PORT)).stdout.strip() == "ok":
                return
            time.sleep(0.1)
        raise TestFailure("the echo targets did not start")

    def start_in(self, ns, *args):
        p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, __file__, *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(p)
        return p

    def teardown(self):
        kill_all([self.helper] if self.helper else [])
        self.helper = None
        super().teardown()

    # -- the helper
    def write_config(self, **overrides):
        config = {
            "socket": self.socket,
            "socket_mode": "0660",
            "state_file": self.state,
            "table": "sms_bridge",
            "services": {
                "iface": {"target": f"{SERVER_LAPTOP_IP}:{IFACE_TARGET_PORT}"},
                "local": {"target": f"127.0.0.1:{LOCAL_TARGET_PORT}"},
            },
            "duration_seconds": {"min": 1, "max": 600},
            "reconcile_interval_seconds": 1,
            "client_timeout_seconds": 3,
        }
        config.update(overrides)
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=2)

    def start_helper(self, prefix=(), expect_running=True, env=None, binary="sms-bridge-firewall-helper"):
        if not os.path.exists(self.config_path):
            self.write_config()
        log = open(self.helper_log, "a")
        cmd = ["ip", "netns", "exec", self.server, *prefix,
               os.path.join(self.bin_dir, binary), "--config", self.config_path]
        self.helper = subprocess.Popen(cmd, stdout=log, stderr=log, env=dict(os.environ, **(env or {})))
        if not expect_running:
            return self.helper
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            check(self.helper.poll() is None, f"the helper exited: {self.log_text()}")
            if os.path.exists(self.socket) and self.fwctl("status", check_rc=False)[0] == 0:
                return self.helper
            time.sleep(0.05)
        raise TestFailure(f"the helper did not start serving: {self.log_text()}")

    def kill_helper(self, sig=signal.SIGKILL):
        self.helper.send_signal(sig)
        self.helper.wait(timeout=10)
        self.helper = None

    def log_text(self):
        try:
            with open(self.helper_log) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def fwctl(self, *args, check_rc=True, user=None):
        cmd = [os.path.join(self.bin_dir, "sms-bridge-fwctl"), "--socket", self.socket, *args]
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        out = json.loads(r.stdout) if r.stdout.strip() else None
        if check_rc and r.returncode != 0:
            raise TestFailure(f"fwctl {' '.join(args)} exited {r.returncode}: {r.stdout} {r.stderr}")
        return r.returncode, out, r.stderr

    def open(self, service, port, source, duration):
        return self.fwctl("open", service, "--port", str(port), "--source", source, "--duration", str(duration),
                          "--actor", "it")[1]["open"]["grant"]

    def events(self):
        return self.fwctl("events", "--max", "1000")[1]["events"].get("events", [])

    # -- traffic
    def probe_from(self, ns, host, port):
        return self.ns(ns, sys.executable, __file__, "--probe", host, str(port)).stdout.strip()

    def kernel_grants(self):
        """(source CIDR, port) of every IPv4 grant in the kernel; None if the table is missing."""
        r = self.ns(self.server, "nft", "-j", "list", "table", "inet", "sms_bridge", check_rc=False)
        if r.returncode != 0:
            return None
        elements = set()
        for item in json.loads(r.stdout)["nftables"]:
            if item.get("set", {}).get("name") not in ("grant_hosts4", "grant_nets4"):
                continue
            for e in item.get("set", {}).get("elem", []):
                concat = e["elem"]["val"]["concat"] if "elem" in e else e["concat"]
                addr = concat[0] if isinstance(concat[0], str) else f"{concat[0]['prefix']['addr']}/{concat[0]['prefix']['len']}"
                if "/" not in addr:
                    addr += "/32"
                elements.add((addr, concat[1]))
        return elements


class Agent:
    """A long-lived TCP connection from a namespace, driven line by line."""

    def __init__(self, world, ns, host, port):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, __file__, "--agent", host, str(port)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        world.processes.append(self.p)
        first = self.p.stdout.readline().strip()
        check(first == "connected", f"the agent could not connect to {host}:{port}: {first}")

    def ping(self):
        self.p.stdin.write("ping\n")
        self.p.stdin.flush()
        outcome, _, ms = self.p.stdout.readline().strip().partition(" ")
        return outcome, int(ms or 0)


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TestFailure(f"timed out after {timeout}s waiting for {what}")


# ---------------------------------------------------------------------------------------------
# Scenarios

def scenario_open(w):
    w.start_helper()
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) != "ok", "the laptop reached port 9100 before any open")
    grant = w.open("iface", 9100, LAPTOP_IP, 60)
    check(grant["source"] == f"{LAPTOP_IP}/32", f"unexpected grant {grant}")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the laptop cannot reach the opened door")
    check(w.probe_from(w.stranger, SERVER_STRANGER_IP, 9100) != "ok", "the stranger reached a door opened for the laptop")
    # The 127.0.0.1 target, through DNAT and route_localnet.
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9101) != "ok", "port 9101 was reachable before its open")
    w.open("local", 9101, LAPTOP_IP, 60)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9101) == "ok", "the laptop cannot reach the 127.0.0.1 target")
    check(w.probe_from(w.stranger, SERVER_STRANGER_IP, 9101) != "ok", "the stranger reached the 127.0.0.1 target")
    # A /24 grant admits its subnet: the stranger's network.
    w.fwctl("close", "iface")
    w.open("iface", 9100, "10.231.2.0/24", 60)
    check(w.probe_from(w.stranger, SERVER_STRANGER_IP, 9100) == "ok", "a /24 grant did not admit its subnet")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) != "ok", "a /24 grant admitted an address outside it")


def scenario_close(w):
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 60)
    agent = Agent(w, w.laptop, SERVER_LAPTOP_IP, 9100)
    check(agent.ping()[0] == "echo", "the established flow does not work before close")
    _, out, _ = w.fwctl("close", "iface", "--actor", "it", "--reason", "test over")
    check(out["close"]["grant"]["service"] == "iface", f"unexpected close answer {out}")
    outcome, ms = agent.ping()
    check(outcome in ("reset", "eof"), f"the established flow survived the close ({outcome})")
    check(ms <= 1000, f"the established flow was cut after {ms} ms, not within 1 s")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) != "ok", "a new connection succeeded after close")
    closed = [e for e in w.events() if e["kind"] == "CLOSED"]
    check(closed and closed[0]["actor"] == "it" and closed[0]["reason"] == "test over", f"close not journalled: {closed}")
    check(w.kernel_grants() == set(), "the kernel still holds the grant after close")


def scenario_expiry(w):
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 3)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the door did not open")
    agent = Agent(w, w.laptop, SERVER_LAPTOP_IP, 9100)
    check(agent.ping()[0] == "echo", "the established flow does not work")
    time.sleep(3.3)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) != "ok", "the door is still open after its 3 s")
    check(agent.ping()[0] in ("reset", "eof"), "the established flow survived the expiry")
    wait_for("the EXPIRED event", lambda: any(e["kind"] == "EXPIRED" for e in w.events()), 3)
    check(w.fwctl("list")[1]["list"].get("grants", []) == [], "the expired grant is still listed")


def scenario_kernel_expiry(w):
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 3)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the door did not open")
    w.kill_helper(signal.SIGKILL)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the door closed when the helper died")
    time.sleep(3.3)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) != "ok", "the kernel did not close the door at its deadline")
    check(w.kernel_grants() == set(), "the kernel still holds the grant after its timeout")


def scenario_restart(w):
    w.start_helper()
    grant = w.open("iface", 9100, LAPTOP_IP, 30)
    w.open("local", 9101, LAPTOP_IP, 2)
    agent = Agent(w, w.laptop, SERVER_LAPTOP_IP, 9100)
    check(agent.ping()[0] == "echo", "the established flow does not work")
    w.kill_helper(signal.SIGKILL)
    time.sleep(2.5)  # the 2 s grant's deadline passes while the helper is down
    w.start_helper()
    listed = w.fwctl("list")[1]["list"]["grants"]
    check([g["service"] for g in listed] == ["iface"], f"unexpected grants after restart: {listed}")
    check(listed[0]["grant_id"] == grant["grant_id"] and listed[0]["expires_at"] == grant["expires_at"],
          "the restarted helper changed the grant's identity or deadline")
    remaining = w.kernel_timeout("iface")
    check(20 <= remaining <= 28, f"the kernel element was re-added with {remaining}s, not the remaining time")
    check(agent.ping()[0] == "echo", "the established flow broke across the helper restart")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "new connections fail after restart")
    down = [e for e in w.events() if e["kind"] == "EXPIRED_WHILE_DOWN"]
    check(len(down) == 1 and down[0]["grant"]["service"] == "local", f"no EXPIRED_WHILE_DOWN event: {w.events()}")
    seqs = [int(e["seq"]) for e in w.events()]  # two OPENED before the restart, EXPIRED_WHILE_DOWN after it
    check(seqs == list(range(seqs[0], seqs[0] + 3)), f"the restart did not continue the journal's numbering: {seqs}")
    with open(w.state) as f:
        state = json.load(f)
    in_file = {(g["source"], g["external_port"]) for g in state.get("grants", [])}
    check(in_file == w.kernel_grants(), f"the state file {in_file} differs from the kernel set {w.kernel_grants()}")


def scenario_drift(w):
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 60)
    w.ns(w.server, "nft", "flush", "ruleset")  # repaired at once, by notice (idle_drift times it)
    wait_for("the table to be rebuilt", lambda: w.kernel_grants() == {(f"{LAPTOP_IP}/32", 9100)}, 4)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the door does not work after repair")
    check(any(e["kind"] == "DRIFT_REPAIRED" for e in w.events()), "the drift was not reported")
    # An element nobody issued is removed and reported.
    w.ns(w.server, "nft", "add", "element", "inet", "sms_bridge", "grant_hosts4", "{ 10.231.2.2 . 9100 timeout 1h }")
    wait_for("the foreign element to be removed", lambda: w.kernel_grants() == {(f"{LAPTOP_IP}/32", 9100)}, 4)
    check(any(e["kind"] == "DRIFT_REMOVED" for e in w.events()), "the foreign element was not reported")
    # With no door open the table is still repaired (by notice), and an Open after a flush works.
    w.fwctl("close-all")
    w.ns(w.server, "nft", "flush", "ruleset")
    w.open("iface", 9100, LAPTOP_IP, 60)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "an Open after an idle flush does not work")


def wakeups(pid):
    """Context switches of every thread of `pid` so far: a thread that sleeps in epoll adds none."""
    total = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        with open(status) as f:
            total += sum(int(l.split()[1]) for l in f if l.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))
    return total


def repaired_within(w, what, predicate, limit):
    """Flushes the server's ruleset and returns the seconds until `predicate` holds (fails past `limit`)."""
    repairs = sum(e["kind"] == "DRIFT_REPAIRED" for e in w.events())
    start = time.monotonic()
    w.ns(w.server, "nft", "flush", "ruleset")
    # The repair is often done before `nft list` could even look: the proof that the flush
    # happened and was repaired is the new DRIFT_REPAIRED event.
    while time.monotonic() - start < limit:
        if predicate() and sum(e["kind"] == "DRIFT_REPAIRED" for e in w.events()) > repairs:
            return time.monotonic() - start
        time.sleep(0.02)
    raise TestFailure(f"{what} was not repaired within {limit} s of nft flush ruleset: {w.log_text()}")


def scenario_idle_drift(w):
    # The periodic reconciler is out of the picture (an hour): only nf_tables notifications repair.
    w.write_config(reconcile_interval_seconds=3600)
    w.start_helper()
    guard = lambda: w.ns(w.server, "nft", "list", "chain", "inet", "sms_bridge", "guard_in", check_rc=False).returncode == 0
    check(guard(), "the table has no guard_in chain")
    pid = w.helper.pid
    # Settle first: Asio's timerfd still fires once at the deadline of the last client session's
    # (cancelled) timeout, client_timeout_seconds (3 s here) after fwctl's status call.
    time.sleep(4)
    before = wakeups(pid)
    time.sleep(3)
    idle = wakeups(pid) - before
    check(idle == 0, f"the idle helper woke up {idle} times in 3 s")
    took_idle = repaired_within(w, "the table and guard_in (no door open)", guard, 1.0)
    w.open("iface", 9100, LAPTOP_IP, 600)
    door = lambda: guard() and w.kernel_grants() == {(f"{LAPTOP_IP}/32", 9100)}
    took_door = repaired_within(w, "the door's grant", door, 1.0)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the door does not work after the repair")
    time.sleep(4)  # past the last fwctl session's timeout, as above
    before = wakeups(pid)
    time.sleep(3)
    idle_door = wakeups(pid) - before
    check(idle_door == 0, f"the helper with a door open woke up {idle_door} times in 3 s")
    # Changes to other tables wake it but change nothing.
    w.ns(w.server, "nft", "add", "table", "ip", "someone_else")
    check(door(), "a change to another table disturbed ours")
    print(f"repaired {took_idle * 1000:.0f} ms after a flush with no door, {took_door * 1000:.0f} ms with one; "
          f"0 wake-ups in 3 s idle, with and without a door")


def scenario_emfile(w):
    # Few descriptors: idle clients exhaust them; the accept loop must pause, not spin a core.
    w.write_config(client_timeout_seconds=10)
    w.start_helper(prefix=("prlimit", "--nofile=20:20"))
    pid = w.helper.pid
    clients = []
    try:
        for _ in range(40):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(w.socket)  # the backlog takes them even while the helper cannot accept
            clients.append(c)
        time.sleep(0.5)
        before = cpu_seconds(pid)
        time.sleep(3)
        spent = cpu_seconds(pid) - before
        print(f"CPU of the helper over 3 s with its descriptors exhausted: {spent:.2f} s")
        check(spent < 0.5, f"the helper spent {spent:.2f} CPU seconds in 3 s with its descriptors exhausted")
    finally:
        for c in clients:
            c.close()
    wait_for("the helper to serve again", lambda: w.fwctl("status", check_rc=False)[0] == 0, 15)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scenario_restricted_probe(w):
    # The helper under its unit's seccomp directives (RestrictAddressFamilies=AF_UNIX AF_NETLINK,
    # SystemCallFilter= with its exclusions, MemoryDenyWriteExecute=, as tests/unit-sandbox applies
    # them): the port probe never reports a port with a listener free, an unused one is; doors open,
    # cut established flows and expire; the state file is written.
    from kit import units
    unit = "sms-bridge-firewall-helper.service"
    prefix = units.sandbox_prefix(os.path.dirname(w.bin_dir), unit, w.tmp)
    refusals = units.sandbox_refusals(prefix, unit, w.tmp, enter=("ip", "netns", "exec", w.server))
    check(refusals and set(refusals) == {"refused"}, f"the unit's filters are not in force (setpriority, chown, AF_INET, W+X): {refusals}")
    w.start_helper(prefix=tuple(prefix))
    answer = w.fwctl("check-ports", str(IFACE_TARGET_PORT), "7003")[1]["check_ports"]["ports"]
    busy, unused = answer
    check(not busy.get("free") and "bound" in busy.get("reason", ""), f"port {IFACE_TARGET_PORT} (listening) under the unit's restrictions: {busy}")
    check(unused.get("free") is True, f"port 7003 (unused) under the unit's restrictions: {unused}")
    code, out, _ = w.fwctl("open", "local", "--port", str(IFACE_TARGET_PORT), "--source", LAPTOP_IP, "--duration", "60", check_rc=False)
    check(code == 1 and out["error"]["code"] == "PORT_IN_USE", f"an open on a bound port under the restrictions: {out}")
    # A door: nft batch, state file, conntrack cut on close, kernel timeout on expiry.
    stored = lambda: sum(os.path.getsize(p) for p in (w.state, w.state + ".journal") if os.path.exists(p))
    before = stored()
    w.open("iface", 9100, LAPTOP_IP, 60)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the sandboxed helper's door does not work")
    check(stored() > before, "the sandboxed helper did not record the door in its state file")
    agent = Agent(w, w.laptop, SERVER_LAPTOP_IP, 9100)
    check(agent.ping()[0] == "echo", "the established flow does not work")
    w.fwctl("close", "iface")
    check(agent.ping()[0] in ("reset", "eof"), "the sandboxed helper's close did not cut the established flow")
    w.open("local", 9101, LAPTOP_IP, 2)
    time.sleep(2.5)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9101) != "ok", "a door of the sandboxed helper outlived its 2 s")
    wait_for("the EXPIRED event", lambda: any(e["kind"] == "EXPIRED" for e in w.events()), 3)
    check(w.helper.poll() is None, f"the sandboxed helper died: {w.log_text()}")
    w.kill_helper(signal.SIGTERM)
    print(f"under the unit's seccomp filters ({len(units.allowed_syscalls(unit))} system calls allowed): port "
          f"{IFACE_TARGET_PORT} {busy.get('reason')}; port 7003 free; open, cut, expiry and SIGTERM work")


def scenario_notify(w):
    # systemd's Type=notify, as the manager sees it through NOTIFY_SOCKET with WatchdogSec=2s:
    # READY=1 once the table is in and the socket serves, STATUS= with the doors, WATCHDOG=1 every
    # second from the serving loop (none while the process is frozen), STOPPING=1 on SIGTERM.
    from kit.notify import NotifyListener, check_no_ping_while_frozen, check_no_ping_while_loop_stopped, check_watchdog_cadence
    listener = NotifyListener(os.path.join(w.tmp, "notify.sock"))
    try:
        w.write_config()
        w.start_helper(env=listener.env(watchdog_usec=2_000_000), expect_running=False)
        ready_at, _ = listener.wait_for("READY=1", 10, text="READY=1",
                                        also=lambda: check(w.helper.poll() is None, f"the helper exited: {w.log_text()}"))
        # Right after READY=1 the socket answers and the table is in the kernel.
        check(w.fwctl("status", check_rc=False)[0] == 0, f"the socket did not serve right after READY=1: {w.log_text()}")
        check(w.kernel_grants() is not None, "the table inet sms_bridge was not installed at READY=1")
        early = [m for t, m in listener.received() if t < ready_at and not m.startswith("STATUS=")]
        check(early == [], f"before READY=1 the helper said {early}")
        _, first = listener.wait_for("a STATUS= line", 3, prefix="STATUS=")
        check(first == "STATUS=0 doors open", f"the first status: {first}")
        gaps = check_watchdog_cadence(listener, 2.0, 5.0, ready_at)
        opened = time.monotonic()
        w.open("iface", 9100, LAPTOP_IP, 60)
        seen, status = listener.wait_for("a STATUS= line after an open", 4, prefix="STATUS=", since=opened)
        check(status == "STATUS=1 door open", f"the status after an open: {status}")
        # SIGHUP reloads: RELOADING=1 (with the monotonic clock), then READY=1 again.
        reloaded = time.monotonic()
        w.helper.send_signal(signal.SIGHUP)
        _, reloading = listener.wait_for("RELOADING=1 after SIGHUP", 5, prefix="RELOADING=1", since=reloaded)
        check(reloading.startswith("RELOADING=1\nMONOTONIC_USEC="), f"the reload message: {reloading!r}")
        listener.wait_for("READY=1 after the reload", 5, text="READY=1", since=reloaded)
        check(w.helper.poll() is None, "the daemon exited on SIGHUP")
        frozen = check_no_ping_while_frozen(listener, w.helper.pid, 2.0)
        threads = check_no_ping_while_loop_stopped(listener, w.helper.pid, 2.0)
        stopping = time.monotonic()
        w.helper.send_signal(signal.SIGTERM)
        rc = w.helper.wait(timeout=10)
        w.helper = None
        check(rc == 0, f"the helper exited {rc} on SIGTERM")
        said = [m for _, m in listener.received(since=stopping)]
        check("STOPPING=1" in said and "READY=1" not in said, f"after SIGTERM the helper said {said}")
        print(f"READY=1 then serving; WATCHDOG=1 gaps {min(gaps):.2f}-{max(gaps):.2f} s; STATUS after an open in "
              f"{seen - opened:.2f} s; no ping during {frozen:.1f} s stopped, nor while only the loop's thread was "
              f"(the {threads} other thread(s) running); STOPPING=1 on SIGTERM")
        # WATCHDOG_PID names another process (a child that inherited the environment): no pings.
        restarted = time.monotonic()
        w.start_helper(env=listener.env(watchdog_usec=500_000, watchdog_pid=1), expect_running=False)
        listener.wait_for("READY=1 from the second helper", 10, text="READY=1", since=restarted)
        time.sleep(1.5)
        check(listener.received("WATCHDOG=1", since=restarted) == [], "the helper pinged a watchdog that WATCHDOG_PID gives to another process")
    finally:
        listener.close()


def scenario_clock_step(w):
    # A door's deadline counts on the kernel's clock, not the wall clock: the state file is edited
    # (while the helper is down) as a one-hour step back of the wall clock would read it, and the
    # restarted helper must still close the door at its real deadline. (The machine's clock itself
    # is never touched.)
    import datetime
    import re
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 5)
    opened = time.monotonic()
    w.kill_helper()
    later = lambda m: (datetime.datetime.strptime(m.group(2)[:19], "%Y-%m-%dT%H:%M:%S") + datetime.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%S") + m.group(2)[19:]
    edited = 0
    for path in (w.state, w.state + ".journal"):
        if not os.path.exists(path):
            continue
        with open(path) as f:
            text = f.read()
        text, n = re.subn(r'("expires_?[aA]t":\s*")([^"]+)"', lambda m: m.group(1) + later(m) + '"', text)
        edited += n
        with open(path, "w") as f:
            f.write(text)
    check(edited >= 1, "the state file holds no expires_at to edit")
    w.start_helper()
    check(w.kernel_grants() == {(f"{LAPTOP_IP}/32", 9100)}, "the door did not survive the restart")
    time.sleep(max(0, 5 + 1.5 - (time.monotonic() - opened)))
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) != "ok", "the door outlived its deadline after a wall-clock step")
    wait_for("the helper to record the expiry", lambda: w.fwctl("list")[1]["list"].get("grants", []) == [], 3)
    print("a 5 s door whose recorded deadline moved an hour later still closed on time")


def scenario_refusals(w):
    w.write_config(socket_mode="0666", max_clients=4)  # 0666: an unlisted uid reaches the SO_PEERCRED check
    w.start_helper()
    cases = [
        (["open", "nosuch", "--port", "9100", "--source", LAPTOP_IP, "--duration", "60"], "UNKNOWN_SERVICE"),
        (["open", "iface", "--port", "22", "--source", LAPTOP_IP, "--duration", "60"], "PORT_FORBIDDEN"),
        (["open", "iface", "--port", "80", "--source", LAPTOP_IP, "--duration", "60"], "PORT_FORBIDDEN"),
        (["open", "iface", "--port", "9100", "--source", LAPTOP_IP, "--duration", "0"], "DURATION_OUT_OF_RANGE"),
        (["open", "iface", "--port", "9100", "--source", LAPTOP_IP, "--duration", "601"], "DURATION_OUT_OF_RANGE"),
        (["open", "iface", "--port", "9100", "--source", "laptop.example.com", "--duration", "60"], "INVALID_ARGUMENT"),
        (["open", "iface", "--port", "9100", "--source", "0.0.0.0/0", "--duration", "60"], "SOURCE_NOT_ALLOWED"),
    ]
    for args, code in cases:
        rc, out, _ = w.fwctl(*args, check_rc=False)
        check(rc == 1 and out["error"]["code"] == code, f"{args} gave rc {rc} {out}, expected {code}")
        check(w.fwctl("status")[0] == 0, f"the helper stopped serving after {args}")
    rc, out, _ = w.fwctl("list", check_rc=False, user=NOBODY)
    check(rc == 1 and out["error"]["code"] == "PERMISSION_DENIED", f"uid {NOBODY} was not refused: {rc} {out}")
    # Malformed frames end that connection with an error, never the helper.
    for frame in (struct.pack(">I", 70000), struct.pack(">I", 5) + b"\xff\xff\xff\xff\xff"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(w.socket)
        s.sendall(frame)
        header = s.recv(4)
        check(len(header) == 4, "no error frame came back for a malformed frame")
        body = b""
        while len(body) < struct.unpack(">I", header)[0]:
            chunk = s.recv(4096)
            check(chunk, "the error frame was cut short")
            body += chunk
        check(s.recv(10) == b"", "the connection stayed open after a malformed frame")
        s.close()
        check(w.fwctl("status")[0] == 0, "the helper stopped serving after a malformed frame")
    counters = w.fwctl("status")[1]["status"]["counters"]
    check(int(counters["bad_frames"]) == 2, f"bad frames not counted: {counters}")
    # A bounded number of clients: with max_clients (4) idle connections open, the next is turned away.
    refused_before = int(counters["connections_refused"])
    idle = []
    for _ in range(4):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(w.socket)
        idle.append(s)
    time.sleep(0.2)
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    extra.settimeout(5)
    extra.connect(w.socket)
    check(len(extra.recv(4096)) > 4, "the client over max_clients got no error frame")
    check(extra.recv(10) == b"", "the client over max_clients was not disconnected")
    extra.close()
    for s in idle:
        s.close()
    time.sleep(0.2)
    counters = w.fwctl("status")[1]["status"]["counters"]
    check(int(counters["connections_refused"]) == refused_before + 1, f"the refused client was not counted: {counters}")
    # An idle client is disconnected after client_timeout_seconds (3 s here).
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(w.socket)
    start = time.monotonic()
    check(s.recv(10) == b"", "an idle client was sent data")
    waited = time.monotonic() - start
    check(2.5 <= waited <= 6, f"an idle client was disconnected after {waited:.1f} s, not about 3 s")
    s.close()
    check(w.kernel_grants() == set(), "a refused request changed the kernel")
    check(w.events() == [], "a refused request was journalled")


def scenario_corruption(w):
    # An earlier journal: a door opened and closed, its events acknowledged (the helper forgets them).
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 60)
    w.fwctl("close", "iface")
    earlier = [int(e["seq"]) for e in w.events()]
    check(len(earlier) == 2 and abs(earlier[0] / 1e6 - time.time()) < 600,
          f"a fresh journal is not numbered from the clock in microseconds: {earlier}")
    w.fwctl("ack", str(earlier[-1]))
    w.kill_helper()
    with open(w.state, "w") as f:
        f.write('{"format": 1, "grants": [{"service": "iface", "source": "0.0.0.0/0", ')  # torn and invalid
    w.start_helper()
    status = w.fwctl("status")[1]["status"]
    check(status["started_fail_closed"] is True, "the helper did not report starting fail-closed")
    kept = glob.glob(w.state + ".corrupt-*")
    check(len(kept) == 1, f"the corrupt file was not kept aside: {os.listdir(os.path.dirname(w.state))}")
    events = w.events()
    check(events and events[0]["kind"] == "STATE_CORRUPT" and ".corrupt-" in events[0]["detail"],
          f"the corruption was not reported as an event: {events}")
    check(w.kernel_grants() == set(), "a corrupt state file opened something")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) != "ok", "the door is open after a corrupt start")
    w.open("iface", 9100, LAPTOP_IP, 60)  # and it serves normally afterwards
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the helper does not work after a corrupt start")
    # The new journal numbers above the earlier one's numbers, which the audit trail already holds.
    later = [int(e["seq"]) for e in w.events()]
    check(len(later) == 2 and later[0] > earlier[-1] and later[1] == later[0] + 1,
          f"the journal after a corrupt start numbers {later}, the one before gave {earlier}")


def scenario_least_privilege(w):
    os.chown(os.path.dirname(w.socket), NOBODY, NOBODY)
    os.chown(os.path.dirname(w.state), NOBODY, NOBODY)
    base = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    # Without the capability it refuses with a sentence.
    p = w.start_helper(prefix=base + ["--inh-caps=-all", "--bounding-set=-all"], expect_running=False)
    rc = p.wait(timeout=10)
    w.helper = None
    check(rc == 1, f"without CAP_NET_ADMIN the helper exited {rc}, not 1")
    check("lacks the CAP_NET_ADMIN capability" in w.log_text(), f"no sentence about the capability: {w.log_text()}")
    # With only CAP_NET_ADMIN it works.
    w.start_helper(prefix=base + ["--inh-caps=-all,+net_admin", "--ambient-caps=-all,+net_admin",
                                  "--bounding-set=-all,+net_admin"])
    with open(f"/proc/{w.helper.pid}/status") as f:
        fields = dict(line.split(":\t", 1) for line in f if ":\t" in line)
    check(fields["Uid"].split()[1] == str(NOBODY), f"the helper runs as uid {fields['Uid']}")
    check(int(fields["CapEff"], 16) == 1 << 12, f"the helper's effective capabilities are {fields['CapEff']}, not CAP_NET_ADMIN alone")
    w.open("iface", 9100, LAPTOP_IP, 60)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the unprivileged helper could not open a door")
    agent = Agent(w, w.laptop, SERVER_LAPTOP_IP, 9100)
    w.fwctl("close", "iface")
    check(agent.ping()[0] in ("reset", "eof"), "the unprivileged helper did not cut the established flow")
    check(os.stat(w.state).st_uid == NOBODY, "the state file is not owned by the helper's user")


def scenario_shutdown(w):
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 60)
    w.kill_helper(signal.SIGTERM)  # on_shutdown defaults to "close"
    check(w.kernel_grants() == set(), "SIGTERM with on_shutdown close left the grant in the kernel")
    check(not os.path.exists(w.socket), "the socket was left behind")
    w.write_config(on_shutdown="keep")
    w.start_helper()
    check(any(e["kind"] == "SHUTDOWN_CLOSED" for e in w.events()), "the shutdown close was not journalled")
    w.open("iface", 9100, LAPTOP_IP, 60)
    w.kill_helper(signal.SIGTERM)
    check(w.kernel_grants() == {(f"{LAPTOP_IP}/32", 9100)}, "SIGTERM with on_shutdown keep removed the grant")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the kept door does not work")


def scenario_docker_user_chain(w):
    # Docker (iptables-nft) keeps its FORWARD policy DROP and a DOCKER-USER chain in table ip filter.
    w.ns(w.server, "iptables", "-N", "DOCKER-USER")
    w.write_config(docker_user_chain=True)
    for _ in range(2):  # added once, not once per start
        w.start_helper()
        w.kill_helper(signal.SIGTERM)
    listing = w.ns(w.server, "nft", "list", "chain", "ip", "filter", "DOCKER-USER").stdout
    check(listing.count("sms-bridge-firewall-helper") == 1, f"DOCKER-USER does not hold our accept exactly once:\n{listing}")
    check("meta mark & 0x00100000 == 0x00100000 counter packets" in listing and "accept" in listing,
          f"the DOCKER-USER rule is not the packet-mark accept:\n{listing}")
    # Docker's own tools and operators read these rules through iptables-nft: it must still parse them.
    for cmd in (["iptables", "-S", "DOCKER-USER"], ["iptables-save", "-t", "filter"]):
        r = w.ns(w.server, *cmd, check_rc=False)
        check(r.returncode == 0, f"{' '.join(cmd)} fails after the helper's rule: {r.stderr.strip()}")
        check("-m mark --mark 0x100000/0x100000" in r.stdout and "sms-bridge-firewall-helper" in r.stdout,
              f"{' '.join(cmd)} does not show our rule:\n{r.stdout}")
    # The packet mark that rule matches is set on our forwarded flows, in our own table.
    table = w.ns(w.server, "nft", "list", "chain", "inet", "sms_bridge", "guard_fwd").stdout
    check("meta mark set meta mark | 0x00100000" in table, f"guard_fwd does not mark our flows' packets:\n{table}")


def scenario_host_address(w):
    # The helper answers, in status, the address of its namespace's default route: the address a
    # laptop reaches the server at, which a containerised api-daemon cannot see for itself.
    w.start_helper()
    check(w.fwctl("status")[1]["status"].get("host_address", "") == "",
          "status names a host address while the namespace has no default route")
    w.ns(w.server, "ip", "route", "add", "default", "via", STRANGER_IP)
    address = w.fwctl("status")[1]["status"].get("host_address")
    check(address == SERVER_STRANGER_IP, f"status names {address!r}, not the default route's source {SERVER_STRANGER_IP}")


def scenario_command_line(w):
    helper = os.path.join(w.bin_dir, "sms-bridge-firewall-helper")
    fwctl = os.path.join(w.bin_dir, "sms-bridge-fwctl")
    # A bad config: one line on stderr, exit 2, and nothing started.
    with open(w.config_path, "w") as f:
        f.write('{"services": {"db": {"target": "db.internal:5432"}}}')
    r = subprocess.run(["ip", "netns", "exec", w.server, helper, "--config", w.config_path], capture_output=True, text=True, timeout=30)
    check(r.returncode == 2, f"a bad config exited {r.returncode}, not 2")
    check(len(r.stderr.strip().splitlines()) == 1 and "services.db" in r.stderr, f"not one clear line: {r.stderr!r}")
    check(w.kernel_grants() is None, "a bad config still installed the table")
    r = subprocess.run([helper], capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "--config FILE is required" in r.stderr, f"no config: {r.returncode} {r.stderr!r}")
    w.write_config()
    r = subprocess.run([helper, "--check-config", w.config_path], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and "ok (2 services" in r.stdout, f"--check-config: {r.returncode} {r.stdout!r}")
    r = subprocess.run([helper, "--help"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and "CAP_NET_ADMIN" in r.stdout, "--help does not explain the capability")
    # fwctl: 2 for usage and connection errors, 0 for an answer, 1 for a refusal.
    r = subprocess.run([fwctl, "open", "iface"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and r.stdout == "", f"a usage error exited {r.returncode}")
    r = subprocess.run([fwctl, "--socket", w.socket, "status"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "cannot connect" in r.stderr, f"no helper: exit {r.returncode} {r.stderr!r}")
    w.start_helper()
    check(w.fwctl("status", check_rc=False)[0] == 0, "status did not exit 0")
    rc, out, err = w.fwctl("close", "iface", check_rc=False)
    check(rc == 1 and out["error"]["code"] == "NOT_OPEN" and "NOT_OPEN" in err, f"a refusal: exit {rc} {out} {err!r}")


def scenario_journal_fields(w):
    """Under the journal (JOURNAL_STREAM names stderr), door events go to journald's native socket
    with their stable MESSAGE_ID and fields; other lines stay on stderr with a priority prefix.
    The helper sees the test's socket at /run/systemd/journal/socket (a private mount namespace)."""
    journal_dir = os.path.join(w.tmp, "journal")
    os.makedirs(journal_dir)
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(os.path.join(journal_dir, "socket"))
    receiver.settimeout(5)
    open(w.helper_log, "a").close()
    st = os.stat(w.helper_log)
    os.environ["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    try:
        script = ("mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && "
                  f"mount --bind {journal_dir} /run/systemd/journal && exec \"$@\"")
        w.start_helper(prefix=("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"))
    finally:
        del os.environ["JOURNAL_STREAM"]
    w.open("iface", 9100, LAPTOP_IP, 60)
    w.fwctl("extend", "iface", "--minutes", "5", "--actor", "it", "--reason", "five more minutes")
    w.fwctl("close", "iface", "--actor", "it", "--reason", "seen in the journal")

    def entry():
        fields = {}
        for line in receiver.recv(65536).decode().splitlines():
            name, _, value = line.partition("=")
            fields[name] = value
        return fields

    opened, extended, closed = entry(), entry(), entry()
    check(extended.get("MESSAGE_ID") == "7d0f3a9c52e14b6e8c1a4f6b9e2d5a07" and extended.get("SMS_BRIDGE_EVENT") == "extended"
          and extended.get("SMS_BRIDGE_REASON") == "five more minutes" and extended.get("SMS_BRIDGE_ACTOR") == "it"
          and extended.get("MESSAGE", "").startswith("moved the deadline of door iface port 9100"), f"the extend entry: {extended}")
    check(opened.get("MESSAGE_ID") == "e82c5e24b1a94b13a9edcc8dcee26587" and opened.get("PRIORITY") == "5"
          and opened.get("SYSLOG_IDENTIFIER") == "sms-bridge-firewall-helper"
          and opened.get("MESSAGE", "").startswith("opened door iface port 9100"), f"the open entry: {opened}")
    check({k: opened.get(k) for k in ("SMS_BRIDGE_EVENT", "SMS_BRIDGE_SERVICE", "SMS_BRIDGE_PORT", "SMS_BRIDGE_SOURCE", "SMS_BRIDGE_ACTOR")}
          == {"SMS_BRIDGE_EVENT": "opened", "SMS_BRIDGE_SERVICE": "iface", "SMS_BRIDGE_PORT": "9100",
              "SMS_BRIDGE_SOURCE": f"{LAPTOP_IP}/32", "SMS_BRIDGE_ACTOR": "it"}, f"the open entry's fields: {opened}")
    check(closed.get("MESSAGE_ID") == "1b496585feec46bd939d4811b720935c" and closed.get("SMS_BRIDGE_EVENT") == "closed"
          and closed.get("SMS_BRIDGE_REASON") == "seen in the journal", f"the close entry: {closed}")
    text = w.log_text()
    check("opened door" not in text, f"a door event went to stderr as well as to the journal: {text}")
    check("<6>info: table 'inet sms_bridge' installed" in text, f"stderr lines lack their priority prefix: {text}")


def scenario_reload(w):
    """SIGHUP: a good config applies in place, closing only the doors it no longer allows; a bad
    one, or one that changes what only a restart can, is refused and the running config kept."""
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 60)
    w.open("local", 9101, LAPTOP_IP, 60)
    before = w.kernel_timeout("iface")
    digest = w.fwctl("status")[1]["status"]["config_digest"]

    def hup_and_wait(line):
        seen = w.log_text().count(line)
        w.helper.send_signal(signal.SIGHUP)
        wait_for(f"the log line {line!r}", lambda: w.log_text().count(line) > seen, 5)
        check(w.helper.poll() is None, f"the helper exited on SIGHUP: {w.log_text()}")

    # Without 'local', with a new service: 'local' closes, 'iface' keeps its door and deadline.
    w.write_config(services={"iface": {"target": f"{SERVER_LAPTOP_IP}:{IFACE_TARGET_PORT}"},
                             "spare": {"target": f"127.0.0.1:{LOCAL_TARGET_PORT}"}})
    hup_and_wait("door(s) kept, 1 closed")
    status = w.fwctl("status")[1]["status"]
    check(sorted(status["services"]) == ["iface", "spare"] and status["config_digest"] != digest,
          f"the reloaded config is not the running one: {status}")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9101) != "ok", "the door of a removed service stayed open")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "a door the new config allows was closed by the reload")
    check(abs(w.kernel_timeout("iface") - before) <= 3, "the reload changed the kept door's kernel deadline")
    closed = [e for e in w.events() if e["kind"] == "CLOSED"]
    check(len(closed) == 1 and closed[0]["grant"]["service"] == "local" and closed[0]["actor"] == "system"
          and "reloaded" in closed[0]["reason"], f"the reload's close is not journalled: {closed}")
    w.open("spare", 9102, LAPTOP_IP, 60)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9102) == "ok", "a service added by the reload cannot be opened")
    digest = w.fwctl("status")[1]["status"]["config_digest"]

    # A broken file and a restart-only change: a warning each, nothing changes.
    with open(w.config_path, "w") as f:
        f.write('{"services": ')
    hup_and_wait("the running config is kept")
    w.write_config(table="other_table")
    hup_and_wait("config key 'table' changed, and only a restart can apply that")
    status = w.fwctl("status")[1]["status"]
    check(status["config_digest"] == digest and status["table"] == "sms_bridge", f"a refused reload changed the config: {status}")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok" and w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9102) == "ok",
          "a refused reload closed doors")
    check(sorted(g["service"] for g in w.fwctl("list")[1]["list"]["grants"]) == ["iface", "spare"], "the doors changed")


def extend(w, service, seconds, reason="it needs another look"):
    """Extends (or shortens) a door through fwctl; returns the ExtendResult and the monotonic times around the call."""
    before = time.monotonic()
    out = w.fwctl("extend", service, "--seconds", str(seconds), "--actor", "it", "--reason", reason)[1]["extend"]
    return out, before, time.monotonic()


def sleep_until(t):
    time.sleep(max(0.0, t - time.monotonic()))


def kernel_expires(w):
    """{(source, port): seconds left} of every IPv4 host grant, from the kernel's own JSON listing."""
    r = w.ns(w.server, "nft", "-j", "list", "set", "inet", "sms_bridge", "grant_hosts4")
    left = {}
    for item in json.loads(r.stdout)["nftables"]:
        for e in item.get("set", {}).get("elem", []):
            if "elem" in e:
                addr, port = e["elem"]["val"]["concat"]
                left[(f"{addr}/32", port)] = e["elem"].get("expires", -1)
    return left


def listed_kernel_ms(w):
    """{service: kernel_expires_in_ms} from one List answer (None where the answer has none)."""
    grants = w.fwctl("list")[1]["list"].get("grants", [])
    return {g["service"]: (int(g["kernel_expires_in_ms"]) if "kernel_expires_in_ms" in g else None) for g in grants}


def scenario_extend_shorten(w):
    # A 60 s door shortened to 3 s closes at the new deadline: a probe 1 s after it is refused.
    w.start_helper()
    opened = w.open("iface", 9100, LAPTOP_IP, 60)
    out, before, after = extend(w, "iface", 3, "done sooner than expected")
    check(out["previous_expires_at"] == opened["expires_at"], f"previous_expires_at is not the old deadline: {out}")
    check(out["grant"]["expires_at"] < opened["expires_at"], f"the deadline did not move earlier: {out}")
    check(kernel_expires(w)[(f"{LAPTOP_IP}/32", 9100)] <= 3, f"the kernel timeout was not shortened: {kernel_expires(w)}")
    sleep_until(before + 2.0)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the shortened door closed before its new deadline")
    sleep_until(after + 3 + 1.0)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) != "ok", "the shortened door was still open 1 s after its new deadline")
    extended = [e for e in w.events() if e["kind"] == "EXTENDED"]
    check(len(extended) == 1 and extended[0]["actor"] == "it" and extended[0]["reason"] == "done sooner than expected"
          and extended[0]["previous_expires_at"] == opened["expires_at"]
          and extended[0]["grant"]["expires_at"] == out["grant"]["expires_at"], f"the EXTENDED event is wrong: {extended}")
    wait_for("the EXPIRED event", lambda: any(e["kind"] == "EXPIRED" for e in w.events()), 3)
    print(f"shortened from 60 s to 3 s; closed within 1 s of {out['grant']['expires_at']}")


def scenario_extend_longer(w):
    # A 4 s door extended to 10 s outlives its old deadline, new connections and established ones
    # alike; a network grant (the interval set) too.
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 4)
    w.open("local", 9101, "10.231.2.0/24", 4)
    out, before, after = extend(w, "iface", 10)
    extend(w, "local", 10)
    left = kernel_expires(w)
    check(left.get((f"{LAPTOP_IP}/32", 9100), 0) >= 8, f"the kernel timeout was not renewed: {left}")
    agent = Agent(w, w.laptop, SERVER_LAPTOP_IP, 9100)
    check(agent.ping()[0] == "echo", "the established flow does not work")
    sleep_until(before + 6)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the extended door closed at its old deadline")
    check(w.probe_from(w.stranger, SERVER_STRANGER_IP, 9101) == "ok", "the extended network grant closed at its old deadline")
    check(agent.ping()[0] == "echo", "the established flow was cut at the old deadline")
    check(not any(e["kind"] == "EXPIRED" for e in w.events()), "the helper recorded an expiry at the old deadline")
    # Not kept open by the reconciler re-applying a door the kernel dropped at the old deadline.
    check(not any(e["kind"].startswith("DRIFT") for e in w.events()), f"the door drifted: {w.events()}")
    sleep_until(after + 10 + 1.0)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) != "ok", "the extended door outlived its new deadline")
    check(agent.ping()[0] in ("reset", "eof"), "the established flow survived the new deadline")
    check(w.probe_from(w.stranger, SERVER_STRANGER_IP, 9101) != "ok", "the extended network grant outlived its new deadline")
    print("a 4 s door extended to 10 s passed at 6 s and closed after 10 s")


def scenario_extend_sigkill(w):
    # The kernel timeout itself was renewed: with the helper killed right after the extends, the
    # shortened door still closes on time and the extended one still passes after its old deadline.
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 60)
    w.open("local", 9101, LAPTOP_IP, 4)
    _, short_before, short_after = extend(w, "iface", 3)
    longer, long_before, _ = extend(w, "local", 12)
    w.kill_helper(signal.SIGKILL)
    sleep_until(long_before + 6)
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9101) == "ok", "with the helper dead the extended door closed at its old deadline")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) != "ok", "with the helper dead the shortened door outlived its new deadline")
    check(w.kernel_grants() == {(f"{LAPTOP_IP}/32", 9101)}, f"the kernel holds {w.kernel_grants()}")
    # The new deadline was durable too: a restarted helper keeps it.
    w.start_helper()
    listed = w.fwctl("list")[1]["list"].get("grants", [])
    check([g["service"] for g in listed] == ["local"] and listed[0]["expires_at"] == longer["grant"]["expires_at"],
          f"the restarted helper lost the new deadline: {listed}")
    check(any(e["kind"] == "EXPIRED_WHILE_DOWN" and e["grant"]["service"] == "iface" for e in w.events()),
          "the shortened door's expiry while down was not recorded")
    print("with the helper killed, the shortened door closed at 3 s and the extended one passed at 6 s")


def scenario_kernel_time(w):
    # List's kernel_expires_in_ms is the kernel's own remaining timeout: it falls with time and
    # matches `nft -j list` within 1 s.
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 60)
    first = listed_kernel_ms(w)["iface"]
    nft_first = kernel_expires(w)[(f"{LAPTOP_IP}/32", 9100)]
    check(first is not None, "List gives no kernel_expires_in_ms for an open door")
    check(abs(first / 1000 - nft_first) <= 1, f"List says {first} ms, nft says {nft_first} s")
    time.sleep(3)
    second = listed_kernel_ms(w)["iface"]
    nft_second = kernel_expires(w)[(f"{LAPTOP_IP}/32", 9100)]
    check(abs(second / 1000 - nft_second) <= 1, f"List says {second} ms, nft says {nft_second} s")
    check(first - 4000 <= second <= first - 2000, f"the kernel's time left went from {first} to {second} ms in 3 s")
    extend(w, "iface", 300)
    third = listed_kernel_ms(w)["iface"]
    check(298000 <= third <= 300000, f"after extending to 300 s the kernel has {third} ms left")
    print(f"kernel_expires_in_ms {first} -> {second} (nft {nft_first} -> {nft_second} s), {third} after extend")


def scenario_timeout_drift(w):
    # Someone sets the element's timeout to 10 s behind the helper's back (one nft transaction, so
    # the element is never missing): the helper renews it with the door's real remaining time,
    # counts and reports the drift, and List shows the repaired time.
    w.start_helper()
    w.open("iface", 9100, LAPTOP_IP, 60)
    key = f"{LAPTOP_IP} . 9100"
    w.ns(w.server, "nft", f"delete element inet sms_bridge grant_hosts4 {{ {key} }}; "
                          f"add element inet sms_bridge grant_hosts4 {{ {key} timeout 10s }}")
    wait_for("the drifted timeout to be repaired", lambda: kernel_expires(w).get((f"{LAPTOP_IP}/32", 9100), 0) >= 50, 5)
    repaired = wait_for("the DRIFT_REPAIRED event", lambda: [e for e in w.events() if e["kind"] == "DRIFT_REPAIRED"], 3)
    import re
    m = re.search(r"drifted by (\d+) s", repaired[-1].get("detail", ""))
    check(m and 45 <= int(m.group(1)) <= 52, f"the drift event does not say by how much: {repaired}")
    check(repaired[-1]["grant"]["service"] == "iface", f"the drift event names no door: {repaired}")
    check(int(w.fwctl("status")[1]["status"]["counters"]["drift_repairs"]) >= 1, "drift_repairs did not count it")
    left = listed_kernel_ms(w)["iface"]
    check(left is not None and left >= 50000, f"List reports {left} ms after the repair")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the door does not work after the repair")
    print(f"repaired: {repaired[-1]['detail']}; List says {left} ms")




def kernel_timeout(w, service):
    """Seconds left on the kernel element of a service (from nft's JSON 'expires')."""
    r = w.ns(w.server, "nft", "-j", "list", "set", "inet", "sms_bridge", "grant_hosts4")
    for item in json.loads(r.stdout)["nftables"]:
        for e in item.get("set", {}).get("elem", []):
            if "elem" in e:
                return e["elem"].get("expires", -1)
    return -1


World.kernel_timeout = kernel_timeout


def open_killed_at(w, point):
    """An Open of 'iface' by the test build that kills itself (SIGKILL) at `point` of it."""
    w.start_helper(binary="sms-bridge-firewall-helper-faults", env={"SMS_BRIDGE_CRASH_OPEN_AT": point})
    rc, out, _ = w.fwctl("open", "iface", "--port", "9100", "--source", LAPTOP_IP, "--duration", "60", "--actor", "it",
                         check_rc=False)
    check(rc != 0, f"the Open was answered although the helper was to die in it: {out}")
    w.helper.wait(timeout=10)
    check(w.helper.returncode == -signal.SIGKILL, f"the helper ended with {w.helper.returncode}, not SIGKILL")
    w.helper = None


def scenario_crash_open_journal(w):
    # Killed with the records durable and the kernel untouched, then restarted with the table
    # still there: the kernel is the authority on a surviving table, so the door is voided, with
    # its OPENED event and an EXPIRED_WHILE_DOWN that says why.
    open_killed_at(w, "journal")
    check(w.kernel_grants() == set(), f"the kernel had the door before the restart: {w.kernel_grants()}")
    w.start_helper()
    check(w.fwctl("list")[1]["list"].get("grants", []) == [], "the restarted helper lists a door the kernel never had")
    check(w.kernel_grants() == set(), f"the kernel has a door after the restart: {w.kernel_grants()}")
    kinds = [(e["kind"], e["grant"]["service"]) for e in w.events()]
    check(kinds == [("OPENED", "iface"), ("EXPIRED_WHILE_DOWN", "iface")], f"unexpected events: {w.events()}")
    check("in the middle of opening it" in w.events()[1].get("detail", ""), f"the close does not say why: {w.events()[1]}")
    print("killed after the journal, table kept: the door was voided (OPENED, then EXPIRED_WHILE_DOWN with the reason)")


def scenario_crash_open_journal_reboot(w):
    # The same crash, then a reboot (which empties the kernel's tables): the recorded door is
    # re-applied with the time its deadline leaves, and its OPENED event is there for the audit.
    open_killed_at(w, "journal")
    w.ns(w.server, "nft", "delete", "table", "inet", "sms_bridge")
    w.start_helper()
    listed = w.fwctl("list")[1]["list"]["grants"]
    check([(g["service"], g["external_port"]) for g in listed] == [("iface", 9100)], f"unexpected grants after restart: {listed}")
    check(w.kernel_grants() == {(f"{LAPTOP_IP}/32", 9100)}, f"the kernel does not hold the recorded door: {w.kernel_grants()}")
    remaining = w.kernel_timeout("iface")
    check(50 <= remaining <= 60, f"the door was re-applied with {remaining}s, not the time its deadline leaves")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the re-applied door does not forward")
    opened = [e for e in w.events() if e["kind"] == "OPENED"]
    check(len(opened) == 1 and opened[0]["grant"]["grant_id"] == listed[0]["grant_id"],
          f"the re-applied door's OPENED event is missing: {w.events()}")
    print(f"killed after the journal, then a reboot: the door was re-applied with {remaining} s left, with its OPENED event")


def scenario_crash_open_kernel(w):
    # Killed with the element in the kernel and nothing written: the restart removes it.
    open_killed_at(w, "kernel")
    check(w.kernel_grants() == {(f"{LAPTOP_IP}/32", 9100)}, f"the kernel lacked the half-made door: {w.kernel_grants()}")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) == "ok", "the half-made door did not forward while the helper was down")
    w.start_helper()
    check(w.fwctl("list")[1]["list"].get("grants", []) == [], "the restarted helper lists a door nobody recorded")
    check(w.kernel_grants() == set(), f"the unrecorded element survived the restart: {w.kernel_grants()}")
    check(w.probe_from(w.laptop, SERVER_LAPTOP_IP, 9100) != "ok", "the unrecorded door still forwards after the restart")
    check(not [e for e in w.events() if e["kind"] == "OPENED"], f"an OPENED event of an unrecorded door: {w.events()}")
    print("killed after the kernel: the restart removed the element nobody recorded, and no OPENED event")

SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--echo-server", nargs=2)
    parser.add_argument("--probe", nargs=2)
    parser.add_argument("--agent", nargs=2)
    parser.add_argument("--list", action="store_true", help="print the scenario names (CMake registers one test each)")
    args = parser.parse_args()
    if args.list:
        print("\n".join(sorted(SCENARIOS)))
        return 0
    if args.echo_server:
        return echo_server(args.echo_server[0], int(args.echo_server[1]))
    if args.probe:
        return probe(args.probe[0], int(args.probe[1]))
    if args.agent:
        return agent(args.agent[0], int(args.agent[1]))
    if not args.bin_dir or not args.scenario:
        parser.error("--bin-dir and --scenario are required")

    missing = ([] if os.geteuid() == 0 else ["root"]) + absent_tools("ip", "nft", "setpriv", "sysctl", "iptables")
    if missing:
        return missing_prerequisites(missing)  # in CI an integration test that cannot run is a failure

    world = World(os.path.abspath(args.bin_dir), f"{sites.pid_tag()}")
    return run_scenario(args.scenario, world, world.build, SCENARIOS[args.scenario], world.log_text)


if __name__ == "__main__":
    sys.exit(main())
