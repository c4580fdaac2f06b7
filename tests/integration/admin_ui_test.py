#!/usr/bin/env python3
"""The admin web UI in a real headless Chromium (Debian's), driven by Playwright.

The server namespace runs PostgreSQL, the firewall helper and sms-bridge-api (kit.stack.Stack, as in
deployment_test.py); the browser runs in the laptop namespace and uses the UI the way an operator
does (tests/browser/admin_ui.mjs). Screenshots go to BUILD_DIR/screenshots.

Usage: admin_ui_test.py --build-dir DIR --scenario NAME   (--list prints the scenarios)
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import os
import re
import subprocess
import sys

from kit.api import api_bin
from kit.core import absent_tools, check, integration_main
from kit.postgres import missing_server
from kit.sites import World
from kit.stack import ADMIN_PASSWORD, LAPTOP_IP, SERVER_IP, Stack

BROWSER_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "browser"))


def run_browser(w, scenario, extra_env=None, browser_env=None):
    site = Stack(w)
    pg = site.start_postgres()
    site.start_helper()
    site.start_api(pg, extra_env)
    home = os.path.join(w.tmp, "home")
    os.makedirs(home)
    env = dict(os.environ, HOME=home, BASE_URL=f"http://{SERVER_IP}:8080", ADMIN_USER="ops", ADMIN_PASSWORD=ADMIN_PASSWORD,
               LAPTOP_IP=LAPTOP_IP, SCREENSHOT_DIR=os.path.join(w.build_dir, "screenshots"), **(browser_env or {}))
    if scenario == "totp":
        # The admin enrols as an operator does; the browser is given the secret from the URI.
        r = subprocess.run([api_bin(w.build_dir), "admin", "totp", "enable", "ops"], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=pg.url, SMS_BRIDGE_HMAC_SECRET="hmac-secret-0123456789"))
        m = re.search(r"otpauth://totp/\S*[?&]secret=([A-Z2-7]+)", r.stdout)
        check(r.returncode == 0 and m is not None, f"admin totp enable ops: {r.returncode} {r.stdout} {r.stderr}")
        env["TOTP_SECRET"] = m.group(1)
    r = subprocess.run(["ip", "netns", "exec", site.laptop, "node", os.path.join(BROWSER_DIR, "admin_ui.mjs"), scenario],
                       capture_output=True, text=True, timeout=240, env=env, cwd=BROWSER_DIR)
    print(r.stdout.strip())
    check(r.returncode == 0, f"the browser scenario failed:\n{r.stdout}\n{r.stderr}")


def scenario_workflow(w):
    run_browser(w, "workflow")


def scenario_xss(w):
    run_browser(w, "xss")


def scenario_notifications(w):
    run_browser(w, "notifications")


def scenario_totp(w):
    """An admin with a second factor: the login asks for the code, and opening a door asks again
    (SMS_BRIDGE_OTP_STEP_UP_MINUTES=0: every time) in the step-up dialog, then the door opens."""
    run_browser(w, "totp", extra_env={"SMS_BRIDGE_OTP_STEP_UP_MINUTES": "0"})


def scenario_extend(w):
    run_browser(w, "extend")


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    def missing(args):
        absent = absent_tools("node", "ip", "psql", "runuser")
        if not os.access("/usr/bin/chromium", os.X_OK):
            absent.append("chromium (/usr/bin/chromium)")
        if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
            absent.append("playwright-core (npm ci in tests/browser)")
        return absent + missing_server()
    return integration_main(__doc__, SCENARIOS, lambda args: World(os.path.abspath(args.build_dir), "sms-bridge-deploy-"), missing)

if __name__ == "__main__":
    sys.exit(main())
