#!/usr/bin/env python3
"""The .deb as an operator installs it: built by CPack, checked by lintian, installed with dpkg -i
on a clean Debian 12 root and booted there with systemd as PID 1.

Scenarios:
  lintian   packaging/build-deb.sh builds the package in --build-dir; lintian reports no error;
            the files, conffiles, maintainer scripts and Depends are where Debian wants them.
  boot      a root made by mmdebstrap from this machine's Debian mirror, holding only systemd,
            dbus and what the package's Depends names; `dpkg -i` of the .deb there (in a network
            namespace of its own, so that its postinst cannot touch this machine's sysctls) and
            each binary started once (no shared library missing); then PostgreSQL, curl and
            nftables from the mirror. systemd-nspawn boots it (--private-network: the helper's
            table stays in the container's namespace) and, inside, as README.Debian says: the
            helper is active, the api fails with a sentence until its database exists, then is
            active and answers /health; sms-bridge-fwctl, as the api's user, reads the status,
            opens a door (in the kernel: nft), probes ports (one a process listens on), reloads
            both daemons (a good and a bad helper config; the door stays), closes the door;
            `systemd-analyze security` rates both units within EXPOSURE_LIMIT;
            another user is refused by the socket's mode; the journal's notice lines have both
            door events; dpkg -i again restarts both; systemctl stop stops both cleanly; dpkg
            --purge removes the table, the secrets and the state.
Everything is torn down at the end, also on failure: nspawn by its pid (the container's PID 1 by
its pid if nspawn does not end), then the root. This machine's own network namespace is never
changed; the test checks its forwarding and route_localnet sysctls are as they were.

Usage: package_test.py --build-dir DIR --scenario NAME   (--list prints the scenarios)
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
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
import uuid

from kit.debian import debian_mirrors
from kit.core import TestFailure, absent_tools, check, integration_main, run

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# What postinst and the units put on a system (besides the files the package lists).
PACKAGE_FILES = [
    "usr/sbin/sms-bridge-api", "usr/sbin/sms-bridge-firewall-helper", "usr/bin/sms-bridge-fwctl",
    "usr/lib/systemd/system/sms-bridge-api.service", "usr/lib/systemd/system/sms-bridge-firewall-helper.service",
    "usr/lib/sysusers.d/sms-bridge.conf", "usr/lib/tmpfiles.d/sms-bridge.conf", "usr/lib/sysctl.d/60-sms-bridge.conf",
    "etc/sms-bridge/firewall-helper.json", "etc/sms-bridge/sms-bridge-api.env", "usr/share/sms-bridge/sms_settings.json",
    "usr/share/man/man8/sms-bridge-api.8.gz", "usr/share/man/man8/sms-bridge-firewall-helper.8.gz",
    "usr/share/man/man1/sms-bridge-fwctl.1.gz", "usr/share/doc/sms-bridge/copyright",
    "usr/share/doc/sms-bridge/changelog.Debian.gz", "usr/share/doc/sms-bridge/README.Debian",
]
UNITS = ["sms-bridge-firewall-helper", "sms-bridge-api"]
# The units' commands given without a path (ExecReload=kill ...), and the package that has each.
BARE_COMMANDS = {"kill": "procps"}
BOOT_SECONDS = 120
# `systemd-analyze security` inside the booted container, as systemd there rates the installed
# units: at most this (lower is better; the same bound as deployment_test's exposure gate).
EXPOSURE_LIMIT = {"sms-bridge-firewall-helper": 1.2, "sms-bridge-api": 1.2}


def host_sysctls():
    """What the package's sysctl drop-in could change, on this machine: checked unchanged at the end."""
    paths = ["/proc/sys/net/ipv4/ip_forward"] + sorted(glob.glob("/proc/sys/net/ipv4/conf/*/route_localnet"))
    values = {}
    for p in paths:
        try:
            values[p] = open(p).read().strip()
        except OSError:
            pass
    return values


