#!/usr/bin/env python3
"""Hostile clients against the real stack (kit.stack.Stack: PostgreSQL,
the firewall helper and sms-bridge-api in a server namespace, the attacker in a laptop namespace).

Scenarios:
  floods  three connections send an endless chunk extension, an endless trailer and an endless
          request line at once; each must get a 400 with a sentence within 64 KiB past the header
          limit (plus what the two kernel socket buffers hold, pinned small here), and the daemon's
          RSS must grow by less than 48 MiB. Prints RSS before and after.
  csrf    a state change with Basic credentials and no Content-Type (what a cross-site no-cors
          fetch sends), or text/plain, or a look-alike type, is a 415 and opens no door; JSON is
          accepted; a session still needs its CSRF token.
  source_floor  sources /1, /8 and /9 are refused by the helper itself (sms-bridge-fwctl) and
          through the API (422 with the helper's sentence), a /24 is accepted.
  numbers durations whose conversion to seconds would overflow (4611686018427387964 minutes wraps
          to 3600 s) are 422 in the body and in open-all's query, and open nothing.
  sessions `sms-bridge-api admin passwd` ends that admin's browser sessions (and the old password's
          Basic logins) at once; `admin remove` ends the removed admin's.
  lockout twelve wrong passwords for the admin from a stranger's address block that address, not
          the admin at another one; when strangers at many addresses attack, the admin's address
          with a recent successful login is not slowed, and a new address is slowed, not blocked.
  connections  one address cannot hold more than its share of connections (429 and close beyond it)
          while /health keeps answering others, and the total cap answers 503.
  emfile  with its descriptors exhausted (prlimit) the daemon pauses accepting instead of spinning
          (CPU seconds measured while 300 connections wait), then serves again.
  pins    a PIN is stored sealed, never as digits; a failed item's PIN is wiped after
          SMS_BRIDGE_PIN_RETENTION_SECONDS and trigger-recovery does not requeue it without one.
  sms_budget one address can register, and set up PINs, only so often (429 with Retry-After);
          another address is not affected; malformed requests do not use the budget.
  retention rows older than SMS_BRIDGE_RETENTION_DAYS leave the SMS log, the login trail, spent
          codes and delivered outbox items (at start, then hourly); newer ones, pending items,
          live codes and the doors' audit trail stay; the login trail is still append-only.

Usage: hostile_client_test.py --build-dir DIR --scenario NAME   (--list prints the scenarios)
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import base64
import json
import os
import subprocess
import sys
import time

from kit.api import api_bin
from kit.core import absent_tools, check, integration_main
from kit.helper import helper_bin
from kit.postgres import missing_server
from kit.raw import js, request, send
from kit.sites import World
from kit.stack import ADMIN_PASSWORD, SERVER_IP, Stack

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER_LIMIT = 16 * 1024
# The server namespace's TCP receive buffer is capped at 64 KiB and the client's send buffer at
# 16 KiB (the kernel doubles it), so at most this much can be in flight, unread by the daemon.
IN_FLIGHT = 64 * 1024 + 32 * 1024


def rss_kib(pid, field="VmRSS"):
    """The process's resident memory now (VmRSS) or at its peak so far (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(field + ":"))


def run_floods(site, floods, max_bytes, seconds=15):
    spec = {"host": SERVER_IP, "port": 8080, "max_bytes": max_bytes, "seconds": seconds,
            "floods": [{"head": base64.b64encode(h).decode(), "piece": base64.b64encode(p).decode()} for h, p in floods]}
    r = subprocess.run(["ip", "netns", "exec", site.laptop, sys.executable, os.path.join(HERE, "flood_http.py")],
                       input=json.dumps(spec), capture_output=True, text=True, timeout=seconds + 30)
    check(r.returncode == 0, f"flood_http.py: {r.stderr}")
    return json.loads(r.stdout)


def health(site):
    status, text = site.laptop_curl(f"http://{SERVER_IP}:8080/health")
    return status


