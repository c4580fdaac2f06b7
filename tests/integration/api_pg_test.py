#!/usr/bin/env python3
"""Integration tests of sms-bridge-api against a real, throwaway PostgreSQL cluster.

The cluster is initdb'd in a temporary directory, listens only on a Unix socket there, runs as
the postgres user, and is stopped and deleted at the end (also on failure). The firewall helper,
when a scenario needs it, runs in a network namespace of its own.

Usage: api_pg_test.py --build-dir DIR --scenario NAME
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import argparse
import atexit
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP = 77


class TestFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


class Postgres:
    """A throwaway cluster: initdb in a temp dir, Unix socket only, as the postgres user."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sms-bridge-pg-")
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.url = f"postgresql:///sms_bridge?host={self.dir}&user=postgres"
        self.running = False

    def as_postgres(self, *cmd, check_rc=True):
        r = subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True, timeout=120, cwd="/")
        if check_rc and r.returncode != 0:
            raise TestFailure(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
        return r

    def init(self):
        self.as_postgres(pg_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self.as_postgres(pg_bin("createdb"), "-h", self.dir, "-U", "postgres", "sms_bridge")

    def start(self):
        self.as_postgres(pg_bin("pg_ctl"), "-D", self.data, "-w", "-l", os.path.join(self.dir, "log"),
                         "-o", f"-k {self.dir} -c listen_addresses='' -c fsync=off", "start")
        self.running = True

    def stop(self):
        if self.running:
            self.as_postgres(pg_bin("pg_ctl"), "-D", self.data, "-w", "-m", "fast", "stop", check_rc=False)
            self.running = False

    def psql(self, sql, check_rc=True):
        r = subprocess.run(["psql", "-h", self.dir, "-U", "postgres", "-d", "sms_bridge", "-X", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True, timeout=60)
        if check_rc and r.returncode != 0:
            raise TestFailure(f"psql failed: {r.stderr.strip()}")
        return r

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class World:
    def __init__(self, build_dir):
        self.build_dir = build_dir
        self.api_bin = os.path.join(build_dir, "api-daemon", "sms-bridge-api")
        self.pg = Postgres()
        self.processes = []
        self.namespace = None
        self.tmp = tempfile.mkdtemp(prefix="sms-bridge-api-it-")
        self.api_log = os.path.join(self.tmp, "api.log")
        self.port = None

    def teardown(self):
        for p in self.processes:
            if p.poll() is None:
                p.kill()  # by pid: only processes this test started
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        self.processes = []
        if self.namespace:
            subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)
            self.namespace = None
        self.pg.remove()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def api(self, *args, env=None):
        e = dict(os.environ, SMS_BRIDGE_DATABASE_URL=self.pg.url, **(env or {}))
        return subprocess.run([self.api_bin, *args], capture_output=True, text=True, timeout=60, env=e)

    def start_api(self, firewall_socket):
        e = dict(os.environ, SMS_BRIDGE_DATABASE_URL=self.pg.url, SMS_BRIDGE_LISTEN="127.0.0.1:0",
                 SMS_BRIDGE_METRICS_LISTEN="127.0.0.1:0", SMS_BRIDGE_FIREWALL_SOCKET=firewall_socket)
        log = open(self.api_log, "w")
        p = subprocess.Popen([self.api_bin], stdout=log, stderr=log, env=e)
        self.processes.append(p)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            check(p.poll() is None, f"sms-bridge-api exited: {self.log()}")
            m = re.search(r"listening on 127\.0\.0\.1:(\d+) \(public\) and 127\.0\.0\.1:(\d+)", self.log())
            if m:
                self.port, self.metrics_port = int(m.group(1)), int(m.group(2))
                return p
            time.sleep(0.05)
        raise TestFailure(f"sms-bridge-api did not start: {self.log()}")

    def start_helper(self):
        """The real firewall helper, in a network namespace of its own."""
        self.namespace = f"sbA{os.getpid() % 100000}"
        subprocess.run(["ip", "netns", "add", self.namespace], check=True)
        sock = os.path.join(self.tmp, "fw.sock")
        config = os.path.join(self.tmp, "helper.json")
        with open(config, "w") as f:
            json.dump({"socket": sock, "state_file": os.path.join(self.tmp, "port_mappings.json"),
                       "services": {"metrics": {"target": "127.0.0.1:9464"}}}, f)
        p = subprocess.Popen(["ip", "netns", "exec", self.namespace,
                              os.path.join(self.build_dir, "firewall-helper", "sms-bridge-firewall-helper"),
                              "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(p)
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(os.path.exists(sock), "the firewall helper did not start")
        return sock

    def log(self):
        try:
            with open(self.api_log) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def http(self, method, path, body=None, headers=None, port=None):
        req = urllib.request.Request(f"http://127.0.0.1:{port or self.port}{path}", data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, dict(r.headers), json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read() or b"null")
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            raise TestFailure(f"{method} {path}: no HTTP answer ({e})")

    def raw(self, data):
        """Sends raw bytes, returns the status code of the answer (0 if none)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=15)
        try:
            s.sendall(data)
            answer = b""
            while b"\r\n" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except (ConnectionResetError, BrokenPipeError):
            return 0
        finally:
            s.close()
        m = re.match(rb"HTTP/1\.1 (\d+)", answer)
        return int(m.group(1)) if m else 0


# ---------------------------------------------------------------------------------------------

def scenario_migrations(w):
    r = w.api("migrate")
    check(r.returncode == 0 and "1 migration(s) applied" in r.stdout, f"first migrate: {r.returncode} {r.stdout} {r.stderr}")
    r = w.api("migrate")
    check(r.returncode == 0 and "0 migration(s) applied" in r.stdout, f"second migrate: {r.returncode} {r.stdout} {r.stderr}")
    check(w.pg.psql("SELECT version FROM schema_migrations").stdout.split() == ["001_monitoring"], "schema_migrations is wrong")
    objects = w.pg.psql("SELECT string_agg(c.relname || ':' || c.relkind::text, ' ' ORDER BY c.relname) FROM pg_class c "
                        "WHERE c.relname LIKE 'monitoring_%' AND c.relkind IN ('r', 'v')").stdout.split()
    check(objects == ["monitoring_audit_summary:v", "monitoring_port_access:r", "monitoring_port_access_history:v",
                      "monitoring_ports_currently_open:v"], f"unexpected objects: {objects}")
    functions = w.pg.psql("SELECT string_agg(proname, ' ' ORDER BY proname) FROM pg_proc "
                          "WHERE proname IN ('record_port_opened', 'record_port_closed', 'find_expired_ports')").stdout.split()
    check(functions == ["find_expired_ports", "record_port_closed", "record_port_opened"], f"functions: {functions}")
    # The seed's call forms work; who closed and why are stored; a repeated helper event is recorded once.
    w.pg.psql("SELECT record_port_opened('metrics', 9100, 8080, 'alice', 60)")
    w.pg.psql("SELECT record_port_opened('postgres', 5433, 5432, 'bob', 15, NULL, NULL, 'g2', 7, now() - interval '20 minutes')")
    w.pg.psql("SELECT record_port_opened('postgres', 5433, 5432, 'bob', 15, NULL, NULL, 'g2', 7, now() - interval '20 minutes')")
    w.pg.psql("SELECT record_port_closed('metrics', 9100, 'carol', false, 'maintenance over')")
    rows = w.pg.psql("SELECT service || '|' || status || '|' || COALESCE(closed_by, '-') || '|' || COALESCE(close_reason, '-') "
                     "FROM monitoring_port_access_history ORDER BY service").stdout.split("\n")
    check(rows[:2] == ["metrics|closed|carol|maintenance over", "postgres|opened|-|-"], f"history: {rows}")
    check(w.pg.psql("SELECT count(*) FROM monitoring_port_access").stdout.strip() == "3", "a repeated event was stored twice")
    check(w.pg.psql("SELECT service FROM find_expired_ports()").stdout.strip() == "postgres", "find_expired_ports is wrong")
    check(w.pg.psql("SELECT count(*) FROM monitoring_ports_currently_open").stdout.strip() == "0", "currently_open is wrong")
    for sql in ("UPDATE monitoring_port_access SET opened_by = 'mallory'", "DELETE FROM monitoring_port_access",
                "TRUNCATE monitoring_port_access"):
        r = w.pg.psql(sql, check_rc=False)
        check(r.returncode != 0 and "append-only" in r.stderr, f"'{sql}' was allowed on the append-only trail")
    # The migration file is valid PostgreSQL for psql on its own, too.
    w.pg.psql("CREATE DATABASE by_psql")
    r = subprocess.run(["psql", "-h", w.pg.dir, "-U", "postgres", "-d", "by_psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                        os.path.join(os.path.dirname(__file__), "..", "..", "sql", "001_monitoring.sql")],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"psql could not run sql/001_monitoring.sql: {r.stderr}")


def scenario_health(w):
    sock = w.start_helper()
    w.start_api(sock)
    status, _, body = w.http("GET", "/health")
    check(status == 200 and body["database"] == "up" and body["firewall_helper"] == "up" and body["status"] == "ok",
          f"/health: {status} {body}")
    status, _, body = w.http("GET", "/health", port=w.metrics_port)
    check(status == 200 and body["database"] == "up", f"/health on the metrics listener: {status} {body}")
    w.pg.stop()
    status, _, body = w.http("GET", "/health")
    check(status == 503 and body["database"] == "down" and body["status"] == "degraded", f"/health with no database: {status} {body}")
    w.pg.start()
    status, _, body = w.http("GET", "/health")
    check(status == 200 and body["database"] == "up", f"/health did not recover with the database: {status} {body}")


def scenario_bad_requests(w):
    w.start_api(os.path.join(w.tmp, "no-helper.sock"))
    status, _, body = w.http("GET", "/health")
    check(status == 200 and body["firewall_helper"] == "down", f"/health without a helper: {status} {body}")
    status, _, body = w.http("GET", "/nowhere")
    check(status == 404 and body == {"detail": "Not found."}, f"unknown path: {status} {body}")
    status, headers, body = w.http("POST", "/health", body=b"{}")
    check(status == 405 and headers.get("Allow") == "GET" and "detail" in body, f"wrong method: {status} {headers} {body}")
    status, _, body = w.http("POST", "/health", body=b"x" * (64 * 1024 + 1))
    check(status == 413 and "detail" in body, f"body over the limit: {status} {body}")
    many = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(10000)) + b"\r\n"
    check(w.raw(many) == 431, "10,000 headers were not refused with 431")
    check(w.raw(b"NOT HTTP AT ALL\r\n\r\n") == 400, "garbage was not refused with 400")
    status, _, body = w.http("GET", "/health")
    check(status == 200, "the daemon stopped answering after bad requests")
    r = w.api("--listen", "nowhere")
    check(r.returncode == 2 and "SMS_BRIDGE_LISTEN" not in r.stdout and "--listen" in r.stderr, f"bad flag: {r.returncode} {r.stderr}")
    r = w.api("--help")
    check(r.returncode == 0 and "SMS_BRIDGE_DATABASE_URL" in r.stdout, "--help does not list the settings")
    r = subprocess.run([w.api_bin, "migrate"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=f"postgresql:///nope?host={w.tmp}"))
    check(r.returncode == 1 and "cannot migrate the database" in r.stderr, f"no database: {r.returncode} {r.stderr}")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    args = parser.parse_args()
    in_ci = os.environ.get("CI", "").lower() == "true"
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    if not pg_bin("initdb"):
        missing.append("PostgreSQL server (initdb)")
    if shutil.which("psql") is None:
        missing.append("psql")
    if missing:
        print(f"SKIP: needs {', '.join(missing)}", file=sys.stderr)
        return 1 if in_ci else SKIP
    world = World(os.path.abspath(args.build_dir))
    atexit.register(world.teardown)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    try:
        world.pg.init()
        SCENARIOS[args.scenario](world)
    except TestFailure as e:
        print(f"FAIL {args.scenario}: {e}\n--- api log ---\n{world.log()}", file=sys.stderr)
        return 1
    finally:
        world.teardown()
    print(f"PASS {args.scenario}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
