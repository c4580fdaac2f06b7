#!/usr/bin/env python3
"""Notifications of door events against a real HTTPS receiver with a private CA.

The helper and sms-bridge-api run in a server namespace (api_pg_test's Site, against a throwaway
PostgreSQL cluster); the receiver (kit/receiver.py) runs as its own process in that namespace, on
its loopback, with a certificate from a CA made here with openssl, which the api trusts through
settings.notifications.ca_file. Settings are changed the way an admin does, by POST
/admin/notifications from the laptop namespace.

Usage: notifications_test.py --build-dir DIR --scenario NAME
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import calendar
import hashlib
import hmac
import json
import os
import select
import statistics
import subprocess
import sys
import time

from api_pg_test import LAPTOP_IP, PASSWORD, SERVER_IP, Site, World
from kit.api import start_api
from kit.backend import private_ca
from kit.core import absent_tools, check, integration_main
from kit.helper import start_helper
from kit.postgres import missing_server

SECRET = "webhook-secret-0123456789"
RECEIVER_PORT, HUNG_PORT = 8443, 8444
HERE = os.path.dirname(os.path.abspath(__file__))


class Receiver:
    """kit/receiver.py in the server namespace: what it recorded, and stop/start at the same port."""

    def __init__(self, w, site):
        self.w, self.site = w, site
        self.ca, self.cert, self.key = private_ca(w.tmp)
        self.log = os.path.join(w.tmp, "received.jsonl")
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(["ip", "netns", "exec", self.site.server, sys.executable, os.path.join(HERE, "kit", "receiver.py"),
                                         "--port", str(RECEIVER_PORT), "--log", self.log, "--cert", self.cert, "--key", self.key],
                                        stdout=subprocess.PIPE, text=True)
        self.w.processes.append(self.process)
        check(self.process.stdout.readline().strip() == "ready", "the receiver did not start")

    def stop(self):
        self.process.kill()
        self.process.wait(timeout=10)

    def requests(self, path=None):
        try:
            with open(self.log) as f:
                got = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            got = []
        return [r for r in got if path is None or r["path"] == path]

    def webhooks(self):
        """(event body, Idempotency-Key) of every webhook request, each signature checked."""
        out = []
        for r in self.requests("/hook"):
            h = r["headers"]
            expected = hmac.new(SECRET.encode(), h.get("X-Timestamp", "").encode() + r["body"].encode(), hashlib.sha256).hexdigest()
            check(hmac.compare_digest(expected, h.get("X-Signature", "")), f"a webhook with a bad signature: {r}")
            check(abs(int(h["X-Timestamp"]) - r["at"]) < 30, f"a webhook's X-Timestamp is not now: {r}")
            check(h.get("Content-Type") == "application/json", f"a webhook that is not JSON: {r}")
            out.append((json.loads(r["body"]), h.get("Idempotency-Key")))
        return out


def configure(site, receiver, **fields):
    settings = {"webhook_url": f"https://localhost:{RECEIVER_PORT}/hook", "webhook_secret": SECRET,
                "ntfy_url": f"https://localhost:{RECEIVER_PORT}/ntfy", "ca_file": receiver.ca if receiver else "", **fields}
    status, body = site.curl("POST", "/admin/notifications", {"notifications": settings})
    check(status == 200 and body["status"] == "saved", f"POST /admin/notifications: {status} {body}")
    return body


def wait_for(what, predicate, seconds, report=lambda: ""):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    check(predicate(), f"timed out waiting for {what}: {report()}")


def open_door(site, service, **duration):
    status, body = site.curl("POST", "/admin/monitoring/open-port", {"service": service, **duration})
    check(status == 200 and body["status"] == "opened", f"open {service}: {status} {body}")


def close_door(site, service):
    status, body = site.curl("POST", "/admin/monitoring/close-port", {"service": service})
    check(status == 200, f"close {service}: {status} {body}")


def restart_helper(w, site):
    if os.path.exists(site.socket):
        os.unlink(site.socket)
    site.helper = start_helper(w, ["ip", "netns", "exec", site.server], os.path.join(w.tmp, "helper.json"), site.socket)


def kill_helper(site):
    site.helper.kill()
    site.helper.wait(timeout=10)


def events_of(receiver):
    return [b["event"] for b, _ in receiver.webhooks()]


# ---------------------------------------------------------------------------------------------

def scenario_settings(w):
    """GET and POST /admin/notifications: validated with sentences, the secret never shown, saved in SETTINGS_FILE."""
    site = Site(w, helper_min_seconds=1, api_min_seconds=1)
    status, body = site.curl("GET", "/admin/notifications")
    check(status == 200 and body["notifications"]["webhook_url"] == "" and body["notifications"]["webhook_secret_set"] is False
          and "closes_soon" in body["available_events"] and len(body["notifications"]["events"]) == 9, f"GET defaults: {status} {body}")
    for bad, sentence in ((({"webhook_url": "ftp://x"}), "settings.notifications.webhook_url must start with https://"),
                          ({"remind_before_close_minutes": 100000}, "settings.notifications.remind_before_close_minutes"),
                          ({"events": ["opened", "nonsense"]}, "settings.notifications.events: nonsense is not an event"),
                          ({"webhook_url": "https://localhost/x"}, "settings.notifications.webhook_secret must be set")):
        status, body = site.curl("POST", "/admin/notifications", {"notifications": bad})
        check(status == 422 and body["detail"].startswith(sentence), f"POST {bad}: {status} {body}")
    check(site.curl("POST", "/admin/notifications", {"wrong": 1})[0] == 400, "a body without notifications was taken")
    check(site.curl("POST", "/admin/notifications", {"notifications": {}}, user=None)[0] == 401, "an anonymous change was taken")
    check(site.curl("POST", "/admin/notifications/test", {})[0] == 409, "a test with nowhere to send it was queued")
    saved = configure(site, None, remind_before_close_minutes=5, events=["opened", "closed"])
    check(saved["notifications"]["webhook_secret_set"] is True and "webhook_secret" not in saved["notifications"], f"saved: {saved}")
    status, body = site.curl("GET", "/admin/notifications")
    check(SECRET not in json.dumps(body) and body["notifications"]["events"] == ["opened", "closed"]
          and body["notifications"]["remind_before_close_minutes"] == 5, f"GET after POST: {body}")
    with open(site.settings) as f:
        section = json.load(f)["settings"]["notifications"]
    check(section["webhook_secret"] == SECRET and section["remind_before_close_minutes"] == 5, f"the file: {section}")
    # A change without the secret keeps it; the file edited by hand is read again on SIGHUP.
    configure(site, None, webhook_secret=SECRET, events=["expired"])
    check(site.curl("POST", "/admin/notifications", {"notifications": {"ntfy_url": ""}})[0] == 200, "clearing ntfy_url failed")
    with open(site.settings) as f:
        doc = json.load(f)
    check(doc["settings"]["notifications"]["webhook_secret"] == SECRET and doc["settings"]["notifications"]["ntfy_url"] == "",
          f"the secret was lost by a change without it: {doc}")
    doc["settings"]["notifications"]["remind_before_close_minutes"] = 7
    with open(site.settings, "w") as f:
        json.dump(doc, f)
    site.api.send_signal(1)
    wait_for("the reload", lambda: site.curl("GET", "/admin/notifications")[1]["notifications"]["remind_before_close_minutes"] == 7, 5)


def scenario_every_event(w):
    """Every event type arrives at the webhook, signed (the signature verifies), and at ntfy with a Title."""
    site = Site(w, helper_min_seconds=1, api_min_seconds=1)
    receiver = Receiver(w, site)
    configure(site, receiver, remind_before_close_minutes=1)
    report = lambda: f"webhook {events_of(receiver)}\napi log:\n{w.log()}"
    # opened, and its reminder a minute before the deadline.
    open_door(site, "metrics", duration_seconds=75)
    wait_for("opened and closes_soon", lambda: events_of(receiver)[:2] == ["opened", "closes_soon"], 30, report)
    close_door(site, "metrics")
    wait_for("closed", lambda: "closed" in events_of(receiver), 10, report)
    # expired at its deadline, while the helper runs.
    open_door(site, "metrics", duration_seconds=2)
    wait_for("expired", lambda: "expired" in events_of(receiver), 20, report)
    # expired while the helper was down.
    open_door(site, "postgres", duration_seconds=3)
    kill_helper(site)
    time.sleep(4)
    restart_helper(w, site)
    wait_for("expired_while_down", lambda: "expired_while_down" in events_of(receiver), 20, report)
    # drift: the table flushed (repaired), then an element nobody granted (removed).
    open_door(site, "metrics", duration_seconds=600)
    site.ns(site.server, "nft", "flush", "ruleset")
    wait_for("drift_repaired", lambda: "drift_repaired" in events_of(receiver), 20, report)
    site.ns(site.server, "nft", "add", "element", "inet", "sms_bridge", "grant_hosts4", "{ 10.231.2.2 . 9100 timeout 1h }")
    wait_for("drift_closed", lambda: "drift_closed" in events_of(receiver), 20, report)
    # extended (and its reminder moved), through extend-port.
    step_extended(w, site, receiver)
    # A close the helper cannot carry out: the door may still be open, and admins are told.
    kill_helper(site)
    status, body = site.curl("POST", "/admin/monitoring/close-port", {"service": "metrics"})
    check(status >= 500, f"close-port with the helper down: {status} {body}")
    status, body = site.curl("POST", "/admin/monitoring/close-all")
    check(status >= 500, f"close-all with the helper down: {status} {body}")
    wait_for("close_failed twice", lambda: events_of(receiver).count("close_failed") == 2, 20, report)
    failed = [b for b, _ in receiver.webhooks() if b["event"] == "close_failed"]
    check(failed[0]["service"] == "metrics" and failed[0]["message"].startswith("Closing door metrics (asked by alice) failed: ")
          and failed[1]["service"] is None and failed[1]["message"].startswith("Closing every door (asked by alice) failed: "),
          f"the close_failed bodies: {failed}")
    restart_helper(w, site)
    status, body = site.curl("POST", "/admin/notifications/test", {})
    check(status == 202 and body["channels"] == ["webhook", "ntfy"], f"test: {status} {body}")
    wait_for("test", lambda: "test" in events_of(receiver), 10, report)
    expected = {"opened", "extended", "closes_soon", "closed", "expired", "expired_while_down", "drift_repaired", "drift_closed",
                "close_failed", "test"}
    hooks = receiver.webhooks()
    check(expected <= {b["event"] for b, _ in hooks}, f"missing events: {expected - {b['event'] for b, _ in hooks}}")
    keys = [k for _, k in hooks]
    check(all(keys) and len(set(keys)) == len(keys), f"Idempotency-Keys missing or repeated: {keys}")
    opened = next(b for b, _ in hooks if b["event"] == "opened")
    check(opened["service"] == "metrics" and opened["port"] == 9100 and opened["source"] == f"{LAPTOP_IP}/32"
          and opened["actor"] == "alice" and opened["expires_at"] and opened["at"] and "was opened by alice" in opened["message"],
          f"the opened body: {opened}")
    reminder = next(b for b, _ in hooks if b["event"] == "closes_soon")
    check(reminder["message"].startswith("Door metrics (port 9100) closes in 1 minute"), f"the reminder: {reminder}")
    # ntfy: the same events, as text with a Title.
    wait_for("ntfy to catch up", lambda: len(receiver.requests("/ntfy")) >= len(hooks), 15)
    ntfy = receiver.requests("/ntfy")
    titles = [r["headers"].get("Title", "") for r in ntfy]
    check(all(titles) and "metrics opened" in titles and "SMS Bridge test notification" in titles, f"ntfy titles: {titles}")
    check(any(r["body"].startswith("Door metrics (port 9100) was opened by alice") for r in ntfy), f"ntfy bodies: {ntfy[:3]}")
    check(all(r["headers"].get("Content-Type", "").startswith("text/plain") for r in ntfy), "an ntfy request was not text/plain")
    # The counters and the depth in /metrics (the reminders of the metrics door still open are pending).
    scrape = lambda: site.ns(site.server, "curl", "-s", "http://127.0.0.1:9464/metrics").stdout
    # Deliveries still in flight (slow under ASan) drain; what stays pending is the two reminders.
    pending = lambda: w.pg.psql("SELECT kind || '/' || channel FROM notification_outbox WHERE status = 'pending' ORDER BY channel")
    wait_for("only the open door's two reminders pending", lambda: pending().stdout.split() == ["closes_soon/ntfy", "closes_soon/webhook"],
             20, lambda: f"pending: {pending().stdout.split()}\n{report()}")
    wait_for("the depth gauge", lambda: "sms_bridge_notifications_outbox_pending 2\n" in scrape(), 5)
    # Re-read after the drain: what the counter counts, each delivery still with a key of its own.
    hooks = receiver.webhooks()
    keys = [k for _, k in hooks]
    check(all(keys) and len(set(keys)) == len(keys), f"Idempotency-Keys missing or repeated after the drain: {keys}")
    metrics = scrape()
    for line in (f'sms_bridge_notifications_sent_total{{channel="webhook"}} {len(hooks)}\n',
                 'sms_bridge_notifications_failed_total{channel="ntfy"} 0\n'):
        check(line in metrics, f"/metrics lacks '{line}':\n" + "\n".join(l for l in metrics.splitlines() if "notification" in l))
    # Closing the door drops its reminders, unsent.
    reminders = len([b for b, _ in receiver.webhooks() if b["event"] == "closes_soon"])
    close_door(site, "metrics")
    wait_for("the reminders dropped", lambda: w.pg.psql("SELECT count(*) FROM notification_outbox WHERE status = 'pending'").stdout.strip()
             == "0", 10)
    wait_for("the close", lambda: events_of(receiver)[-1] == "closed", 10, report)
    check(len([b for b, _ in receiver.webhooks() if b["event"] == "closes_soon"]) == reminders, "a dropped reminder was sent")


def step_extended(w, site, receiver):
    """The extended event, from POST /admin/monitoring/extend-port: the webhook says the new and the
    previous deadline and why, and the door's reminder moves to a minute before the new deadline."""
    open_door(site, "postgres", duration_seconds=600)
    status, body = site.curl("POST", "/admin/monitoring/extend-port", {"service": "postgres", "duration_seconds": 1200,
                                                                       "reason": "more time"})
    check(status == 200 and body["status"] == "extended", f"extend-port: {status} {body}")
    wait_for("extended", lambda: "extended" in events_of(receiver), 10)
    extended = next(b for b, _ in receiver.webhooks() if b["event"] == "extended")
    check(extended["service"] == "postgres" and extended["expires_at"] == body["expires_at"]
          and extended["previous_expires_at"] == body["previous_expires_at"] and extended["reason"] == "more time",
          f"the extended body: {extended} for {body}")
    due = w.pg.psql("SELECT string_agg(DISTINCT to_char(next_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ' ') "
                    "FROM notification_outbox WHERE kind = 'closes_soon' AND status = 'pending' "
                    "AND payload->>'service' = 'postgres'").stdout.strip()
    deadline = calendar.timegm(time.strptime(body["expires_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    check(due == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(deadline - 60)),
          f"the reminder is due at {due}, not a minute before {body['expires_at']}")
    close_door(site, "postgres")
    wait_for("the reminder dropped", lambda: w.pg.psql("SELECT count(*) FROM notification_outbox WHERE kind = 'closes_soon' "
                                                       "AND status = 'pending' AND payload->>'service' = 'postgres'").stdout.strip() == "0", 10)


def scenario_receiver_down(w):
    """The receiver down for 30 s during opens and closes, and the api SIGKILLed and restarted
    meanwhile: afterwards every notification arrives once (no Idempotency-Key twice), in order, on
    both channels."""
    site = Site(w, helper_min_seconds=1, api_min_seconds=1)
    receiver = Receiver(w, site)
    configure(site, receiver, remind_before_close_minutes=0)
    open_door(site, "metrics", duration_minutes=30)
    close_door(site, "metrics")
    wait_for("the first two", lambda: len(receiver.webhooks()) == 2 and len(receiver.requests("/ntfy")) == 2, 10)
    receiver.stop()
    went_down = time.monotonic()
    expected = ["opened", "closed"]
    while time.monotonic() - went_down < 27:
        for service in ("metrics", "postgres"):
            open_door(site, service, duration_minutes=30)
            close_door(site, service)
            expected += ["opened", "closed"]
        time.sleep(3)
    time.sleep(max(0.0, 30 - (time.monotonic() - went_down)))
    failing = w.pg.psql("SELECT count(*) FROM notification_outbox WHERE status = 'pending' AND attempts > 0").stdout.strip()
    check(int(failing) >= 1, f"no delivery was tried while the receiver was down: {failing}")
    site.api.kill()
    site.api.wait(timeout=10)
    listening = lambda: open(w.api_log, errors="replace").read().count("listening on") == 2
    site.api = start_api(w, site.api_command, site.api_env, ready=listening, log_mode="a")
    receiver.start()
    wait_for("every notification after the outage", lambda: len(receiver.webhooks()) >= len(expected)
             and len(receiver.requests("/ntfy")) >= len(expected), 60,
             lambda: f"{len(receiver.webhooks())} webhooks, {len(receiver.requests('/ntfy'))} ntfy of {len(expected)}")
    time.sleep(3)  # anything doubled would arrive by now
    hooks = receiver.webhooks()
    keys = [k for _, k in hooks]
    check(len(keys) == len(expected) and len(set(keys)) == len(keys), f"{len(keys)} webhooks for {len(expected)} events: {keys}")
    check([b["event"] for b, _ in hooks] == expected, f"out of order or lost: {[b['event'] for b, _ in hooks]}")
    ntfy_keys = [r["headers"].get("Idempotency-Key") for r in receiver.requests("/ntfy")]
    check(len(ntfy_keys) == len(expected) and len(set(ntfy_keys)) == len(ntfy_keys), f"ntfy got {len(ntfy_keys)} for {len(expected)}")
    pending = w.pg.psql("SELECT count(*) FROM notification_outbox WHERE status <> 'delivered'").stdout.strip()
    check(pending == "0", f"{pending} notification(s) not delivered")


def open_latency(site, service):
    """Seconds the open-port request took, as curl on the laptop measured it (the door is closed again after)."""
    r = subprocess.run(["ip", "netns", "exec", site.laptop, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                        "-u", f"alice:{PASSWORD}", "-H", "Content-Type: application/json", "--data-binary",
                        json.dumps({"service": service, "duration_minutes": 30}),
                        f"http://{SERVER_IP}:8080/admin/monitoring/open-port"], capture_output=True, text=True, timeout=30)
    code, seconds = r.stdout.split()
    check(code == "200", f"open-port answered {code}")
    close_door(site, service)
    return float(seconds)


def scenario_hung_receiver(w):
    """A receiver that accepts and never answers does not delay an open: the median open-port
    latency with it differs from the one with no receiver at all by less than 50 ms."""
    site = Site(w, helper_min_seconds=1, api_min_seconds=1)
    hung = subprocess.Popen(["ip", "netns", "exec", site.server, sys.executable, os.path.join(HERE, "kit", "receiver.py"), "--port",
                             str(HUNG_PORT), "--hang"], stdout=subprocess.PIPE, text=True)
    w.processes.append(hung)
    check(hung.stdout.readline().strip() == "ready", "the hung receiver did not start")
    for _ in range(2):  # warm up (connections, caches)
        open_latency(site, "metrics")
    without = [open_latency(site, "metrics") for _ in range(12)]
    status, body = site.curl("POST", "/admin/notifications", {"notifications": {
        "webhook_url": f"https://localhost:{HUNG_PORT}/hook", "webhook_secret": SECRET, "ntfy_url": f"https://localhost:{HUNG_PORT}/ntfy"}})
    check(status == 200, f"configuring the hung receiver: {status} {body}")
    open_latency(site, "metrics")
    ready, _, _ = select.select([hung.stdout], [], [], 15)
    check(ready and hung.stdout.readline().startswith("held"), "the api never connected to the hung receiver")
    with_hung = [open_latency(site, "metrics") for _ in range(12)]
    difference = statistics.median(with_hung) - statistics.median(without)
    print(f"open-port median: {statistics.median(without) * 1000:.1f} ms without a receiver, {statistics.median(with_hung) * 1000:.1f} ms with a hung one")
    check(difference < 0.050, f"open-port took {difference * 1000:.0f} ms longer with a hung receiver: "
                              f"without {sorted(without)}, with {sorted(with_hung)}")
    # The stalled attempts end at their deadline, with a sentence, and wait their backoff.
    wait_for("a timed-out attempt", lambda: "timed out" in w.pg.psql(
        "SELECT string_agg(last_error, ' ') FROM notification_outbox WHERE attempts > 0").stdout, 20)


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    def missing(args):
        return missing_server() + absent_tools("psql", "curl", "ip", "nft", "openssl")
    return integration_main(__doc__, SCENARIOS, lambda args: World(os.path.abspath(args.build_dir)), missing,
                            prepare=lambda world: world.pg.init())


if __name__ == "__main__":
    sys.exit(main())