def scenario_floods(w):
    site = Stack(w)
    site.ns(site.server, "sysctl", "-qw", "net.ipv4.tcp_rmem=4096 16384 65536")  # this namespace only
    pg = site.start_postgres()
    site.start_helper()
    site.start_api(pg)
    api_pid = w.processes[-1].pid
    for _ in range(20):
        health(site)
    before = rss_kib(api_pid)
    chunked = b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    floods = [("chunk extension", chunked + b"1;", b"a" * 4096),
              ("trailer", chunked + b"1\r\nx\r\n0\r\nX-Trailer: ", b"b" * 4096),
              ("request line", b"GET /", b"c" * 4096)]
    # 40 MiB each: without a bound the daemon would buffer all of it (3 x 40 MiB > 48 MiB).
    results = run_floods(site, [(h, p) for _, h, p in floods], max_bytes=40 << 20)
    # The peak, not the RSS after: a flood's buffer is freed when its connection ends.
    after = rss_kib(api_pid, "VmHWM")
    print(f"RSS of sms-bridge-api: {before} KiB before, peak {after} KiB during three floods (+{after - before} KiB)")
    problems = []
    for (name, _, _), r in zip(floods, results):
        print(f"  {name}: sent {r['sent']} bytes, ended {r['ended']}, status {r['status']} {r['body'][:120]}")
        if r["status"] != 400:
            problems.append(f"{name}: status {r['status']} ({r['ended']}) after {r['sent']} bytes, not 400")
            continue
        try:
            detail = json.loads(r["body"])["detail"]
        except (ValueError, KeyError, TypeError):
            detail = None
        if not (isinstance(detail, str) and detail.endswith(".")):
            problems.append(f"{name}: the 400 has no sentence: {r['body'][:200]!r}")
        if not r["closed_after"]:
            problems.append(f"{name}: the connection stayed open after the 400")
        if r["sent"] > HEADER_LIMIT + 64 * 1024 + IN_FLIGHT:
            problems.append(f"{name}: {r['sent']} bytes were taken before the 400 (limit {HEADER_LIMIT + 64 * 1024} + {IN_FLIGHT} in flight)")
    check(not problems, "; ".join(problems))
    check(after - before < 48 * 1024, f"the daemon grew by {(after - before) // 1024} MiB under three floods (limit 48 MiB)")
    check(health(site) == 200, "/health does not answer after the floods")


def fwctl(site, *args):
    r = subprocess.run([helper_bin(site.w.build_dir, "sms-bridge-fwctl"), "--socket", site.socket, *args],
                       capture_output=True, text=True, timeout=15)
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else None


def grants(site):
    code, answer = fwctl(site, "list")
    check(code == 0, f"fwctl list: {answer}")
    return answer["list"].get("grants", [])


def detail_of(answer):
    try:
        return json.loads(answer["body"])["detail"]
    except (ValueError, KeyError, TypeError):
        return None


def full_site(w):
    site = Stack(w)
    pg = site.start_postgres()
    site.start_helper()
    site.start_api(pg)
    return site, pg


def login(site, user="ops", password=None):
    answer = send(site, [request("POST", "/admin/login", js({"username": user, "password": password or ADMIN_PASSWORD}), auth=None)])[0]
    check(answer["status"] == 200, f"login: {answer}")
    return answer["headers"]["set-cookie"].split(";")[0].split("=", 1)[1], json.loads(answer["body"])["csrf_token"]


def scenario_csrf(w):
    site, _ = full_site(w)
    door = js({"service": "metrics", "duration_minutes": 15})
    refused = [("no Content-Type", None), ("text/plain", "text/plain"), ("a form", "application/x-www-form-urlencoded"),
               ("multipart", "multipart/form-data; boundary=x"), ("a look-alike", "application/jsonx"), ("text/json", "text/json")]
    answers = send(site, [request("POST", "/admin/monitoring/open-port", door, content_type=t) for _, t in refused])
    for (name, _), a in zip(refused, answers):
        check(a["status"] == 415, f"Basic open-port with {name}: {a['status']} {a['body'][:200]}, not 415")
        check("application/json" in (detail_of(a) or ""), f"Basic open-port with {name}: no sentence naming the type: {a['body'][:200]}")
    # Body-less state changes too (close-all has no body; a Blob-less no-cors POST looks like this).
    a = send(site, [request("POST", "/admin/monitoring/open-all", content_type=None)])[0]
    check(a["status"] == 415, f"Basic open-all without a type: {a['status']}")
    check(grants(site) == [], f"a refused request opened a door: {grants(site)}")
    a = send(site, [request("POST", "/admin/monitoring/open-port", door, content_type="application/json; charset=utf-8")])[0]
    check(a["status"] == 200, f"Basic open-port as JSON: {a['status']} {a['body'][:200]}")
    check(len(grants(site)) == 1, "the JSON request did not open the door")
    a = send(site, [request("POST", "/admin/monitoring/close-port", js({"service": "metrics"}), content_type="Application/JSON")])[0]
    check(a["status"] == 200 and grants(site) == [], f"Basic close-port as JSON: {a['status']} {a['body'][:200]}")
    # Cookie sessions keep their CSRF token (and do not need the type: the token is the proof).
    cookie, csrf = login(site)
    session = {"Cookie": f"sms_bridge_session={cookie}"}
    a = send(site, [request("POST", "/admin/monitoring/open-port", door, headers=session, auth=None)])[0]
    check(a["status"] == 403 and grants(site) == [], f"a session without its CSRF token: {a['status']}")
    a = send(site, [request("POST", "/admin/monitoring/open-port", door, headers={**session, "X-CSRF-Token": csrf}, auth=None)])[0]
    check(a["status"] == 200 and len(grants(site)) == 1, f"a session with its CSRF token: {a['status']} {a['body'][:200]}")
    print("Basic without application/json: 415 for all 7 kinds, no door opened; JSON and sessions with CSRF work")


