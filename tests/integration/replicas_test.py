#!/usr/bin/env python3
"""Two SMS Bridge servers on one PostgreSQL, as users run them behind a load balancer.

Each scenario starts two sms-bridge-api processes on one throwaway cluster and drives both at
once: what one of them does, the other must see, and nothing either does may happen twice.
- sms_*, delivery: the two api-daemons on this machine's loopback (no helper: the SMS paths do
  not need one), requests alternating or racing between them.
- admins: the same two; a session made on one, ended on one, and a password changed by the CLI,
  each seen at once by the other, which keeps admins and sessions in memory; and failed logins
  on one counted by the other's login throttle.
- doors: two server namespaces, each with its own firewall helper and api-daemon, and a laptop
  namespace beside each; the shared audit trail tells the servers apart.
- laptop: the same two servers, and one laptop whose Prometheus scrapes both through their doors.

Usage: replicas_test.py --build-dir DIR --scenario NAME
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from kit import sites
from kit.api import add_admin, api_bin, curl, start_api
from kit.backend import Backend
from kit.core import TestFailure, absent_tools, check, integration_main
from kit.helper import start_helper, write_config
from kit.postgres import Postgres, missing_server

SECRET, API_KEY = "hmac-secret-0123456789", "gateway-key-0123456789"
PASSWORD = "correct horse battery"


class World(sites.World):
    def __init__(self, build_dir):
        super().__init__(build_dir, "sms-bridge-replicas-")
        self.api_bin = api_bin(build_dir)
        self.pg = Postgres()

    def log(self):
        """Both servers' last lines."""
        text = ""
        for name in ("one", "two"):
            try:
                with open(os.path.join(self.tmp, name, "api.log"), errors="replace") as f:
                    text += f"--- {name} ---\n" + f.read()[-2000:]
            except OSError:
                pass
        return text


def start_replica(w, name, env, command_prefix=()):
    """sms-bridge-api `name` with its own log, settings file and history under w.tmp/name."""
    d = os.path.join(w.tmp, name)
    os.makedirs(d, exist_ok=True)
    w.api_log = os.path.join(d, "api.log")  # start_api logs there and waits on it
    full = dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url, SMS_BRIDGE_LOG_DIR=os.path.join(d, "logs"),
                SMS_BRIDGE_HISTORY_FILE=os.path.join(d, "metrics-history.bin"), SMS_BRIDGE_HMAC_SECRET=SECRET,
                SMS_BRIDGE_SMS_API_KEY=API_KEY, **env)
    def own_log():
        with open(w.api_log, errors="replace") as f:
            return f.read()
    # Ready once this server's listening line is whole (it names the public and the metrics listener).
    start_api(w, [*command_prefix, w.api_bin], full, ready=lambda: re.search(r"listening on \S+ \(public\) and", own_log()))
    return d, own_log()


class LoopbackReplica:
    """One api-daemon on 127.0.0.1, its settings file written by the scenario."""

    def __init__(self, w, name, server_ip, settings):
        self.name = name
        path = os.path.join(w.tmp, f"{name}-settings.json")
        settings = dict(settings)
        ca = settings.pop("_ca", None)  # the backend's private CA, if the scenario has one
        with open(path, "w") as f:
            json.dump({"version": "2.3.0", "settings": settings}, f)
        env = {"SMS_BRIDGE_LISTEN": "127.0.0.1:0", "SMS_BRIDGE_METRICS_LISTEN": "127.0.0.1:0",
               "SMS_BRIDGE_FIREWALL_SOCKET": os.path.join(w.tmp, "no-helper.sock"),
               "SMS_BRIDGE_SERVER_IP": server_ip, "SMS_BRIDGE_SETTINGS_FILE": path}
        if ca:
            env["SMS_BRIDGE_BACKEND_CA_FILE"] = ca
        _, log = start_replica(w, name, env)
        self.port = int(re.search(r"listening on 127\.0\.0\.1:(\d+) \(public\)", log).group(1))

    def post(self, path, body):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-API-Key": API_KEY})
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            raise TestFailure(f"{self.name} {path}: no HTTP answer ({e})")


