#!/usr/bin/env python3
"""Integration tests of sms-bridge-api against a real, throwaway PostgreSQL cluster.

The cluster is initdb'd in a temporary directory, listens only on a Unix socket there, runs as
the postgres user, and is stopped and deleted at the end (also on failure). The firewall helper,
when a scenario needs it, runs in a network namespace of its own.

Usage: api_pg_test.py --build-dir DIR --scenario NAME
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import base64
import hashlib
import hmac
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from kit import sites
from kit.api import add_admin, api_bin, curl, curl_with_headers, start_api
from kit.backend import Backend
from kit.core import TestFailure, absent_tools, check, integration_main
from kit.helper import start_helper, write_config
from kit.postgres import Postgres, missing_server


class World(sites.World):
    """A fresh cluster and, per scenario, sms-bridge-api on this machine's loopback (start_api) or
    in a Site (below); start_helper puts the real helper in a namespace of its own."""

    def __init__(self, build_dir):
        super().__init__(build_dir, "sms-bridge-api-it-")
        self.api_bin = api_bin(build_dir)
        self.pg = Postgres()
        self.port = None

    def api(self, *args, env=None):
        e = dict(os.environ, SMS_BRIDGE_DATABASE_URL=self.pg.url, **(env or {}))
        return subprocess.run([self.api_bin, *args], capture_output=True, text=True, timeout=60, env=e)

    def start_api(self, firewall_socket, extra_env=None):
        e = dict(os.environ, **(extra_env or {}), SMS_BRIDGE_DATABASE_URL=self.pg.url, SMS_BRIDGE_LISTEN="127.0.0.1:0",
                 SMS_BRIDGE_METRICS_LISTEN="127.0.0.1:0", SMS_BRIDGE_FIREWALL_SOCKET=firewall_socket,
                 SMS_BRIDGE_LOG_DIR=os.path.join(self.tmp, "logs"),
                 SMS_BRIDGE_HISTORY_FILE=os.path.join(self.tmp, "metrics-history.bin"))
        listening = lambda: re.search(r"listening on 127\.0\.0\.1:(\d+) \(public\) and 127\.0\.0\.1:(\d+)", self.log())
        p = start_api(self, [self.api_bin], e, ready=listening)
        m = listening()
        self.port, self.metrics_port = int(m.group(1)), int(m.group(2))
        return p

    def start_helper(self):
        """The real firewall helper, in a network namespace of its own."""
        namespace = self.add_namespace(f"sbA{sites.pid_tag()}")
        sock = os.path.join(self.tmp, "fw.sock")
        config = write_config(os.path.join(self.tmp, "helper.json"), {
            "socket": sock, "state_file": os.path.join(self.tmp, "port_mappings.json"),
            "services": {"metrics": {"target": "127.0.0.1:9464"}}})
        start_helper(self, ["ip", "netns", "exec", namespace], config, sock)
        return sock

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

def scenario_pool(w):
    """The pool and the transaction guard against this PostgreSQL (tests/integration/pg_pool_probe.cpp)."""
    probe = os.path.join(w.build_dir, "tests", "pg_pool_probe")
    r = subprocess.run([probe, w.pg.url], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and r.stdout.count("\n") == 3, f"pg_pool_probe: {r.returncode} {r.stdout} {r.stderr}")


def scenario_migrations(w):
    # Every file of sql/, in order (the binary embeds them at build time).
    files = sorted(f[:-4] for f in os.listdir(os.path.join(REPO, "sql")) if re.fullmatch(r"\d{3}_\w+\.sql", f))
    check(files[:8] == ["001_monitoring", "002_admins", "003_firewall_incidents", "004_admin_sessions", "005_sms",
                        "006_session_password_version", "007_outbox_sealed_pin", "008_retention"]
          and "010_notifications" in files, f"sql/ holds {files}")
    r = w.api("migrate")
    check(r.returncode == 0 and f"{len(files)} migration(s) applied" in r.stdout, f"first migrate: {r.returncode} {r.stdout} {r.stderr}")
    r = w.api("migrate")
    check(r.returncode == 0 and "0 migration(s) applied" in r.stdout, f"second migrate: {r.returncode} {r.stdout} {r.stderr}")
    check(w.pg.psql("SELECT version FROM schema_migrations ORDER BY version").stdout.split() == files, "schema_migrations is wrong")
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
    # An extension is its own row: the door's deadline becomes its; a close is still found, and the
    # open's reason is kept. A repeated extension event is recorded once.
    w.pg.psql("SELECT record_port_opened('metrics', 9100, 8080, 'dave', 10, NULL, NULL, 'g3', 8, now(), now() + interval '10 minutes', "
              "'10.0.0.1/32', 'disk alert')")
    for _ in range(2):
        w.pg.psql("SELECT record_port_extended('g3', 'erin', now() + interval '2 hours', NULL, 'still digging', 9)")
    check(w.pg.psql("SELECT count(*) FROM monitoring_port_access WHERE action = 'extended'").stdout.strip() == "1",
          "a repeated extension was stored twice")
    open_now = w.pg.psql("SELECT service || '|' || reason || '|' || (minutes_remaining > 100)::text "
                         "FROM monitoring_ports_currently_open").stdout.strip()
    check(open_now == "metrics|disk alert|true", f"currently_open after an extension: {open_now}")
    extended = w.pg.psql("SELECT extended_by || '|' || reason || '|' || (previous_expires_at < now() + interval '11 minutes')::text "
                         "FROM monitoring_port_access WHERE action = 'extended'").stdout.strip()
    check(extended == "erin|still digging|true", f"the extension row: {extended}")
    check(w.pg.psql("SELECT record_port_extended('nosuch', 'erin', now())").stdout.strip() == "",
          "an extension of an unknown door was recorded")
    w.pg.psql("SELECT record_port_closed('metrics', 9100, 'erin', false, 'fixed', 'g3', 10)")
    row = w.pg.psql("SELECT status || '|' || reason || '|' || extension_count || '|' || (expires_at > now() + interval '100 minutes')::text "
                    "FROM monitoring_port_access_history WHERE grant_id = 'g3'").stdout.strip()
    check(row == "closed|disk alert|1|true", f"history of an extended door: {row}")
    check(w.pg.psql("SELECT count(*) FROM monitoring_ports_currently_open").stdout.strip() == "0", "the closed door is still open")
    r = w.pg.psql("INSERT INTO monitoring_port_access (service, external_port, action, opened_by, opened_at) "
                  "VALUES ('metrics', 9100, 'extended', 'x', now())", check_rc=False)
    check(r.returncode != 0 and "monitoring_port_access_extended_rows" in r.stderr, f"an extended row without who and when: {r.stderr}")
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
    # An upgrade: rows written under 001 (an open door, a closed one) stay valid under 009, and the
    # closed one stays closed.
    psql_by = lambda sql: subprocess.run(["psql", "-h", w.pg.dir, "-U", "postgres", "-d", "by_psql", "-X", "-q", "-A", "-t",
                                          "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True, timeout=60)
    for sql in ("SELECT record_port_opened('metrics', 9100, 8080, 'old', 60, NULL, NULL, 'o1', 1)",
                "SELECT record_port_opened('postgres', 5433, 5432, 'old', 60, NULL, NULL, 'o2', 2)",
                "SELECT record_port_closed('postgres', 5433, 'old', false, 'before 009', 'o2', 3)"):
        check(psql_by(sql).returncode == 0, f"{sql} under 001")
    r = subprocess.run(["psql", "-h", w.pg.dir, "-U", "postgres", "-d", "by_psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                        os.path.join(os.path.dirname(__file__), "..", "..", "sql", "009_door_extend_reason.sql")],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"sql/009_door_extend_reason.sql over 001's rows: {r.stderr}")
    r = psql_by("SELECT string_agg(service || '=' || status, ' ' ORDER BY service) FROM monitoring_port_access_history")
    check(r.stdout.strip() == "metrics=opened postgres=closed", f"history after the upgrade: {r.stdout} {r.stderr}")
    r = psql_by("SELECT record_port_extended('o1', 'new', now() + interval '3 hours', NULL, 'after 009', 4)")
    check(r.returncode == 0 and r.stdout.strip() != "", f"an extension of a door opened before 009: {r.stdout} {r.stderr}")


def scenario_health(w):
    sock = w.start_helper()
    # The first admin comes from the environment, and only while no admin exists.
    w.start_api(sock, {"SMS_BRIDGE_ADMIN_USERNAME": "root-admin", "SMS_BRIDGE_ADMIN_PASSWORD": "first password here"})
    status, _, _ = w.http("GET", "/admin/monitoring/port-status",
                          headers={"Authorization": "Basic " + base64.b64encode(b"root-admin:first password here").decode()})
    check(status == 200, f"the bootstrapped admin cannot log in: {status}")
    w.processes[-1].terminate()
    w.processes[-1].wait(timeout=10)
    w.start_api(sock, {"SMS_BRIDGE_ADMIN_USERNAME": "root-admin", "SMS_BRIDGE_ADMIN_PASSWORD": "another password"})
    hashes = w.pg.psql("SELECT count(*) FROM admin_users").stdout.strip()
    check(hashes == "1", f"the bootstrap ran again: {hashes} admins")
    status, _, _ = w.http("GET", "/admin/monitoring/port-status",
                          headers={"Authorization": "Basic " + base64.b64encode(b"root-admin:another password").decode()})
    check(status == 401, "a restart with another SMS_BRIDGE_ADMIN_PASSWORD changed the existing admin")
    status, _, body = w.http("GET", "/health")
    check(status == 200 and body["checks"] == {"database": "up", "firewall_helper": "up", "backend_sync": "ok"}
          and body["status"] == "healthy" and body["timestamp"].endswith("Z"),
          f"/health: {status} {body}")
    status, _, body = w.http("GET", "/health", port=w.metrics_port)
    check(status == 200 and body["database"] == "up", f"/health on the metrics listener: {status} {body}")
    w.pg.stop()
    time.sleep(1.1)  # /health checks at most once a second
    status, _, body = w.http("GET", "/health")
    check(status == 503 and body["checks"]["database"] == "down" and body["status"] == "unhealthy", f"/health with no database: {status} {body}")
    w.pg.start()
    time.sleep(1.1)
    status, _, body = w.http("GET", "/health")
    check(status == 200 and body["database"] == "up", f"/health did not recover with the database: {status} {body}")


def scenario_bad_requests(w):
    w.start_api(os.path.join(w.tmp, "no-helper.sock"))
    status, _, body = w.http("GET", "/health")
    check(status == 200 and body["firewall_helper"] == "down" and body["status"] == "degraded", f"/health without a helper: {status} {body}")
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


SERVER_IP, LAPTOP_IP = "10.232.1.1", "10.232.1.2"

# Runs in the laptop namespace: one HTTP/1.1 connection kept alive; each "go" on stdin sends a
# request on it and prints the status code, or reset/eof/timeout.
KEEPALIVE_AGENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
def answer():
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return "eof"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            return "eof"
        body += chunk
    return head.split(b" ")[1].decode()
for line in sys.stdin:
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: laptop\r\n\r\n")
        print(answer(), flush=True)
    except (ConnectionResetError, BrokenPipeError):
        print("reset", flush=True)
    except OSError:
        print("timeout", flush=True)
"""
PASSWORD = "correct horse battery"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Site(sites.Site):
    """The server namespace (helper + api-daemon) and a laptop namespace joined by a veth pair."""

    def __init__(self, w, helper_min_seconds=1, api_min_seconds=900, bind_mounted_settings=None, extra_env=None,
                 helper_prefix=(), api_prefix=()):
        super().__init__(w, "A", SERVER_IP, LAPTOP_IP, server_if="s-lap")
        self.socket = os.path.join(w.tmp, "fw.sock")
        config = write_config(os.path.join(w.tmp, "helper.json"), {
            "socket": self.socket, "state_file": os.path.join(w.tmp, "port_mappings.json"),
            "services": {"metrics": {"target": "127.0.0.1:9464"}, "postgres": {"target": "127.0.0.1:5432"}},
            "duration_seconds": {"min": helper_min_seconds, "max": 14400}})
        self.helper = start_helper(w, ["ip", "netns", "exec", self.server, *helper_prefix], config, self.socket)
        add_admin(w.build_dir, w.pg.url, "alice", PASSWORD)
        env = dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url, SMS_BRIDGE_LISTEN=f"{SERVER_IP}:8080",
                   SMS_BRIDGE_METRICS_LISTEN="127.0.0.1:9464", SMS_BRIDGE_FIREWALL_SOCKET=self.socket,
                   SMS_BRIDGE_SERVER_IP=SERVER_IP, SMS_BRIDGE_SETTINGS_FILE=os.path.join(w.tmp, "sms_settings.json"),
                   SMS_BRIDGE_PORT_MIN_DURATION_SECONDS=str(api_min_seconds),
                   SMS_BRIDGE_LOG_DIR=os.path.join(w.tmp, "logs"),
                   SMS_BRIDGE_HISTORY_FILE=os.path.join(w.tmp, "metrics-history.bin"), **(extra_env or {}))
        command = ["ip", "netns", "exec", self.server, *api_prefix, w.api_bin]
        self.settings = env["SMS_BRIDGE_SETTINGS_FILE"]
        if bind_mounted_settings is not None:
            # As in a container: sms_settings.json is a single-file bind mount (rename over it fails
            # with EBUSY), in a private mount namespace so the machine's mounts are untouched.
            with open(self.settings, "w") as f:
                f.write("{}")
            with open(bind_mounted_settings, "w") as f:
                f.write(BIND_MOUNT_SEED)
            command = ["ip", "netns", "exec", self.server, "unshare", "--mount", "--propagation", "private", "sh", "-c",
                       f"mount --bind {bind_mounted_settings} {self.settings} && exec {w.api_bin}"]
        self.api_command, self.api_env = command, env  # for a test that restarts the api
        self.api = start_api(w, command, env)

    def curl(self, method, path, body=None, user=f"alice:{PASSWORD}", host=SERVER_IP, port=8080):
        """curl from the laptop, the way the seed's examples do. Returns (status, parsed JSON or text)."""
        return curl(self.laptop, method, f"http://{host}:{port}{path}", body, user)

    def request(self, method, path, body=None, headers=(), user=None):
        """curl from the laptop with extra headers; returns (status, lower-cased headers, parsed body)."""
        return curl_with_headers(self.laptop, method, f"http://{SERVER_IP}:8080{path}", body, headers, user)

    def door_works(self):
        status, body = self.curl("GET", "/health", user=None, port=9100)
        return status in (200, 503) and isinstance(body, dict) and "database" in body


def scenario_monitoring_auth_refusals(w):
    site = Site(w)
    # Every admin route answers 401 without valid credentials.
    admin_routes = [("GET", "/admin/monitoring/services"), ("POST", "/admin/monitoring/open-port"),
                    ("POST", "/admin/monitoring/close-port"), ("GET", "/admin/monitoring/port-status"),
                    ("GET", "/admin/monitoring/history"), ("POST", "/admin/monitoring/open-all"),
                    ("POST", "/admin/monitoring/close-all"), ("GET", "/admin/monitoring/port-config"),
                    ("POST", "/admin/monitoring/port-config"), ("POST", "/admin/monitoring/port-config/reset"),
                    ("GET", "/admin/monitoring/port-config/available-ports"),
                    ("GET", "/admin/monitoring/export-prometheus-config"), ("GET", "/admin/monitoring/logs/list"),
                    ("GET", "/admin/monitoring/logs/download/sms-bridge-api.log"), ("GET", "/admin/monitoring/no-such-route")]
    for method, path in admin_routes:
        status, body = site.curl(method, path, body={"service": "metrics"} if method == "POST" else None, user=None)
        if path.endswith("no-such-route"):
            check(status == 404, f"{path}: {status}")  # unknown paths are 404 for everyone
            continue
        check(status == 401 and body == {"detail": "Valid admin credentials are required."}, f"{method} {path}: {status} {body}")
    # Wrong credentials too (two failures: below the throttling threshold of five).
    for user in ("alice:wrong password", "mallory:" + PASSWORD):
        status, body = site.curl("GET", "/admin/monitoring/port-status", user=user)
        check(status == 401, f"port-status as {user}: {status} {body}")
    check(site.curl("GET", "/admin/monitoring/port-status")[0] == 200, "alice's login failed")  # one success for the audit
    outcomes = w.pg.psql("SELECT outcome FROM admin_auth_events WHERE username = 'alice' ORDER BY id").stdout.split()
    check("failure" in outcomes and "success" in outcomes, f"logins were not audited: {outcomes}")


