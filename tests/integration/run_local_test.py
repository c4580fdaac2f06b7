#!/usr/bin/env python3
"""Drives README's run command the way a newcomer would: start it, follow the curl lines it
prints (open a door, go through it, close it), press Ctrl-C, and check that it cleaned up.

Usage: run_local_test.py --repo DIR
Exit codes: 0 pass, 1 fail, 77 skipped (only outside CI; with CI=true a missing prerequisite fails).
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

from kit.core import missing_prerequisites



def fail(message, output=""):
    print(f"FAIL run_local: {message}\n--- output ---\n{output[-4000:]}", file=sys.stderr)
    return 1


def curl(*args):
    r = subprocess.run(["curl", "-s", "-m", "10", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=30)
    text, _, code = r.stdout.rpartition("\n")
    try:
        return int(code or 0), json.loads(text) if text else None
    except json.JSONDecodeError:
        return int(code or 0), text


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", required=True)
    args = parser.parse_args()
    if os.geteuid() != 0:
        return missing_prerequisites(["root"])

    password = "local-run-secret"
    env = dict(os.environ, SMS_BRIDGE_ADMIN_PASSWORD=password)
    tables_before = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    proc = subprocess.Popen(["bash", os.path.join(args.repo, "compose", "run-local.sh")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    output = ""
    try:
        deadline = time.monotonic() + 600
        while "run-local: ready" not in output:
            line = proc.stdout.readline()
            if not line:
                return fail("the run command exited before it was ready", output)
            output += line
            if time.monotonic() > deadline:
                return fail("the run command was not ready within 10 minutes", output)
        ns = re.search(r"server namespace (\S+),", output).group(1)
        server = re.search(r"reached at (\S+) from this machine", output).group(1)
        user = f"admin:{password}"
        check = [
            (curl(f"http://{server}:8080/health"), lambda s, b: s == 200 and b["database"] == "up" and b["firewall_helper"] == "up"),
            (curl("-u", user, f"http://{server}:8080/admin/monitoring/services"), lambda s, b: s == 200),
        ]
        for (status, body), ok in check:
            if not ok(status, body):
                return fail(f"unexpected answer {status} {body}", output)
        status, body = curl("-u", user, "-H", "Content-Type: application/json", "-d",
                            '{"service": "metrics", "duration_minutes": 60}', f"http://{server}:8080/admin/monitoring/open-port")
        if status != 200 or body.get("status") != "opened":
            return fail(f"open-port: {status} {body}", output)
        status, body = curl(f"http://{server}:9100/health")
        if status != 200:
            return fail(f"the door did not let this machine through: {status} {body}", output)
        status, body = curl("-u", user, "-H", "Content-Type: application/json", "-d", '{"service": "metrics"}',
                            f"http://{server}:8080/admin/monitoring/close-port")
        if status != 200:
            return fail(f"close-port: {status} {body}", output)
        status, _ = curl(f"http://{server}:9100/health")
        if status == 200:
            return fail("the door still answered after close", output)
        # The SMS flow, with the curl lines it printed (the gateway key is in them).
        api_key = re.search(r"X-API-Key: (\S+)'", output).group(1)
        json_type = "Content-Type: application/json"
        status, reg = curl("-H", json_type, "-d", '{"mobile_number": "+919876543210"}', f"http://{server}:8080/onboarding/register")
        if status != 200 or reg.get("status") != "success":
            return fail(f"register: {status} {reg}", output)
        status, got = curl("-H", json_type, "-H", f"X-API-Key: {api_key}", "-d",
                           json.dumps({"mobile_number": "+919876543210", "message": "ONBOARD:" + reg["hash"],
                                       "received_at": "2026-01-01T00:00:00Z"}), f"http://{server}:8080/sms/receive")
        if status != 200 or got.get("status") != "received":
            return fail(f"sms/receive: {status} {got}", output)
        status, pin = curl("-H", json_type, "-d", json.dumps({"mobile_number": "+919876543210", "pin": "1234", "hash": reg["hash"]}),
                           f"http://{server}:8080/pin-setup")
        if status != 200 or pin.get("status") != "success":
            return fail(f"pin-setup: {status} {pin}", output)
        # Ctrl-C: SIGINT to the script, as a terminal would send it.
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        output += rest
        if "run-local: stopped" not in output:
            return fail("the run command did not report stopping", output)
        if ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout:
            return fail(f"namespace {ns} was left behind", output)
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        if re.search(r"sbr\d+h", links):
            return fail("the veth pair was left behind", output)
        if subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout != tables_before:
            return fail("the machine's own ruleset changed", output)
        work = re.search(r"and (/tmp/sms-bridge-run-\S+) removed", output)
        if not work or os.path.exists(work.group(1)):
            return fail("the temporary directory was left behind", output)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # only the group this test started
            proc.wait(timeout=30)
    print("PASS run_local")
    return 0


if __name__ == "__main__":
    sys.exit(main())