def sms_settings(**overrides):
    body = {"sms_receiver_number": "+919000000000", "allowed_prefix": "ONBOARD:", "hash_length": 8, "ttl_hash_seconds": 900,
            "allowed_countries": ["+91"], "count_threshold": 50, "count_window_seconds": 3600}
    body.update(overrides)
    return body


def two_loopback(w, **settings):
    return (LoopbackReplica(w, "one", "10.240.0.1", sms_settings(**settings)),
            LoopbackReplica(w, "two", "10.240.0.2", sms_settings(**settings)))


def at_once(calls):
    """Runs every call in its own thread, released together; their answers in order."""
    answers = [None] * len(calls)
    start = threading.Barrier(len(calls))
    def run(i, call):
        start.wait()
        try:
            answers[i] = call()
        except TestFailure as e:
            answers[i] = e
    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for a in answers:
        if isinstance(a, TestFailure):
            raise a
    return answers


def sms(replica, mobile, code):
    return replica.post("/sms/receive", {"mobile_number": mobile, "message": "ONBOARD:" + code, "received_at": "2026-12-02T10:00:00Z"})


# ---------------------------------------------------------------------------------------------

def scenario_sms_once(w):
    """The same SMS reaching both servers at the same moment verifies its number once: one server
    answers "received", the other "code already used", and one PIN may be set."""
    one, two = two_loopback(w)
    numbers = [f"+9198000{n:05d}" for n in range(12)]
    for i, mobile in enumerate(numbers):
        status, reg = (one, two)[i % 2].post("/onboarding/register", {"mobile_number": mobile})
        check(status == 200, f"register {mobile}: {status} {reg}")
        answers = at_once([lambda r=r, m=mobile, c=reg["hash"]: sms(r, m, c) for r in (one, two)])
        outcomes = sorted(body.get("reason", body["status"]) for _, body in answers)
        check(outcomes == ["code already used", "received"], f"{mobile}, the same SMS at both servers: {answers}")
        pins = at_once([lambda r=r, m=mobile, c=reg["hash"]: r.post("/pin-setup", {"mobile_number": m, "pin": "1234", "hash": c})
                        for r in (two, one)])
        check(sorted(s for s, _ in pins) == [200, 409], f"{mobile}, one PIN at both servers: {pins}")
    queued = w.pg.psql("SELECT count(*), count(DISTINCT mobile_number) FROM sync_outbox").stdout.split("|")
    check([int(n) for n in queued] == [12, 12], f"one account per number was not queued: {queued}")


def scenario_sms_count_check(w):
    """The count check holds across both servers: a number that sends more SMS than count_threshold
    within the window, to either server, all at once, has exactly count_threshold of them checked."""
    threshold = 3
    one, two = two_loopback(w, count_threshold=threshold)
    for mobile in ("+919811100001", "+919811100002", "+919811100003"):
        answers = at_once([lambda r=(one, two)[i % 2]: sms(r, mobile, "AAAAAAAA") for i in range(10)])
        reasons = [body.get("reason") for _, body in answers]
        check(all(s == 200 for s, _ in answers), f"{mobile}: {answers}")
        check(reasons.count("unknown code") == threshold and reasons.count("too many messages") == 10 - threshold,
              f"{mobile}: 10 SMS at once across two servers, threshold {threshold}: {reasons}")