def scenario_monitoring_bad_input(w):
    site = Site(w)
    # Bad input: a 4xx JSON body, never a 5xx (and no door opened).
    for payload, expected in ((b"{not json", 400), ({"service": "metrics", "duration_minutes": 14}, 422),
                              ({"service": "metrics", "duration_minutes": 241}, 422), ({"service": "metrics", "duration_minutes": "60"}, 422),
                              ({"service": "metrics", "source": "laptop.example.com"}, 422), ({"service": "nosuch"}, 404),
                              ({"service": "pgbouncer"}, 400), ({"service": 5}, 422), ([1, 2], 400)):
        status, body = site.curl("POST", "/admin/monitoring/open-port", payload.decode() if isinstance(payload, bytes) else payload)
        check(status == expected and isinstance(body, dict) and "detail" in body, f"{payload}: {status} {body}, expected {expected}")
    status, body = site.curl("POST", "/admin/monitoring/open-port", '{"service": "metrics", "pad": "' + "x" * 70000 + '"}')
    check(status == 413 and "detail" in body, f"a body over the limit: {status}")
    check(not site.door_works(), "a refused request opened the metrics door")


# 64 keep-alive connections from the laptop, each sending its request before any answer is read,
# so that the api has all 64 in flight at once; five rounds. Prints the sorted status codes.
CONCURRENT_CLIENT = r"""
import base64, socket, sys
host, port, auth = sys.argv[1], int(sys.argv[2]), base64.b64encode(sys.argv[3].encode()).decode()
request = (f"GET /admin/monitoring/port-status HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n\r\n").encode()
conns = [socket.create_connection((host, port), timeout=30) for _ in range(64)]
codes = []
for _ in range(5):
    for c in conns:
        c.sendall(request)
    for c in conns:
        data = b""
        while b"\r\n\r\n" not in data:
            data += c.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
        while len(rest) < length:
            rest += c.recv(65536)
        codes.append(int(head.split()[1]))
print(" ".join(str(c) for c in sorted(codes)))
"""


def scenario_monitoring_concurrency(w):
    """Many admin requests at once, as dashboards and scripts send them: each asks the helper, and
    every one is answered (the api queues them on a few kept helper connections, below the
    helper's max_clients, instead of failing the ones over it)."""
    site = Site(w)
    status, _ = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60})
    check(status == 200, f"open-port: {status}")
    r = subprocess.run(["ip", "netns", "exec", site.laptop, sys.executable, "-c", CONCURRENT_CLIENT, SERVER_IP, "8080",
                        f"alice:{PASSWORD}"], capture_output=True, text=True, timeout=120)
    codes = r.stdout.split()
    check(r.returncode == 0 and len(codes) == 320 and set(codes) == {"200"},
          f"64 concurrent port-status requests x 5: {r.returncode} {sorted(set(codes))} {r.stderr[-300:]}")


def scenario_notify(w):
    """systemd's Type=notify through NOTIFY_SOCKET (an abstract socket, as systemd uses) with
    WatchdogSec=2s: READY=1 once both listeners serve, STATUS= from the health check that changes
    when a door opens, WATCHDOG=1 every second from the serving loop (none while frozen), STOPPING=1."""
    from kit.helper import helper_bin
    from kit.notify import NotifyListener, check_no_ping_while_frozen, check_no_ping_while_loop_stopped, check_watchdog_cadence
    sock = w.start_helper()
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    w.port, w.metrics_port = ports
    listener = NotifyListener(f"@sms-bridge-it-notify-{os.getpid()}")
    try:
        env = dict(os.environ, **listener.env(watchdog_usec=2_000_000), SMS_BRIDGE_DATABASE_URL=w.pg.url,
                   SMS_BRIDGE_LISTEN=f"127.0.0.1:{w.port}", SMS_BRIDGE_METRICS_LISTEN=f"127.0.0.1:{w.metrics_port}",
                   SMS_BRIDGE_FIREWALL_SOCKET=sock, SMS_BRIDGE_LOG_DIR=os.path.join(w.tmp, "logs"),
                   SMS_BRIDGE_HISTORY_FILE=os.path.join(w.tmp, "metrics-history.bin"))
        p = start_api(w, [w.api_bin], env, ready=lambda: listener.received("READY=1"))
        ready_at = listener.received("READY=1")[0][0]
        # Right after READY=1 both listeners answer.
        status, _, body = w.http("GET", "/health")
        check(status == 200 and body["checks"]["database"] == "up", f"/health right after READY=1: {status} {body}")
        status, _, _ = w.http("GET", "/health", port=w.metrics_port)
        check(status == 200, f"the metrics listener right after READY=1: {status}")
        early = [m for t, m in listener.received() if t < ready_at and not m.startswith("STATUS=")]
        check(early == [], f"before READY=1 the api said {early}")
        _, first = listener.wait_for("a STATUS= line", 5, prefix="STATUS=")
        check(first == "STATUS=database up, firewall helper up, 0 doors open", f"the first status: {first}")
        gaps = check_watchdog_cadence(listener, 2.0, 5.0, ready_at)
        # A door opened at the helper shows in the status within the check (3 s) and the gap (2 s).
        opened = time.monotonic()
        r = subprocess.run([helper_bin(w.build_dir, "sms-bridge-fwctl"), "--socket", sock, "open", "metrics", "--port", "9100",
                            "--source", "10.231.9.9", "--duration", "900", "--actor", "it"], capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, f"fwctl open: {r.stdout} {r.stderr}")
        seen, changed = listener.wait_for("a STATUS= line after an open", 8, prefix="STATUS=", since=opened)
        check(changed == "STATUS=database up, firewall helper up, 1 door open", f"the status after an open: {changed}")
        # SIGHUP reloads: RELOADING=1 (with the monotonic clock), then READY=1 again.
        reloaded = time.monotonic()
        p.send_signal(signal.SIGHUP)
        _, reloading = listener.wait_for("RELOADING=1 after SIGHUP", 5, prefix="RELOADING=1", since=reloaded)
        check(reloading.startswith("RELOADING=1\nMONOTONIC_USEC="), f"the reload message: {reloading!r}")
        listener.wait_for("READY=1 after the reload", 5, text="READY=1", since=reloaded)
        check(p.poll() is None, "the daemon exited on SIGHUP")
        frozen = check_no_ping_while_frozen(listener, p.pid, 2.0)
        threads = check_no_ping_while_loop_stopped(listener, p.pid, 2.0)
        stopping = time.monotonic()
        p.terminate()
        rc = p.wait(timeout=15)
        check(rc == 0, f"sms-bridge-api exited {rc} on SIGTERM")
        said = [m for _, m in listener.received(since=stopping)]
        check("STOPPING=1" in said, f"after SIGTERM the api said {said}")
        print(f"READY=1 then serving; WATCHDOG=1 gaps {min(gaps):.2f}-{max(gaps):.2f} s; STATUS after an open in "
              f"{seen - opened:.2f} s; no ping during {frozen:.1f} s stopped, nor while only the loop's thread was "
              f"(the {threads} other thread(s) running); STOPPING=1 on SIGTERM")
    finally:
        listener.close()


def scenario_monitoring_doors(w):
    """A door opened and closed through the API, seen from the laptop namespace in the kernel's ruleset."""
    site = Site(w)
    status, body = site.curl("GET", "/admin/monitoring/services")
    check(status == 200 and body["services"]["metrics"]["status"] == "closed", f"services: {status} {body}")
    check(not site.door_works(), "the metrics door answered before it was opened")
    # The seed's curl example: open for an hour.
    status, body = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60})
    check(status == 200 and body["status"] == "opened" and body["port"] == 9100 and body["source"] == f"{LAPTOP_IP}/32",
          f"open-port: {status} {body}")
    check(body["connection_info"]["prometheus_target"] == f"{SERVER_IP}:9100", f"connection_info: {body}")
    check(site.door_works(), "the laptop cannot scrape through the opened door")
    # Prometheus on the laptop scrapes /metrics through the door; the public listener has none.
    r = subprocess.run(["ip", "netns", "exec", site.laptop, "curl", "-s", "-f", f"http://{SERVER_IP}:9100/metrics"],
                       capture_output=True, text=True, timeout=30)
    for line in ('sms_bridge_monitoring_doors_open{service="metrics"} 1', "sms_bridge_firewall_helper_up 1",
                 "sms_bridge_database_up 1", 'sms_bridge_monitoring_door_events_total{reason="opened",service="metrics"} 1',
                 'sms_bridge_http_requests_total{code="200",method="POST",route="/admin/monitoring/open-port"} 1',
                 "process_resident_memory_bytes", "sms_bridge_audit_backlog_events 0"):
        check(line in r.stdout, f"/metrics lacks '{line}':\n{r.stdout[:3000]}")
    check(site.curl("GET", "/metrics", user=None)[0] == 404, "the public listener serves /metrics")
    status, body = site.curl("GET", "/admin/monitoring/port-status")
    remaining = body["metrics"]["time_remaining_seconds"]
    check(status == 200 and 3500 <= remaining <= 3600, f"port-status: {status} {body}")
    status, body = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60})
    check(status == 200 and body["status"] == "already_open", f"second open: {status} {body}")
    # The postgres door's connection_info is a DSN with the password masked.
    status, body = site.curl("POST", "/admin/monitoring/open-port", {"service": "postgres", "duration_minutes": 15})
    check(status == 200 and body["connection_info"]["connection_string"] == f"postgresql://postgres:****@{SERVER_IP}:5433/sms_bridge",
          f"postgres connection_info: {status} {body}")
    check(site.curl("POST", "/admin/monitoring/close-port", {"service": "postgres"})[0] == 200, "closing postgres failed")
    # An established connection through the door (HTTP keep-alive from the laptop) ...
    agent = subprocess.Popen(["ip", "netns", "exec", site.laptop, sys.executable, "-c", KEEPALIVE_AGENT, SERVER_IP, "9100"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    w.processes.append(agent)
    def agent_ask():
        agent.stdin.write("go\n")
        agent.stdin.flush()
        return agent.stdout.readline().strip()
    check(agent_ask() == "200", "the kept-alive connection through the door does not work")
    # ... is cut when the door is closed through the API. Close, as in the seed.
    status, body = site.curl("POST", "/admin/monitoring/close-port", {"service": "metrics"})
    check(status == 200 and body == {"status": "closed", "service": "metrics", "port": 9100}, f"close-port: {status} {body}")
    outcome = agent_ask()
    check(outcome in ("reset", "eof"), f"the established connection survived the close: {outcome}")
    check(not site.door_works(), "the door still answers after close")
    status, body = site.curl("POST", "/admin/monitoring/close-port", {"service": "metrics"})
    check(status == 404 and "detail" in body, f"closing a closed door: {status} {body}")


def kernel_expires(site):
    """Seconds left on the kernel element of the laptop's door (nft's own JSON 'expires'), or None."""
    r = subprocess.run(["ip", "netns", "exec", site.server, "nft", "-j", "list", "set", "inet", "sms_bridge", "grant_hosts4"],
                       capture_output=True, text=True, timeout=30)
    for item in json.loads(r.stdout or "{}").get("nftables", []):
        for e in item.get("set", {}).get("elem", []):
            if isinstance(e, dict) and "elem" in e:
                return e["elem"].get("expires")
    return None


def scenario_extend_port(w):
    """extend-port through HTTP changes the deadline the kernel enforces: shortened to 3 s the door is
    closed within a second after it; extended, it outlives its old deadline and closes at the new one
    even with the helper killed; both are in the audit trail."""
    site = Site(w, helper_min_seconds=1, api_min_seconds=1)
    status, body = site.curl("POST", "/admin/monitoring/extend-port", {"service": "metrics", "duration_seconds": 30})
    check(status == 404 and "not open" in body["detail"], f"extend of a closed door: {status} {body}")
    status, opened = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60})
    check(status == 200 and site.door_works(), f"open-port: {status} {opened}")
    check(3590 <= (kernel_expires(site) or 0) <= 3600, f"the kernel's timeout after the open: {kernel_expires(site)}")
    # Shorten to 3 s: the kernel's element is renewed with the new timeout.
    status, body = site.curl("POST", "/admin/monitoring/extend-port",
                             {"service": "metrics", "duration_seconds": 3, "reason": "done sooner"})
    asked = time.time()
    check(status == 200 and body["status"] == "extended" and body["previous_expires_at"] == opened["expires_at"] and
          body["reason"] == "done sooner", f"shortening: {status} {body}")
    check((kernel_expires(site) or 99) <= 3, f"the kernel's timeout after shortening to 3 s: {kernel_expires(site)}")
    status, listed = site.curl("GET", "/admin/monitoring/port-status")
    check(status == 200 and listed["metrics"]["kernel_expires_in_seconds"] <= 3, f"port-status after shortening: {listed}")
    while time.time() < asked + 2.5:
        check(site.door_works(), "the shortened door closed before its new deadline")
        time.sleep(0.25)
    time.sleep(max(0.0, asked + 4.0 - time.time()))  # the new deadline (3 s) and a second more
    check(not site.door_works(), "the shortened door still answers a second after its new deadline")
    # Extend: open for 4 s, set 20 s; it outlives the old deadline.
    status, opened = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_seconds": 4})
    check(status == 200, f"second open: {status} {opened}")
    status, body = site.curl("POST", "/admin/monitoring/extend-port", {"service": "metrics", "duration_seconds": 20})
    extended_at = time.time()
    check(status == 200 and body["reason"] is None and 18 <= (kernel_expires(site) or 0) <= 20, f"extending: {status} {body}")
    # The kernel holds the new timeout: it outlives the old deadline, and closes at the new one, with
    # the helper killed (SIGKILL: nothing runs to close it).
    time.sleep(2)  # the extension's event reaches the trail (drained right after the answer)
    site.helper.kill()
    site.helper.wait(timeout=10)
    time.sleep(max(0.0, extended_at + 6 - time.time()))
    check(site.door_works(), "the extended door closed at its old deadline")
    while time.time() < extended_at + 17:
        check(site.door_works(), "the extended door closed before its new deadline")
        time.sleep(1)
    time.sleep(max(0.0, extended_at + 21 - time.time()))
    check(not site.door_works(), "the extended door still answers a second after its new deadline, with the helper dead")
    # The trail: each extension with who, why, the new and the old deadline.
    status, audit = site.curl("GET", "/admin/monitoring/audit?action=extended")
    extended = audit["events"] if status == 200 else []
    check([(e["by"], e["reason"]) for e in extended] == [("alice", None), ("alice", "done sooner")], f"audit: {status} {audit}")
    check(extended[0]["expires_at"] is not None and extended[0]["previous_expires_at"] is not None, f"audit deadlines: {extended}")
    status, history = site.curl("GET", "/admin/monitoring/history?service=metrics")
    check(status == 200 and [len(h["extensions"]) for h in history["history"]] == [1, 1] and
          history["history"][1]["status"] == "expired", f"history: {status} {history}")
    rows = w.pg.psql("SELECT action FROM monitoring_port_access ORDER BY id").stdout.split()
    check(rows == ["opened", "extended", "expired", "opened", "extended"], f"audit rows: {rows}")  # the helper is dead: no close yet


