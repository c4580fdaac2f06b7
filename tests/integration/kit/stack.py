"""The server as compose/systemd deploy it, run natively: a server namespace with PostgreSQL, the
firewall helper (compose/systemd's config) and sms-bridge-api, and a laptop namespace next to it.

deployment_test, admin_ui_test, hostile_input_test and hostile_client_test run against this.
"""
import json
import os
import shutil

from kit.api import add_admin, api_bin, start_api
from kit.core import check
from kit.helper import start_helper, write_config
from kit.postgres import Postgres
from kit.sites import Site

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
COMPOSE = os.path.join(REPO, "compose")
SYSTEMD = os.path.join(COMPOSE, "systemd")
SERVER_IP, LAPTOP_IP = "10.61.0.1", "10.61.0.2"
ADMIN_PASSWORD = 'laptop "admin" pass\\word $HOME'  # spaces, quotes, a backslash, a $: .env is literal
MONITOR_PASSWORD = "monitor-password-123"


class Stack(Site):
    """Server and laptop namespaces; PostgreSQL, the helper and the api in the server one."""

    def __init__(self, w):
        super().__init__(w, "D", SERVER_IP, LAPTOP_IP)

    def allow_localnet(self):
        # The sysctl drop-in's route_localnet line, for this namespace's ingress interface.
        with open(os.path.join(SYSTEMD, "60-sms-bridge.sysctl.conf")) as f:
            line = next(l for l in f if l.startswith("net.ipv4.conf."))
        self.ns(self.server, "sysctl", "-qw", line.split("=")[0].strip().replace(".eth0.", f".{self.server_if}.") + "=1")

    def start_postgres(self):
        """A cluster on 127.0.0.1:5432 inside the server namespace, the postgres door's target,
        with the read-only monitoring role README tells operators to create."""
        pg = Postgres()
        self.w.pg = pg
        pg.init_on_tcp(self.server)
        pg.psql(f"CREATE ROLE sms_bridge_monitor LOGIN PASSWORD '{MONITOR_PASSWORD}' IN ROLE pg_monitor")
        return pg

    def start_helper(self):
        with open(os.path.join(SYSTEMD, "firewall-helper.json")) as f:
            config = json.load(f)
        self.socket = os.path.join(self.w.tmp, "firewall.sock")
        config.update(socket=self.socket, state_file=os.path.join(self.w.tmp, "port_mappings.json"), allowed_uids=[0])
        path = write_config(os.path.join(self.w.tmp, "firewall-helper.json"), config)
        start_helper(self.w, ["ip", "netns", "exec", self.server], path, self.socket,
                     stderr=open(os.path.join(self.w.tmp, "helper.log"), "w"))

    def start_api(self, pg, extra_env=None, prefix=(), ready=None, log_mode="w", second=False):
        """sms-bridge-api in the server namespace; `prefix` goes before the binary (e.g. prlimit).
        second: another one beside the first (its admin exists already). Returns its process."""
        if not second:
            add_admin(self.w.build_dir, pg.url, "ops", ADMIN_PASSWORD)
        settings = os.path.join(self.w.tmp, "sms_settings.json")
        shutil.copy(os.path.join(COMPOSE, "sms_settings.json"), settings)
        self.sms_key = "gateway-key-0123456789"
        env = dict(os.environ, SMS_BRIDGE_DATABASE_URL=pg.url, SMS_BRIDGE_LISTEN="0.0.0.0:8080",
                   SMS_BRIDGE_METRICS_LISTEN="127.0.0.1:9464", SMS_BRIDGE_FIREWALL_SOCKET=self.socket,
                   SMS_BRIDGE_SERVER_IP=SERVER_IP, SMS_BRIDGE_SETTINGS_FILE=settings,
                   SMS_BRIDGE_LOG_DIR=os.path.join(self.w.tmp, "logs"),
                   SMS_BRIDGE_HISTORY_FILE=os.path.join(self.w.tmp, "metrics-history.bin"), SMS_BRIDGE_HMAC_SECRET="hmac-secret-0123456789",
                   SMS_BRIDGE_SMS_API_KEY=self.sms_key)
        env.update(extra_env or {})
        return start_api(self.w, ["ip", "netns", "exec", self.server, *prefix, api_bin(self.w.build_dir)], env,
                         ready=ready, log_mode=log_mode)

    def laptop_curl(self, url, *args):
        r = self.ns(self.laptop, "curl", "-s", "-m", "10", "-w", "\n%{http_code}", *args, url, check_rc=False)
        text, _, code = r.stdout.rpartition("\n")
        return int(code or 0), text

    def sms_traffic(self, round_number):
        """One registration, its SMS and its PIN, plus one SMS that fails a check: the SMS panels' data."""
        mobile = f"+9198765{round_number:05d}"
        post = lambda path, body, *h: self.laptop_curl(f"http://{SERVER_IP}:8080{path}", "-H", "Content-Type: application/json",
                                                       *h, "--data-binary", json.dumps(body))
        status, text = post("/onboarding/register", {"mobile_number": mobile})
        check(status == 200, f"register: {status} {text}")
        code = json.loads(text)["hash"]
        key = ("-H", f"X-API-Key: {self.sms_key}")
        post("/sms/receive", {"mobile_number": mobile, "message": "JOIN:" + code, "received_at": "2026-11-27T10:00:00Z"}, *key)
        status, text = post("/sms/receive", {"mobile_number": mobile, "message": "ONBOARD:" + code,
                                             "received_at": "2026-11-27T10:00:00Z"}, *key)
        check(status == 200 and json.loads(text)["status"] == "received", f"receive: {status} {text}")
        status, text = post("/pin-setup", {"mobile_number": mobile, "pin": "1234", "hash": code})
        check(status == 200, f"pin-setup: {status} {text}")
        self.laptop_curl(f"http://{SERVER_IP}:8080/health")
        self.laptop_curl(f"http://{SERVER_IP}:8080/no-such-page")