def scenario_delivery(w):
    """Every account queued through either server reaches the backend exactly once, in the order it
    was queued, while both servers' delivery workers run: first a burst (one worker drains it while
    the other keeps trying the leased head), then one account at a time (whichever worker looks
    first takes it, so both take part)."""
    backend = Backend(w.tmp, SECRET)
    backend.delay = 0.05  # each delivery takes a while: the other worker has time to try the same item
    # Each server delivers to its own path of the one backend, so the backend tells who delivered.
    url = f"https://localhost:{backend.port}/sync/"
    one = LoopbackReplica(w, "one", "10.240.0.1", dict(sms_settings(sync_url=url + "one"), _ca=backend.ca))
    two = LoopbackReplica(w, "two", "10.240.0.2", dict(sms_settings(sync_url=url + "two"), _ca=backend.ca))
    numbers = [f"+9198200{n:05d}" for n in range(30)]
    delivered = lambda: int(w.pg.psql("SELECT count(*) FROM sync_outbox WHERE status = 'delivered'").stdout.strip())

    def wait_delivered(count, seconds):
        deadline = time.monotonic() + seconds
        while delivered() < count and time.monotonic() < deadline:
            time.sleep(0.05)
        check(delivered() == count, f"delivered {delivered()} of {count}")

    for i, mobile in enumerate(numbers):
        first, second = (one, two) if i % 2 else (two, one)
        _, reg = first.post("/onboarding/register", {"mobile_number": mobile})
        _, got = second.post("/sms/receive", {"mobile_number": mobile, "message": "ONBOARD:" + reg["hash"], "received_at": "x"})
        check(got["status"] == "received", f"receive {mobile}: {got}")
        status, body = first.post("/pin-setup", {"mobile_number": mobile, "pin": "1234", "hash": reg["hash"]})
        check(status == 200, f"pin-setup {mobile}: {status} {body}")
        # A worker that finds the queue empty looks again a second later; the one that just
        # delivered is the later of the two, so the other one usually takes the next account.
        if i >= 20:
            wait_delivered(i + 1, 30)
    wait_delivered(30, 60)
    time.sleep(2)  # a second delivery of an item would arrive by now
    keys = [k for _, k, _ in backend.received]
    order = [p["mobile_number"] for _, _, p in backend.received]
    check(len(keys) == 30 and len(set(keys)) == 30, f"{len(keys)} deliveries of 30 items ({len(keys) - len(set(keys))} twice)")
    check(order == numbers, f"delivered out of order: {order}")
    check(backend.bad_signatures == 0, "a delivery had a bad signature")
    by = {path: sum(1 for p, _, _ in backend.received[20:] if p == path) for path in ("/sync/one", "/sync/two")}
    check(all(by.values()), f"one server delivered every account queued one at a time, so the test proved no sharing: {by}")
    attempts = w.pg.psql("SELECT sum(attempts) FROM sync_outbox").stdout.strip()
    check(attempts == "30", f"an item was attempted more than once: {attempts} attempts for 30 items")


def admin_call(replica, method, path, body=None, cookie=None, user=None, csrf=None):
    """An admin request to one server: (status, Set-Cookie, parsed body)."""
    headers = {"Content-Type": "application/json"}
    if csrf:
        headers["X-CSRF-Token"] = csrf
    if cookie:
        headers["Cookie"] = cookie
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(f"http://127.0.0.1:{replica.port}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.headers.get("Set-Cookie", ""), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, "", json.loads(e.read() or b"null")


def scenario_admins(w):
    """Each server keeps the admins and sessions it read in memory, and forgets them when
    PostgreSQL announces a change from the other server or the CLI: a session made on one works on
    the other, a logout on one ends it on both at once, and so does a password change."""
    one, two = two_loopback(w)
    add_admin(w.build_dir, w.pg.url, "alice", PASSWORD)
    for server in (one, two):
        check(admin_call(server, "GET", "/admin/session", user=f"alice:{PASSWORD}")[0] == 200, f"Basic on {server.name}")
    status, cookie, body = admin_call(one, "POST", "/admin/login", {"username": "alice", "password": PASSWORD})
    check(status == 200, f"login on one: {status} {body}")
    session, csrf = cookie.split(";")[0], body["csrf_token"]
    for _ in range(3):  # read, then kept
        status, _, body = admin_call(two, "GET", "/admin/session", cookie=session)
        check(status == 200 and body["username"] == "alice", f"one's session on two: {status} {body}")
    status, _, body = admin_call(one, "POST", "/admin/logout", cookie=session, csrf=csrf)
    check(status == 200, f"logout on one: {status} {body}")
    status, _, _ = admin_call(two, "GET", "/admin/session", cookie=session)
    check(status == 401, f"a session ended on one still works on two: {status}")
    r = subprocess.run([w.api_bin, "admin", "passwd", "alice"], input="another long password\n", capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=w.pg.url))
    check(r.returncode == 0, f"admin passwd: {r.returncode} {r.stderr}")
    for server in (one, two):
        status = admin_call(server, "GET", "/admin/session", user=f"alice:{PASSWORD}")[0]
        check(status == 401, f"the old password still works on {server.name} after passwd: {status}")
        status = admin_call(server, "GET", "/admin/session", user="alice:another long password")[0]
        check(status == 200, f"the new password on {server.name}: {status}")
    # One login throttle for both: a guesser's failures on one count on two. Two has seen one failure
    # of this pair itself (the old password above), below the limit of five; with one's five more
    # it refuses even the right password (a login form: no cached verification skips the check).
    for _ in range(5):
        status = admin_call(one, "GET", "/admin/session", user="alice:a wrong guess")[0]
        check(status in (401, 429), f"a wrong password on one: {status}")
    time.sleep(1)  # NOTIFY reaches two within milliseconds
    status, _, body = admin_call(two, "POST", "/admin/login", {"username": "alice", "password": "another long password"})
    check(status == 429, f"two let the pair log in after five failures on one: {status} {body}")