def scenario_reasons(w):
    """SMS_BRIDGE_REQUIRE_REASON=true: a door change without a reason is a 422 with a sentence; the
    reasons given are in history and audit."""
    site = Site(w, extra_env={"SMS_BRIDGE_REQUIRE_REASON": "true"})
    for path, body in (("/admin/monitoring/open-port", {"service": "metrics"}),
                       ("/admin/monitoring/open-port", {"service": "metrics", "reason": "  "}),
                       ("/admin/monitoring/open-all", {"duration_minutes": 15})):
        status, answer = site.curl("POST", path, body)
        check(status == 422 and "requires a reason" in answer["detail"], f"{path} {body}: {status} {answer}")
    status, answer = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "reason": "x" * 201})
    check(status == 422 and "at most 200" in answer["detail"], f"a 201-character reason: {status} {answer}")
    check(not site.door_works(), "a refused open opened the door")
    status, answer = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "reason": "disk alert on sda"})
    check(status == 200 and answer["reason"] == "disk alert on sda" and site.door_works(), f"open with a reason: {status} {answer}")
    status, answer = site.curl("POST", "/admin/monitoring/extend-port", {"service": "metrics", "duration_minutes": 30})
    check(status == 422 and "requires a reason" in answer["detail"], f"extend without a reason: {status} {answer}")
    status, answer = site.curl("POST", "/admin/monitoring/extend-port",
                               {"service": "metrics", "duration_minutes": 30, "reason": "still investigating"})
    check(status == 200, f"extend with a reason: {status} {answer}")
    status, answer = site.curl("POST", "/admin/monitoring/close-port", {"service": "metrics", "reason": "fixed"})
    check(status == 200, f"close: {status} {answer}")
    status, history = site.curl("GET", "/admin/monitoring/history?service=metrics")
    entry = history["history"][0] if status == 200 and history["history"] else {}
    check(entry.get("reason") == "disk alert on sda" and entry.get("close_reason") == "fixed" and
          [x["reason"] for x in entry.get("extensions", [])] == ["still investigating"], f"history: {status} {history}")
    status, audit = site.curl("GET", "/admin/monitoring/audit?service=metrics")
    check(status == 200 and [(e["action"], e["reason"]) for e in audit["events"]] ==
          [("closed", "fixed"), ("extended", "still investigating"), ("opened", "disk alert on sda")], f"audit: {status} {audit}")
    reasons = w.pg.psql("SELECT action || '=' || COALESCE(reason, close_reason) FROM monitoring_port_access ORDER BY id").stdout.split("\n")
    check(reasons[:3] == ["opened=disk alert on sda", "extended=still investigating", "closed=fixed"], f"rows: {reasons}")


def scenario_kernel_deadline(w):
    """port-status and services report the kernel's own remaining timeout: it falls over time and
    matches nft's 'expires' within a second; a tampered timeout is repaired and the repair shown."""
    site = Site(w)
    status, _ = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 15})
    check(status == 200, f"open: {status}")
    status, first = site.curl("GET", "/admin/monitoring/port-status")
    kernel = kernel_expires(site)
    k1 = first["metrics"]["kernel_expires_in_seconds"] if status == 200 else None
    check(isinstance(k1, int) and kernel is not None and abs(k1 - kernel) <= 1, f"port-status {first}, nft {kernel}")
    check(first["metrics"]["kernel_drift"] is False and first["metrics"]["drift_repaired_at"] is None, f"drift: {first}")
    time.sleep(3)
    status, second = site.curl("GET", "/admin/monitoring/services")
    kernel = kernel_expires(site)
    k2 = second["services"]["metrics"]["kernel_expires_in_seconds"] if status == 200 else None
    check(isinstance(k2, int) and 2 <= k1 - k2 <= 4, f"the kernel's time did not fall by about 3 s: {k1} then {k2}")
    check(abs(k2 - kernel) <= 1 and second["active_ports"]["metrics"]["kernel_expires_in_seconds"] in (k2, k2 - 1),
          f"services {second}, nft {kernel}")
    # The kernel's timeout tampered with (100 s instead of about 15 min): the helper repairs it (it
    # watches its table, and its listing checks too) and says so; once drained, the door shows when.
    batch = (f"delete element inet sms_bridge grant_hosts4 {{ {LAPTOP_IP} . 9100 }}\n"
             f"add element inet sms_bridge grant_hosts4 {{ {LAPTOP_IP} . 9100 timeout 100s }}\n")
    r = subprocess.run(["ip", "netns", "exec", site.server, "nft", "-f", "-"], input=batch, capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"tampering with the kernel's timeout: {r.stderr}")
    status, third = site.curl("GET", "/admin/monitoring/port-status")
    door = third.get("metrics", {}) if status == 200 else {}
    check(door.get("kernel_expires_in_seconds", 0) > 800 and door.get("kernel_drift") is False and (kernel_expires(site) or 0) > 800,
          f"the drifted timeout was not repaired by the listing: {third}, nft {kernel_expires(site)}")
    site.curl("GET", "/admin/monitoring/history")  # drains the helper's events (the timer would, within 5 s)
    status, fourth = site.curl("GET", "/admin/monitoring/port-status")
    check(status == 200 and isinstance(fourth["metrics"]["drift_repaired_at"], str), f"no drift_repaired_at: {fourth}")
    count = w.pg.psql("SELECT count(*) FROM firewall_incidents WHERE kind = 'DRIFT_REPAIRED'").stdout.strip()
    check(count == "1", f"the drift repair is not one incident in the trail: {count}")


def scenario_history_restart(w):
    """The metrics history survives kill -9: what was served before the kill (up to the last sample
    written) is served the same after the restart, and a torn end left in the file is dropped, never
    read as samples. Sampled every second here."""
    site = Site(w, extra_env={"SMS_BRIDGE_HISTORY_INTERVAL_SECONDS": "1"})
    history_file = site.api_env["SMS_BRIDGE_HISTORY_FILE"]

    def history(query=""):
        r = site.ns(site.server, "curl", "-s", "-D", "-", f"http://127.0.0.1:9464/metrics/history{query}")
        head, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in head.splitlines()[1:])}
        return headers, body

    for _ in range(5):
        site.curl("GET", "/admin/monitoring/port-status")
        site.curl("GET", "/admin/monitoring/port-status", user="alice:wrong-password")
        time.sleep(1)
    headers, _ = history()
    check("x-history-newest" in headers and "x-history-oldest" in headers, f"the history's headers: {headers}")
    # The samples up to a tick already written: what a restart must give back.
    until = float(headers["x-history-newest"]) + 0.001
    _, before = history(f"?until={until:.3f}")
    check(before.endswith("# EOF\n") and 'sms_bridge_http_requests_total{' in before and "pg_up 1 " in before
          and "process_resident_memory_bytes " in before, f"the history before the kill:\n{before[:2000]}")
    lines_before = [l for l in before.splitlines() if not l.startswith("#")]
    check(len({l.rsplit(" ", 1)[1] for l in lines_before}) >= 4, f"fewer than 4 ticks sampled in 6 s: {len(lines_before)} lines")
    site.api.send_signal(signal.SIGKILL)
    site.api.wait(timeout=10)
    with open(history_file, "ab") as f:
        f.write(b"\x40\x00\x00\x00\xde\xad\xbe\xefa torn record")  # a write the kill cut short
    torn_size = os.path.getsize(history_file)
    listening = lambda: open(w.api_log, errors="replace").read().count("listening on") == 2
    site.api = start_api(w, site.api_command, site.api_env, ready=listening, log_mode="a")
    log = open(w.api_log, errors="replace").read()
    check("loaded the metrics history from" in log and "a torn end of 21 bytes was dropped" in log,
          f"the restart's log does not tell the history loaded and the torn end dropped:\n{log[-2000:]}")
    check(os.path.getsize(history_file) < torn_size + 10000, "the history file kept growing past its torn end")
    _, after = history(f"?until={until:.3f}")
    check(after == before, f"the history up to the kill changed across the restart:\nbefore:\n{before[:1500]}\nafter:\n{after[:1500]}")
    # And it goes on: new ticks after the restart, after the old ones.
    time.sleep(2.5)
    headers, _ = history()
    check(float(headers["x-history-newest"]) > until, f"no tick after the restart: {headers}")
    _, newer = history(f"?since={until:.3f}")
    check('sms_bridge_http_requests_total{' in newer, f"the ticks after the restart:\n{newer[:1500]}")


def scenario_unit_sandbox(w):
    """Both daemons under their units' seccomp directives (RestrictAddressFamilies=,
    SystemCallFilter= with its exclusions, MemoryDenyWriteExecute=, as tests/unit-sandbox applies
    them): login, a door opened, scraped through and closed, port-status, /metrics and the logs."""
    from kit import units
    api_unit, helper_unit = "sms-bridge-api.service", "sms-bridge-firewall-helper.service"
    api_prefix = units.sandbox_prefix(w.build_dir, api_unit, w.tmp)
    helper_prefix = units.sandbox_prefix(w.build_dir, helper_unit, w.tmp)
    refusals = units.sandbox_refusals(api_prefix, api_unit, w.tmp)
    check(refusals and set(refusals) == {"refused"}, f"the api unit's filters are not in force (setpriority, chown, W+X): {refusals}")
    # In the sanitizer pass: LeakSanitizer stops the world with ptrace at exit, which the unit's
    # SystemCallFilter refuses (as systemd would), so it would fail the clean stop below; memory
    # errors are still caught here, and every other scenario of that pass checks for leaks.
    sanitized = {"ASAN_OPTIONS": os.environ["ASAN_OPTIONS"] + ":detect_leaks=0"} if "ASAN_OPTIONS" in os.environ else {}
    site = Site(w, helper_prefix=helper_prefix, api_prefix=api_prefix, extra_env=sanitized)
    status, body = site.curl("GET", "/admin/monitoring/services")
    check(status == 200 and body["services"]["metrics"]["status"] == "closed", f"services: {status} {body}")
    status, body = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60})
    check(status == 200 and body["status"] == "opened", f"open-port under the filters: {status} {body}")
    check(site.door_works(), "the laptop cannot scrape through a door the sandboxed daemons opened")
    r = subprocess.run(["ip", "netns", "exec", site.laptop, "curl", "-s", "-f", f"http://{SERVER_IP}:9100/metrics"],
                       capture_output=True, text=True, timeout=30)
    check('sms_bridge_monitoring_doors_open{service="metrics"} 1' in r.stdout, f"/metrics under the filters:\n{r.stdout[:2000]}")
    status, body = site.curl("GET", "/admin/monitoring/port-status")
    check(status == 200 and 3500 <= body["metrics"]["time_remaining_seconds"] <= 3600, f"port-status under the filters: {status} {body}")
    status, body = site.curl("GET", "/admin/monitoring/logs/download/sms-bridge-api.log")
    check(status == 200 and "listening on" in str(body), f"the api's log under the filters: {status} {str(body)[:500]}")
    status, body = site.curl("POST", "/admin/monitoring/close-port", {"service": "metrics"})
    check(status == 200 and body["status"] == "closed", f"close-port under the filters: {status} {body}")
    check(not site.door_works(), "the door still answers after close")
    for p, name in ((site.api, "sms-bridge-api"), (site.helper, "the firewall helper")):
        check(p.poll() is None, f"{name} died under its unit's filters: {w.log()}")
    site.api.terminate()
    check(site.api.wait(timeout=15) == 0, "sms-bridge-api did not stop cleanly under its unit's filters")
    print(f"under the units' seccomp filters ({len(units.allowed_syscalls(api_unit))} and "
          f"{len(units.allowed_syscalls(helper_unit))} system calls allowed): login, open, scrape, close, logs, stop")