def depends_names(deb):
    """The package names in the .deb's Depends (first of each alternative, versions dropped)."""
    r = run(["dpkg-deb", "-f", deb, "Depends"], check_rc=True)
    names = [re.sub(r"\s*\(.*?\)", "", a.split("|")[0]).strip() for a in r.stdout.split(",")]
    return [n for n in names if n]


class World:
    def __init__(self, build_dir):
        self.build_dir = build_dir
        self.tmp = tempfile.mkdtemp(prefix="sms-bridge-package-")
        os.chmod(self.tmp, 0o755)
        # The directory's name is the container's machine name (nspawn's lock and propagation
        # directory): unique per run.
        self.root = os.path.join(self.tmp, f"sbpkg{os.getpid()}")
        self.nspawn = None
        self.leader = None
        self.console = os.path.join(self.tmp, "console.log")
        self.bootstrap_log = os.path.join(self.tmp, "mmdebstrap.log")
        self.sysctls_before = host_sysctls()
        self.torn_down = False

    # ------------------------------------------------------------ the package

    def build_package(self):
        """packaging/build-deb.sh in the build directory; the .deb's path."""
        r = run([os.path.join(REPO, "packaging", "build-deb.sh"), self.build_dir], timeout=1800)
        check(r.returncode == 0, f"packaging/build-deb.sh {self.build_dir} failed: {(r.stderr or r.stdout).strip()[-3000:]}")
        deb = r.stdout.strip().splitlines()[-1]
        check(deb.endswith(".deb") and os.path.isfile(deb), f"build-deb.sh printed no package: {r.stdout[-500:]}")
        return deb

    # ------------------------------------------------------------ the container

    def make_root(self, deb):
        """mmdebstrap: systemd, dbus and the Depends; dpkg -i of the .deb; then what the test uses."""
        main, security = debian_mirrors()
        include = ["systemd", "systemd-sysv", "dbus"] + depends_names(deb)
        name = os.path.basename(deb)
        binaries = "sms-bridge-api --help && sms-bridge-firewall-helper --help && sms-bridge-fwctl --help"
        hooks = [
            f"copy-in {deb} /tmp",
            # dpkg refuses a package whose Depends are not installed: the root holds exactly those.
            # unshare --net: postinst loads the sysctl drop-in, which must not reach this machine.
            f'unshare --net --uts --ipc chroot "$1" dpkg -i /tmp/{name}',
            # Every binary starts: dpkg-shlibdeps named every library it links.
            f'chroot "$1" sh -c "{binaries}" >/dev/null',
            f'rm -f "$1/tmp/{name}"',
            'chroot "$1" apt-get install -y -q --no-install-recommends postgresql curl nftables',
        ]
        cmd = ["nice", "mmdebstrap", "--variant=minbase", f"--include={','.join(include)}",
               *[f"--customize-hook={h}" for h in hooks],
               "bookworm", self.root, f"deb {main} bookworm main", f"deb {main} bookworm-updates main",
               f"deb {security} bookworm-security main"]
        with open(self.bootstrap_log, "w") as log:
            r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=900)
        check(r.returncode == 0, f"mmdebstrap (with dpkg -i of the package) failed: {self.tail(self.bootstrap_log, 40)}")
        # systemd as PID 1 wants a machine id; mmdebstrap leaves the file empty.
        with open(os.path.join(self.root, "etc", "machine-id"), "w") as f:
            f.write(uuid.uuid4().hex + "\n")

    def boot(self):
        with open(self.console, "w") as console:
            self.nspawn = subprocess.Popen(
                ["systemd-nspawn", "-D", self.root, "--boot", "--private-network", "--register=no", "--keep-unit",
                 "--console=read-only"], stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + BOOT_SECONDS
        while self.leader is None:
            check(self.nspawn.poll() is None, f"systemd-nspawn exited ({self.nspawn.returncode}): {self.tail(self.console, 30)}")
            check(time.monotonic() < deadline, "the container's PID 1 did not appear")
            children = []
            for path in glob.glob(f"/proc/{self.nspawn.pid}/task/*/children"):
                try:
                    children += open(path).read().split()
                except OSError:
                    pass
            if children and open(f"/proc/{children[0]}/comm").read().strip() == "systemd":
                self.leader = int(children[0])
            else:
                time.sleep(0.2)
        while True:
            state = self.inside("systemctl", "is-system-running", "--wait", timeout=BOOT_SECONDS).stdout.strip()
            if state in ("running", "degraded"):
                break
            check(time.monotonic() < deadline, f"the container did not finish booting: {state}")
            time.sleep(0.5)
        check(state == "running", f"the container booted {state}: {self.inside('systemctl', '--failed', '--no-pager').stdout}")

    def inside(self, *cmd, user=None, timeout=60, input=None):
        """A command in every namespace of the container (its PID 1's), with a clean environment."""
        check(self.leader is not None, "the container is not running")
        prefix = ["runuser", "-u", user, "--"] if user else []
        return subprocess.run(["nsenter", "-t", str(self.leader), "-a", "env", "-i", f"PATH={PATH}", "LANG=C.UTF-8",
                               *prefix, *cmd], capture_output=True, text=True, timeout=timeout, input=input)

    def must(self, *cmd, **kw):
        r = self.inside(*cmd, **kw)
        check(r.returncode == 0, f"{' '.join(cmd)} in the container failed ({r.returncode}): {(r.stderr or r.stdout).strip()}")
        return r.stdout

    # ------------------------------------------------------------ teardown

    @staticmethod
    def tail(path, lines):
        try:
            return "\n".join(open(path, errors="replace").read().splitlines()[-lines:])
        except OSError:
            return ""

    def log(self):
        out = []
        if self.leader is not None and self.nspawn is not None and self.nspawn.poll() is None:
            for unit in UNITS:
                r = self.inside("journalctl", "-u", unit, "--no-pager", "-n", "30")
                out.append(f"--- journalctl -u {unit}\n{r.stdout}")
        out.append(f"--- console\n{self.tail(self.console, 20)}")
        out.append(f"--- mmdebstrap\n{self.tail(self.bootstrap_log, 20)}")
        return "\n".join(out)

    def stop_container(self):
        if self.nspawn is None:
            return
        if self.nspawn.poll() is None:
            # SIGTERM asks nspawn to shut the container down (its PID 1 gets SIGRTMIN+3).
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # Killing a PID namespace's init kills every process in it.
                if self.leader is not None:
                    try:
                        os.kill(self.leader, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.nspawn.kill()
                self.nspawn.wait(timeout=30)
        self.leader = None

    def teardown(self):
        if self.torn_down:
            return
        self.torn_down = True
        try:
            self.stop_container()
        finally:
            # Nothing may stay mounted under the root (mmdebstrap and nspawn unmount their own);
            # if something did, unmount it rather than delete through it.
            mounts = [l.split()[4] for l in open("/proc/self/mountinfo")]
            for m in sorted((m for m in mounts if m.startswith(self.tmp + "/")), key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)
            subprocess.run(["rm", "-rf", "--one-file-system", self.tmp], capture_output=True)
        changed = {p: (v, host_sysctls().get(p)) for p, v in self.sysctls_before.items() if host_sysctls().get(p) != v}
        if changed:
            print(f"FAIL: this machine's sysctls changed during the test: {changed}", file=sys.stderr)
            sys.exit(1)


# ---------------------------------------------------------------- scenarios

def scenario_lintian(w):
    deb = w.build_package()
    r = run(["lintian", "--info", "--display-info", deb], timeout=600)
    errors = [l for l in r.stdout.splitlines() if l.startswith("E: ")]
    check(not errors and r.returncode == 0, f"lintian reports errors (exit {r.returncode}):\n" + "\n".join(errors or [r.stderr]))
    warnings = [l for l in r.stdout.splitlines() if l.startswith("W: ")]
    print("lintian:", "\n".join(warnings) or "no warnings")
    listing = run(["dpkg-deb", "-c", deb], check_rc=True).stdout
    files = {l.split()[-1].lstrip("./") for l in listing.splitlines()}
    missing = [f for f in PACKAGE_FILES if f not in files]
    check(not missing, f"the package lacks {missing}")
    check(not any(f.startswith("usr/local/") for f in files), "the package installs into /usr/local")
    control = os.path.join(w.tmp, "control")
    run(["dpkg-deb", "-e", deb, control], check_rc=True)
    conffiles = open(os.path.join(control, "conffiles")).read().split()
    etc = sorted("/" + f for f in files if f.startswith("etc/") and not f.endswith("/"))
    check(sorted(conffiles) == etc, f"conffiles {conffiles} are not the package's /etc files {etc}")
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(control, script)
        check(os.access(path, os.X_OK), f"the package has no executable {script}")
        r = run(["sh", "-n", path])
        check(r.returncode == 0, f"{script} is not valid sh: {r.stderr}")
    depends = depends_names(deb)
    for lib in ("libpq5", "libnftables1", "libsodium23", "libprotobuf32", "libc6"):
        check(lib in depends, f"Depends lacks {lib} (dpkg-shlibdeps): {depends}")
    # The units start the binaries where the package puts them.
    extracted = os.path.join(w.tmp, "files")
    run(["dpkg-deb", "-x", deb, extracted], check_rc=True)
    for unit in UNITS:
        text = open(os.path.join(extracted, "usr/lib/systemd/system", unit + ".service")).read()
        for exe in re.findall(r"^Exec\w*=[-+!@]*(\S+)", text, re.M):
            if exe.startswith("/"):
                check(os.access(extracted + exe, os.X_OK), f"{unit}.service runs {exe}, which the package does not install")
            else:  # found on systemd's search path: a package in Depends must bring it
                check(BARE_COMMANDS.get(exe) in depends, f"{unit}.service runs {exe}, which no package in Depends provides")


def units_state(w):
    return {u: w.inside("systemctl", "is-active", u + ".service").stdout.strip() for u in UNITS}


def wait_for(what, predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while not predicate():
        check(time.monotonic() < deadline, f"timed out waiting: {what}")
        time.sleep(0.5)


def fwctl(w, *args, user="sms-bridge"):
    r = w.inside("sms-bridge-fwctl", *args, user=user)
    check(r.returncode == 0, f"sms-bridge-fwctl {' '.join(args)} as {user}: exit {r.returncode}: {(r.stderr or r.stdout).strip()}")
    return json.loads(r.stdout)


def main_pids(w):
    return {u: w.inside("systemctl", "show", "-P", "MainPID", u + ".service").stdout.strip() for u in UNITS}


def reload_unit(w, unit):
    """`systemctl reload` when the shipped unit has ExecReload=; SIGHUP to its main process
    through systemd otherwise (what ExecReload= would send)."""
    unit_file = w.must("systemctl", "cat", unit + ".service")
    if re.search(r"^ExecReload=", unit_file, re.M):
        w.must("systemctl", "reload", unit)
    else:
        w.must("systemctl", "kill", "--kill-whom=main", "-s", "HUP", unit)


def check_reload(w, door):
    """SIGHUP under the units: both stay up (same process), the helper keeps its door and keeps its
    running config when the new one is bad; each says so in the journal."""
    journal = lambda unit: w.inside("journalctl", "-u", unit, "--no-pager", "-o", "cat").stdout
    pids = main_pids(w)
    before = journal("sms-bridge-api").count("reloaded /var/lib/sms-bridge/sms_settings.json and reopened the log file")
    reload_unit(w, "sms-bridge-api")
    wait_for("the api's reload line", lambda: journal("sms-bridge-api").count(
        "reloaded /var/lib/sms-bridge/sms_settings.json and reopened the log file") == before + 1, 20)
    reload_unit(w, "sms-bridge-firewall-helper")
    wait_for("the helper's reload line", lambda: re.search(
        r"reloaded /etc/sms-bridge/firewall-helper.json \(4 services, digest \w+\): 1 door\(s\) kept, 0 closed",
        journal("sms-bridge-firewall-helper")), 20)
    # A config that does not parse: the running one is kept, with a sentence.
    config = w.must("cat", "/etc/sms-bridge/firewall-helper.json")
    w.must("sh", "-c", "printf '{\"services\": ' > /etc/sms-bridge/firewall-helper.json")
    try:
        reload_unit(w, "sms-bridge-firewall-helper")
        wait_for("the helper's refusal of the bad config",
                 lambda: "the running config is kept." in journal("sms-bridge-firewall-helper"), 20)
    finally:
        w.must("sh", "-c", "cat > /etc/sms-bridge/firewall-helper.json", input=config)
    check(main_pids(w) == pids and set(units_state(w).values()) == {"active"},
          f"a reload restarted or stopped a daemon: {pids} -> {main_pids(w)}, {units_state(w)}")
    grants = fwctl(w, "list")["list"]["grants"]
    check([g["grant_id"] for g in grants] == [door["grant_id"]], f"the door after the reloads: {grants}")
    check(w.inside("curl", "-fsS", "-m", "5", "http://127.0.0.1:8080/health").returncode == 0, "/health after the reloads")


def scenario_boot(w):
    deb = w.build_package()
    w.make_root(deb)
    w.boot()
    for u in UNITS:
        check(w.inside("systemctl", "is-enabled", u + ".service").stdout.strip() == "enabled", f"{u} was not enabled by postinst")

    # Installed before any database exists: the helper runs, the api says what it lacks.
    wait_for("the helper active", lambda: units_state(w)["sms-bridge-firewall-helper"] == "active")
    journal = lambda unit, *a: w.inside("journalctl", "-u", unit, "--no-pager", "-o", "cat", *a).stdout
    wait_for("the api's sentence about its database",
             lambda: 'cannot migrate the database' in journal("sms-bridge-api") and 'role "sms-bridge" does not exist' in journal("sms-bridge-api"))
    check(units_state(w)["sms-bridge-api"] != "active", "the api is active without a database")
    secrets = w.must("stat", "-c", "%a %U:%G", "/etc/sms-bridge/secrets").split()
    check(secrets == ["640", "root:sms-bridge"], f"/etc/sms-bridge/secrets is {secrets}")
    lines = dict(l.split("=", 1) for l in w.must("cat", "/etc/sms-bridge/secrets").splitlines() if "=" in l and not l.startswith("#"))
    check(set(lines) == {"SMS_BRIDGE_HMAC_SECRET", "SMS_BRIDGE_SMS_API_KEY"} and all(len(v) >= 40 for v in lines.values()),
          f"the generated secrets: {sorted(lines)}")

    # README.Debian's steps.
    wait_for("PostgreSQL active", lambda: w.inside("systemctl", "is-active", "postgresql@15-main").stdout.strip() == "active")
    w.must("createuser", "sms-bridge", user="postgres")
    w.must("createdb", "-O", "sms-bridge", "sms_bridge", user="postgres")
    w.must("systemctl", "restart", "sms-bridge-api")
    wait_for("the api active", lambda: units_state(w)["sms-bridge-api"] == "active")
    wait_for("/health answering", lambda: w.inside("curl", "-fsS", "-m", "5", "http://127.0.0.1:8080/health").returncode == 0, 30)
    health = json.loads(w.must("curl", "-fsS", "-m", "5", "http://127.0.0.1:8080/health"))
    check(health.get("database") == "up" and health.get("firewall_helper") == "up", f"/health: {health}")
    metrics_health = w.inside("curl", "-fsS", "-m", "5", "http://127.0.0.1:9464/health")
    check(metrics_health.returncode == 0, f"the metrics listener's /health: {metrics_health.stderr}")
    w.must("sh", "-c", "printf 'package-test-password-0123\\n' | sms-bridge-api admin add ops", user="sms-bridge")
    code = w.must("curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "-u", "ops:package-test-password-0123",
                  "http://127.0.0.1:8080/admin/monitoring/port-status")
    check(code == "200", f"GET /admin/monitoring/port-status (the api asks the helper) as the new admin: {code}")

    # The helper under its unit, through its socket, as the api's user.
    status = fwctl(w, "status")["status"]
    check(status["cap_net_admin"] is True and status["table"] == "sms_bridge", f"status: {status}")
    check(fwctl(w, "list")["list"]["grants"] == [], "a door is open before any was asked for")
    opened = fwctl(w, "open", "metrics", "--port", "9100", "--source", "192.0.2.10/32", "--duration", "900",
                   "--actor", "package-test")["open"]["grant"]
    check(opened["service"] == "metrics" and opened["external_port"] == 9100, f"open: {opened}")
    grants = fwctl(w, "list")["list"]["grants"]
    check([g["external_port"] for g in grants] == [9100], f"list after open: {grants}")
    ruleset = w.must("nft", "list", "table", "inet", "sms_bridge")
    check("192.0.2.10" in ruleset and "9100" in ruleset, f"the door is not in the kernel:\n{ruleset}")
    # The port probe (sock_diag) under the unit's RestrictAddressFamilies: a port a process of
    # the container listens on is in use, a granted one is taken, an idle one is free.
    listener = subprocess.Popen(["nsenter", "-t", str(w.leader), "--net", sys.executable, "-c",
                                 "import socket,time; s=socket.socket(); s.bind(('0.0.0.0', 20001)); s.listen(); time.sleep(60)"])
    try:
        time.sleep(0.5)
        ports = {p["port"]: p for p in fwctl(w, "check-ports", "9100", "20001", "20002")["check_ports"]["ports"]}
        check(not ports[9100]["free"] and "granted" in ports[9100]["reason"], f"check-ports 9100: {ports[9100]}")
        check(not ports[20001]["free"] and "bound" in ports[20001]["reason"], f"check-ports 20001 (listened on): {ports[20001]}")
        check(ports[20002]["free"], f"check-ports 20002: {ports[20002]}")
        scan = fwctl(w, "scan-ports", "--start", "20000", "--end", "20010", "--count", "3")["scan_ports"]["ports"]
        check([p["port"] for p in scan] == [20000, 20002, 20003], f"scan-ports skips the port in use: {scan}")
    finally:
        listener.kill()
        listener.wait()
    check_reload(w, opened)
    closed = fwctl(w, "close", "metrics", "--actor", "package-test")["close"]["grant"]
    check(closed["grant_id"] == opened["grant_id"], f"close: {closed}")
    check(fwctl(w, "list")["list"]["grants"] == [], "the door is still listed after close")
    check("192.0.2.10" not in w.must("nft", "list", "table", "inet", "sms_bridge"), "the door is still in the kernel after close")
    # Only the group sms-bridge may use the socket (mode 0660).
    refused = w.inside("sms-bridge-fwctl", "list", user="nobody")
    check(refused.returncode == 2 and "Permission denied" in refused.stderr, f"fwctl as nobody: {refused.returncode} {refused.stderr}")
    notices = journal("sms-bridge-firewall-helper", "-p", "notice")
    check(re.search(r"opened door metrics port 9100 .*192\.0\.2\.10/32.* by package-test", notices)
          and re.search(r"closed door metrics port 9100 for 192\.0\.2\.10/32", notices),
          f"journalctl -u sms-bridge-firewall-helper -p notice lacks the door lines:\n{notices}")
    # Door events are native journal entries: selected by their message id and fields, with no grep.
    by_id = w.must("journalctl", "--no-pager", "-o", "cat", "MESSAGE_ID=e82c5e24b1a94b13a9edcc8dcee26587")
    check(re.search(r"opened door metrics port 9100 .*192\.0\.2\.10/32", by_id), f"journalctl MESSAGE_ID=<opened>: {by_id!r}")
    entries = [json.loads(line) for line in w.must("journalctl", "--no-pager", "-o", "json", "-u", "sms-bridge-firewall-helper",
                                                    "SMS_BRIDGE_SERVICE=metrics").splitlines() if line.strip()]
    kinds = [(e.get("SMS_BRIDGE_EVENT"), e.get("SMS_BRIDGE_PORT"), e.get("SMS_BRIDGE_SOURCE"), e.get("SMS_BRIDGE_ACTOR"), e.get("PRIORITY"))
             for e in entries]
    check(("opened", "9100", "192.0.2.10/32", "package-test", "5") in kinds
          and ("closed", "9100", "192.0.2.10/32", "package-test", "5") in kinds,
          f"journalctl SMS_BRIDGE_SERVICE=metrics: {kinds}")

    # The units' exposure as this systemd computes it for the installed units.
    for unit, limit in EXPOSURE_LIMIT.items():
        text = w.must("systemd-analyze", "security", "--no-pager", unit + ".service")
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", text)
        check(m and float(m.group(1)) <= limit, f"systemd-analyze security {unit}: {m and m.group(1)} (at most {limit})")
        print(f"systemd-analyze security {unit}: {m.group(1)}")

    # An upgrade (the same package again) restarts both and keeps the secrets and settings.
    before, secrets_text = main_pids(w), w.must("cat", "/etc/sms-bridge/secrets")
    # (Into /root of the root directory: nspawn mounts a tmpfs of its own on the container's /tmp.)
    shutil.copy(deb, os.path.join(w.root, "root"))
    w.must("dpkg", "-i", "/root/" + os.path.basename(deb), timeout=180)
    wait_for("both active after the upgrade", lambda: set(units_state(w).values()) == {"active"})
    # Serving again: the helper on its socket, the api on /health (a Type=simple unit is
    # "active" as soon as it is started, before either listens).
    wait_for("the helper answering after the upgrade", lambda: w.inside("sms-bridge-fwctl", "status", user="sms-bridge").returncode == 0, 30)
    wait_for("/health after the upgrade", lambda: w.inside("curl", "-fsS", "-m", "5", "http://127.0.0.1:8080/health").returncode == 0, 30)
    after = main_pids(w)
    check(all(after[u] != before[u] for u in UNITS), f"dpkg -i again did not restart both: {before} -> {after}")
    check(w.must("cat", "/etc/sms-bridge/secrets") == secrets_text, "the upgrade replaced the generated secrets")

    # systemctl stop: both stop cleanly (no failure, exit status 0).
    w.must("systemctl", "stop", "sms-bridge-api", "sms-bridge-firewall-helper", timeout=90)
    check(set(units_state(w).values()) == {"inactive"}, f"after systemctl stop: {units_state(w)}")
    for u in UNITS:
        shown = w.must("systemctl", "show", "-p", "Result", "-p", "ExecMainStatus", u + ".service").split()
        check(sorted(shown) == ["ExecMainStatus=0", "Result=success"], f"{u} did not stop cleanly: {shown}")
    check(re.search(r"stopped with 0 live door", journal("sms-bridge-firewall-helper", "-n", "5")),
          "the helper's journal has no line saying it stopped")

    # Purge: the table (nftables is installed here), the secrets and the state go; the users stay.
    w.must("systemctl", "start", "sms-bridge-firewall-helper")
    check("sms_bridge" in w.must("nft", "list", "tables"), "the helper's table is missing before the purge")
    w.must("dpkg", "--purge", "sms-bridge", timeout=180)
    check(units_state(w)["sms-bridge-firewall-helper"] == "inactive", "the helper still runs after the purge")
    check("sms_bridge" not in w.must("nft", "list", "tables"), "the purge left table inet sms_bridge")
    for path in ("/etc/sms-bridge/secrets", "/var/lib/sms-bridge", "/var/lib/sms-bridge-firewall"):
        check(w.inside("test", "-e", path).returncode != 0, f"the purge left {path}")
    check(w.inside("getent", "passwd", "sms-bridge").returncode == 0, "the purge removed the user sms-bridge")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    def missing(args):
        return absent_tools("lintian", "dpkg-deb", "dpkg-shlibdeps", "cmake", "ninja", "mmdebstrap", "systemd-nspawn",
                            "nsenter", "unshare")
    return integration_main(__doc__, SCENARIOS, lambda args: World(os.path.abspath(args.build_dir)), missing)


if __name__ == "__main__":
    sys.exit(main())
