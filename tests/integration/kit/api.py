"""Starting sms-bridge-api, adding its admins, and admin requests over curl from a namespace."""
import json
import os
import subprocess
import time

from kit.core import check


def api_bin(build_dir):
    return os.path.join(build_dir, "api-daemon", "sms-bridge-api")


def add_admin(build_dir, database_url, user, password):
    """`sms-bridge-api admin add`, the password on stdin as an operator types it; a TestFailure if refused."""
    r = subprocess.run([api_bin(build_dir), "admin", "add", user], input=password + "\n", capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, SMS_BRIDGE_DATABASE_URL=database_url))
    check(r.returncode == 0, f"admin add: {r.returncode} {r.stderr}")


def start_api(w, command, env, ready=None, seconds=15, log_mode="w"):
    """Starts sms-bridge-api (`command` ends with the binary, or runs it) with its output in
    w.api_log, and waits until ready() (by default: the log says it is listening). The process
    joins w.processes; a TestFailure if it exits or is not ready within `seconds`."""
    ready = ready or (lambda: "listening on" in w.log())
    log = open(w.api_log, log_mode)
    p = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    w.processes.append(p)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check(p.poll() is None, f"sms-bridge-api exited: {w.log()}")
        if ready():
            return p
        time.sleep(0.05)
    check(ready(), f"sms-bridge-api did not start: {w.log()}")
    return p


def _parsed(text):
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return text


def curl(ns, method, url, body=None, user=None):
    """curl from namespace `ns`, the way the seed's examples do. Returns (status, parsed JSON or text)."""
    cmd = ["ip", "netns", "exec", ns, "curl", "-s", "-m", "10", "-o", "-", "-w", "\n%{http_code}", "-X", method]
    if user:
        cmd += ["-u", user]
    if body is not None or method != "GET":  # an API client declares JSON on every state change
        cmd += ["-H", "Content-Type: application/json"]
    if body is not None:
        cmd += ["--data-binary", body if isinstance(body, str) else json.dumps(body)]
    r = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=30)
    text, _, code = r.stdout.rpartition("\n")
    return int(code or 0), _parsed(text)


def curl_with_headers(ns, method, url, body=None, headers=(), user=None):
    """curl from namespace `ns` with extra headers; returns (status, lower-cased headers, parsed body)."""
    cmd = ["ip", "netns", "exec", ns, "curl", "-s", "-m", "10", "-D", "-", "-o", "-", "-X", method]
    for h in headers:
        cmd += ["-H", h]
    if user:
        cmd += ["-u", user]
    if body is not None:
        cmd += ["--data-binary", body if isinstance(body, str) else json.dumps(body)]
    r = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=30)
    head, _, text = r.stdout.partition("\n\n")  # text mode turned CRLF into LF
    lines = head.split("\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    found = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        found[k.strip().lower()] = v.strip()
    return status, found, _parsed(text)