def scenario_metrics_exposition(w):
    """/metrics as Prometheus reads it: promtool finds nothing to lint, the standard process_*
    metrics are true of the daemon, and the helper's own figures match what it says itself."""
    site = Site(w)
    check(site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60})[0] == 200, "open-port failed")
    time.sleep(1.1)  # /metrics reads the helper's status at most once a second
    r = subprocess.run(["ip", "netns", "exec", site.server, "curl", "-s", "-f", "http://127.0.0.1:9464/metrics"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"/metrics: {r.returncode} {r.stderr}")
    text = r.stdout
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    check(lint.returncode == 0 and lint.stdout.strip() == "" and lint.stderr.strip() == "",
          f"promtool check metrics: {lint.returncode} {lint.stdout} {lint.stderr}")
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    pid = site.api.pid
    with open(f"/proc/{pid}/limits") as f:
        soft = next(int(l.split()[3]) for l in f if l.startswith("Max open files"))
    check(values["process_max_fds"] == soft, f"process_max_fds {values['process_max_fds']} is not the soft limit {soft}")
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    check(abs(values["process_open_fds"] - fds) <= 4, f"process_open_fds {values['process_open_fds']}, /proc says {fds}")
    check(abs(values["process_start_time_seconds"] - time.time()) < 120, "process_start_time_seconds is not the start time")
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS"))
    check(0.5 * rss < values["process_resident_memory_bytes"] < 2 * rss, f"process_resident_memory_bytes vs VmRSS {rss}")
    revision = subprocess.run([w.api_bin, "--version"], capture_output=True, text=True, timeout=30).stdout.split()[-1].rstrip(")")
    check(values.get(f'sms_bridge_build_info{{revision="{revision}",version="2.3.0"}}') == 1,
          f"no sms_bridge_build_info with the revision {revision} --version gives")
    fwctl = os.path.join(w.build_dir, "firewall-helper", "sms-bridge-fwctl")
    status = json.loads(subprocess.run([fwctl, "--socket", site.socket, "status"], capture_output=True, text=True,
                                       timeout=30).stdout)["status"]
    counters = status["counters"]
    check(values["sms_bridge_firewall_helper_opens_total"] == int(counters.get("opens", 0)) == 1,
          f"helper opens: /metrics {values.get('sms_bridge_firewall_helper_opens_total')}, helper {counters}")
    batches = values["sms_bridge_firewall_helper_nft_batch_seconds_count"]
    check(batches >= 2 and values['sms_bridge_firewall_helper_nft_batch_seconds_bucket{le="+Inf"}'] == batches
          and 0 < values["sms_bridge_firewall_helper_nft_batch_seconds_sum"] < batches,
          f"the nft batch histogram is not the helper's: {batches} batches")


def scenario_monitoring_audit_trail(w):
    """The audit trail of the door changes monitoring_doors makes, in the same order: a repeated open
    and a close of a closed door record nothing."""
    site = Site(w)
    for method, path, body, expected in (
            ("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60}, 200),
            ("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60}, 200),  # already open
            ("POST", "/admin/monitoring/open-port", {"service": "postgres", "duration_minutes": 15}, 200),
            ("POST", "/admin/monitoring/close-port", {"service": "postgres"}, 200),
            ("POST", "/admin/monitoring/close-port", {"service": "metrics"}, 200),
            ("POST", "/admin/monitoring/close-port", {"service": "metrics"}, 404)):  # already closed
        status, answer = site.curl(method, path, body)
        check(status == expected, f"{path} {body}: {status} {answer}, expected {expected}")
    # One open and one close, with who and why, newest first (the history drains the trail before reading).
    status, body = site.curl("GET", "/admin/monitoring/history?limit=10&service=metrics")
    check(status == 200 and len(body["history"]) == 1, f"history: {status} {body}")
    entry = body["history"][0]
    check(entry["status"] == "closed" and entry["opened_by"] == "alice" and entry["closed_by"] == "alice" and
          entry["close_reason"] == "closed through the admin API" and entry["source"] == f"{LAPTOP_IP}/32", f"history entry: {entry}")
    def rows():
        return [r.split(":") for r in
                w.pg.psql("SELECT action || ':' || helper_seq FROM monitoring_port_access ORDER BY id").stdout.split()]
    expected = ["opened", "opened", "closed", "closed"]  # metrics, postgres, postgres, metrics
    deadline = time.monotonic() + 10  # the trail drains after each door change, not within its answer
    while [a for a, _ in rows()] != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    check([a for a, _ in rows()] == expected, f"audit rows: {rows()}")
    # The helper began a fresh journal: numbered from the clock in microseconds, then one by one,
    # stored exactly (BIGINT).
    seqs = [int(n) for _, n in rows()]
    check(seqs == list(range(seqs[0], seqs[0] + 4)), f"the helper's event numbers are not consecutive: {seqs}")
    check(abs(seqs[0] / 1e6 - time.time()) < 600, f"a fresh journal's first number is not the clock in microseconds: {seqs[0]}")


def scenario_audit_while_db_down(w):
    site = Site(w, helper_min_seconds=1, api_min_seconds=1)
    status, _ = site.curl("GET", "/admin/monitoring/services")  # a verified login, cached
    check(status == 200, "the first login failed")
    w.pg.stop()
    time.sleep(1.1)  # /health checks at most once a second
    status, body = site.curl("GET", "/health")
    check(status == 503 and body["database"] == "down", f"/health with the database down: {status} {body}")
    status, body = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_seconds": 600})
    check(status == 200 and body["status"] == "opened", f"open with the database down: {status} {body}")
    status, body = site.curl("POST", "/admin/monitoring/close-port", {"service": "metrics", "reason": "db test"})
    check(status == 200, f"close with the database down: {status} {body}")
    status, body = site.curl("POST", "/admin/monitoring/open-port", {"service": "postgres", "duration_seconds": 2})
    check(status == 200, f"short open with the database down: {status} {body}")
    time.sleep(3)  # the 2 s door expires while the database is down
    w.pg.start()
    def recorded():
        r = w.pg.psql("SELECT string_agg(service || ':' || action || ':' || COALESCE(closed_by, opened_by), ' ' ORDER BY helper_seq) "
                      "FROM monitoring_port_access", check_rc=False)
        return r.stdout.strip() if r.returncode == 0 else ""
    expected = "metrics:opened:alice metrics:closed:alice postgres:opened:alice postgres:expired:system"
    deadline = time.monotonic() + 15
    while recorded() != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    check(recorded() == expected, f"the audit trail after the database came back: {recorded()!r}")
    time.sleep(6)  # another drain round must not record anything twice
    check(w.pg.psql("SELECT count(*) FROM monitoring_port_access").stdout.strip() == "4", "an event was recorded twice")
    reason = w.pg.psql("SELECT close_reason FROM monitoring_port_access WHERE action = 'closed'").stdout.strip()
    check(reason == "db test", f"the close reason was lost: {reason!r}")
    status, body = site.curl("GET", "/health")
    check(status == 200 and body["database"] == "up", f"/health after the database came back: {status} {body}")


BIND_MOUNT_SEED = json.dumps({
    "version": "2.3.0",
    "settings": {
        "rate_limits": {"onboarding_per_minute": 10},
        "monitoring_ports": {
            "metrics": {"port": 9100, "service": "sms_receiver", "description": "Prometheus metrics endpoint", "enabled": True},
            "postgres": {"port": 5433, "service": "postgres", "description": "PostgreSQL database access", "enabled": True},
        },
    },
}, indent=2)


def scenario_port_config(w):
    source = os.path.join(w.tmp, "settings-on-host.json")
    site = Site(w, bind_mounted_settings=source)
    status, body = site.curl("GET", "/admin/monitoring/port-config")
    check(status == 200 and body["current_config"]["metrics"]["port"] == 9100, f"port-config: {status} {body}")
    bad = [({"config": {"metrics": {"port": 9200}, "postgres": {"port": 9200}}}, "given to both"),
           ({"config": {"metrics": {"port": 1000}}}, "below 1024"),
           ({"config": {"metrics": {"port": 8080}}}, "forbidden"),
           ({"config": {"redis": {"port": 9300}}}, "no service named 'redis'"),
           ({"config": {"metrics": {"port": "9200"}}}, "port"),
           ({"config": []}, "config")]
    for payload, words in bad:
        status, body = site.curl("POST", "/admin/monitoring/port-config", payload)
        check(status == 422 and words in body["detail"], f"{payload}: {status} {body}")
    status, body = site.curl("POST", "/admin/monitoring/port-config",
                             {"config": {"metrics": {"port": 9200, "enabled": True, "description": "metrics"},
                                         "postgres": {"port": 5434, "enabled": False, "description": "db"}}})
    check(status == 200 and body["status"] == "success", f"saving port-config: {status} {body}")
    with open(source) as f:
        saved = json.load(f)  # written through the bind mount, in place
    check(saved["settings"]["monitoring_ports"]["metrics"]["port"] == 9200, f"the file was not updated: {saved}")
    check(saved["settings"]["rate_limits"] == {"onboarding_per_minute": 10}, "other settings were lost")
    # A door now opens on the new port; while it is open the configuration is frozen.
    status, body = site.curl("POST", "/admin/monitoring/open-all", {"duration_minutes": 30})
    check(status == 200 and body["results"]["metrics"]["status"] == "opened" and "postgres" not in body["results"],
          f"open-all: {status} {body}")
    check(site.curl("GET", "/health", user=None, port=9200)[0] == 200, "the door on the new port does not work")
    status, body = site.curl("POST", "/admin/monitoring/port-config", {"config": {"metrics": {"port": 9300}}})
    check(status == 409 and body["open_ports"] == [{"service": "metrics", "port": 9200}], f"config while open: {status} {body}")
    status, body = site.curl("POST", "/admin/monitoring/close-all")
    check(status == 200 and body["closed"] == ["metrics"] and body["results"]["metrics"]["status"] == "closed", f"close-all: {status} {body}")
    status, body = site.curl("GET", "/admin/monitoring/port-config/available-ports?start=9100&end=9200&count=5")
    check(status == 200 and len(body["available_ports"]) == 5 and body["available_ports"][0] == 9100, f"available-ports: {status} {body}")
    status, body = site.curl("GET", "/admin/monitoring/port-config/available-ports?start=1&end=99999&count=500")
    check(status == 422, f"unbounded available-ports: {status} {body}")
    status, body = site.curl("POST", "/admin/monitoring/port-config/reset")
    check(status == 200 and body["status"] == "reset" and body["config"]["metrics"]["port"] == 9100 and set(body["config"]) == {"metrics", "postgres"},
          f"reset: {status} {body}")
    # The exported Prometheus configuration passes promtool.
    r = subprocess.run(["ip", "netns", "exec", site.laptop, "curl", "-s", "-f", "-u", f"alice:{PASSWORD}",
                        f"http://{SERVER_IP}:8080/admin/monitoring/export-prometheus-config"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and f"{SERVER_IP}:9100" in r.stdout and "postgres_exporter" in r.stdout, f"export: {r.stdout}")
    exported = os.path.join(w.tmp, "prometheus-remote.yml")
    with open(exported, "w") as f:
        f.write(r.stdout)
    r = subprocess.run(["promtool", "check", "config", exported], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"promtool rejected the exported config: {r.stdout} {r.stderr}")


def scenario_browser_login(w):
    site = Site(w, extra_env={"SMS_BRIDGE_TRUSTED_PROXIES": f"{LAPTOP_IP}/32"})
    json_type = "Content-Type: application/json"
    status, headers, body = site.request("POST", "/admin/login", {"username": "alice", "password": "nope"}, [json_type])
    check(status == 401 and body == {"detail": "Wrong user name or password."} and "www-authenticate" not in headers,
          f"wrong password: {status} {headers} {body}")
    status, headers, body = site.request("POST", "/admin/login", {"username": "alice", "password": PASSWORD}, [json_type])
    cookie = headers.get("set-cookie", "")
    check(status == 200 and body["username"] == "alice" and len(body["csrf_token"]) == 64, f"login: {status} {body}")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/admin"):
        check(attribute in cookie, f"the session cookie lacks {attribute}: {cookie}")
    check("Secure" not in cookie, f"a plain-HTTP login got a Secure cookie: {cookie}")
    session = "Cookie: " + cookie.split(";")[0]
    csrf = body["csrf_token"]
    status, _, body = site.request("GET", "/admin/session", headers=[session])
    check(status == 200 and body == {"username": "alice", "client_address": LAPTOP_IP, "csrf_token": csrf},
          f"session: {status} {body}")
    # Basic callers get no CSRF token (they need none), only who they are.
    status, _, body = site.request("GET", "/admin/session", user=f"alice:{PASSWORD}")
    check(status == 200 and body == {"username": "alice", "client_address": LAPTOP_IP}, f"session over Basic: {status} {body}")
    open_body = {"service": "metrics", "duration_minutes": 30}
    for extra in ([], ["X-CSRF-Token: " + "0" * 64]):
        status, _, body = site.request("POST", "/admin/monitoring/open-port", open_body, [session, json_type, *extra])
        check(status == 403 and body == {"detail": "A valid CSRF token is required."}, f"CSRF refusal: {status} {body}")
    status, _, body = site.request("POST", "/admin/monitoring/open-port", open_body, [session, json_type, "X-CSRF-Token: " + csrf])
    check(status == 200 and body["status"] == "opened" and body["opened_by"] == "alice", f"open with CSRF: {status} {body}")
    # Ambient Basic credentials cannot drive a state change from a cross-site form.
    status, _, body = site.request("POST", "/admin/monitoring/close-port", "service=metrics",
                                   ["Content-Type: application/x-www-form-urlencoded"], user=f"alice:{PASSWORD}")
    check(status == 415, f"form-encoded Basic state change: {status} {body}")
    status, _, _ = site.request("POST", "/admin/monitoring/close-all", headers=[session, "X-CSRF-Token: " + csrf])
    check(status == 200, "close-all with a session failed")
    status, headers, _ = site.request("POST", "/admin/logout", headers=[session, "X-CSRF-Token: " + csrf])
    check(status == 200 and "Max-Age=0" in headers.get("set-cookie", ""), f"logout: {status} {headers}")
    status, _, _ = site.request("GET", "/admin/session", headers=[session])
    check(status == 401, "the session still works after logout")
    # Behind a trusted proxy that terminated HTTPS, the cookie is Secure and X-Forwarded-For is believed.
    status, headers, body = site.request("POST", "/admin/login", {"username": "alice", "password": PASSWORD},
                                         [json_type, "X-Forwarded-Proto: https", "X-Forwarded-For: 203.0.113.9"])
    check(status == 200 and "; Secure" in headers.get("set-cookie", ""), f"login via HTTPS proxy: {headers}")
    status, _, body = site.request("POST", "/admin/monitoring/open-port", open_body,
                                   [json_type, "X-Forwarded-For: 203.0.113.9"], user=f"alice:{PASSWORD}")
    check(status == 200 and body["source"] == "203.0.113.9/32", f"X-Forwarded-For from a trusted proxy: {status} {body}")
    # Throttling: five failures for a user from one address block that address for that user,
    # even with the right password...
    for _ in range(5):
        site.request("POST", "/admin/login", {"username": "alice", "password": "guess"}, [json_type, "X-Forwarded-For: 198.51.100.7"])
    status, headers, body = site.request("POST", "/admin/login", {"username": "alice", "password": PASSWORD},
                                         [json_type, "X-Forwarded-For: 198.51.100.7"])
    check(status == 429 and int(headers.get("retry-after", "0")) > 0, f"per-(user, source) throttling: {status} {headers} {body}")
    status, _, _ = site.request("GET", "/admin/monitoring/port-status", user="alice:another guess",
                                headers=["X-Forwarded-For: 198.51.100.7"])
    check(status == 429, f"Basic logins of a throttled (user, source): {status}")
    # ... but not the admin elsewhere (tests/integration/hostile_client_test.py --scenario lockout has the rest).
    status, headers, body = site.request("POST", "/admin/login", {"username": "alice", "password": PASSWORD},
                                         [json_type, "X-Forwarded-For: 198.51.100.8"])
    check(status == 200, f"the stranger's failures locked alice out at another address: {status} {body}")
    # Ten failures from one address slow every name tried from it.
    for i in range(10):
        site.request("POST", "/admin/login", {"username": f"user{i}", "password": "guess"}, [json_type, "X-Forwarded-For: 192.0.2.50"])
    status, _, _ = site.request("POST", "/admin/login", {"username": "bob", "password": "guess"}, [json_type, "X-Forwarded-For: 192.0.2.50"])
    check(status == 429, f"per-source throttling: {status}")
    outcomes = w.pg.psql("SELECT outcome || ':' || method || ':' || source FROM admin_auth_events ORDER BY id").stdout.split()
    check("throttled:session:198.51.100.7" in outcomes and "success:session:" + LAPTOP_IP in outcomes, f"audit: {outcomes}")


def scenario_reconcile(w):
    site = Site(w, extra_env={"SMS_BRIDGE_RECONCILE_INTERVAL_SECONDS": "5"})
    status, body = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 30})
    check(status == 200, f"open: {status} {body}")
    # An audit row that says "open" for a door the helper never had (a crash, a restore, a hand edit),
    # named as this server names its rows.
    server = w.pg.psql("SELECT server_ip FROM monitoring_port_access WHERE service = 'metrics'").stdout.strip()
    check(server != "", "the live door's audit row does not name its server")
    w.pg.psql(f"SELECT record_port_opened('postgres', 5433, 5432, 'ghost', 60, '{server}', NULL, 'ghost-grant', 999999)")
    # One from before rows were named (or from a server that never said): it may be another
    # server's live door, so it waits for its deadline.
    w.pg.psql("SELECT record_port_opened('node', 9101, 9100, 'old', 60, NULL, NULL, 'unnamed-grant', 999998)")
    def orphan_closed():
        return w.pg.psql("SELECT closed_by || ':' || action FROM monitoring_port_access "
                         "WHERE grant_id = 'ghost-grant' AND action <> 'opened'").stdout.strip()
    deadline = time.monotonic() + 20
    while orphan_closed() == "" and time.monotonic() < deadline:
        time.sleep(0.5)
    check(orphan_closed() == "system-reconcile:expired", f"the orphan was not closed by the reconcile: {orphan_closed()!r}")
    still_open = sorted(w.pg.psql("SELECT service FROM monitoring_ports_currently_open").stdout.split())
    check(still_open == ["metrics", "node"], f"the reconcile touched a live door or an unnamed row within its deadline: {still_open}")


def scenario_reload(w):
    """SIGHUP: the log file is reopened (after a logrotate-style move) and the settings file read
    again at once; a broken settings file is a warning, and the daemon goes on serving."""
    settings = os.path.join(w.tmp, "sms_settings.json")
    shutil.copy(os.path.join(REPO, "compose", "sms_settings.json"), settings)
    api = w.start_api(w.start_helper(), {"SMS_BRIDGE_SETTINGS_FILE": settings})
    logs = os.path.join(w.tmp, "logs")
    current, rotated = os.path.join(logs, "sms-bridge-api.log"), os.path.join(logs, "sms-bridge-api.log.1")

    def hup_and_wait(line):
        seen = w.log().count(line)
        api.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while w.log().count(line) == seen and time.monotonic() < deadline:
            time.sleep(0.05)
        check(w.log().count(line) > seen, f"no {line!r} after SIGHUP: {w.log()[-2000:]}")
        check(api.poll() is None, f"SIGHUP ended the daemon: {w.log()[-2000:]}")

    os.rename(current, rotated)
    hup_and_wait(f"reloaded {settings} and reopened the log file")
    with open(current) as f:
        check("reloaded" in f.read(), "the reopened log file does not have the reload line")
    with open(rotated) as f:
        check("reloaded" not in f.read(), "the moved-away log file was still written to")
    with open(settings, "w") as f:
        f.write('{"settings": ')
    hup_and_wait(f"reload: ")
    check(settings in w.log().split("reload: ")[-1], f"the warning does not name the settings file: {w.log()[-1000:]}")
    status, _, body = w.http("GET", "/health")
    check(status in (200, 503) and "database" in body, f"/health after a bad reload: {status} {body}")
    shutil.copy(os.path.join(REPO, "compose", "sms_settings.json"), settings)
    hup_and_wait(f"reloaded {settings}")


def scenario_logs(w):
    site = Site(w)
    logs = os.path.join(w.tmp, "logs")
    status, body = site.curl("GET", "/admin/monitoring/logs/list")
    names = [f["name"] for f in body["files"]] if status == 200 else []
    check("sms-bridge-api.log" in names, f"logs/list: {status} {body}")
    with open(os.path.join(logs, "big.log"), "w") as f:
        for i in range(200000):
            f.write(f"line {i} " + "x" * 60 + "\n")  # about 13 MiB
    os.symlink("/etc/passwd", os.path.join(logs, "passwd.log"))
    status, body = site.curl("GET", "/admin/monitoring/logs/download/big.log")
    check(status == 413 and "tail" in body["detail"], f"a file over the cap: {status} {body}")
    status, text = site.curl("GET", "/admin/monitoring/logs/download/big.log?tail=2")
    check(status == 200 and text.splitlines() == [f"line {i} " + "x" * 60 for i in (199998, 199999)], f"tail: {status} {text!r:.200}")
    status, text = site.curl("GET", "/admin/monitoring/logs/download/sms-bridge-api.log")
    check(status == 200 and "listening on" in text, f"download: {status} {text!r:.200}")
    status, _ = site.curl("GET", "/admin/monitoring/logs/download/big.log?tail=0")
    check(status == 422, "tail=0 was accepted")
    # Nothing outside the log directory, however asked.
    for path in ("/admin/monitoring/logs/download/passwd.log", "/admin/monitoring/logs/download/..%2F..%2Fetc%2Fpasswd",
                 "/admin/monitoring/logs/download/../../../../etc/passwd", "/admin/monitoring/logs/download/.hidden",
                 "/admin/monitoring/logs/download/"):
        r = subprocess.run(["ip", "netns", "exec", site.laptop, "curl", "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}",
                            "-u", f"alice:{PASSWORD}", f"http://{SERVER_IP}:8080{path}"], capture_output=True, text=True, timeout=30)
        check(r.stdout == "404", f"{path} gave {r.stdout}, not 404")


# The success shapes of the original v2.3 monitoring API, key by key with their JSON types, from
# /work/shared/reference/original-v2.3-inventory.md (section named per entry). Our answers may
# carry more keys and more precise values; none of these may go missing or change type.
ORIGINAL_SHAPES = {
    "services": {"services": "object", "active_ports": "object", "timestamp": "string"},  # §1 #1
    "services entry": {"port": "number", "enabled": "boolean", "description": "string"},  # §1 #1, §5
    "opened": {"status": "string", "service": "string", "port": "number", "opened_at": "string",  # §1.1
               "expires_at": "string", "connection_info": "object"},
    "already open": {"status": "string", "service": "string", "port": "number", "message": "string",  # §1.1
                     "opened_at": "string", "expires_at": "string", "opened_by": "string", "connection_info": "object"},
    "closed": {"status": "string", "service": "string", "port": "number"},  # §1 #3
    "active port": {"port": "number", "opened_at": "string", "expires_at": "string", "opened_by": "string",  # §2.6
                    "time_remaining": "string", "connection_info": "object"},
    "metrics connection": {"url": "string", "health": "string", "prometheus_target": "string"},  # §2.4
    "postgres connection": {"host": "string", "port": "number", "database": "string", "username": "string",  # §2.4
                            "connection_string": "string", "note": "string"},
    "open-all": {"status": "string", "results": "object", "timestamp": "string"},  # §1 #5
    "open-all failure": {"error": "string"},  # §1 #5
    "close-all": {"status": "string", "closed": "array", "errors": ("object", "null"), "timestamp": "string"},  # §1 #6
    "port-config": {"current_config": "object", "active_ports": "array", "version": "string", "timestamp": "string"},  # §1 #7
    "port-config saved": {"status": "string", "config": "object", "timestamp": "string"},  # §1 #8
    "port-config reset": {"status": "string", "config": "object", "timestamp": "string"},  # §1 #9
    "available-ports": {"available_ports": "array", "scanned_range": "string", "count": "number"},  # §1 #10
    "logs/list": {"logs": "object", "timestamp": "string"},  # §1 #12
    "log entry": {"path": "string", "size": "number", "modified": "string"},  # §1.4
}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def json_type(value):
    """The JSON type of a parsed value (bool before number: True is an int in Python)."""
    for python_type, name in ((bool, "boolean"), ((int, float), "number"), (str, "string"), (dict, "object"),
                              (list, "array"), (type(None), "null")):
        if isinstance(value, python_type):
            return name
    return "unknown"


def check_shape(shape, body, where):
    """Fails unless body is an object with every key of ORIGINAL_SHAPES[shape], each of its type."""
    check(isinstance(body, dict), f"{where}: not a JSON object: {body!r:.300}")
    for key, wanted in ORIGINAL_SHAPES[shape].items():
        wanted = wanted if isinstance(wanted, tuple) else (wanted,)
        check(key in body, f"{where}: the original's key '{key}' is missing: {body!r:.500}")
        check(json_type(body[key]) in wanted, f"{where}: '{key}' is {json_type(body[key])}, the original's is {'/'.join(wanted)}")
        if key in ("timestamp", "opened_at", "expires_at", "modified"):
            check(ISO_UTC.match(body[key]), f"{where}: '{key}' is not ISO 8601 UTC with Z: {body[key]!r}")


def scenario_original_shapes(w):
    """A client written against the original v2.3 reads every one of the 13 endpoints."""
    site = Site(w)
    logs = os.path.join(w.tmp, "logs")
    status, body = site.curl("GET", "/admin/monitoring/services")  # 1
    check(status == 200, f"services: {status} {body}")
    check_shape("services", body, "services")
    check(body["active_ports"] == {}, f"services: nothing is open yet: {body}")
    for name in ("metrics", "postgres", "pgbouncer", "redis"):  # the seed's defaults (no settings file yet)
        check_shape("services entry", body["services"].get(name), f"services.{name}")
    check(body["services"]["pgbouncer"]["enabled"] is False and body["services"]["metrics"]["port"] == 9100, f"services: {body}")

    status, body = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60})  # 2
    check(status == 200 and body.get("status") == "opened", f"open-port: {status} {body}")
    check_shape("opened", body, "open-port")
    check_shape("metrics connection", body["connection_info"], "open-port connection_info")
    status, body = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60})
    check(status == 200 and body.get("status") == "already_open" and body.get("message") == "Port is already open", f"already open: {body}")
    check_shape("already open", body, "open-port (already open)")
    check(not {"internal_port", "container", "external_port"} & set(body), f"already open leaks the inside: {body}")

    status, body = site.curl("GET", "/admin/monitoring/services")
    check_shape("active port", body["active_ports"].get("metrics"), "services.active_ports.metrics")
    status, body = site.curl("GET", "/admin/monitoring/port-status")  # 4
    check(status == 200 and set(body) == {"metrics"}, f"port-status is the map of open doors: {status} {body}")
    check_shape("active port", body["metrics"], "port-status.metrics")
    check(re.match(r"^0:5\d:\d\d$|^1:00:00$", body["metrics"]["time_remaining"]), f"time_remaining: {body['metrics']}")

    status, body = site.curl("POST", "/admin/monitoring/close-port", {"service": "metrics"})  # 3
    check(status == 200 and body.get("status") == "closed", f"close-port: {status} {body}")
    check_shape("closed", body, "close-port")

    status, body = site.curl("POST", "/admin/monitoring/open-all?duration_minutes=60")  # 5, as the original: a query
    check(status == 200 and body.get("status") == "completed", f"open-all: {status} {body}")
    check_shape("open-all", body, "open-all")
    check(set(body["results"]) == {"metrics", "postgres", "redis"}, f"open-all opens every enabled door: {body}")
    check_shape("opened", body["results"]["metrics"], "open-all.results.metrics")
    check_shape("postgres connection", body["results"]["postgres"]["connection_info"], "open-all postgres connection_info")
    check_shape("open-all failure", body["results"]["redis"], "open-all.results.redis")  # the helper has no redis door

    status, body = site.curl("GET", "/admin/monitoring/port-config")  # 7
    check(status == 200, f"port-config: {status} {body}")
    check_shape("port-config", body, "port-config")
    check(sorted(body["active_ports"]) == ["metrics", "postgres"] and re.match(r"^\d+\.\d+\.\d+", body["version"]), f"port-config: {body}")
    for name, door in body["current_config"].items():
        check_shape("services entry", door, f"port-config.current_config.{name}")
    config = {k: v for k, v in body["current_config"].items() if k in ("metrics", "postgres")}

    status, body = site.curl("POST", "/admin/monitoring/close-all")  # 6
    check(status == 200 and body.get("status") == "completed", f"close-all: {status} {body}")
    check_shape("close-all", body, "close-all")
    check(sorted(body["closed"]) == ["metrics", "postgres"] and body["errors"] is None, f"close-all: {body}")

    status, body = site.curl("POST", "/admin/monitoring/port-config", {"config": config})  # 8, sent back as read
    check(status == 200 and body.get("status") == "success", f"port-config save: {status} {body}")
    check_shape("port-config saved", body, "port-config (POST)")
    status, body = site.curl("POST", "/admin/monitoring/port-config/reset")  # 9
    check(status == 200 and body.get("status") == "reset", f"reset: {status} {body}")
    check_shape("port-config reset", body, "port-config/reset")

    status, body = site.curl("GET", "/admin/monitoring/port-config/available-ports?start=9100&end=9200&count=5")  # 10
    check(status == 200, f"available-ports: {status} {body}")
    check_shape("available-ports", body, "available-ports")
    check(body["scanned_range"] == "9100-9200" and body["count"] == len(body["available_ports"]) == 5, f"available-ports: {body}")

    status, headers, text = site.request("GET", "/admin/monitoring/export-prometheus-config", user=f"alice:{PASSWORD}")  # 11
    check(status == 200 and "filename=\"prometheus-remote.yml\"" in headers.get("content-disposition", "")
          and "yaml" in headers.get("content-type", "") and "scrape_configs:" in text, f"export: {status} {headers}")

    # The original's layout: postgres logs one folder down, redis's too; the application's on top.
    os.makedirs(os.path.join(logs, "postgres"), exist_ok=True)
    os.makedirs(os.path.join(logs, "redis"), exist_ok=True)
    for name, line in (("postgres/postgresql-2026-11-30.log", "old postgres"), ("postgres/postgresql-2026-12-01.log", "new postgres"),
                       ("redis/redis.log", "redis says hello")):
        with open(os.path.join(logs, name), "w") as f:
            f.write(line + "\n")
    os.utime(os.path.join(logs, "postgres/postgresql-2026-11-30.log"), (time.time() - 86400, time.time() - 86400))
    status, body = site.curl("GET", "/admin/monitoring/logs/list")  # 12
    check(status == 200, f"logs/list: {status} {body}")
    check_shape("logs/list", body, "logs/list")
    check(set(body["logs"]) == {"application", "postgres", "redis"}, f"logs/list: {body['logs']}")
    for name, entry in body["logs"].items():
        check_shape("log entry", entry, f"logs/list.logs.{name}")
    check(body["logs"]["postgres"]["path"].endswith("postgresql-2026-12-01.log"), f"the newest postgres log: {body['logs']}")
    for service, words in (("application", "listening on"), ("postgres", "new postgres"), ("redis", "redis says hello")):  # 13
        status, headers, text = site.request("GET", f"/admin/monitoring/logs/download/{service}", user=f"alice:{PASSWORD}")
        check(status == 200 and words in text and re.search(rf'filename="{service}-\d{{8}}\.log"', headers.get("content-disposition", "")),
              f"logs/download/{service}: {status} {headers} {text!r:.200}")
    status, text = site.curl("GET", "/admin/monitoring/logs/download/sms-bridge-api.log")
    check(status == 200 and "listening on" in text, f"download by file name: {status}")