def scenario_source_floor(w):
    site, _ = full_site(w)
    wide = ["0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8", "10.0.0.0/9"]
    answers = send(site, [request("POST", "/admin/monitoring/open-port", js({"service": "metrics", "duration_minutes": 15, "source": c}))
                          for c in wide])
    for c, a in zip(wide, answers):
        detail = detail_of(a) or ""
        check(a["status"] == 422 and "min_source_prefix_v4" in detail, f"API open with source {c}: {a['status']} {a['body'][:200]}")
    # The helper itself, asked directly: a compromised api-daemon gains nothing.
    for c in ["0.0.0.0/1", "10.0.0.0/8"]:
        code, answer = fwctl(site, "open", "metrics", "--port", "9100", "--source", c, "--duration", "900")
        check(code == 1 and answer and answer.get("error", {}).get("code") == "SOURCE_NOT_ALLOWED",
              f"fwctl open --source {c}: exit {code}, {answer}")
    check(grants(site) == [], f"a wide source opened a door: {grants(site)}")
    a = send(site, [request("POST", "/admin/monitoring/open-port", js({"service": "metrics", "duration_minutes": 15, "source": "10.61.0.0/24"}))])[0]
    check(a["status"] == 200, f"a /24 source: {a['status']} {a['body'][:200]}")
    check([g["source"] for g in grants(site)] == ["10.61.0.0/24"], f"the /24 door: {grants(site)}")
    print(f"sources {', '.join(wide)}: 422 from the API, SOURCE_NOT_ALLOWED from the helper; a /24 opens")


def scenario_numbers(w):
    site, _ = full_site(w)
    overflowing = [4611686018427387964, -4611686018427387964, 2 ** 63 - 1, -(2 ** 63), 2 ** 63, 2 ** 64 + 60, 307445734561825861]
    raws = [request("POST", "/admin/monitoring/open-port", js({"service": "metrics", "duration_minutes": m})) for m in overflowing]
    raws += [request("POST", "/admin/monitoring/open-port", js({"service": "metrics", "duration_seconds": m})) for m in overflowing]
    raws += [request("POST", f"/admin/monitoring/open-all?duration_minutes={m}", headers={"Content-Type": "application/json"})
             for m in overflowing]
    answers = send(site, raws)
    for raw, a in zip(raws, answers):
        line = raw.split(b"\r\n")[0].decode()
        check(a["status"] == 422 and "whole number" in (detail_of(a) or ""), f"{line} {raw.rsplit(b'{', 1)[-1][:60]!r}: {a['status']} {a['body'][:200]}")
    check(grants(site) == [], f"an overflowing duration opened a door: {grants(site)}")
    print(f"{len(raws)} overflowing durations: 422 each, no door opened")


def admin_command(site, pg, *args, password=""):
    api = api_bin(site.w.build_dir)
    r = subprocess.run([api, "admin", *args], input=password + "\n", capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=pg.url))
    check(r.returncode == 0, f"admin {' '.join(args)}: {r.stderr}")


