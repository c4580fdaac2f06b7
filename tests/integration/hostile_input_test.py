#!/usr/bin/env python3
"""A table of hostile inputs against every route of sms-bridge-api's public listener.

The server namespace runs PostgreSQL, the firewall helper and sms-bridge-api (kit.stack.Stack);
the requests are raw bytes sent from the laptop namespace (kit.raw, raw_http.py), so malformed HTTP, NUL
bytes and non-UTF-8 reach the daemon as written. Expected of every case: an answer (no crash, no
reset), never a 5xx, and every refusal a JSON {"detail": "<a sentence>"}. Afterwards the daemon
still answers /health, the helper still serves, and the audit tables are intact.

Usage: hostile_input_test.py --build-dir DIR --scenario table   (--list prints the scenarios)
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import base64
import json
import os
import sys

from kit.core import absent_tools, check, integration_main
from kit.postgres import missing_server
from kit.raw import BASIC, js, request, send
from kit.sites import World
from kit.stack import ADMIN_PASSWORD, Stack
SQL = ["' OR '1'='1", "'; DROP TABLE admins; --", "\\'", "$1", "%_%", "\") OR 1=1 --", "1; SELECT pg_sleep(5)"]
CIDRS = ["0.0.0.0/0", "::/0", "10.0.0.1/33", "10.0.0.256", "fe80::1%eth0", "::ffff:1.2.3.4", "1.2.3.4/-1", "",
         "1.2.3.4/32 ", "127.0.0.1/8", "1" * 300, "10.61.0.2/32/32", "[::1]", "224.0.0.1", "255.255.255.255/32"]
BAD_JSON = [b"{", b"[]", b'"text"', b"null", b'{"a":', b"[" * 5000 + b"]" * 5000, b'{"x":' * 3000 + b"1" + b"}" * 3000,
            b'{"service": 1e999999}', b'{"service": 123456789012345678901234567890}', b'{"service": "met\x00rics"}',
            b'{"service": "\xff\xfe\xfd"}', b'{"service": "metrics", "service": "postgres", "duration_minutes": 15}',
            b"\x00\x00\x00", b'{"service": "' + b"a" * 60000 + b'"}', b"\xef\xbb\xbf{}", b'{"service": "\\ud800"}']


def build_cases(cookie, csrf):
    """(name, raw request) pairs: bodies, strings, addresses, limits, traversal, then auth bypasses."""
    cases = []
    add = lambda name, raw: cases.append((name, raw))
    json_posts = ["/admin/monitoring/open-port", "/admin/monitoring/extend-port", "/admin/monitoring/close-port", "/admin/monitoring/open-all",
                  "/admin/monitoring/close-all", "/admin/monitoring/port-config", "/admin/monitoring/port-config/reset",
                  "/admin/login", "/admin/sms/settings", "/admin/blacklist", "/admin/trigger-recovery",
                  "/admin/notifications", "/admin/notifications/test", "/onboarding/register", "/sms/receive", "/pin-setup"]
    sms_headers = {"X-API-Key": "gateway-key-0123456789"}
    # Bad JSON of every kind, to every route that reads a JSON body.
    for path in json_posts:
        for i, body in enumerate(BAD_JSON):
            add(f"bad JSON #{i} to {path}", request("POST", path, body, headers=sms_headers if path == "/sms/receive" else None))
    # SQL metacharacters in every string field.
    for s in SQL:
        add(f"SQL in service (open) {s!r}", request("POST", "/admin/monitoring/open-port", js({"service": s, "duration_minutes": 15})))
        add(f"SQL in reason {s!r}", request("POST", "/admin/monitoring/close-port", js({"service": "metrics", "reason": s})))
        add(f"SQL in open reason {s!r}", request("POST", "/admin/monitoring/open-port", js({"service": "metrics", "duration_minutes": 15, "reason": s})))
        add(f"SQL in extend reason {s!r}", request("POST", "/admin/monitoring/extend-port", js({"service": "metrics", "duration_minutes": 15, "reason": s})))
        add(f"SQL in extend service {s!r}", request("POST", "/admin/monitoring/extend-port", js({"service": s, "duration_minutes": 15})))
        add(f"SQL in mobile (register) {s!r}", request("POST", "/onboarding/register", js({"mobile_number": s})))
        add(f"SQL in message {s!r}", request("POST", "/sms/receive", js({"mobile_number": "+919812345678", "message": s,
                                                                         "received_at": "2026-11-27T10:00:00Z"}), headers=sms_headers))
        add(f"SQL in hash (pin) {s!r}", request("POST", "/pin-setup", js({"mobile_number": "+919812345678", "pin": "1234", "hash": s})))
        add(f"SQL in login name {s!r}", request("POST", "/admin/login", js({"username": s, "password": s}), auth=None))
        add(f"SQL in blacklist {s!r}", request("POST", "/admin/blacklist", js({"mobile_number": s, "reason": s})))
        add(f"SQL in description {s!r}", request("POST", "/admin/monitoring/port-config",
                                                 js({"config": {"metrics": {"port": 9100, "enabled": True, "description": s}}})))
        add(f"SQL in notification settings {s!r}", request("POST", "/admin/notifications",
                                                           js({"notifications": {"ntfy_url": s, "events": [s], "ca_file": s}})))
        q = s.replace(" ", "%20").replace("#", "%23")
        add(f"SQL in history ?service {s!r}", request("GET", f"/admin/monitoring/history?service={q}"))
        add(f"SQL in audit ?action {s!r}", request("GET", f"/admin/monitoring/audit?action={q}&service={q}"))
        add(f"SQL in blacklist path {s!r}", request("DELETE", f"/admin/blacklist/{q}"))
    # CIDR edge cases as a door's source.
    for c in CIDRS:
        add(f"source {c[:40]!r}", request("POST", "/admin/monitoring/open-port", js({"service": "postgres", "duration_minutes": 15, "source": c})))
        add(f"close after source {c[:20]!r}", request("POST", "/admin/monitoring/close-port", js({"service": "postgres"})))
    # Numbers at and past their edges.
    for d in [0, 14, 241, -1, 1e300, "60", None, True, [15], 15.5, 2 ** 63]:
        add(f"duration_minutes {d!r}", request("POST", "/admin/monitoring/open-port", js({"service": "metrics", "duration_minutes": d})))
    for d in ["-1", "0", "99999999999999999999", "abc", "1e3", "%00"]:
        add(f"open-all ?duration_minutes={d}", request("POST", f"/admin/monitoring/open-all?duration_minutes={d}"))
        add(f"history ?limit={d}", request("GET", f"/admin/monitoring/history?limit={d}"))
        add(f"available-ports ?start={d}", request("GET", f"/admin/monitoring/port-config/available-ports?start={d}&end=70000&count={d}"))
        add(f"log tail ?tail={d}", request("GET", f"/admin/monitoring/logs/download/sms-bridge-api.log?tail={d}"))
    for port in [0, 22, 80, 8080, 65536, -5, "9100", 1e10]:
        add(f"port-config port {port!r}", request("POST", "/admin/monitoring/port-config", js({"config": {"metrics": {"port": port, "enabled": True}}})))
    # Traversal in log names.
    for name in ["../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..", ".", "/etc/passwd",
                 "sms-bridge-api.log%00.txt", ".hidden", "a" * 300, "..%5c..%5cwindows", "%252e%252e%252f", "sms-bridge-api.log/..",
                 "~root", "CON", "x%0d%0aSet-Cookie:%20a=b"]:
        add(f"log name {name[:40]!r}", request("GET", f"/admin/monitoring/logs/download/{name}"))
    # Header and body limits, and broken HTTP.
    add("a 20 KiB header", request("GET", "/health", headers={"X-Big": "a" * 20000}, auth=None))
    add("a 70 KiB body", request("POST", "/admin/monitoring/open-port", b'{"service": "' + b"a" * 70000 + b'"}'))
    add("300 headers", request("GET", "/health", headers={f"X-H{i}": "v" for i in range(300)}, auth=None))
    add("Content-Length larger than the body", b"POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\nConnection: close\r\n\r\n{}")
    add("a negative Content-Length", b"POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
    add("two Content-Lengths", b"POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
    add("a huge chunk size", b"POST /admin/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\n")
    add("a NUL in the request line", b"GET /he\x00alth HTTP/1.1\r\nHost: x\r\n\r\n")
    add("a NUL in a header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: b\x00c\r\n\r\n")
    add("non-UTF-8 in the path", b"GET /admin/monitoring/logs/download/\xff\xfe HTTP/1.1\r\nHost: x\r\nAuthorization: " + BASIC.encode() + b"\r\n\r\n")
    add("garbage instead of HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100)
    add("HTTP/0.9", b"GET /\r\n\r\n")
    add("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    add("a very long URL", request("GET", "/admin/monitoring/history?service=" + "a" * 15000))
    add("an absolute-form target", request("GET", "http://evil.example/admin/monitoring/services"))
    for method in ["TRACE", "OPTIONS", "PATCH", "PUT", "BREW", "CONNECT"]:
        add(f"method {method}", request(method, "/admin/monitoring/services"))
    add("form-encoded state change with Basic", request("POST", "/admin/monitoring/close-all", b"x=1",
                                                      content_type="application/x-www-form-urlencoded"))
    add("wrong content type, JSON body", request("POST", "/admin/monitoring/open-port", js({"service": "metrics"}), content_type="text/plain"))
    add("/admin/trigger-recovery without a body", request("POST", "/admin/trigger-recovery"))
    add("/sms/receive without an API key", request("POST", "/sms/receive", js({"mobile_number": "+919812345678", "message": "x",
                                                                                "received_at": "2026-11-27T10:00:00Z"}), auth=None))
    add("/sms/receive with a wrong API key", request("POST", "/sms/receive", js({"mobile_number": "+919812345678", "message": "x"}),
                                                     headers={"X-API-Key": "wrong"}, auth=None))
    add("/sms/receive with the key in the query", request("POST", "/sms/receive?api_key=gateway-key-0123456789", js({}), auth=None))
    # Auth bypass attempts (last: failures count towards the per-source throttle).
    session = f"sms_bridge_session={cookie}"
    add("session cookie without CSRF", request("POST", "/admin/monitoring/close-all", headers={"Cookie": session}, auth=None))
    add("session cookie with a wrong CSRF", request("POST", "/admin/monitoring/close-all", headers={"Cookie": session, "X-CSRF-Token": "0" * 64}, auth=None))
    add("CSRF token without the session", request("POST", "/admin/monitoring/close-all", headers={"X-CSRF-Token": csrf}, auth=None))
    add("a made-up session cookie", request("GET", "/admin/monitoring/services", headers={"Cookie": "sms_bridge_session=" + "a" * 64}, auth=None))
    add("a session cookie with SQL", request("GET", "/admin/monitoring/services", headers={"Cookie": "sms_bridge_session=' OR 1=1 --"}, auth=None))
    add("two session cookies", request("GET", "/admin/session", headers={"Cookie": f"sms_bridge_session=x; {session}"}, auth=None))
    add("X-Forwarded-For from an untrusted peer", request("POST", "/admin/monitoring/open-port", js({"service": "redis", "duration_minutes": 15}),
                                                         headers={"X-Forwarded-For": "8.8.8.8"}))
    add("close redis", request("POST", "/admin/monitoring/close-port", js({"service": "redis"})))
    for name, auth in [("no Authorization", None), ("an empty Authorization", ""), ("Basic with nothing", "Basic "),
                       ("Basic not base64", "Basic !!!***"), ("Basic without a colon", "Basic " + base64.b64encode(b"ops").decode()),
                       ("Basic with extra colons", "Basic " + base64.b64encode(b"ops:wrong:more:colons").decode()),
                       ("Basic with an empty user", "Basic " + base64.b64encode(b":" + ADMIN_PASSWORD.encode()).decode()),
                       ("Basic with NUL", "Basic " + base64.b64encode(b"ops\x00:x").decode()),
                       ("Bearer", "Bearer abc"), ("Digest", 'Digest username="ops"'),
                       ("Basic 10 KiB", "Basic " + "QUFB" * 2500), ("Basic of SQL", "Basic " + base64.b64encode(b"' OR 1=1 --:x").decode())]:
        add(f"auth: {name}", request("GET", "/admin/monitoring/services", auth=auth))
        add(f"auth: {name}, state change", request("POST", "/admin/monitoring/close-all", auth=auth))
    return cases


def scenario_table(w):
    site = Stack(w)
    pg = site.start_postgres()
    site.start_helper()
    site.start_api(pg)
    login = send(site, [request("POST", "/admin/login", js({"username": "ops", "password": ADMIN_PASSWORD}), auth=None)])[0]
    check(login["status"] == 200, f"login: {login}")
    cookie = login["headers"]["set-cookie"].split(";")[0].split("=", 1)[1]
    csrf = json.loads(login["body"])["csrf_token"]
    cases = build_cases(cookie, csrf)
    check(len(cases) >= 150, f"only {len(cases)} cases")
    answers = send(site, [raw for _, raw in cases])
    problems, by_status = [], {}
    for (name, _), a in zip(cases, answers):
        status = a["status"]
        by_status[status] = by_status.get(status, 0) + 1
        if status == 0:
            problems.append(f"{name}: no answer ({a['error']})")
        elif status >= 500:
            problems.append(f"{name}: {status} {a['body'][:200]}")
        elif status >= 400:
            try:
                detail = json.loads(a["body"])["detail"]
            except (ValueError, KeyError, TypeError):
                problems.append(f"{name}: {status} without a JSON detail: {a['body'][:200]!r}")
                continue
            if not (isinstance(detail, str) and len(detail) >= 8 and " " in detail and detail.rstrip().endswith((".", "?"))):
                problems.append(f"{name}: {status} detail is not a sentence: {detail!r}")
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items()))
    print(f"{len(cases)} hostile cases; answers by status: {summary}")
    check(not problems, f"{len(problems)} of {len(cases)} cases misbehaved:\n  " + "\n  ".join(problems))
    # Still alive and intact.
    health = send(site, [request("GET", "/health", auth=None)])[0]
    check(health["status"] == 200 and json.loads(health["body"])["status"] in ("healthy", "degraded"), f"/health afterwards: {health}")
    check(site.w.processes[0].poll() is None and site.w.processes[1].poll() is None, "the helper or the api-daemon died")
    for table in ("admin_users", "admin_sessions", "monitoring_port_access", "sync_outbox", "sms_blacklist", "onboarding_codes"):
        r = pg.psql(f"SELECT count(*) FROM {table}", check_rc=False)
        check(r.returncode == 0, f"table {table} is gone: {r.stderr}")
    r = pg.psql("SELECT count(*) FROM admin_users WHERE username = 'ops'")
    check(r.stdout.strip() == "1", "the admin account changed")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    def missing(args):
        return absent_tools("ip", "psql", "runuser") + missing_server()
    return integration_main(__doc__, SCENARIOS, lambda args: World(os.path.abspath(args.build_dir), "sms-bridge-deploy-"), missing)

if __name__ == "__main__":
    sys.exit(main())
