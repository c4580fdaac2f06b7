#!/usr/bin/env python3
"""The server stack under a real Docker engine, as README's Deploy section runs it.

The test builds a sandbox and follows README's compose path in it, from a copy of the repository
that has what a fresh clone has (git's files, no build output, no compose/.env):
  - a "server" network namespace runs a dockerd of the test's own (data and exec roots in the
    test's temp dir, its socket there too). dockerd's iptables and nft changes stay in that
    namespace, and the firewall helper's `network_mode: host` means that namespace. Its bridge
    "pub" holds the server's public address and is its default route, so the helper reports that
    address (SMS_BRIDGE_SERVER_IP=auto);
  - "laptop" and "stranger" namespaces hang off that bridge;
  - Docker Hub is not used: debian:12 (and debian:12-slim) is made with mmdebstrap from the
    Debian mirror this machine's apt uses, then `docker import`ed;
  - apt inside `docker build` reaches that mirror through apt_proxy.py, which the test runs on
    the host side of one veth pair into the server namespace and which forwards to the mirror's
    hosts only. That veth pair is the one thing added to the host's namespace; its ruleset,
    sysctls and routes are never touched.
Everything is removed at the end, also on failure: containers, dockerd (by its pid), what it
mounted, the namespaces, the temp dir.

Usage: docker_test.py --build-dir DIR --scenario NAME   (--list prints the scenarios)
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import asyncio
import datetime
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

import yaml

from kit.debian import debian_mirrors
from kit.core import TestFailure, absent_tools, check, integration_main, kill_all

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
PROXY_HOST_IP, PROXY_NS_IP, PROXY_PORT = "10.234.0.1", "10.234.0.2", 3142
SERVER_IP, LAPTOP_IP, STRANGER_IP = "10.235.0.1", "10.235.0.2", "10.235.0.3"
ADMIN_USER, ADMIN_PASSWORD = "admin", "admin-password-0123456789"
POSTGRES_PASSWORD = "postgres-password-0123456789"
CONTAINERS = {"sms_receiver", "sms_firewall_helper", "sms_postgres", "sms_pgbouncer"}
# The test's helper config lets a door last 20 s (the shipped one: 15 minutes at least), so that
# expiry with the helper killed is seen within the test.
SHORT_DOOR_SECONDS = 20
# Paths dockerd creates outside its data and exec roots; removed at the end if they were not there before.
DOCKERD_LEFTOVERS = ["/etc/docker/key.json", "/run/docker", "/run/containerd"]


# The test's own deadline, under ctest's TIMEOUT (1200 s) with room for the teardown (about 50 s):
# running over it is a failure that still tears everything down, where ctest would kill the
# process and leave dockerd and the namespaces behind.
BUDGET_SECONDS = 1080


class OverBudget(TestFailure):
    pass


def over_budget(*_):
    raise OverBudget(f"the test ran over its {BUDGET_SECONDS} s budget")


def run(cmd, timeout=120, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


class World:
    def __init__(self, build_dir):
        self.build_dir = build_dir
        self.tmp = tempfile.mkdtemp(prefix="sms-bridge-docker-")
        os.chmod(self.tmp, 0o755)
        tag = os.getpid() % 100000
        self.server, self.laptop, self.stranger = f"sbK{tag}S", f"sbK{tag}L", f"sbK{tag}X"
        self.host_if = f"sbk{tag}h"
        self.namespaces = []
        self.processes = []
        self.dockerd = None
        self.socket = os.path.join(self.tmp, "docker.sock")
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.socket}")
        self.compose_cmd = None
        self.project = None
        self.preexisting = {p for p in DOCKERD_LEFTOVERS if os.path.lexists(p)}
        self.started = time.monotonic()
        self.results = []

    # -------------------------------------------------------------- sandbox

    def ns(self, ns, *cmd, check_rc=True, timeout=120, **kw):
        # nsenter --net, not `ip netns exec`: the latter remounts /sys, which dockerd cannot live with;
        # the same entry is used for every command so that they all see what dockerd sees.
        r = run(["nsenter", f"--net=/var/run/netns/{ns}", *cmd], timeout=timeout, **kw)
        if check_rc and r.returncode != 0:
            raise TestFailure(f"{' '.join(cmd)} in {ns}: {r.stderr.strip() or r.stdout.strip()}")
        return r

    def build_network(self):
        for ns in (self.server, self.laptop, self.stranger):
            r = run(["ip", "netns", "add", ns])
            check(r.returncode == 0, f"ip netns add {ns}: {r.stderr.strip()}")
            self.namespaces.append(ns)
            self.ns(ns, "ip", "link", "set", "lo", "up")
        # The one host-side addition: a veth pair for the apt proxy.
        r = run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "proxy0", "netns", self.server])
        check(r.returncode == 0, f"the proxy's veth pair: {r.stderr.strip()}")
        for cmd in (["ip", "addr", "add", f"{PROXY_HOST_IP}/30", "dev", self.host_if], ["ip", "link", "set", self.host_if, "up"]):
            r = run(cmd)
            check(r.returncode == 0, f"{' '.join(cmd)}: {r.stderr.strip()}")
        s = self.server
        self.ns(s, "ip", "addr", "add", f"{PROXY_NS_IP}/30", "dev", "proxy0")
        self.ns(s, "ip", "link", "set", "proxy0", "up")
        self.ns(s, "ip", "link", "add", "pub", "type", "bridge")
        self.ns(s, "ip", "addr", "add", f"{SERVER_IP}/24", "dev", "pub")
        self.ns(s, "ip", "link", "set", "pub", "up")
        self.ns(s, "ip", "route", "add", "default", "dev", "pub")
        for ns, ip, name in ((self.laptop, LAPTOP_IP, "lap"), (self.stranger, STRANGER_IP, "str")):
            self.ns(s, "ip", "link", "add", f"{name}-br", "type", "veth", "peer", "name", "eth0", "netns", ns)
            self.ns(s, "ip", "link", "set", f"{name}-br", "master", "pub")
            self.ns(s, "ip", "link", "set", f"{name}-br", "up")
            self.ns(ns, "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
            self.ns(ns, "ip", "link", "set", "eth0", "up")
            self.ns(ns, "ip", "route", "add", "default", "via", SERVER_IP)

    def start_proxy(self, hosts):
        log = open(os.path.join(self.tmp, "apt_proxy.log"), "w")
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "apt_proxy.py"), "--listen", f"{PROXY_HOST_IP}:{PROXY_PORT}",
                              *[a for h in hosts for a in ("--allow", h)], "--max-connections", "16", "--max-seconds", "1500"],
                             stdout=log, stderr=log)
        self.processes.append(p)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "listening on" not in open(log.name).read():
            check(p.poll() is None, f"apt_proxy.py exited: {open(log.name).read()}")
            time.sleep(0.1)
        check("listening on" in open(log.name).read(), "apt_proxy.py did not start")

    def start_dockerd(self):
        data, execroot = os.path.join(self.tmp, "docker-data"), os.path.join(self.tmp, "docker-exec")
        os.makedirs(data)
        os.makedirs(execroot)
        self.dockerd_log = os.path.join(self.tmp, "dockerd.log")
        self.dockerd = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{self.server}", "dockerd", "--data-root", data,
                                         "--exec-root", execroot, "--host", f"unix://{self.socket}",
                                         "--pidfile", os.path.join(self.tmp, "dockerd.pid")],
                                        stdout=open(self.dockerd_log, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            check(self.dockerd.poll() is None, f"dockerd exited: {self.tail(self.dockerd_log)}")
            if os.path.exists(self.socket) and self.docker("info", check_rc=False).returncode == 0:
                return
            time.sleep(0.5)
        raise TestFailure(f"dockerd did not answer within 60 s: {self.tail(self.dockerd_log)}")

    def docker(self, *args, check_rc=True, timeout=120, **kw):
        r = run(["docker", *args], timeout=timeout, env=self.env, **kw)
        if check_rc and r.returncode != 0:
            raise TestFailure(f"docker {' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
        return r

    def compose(self, *args, check_rc=True, timeout=300, **kw):
        r = run([*self.compose_cmd, "-f", os.path.join(self.project, "compose", "docker-compose-main.yml"),
                 "-f", os.path.join(self.project, "compose", "docker-compose.test.yml"), *args],
                timeout=timeout, env=self.env, cwd=os.path.join(self.project, "compose"), **kw)
        if check_rc and r.returncode != 0:
            raise TestFailure(f"compose {' '.join(args)}: {r.stderr.strip()[-3000:]}")
        return r

    @staticmethod
    def tail(path, chars=3000):
        try:
            with open(path, errors="replace") as f:
                return f.read()[-chars:]
        except OSError:
            return ""

    def log(self):
        out = []
        if self.dockerd and self.dockerd.poll() is None:
            out.append(self.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}", check_rc=False).stdout)
            for name in sorted(CONTAINERS):
                r = self.docker("logs", "--tail", "15", name, check_rc=False)
                out.append(f"--- {name} ---\n{r.stdout}{r.stderr}")
        out.append("--- dockerd ---\n" + self.tail(getattr(self, "dockerd_log", ""), 1500))
        return "\n".join(out)

    # -------------------------------------------------------------- teardown

    def teardown(self):
        signal.alarm(0)  # the budget's alarm must not cut the teardown short
        kill_all(self.processes)
        self.processes = []
        if self.dockerd:
            if self.dockerd.poll() is None:
                r = self.docker("ps", "-aq", check_rc=False, timeout=30)
                ids = r.stdout.split()
                if ids:
                    self.docker("rm", "-f", *ids, check_rc=False, timeout=120)
                self.dockerd.send_signal(signal.SIGTERM)
                try:
                    self.dockerd.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.dockerd.kill()
                    self.dockerd.wait(timeout=10)
            self.dockerd = None
            self.kill_descendants_of_ours()
            self.unmount_ours()
        for ns in self.namespaces:
            run(["ip", "netns", "del", ns])
        self.namespaces = []
        if run(["ip", "link", "show", self.host_if]).returncode == 0:
            run(["ip", "link", "del", self.host_if])
        for path in DOCKERD_LEFTOVERS:
            if path not in self.preexisting and os.path.lexists(path):
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.remove(path)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def kill_descendants_of_ours(self):
        """containerd and its shims, if any outlived dockerd: they name our exec root on their
        command line, so they are ours; their children (container processes) go with them."""
        def cmdline(pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    return f.read().decode(errors="replace")
            except OSError:
                return ""
        def parent(pid):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                return None
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        ours = {p for p in pids if self.tmp in cmdline(p)}
        grew = True
        while grew:
            more = {p for p in pids if parent(p) in ours} - ours
            grew = bool(more)
            ours |= more
        ours.discard(os.getpid())
        for pid in ours:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def unmount_ours(self):
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4].replace("\\040", " ") for line in f]
        for point in sorted({p for p in points if p.startswith(self.tmp)}, key=len, reverse=True):
            run(["umount", "-l", point])

    # -------------------------------------------------------------- checks

    def step(self, name, fn, essential=False):
        """Runs one check and records its outcome; an essential one stops the scenario on failure."""
        started = time.monotonic()
        try:
            fn()
            self.results.append((name, "ok", time.monotonic() - started, ""))
            print(f"  ok    {name} ({time.monotonic() - started:.1f} s)", flush=True)
        except Exception as e:  # any error in a check is that check's failure, reported with the others
            if isinstance(e, OverBudget):
                raise
            self.results.append((name, "FAIL", time.monotonic() - started, str(e) or repr(e)))
            print(f"  FAIL  {name}: {e}", flush=True)
            if essential:
                raise TestFailure(f"{name}: {e}") from e


# ------------------------------------------------------------------ the steps

def fresh_copy(w):
    """The repository as a fresh clone has it: git's files (tracked, and new ones not ignored), nothing else."""
    r = run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    check(r.returncode == 0, f"{REPO} is not a git checkout: {r.stderr.strip()}")
    target = os.path.join(w.tmp, "clone")
    for rel in filter(None, r.stdout.split("\0")):
        source = os.path.join(REPO, rel)
        if not os.path.lexists(source):
            continue  # deleted in the work tree, not yet in git
        os.makedirs(os.path.join(target, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(source, os.path.join(target, rel), follow_symlinks=False)
    check(not os.path.exists(os.path.join(target, "compose", ".env")), "compose/.env must not be in git")
    w.project = target


def write_env(w):
    """compose/.env from .env.example, every CHANGE-ME set, as README tells a user to."""
    compose = os.path.join(w.project, "compose")
    text = open(os.path.join(compose, ".env.example")).read()
    values = {"POSTGRES_PASSWORD": POSTGRES_PASSWORD, "SMS_BRIDGE_ADMIN_USERNAME": ADMIN_USER,
              "SMS_BRIDGE_ADMIN_PASSWORD": ADMIN_PASSWORD, "SMS_BRIDGE_HMAC_SECRET": "hmac-secret-0123456789abcdef",
              "SMS_BRIDGE_SMS_API_KEY": "sms-gateway-key-0123456789",
              # The API's own lower bound, so that the short door of the helper-kill check is accepted.
              "SMS_BRIDGE_PORT_MIN_DURATION_SECONDS": str(SHORT_DOOR_SECONDS)}
    for key, value in values.items():
        text, n = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
        check(n == 1, f".env.example has no {key}= line")
    check("=CHANGE-ME" not in text, f"a CHANGE-ME is left that README does not mention: {re.findall(r'^.*=CHANGE-ME.*$', text, re.M)}")
    with open(os.path.join(compose, ".env"), "w") as f:
        f.write(text)
    os.chmod(os.path.join(compose, ".env"), 0o600)
    # The test's override: the helper's config with a short minimum duration (the only difference).
    config = json.load(open(os.path.join(compose, "firewall-helper.json")))
    config["duration_seconds"]["min"] = SHORT_DOOR_SECONDS
    with open(os.path.join(compose, "firewall-helper.test.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(compose, "docker-compose.test.yml"), "w") as f:
        override = {"services": {"firewall-helper": {"volumes": [
            "./firewall-helper.test.json:/etc/sms-bridge/firewall-helper.json:ro"]}}}
        version = yaml.safe_load(open(os.path.join(compose, "docker-compose-main.yml"))).get("version")
        yaml.safe_dump(dict(override, version=version) if version else override, f)


def make_base_image(w):
    """debian:12 and debian:12-slim, from this machine's Debian mirror (no registry is reachable)."""
    main, security = debian_mirrors("http://")
    cache_dir = os.path.join(w.build_dir, "docker-base")
    os.makedirs(cache_dir, exist_ok=True)
    tarball = os.path.join(cache_dir, f"debian-12-{datetime.date.today():%Y%m%d}.tar")
    if not os.path.exists(tarball):
        for old in glob.glob(os.path.join(cache_dir, "debian-12-*")):
            os.remove(old)
        partial = tarball[:-len(".tar")] + ".partial.tar"  # mmdebstrap picks the format by the name's ending
        # The same trimming as Debian's -slim images: no manuals, docs or translations.
        excludes = ["/usr/share/man/*", "/usr/share/doc/*", "/usr/share/info/*", "/usr/share/locale/*",
                    "/usr/share/groff/*", "/usr/share/lintian/*"]
        r = run(["nice", "mmdebstrap", "--variant=minbase", "--quiet",
                 *[f"--dpkgopt=path-exclude={e}" for e in excludes], "--dpkgopt=path-include=/usr/share/doc/*/copyright",
                 "bookworm", partial, f"deb {main} bookworm main", f"deb {main} bookworm-updates main",
                 f"deb {security} bookworm-security main"], timeout=600)
        check(r.returncode == 0, f"mmdebstrap: {r.stderr.strip()[-2000:]}")
        os.rename(partial, tarball)
    w.docker("import", "--change", 'CMD ["bash"]', tarball, "debian:12", timeout=300)
    w.docker("tag", "debian:12", "debian:12-slim")
    w.mirror_hosts = sorted({urllib.parse.urlsplit(u).hostname for u in (main, security)})


def laptop_curl(w, url, *args, ns=None, timeout=10):
    r = w.ns(ns or w.laptop, "curl", "-s", "-m", str(timeout), "-w", "\n%{http_code}", *args, url, check_rc=False,
             timeout=timeout + 5)
    text, _, code = r.stdout.rpartition("\n")
    return int(code or 0), text


def admin(w, method, path, body=None):
    args = ["-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", "-X", method]
    if method == "POST":  # a change over Basic must declare JSON, with or without a body (CSRF)
        args += ["-H", "Content-Type: application/json"]
    if body is not None:
        args += ["--data-binary", json.dumps(body)]
    status, text = laptop_curl(w, f"http://{SERVER_IP}:8080/admin/monitoring/{path}", *args)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def wait_for(what, predicate, seconds, interval=1.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    check(predicate(), f"timed out after {seconds} s waiting for {what}")


def health_of(w):
    out = {}
    for name in CONTAINERS:
        r = w.docker("inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}", name,
                     check_rc=False)
        out[name] = r.stdout.strip() or "absent"
    return out


def wait_healthy(w, seconds=180):
    wait_for("every container to be healthy", lambda: set(health_of(w).values()) == {"healthy"}, seconds, 2)


def door_reachable(w, port, path="/metrics"):
    status, _ = laptop_curl(w, f"http://{SERVER_IP}:{port}{path}", timeout=5)
    return status == 200


def port_scan(w, host, ns, concurrency=256, timeout=1.5):
    """Every TCP port of host, from namespace ns, at most `concurrency` connects at a time; the open ones."""
    code = f"""
import asyncio, sys
async def probe(port, sem):
    async with sem:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection({host!r}, port), {timeout})
        except (OSError, asyncio.TimeoutError):
            return None
        writer.close()
        return port
async def main():
    sem = asyncio.Semaphore({concurrency})
    found = await asyncio.gather(*(probe(p, sem) for p in range(1, 65536)))
    print(" ".join(str(p) for p in found if p))
asyncio.run(main())
"""
    r = w.ns(ns, sys.executable, "-c", code, timeout=600)
    return sorted(int(p) for p in r.stdout.split())


def scenario_compose_stack(w):
    signal.signal(signal.SIGALRM, over_budget)
    signal.alarm(BUDGET_SECONDS)
    print("sandbox", flush=True)
    w.step("the network namespaces and the proxy's veth pair", w.build_network, essential=True)
    w.step("the repository as a fresh clone has it", lambda: fresh_copy(w), essential=True)
    w.step("compose/.env from .env.example", lambda: write_env(w), essential=True)
    w.step("dockerd in the server namespace", w.start_dockerd, essential=True)
    w.step("debian:12 made with mmdebstrap and docker import", lambda: make_base_image(w), essential=True)
    w.step("apt proxy to the Debian mirror only", lambda: w.start_proxy(w.mirror_hosts), essential=True)

    def proxy_refuses_others():
        # From the server namespace, as a build container would ask: another host is refused.
        r = w.ns(w.server, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10", "-x",
                 f"http://{PROXY_HOST_IP}:{PROXY_PORT}", "http://example.org/", check_rc=False)
        check(r.stdout == "403", f"the proxy forwarded a request for example.org: {r.stdout}")
        r = w.ns(w.server, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10", "-x",
                 f"http://{PROXY_HOST_IP}:{PROXY_PORT}", f"http://{w.mirror_hosts[0]}/debian/dists/bookworm/Release",
                 check_rc=False)
        check(r.stdout == "200", f"the proxy did not forward to the mirror: {r.stdout}")
    w.step("the proxy forwards to the mirror and refuses other hosts", proxy_refuses_others)

    for candidate in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(candidate[0]) and run([*candidate, "version"], env=w.env).returncode == 0:
            w.compose_cmd = candidate
            break
    check(w.compose_cmd, "neither `docker compose` (v2) nor `docker-compose` (v1) works")
    print(f"compose: {' '.join(w.compose_cmd)}", flush=True)

    print("start", flush=True)
    build_started = time.monotonic()
    w.step("build (every image, the redis profile's too)", lambda: w.compose(
        "--profile", "redis", "build", "--build-arg", f"http_proxy=http://{PROXY_HOST_IP}:{PROXY_PORT}", timeout=1500),
        essential=True)
    build_seconds = time.monotonic() - build_started
    w.step("up -d", lambda: w.compose("up", "-d", timeout=300), essential=True)
    w.step("every container healthy within 3 minutes", lambda: wait_healthy(w, 180), essential=True)

    def health_from_laptop():
        status, text = laptop_curl(w, f"http://{SERVER_IP}:8080/health")
        body = json.loads(text) if status == 200 else {}
        check(status == 200 and body.get("status") == "healthy", f"/health from the laptop: {status} {text}")
    w.step("/health from the laptop is healthy", health_from_laptop, essential=True)

    def admin_works():
        status, body = admin(w, "GET", "services")
        check(status == 200 and "postgres" in json.dumps(body), f"the admin from .env: {status} {body}")
    w.step("the admin from .env logs in", admin_works, essential=True)

    print("stranger, before any door", flush=True)
    def scan(label):
        started = time.monotonic()
        found = port_scan(w, SERVER_IP, w.stranger)
        check(found == [8080], f"{label}: the stranger finds {found} open, not only 8080")
        print(f"        (65535 ports in {time.monotonic() - started:.0f} s)", flush=True)
    w.step("a full port scan from the stranger finds only 8080", lambda: scan("before"))

    print("writes", flush=True)
    def port_config_writes():
        status, body = admin(w, "GET", "port-config")
        check(status == 200, f"GET port-config: {status} {body}")
        config = body["current_config"]
        config["metrics"]["port"] = 9101
        status, body = admin(w, "POST", "port-config", {"config": config})
        check(status == 200, f"POST port-config: {status} {body}")
        status, body = admin(w, "GET", "port-config")
        check(body["current_config"]["metrics"]["port"] == 9101, f"the saved port-config did not stick: {body}")
        status, body = admin(w, "POST", "port-config/reset")
        check(status == 200, f"POST port-config/reset: {status} {body}")
        status, body = admin(w, "GET", "port-config")
        check(body["current_config"]["metrics"]["port"] == 9100, f"reset did not restore the default: {body}")
    w.step("port-config save and reset answer 200 (and stick)", port_config_writes)

    def logs_endpoints():
        status, body = admin(w, "GET", "logs/list")
        check(status == 200, f"logs/list: {status} {body}")
        names = [f["name"] for f in body.get("files", [])] if isinstance(body, dict) else []
        check({"application", "postgres"} <= set(body.get("logs", {})), f"logs/list lacks the original's services: {body}")
        check("sms-bridge-api.log" in names, f"logs/list lacks sms-bridge-api.log: {body}")
        pg_logs = [n for n in names if re.fullmatch(r"postgresql-\d{4}-\d{2}-\d{2}\.log", n)]
        check(pg_logs, f"logs/list lacks the postgres log: {names}")
        check("pgbouncer.log" in names, f"logs/list lacks pgbouncer.log: {names}")
        status, text = laptop_curl(w, f"http://{SERVER_IP}:8080/admin/monitoring/logs/download/{pg_logs[0]}?tail=200",
                                   "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}")
        check(status == 200 and "database system is ready to accept connections" in text,
              f"logs/download of {pg_logs[0]}: {status} {text[:300]}")
        status, text = laptop_curl(w, f"http://{SERVER_IP}:8080/admin/monitoring/logs/download/sms-bridge-api.log?tail=50",
                                   "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}")
        check(status == 200 and text.strip(), f"logs/download of sms-bridge-api.log: {status} {text[:300]}")
        # The original's names: the newest postgres log, from the stack's one shared log volume.
        status, text = laptop_curl(w, f"http://{SERVER_IP}:8080/admin/monitoring/logs/download/postgres?tail=200",
                                   "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}")
        check(status == 200 and "database system is ready to accept connections" in text,
              f"logs/download/postgres: {status} {text[:300]}")
    w.step("logs/list and logs/download, postgres logs included", logs_endpoints)

    def postgres_password_file():
        # The postgres image alone, its password from a file (compose secrets put one at /run/secrets/NAME).
        secret = os.path.join(w.tmp, "pg-secret")
        with open(secret, "w") as f:
            f.write("file-password-0123456789\n")
        os.chmod(secret, 0o644)
        image = w.docker("inspect", "-f", "{{.Config.Image}}", "sms_postgres").stdout.strip()
        w.docker("run", "-d", "--name", "pg_secret_check", "-e", "POSTGRES_USER=filed", "-e",
                 "POSTGRES_PASSWORD_FILE=/run/secrets/pw", "-v", f"{secret}:/run/secrets/pw:ro", image)
        try:
            login = ["exec", "-e", "PGPASSWORD=file-password-0123456789", "pg_secret_check", "psql", "-h", "127.0.0.1",
                     "-U", "filed", "-Atc", "SELECT current_user"]
            try:
                wait_for("the password-file cluster to take its login",
                         lambda: w.docker(*login, check_rc=False).stdout.strip() == "filed", 30)
            except TestFailure as e:
                r = w.docker("logs", "--tail", "5", "pg_secret_check", check_rc=False)
                raise TestFailure(f"{e}: {r.stdout}{r.stderr}") from e
            r = w.docker("exec", "-e", "PGPASSWORD=wrong-password-0123", "pg_secret_check", "psql", "-h", "127.0.0.1",
                         "-U", "filed", "-c", "SELECT 1", check_rc=False)
            check(r.returncode != 0 and "password authentication failed" in r.stderr, f"a wrong password got in: {r.stderr}")
        finally:
            w.docker("rm", "-f", "-v", "pg_secret_check", check_rc=False)
        r = w.docker("run", "--rm", "-e", "POSTGRES_PASSWORD=x-0123456789ab", "-e", "POSTGRES_PASSWORD_FILE=/run/secrets/pw",
                     "-v", f"{secret}:/run/secrets/pw:ro", image, check_rc=False, timeout=60)
        check(r.returncode == 1 and "not both" in r.stderr, f"both POSTGRES_PASSWORD and its _FILE: {r.returncode} {r.stderr}")
    w.step("the postgres image takes POSTGRES_PASSWORD_FILE (and refuses both)", postgres_password_file)

    print("doors from the laptop", flush=True)
    opened = {}
    def postgres_door():
        status, body = admin(w, "POST", "open-port", {"service": "postgres", "duration_minutes": 15})
        check(status == 200 and body.get("status") == "opened", f"open-port postgres: {status} {body}")
        opened["postgres"] = body
        info = body["connection_info"]
        check(body["source"] == f"{LAPTOP_IP}/32", f"the door's source is not the laptop's address: {body}")
        query = "SELECT service, external_port FROM monitoring_ports_currently_open"
        def rows():
            r = w.ns(w.laptop, "env", f"PGPASSWORD={POSTGRES_PASSWORD}", "PGCONNECT_TIMEOUT=5", "psql", "-X", "-At",
                     "-h", str(info["host"]), "-p", str(info["port"]), "-U", info["username"], "-d", info["database"],
                     "-c", query, check_rc=False)
            return r
        r = rows()
        check(r.returncode == 0, f"psql from the laptop with connection_info {info}: {r.stderr.strip()}")
        wait_for("the postgres door in monitoring_ports_currently_open", lambda: f"postgres|{info['port']}" in rows().stdout, 15)
    w.step("postgres door: psql with connection_info's host and user sees it open", postgres_door)

    def metrics_door():
        status, body = admin(w, "POST", "open-port", {"service": "metrics", "duration_minutes": 15})
        check(status == 200 and body.get("status") == "opened", f"open-port metrics: {status} {body}")
        opened["metrics"] = body
        status, text = laptop_curl(w, f"http://{SERVER_IP}:{body['port']}/metrics")
        check(status == 200 and "sms_bridge_http_requests_total" in text, f"/metrics through the door: {status} {text[:300]}")
    w.step("metrics door serves /metrics", metrics_door)

    def export_names_laptop_address():
        status, text = laptop_curl(w, f"http://{SERVER_IP}:8080/admin/monitoring/export-prometheus-config",
                                   "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}")
        check(status == 200 and f"'{SERVER_IP}:9100'" in text, f"export-prometheus-config does not name {SERVER_IP}:9100: {text[:600]}")
    w.step("export-prometheus-config names the address the laptop uses", export_names_laptop_address)

    def stranger_after():
        scan("after")
    w.step("with the doors open the stranger still finds only 8080", stranger_after)

    def seed_psql_commands():
        # README's Useful commands, as the seed states them.
        for sql, expect in (("SELECT * FROM monitoring_ports_currently_open;", "postgres"),
                            ("SELECT * FROM monitoring_port_access_history LIMIT 10;", "metrics"),
                            ("SELECT * FROM find_expired_ports();", "(0 rows)")):
            r = w.docker("exec", "sms_postgres", "psql", "-U", "postgres", "-d", "sms_bridge", "-c", sql, check_rc=False)
            check(r.returncode == 0 and expect in r.stdout, f"docker exec sms_postgres psql -c {sql!r}: {r.stdout} {r.stderr}")
        r = w.docker("exec", "-i", "sms_postgres", "psql", "-U", "postgres", "-d", "sms_bridge", "-v", "ON_ERROR_STOP=1",
                     input="SELECT count(*) FROM monitoring_port_access;\n", check_rc=False)
        check(r.returncode == 0, f"docker exec -i sms_postgres psql < file: {r.stderr}")
        r = w.docker("exec", "sms_postgres", "psql", "-U", "sms_bridge", "-d", "sms_bridge", "-Atc", "SELECT current_user",
                     check_rc=False)
        check(r.stdout.strip() == "sms_bridge", f"docker exec sms_postgres psql -U sms_bridge: {r.stdout} {r.stderr}")
    w.step("the seed's docker exec sms_postgres psql commands", seed_psql_commands)

    def iptables_reads():
        # Docker makes DOCKER-USER itself; what must read back is the helper's accept in it.
        for cmd in (["iptables", "-S"], ["iptables-save"]):
            r = w.ns(w.server, *cmd, check_rc=False)
            check(r.returncode == 0, f"{' '.join(cmd)} in the server namespace fails: {r.stderr.strip()}")
            ours = [l for l in r.stdout.splitlines() if l.startswith("-A DOCKER-USER") and "--mark 0x100000/0x100000" in l
                    and "-j ACCEPT" in l]
            check(ours, f"{' '.join(cmd)} does not show the helper's accept in DOCKER-USER: "
                  f"{[l for l in r.stdout.splitlines() if 'DOCKER-USER' in l]}")
    w.step("iptables -S and iptables-save work and show DOCKER-USER", iptables_reads)

    def monitoring_session():
        laptop_session(w)
    w.step("monitoring-session.sh against the stack; Prometheus scrapes it, up is 1", monitoring_session)

    print("restarts", flush=True)
    def receiver_restart_keeps_doors():
        w.docker("restart", "sms_receiver", timeout=120)
        wait_healthy(w, 120)
        status, body = admin(w, "GET", "port-status")
        check(status == 200 and {"metrics", "postgres"} <= set(body if isinstance(body, dict) else {}), f"port-status after the restart: {body}")
        check(door_reachable(w, 9100), "the metrics door does not answer after sms_receiver restarted")
    w.step("a restart of sms_receiver keeps the doors", receiver_restart_keeps_doors)

    def kill_helper_door_expires():
        status, body = admin(w, "POST", "close-port", {"service": "metrics"})
        check(status == 200, f"close-port metrics: {status} {body}")
        status, body = admin(w, "POST", "open-port", {"service": "metrics", "duration_seconds": SHORT_DOOR_SECONDS})
        check(status == 200 and body.get("status") == "opened", f"a {SHORT_DOOR_SECONDS} s door: {status} {body}")
        deadline = datetime.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        w.docker("kill", "sms_firewall_helper")
        check(door_reachable(w, 9100), "the door stopped working when the helper was killed (before its deadline)")
        left = (deadline - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        time.sleep(max(0.0, left) + 2)
        running = w.docker("inspect", "-f", "{{.State.Running}}", "sms_firewall_helper").stdout.strip()
        check(running == "false", "the helper container came back before the deadline; the kernel's expiry was not what closed the door")
        check(not door_reachable(w, 9100), "the door still answers after its deadline with the helper dead")
        w.docker("start", "sms_firewall_helper")
        wait_healthy(w, 120)
    w.step("after docker kill of the helper the door closes at its deadline", kill_helper_door_expires)

    def down_closes_doors():
        status, body = admin(w, "POST", "open-port", {"service": "metrics", "duration_minutes": 15})
        check(status == 200, f"open-port metrics before down: {status} {body}")
        check(door_reachable(w, 9100), "the metrics door does not answer before down")
        grants = lambda: w.ns(w.server, "nft", "list", "table", "inet", "sms_bridge", check_rc=False).stdout
        check(LAPTOP_IP in grants(), "the kernel holds no grant for the laptop before down")
        w.compose("--profile", "redis", "down", timeout=300)
        check(LAPTOP_IP not in grants(), f"a grant outlived docker compose down: {grants()}")
    footprint = {}
    w.step("footprint (docker stats, images, containers, published ports)", lambda: footprint.update(measure(w)))

    def redis_profile():
        w.compose("--profile", "redis", "up", "-d", "redis", timeout=120)
        wait_for("sms_redis to be healthy", lambda: w.docker("inspect", "-f", "{{.State.Health.Status}}", "sms_redis",
                                                            check_rc=False).stdout.strip() == "healthy", 90, 2)
        status, body = admin(w, "POST", "open-port", {"service": "redis", "duration_minutes": 15})
        check(status == 200 and body.get("status") == "opened", f"open-port redis: {status} {body}")
        # An inline PING (RESP), as redis-cli would send it.
        ping = ("import socket; s = socket.create_connection((%r, %d), 5); s.sendall(b'PING\\r\\n'); "
                "print(s.recv(64).decode().strip())") % (SERVER_IP, body["port"])
        r = w.ns(w.laptop, sys.executable, "-c", ping, check_rc=False, timeout=15)
        check(r.stdout.strip() == "+PONG", f"PING through the redis door: {r.stdout} {r.stderr}")
        status, body = admin(w, "GET", "logs/list")
        check("redis.log" in [f["name"] for f in body.get("files", [])] and "redis" in body.get("logs", {}),
              f"logs/list lacks redis.log: {body}")
    w.step("the redis profile: healthy, its door answers, its log is served", redis_profile)
    w.step("docker compose down closes the doors", down_closes_doors)
    # Last: it starts the stack again with 8080 published on 127.0.0.1 only, out of the laptop's reach.
    w.step("the tls profile: HTTPS on 443 with the private CA, 80 redirects, 8080 no longer public", lambda: tls_profile(w))

    print(f"build took {build_seconds:.0f} s; whole test {time.monotonic() - w.started:.0f} s", flush=True)
    if footprint:
        print("footprint: " + json.dumps(footprint), flush=True)
    failed = [(n, why) for n, outcome, _, why in w.results if outcome != "ok"]
    check(not failed, f"{len(failed)} of {len(w.results)} checks failed:\n  " + "\n  ".join(f"{n}: {why}" for n, why in failed))


def measure(w):
    """What the seed's table compares: RAM, image bytes, containers, published ports."""
    r = w.docker("stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}")
    units = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "kB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}
    ram = {}
    for line in r.stdout.splitlines():
        name, usage = line.split("\t")
        m = re.match(r"([\d.]+)\s*([A-Za-z]+)", usage)
        ram[name] = float(m.group(1)) * units[m.group(2)]
    check(set(ram) == CONTAINERS, f"docker stats lists {sorted(ram)}, not the stack's four containers")
    images = {}
    for name in CONTAINERS:
        image = w.docker("inspect", "-f", "{{.Config.Image}}", name).stdout.strip()
        images[image] = int(w.docker("image", "inspect", "-f", "{{.Size}}", image).stdout.strip())
    base = int(w.docker("image", "inspect", "-f", "{{.Size}}", "debian:12-slim").stdout.strip())
    ports = w.docker("ps", "--format", "{{.Names}}\t{{.Ports}}").stdout
    published = sorted(set(re.findall(r":(\d+)->", ports)))
    check(published == ["8080"], f"published ports: {ports}")
    out = {"ram_mib": round(sum(ram.values()) / 1024 ** 2, 1),
           "ram_mib_by_container": {k: round(v / 1024 ** 2, 1) for k, v in sorted(ram.items())},
           "image_mb": {k: round(v / 1e6) for k, v in sorted(images.items())},
           # The images share the debian:12-slim base: counted once.
           "images_on_disk_mb": round((sum(images.values()) - (len(images) - 1) * base) / 1e6),
           "base_mb": round(base / 1e6), "containers": len(ram), "published_ports": published}
    return out


def laptop_session(w):
    """laptop-monitoring/scripts/monitoring-session.sh against this stack, driven as
    deployment_test.py drives it: `docker` is a stand-in that records, Prometheus runs natively
    with the config the session downloaded."""
    laptop = os.path.join(w.tmp, "laptop")
    shutil.copytree(os.path.join(w.project, "laptop-monitoring"), laptop)
    text = open(os.path.join(laptop, ".env.example")).read()
    for old, new in {"SMS_BRIDGE_URL=https://sms-bridge.example.com:8080": f"SMS_BRIDGE_URL=http://{SERVER_IP}:8080",
                     "SMS_BRIDGE_HOST=sms-bridge.example.com": f"SMS_BRIDGE_HOST={SERVER_IP}",
                     f"SMS_BRIDGE_ADMIN_USER=admin": f"SMS_BRIDGE_ADMIN_USER={ADMIN_USER}",
                     "SMS_BRIDGE_ADMIN_PASSWORD=CHANGE-ME": f"SMS_BRIDGE_ADMIN_PASSWORD={ADMIN_PASSWORD}",
                     "CHANGE-ME": "laptop-secret-0123456789"}.items():
        text = text.replace(old, new)
    with open(os.path.join(laptop, ".env"), "w") as f:
        f.write(text)
    bin_dir = os.path.join(w.tmp, "laptop-bin")
    os.makedirs(bin_dir)
    docker_log = os.path.join(w.tmp, "laptop-docker.log")
    with open(os.path.join(bin_dir, "docker"), "w") as f:
        f.write(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {docker_log}\nexit 0\n")
    os.chmod(os.path.join(bin_dir, "docker"), 0o755)
    env_path = f"{bin_dir}:{os.environ['PATH']}"
    r = w.ns(w.laptop, "env", f"PATH={env_path}", "bash", os.path.join(laptop, "scripts", "monitoring-session.sh"),
             "--minutes", "15", check_rc=False, stdin=subprocess.DEVNULL, timeout=120)
    out = r.stdout + r.stderr
    check(r.returncode == 0, f"monitoring-session.sh: {r.returncode} {out}")
    check("door was already open" in out or "opened the metrics door" in out, f"the session's report: {out}")
    exported = os.path.join(laptop, "config", "prometheus-remote.yml")
    check(os.path.exists(exported), "the session did not save the exported Prometheus config")
    prom = subprocess.Popen(["nsenter", f"--net=/var/run/netns/{w.laptop}", "prometheus", f"--config.file={exported}",
                             f"--storage.tsdb.path={os.path.join(w.tmp, 'prometheus-data')}",
                             "--web.listen-address=127.0.0.1:9090"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(w.tmp, "prometheus.log"), "w"))
    w.processes.append(prom)
    def up():
        status, text = laptop_curl(w, "http://127.0.0.1:9090/api/v1/query?query=up%7Bjob%3D%22sms_bridge%22%7D")
        if status != 200:
            return False
        return [v["value"][1] for v in json.loads(text)["data"]["result"]] == ["1"]
    wait_for("up{job=\"sms_bridge\"} == 1 in the laptop's Prometheus", up, 60)
    kill_all([prom])


def tls_profile(w):
    """README's "TLS in front": a certificate from a private CA in compose/certs, 8080 published on
    127.0.0.1 only, `--profile tls up -d`; then from the laptop HTTPS works against the CA, plain
    HTTP on 80 is a redirect, the API sees the laptop's own address through the proxy and marks
    its cookie Secure, and the stranger finds only 80 and 443."""
    certs = os.path.join(w.project, "compose", "certs")
    os.makedirs(certs)
    ca_key, ca = os.path.join(w.tmp, "tls-ca.key"), os.path.join(w.tmp, "tls-ca.pem")
    key, csr, cert = os.path.join(certs, "privkey.pem"), os.path.join(w.tmp, "tls.csr"), os.path.join(certs, "fullchain.pem")
    san = os.path.join(w.tmp, "tls-san.ext")
    with open(san, "w") as f:
        f.write(f"subjectAltName=IP:{SERVER_IP}\n")
    for cmd in (["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                 "-subj", "/CN=SMS Bridge test CA", "-keyout", ca_key, "-out", ca],
                ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={SERVER_IP}",
                 "-keyout", key, "-out", csr],
                ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
                 "-extfile", san, "-out", cert]):
        r = run(cmd)
        check(r.returncode == 0, f"{' '.join(cmd[:2])}: {r.stderr.strip()}")
    # As README says: the key readable by the proxy's group only.
    os.chown(key, 0, 10003)
    os.chmod(key, 0o640)
    shutil.copy(ca, os.path.join(w.tmp, "laptop-ca.pem"))
    env_file = os.path.join(w.project, "compose", ".env")
    text = open(env_file).read()
    text, n = re.subn(r"^HTTP_PUBLISH_ADDRESS=.*$", "HTTP_PUBLISH_ADDRESS=127.0.0.1", text, flags=re.M)
    check(n == 1, ".env.example has no HTTP_PUBLISH_ADDRESS= line")
    with open(env_file, "w") as f:
        f.write(text)
    w.compose("--profile", "tls", "build", "--build-arg", f"http_proxy=http://{PROXY_HOST_IP}:{PROXY_PORT}", "tls-proxy",
              timeout=600)
    w.compose("--profile", "redis", "--profile", "tls", "up", "-d", timeout=300)
    wait_for("sms_tls_proxy to be healthy", lambda: w.docker("inspect", "-f", "{{.State.Health.Status}}", "sms_tls_proxy",
                                                            check_rc=False).stdout.strip() == "healthy", 120, 2)
    wait_healthy(w, 120)
    status, text = laptop_curl(w, f"https://{SERVER_IP}/health", "--cacert", ca)
    check(status == 200 and json.loads(text).get("status") == "healthy", f"https://{SERVER_IP}/health with the CA: {status} {text}")
    status, text = laptop_curl(w, f"http://{SERVER_IP}/admin", "-D", "-", "-o", "/dev/null")
    check(status == 308 and f"location: https://{SERVER_IP}/admin" in text.lower(), f"plain HTTP on 80: {status} {text}")
    status, _ = laptop_curl(w, f"http://{SERVER_IP}:8080/health", timeout=5)
    check(status == 0, f"8080 still answers from outside with HTTP_PUBLISH_ADDRESS=127.0.0.1: {status}")
    status, text = laptop_curl(w, f"https://{SERVER_IP}/admin/session", "--cacert", ca, "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}")
    check(status == 200 and json.loads(text).get("client_address") == LAPTOP_IP,
          f"through the proxy the API must see the laptop ({LAPTOP_IP}): {status} {text}")
    status, text = laptop_curl(w, f"https://{SERVER_IP}/admin/login", "--cacert", ca, "-D", "-", "-o", "/dev/null",
                               "-H", "Content-Type: application/json",
                               "--data-binary", json.dumps({"username": ADMIN_USER, "password": ADMIN_PASSWORD}))
    cookie = next((l for l in text.splitlines() if l.lower().startswith("set-cookie:")), "")
    check(status == 200 and "; Secure" in cookie, f"the session cookie over HTTPS is not Secure: {status} {cookie!r}")
    found = port_scan(w, SERVER_IP, w.stranger)
    check(found == [80, 443], f"with the tls profile the stranger finds {found} open, not only 80 and 443")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    def missing(args):
        compose = [] if shutil.which("docker-compose") or run(["docker", "compose", "version"]).returncode == 0 \
            else ["docker compose or docker-compose"]
        return absent_tools("dockerd", "docker", "mmdebstrap", "nsenter", "ip", "nft", "iptables", "iptables-save", "curl",
                            "psql", "prometheus", "git") + compose
    return integration_main(__doc__, SCENARIOS, lambda args: World(os.path.abspath(args.build_dir)), missing)


if __name__ == "__main__":
    sys.exit(main())