def scenario_admin_commands(w):
    site = Site(w)
    def admin(*args, password=None):
        return subprocess.run([w.api_bin, "admin", *args], input=(password + "\n") if password else "", capture_output=True,
                              text=True, timeout=60, env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url))
    check(site.curl("GET", "/admin/monitoring/services")[0] == 200, "the first login failed")  # now cached
    r = admin("passwd", "alice", password="a brand new password")
    check(r.returncode == 0, f"admin passwd: {r.returncode} {r.stderr}")
    status, _ = site.curl("GET", "/admin/monitoring/services")
    check(status == 401, f"the old password still works after passwd (cached): {status}")
    check(site.curl("GET", "/admin/monitoring/services", user="alice:a brand new password")[0] == 200, "the new password fails")
    r = admin("add", "alice", password="another password")
    check(r.returncode == 1 and "already exists" in r.stderr, f"adding an existing admin: {r.returncode} {r.stderr}")
    r = admin("add", "bob", password="short")
    check(r.returncode == 2 and "at least 12 characters" in r.stderr, f"a short password: {r.returncode} {r.stderr}")
    r = admin("add", "bad name!", password="long enough password")
    check(r.returncode == 2, f"a bad admin name: {r.returncode} {r.stderr}")
    r = admin("remove", "alice")
    check(r.returncode == 0, f"admin remove: {r.returncode} {r.stderr}")
    check(site.curl("GET", "/admin/monitoring/services", user="alice:a brand new password")[0] == 401, "a removed admin still works")
    r = admin("remove", "alice")
    check(r.returncode == 1 and "no admin named" in r.stderr, f"removing twice: {r.returncode} {r.stderr}")
    changed = w.pg.psql("SELECT count(*) FROM admin_auth_events WHERE outcome = 'changed' AND method = 'cli'").stdout.strip()
    check(changed == "1", f"the password change was not audited: {changed}")
    # A flood of bad logins (40 at once) neither stalls nor crashes the daemon: it throttles them.
    flood = [subprocess.Popen(["ip", "netns", "exec", site.laptop, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "30",
                               "-u", f"mallory:guess{i}", f"http://{SERVER_IP}:8080/admin/monitoring/port-status"],
                              stdout=subprocess.PIPE, text=True) for i in range(40)]
    status, body = site.curl("GET", "/health", user=None)
    check(status == 200, f"/health during a login flood: {status} {body}")
    codes = sorted(p.communicate(timeout=60)[0] for p in flood)
    check(set(codes) <= {"401", "429", "503"} and "429" in codes, f"the flood's answers: {codes}")


LISTENER = "SELECT pid FROM pg_stat_activity WHERE application_name = 'sms-bridge-api admin listener'"


def wait_until(condition, seconds, failure):
    deadline = time.monotonic() + seconds
    while not condition():
        check(time.monotonic() < deadline, failure)
        time.sleep(0.1)


