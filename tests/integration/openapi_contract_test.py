#!/usr/bin/env python3
"""docs/openapi.yaml against real answers: every documented (path, method, status) is produced by a
real request and its body validated against the documented schema.

The server namespace runs PostgreSQL, the firewall helper and sms-bridge-api as deployed
(kit.stack.Stack); requests come from the laptop namespace with curl, as a client would send them.
The document is the one the daemon serves at /admin/openapi.json (checked equal to the YAML). The
scenario goes through phases that produce each status for real: normal use, a corrupt settings
file (500), a missing log directory (503), the helper stopped (503), then PostgreSQL stopped (503).
Every answer must have the status its case expects, a documented status (or the operation's
`default`), a documented content type and a body the schema accepts (python3-jsonschema). It fails
if any documented (path, method, status) was never produced, so the document cannot rot.

Usage: openapi_contract_test.py --build-dir DIR --scenario contract   (--list prints the scenarios)
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse

from kit.api import add_admin
from kit.core import absent_tools, check, integration_main
from kit.postgres import missing_server
from kit.sites import World
from kit.stack import ADMIN_PASSWORD, SERVER_IP, Stack

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PUBLIC = f"http://{SERVER_IP}:8080"
METRICS = "http://127.0.0.1:9464"
SPARE_PASSWORD = "spare-admin-password-42"  # an admin never used before the database stops: not cached
STATUS_MARK = "\n@@status@@"


def python_modules_missing():
    missing = []
    for module, package in (("jsonschema", "python3-jsonschema"), ("yaml", "python3-yaml")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    return missing


# --- the document -------------------------------------------------------------------------------

class Contract:
    """The served document: finds an operation for a request and validates answers against it,
    counting which documented (path, method, status) were produced."""

    def __init__(self, document):
        import jsonschema
        self.jsonschema = jsonschema
        self.doc = document
        self.covered = set()
        self.documented = set()
        self.templates = []
        for path, item in document["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"
            self.templates.append((path, re.compile(pattern)))
            for method, op in item.items():
                if method in ("servers", "parameters", "summary", "description"):
                    continue
                for status in op["responses"]:
                    if status != "default":
                        self.documented.add((path, method, status))

    def resolve(self, node):
        """A schema (or response) with every $ref replaced and OpenAPI's `nullable` in JSON Schema terms."""
        if isinstance(node, list):
            return [self.resolve(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = self.doc
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return self.resolve(target)
        out = {k: self.resolve(v) for k, v in node.items() if k not in ("nullable", "example", "format")}
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        return out

    def template_of(self, path):
        found = [t for t, rx in self.templates if t == path] or [t for t, rx in self.templates if rx.match(path)]
        check(found, f"{path} is served but matches no path of the document")
        return found[0]

    def validate(self, method, target, status, content_type, text, headers=None):
        path = self.template_of(target.split("?")[0])
        op = self.doc["paths"][path].get(method.lower())
        check(op is not None, f"{method} {path} is not in the document")
        responses = op["responses"]
        key = str(status) if str(status) in responses else "default"
        check(key in responses, f"{method} {target} answered {status}, which the document does not list: {text[:200]}")
        response = self.resolve(responses[key])
        if key != "default":
            self.covered.add((path, method.lower(), key))
        for name, header in response.get("headers", {}).items():
            if header.get("required") and headers is not None:
                check(name.lower() in headers, f"{method} {target} {status}: the documented header {name} is missing")
        content = response.get("content", {})
        media = content_type.split(";")[0].strip()
        check(media in content, f"{method} {target} {status}: Content-Type {content_type!r}, documented {sorted(content)}")
        schema = content[media]["schema"]
        body = json.loads(text) if media == "application/json" else text
        errors = sorted(self.jsonschema.Draft7Validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
        check(not errors, f"{method} {target} {status}: the body does not match the schema: " +
              "; ".join(f"{e.message} at {list(e.absolute_path)}" for e in errors[:3]) + f": {text[:300]}")
        return body

    def check_request(self, method, target, body):
        """A request the server accepted must be one the document allows: its JSON body matches the
        documented request schema (so the request side of the document is true too)."""
        path = self.template_of(target.split("?")[0])
        request = self.doc["paths"][path][method.lower()].get("requestBody")
        check(request is not None, f"{method} {path} accepted a body, but the document describes none")
        schema = self.resolve(request)["content"]["application/json"]["schema"]
        errors = list(self.jsonschema.Draft7Validator(schema).iter_errors(json.loads(body) if isinstance(body, str) else body))
        check(not errors, f"{method} {target} accepted a body the document refuses: " + "; ".join(e.message for e in errors[:3]))

    def missing(self):
        return sorted(self.documented - self.covered)


# --- requests -----------------------------------------------------------------------------------

class Client:
    """curl from one namespace; every answer goes through the contract."""

    def __init__(self, ns, contract, base=PUBLIC):
        self.ns, self.contract, self.base = ns, contract, base
        self.cases = 0

    def raw(self, method, target, body=None, headers=(), user=None, base=None):
        cmd = ["ip", "netns", "exec", self.ns, "curl", "-s", "-m", "15", "-D", "-", "-o", "-", "-X", method,
               "-w", STATUS_MARK + "%{http_code} %{content_type}"]
        for h in headers:
            cmd += ["-H", h]
        if user:
            cmd += ["-u", user]
        if body is not None:
            cmd += ["--data-binary", body if isinstance(body, str) else json.dumps(body)]
        r = subprocess.run(cmd + [(base or self.base) + target], capture_output=True, text=True, timeout=30)
        answer, _, tail = r.stdout.rpartition(STATUS_MARK)
        code, _, content_type = tail.partition(" ")
        head, _, text = answer.partition("\n\n")  # text mode turned CRLF into LF
        headers = {line.partition(":")[0].strip().lower(): line.partition(":")[2].strip() for line in head.split("\n")[1:]}
        return int(code or 0), content_type, text, headers

    def expect(self, status, method, target, body=None, headers=(), user=None, base=None, json_body=True):
        """One case: the answer must have `status` and match the document. Returns the parsed body."""
        if json_body and (body is not None or method != "GET"):  # as an API client must, for Basic
            headers = ("Content-Type: application/json", *headers)
        got, content_type, text, answer_headers = self.raw(method, target, body, headers, user, base)
        self.cases += 1
        check(got == status, f"{method} {target}: expected {status}, got {got}: {text[:300]}")
        if 200 <= got < 300 and body is not None and json_body:
            self.contract.check_request(method, target, body)
        return self.contract.validate(method, target, got, content_type, text, answer_headers)


def concrete(path):
    """A request target for a documented path: its parameters filled with harmless values."""
    return path.replace("{mobile_number}", "%2B919800000009").replace("{name}", "nothing.log")


# --- the scenario -------------------------------------------------------------------------------

def contract(w):
    s = Stack(w)
    pg = s.start_postgres()
    s.start_helper()
    add_admin(w.build_dir, pg.url, "spare", SPARE_PASSWORD)
    logs = os.path.join(w.tmp, "logs")
    os.makedirs(logs, exist_ok=True)
    s.start_api(pg, extra_env={"SMS_BRIDGE_SMS_REQUESTS_PER_SOURCE": "5"})
    settings_file = os.path.join(w.tmp, "sms_settings.json")

    raw_doc = subprocess.run(["ip", "netns", "exec", s.laptop, "curl", "-s", "-m", "10", PUBLIC + "/admin/openapi.json"],
                             capture_output=True, text=True, timeout=30).stdout
    import yaml
    with open(os.path.join(REPO, "docs", "openapi.yaml"), encoding="utf-8") as f:
        check(json.loads(raw_doc) == yaml.safe_load(f), "/admin/openapi.json is not docs/openapi.yaml")
    c = Contract(json.loads(raw_doc))
    laptop = Client(s.laptop, c)
    server = Client(s.server, c)  # 10.61.0.1: not the laptop's rate budget, and not loopback
    ops = f"ops:{ADMIN_PASSWORD}"
    spare = f"spare:{SPARE_PASSWORD}"

    # Public pages, the document, health and metrics.
    for target in ("/admin/openapi.json", "/admin", "/admin/", "/admin/assets/app.js", "/admin/assets/app.css",
                   "/admin/assets/favicon.svg"):
        laptop.expect(200, "GET", target)
    health = laptop.expect(200, "GET", "/health")
    check(health["status"] == "healthy", f"/health: {health}")
    server.expect(200, "GET", "/health", base=METRICS)
    server.expect(200, "GET", "/metrics", base=METRICS)
    sampled = server.expect(200, "GET", "/metrics/history?since=0", base=METRICS)
    check(sampled.endswith("# EOF\n"), f"/metrics/history does not end in # EOF: {sampled[-200:]}")
    server.expect(400, "GET", "/metrics/history?since=yesterday", base=METRICS)
    # With the history off (a second api on ports of its own, for this one request): 404.
    off_metrics = "http://127.0.0.1:9465"
    answers = lambda: subprocess.run(["ip", "netns", "exec", s.server, "curl", "-s", "-o", "/dev/null", "-m", "2",
                                      off_metrics + "/health"], capture_output=True).returncode == 0
    off = s.start_api(pg, extra_env={"SMS_BRIDGE_HISTORY_BYTES": "0", "SMS_BRIDGE_LISTEN": "0.0.0.0:8081",
                                     "SMS_BRIDGE_METRICS_LISTEN": "127.0.0.1:9465"}, ready=answers, log_mode="a", second=True)
    server.expect(404, "GET", "/metrics/history", base=off_metrics)
    off.kill()
    off.wait(timeout=10)
    w.processes.remove(off)

    # Logins and sessions.
    got, content_type, text, answer_headers = laptop.raw("POST", "/admin/login", json.dumps({"username": "ops", "password": ADMIN_PASSWORD}),
                                                         ("Content-Type: application/json",))
    check(got == 200, f"login: {got} {text}")
    c.validate("POST", "/admin/login", got, content_type, text, answer_headers)
    cookie = answer_headers["set-cookie"].split(";")[0].strip()
    got, content_type, text, answer_headers = laptop.raw(
        "POST", "/admin/login", "username=ops&password=" + urllib.parse.quote_plus(ADMIN_PASSWORD),
        ("Content-Type: application/x-www-form-urlencoded",))
    check(got == 200, f"form login: {got} {text}")
    c.validate("POST", "/admin/login", got, content_type, text, answer_headers)
    session_headers = (f"Cookie: {cookie}",)
    session = laptop.expect(200, "GET", "/admin/session", headers=session_headers)
    csrf = session.get("csrf_token")
    check(csrf, f"a browser session's /admin/session carries its CSRF token: {session}")
    laptop.expect(200, "GET", "/admin/session", user=ops)
    laptop.expect(401, "POST", "/admin/login", {"username": "ops", "password": "wrong password"})
    laptop.expect(422, "POST", "/admin/login", {"username": "ops"})
    throttled = False
    for _ in range(8):
        got, content_type, text, answer_headers = laptop.raw("POST", "/admin/login", json.dumps({"username": "guesser", "password": "x"}),
                                             ("Content-Type: application/json",))
        c.validate("POST", "/admin/login", got, content_type, text, answer_headers)
        if got == 429:
            throttled = True
            break
        check(got == 401, f"a failed login answers 401 until throttled, got {got}")
    check(throttled, "failed logins for one name from one address are throttled (429)")

    # The gate's refusals, on every admin operation that documents them.
    for path, method, status in sorted(c.documented):
        target = concrete(path)
        if status == "401" and path != "/admin/login":
            laptop.expect(401, method.upper(), target)
        elif status == "415":
            laptop.expect(415, method.upper(), target, "{}", headers=("Content-Type: text/plain",), user=ops, json_body=False)
        elif status == "403" and path.startswith("/admin/"):
            laptop.expect(403, method.upper(), target, "{}", headers=session_headers)

    # Doors.
    laptop.expect(200, "GET", "/admin/monitoring/services", user=ops)
    laptop.expect(200, "GET", "/admin/monitoring/port-status", user=ops)
    laptop.expect(200, "GET", "/admin/monitoring/port-config", user=ops)
    laptop.expect(200, "GET", "/admin/monitoring/port-config/available-ports?start=9000&end=9100&count=5", user=ops)
    laptop.expect(422, "GET", "/admin/monitoring/port-config/available-ports?start=10", user=ops)
    laptop.expect(400, "POST", "/admin/monitoring/open-port", "[]", user=ops)
    laptop.expect(422, "POST", "/admin/monitoring/open-port", {"service": ""}, user=ops)
    laptop.expect(404, "POST", "/admin/monitoring/open-port", {"service": "nosuch"}, user=ops)
    laptop.expect(400, "POST", "/admin/monitoring/open-port", {"service": "pgbouncer"}, user=ops)
    opened = laptop.expect(200, "POST", "/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 15}, user=ops)
    check(opened["status"] == "opened", f"open-port: {opened}")
    again = laptop.expect(200, "POST", "/admin/monitoring/open-port", {"service": "metrics"}, user=ops)
    check(again["status"] == "already_open", f"open-port again: {again}")
    status = laptop.expect(200, "GET", "/admin/monitoring/port-status", user=ops)
    check("metrics" in status, f"port-status lists the open door: {status}")
    laptop.expect(400, "POST", "/admin/monitoring/extend-port", "[]", user=ops)
    laptop.expect(422, "POST", "/admin/monitoring/extend-port", {"service": "metrics"}, user=ops)
    laptop.expect(404, "POST", "/admin/monitoring/extend-port", {"service": "nosuch", "duration_minutes": 20}, user=ops)
    extended = laptop.expect(200, "POST", "/admin/monitoring/extend-port",
                             {"service": "metrics", "duration_minutes": 20, "reason": "contract test"}, user=ops)
    check(extended["status"] == "extended" and extended["previous_expires_at"] == opened["expires_at"], f"extend-port: {extended}")
    laptop.expect(200, "GET", "/admin/monitoring/services", user=ops)
    door_config = {"metrics": {"port": 9100, "enabled": True, "description": "Prometheus metrics endpoint"},
                   "postgres": {"port": 5433, "enabled": True, "description": "PostgreSQL database access"}}
    laptop.expect(409, "POST", "/admin/monitoring/port-config", {"config": door_config}, user=ops)
    laptop.expect(409, "POST", "/admin/monitoring/port-config/reset", user=ops)
    laptop.expect(400, "POST", "/admin/monitoring/close-port", "[]", user=ops)
    laptop.expect(422, "POST", "/admin/monitoring/close-port", {"service": "metrics", "reason": 5}, user=ops)
    laptop.expect(200, "POST", "/admin/monitoring/close-port", {"service": "metrics", "reason": "contract test"}, user=ops)
    laptop.expect(404, "POST", "/admin/monitoring/close-port", {"service": "metrics"}, user=ops)
    laptop.expect(404, "POST", "/admin/monitoring/extend-port", {"service": "metrics", "duration_minutes": 20}, user=ops)
    laptop.expect(400, "POST", "/admin/monitoring/open-all", "[]", user=ops)
    laptop.expect(422, "POST", "/admin/monitoring/open-all?duration_minutes=abc", user=ops)
    laptop.expect(200, "POST", "/admin/monitoring/open-all", {"duration_minutes": 15}, user=ops)
    closed = laptop.expect(200, "POST", "/admin/monitoring/close-all", user=ops)
    check(closed["closed_count"] >= 1, f"close-all closed the doors open-all opened: {closed}")
    laptop.expect(400, "POST", "/admin/monitoring/port-config", "[]", user=ops)
    laptop.expect(422, "POST", "/admin/monitoring/port-config", {"config": {}}, user=ops)
    stored = laptop.expect(200, "POST", "/admin/monitoring/port-config", {"config": door_config}, user=ops)
    check(stored["status"] == "success", f"port-config: {stored}")
    reset = laptop.expect(200, "POST", "/admin/monitoring/port-config/reset", user=ops)
    check(reset["status"] == "reset", f"reset: {reset}")
    laptop.expect(200, "GET", "/admin/monitoring/export-prometheus-config", user=ops)
    laptop.expect(422, "GET", "/admin/monitoring/export-prometheus-config?servers=not-an-address", user=ops)

    # The audit trail (the doors above are in it) and the logs.
    history = laptop.expect(200, "GET", "/admin/monitoring/history?service=metrics", user=ops)
    check(history["history"], f"history holds the metrics door: {history}")
    laptop.expect(422, "GET", "/admin/monitoring/history?limit=0", user=ops)
    events = laptop.expect(200, "GET", "/admin/monitoring/audit?action=opened", user=ops)
    check(events["events"], f"audit holds the openings: {events}")
    laptop.expect(422, "GET", "/admin/monitoring/audit?action=bogus", user=ops)
    with open(os.path.join(logs, "sms-bridge-api.log"), "w") as f:
        f.write("one line\ntwo lines\n")
    with open(os.path.join(logs, "huge.log"), "wb") as f:
        f.truncate(11 << 20)
    listed = laptop.expect(200, "GET", "/admin/monitoring/logs/list", user=ops)
    check("application" in listed["logs"], f"logs/list names the application's log: {listed}")
    laptop.expect(200, "GET", "/admin/monitoring/logs/download/application?tail=1", user=ops)
    laptop.expect(200, "GET", "/admin/monitoring/logs/download/sms-bridge-api.log", user=ops)
    laptop.expect(404, "GET", "/admin/monitoring/logs/download/missing.log", user=ops)
    laptop.expect(413, "GET", "/admin/monitoring/logs/download/huge.log", user=ops)
    laptop.expect(422, "GET", "/admin/monitoring/logs/download/huge.log?tail=0", user=ops)

    # Notifications.
    laptop.expect(200, "GET", "/admin/notifications", user=ops)
    laptop.expect(400, "POST", "/admin/notifications", "[]", user=ops)
    laptop.expect(422, "POST", "/admin/notifications", {"notifications": {"events": ["bogus"]}}, user=ops)
    laptop.expect(409, "POST", "/admin/notifications/test", user=ops)
    laptop.expect(200, "POST", "/admin/notifications", {"notifications": {"ntfy_url": "http://127.0.0.1:9/doors"}}, user=ops)
    laptop.expect(202, "POST", "/admin/notifications/test", user=ops)

    # SMS administration.
    laptop.expect(200, "GET", "/admin/sms/settings", user=ops)
    laptop.expect(400, "POST", "/admin/sms/settings", "[]", user=ops)
    laptop.expect(422, "POST", "/admin/sms/settings", {"settings": {"bogus": 1}}, user=ops)
    laptop.expect(200, "POST", "/admin/sms/settings", {"settings": {"count_threshold": 5}}, user=ops)
    blocked = "+919800000001"
    laptop.expect(400, "POST", "/admin/blacklist", {"mobile_number": "12"}, user=ops)
    laptop.expect(200, "POST", "/admin/blacklist", {"mobile_number": blocked, "reason": "contract test"}, user=ops)
    listing = laptop.expect(200, "GET", "/admin/blacklist", user=ops)
    check(any(n["mobile_number"] == blocked for n in listing["numbers"]), f"the blacklist lists {blocked}: {listing}")

    # The SMS API: a registration, its SMS, its PIN; every refusal.
    key = (f"X-API-Key: {s.sms_key}",)
    mobile = "+919876500001"
    laptop.expect(400, "POST", "/onboarding/register", {"mobile_number": "12345"})
    registered = laptop.expect(200, "POST", "/onboarding/register", {"mobile_number": mobile})
    code = registered["hash"]
    laptop.expect(403, "POST", "/onboarding/register", {"mobile_number": "+14155550100"})
    laptop.expect(403, "POST", "/onboarding/register", {"mobile_number": blocked})
    over = False
    for i in range(8):  # the laptop's budget (SMS_BRIDGE_SMS_REQUESTS_PER_SOURCE=5)
        got, content_type, text, answer_headers = laptop.raw("POST", "/onboarding/register", json.dumps({"mobile_number": f"+91987650010{i}"}),
                                             ("Content-Type: application/json",))
        c.validate("POST", "/onboarding/register", got, content_type, text, answer_headers)
        if got == 429:
            over = True
            break
        check(got == 200, f"a registration within the budget answers 200, got {got}: {text}")
    check(over, "registrations from one address are limited (429)")
    laptop.expect(401, "POST", "/sms/receive", {"mobile_number": mobile, "message": "x"})
    laptop.expect(400, "POST", "/sms/receive", {"mobile_number": mobile}, headers=key)
    failed = laptop.expect(200, "POST", "/sms/receive", {"mobile_number": mobile, "message": "ONBOARD:wrong"}, headers=key)
    check(failed["status"] == "failed", f"an SMS with the wrong code fails a check: {failed}")
    laptop.expect(200, "POST", f"/sms/receive?apiKey={s.sms_key}", {"mobile_number": mobile, "message": "JOIN:" + code})
    got = laptop.expect(200, "POST", "/sms/receive", {"mobile_number": mobile, "message": "ONBOARD:" + code,
                                                       "received_at": "2026-11-27T10:00:00Z"}, headers=key)
    check(got["status"] == "received", f"the SMS with the code is received: {got}")
    laptop.expect(400, "POST", "/pin-setup", {"mobile_number": mobile, "pin": "1234"})
    laptop.expect(422, "POST", "/pin-setup", {"mobile_number": mobile, "pin": "12", "hash": code})
    laptop.expect(200, "POST", "/pin-setup", {"mobile_number": mobile, "pin": "1234", "hash": code})
    laptop.expect(409, "POST", "/pin-setup", {"mobile_number": mobile, "pin": "1234", "hash": code})
    over = False
    for _ in range(8):
        got, content_type, text, answer_headers = laptop.raw("POST", "/pin-setup", json.dumps({"mobile_number": mobile, "pin": "1234",
                                                                               "hash": code}), ("Content-Type: application/json",))
        c.validate("POST", "/pin-setup", got, content_type, text, answer_headers)
        if got == 429:
            over = True
            break
    check(over, "PIN setups from one address are limited (429)")
    laptop.expect(200, "POST", "/admin/trigger-recovery", user=ops)
    laptop.expect(200, "DELETE", "/admin/blacklist/%2B919800000001", user=ops)
    laptop.expect(404, "DELETE", "/admin/blacklist/%2B919800000001", user=ops)
    laptop.expect(400, "DELETE", "/admin/blacklist/abc", user=ops)
    laptop.expect(200, "POST", "/admin/logout", headers=(*session_headers, f"X-CSRF-Token: {csrf}"))

    # A corrupt settings file: 500 from everything that reads it (its cache lasts a second).
    shutil.copy(settings_file, settings_file + ".good")
    with open(settings_file, "w") as f:
        f.write("{ not json")
    time.sleep(1.2)
    laptop.expect(500, "GET", "/admin/monitoring/services", user=ops)
    laptop.expect(500, "POST", "/admin/monitoring/open-port", {"service": "metrics"}, user=ops)
    laptop.expect(500, "POST", "/admin/monitoring/open-all", user=ops)
    laptop.expect(500, "POST", "/admin/monitoring/extend-port", {"service": "metrics", "duration_minutes": 20}, user=ops)
    laptop.expect(500, "GET", "/admin/monitoring/port-config", user=ops)
    laptop.expect(500, "GET", "/admin/monitoring/export-prometheus-config", user=ops)
    laptop.expect(500, "GET", "/admin/sms/settings", user=ops)
    laptop.expect(500, "POST", "/admin/sms/settings", {"settings": {}}, user=ops)
    laptop.expect(500, "GET", "/admin/notifications", user=ops)
    laptop.expect(500, "POST", "/admin/notifications", {"notifications": {}}, user=ops)
    laptop.expect(500, "POST", "/admin/notifications/test", user=ops)
    laptop.expect(500, "POST", "/admin/monitoring/port-config", {"config": door_config}, user=ops)
    laptop.expect(500, "POST", "/admin/monitoring/port-config/reset", user=ops)
    server.expect(500, "POST", "/onboarding/register", {"mobile_number": "+919876500002"})
    server.expect(500, "POST", "/sms/receive", {"mobile_number": mobile, "message": "x"}, headers=key)
    os.replace(settings_file + ".good", settings_file)
    time.sleep(1.2)

    # The log directory gone: 503.
    os.rename(logs, logs + ".away")
    laptop.expect(503, "GET", "/admin/monitoring/logs/list", user=ops)
    laptop.expect(503, "GET", "/admin/monitoring/logs/download/application", user=ops)
    os.rename(logs + ".away", logs)

    # The helper stopped: 503 from everything that needs it; /health is degraded, not down.
    helper = next(p for p in w.processes if "sms-bridge-firewall-helper" in " ".join(p.args))
    helper.kill()
    helper.wait(timeout=10)
    laptop.expect(503, "GET", "/admin/monitoring/port-status", user=ops)
    laptop.expect(503, "POST", "/admin/monitoring/open-port", {"service": "metrics"}, user=ops)
    laptop.expect(503, "POST", "/admin/monitoring/close-port", {"service": "metrics"}, user=ops)
    laptop.expect(503, "POST", "/admin/monitoring/extend-port", {"service": "metrics", "duration_minutes": 20}, user=ops)
    laptop.expect(503, "POST", "/admin/monitoring/close-all", user=ops)
    laptop.expect(503, "POST", "/admin/monitoring/port-config", {"config": door_config}, user=ops)
    laptop.expect(503, "POST", "/admin/monitoring/port-config/reset", user=ops)
    laptop.expect(503, "GET", "/admin/monitoring/port-config/available-ports", user=ops)
    down = laptop.expect(200, "GET", "/admin/monitoring/services", user=ops)
    check(down["firewall_helper"] == "down", f"services says the helper is down: {down}")
    time.sleep(1.2)
    degraded = laptop.expect(200, "GET", "/health")
    check(degraded["status"] == "degraded", f"/health without the helper: {degraded}")

    # PostgreSQL stopped: 503 for logins, the SMS API and, for credentials not verified before,
    # every admin operation.
    pg.stop()
    time.sleep(1.2)
    unhealthy = laptop.expect(503, "GET", "/health")
    check(unhealthy["status"] == "unhealthy", f"/health without the database: {unhealthy}")
    laptop.expect(503, "POST", "/admin/login", {"username": "ops", "password": ADMIN_PASSWORD})
    server.expect(503, "POST", "/onboarding/register", {"mobile_number": "+919876500003"})
    server.expect(503, "POST", "/sms/receive", {"mobile_number": mobile, "message": "x"}, headers=key)
    server.expect(503, "POST", "/pin-setup", {"mobile_number": mobile, "pin": "1234", "hash": code})
    for path, method, status in sorted(c.documented):
        if status == "503" and path.startswith("/admin/") and path != "/admin/login":
            laptop.expect(503, method.upper(), concrete(path), None if method == "get" else "{}", user=spare)

    missing = c.missing()
    check(not missing, f"{len(missing)} documented responses were never produced: " +
          ", ".join(f"{m.upper()} {p} {st}" for p, m, st in missing))
    print(f"{laptop.cases + server.cases} requests; all {len(c.documented)} documented (path, method, status) produced "
          f"and matched their schemas")


SCENARIOS = {"contract": contract}


def missing(args):
    return missing_server() + absent_tools("curl") + python_modules_missing()


if __name__ == "__main__":
    raise SystemExit(integration_main(__doc__, SCENARIOS, lambda args: World(args.build_dir, prefix="sms-bridge-openapi-"),
                                      missing=missing))