def session_status(site, cookie):
    return send(site, [request("GET", "/admin/session", headers={"Cookie": f"sms_bridge_session={cookie}"}, auth=None)])[0]["status"]


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def scenario_sessions(w):
    site, pg = full_site(w)
    cookie, _ = login(site)
    check(session_status(site, cookie) == 200, "a fresh session does not work")
    check(send(site, [request("GET", "/admin/session")])[0]["status"] == 200, "Basic with the password does not work")
    new_password = "a brand new password 123"
    admin_command(site, pg, "passwd", "ops", password=new_password)
    # At once: no wait, no restart.
    status = session_status(site, cookie)
    check(status == 401, f"the session still answers {status} after admin passwd")
    status = send(site, [request("GET", "/admin/session")])[0]["status"]
    check(status == 401, f"Basic with the old password answers {status} after admin passwd")
    cookie2, _ = login(site, password=new_password)
    check(session_status(site, cookie2) == 200, "a session with the new password does not work")
    admin_command(site, pg, "add", "eve", password="eve's password 1234")
    cookie3, _ = login(site, "eve", "eve's password 1234")
    check(session_status(site, cookie3) == 200, "eve's session does not work")
    admin_command(site, pg, "remove", "eve")
    status = session_status(site, cookie3)
    check(status == 401, f"a removed admin's session answers {status}")
    check(session_status(site, cookie2) == 200, "removing eve ended ops's session")
    print("admin passwd: the old session and the old password answer 401 at once; admin remove: 401 at once")


def basic_from(site, address, password):
    """GET /admin/session with Basic ops:password from `address` (one of the laptop's); (status, Retry-After)."""
    r = site.ns(site.laptop, "curl", "-s", "-m", "20", "--interface", address, "-o", "/dev/null", "-D", "-", "-w", "%{http_code}",
                "-u", f"ops:{password}", f"http://{SERVER_IP}:8080/admin/session", check_rc=False)
    lines = r.stdout.strip().splitlines()
    retry = next((int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("retry-after:")), 0)
    return int(lines[-1][-3:]) if lines else 0, retry


def login_from(site, address, password):
    """POST /admin/login as ops from `address` (never cached, unlike Basic); (status, Retry-After)."""
    r = site.ns(site.laptop, "curl", "-s", "-m", "20", "--interface", address, "-o", "/dev/null", "-D", "-", "-w", "%{http_code}",
                "-H", "Content-Type: application/json", "--data-binary", json.dumps({"username": "ops", "password": password}),
                f"http://{SERVER_IP}:8080/admin/login", check_rc=False)
    lines = r.stdout.strip().splitlines()
    retry = next((int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("retry-after:")), 0)
    return int(lines[-1][-3:]) if lines else 0, retry


def scenario_lockout(w):
    site, _ = full_site(w)
    strangers = [f"10.61.0.{i}" for i in range(100, 104)]
    newcomer = "10.61.0.120"
    for address in strangers + [newcomer, "10.61.0.110"]:
        site.ns(site.laptop, "ip", "addr", "add", f"{address}/24", "dev", "l-eth")
    # The case: twelve failures from one stranger.
    codes = [basic_from(site, strangers[0], f"guess{i}")[0] for i in range(12)]
    check(codes[:5] == [401] * 5 and set(codes[5:]) == {429}, f"the stranger's answers: {codes}")
    status, _ = basic_from(site, "10.61.0.2", ADMIN_PASSWORD)
    check(status == 200, f"the admin at another address answers {status} after a stranger's twelve failures")
    # Many strangers: the admin's name is under attack (20 failures > 10).
    for address in strangers[1:]:
        codes = [basic_from(site, address, f"guess-{address}-{i}")[0] for i in range(5)]
        check(all(c in (401, 429) for c in codes), f"stranger {address}: {codes}")
    for _ in range(3):
        status, _ = basic_from(site, "10.61.0.2", ADMIN_PASSWORD + " ")  # a new credential: no cache, a real check
        check(status in (401,), f"the admin's trusted address, wrong password: {status} (must be checked, not throttled)")
        status, _ = basic_from(site, "10.61.0.2", ADMIN_PASSWORD)
        check(status == 200, f"the admin's trusted address is throttled: {status}")
    # A new address with the right password, just after another stranger took the name's slot:
    # slowed (429 with a short Retry-After), never blocked.
    time.sleep(5)  # the strangers' last attempts took the slot for up to 5 s
    status, _ = basic_from(site, "10.61.0.110", "one more guess")
    check(status == 401, f"a fresh stranger's guess: {status}")
    deadline = time.monotonic() + 15
    status, retry = login_from(site, newcomer, ADMIN_PASSWORD)
    check(status == 429, f"a new address right after a stranger's guess, while the name is under attack: {status}, not slowed")
    waits = []
    while status == 429 and time.monotonic() < deadline:
        check(0 < retry <= 5, f"the newcomer's Retry-After is {retry}, not a short slow-down")
        waits.append(retry)
        time.sleep(retry)
        status, retry = login_from(site, newcomer, ADMIN_PASSWORD)
    check(status == 200, f"a new address with the right password is blocked: {status}")
    print(f"a stranger's 12 failures: 5 × 401 then 429, the admin elsewhere 200; under attack from {len(strangers)} addresses "
          f"the admin's address 200 at once, a new address 200 after waiting {sum(waits)} s")