def scenario_admin_cache(w):
    """Admins and sessions are read from memory while PostgreSQL announces their changes: a locked
    admin table does not stall an admin kept in memory, and a change from the CLI or from another
    server (here psql), also after the announcing connection was cut, is seen at the next request."""
    site = Site(w, extra_env={"SMS_BRIDGE_TRUSTED_PROXIES": f"{LAPTOP_IP}/32"})
    wait_until(lambda: w.pg.psql(LISTENER).stdout.strip() != "", 10, "the api-daemon never listened for admin changes")
    json_type = "Content-Type: application/json"
    status, headers, body = site.request("POST", "/admin/login", {"username": "alice", "password": PASSWORD}, [json_type])
    check(status == 200, f"login: {status} {body}")
    session = "Cookie: " + headers.get("set-cookie", "").split(";")[0]
    check(site.curl("GET", "/admin/monitoring/services")[0] == 200, "the first Basic request failed")
    check(site.request("GET", "/admin/session", headers=[session])[0] == 200, "the first session request failed")
    # Any read of admin_users or admin_sessions now waits for this lock; kept entries do not.
    lock = subprocess.Popen(["psql", "-h", w.pg.dir, "-U", "postgres", "-d", "sms_bridge", "-X", "-q", "-c",
                             "BEGIN; LOCK TABLE admin_users, admin_sessions IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, PGAPPNAME="sms-test-lock"))
    try:
        wait_until(lambda: w.pg.psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                                     "WHERE c.relname = 'admin_users' AND l.mode = 'AccessExclusiveLock' AND l.granted").stdout.strip() == "1",
                   10, "the test could not lock admin_users")
        for _ in range(5):
            status, body = site.curl("GET", "/admin/monitoring/port-status")
            check(status == 200, f"a Basic request with the admin table locked: {status} {body}")
            status, _, body = site.request("GET", "/admin/session", headers=[session])
            check(status == 200 and body["username"] == "alice", f"a session request with the tables locked: {status} {body}")
    finally:
        w.pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sms-test-lock'", check_rc=False)
        lock.wait(timeout=30)
    # Another server ends every session (psql stands in for it): the kept one ends too.
    w.pg.psql("DELETE FROM admin_sessions")
    status, _, _ = site.request("GET", "/admin/session", headers=[session])
    check(status == 401, f"a session deleted in the database still works from memory: {status}")
    # The announcing connection is cut: the daemon says so, listens again, and a password changed
    # by the CLI afterwards is still seen at once.
    old = w.pg.psql(LISTENER).stdout.strip()
    w.pg.psql(f"SELECT pg_terminate_backend({int(old)})")
    wait_until(lambda: "listening for admin changes again" in w.log(), 15, f"the daemon did not listen again: {w.log()[-2000:]}")
    check("lost the connection that listens for admin changes" in w.log(), "the lost listener was not logged")
    new = w.pg.psql(LISTENER).stdout.strip()
    check(new != "" and new != old, f"the listener's backend: {old} then {new!r}")
    check(site.curl("GET", "/admin/monitoring/services")[0] == 200, "Basic after the listener came back")
    r = subprocess.run([w.api_bin, "admin", "passwd", "alice"], input="a brand new password\n", capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url))
    check(r.returncode == 0, f"admin passwd: {r.returncode} {r.stderr}")
    status, _ = site.curl("GET", "/admin/monitoring/services")
    check(status == 401, f"the old password still works from memory after passwd: {status}")
    check(site.curl("GET", "/admin/monitoring/services", user="alice:a brand new password")[0] == 200, "the new password fails")


def admin_cli(w, *args, stdin=""):
    """`sms-bridge-api admin ARGS`, stdin piped in as a script gives it."""
    return subprocess.run([w.api_bin, "admin", *args], input=stdin, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url))


def scenario_admin_list(w):
    """admin list against PostgreSQL: the admins by name, when created, the password change, the last
    login; never a hash. admin add refuses CHANGE-ME and short passwords, exit 2, adding nobody."""
    r = admin_cli(w, "list")
    check(r.returncode == 0 and r.stdout == "no admins yet; create one with: sms-bridge-api admin add NAME\n",
          f"admin list with no admin: {r.returncode} {r.stdout!r} {r.stderr}")
    for password, sentence in (("CHANGE-ME", "CHANGE-ME"), ("change-me-0123456789", "CHANGE-ME"),
                               ("eleven char", "at least 12 characters; this one has 11")):
        r = admin_cli(w, "add", "mallory", stdin=password + "\n")
        check(r.returncode == 2 and sentence in r.stderr and (password == "CHANGE-ME" or password not in r.stderr),
              f"admin add with {password!r}: {r.returncode} {r.stderr}")
    check(w.pg.psql("SELECT count(*) FROM admin_users").stdout.strip() == "0", "a refused password added an admin")
    for name in ("zoe", "alice"):
        r = admin_cli(w, "add", name, stdin=f"{name}'s long password\n")
        check(r.returncode == 0 and r.stdout == f"admin '{name}' added\n", f"admin add {name}: {r.returncode} {r.stderr}")
    r = admin_cli(w, "passwd", "zoe", stdin="zoe's new long password\n")
    check(r.returncode == 0, f"admin passwd zoe: {r.returncode} {r.stderr}")
    w.start_api(os.path.join(w.tmp, "no-helper.sock"))
    basic = "Basic " + base64.b64encode(b"alice:alice's long password").decode()
    status, _, body = w.http("GET", "/admin/session", headers={"Authorization": basic})
    check(status == 200 and body["username"] == "alice", f"alice cannot log in: {status} {body}")

    r = admin_cli(w, "list")
    check(r.returncode == 0, f"admin list: {r.returncode} {r.stderr}")
    lines = r.stdout.splitlines()
    check(len(lines) == 3 and lines[0].split() == ["NAME", "CREATED", "PASSWORD", "CHANGED", "LAST", "LOGIN", "TOTP"],
          f"admin list: {r.stdout}")
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    check(re.fullmatch(rf"alice +({stamp})  never +  ({stamp})  off", lines[1]), f"alice's line: {lines[1]!r}")
    check(re.fullmatch(rf"zoe +({stamp})  ({stamp})  none recorded +off", lines[2]), f"zoe's line: {lines[2]!r}")
    created = w.pg.psql("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                        "FROM admin_users WHERE username = 'alice'").stdout.strip()
    check(lines[1].split()[1] == created, f"alice's created time {lines[1].split()[1]} is not the table's {created}")
    hashes = w.pg.psql("SELECT string_agg(password_hash, ' ') FROM admin_users").stdout.split()
    check(not any(h in r.stdout for h in hashes) and "argon2" not in r.stdout, "admin list shows a password hash")
    print(r.stdout, end="")


def scenario_admin_password_on_a_terminal(w):
    """admin add on a terminal (a pty): asks twice, never echoes the password, turns echo back on
    after, also when SIGINT ends it at the prompt; two different entries change nothing."""
    def on_a_pty(args, typed, interrupt=False):
        """Runs `admin ARGS` on a fresh pty, answering each (prompt, line) of `typed` (or sending SIGINT
        at the first prompt). Returns its exit code, all the terminal showed, whether echo was on at
        each prompt, and whether it is on after the command ended."""
        master, slave = pty.openpty()
        check(termios.tcgetattr(slave)[3] & termios.ECHO, "a fresh pty does not echo (the test would prove nothing)")
        p = subprocess.Popen([w.api_bin, "admin", *args], stdin=slave, stdout=slave, stderr=slave,
                             env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url), start_new_session=True)
        w.processes.append(p)
        seen, echo_at_prompt, deadline = b"", [], time.monotonic() + 30
        try:
            for prompt, line in typed:
                while prompt not in seen:
                    check(time.monotonic() < deadline and p.poll() is None, f"no prompt {prompt!r} on the pty: {seen!r}")
                    if select.select([master], [], [], 0.2)[0]:
                        seen += os.read(master, 4096)
                echo_at_prompt.append(bool(termios.tcgetattr(slave)[3] & termios.ECHO))
                if interrupt:
                    p.send_signal(signal.SIGINT)
                    break
                os.write(master, line.encode() + b"\n")
            p.wait(timeout=30)
            while select.select([master], [], [], 0.2)[0]:
                chunk = os.read(master, 4096)
                if not chunk:
                    break
                seen += chunk
            echo_after = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
        finally:
            os.close(slave)
            os.close(master)
        return p.returncode, seen.decode(errors="replace"), echo_at_prompt, echo_after

    password = "typed on a terminal 42"
    rc, output, echo_at_prompt, echo_after = on_a_pty(
        ["add", "tty"], [(b"password for the new admin 'tty': ", password), (b"again: ", password)])
    check(rc == 0 and "admin 'tty' added" in output, f"admin add on a pty: {rc} {output!r}")
    check(password not in output, f"the password was echoed on the terminal: {output!r}")
    check(echo_at_prompt == [False, False] and echo_after, f"echo at the prompts {echo_at_prompt}, after {echo_after}")
    rc, output, echo_at_prompt, echo_after = on_a_pty(["add", "tty2"], [(b"password for the new admin 'tty2': ", "")],
                                                      interrupt=True)
    check(rc == -signal.SIGINT and echo_at_prompt == [False] and echo_after,
          f"SIGINT at the prompt: exit {rc}, echo at the prompt {echo_at_prompt}, after {echo_after}")
    rc, output, _, echo_after = on_a_pty(["passwd", "tty"], [(b"new password for admin 'tty': ", "one new password"),
                                                            (b"again: ", "another new password")])
    check(rc == 2 and "the two passwords differ; nothing was changed." in output and echo_after,
          f"two different entries: {rc} {output!r}")
    check("one new password" not in output and "another new password" not in output, f"echoed: {output!r}")
    admins = w.pg.psql("SELECT string_agg(username || ':' || password_version, ' ' ORDER BY username) FROM admin_users").stdout.split()
    check(admins == ["tty:1"], f"admins after the pty runs: {admins}")
    # The password typed on the terminal is the one stored: it logs in.
    w.start_api(os.path.join(w.tmp, "no-helper.sock"))
    basic = "Basic " + base64.b64encode(f"tty:{password}".encode()).decode()
    status, _, body = w.http("GET", "/admin/session", headers={"Authorization": basic})
    check(status == 200 and body["username"] == "tty", f"the password typed on the pty does not log in: {status} {body}")