class Server(sites.Site):
    """A server namespace with its own helper and api-daemon, and a laptop namespace beside it."""

    def __init__(self, w, letter, name, server_ip, laptop_ip):
        super().__init__(w, letter, server_ip, laptop_ip, server_if=f"s-{letter.lower()}")
        d = os.path.join(w.tmp, name)
        os.makedirs(d, exist_ok=True)
        self.socket = os.path.join(d, "fw.sock")
        config = write_config(os.path.join(d, "helper.json"), {
            "socket": self.socket, "state_file": os.path.join(d, "port_mappings.json"),
            "services": {"metrics": {"target": "127.0.0.1:9464"}}, "duration_seconds": {"min": 1, "max": 14400}})
        start_helper(w, ["ip", "netns", "exec", self.server], config, self.socket)
        start_replica(w, name, {"SMS_BRIDGE_LISTEN": f"{server_ip}:8080", "SMS_BRIDGE_METRICS_LISTEN": "127.0.0.1:9464",
                                "SMS_BRIDGE_FIREWALL_SOCKET": self.socket, "SMS_BRIDGE_SERVER_IP": server_ip,
                                "SMS_BRIDGE_SETTINGS_FILE": os.path.join(d, "sms_settings.json"),
                                "SMS_BRIDGE_RECONCILE_INTERVAL_SECONDS": "2"},
                      command_prefix=["ip", "netns", "exec", self.server])

    def admin(self, method, path, body=None):
        return curl(self.laptop, method, f"http://{self.server_ip}:8080{path}", body, f"alice:{PASSWORD}")