def hold_connections(site, address, count, seconds):
    """Opens `count` idle connections from `address` in the laptop namespace and keeps them for
    `seconds`; returns a Popen whose stdout will give {"held": N, "refused": {status: n}}."""
    code = f"""
import json, socket, time, select
conns, refused = [], {{}}
for _ in range({count}):
    s = socket.socket(); s.bind(("{address}", 0)); s.settimeout(5)
    try:
        s.connect(("{SERVER_IP}", 8080))
    except OSError as e:
        refused["connect"] = refused.get("connect", 0) + 1; continue
    conns.append(s)
time.sleep(1)
held = []
for s in conns:
    r, _, _ = select.select([s], [], [], 0)
    if r:
        data = s.recv(4096)
        key = data.split(b" ")[1].decode() if data.startswith(b"HTTP/") else "closed"
        refused[key] = refused.get(key, 0) + 1
    else:
        held.append(s)
print(json.dumps({{"held": len(held), "refused": refused}}), flush=True)
time.sleep({seconds})
"""
    return subprocess.Popen(["ip", "netns", "exec", site.laptop, sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def health_from(site, address):
    r = site.ns(site.laptop, "curl", "-s", "-m", "5", "--interface", address, "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                f"http://{SERVER_IP}:8080/health", check_rc=False)
    code, _, took = r.stdout.partition(" ")
    return int(code or 0), float(took or 0)


def scenario_connections(w):
    site = Stack(w)
    pg = site.start_postgres()
    site.start_helper()
    site.start_api(pg, extra_env={"SMS_BRIDGE_MAX_CONNECTIONS": "100", "SMS_BRIDGE_MAX_CONNECTIONS_PER_SOURCE": "64"})
    extra = [f"10.61.0.{i}" for i in range(30, 34)]
    for address in extra:
        site.ns(site.laptop, "ip", "addr", "add", f"{address}/24", "dev", "l-eth")
    hog = hold_connections(site, "10.61.0.2", 80, 20)
    w.processes.append(hog)
    counts = json.loads(hog.stdout.readline())
    check(counts["held"] == 64 and counts["refused"] == {"429": 16}, f"one address's 80 connections: {counts}")
    status, took = health_from(site, extra[0])
    check(status == 200 and took < 3, f"/health from another address while one holds its cap: {status} in {took:.1f} s")
    status, _ = health_from(site, "10.61.0.2")
    check(status == 429, f"/health from the address at its cap: {status}")
    # The total cap (100 here): a second address takes 36 more, then everyone gets 503.
    hog2 = hold_connections(site, extra[1], 40, 20)
    w.processes.append(hog2)
    counts2 = json.loads(hog2.stdout.readline())
    check(counts2["held"] == 36 and counts2["refused"] == {"503": 4}, f"the total cap: {counts2}")
    status, _ = health_from(site, extra[2])
    check(status == 503, f"/health with the server at its total cap: {status}")
    for p in (hog, hog2):
        p.kill()
        p.wait()
    time.sleep(0.5)
    status, took = health_from(site, "10.61.0.2")
    check(status == 200, f"/health after the connections closed: {status}")
    print(f"one address: 64 held, 16 refused with 429, /health from another 200 in {took:.2f} s; total cap: 36 more held, "
          f"4 refused with 503")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scenario_emfile(w):
    site = Stack(w)
    pg = site.start_postgres()
    site.start_helper()
    site.start_api(pg, extra_env={"SMS_BRIDGE_MAX_CONNECTIONS": "4096", "SMS_BRIDGE_MAX_CONNECTIONS_PER_SOURCE": "4096"},
                   prefix=("prlimit", "--nofile=128:128"))
    api_pid = w.processes[-1].pid
    hog = hold_connections(site, "10.61.0.2", 300, 20)
    w.processes.append(hog)
    json.loads(hog.stdout.readline())  # the connections are open (most of them queued: no descriptors left)
    before = cpu_seconds(api_pid)
    time.sleep(3)
    spent = cpu_seconds(api_pid) - before
    print(f"CPU of sms-bridge-api over 3 s with its descriptors exhausted: {spent:.2f} s")
    check(spent < 0.5, f"the daemon spent {spent:.2f} CPU seconds in 3 s with its descriptors exhausted (a spinning accept loop)")
    hog.kill()
    hog.wait()
    deadline = time.monotonic() + 10
    status = 0
    while time.monotonic() < deadline and status != 200:
        status, _ = health_from(site, "10.61.0.2")
        time.sleep(0.2)
    check(status == 200, f"/health after the descriptors were freed: {status}")


def scenario_pins(w):
    site = Stack(w)
    pg = site.start_postgres()
    site.start_helper()
    site.start_api(pg, extra_env={"SMS_BRIDGE_PIN_RETENTION_SECONDS": "3"})
    site.sms_traffic(1)  # register, SMS, PIN 1234: queued (no sync_url)
    rows = pg.psql("SELECT pin FROM sync_outbox").stdout.split()
    check(len(rows) == 1 and rows[0].startswith("v1:") and "1234" not in rows[0], f"the stored PIN: {rows}")
    # Still pending: kept past the retention (only failed items are wiped)...
    time.sleep(4)
    check(pg.psql("SELECT count(*) FROM sync_outbox WHERE pin IS NOT NULL").stdout.strip() == "1", "a pending item lost its PIN")
    # ... failed (ten attempts): wiped within the retention's tenth (1 s here) after it is due.
    pg.psql("UPDATE sync_outbox SET status = 'failed', attempts = 10")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and pg.psql("SELECT count(*) FROM sync_outbox WHERE pin IS NULL").stdout.strip() != "1":
        time.sleep(0.2)
    check(pg.psql("SELECT count(*) FROM sync_outbox WHERE pin IS NULL").stdout.strip() == "1", "a failed item's PIN outlived its retention")
    a = send(site, [request("POST", "/admin/trigger-recovery", headers={"Content-Type": "application/json"})])[0]
    check(a["status"] == 200 and json.loads(a["body"])["requeued"] == 0, f"trigger-recovery requeued a PIN-less item: {a['body'][:200]}")
    print("PIN stored sealed (v1:…), a failed item's PIN wiped after 3 s, not requeued without it")


def scenario_sms_budget(w):
    site = Stack(w)
    pg = site.start_postgres()
    site.start_helper()
    site.start_api(pg, extra_env={"SMS_BRIDGE_SMS_REQUESTS_PER_SOURCE": "5"})
    other = "10.61.0.40"
    site.ns(site.laptop, "ip", "addr", "add", f"{other}/24", "dev", "l-eth")
    malformed = send(site, [request("POST", "/onboarding/register", js({"mobile_number": "nope"}), auth=None) for _ in range(8)])
    check(all(a["status"] == 400 for a in malformed), f"malformed registrations: {[a['status'] for a in malformed]}")
    raws = [request("POST", "/onboarding/register", js({"mobile_number": f"+9198123400{i:02d}"}), auth=None) for i in range(7)]
    answers = send(site, raws)
    codes = [a["status"] for a in answers]
    check(codes[:5] == [200] * 5 and codes[5:] == [429, 429], f"seven registrations from one address: {codes}")
    check(int(answers[5]["headers"].get("retry-after", "0")) > 0 and "registrations" in (detail_of(answers[5]) or ""),
          f"the refusal: {answers[5]}")
    status, text = site.laptop_curl(f"http://{SERVER_IP}:8080/onboarding/register", "--interface", other, "-H", "Content-Type: application/json",
                                    "--data-binary", json.dumps({"mobile_number": "+919812340099"}))
    check(status == 200, f"a registration from another address: {status} {text}")
    pins = send(site, [request("POST", "/pin-setup", js({"mobile_number": "+919812340000", "pin": "1234", "hash": "WRONG123"}), auth=None)
                       for _ in range(7)])
    codes = [a["status"] for a in pins]
    check(codes[:5] == [409] * 5 and codes[5:] == [429, 429], f"seven PIN setups from one address: {codes}")
    rows = pg.psql("SELECT count(*) FROM onboarding_codes").stdout.strip()
    check(rows == "6", f"onboarding_codes rows: {rows} (5 from one address, 1 from another)")
    print(f"one address: 5 registrations then 429 (Retry-After {answers[5]['headers'].get('retry-after')} s), 5 PIN setups then 429; "
          "another address unaffected; 8 malformed requests did not count")


def scenario_retention(w):
    site = Stack(w)
    pg = site.start_postgres()
    api = os.path.join(w.build_dir, "api-daemon", "sms-bridge-api")
    r = subprocess.run([api, "migrate"], capture_output=True, text=True, timeout=60, env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=pg.url))
    check(r.returncode == 0, f"migrate: {r.stderr}")
    old, new = "now() - interval '40 days'", "now() - interval '1 day'"
    for at in (old, new):
        pg.psql(f"INSERT INTO sms_bridge_logs (at, event, status, mobile_masked, mobile_hash) VALUES ({at}, 'receive', 'ok', '+91******', 'h')")
        pg.psql(f"INSERT INTO admin_auth_events (at, username, source, method, outcome) VALUES ({at}, 'ops', '10.0.0.1', 'basic', 'failure')")
        pg.psql(f"INSERT INTO sync_outbox (mobile_number, payload, status, delivered_at, created_at) VALUES "
                f"('+919800000001', '{{}}', 'delivered', {at}, {at})")
    pg.psql(f"INSERT INTO onboarding_codes (mobile_number, hash, generated_at, expires_at, consumed_at) VALUES "
            f"('+919800000001', 'SPENT001', {old}, {old}, {old}), ('+919800000001', 'EXPIRED1', {old}, {old}, NULL), "
            f"('+919800000001', 'FRESH001', {new}, now() + interval '1 hour', NULL)")
    pg.psql(f"INSERT INTO sync_outbox (mobile_number, payload, status, created_at) VALUES ('+919800000002', '{{}}', 'pending', {old})")
    pg.psql("SELECT record_port_opened('metrics', 9100, 8080, 'ops', 60, NULL, NULL, 'g-old', 1, now() - interval '400 days')")
    refused = pg.psql("DELETE FROM admin_auth_events", check_rc=False)
    check(refused.returncode != 0 and "append-only" in refused.stderr, f"an ordinary DELETE of the login trail: {refused.stderr}")
    site.start_helper()
    site.start_api(pg, extra_env={"SMS_BRIDGE_RETENTION_DAYS": "31"})
    count = lambda sql: pg.psql(sql).stdout.strip()
    expected = {"SELECT count(*) FROM sms_bridge_logs WHERE at < now() - interval '31 days'": "0",
                "SELECT count(*) FROM admin_auth_events WHERE at < now() - interval '31 days'": "0",
                "SELECT count(*) FROM sync_outbox WHERE status = 'delivered'": "1",
                "SELECT string_agg(hash, ',' ORDER BY hash) FROM onboarding_codes": "FRESH001",
                "SELECT count(*) FROM sync_outbox WHERE status = 'pending'": "1",
                "SELECT count(*) FROM monitoring_port_access WHERE grant_id = 'g-old' AND action = 'opened'": "1"}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(count(q) != v for q, v in expected.items()):
        time.sleep(0.3)
    wrong = {q: count(q) for q, v in expected.items() if count(q) != v}
    check(not wrong, f"after retention: {wrong}")
    check(count("SELECT count(*) FROM sms_bridge_logs") != "0" and count("SELECT count(*) FROM admin_auth_events") != "0",
          "retention removed recent rows")
    print("retention (31 days): 40-day-old log, login, spent/expired code and delivered rows gone; recent rows, a pending item, "
          "a live code and a 400-day-old door audit row kept; an ordinary DELETE of the login trail still refused")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    def missing(args):
        return absent_tools("ip", "psql", "runuser", "curl") + missing_server()
    return integration_main(__doc__, SCENARIOS, lambda args: World(os.path.abspath(args.build_dir), "sms-bridge-deploy-"), missing)


if __name__ == "__main__":
    sys.exit(main())