class SmsApi:
    """The SMS setup the sms_* scenarios share: sms-bridge-api on loopback (no helper) with a
    settings file of its own, and the gateway's and the app's calls with the gateway's key."""
    API_KEY = "gateway-key-0123456789"
    ALICE, BOB = "+919876543210", "+919876500000"

    def __init__(self, w):
        self.w = w
        self.settings = os.path.join(w.tmp, "sms_settings.json")
        self.write_settings()
        w.start_api(os.path.join(w.tmp, "no-helper.sock"),
                    {"SMS_BRIDGE_SETTINGS_FILE": self.settings, "SMS_BRIDGE_HMAC_SECRET": "hmac-secret-0123456789",
                     "SMS_BRIDGE_SMS_API_KEY": self.API_KEY})

    def write_settings(self, **overrides):
        body = {"sms_receiver_number": "+919000000000", "allowed_prefix": "ONBOARD:", "hash_length": 8,
                "ttl_hash_seconds": 900, "allowed_countries": ["+91"], "count_threshold": 5, "count_window_seconds": 3600}
        body.update(overrides)
        with open(self.settings, "w") as f:
            json.dump({"version": "2.3.0", "settings": body}, f)

    def post(self, path, body, key=API_KEY):
        headers = {"Content-Type": "application/json"}
        if key:
            headers["X-API-Key"] = key
        return self.w.http("POST", path, body=json.dumps(body).encode(), headers=headers)

    def sms(self, mobile, message, key=API_KEY):
        return self.post("/sms/receive", {"mobile_number": mobile, "message": message, "received_at": "2026-11-27T10:00:00Z"}, key)

    def register(self, mobile):
        """A code for mobile (a failed registration fails the scenario: it is setup here)."""
        status, _, reg = self.post("/onboarding/register", {"mobile_number": mobile})
        check(status == 200, f"register {mobile}: {status} {reg}")
        return reg["hash"]

    def check_metrics(self, lines):
        """The SMS metrics, in the original's names: each of lines appears in /metrics (the SMS gauges
        are counted from the database on each scrape)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.w.metrics_port}/metrics", timeout=15) as r:
            text = r.read().decode()
        for line in lines:
            check(line in text, f"/metrics lacks '{line}'")


def scenario_sms_happy_path(w):
    s = SmsApi(w)
    alice, bob = s.ALICE, s.BOB
    status, _, reg = s.post("/onboarding/register", {"mobile_number": alice, "email": "a@example.com", "device_id": "d1"})
    check(status == 200 and reg["status"] == "success" and len(reg["hash"]) == 8 and reg["sms_receiving_number"] == "+919000000000"
          and reg["user_timelimit_seconds"] == 900, f"register: {status} {reg}")
    code = reg["hash"]
    status, _, body = s.sms(bob, "ONBOARD:" + code)
    check(status == 200 and body["status"] == "failed" and body["reason"] == "sent from another number", f"wrong sender: {body}")
    status, _, body = s.sms(alice, "ONBOARD:" + code)
    check(status == 200 and body["status"] == "received" and len(body["message_id"]) == 24, f"receive: {status} {body}")
    status, _, body = s.sms(alice, "ONBOARD:" + code)
    check(body["status"] == "failed" and body["reason"] == "code already used", f"a replayed SMS: {body}")
    status, _, body = s.post("/pin-setup", {"mobile_number": alice, "pin": "12a4", "hash": code})
    check(status == 422, f"a bad PIN: {status} {body}")
    status, _, body = s.post("/pin-setup", {"mobile_number": alice, "pin": "1234", "hash": code})
    check(status == 200 and body["status"] == "success", f"pin-setup: {status} {body}")
    status, _, body = s.post("/pin-setup", {"mobile_number": alice, "pin": "9999", "hash": code})
    check(status == 409, f"a double PIN submit: {status} {body}")
    # The PIN is stored sealed (secretbox), never as its digits.
    outbox = w.pg.psql("SELECT mobile_number || '|' || (pin LIKE 'v1:%' AND position('1234' in pin) = 0)::text || '|' || "
                       "(payload->>'email') || '|' || status FROM sync_outbox").stdout.split()
    check(outbox == [f"{alice}|true|a@example.com|pending"], f"the outbox: {outbox}")
    # The logs mask numbers and never hold the key.
    logs = w.pg.psql("SELECT string_agg(mobile_masked || ' ' || detail, ',') FROM sms_bridge_logs").stdout
    check(alice not in logs and "+91******3210" in logs, f"numbers are not masked: {logs[:300]}")
    check(s.API_KEY not in w.log(), "the API key reached the log")
    s.check_metrics(('sms_bridge_pin_collected_total{status="success"} 1', 'sms_bridge_pin_collected_total{status="rejected"} 1',
                     'sms_bridge_sms_received_total{status="received"} 1', "sms_bridge_sync_outbox_pending 1"))


def scenario_sms_code_failures(w):
    s = SmsApi(w)
    bob_code = s.register(s.BOB)
    for message, reason in (("JOIN:" + bob_code, "wrong prefix"), ("ONBOARD:" + bob_code[:7], "wrong length"),
                            ("ONBOARD:AAAAAAAA", "unknown code")):
        status, _, body = s.sms(s.BOB, message)
        check(body["status"] == "failed" and body["reason"] == reason, f"{message}: {body}")
    s.write_settings(ttl_hash_seconds=1)  # settings take effect without a restart (read at most once a second)
    time.sleep(1.1)
    status, _, reg = s.post("/onboarding/register", {"mobile_number": "+919876511111"})
    time.sleep(2)
    status, _, body = s.sms("+919876511111", "ONBOARD:" + reg["hash"])
    check(body["status"] == "failed" and body["reason"] == "code expired", f"an expired code: {body}")
    s.check_metrics(('sms_bridge_validation_failures_total{check="code"}', "sms_bridge_active_codes"))


def scenario_sms_register_refusals(w):
    s = SmsApi(w)
    status, _, body = s.post("/onboarding/register", {"mobile_number": "9876543210"})
    check(status == 400, f"a bad number: {status} {body}")
    status, _, body = s.post("/onboarding/register", {"mobile_number": "+14155552671"})
    check(status == 403, f"a foreign number: {status} {body}")
    w.pg.psql("INSERT INTO sms_blacklist (mobile_number, reason) VALUES ('+919876522222', 'abuse')")
    status, _, body = s.post("/onboarding/register", {"mobile_number": "+919876522222"})
    check(status == 403, f"a blacklisted number: {status} {body}")
    for i in range(5):
        s.post("/onboarding/register", {"mobile_number": "+919876533333"})
        time.sleep(1.05)  # one code per number per second
    status, _, body = s.post("/onboarding/register", {"mobile_number": "+919876533333"})
    check(status == 429, f"the rate limit: {status} {body}")
    # ... and the count check: a sixth SMS from one number in the window fails.
    for i in range(5):
        s.sms("+919876544444", "ONBOARD:AAAAAAAA")
    status, _, body = s.sms("+919876544444", "ONBOARD:AAAAAAAA")
    check(body["status"] == "failed" and body["check"] == "count_check", f"the count check: {body}")
    s.check_metrics(("sms_bridge_rate_limited_total 1", 'sms_bridge_onboarding_total{status="rate_limited"} 1',
                     'sms_bridge_validation_failures_total{check="count_check"} 1', "sms_bridge_blacklist_size 1"))


def scenario_sms_gateway_key(w):
    s = SmsApi(w)
    alice, bob = s.ALICE, s.BOB
    code = s.register(alice)
    status, _, body = s.sms(alice, "ONBOARD:" + code, key=None)
    check(status == 401, f"a missing API key: {status}")
    status, _, body = s.sms(alice, "ONBOARD:" + code, key="wrong-key-0123456789")
    check(status == 401, f"a bad API key: {status}")
    bob_code = s.register(bob)
    status, _, body = w.http("POST", f"/sms/receive?apiKey={s.API_KEY}",
                             body=json.dumps({"mobile_number": bob, "message": "ONBOARD:" + bob_code}).encode())
    check(status == 200 and body["status"] == "received", f"?apiKey=: {status} {body}")
    check(s.API_KEY not in w.log(), "the API key reached the log")  # here it travelled in the URL
    s.check_metrics(('sms_bridge_sms_received_total{status="received"} 1',))


def scenario_sms_admin(w):
    """Admins change the SMS settings and the blacklist without a restart."""
    s = SmsApi(w)
    r = subprocess.run([w.api_bin, "admin", "add", "ops"], input="operator password\n", capture_output=True, text=True,
                       env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url), timeout=60)
    check(r.returncode == 0, f"admin add: {r.stderr}")
    auth = {"Authorization": "Basic " + base64.b64encode(b"ops:operator password").decode(), "Content-Type": "application/json"}
    def admin(method, path, body=None):
        return w.http(method, path, body=json.dumps(body).encode() if body is not None else None, headers=auth)
    status, _, body = admin("GET", "/admin/sms/settings")
    check(status == 200 and body["settings"]["hash_length"] == 8, f"GET sms settings: {status} {body}")
    status, _, body = admin("POST", "/admin/sms/settings", {"settings": {"hash_length": 10}})
    check(status == 200 and body["settings"]["hash_length"] == 10, f"POST sms settings: {status} {body}")
    status, _, reg = s.post("/onboarding/register", {"mobile_number": "+919876566666"})
    check(status == 200 and len(reg["hash"]) == 10, f"the new hash_length did not take effect: {reg}")
    for bad in ({"settings": {"hash_length": 2}}, {"settings": {"no_such_key": 1}}, {"nothing": 1}):
        status, _, body = admin("POST", "/admin/sms/settings", bad)
        check(status in (400, 422) and "detail" in body, f"{bad}: {status} {body}")
    with open(s.settings) as f:
        check(json.load(f)["version"] == "2.3.0", "the settings file lost its other keys")
    status, _, _ = admin("POST", "/admin/blacklist", {"mobile_number": "+919876577777", "reason": "spam"})
    check(status == 200, "blacklisting failed")
    status, _, body = s.post("/onboarding/register", {"mobile_number": "+919876577777"})
    check(status == 403, f"a number blacklisted through the API could register: {status}")
    status, _, body = admin("GET", "/admin/blacklist")
    check(any(n["mobile_number"] == "+919876577777" and n["reason"] == "spam (by ops)" for n in body["numbers"]), f"blacklist: {body}")
    s.check_metrics(("sms_bridge_blacklist_size 1",))
    status, _, _ = admin("DELETE", "/admin/blacklist/%2B919876577777")
    check(status == 200, "removing from the blacklist failed")
    status, _, _ = s.post("/onboarding/register", {"mobile_number": "+919876577777"})
    check(status == 200, f"a number removed from the blacklist cannot register: {status}")
    status, _, _ = admin("DELETE", "/admin/blacklist/%2B919876577777")
    check(status == 404, "removing twice was not 404")
    s.check_metrics(("sms_bridge_blacklist_size 0",))


def scenario_delivery(w):
    secret, api_key = "hmac-secret-0123456789", "gateway-key-0123456789"
    backend = Backend(w.tmp, secret)
    settings = os.path.join(w.tmp, "sms_settings.json")
    with open(settings, "w") as f:
        json.dump({"settings": {"allowed_countries": ["+91"], "count_threshold": 50,
                                "sync_url": f"https://localhost:{backend.port}/sync",
                                "recovery_url": f"https://localhost:{backend.port}/recovery"}}, f)
    env = {"SMS_BRIDGE_SETTINGS_FILE": settings, "SMS_BRIDGE_HMAC_SECRET": secret, "SMS_BRIDGE_SMS_API_KEY": api_key,
           "SMS_BRIDGE_BACKEND_CA_FILE": backend.ca}
    w.start_api(os.path.join(w.tmp, "no-helper.sock"), env)
    def post(path, body):
        return w.http("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json", "X-API-Key": api_key})
    def onboard(mobile, pin="1234"):
        _, _, reg = post("/onboarding/register", {"mobile_number": mobile, "email": f"{mobile[-4:]}@example.com"})
        _, _, got = post("/sms/receive", {"mobile_number": mobile, "message": "ONBOARD:" + reg["hash"], "received_at": "x"})
        check(got["status"] == "received", f"receive for {mobile}: {got}")
        status, _, body = post("/pin-setup", {"mobile_number": mobile, "pin": pin, "hash": reg["hash"]})
        check(status == 200, f"pin-setup for {mobile}: {status} {body}")
    def outbox():
        return w.pg.psql("SELECT mobile_number || ':' || status || ':' || COALESCE(pin, '-') FROM sync_outbox ORDER BY id").stdout.split()
    def wait_until(what, predicate, seconds):
        deadline = time.monotonic() + seconds
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.2)
        check(predicate(), f"timed out waiting for {what}: outbox {outbox()}, backend {backend.received}")
    # The happy path: delivered over verified TLS, signed, the PIN then removed.
    onboard("+919800000001", pin="4321")
    wait_until("the first delivery", lambda: len(backend.received) == 1, 10)
    path, key, payload = backend.received[0]
    check(path == "/sync" and payload["mobile_number"] == "+919800000001" and payload["pin"] == "4321"
          and payload["idempotency_key"] == key, f"the delivered item: {backend.received[0]}")
    wait_until("the outbox to record it", lambda: outbox() == ["+919800000001:delivered:-"], 5)
    check(backend.bad_signatures == 0, "a request had a bad signature")
    # The backend down, then recovering: each item delivered once, in order.
    backend.stop()
    for n in ("+919800000002", "+919800000003", "+919800000004"):
        onboard(n)
    time.sleep(3)
    check(len(backend.received) == 1 and all(":pending:" in o for o in outbox()[1:]), f"while down: {outbox()}")
    backend.start()
    wait_until("delivery after recovery", lambda: len(backend.received) == 4, 20)
    order = [p["mobile_number"] for _, _, p in backend.received]
    check(order == ["+919800000001", "+919800000002", "+919800000003", "+919800000004"], f"out of order: {order}")
    check(len(set(backend.keys())) == 4, f"an item was delivered twice: {backend.keys()}")
    # The api-daemon killed mid-delivery and restarted: nothing lost (at least once, same key).
    backend.mode = "slow"
    onboard("+919800000005")
    time.sleep(1)  # the POST is in flight, the backend takes 3 s
    w.processes[-1].kill()
    w.processes[-1].wait(timeout=10)
    time.sleep(3)
    backend.mode = "up"
    w.start_api(os.path.join(w.tmp, "no-helper.sock"), env)
    # The killed daemon's claim holds for its lease (claim_lease, 30 s from the claim) before the
    # new one may take the item.
    wait_until("redelivery after the restart", lambda: outbox()[-1] == "+919800000005:delivered:-", 45)
    keys = [k for p, k, body in backend.received if body["mobile_number"] == "+919800000005"]
    check(len(keys) >= 1 and len(set(keys)) == 1, f"the restarted delivery changed the idempotency key: {keys}")
    # trigger-recovery puts failed items back and tells recovery_url, signed.
    r = subprocess.run([w.api_bin, "admin", "add", "ops"], input="recovery password\n", capture_output=True, text=True,
                       env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url), timeout=60)
    check(r.returncode == 0, f"admin add: {r.stderr}")
    backend.mode = "fail"
    onboard("+919800000006")
    time.sleep(1.5)
    w.pg.psql("UPDATE sync_outbox SET status = 'failed' WHERE mobile_number = '+919800000006'")
    # /health asks the database at most once a second; an attempt in flight when the item was set
    # aside must not revive it (the worker records an outcome only on a pending item).
    wait_until("/health to see the failed delivery", lambda: w.http("GET", "/health")[2]["checks"]["backend_sync"] == "failing", 15)
    check(outbox()[-1].startswith("+919800000006:failed:"), f"an attempt in flight revived the set-aside item: {outbox()}")
    status, _, body = w.http("GET", "/health")
    check(status == 200 and body["checks"]["backend_sync"] == "failing" and body["status"] == "degraded",
          f"/health with a failed delivery: {status} {body}")
    backend.mode = "up"
    status, _, body = w.http("POST", "/admin/trigger-recovery", body=b"{}",
                             headers={"Content-Type": "application/json",
                                      "Authorization": "Basic " + base64.b64encode(b"ops:recovery password").decode()})
    check(status == 200 and body["requeued"] == 1 and body["recovery_url_status"] == 200, f"trigger-recovery: {status} {body}")
    check(len(backend.keys("/recovery")) == 1, "recovery_url was not called")
    wait_until("the recovered item", lambda: outbox()[-1] == "+919800000006:delivered:-", 15)
    check(backend.bad_signatures == 0, "a request had a bad signature")


def scenario_sms_database_errors(w):
    """Nothing is answered "received" or "success" unless PostgreSQL committed it, and a check that
    cannot ask the database refuses (503) instead of letting the SMS through unchecked."""
    settings = os.path.join(w.tmp, "sms_settings.json")
    with open(settings, "w") as f:
        json.dump({"version": "2.3.0", "settings": {"allowed_countries": ["+91"], "count_threshold": 5}}, f)
    api_key = "gateway-key-0123456789"
    w.start_api(os.path.join(w.tmp, "no-helper.sock"),
                {"SMS_BRIDGE_SETTINGS_FILE": settings, "SMS_BRIDGE_HMAC_SECRET": "hmac-secret-0123456789", "SMS_BRIDGE_SMS_API_KEY": api_key})
    def post(path, body):
        return w.http("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json", "X-API-Key": api_key})
    def sms(mobile, code):
        return post("/sms/receive", {"mobile_number": mobile, "message": "ONBOARD:" + code, "received_at": "2026-11-27T10:00:00Z"})
    def sql(statement):
        return w.pg.psql(statement).stdout.strip()
    def register(mobile):
        status, _, reg = post("/onboarding/register", {"mobile_number": mobile})
        check(status == 200, f"register {mobile}: {status} {reg}")
        return reg["hash"]
    # A statement in the transaction fails (here the log row, refused by a trigger): PostgreSQL's
    # COMMIT then rolls back, and the answer must say so.
    sql("CREATE FUNCTION sbt_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.status IN ('received', 'success') AND NEW.event <> 'register' THEN RAISE EXCEPTION 'log refused'; END IF; "
        "RETURN NEW; END $$")
    sql("CREATE TRIGGER sbt_refuse BEFORE INSERT ON sms_bridge_logs FOR EACH ROW EXECUTE FUNCTION sbt_refuse()")
    alice = "+919876543210"
    code = register(alice)
    status, _, body = sms(alice, code)
    check(status == 503, f"an SMS whose transaction rolled back was answered {status} {body}")
    check(sql(f"SELECT count(*) FROM onboarding_codes WHERE hash = '{code}' AND consumed_at IS NULL") == "1"
          and sql("SELECT count(*) FROM verified_numbers") == "0", "the rolled-back SMS left its changes behind")
    sql("DROP TRIGGER sbt_refuse ON sms_bridge_logs")
    status, _, body = sms(alice, code)
    check(status == 200 and body.get("status") == "received", f"the same SMS once the database works: {status} {body}")
    sql("CREATE TRIGGER sbt_refuse BEFORE INSERT ON sms_bridge_logs FOR EACH ROW EXECUTE FUNCTION sbt_refuse()")
    status, _, body = post("/pin-setup", {"mobile_number": alice, "pin": "1234", "hash": code})
    check(status == 503, f"a PIN setup whose transaction rolled back was answered {status} {body}")
    check(sql("SELECT count(*) FROM sync_outbox") == "0" and sql("SELECT count(*) FROM verified_numbers WHERE pin_consumed_at IS NULL") == "1",
          "the rolled-back PIN setup left its changes behind")
    sql("DROP TRIGGER sbt_refuse ON sms_bridge_logs")
    status, _, body = post("/pin-setup", {"mobile_number": alice, "pin": "1234", "hash": code})
    check(status == 200 and sql("SELECT count(*) FROM sync_outbox") == "1", f"the PIN setup once the database works: {status} {body}")
    # The count and blacklist checks cannot ask the database: refused, not waved through.
    bob = "+919876500000"
    code = register(bob)
    for broken, repaired, check_name in (
            ("ALTER TABLE sms_bridge_logs RENAME COLUMN mobile_hash TO mobile_hash_gone",
             "ALTER TABLE sms_bridge_logs RENAME COLUMN mobile_hash_gone TO mobile_hash", "count_check"),
            ("ALTER TABLE sms_blacklist RENAME TO sms_blacklist_gone", "ALTER TABLE sms_blacklist_gone RENAME TO sms_blacklist",
             "blacklist_check")):
        sql(broken)
        status, _, body = sms(bob, code)
        check(status == 503, f"with {check_name} unable to ask the database, the SMS was answered {status} {body}")
        sql(repaired)
    check(sql(f"SELECT count(*) FROM onboarding_codes WHERE hash = '{code}' AND consumed_at IS NULL") == "1",
          "a refused SMS consumed its code")
    status, _, body = sms(bob, code)
    check(status == 200 and body.get("status") == "received", f"bob's SMS once the checks work: {status} {body}")


def scenario_delivery_stall(w):
    """A backend that accepts connections and then says nothing freezes neither the outbox nor
    trigger-recovery: every backend call is bounded as a whole."""
    import socket
    import threading
    secret, api_key = "hmac-secret-0123456789", "gateway-key-0123456789"
    stall = socket.socket()
    stall.bind(("127.0.0.1", 0))
    stall.listen(64)
    held = []  # accepted and never answered: no TLS handshake, no HTTP
    def hold():
        while True:
            try:
                held.append(stall.accept()[0])
            except OSError:
                return
    threading.Thread(target=hold, daemon=True).start()
    stalled_url = f"https://localhost:{stall.getsockname()[1]}"
    settings = os.path.join(w.tmp, "sms_settings.json")
    def configure(base):
        with open(settings + ".tmp", "w") as f:
            json.dump({"settings": {"allowed_countries": ["+91"], "count_threshold": 50,
                                    "sync_url": f"{base}/sync", "recovery_url": f"{base}/recovery"}}, f)
        os.replace(settings + ".tmp", settings)
    configure(stalled_url)
    backend = Backend(w.tmp, secret)
    env = {"SMS_BRIDGE_SETTINGS_FILE": settings, "SMS_BRIDGE_HMAC_SECRET": secret, "SMS_BRIDGE_SMS_API_KEY": api_key,
           "SMS_BRIDGE_BACKEND_CA_FILE": backend.ca}
    w.start_api(os.path.join(w.tmp, "no-helper.sock"), env)
    r = subprocess.run([w.api_bin, "admin", "add", "ops"], input="recovery password\n", capture_output=True, text=True,
                       env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url), timeout=60)
    check(r.returncode == 0, f"admin add: {r.stderr}")
    def post(path, body):
        return w.http("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json", "X-API-Key": api_key})
    mobile = "+919800000011"
    _, _, reg = post("/onboarding/register", {"mobile_number": mobile})
    post("/sms/receive", {"mobile_number": mobile, "message": "ONBOARD:" + reg["hash"], "received_at": "x"})
    check(post("/pin-setup", {"mobile_number": mobile, "pin": "1234", "hash": reg["hash"]})[0] == 200, "pin-setup failed")
    deadline = time.monotonic() + 5
    while not held and time.monotonic() < deadline:
        time.sleep(0.1)
    check(held, "the outbox never connected to the stalled backend")
    # The delivery is stuck in the stalled backend's hands; the admin's recovery still answers.
    started = time.monotonic()
    status, _, body = w.http("POST", "/admin/trigger-recovery", body=b"{}",
                             headers={"Content-Type": "application/json",
                                      "Authorization": "Basic " + base64.b64encode(b"ops:recovery password").decode()})
    took = time.monotonic() - started
    check(status == 200 and body.get("recovery_url_status") == 0 and took < 5,
          f"trigger-recovery with a stalled backend: {status} {body} after {took:.1f} s")
    # The stalled delivery ends at its deadline with a sentence, and the worker goes on.
    def outbox():
        return w.pg.psql("SELECT status || '|' || attempts || '|' || COALESCE(last_error, '') FROM sync_outbox").stdout.strip()
    deadline = time.monotonic() + 15
    while not outbox().startswith("pending|1|") and time.monotonic() < deadline:
        time.sleep(0.2)
    check(outbox().startswith("pending|1|") and "timed out" in outbox(), f"the stalled delivery did not time out: {outbox()}")
    configure(f"https://localhost:{backend.port}")
    deadline = time.monotonic() + 20
    while not backend.keys() and time.monotonic() < deadline:
        time.sleep(0.2)
    check(backend.keys() and outbox().startswith("delivered|"), f"the worker did not go on after the stall: {outbox()}")
    stall.close()
    for c in held:
        c.close()


# ---- the second factor (TOTP) -----------------------------------------------------------------

TOTP_KEY = "hmac-secret-for-totp-0123456789"


def totp_code(secret_b32, step):
    """RFC 6238 with the authenticator apps' defaults (SHA-1, 6 digits), computed here, not by the daemon."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[19] & 15
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7fffffff) % 1000000:06d}"