def scenario_doors(w):
    """Each server's doors are its own in the shared audit trail: rows carry the server's address,
    one server's reconcile never closes the other's doors, and a close on one server closes only
    its door."""
    add_admin(w.build_dir, w.pg.url, "alice", PASSWORD)
    a = Server(w, "A", "one", "10.241.1.1", "10.241.1.2")
    b = Server(w, "B", "two", "10.241.2.1", "10.241.2.2")
    for s in (a, b):
        status, body = s.admin("POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60})
        check(status == 200, f"open on {s.server_ip}: {status} {body}")
    def rows():
        return w.pg.psql("SELECT server_ip || ':' || action FROM monitoring_port_access ORDER BY id").stdout.split()
    deadline = time.monotonic() + 10
    while len(rows()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    check(sorted(rows()) == ["10.241.1.1:opened", "10.241.2.1:opened"], f"the trail after an open on each server: {rows()}")
    # Both reconcile every 2 s against their own helper, which knows only its own door.
    time.sleep(7)
    still = w.pg.psql("SELECT server_ip FROM monitoring_ports_currently_open ORDER BY 1").stdout.split()
    check(still == ["10.241.1.1", "10.241.2.1"], f"a reconcile closed the other server's door in the trail: {rows()}")
    status, body = b.admin("POST", "/admin/monitoring/close-port", {"service": "metrics"})
    check(status == 200, f"close on B: {status} {body}")
    deadline = time.monotonic() + 10
    while len(rows()) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # and a reconcile round after it
    check(sorted(rows()) == ["10.241.1.1:opened", "10.241.2.1:closed", "10.241.2.1:opened"], f"the trail after B's close: {rows()}")
    status, body = a.admin("GET", "/admin/monitoring/port-status")
    check(status == 200 and "metrics" in json.dumps(body), f"A's door after B's close: {status} {body}")
    # The helpers number their events independently: an event number that both servers used is
    # recorded once for each (the trail used to take the second for a repeat of the first).
    seq = w.pg.psql("SELECT helper_seq FROM monitoring_port_access WHERE server_ip = '10.241.1.1'").stdout.strip()
    new = w.pg.psql(f"SELECT record_port_opened('metrics', 9100, 9464, 'alice', 60, '10.241.2.1', NULL, 'other-grant', {seq})").stdout.strip()
    again = w.pg.psql(f"SELECT record_port_opened('metrics', 9100, 9464, 'alice', 60, '10.241.2.1', NULL, 'other-grant', {seq})").stdout.strip()
    first = w.pg.psql(f"SELECT id FROM monitoring_port_access WHERE server_ip = '10.241.1.1'").stdout.strip()
    check(new != first and again == new, f"server B's event {seq}: row {new}, again {again}; server A's: row {first}")


def scenario_laptop(w):
    """One laptop's Prometheus scrapes both servers through their doors, from the configuration one
    server exports with ?servers= naming the other: each target up, told apart by its server label."""
    add_admin(w.build_dir, w.pg.url, "alice", PASSWORD)
    a = Server(w, "A", "one", "10.241.1.1", "10.241.1.2")
    b = Server(w, "B", "two", "10.241.2.1", "10.241.2.2")
    # The laptop beside A reaches B too, over a second link into B's namespace.
    laptop = a.laptop
    sites.veth(b.server, "s-b2", "10.241.3.1", laptop, "l-b2", "10.241.3.2")
    sites.netns(b.server, "sysctl", "-qw", "net.ipv4.conf.s-b2.route_localnet=1")
    sites.netns(laptop, "ip", "route", "add", "10.241.2.1/32", "via", "10.241.3.1")
    for s in (a, b):
        status, body = curl(laptop, "POST", f"http://{s.server_ip}:8080/admin/monitoring/open-port",
                            {"service": "metrics", "duration_minutes": 60}, f"alice:{PASSWORD}")
        check(status == 200 and body["status"] == "opened", f"open on {s.server_ip} from the laptop: {status} {body}")
    status, text = curl(laptop, "GET", "http://10.241.1.1:8080/admin/monitoring/export-prometheus-config?servers=10.241.2.1",
                        user=f"alice:{PASSWORD}")
    check(status == 200 and "10.241.2.1:9100" in str(text), f"export with ?servers=: {status} {text}")
    config = os.path.join(w.tmp, "prometheus-remote.yml")
    with open(config, "w") as f:
        f.write(text)
    r = subprocess.run(["promtool", "check", "config", config], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"promtool rejected the two-server config: {r.stdout} {r.stderr}")
    prom = subprocess.Popen(["ip", "netns", "exec", laptop, "prometheus", f"--config.file={config}",
                             f"--storage.tsdb.path={os.path.join(w.tmp, 'prometheus-data')}", "--web.listen-address=127.0.0.1:9090"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(w.tmp, "prometheus.log"), "w"))
    w.processes.append(prom)

    def up_by_server():
        status, answer = curl(laptop, "GET", "http://127.0.0.1:9090/api/v1/query?query=up%7Bjob%3D%22sms_bridge%22%7D")
        if status != 200:
            return {}
        return {r["metric"].get("server"): r["value"][1] for r in answer["data"]["result"]}
    deadline = time.monotonic() + 90  # Prometheus scrapes each target within one 15 s interval of its start
    while up_by_server() != {"10.241.1.1": "1", "10.241.2.1": "1"} and time.monotonic() < deadline:
        time.sleep(1)
    check(up_by_server() == {"10.241.1.1": "1", "10.241.2.1": "1"}, f"the laptop's scrapes of the two servers: {up_by_server()}")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    def missing(args):
        return missing_server() + absent_tools("psql", "curl", "ip", "runuser", "prometheus", "promtool")
    return integration_main(__doc__, SCENARIOS, lambda args: World(os.path.abspath(args.build_dir)), missing,
                            prepare=lambda world: world.pg.init())


if __name__ == "__main__":
    sys.exit(main())
