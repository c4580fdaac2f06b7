"""Raw HTTP/1.1 requests, sent from the laptop namespace through raw_http.py so malformed HTTP,
NUL bytes and non-UTF-8 reach the daemon as written."""
import base64
import json
import os
import subprocess
import sys

from kit.core import check
from kit.stack import ADMIN_PASSWORD, SERVER_IP

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/integration, where raw_http.py is
BASIC = "Basic " + base64.b64encode(f"ops:{ADMIN_PASSWORD}".encode()).decode()


def request(method, path, body=b"", headers=None, auth=BASIC, content_type="application/json"):
    """The raw bytes of one HTTP/1.1 request."""
    head = [f"{method} {path} HTTP/1.1", f"Host: {SERVER_IP}:8080", "Connection: close"]
    if auth:
        head.append(f"Authorization: {auth}")
    if content_type and (body or method in ("POST", "PUT", "DELETE")):  # a state change over Basic must declare JSON
        head.append(f"Content-Type: {content_type}")
    for k, v in (headers or {}).items():
        head.append(f"{k}: {v}")
    if body or method in ("POST", "PUT", "DELETE"):
        head.append(f"Content-Length: {len(body)}")
    return "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body


def js(value):
    return json.dumps(value).encode()


def send(site, raws):
    cases = [{"host": SERVER_IP, "port": 8080, "request": base64.b64encode(r).decode()} for r in raws]
    r = subprocess.run(["ip", "netns", "exec", site.laptop, sys.executable, os.path.join(HERE, "raw_http.py")],
                       input=json.dumps(cases), capture_output=True, text=True, timeout=1200)
    check(r.returncode == 0, f"raw_http.py: {r.stderr}")
    return json.loads(r.stdout)