def totp_step():
    return int(time.time()) // 30


def enrol_totp(w, name):
    """`admin totp enable NAME` as an operator runs it; returns (base32 secret, recovery codes)."""
    r = subprocess.run([w.api_bin, "admin", "totp", "enable", name], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url, SMS_BRIDGE_HMAC_SECRET=TOTP_KEY))
    check(r.returncode == 0, f"admin totp enable {name}: {r.returncode} {r.stdout} {r.stderr}")
    m = re.search(r"^(otpauth://totp/SMS%20Bridge:" + re.escape(name) + r"\?\S+)$", r.stdout, re.M)
    check(m is not None, f"no otpauth URI in: {r.stdout}")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(m.group(1)).query)
    check(query.get("issuer") == ["SMS Bridge"] and len(query["secret"][0]) == 32, f"the URI: {m.group(1)}")
    check("\u2588" in r.stdout, f"no QR code drawn: {r.stdout}")
    codes = re.findall(r"^  ([a-z2-7]{5}-[a-z2-7]{5})$", r.stdout, re.M)
    check(len(set(codes)) == 10, f"ten recovery codes expected: {r.stdout}")
    return query["secret"][0], codes


def scenario_totp(w):
    """An admin enrolled in TOTP through the CLI: Basic changes need X-Admin-OTP (none, wrong: 401
    with a sentence; right: 200; the same again: refused), a recovery code works once, the login
    needs otp, a session steps up to open a door once its code is older than the window; the
    secret is stored sealed and the codes hashed; disable makes the admin a password-only one again."""
    site = Site(w, extra_env={"SMS_BRIDGE_HMAC_SECRET": TOTP_KEY})
    secret, recovery = enrol_totp(w, "alice")
    stored = w.pg.psql("SELECT sealed_secret || ' ' || (SELECT string_agg(code_hash, ' ') FROM admin_recovery_codes) "
                       "FROM admin_totp").stdout
    check(secret not in stored and secret.lower() not in stored and stored.startswith("v1:"), "the secret is stored in clear")
    check(not any(c in stored or c.replace("-", "") in stored for c in recovery), "a recovery code is stored in clear")
    r = admin_cli(w, "list")
    check(re.search(r"^alice .* on \(10 recovery codes left\)$", r.stdout, re.M), f"admin list: {r.stdout}")
    json_type = "Content-Type: application/json"
    basic = f"alice:{PASSWORD}"
    open_body = {"service": "metrics", "duration_minutes": 30}
    # Reads stay Basic-only.
    check(site.curl("GET", "/admin/monitoring/services")[0] == 200, "a read needs a code")

    def open_with(*headers):
        return site.request("POST", "/admin/monitoring/open-port", open_body, [json_type, *headers], user=basic)

    status, headers, body = open_with()
    check(status == 401 and body.get("otp_required") is True and "X-Admin-OTP" in body["detail"] and
          "www-authenticate" not in headers, f"open-port without a code: {status} {headers} {body}")
    now = totp_step()
    wrong = next(c for c in (f"{i:06d}" for i in range(1000000))
                 if c not in {totp_code(secret, s) for s in range(now - 2, now + 3)})
    status, _, body = open_with(f"X-Admin-OTP: {wrong}")
    check(status == 401 and body.get("otp_required") is True and body["detail"].endswith("."), f"a wrong code: {status} {body}")
    code = totp_code(secret, now)
    status, _, body = open_with(f"X-Admin-OTP: {code}")
    check(status == 200 and body["status"] == "opened" and site.door_works(), f"the right code: {status} {body}")
    status, _, body = open_with(f"X-Admin-OTP: {code}")
    check(status == 401 and body.get("otp_required") is True, f"the same code again was accepted: {status} {body}")
    # Closing needs no code: it only takes access away, and works while codes cannot be checked.
    status, _, body = site.request("POST", "/admin/monitoring/close-port", {"service": "metrics"}, [json_type], user=basic)
    check(status == 200 and body["status"] == "closed" and not site.door_works(), f"a close without a code: {status} {body}")
    # A recovery code works once (in any case), then never again.
    status, _, body = open_with(f"X-Admin-OTP: {recovery[0].upper()}")
    check(status == 200 and body["status"] == "opened", f"a recovery code: {status} {body}")
    status, _, body = open_with(f"X-Admin-OTP: {recovery[0]}")
    check(status == 401 and body.get("otp_required") is True, f"a spent recovery code: {status} {body}")
    check(site.request("POST", "/admin/monitoring/close-port", {"service": "metrics"}, [json_type], user=basic)[0] == 200,
          "the second close")
    check(re.search(r"^alice .* on \(9 recovery codes left\)$", admin_cli(w, "list").stdout, re.M), "admin list after a recovery code")
    # The login needs otp; the next step's code is within the ±1 window.
    status, headers, body = site.request("POST", "/admin/login", {"username": "alice", "password": PASSWORD}, [json_type])
    check(status == 401 and body.get("otp_required") is True and "www-authenticate" not in headers, f"login without otp: {status} {body}")
    status, headers, body = site.request("POST", "/admin/login",
                                         {"username": "alice", "password": PASSWORD, "otp": totp_code(secret, totp_step() + 1)},
                                         [json_type])
    check(status == 200 and len(body["csrf_token"]) == 64, f"login with otp: {status} {body}")
    session = ["Cookie: " + headers["set-cookie"].split(";")[0], "X-CSRF-Token: " + body["csrf_token"], json_type]
    # Just logged in with a code: the door opens without another.
    status, _, body = site.request("POST", "/admin/monitoring/open-port", open_body, session)
    check(status == 200 and body["status"] == "opened", f"a fresh session opening: {status} {body}")
    check(site.request("POST", "/admin/monitoring/close-port", {"service": "metrics"}, session)[0] == 200, "a session close")
    # The session's code is now older than SMS_BRIDGE_OTP_STEP_UP_MINUTES (15): opening asks again,
    # closing does not; the code in the body steps the session up and the door opens.
    w.pg.psql("UPDATE admin_sessions SET otp_at = now() - interval '15 minutes 1 second'")
    status, _, body = site.request("POST", "/admin/monitoring/open-port", open_body, session)
    check(status == 401 and body.get("otp_required") is True and "fresh" in body["detail"], f"no step-up asked: {status} {body}")
    status, _, body = site.request("POST", "/admin/monitoring/open-port", dict(open_body, otp=recovery[1]), session)
    check(status == 200 and body["status"] == "opened", f"the step-up: {status} {body}")
    status, _, body = site.request("POST", "/admin/monitoring/open-port", open_body, session)
    check(status == 200 and body["status"] == "already_open", f"after the step-up: {status} {body}")
    w.pg.psql("UPDATE admin_sessions SET otp_at = now() - interval '14 minutes'")
    check(site.request("POST", "/admin/monitoring/open-port", open_body, session)[0] == 200, "asked again within the window")
    # extend-port gives a door more time: an aged session steps up for it too.
    w.pg.psql("UPDATE admin_sessions SET otp_at = now() - interval '16 minutes'")
    extend = {"service": "metrics", "duration_minutes": 60}
    status, _, body = site.request("POST", "/admin/monitoring/extend-port", extend, session)
    check(status == 401 and body.get("otp_required") is True, f"extend-port without a step-up: {status} {body}")
    status, _, body = site.request("POST", "/admin/monitoring/extend-port", dict(extend, otp=recovery[2]), session)
    check(status == 200 and body["status"] == "extended", f"extend-port with a step-up: {status} {body}")
    # Each check is in the login trail; wrong codes count as failures.
    trail = w.pg.psql("SELECT outcome FROM admin_auth_events WHERE method = 'totp' ORDER BY id").stdout.split()
    check(trail.count("failure") == 3 and trail.count("success") == 5, f"the trail of codes: {trail}")
    # Enrolling ended the sessions opened before; disabling makes alice password-only again.
    r = admin_cli(w, "totp", "disable", "alice")
    check(r.returncode == 0 and "disabled" in r.stdout, f"admin totp disable: {r.returncode} {r.stdout} {r.stderr}")
    check(site.curl("POST", "/admin/monitoring/open-port", open_body)[0] == 200, "an open without a code after disable")
    check(w.pg.psql("SELECT count(*) FROM admin_recovery_codes").stdout.strip() == "0", "recovery codes outlived disable")
    r = admin_cli(w, "totp", "disable", "alice")
    check(r.returncode == 1 and "has no second factor" in r.stderr, f"disable twice: {r.returncode} {r.stderr}")


def scenario_totp_wrong_codes_throttled(w):
    """Wrong codes count toward the login throttle: five for one name from one address block it,
    even with the right password and then the right code."""
    site = Site(w, extra_env={"SMS_BRIDGE_HMAC_SECRET": TOTP_KEY})
    secret, _ = enrol_totp(w, "alice")
    json_type = "Content-Type: application/json"
    for guess in ("000000", "111111", "222222", "333333", "444444"):
        if guess in {totp_code(secret, s) for s in range(totp_step() - 1, totp_step() + 2)}:
            guess = "555555"
        status, _, body = site.request("POST", "/admin/login", {"username": "alice", "password": PASSWORD, "otp": guess}, [json_type])
        check(status == 401 and body.get("otp_required") is True, f"a wrong code at login: {status} {body}")
    status, headers, _ = site.request("POST", "/admin/login",
                                      {"username": "alice", "password": PASSWORD, "otp": totp_code(secret, totp_step())}, [json_type])
    check(status == 429 and int(headers.get("retry-after", "0")) > 0, f"five wrong codes were not throttled: {status} {headers}")


def scenario_totp_required(w):
    """SMS_BRIDGE_REQUIRE_TOTP=true: an admin without a second factor can read but neither log in nor
    change anything, and is told how to enrol; once enrolled, a change with a code works."""
    site = Site(w, extra_env={"SMS_BRIDGE_HMAC_SECRET": TOTP_KEY, "SMS_BRIDGE_REQUIRE_TOTP": "true"})
    json_type = "Content-Type: application/json"
    status, _, body = site.request("POST", "/admin/login", {"username": "alice", "password": PASSWORD}, [json_type])
    check(status == 401 and "sms-bridge-api admin totp enable alice" in body["detail"], f"login: {status} {body}")
    status, body = site.curl("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 30})
    check(status == 401 and "sms-bridge-api admin totp enable alice" in body["detail"], f"open-port: {status} {body}")
    check(site.curl("GET", "/admin/monitoring/services")[0] == 200, "a read was refused")
    secret, _ = enrol_totp(w, "alice")
    status, _, body = site.request("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 30},
                                   [json_type, f"X-Admin-OTP: {totp_code(secret, totp_step())}"], user=f"alice:{PASSWORD}")
    check(status == 200 and body["status"] == "opened", f"open-port once enrolled: {status} {body}")


def scenario_totp_cli_refusals(w):
    """admin totp enable without SMS_BRIDGE_HMAC_SECRET (its key) or for nobody refuses with a sentence."""
    add_admin(w.build_dir, w.pg.url, "alice", PASSWORD)
    r = admin_cli(w, "totp", "enable", "alice")
    check(r.returncode == 2 and "SMS_BRIDGE_HMAC_SECRET" in r.stderr, f"enable without a key: {r.returncode} {r.stderr}")
    r = subprocess.run([w.api_bin, "admin", "totp", "enable", "nobody"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url, SMS_BRIDGE_HMAC_SECRET=TOTP_KEY))
    check(r.returncode == 1 and "no admin named 'nobody'" in r.stderr, f"enable nobody: {r.returncode} {r.stderr}")
    check(w.pg.psql("SELECT count(*) FROM admin_totp").stdout.strip() == "0", "a refused enable enrolled someone")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    def missing(args):
        return missing_server() + absent_tools("psql", "curl", "ip", "runuser", "promtool", "unshare", "openssl")
    return integration_main(__doc__, SCENARIOS, lambda args: World(os.path.abspath(args.build_dir)), missing,
                         prepare=lambda world: world.pg.init())

if __name__ == "__main__":
    sys.exit(main())
