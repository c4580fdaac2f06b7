#!/usr/bin/env python3
"""Mixed, sustained traffic for bench/soak-run.sh: SMS onboarding flows (register, the SMS, the PIN)
on some keep-alive connections and admin work (open a door, status, close it, history, services,
health, metrics) on others, for a fixed time. Prints JSON: items per second by kind, request
latency percentiles by kind, and every error (any answer other than the expected one)."""
import asyncio
import base64
import itertools
import json
import sys
import time

host, port, metrics_port, api_key, admin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
sms_connections, admin_connections, seconds = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8])
numbers = itertools.count(1)
auth = "Basic " + base64.b64encode(admin.encode()).decode()
latency = {"sms": [], "admin": []}
done = {"sms": 0, "admin": 0}
errors = []


async def call(reader, writer, kind, method, path, body=None, headers=""):
    data = json.dumps(body).encode() if body is not None else b""
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n{headers}"
                 f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    start = time.perf_counter()
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    answer = await reader.readexactly(length)
    latency[kind].append((time.perf_counter() - start) * 1000)
    status = int(head.split(b" ")[1])
    try:
        return status, json.loads(answer)
    except ValueError:
        return status, answer.decode("utf-8", "replace")


def expect(ok, what, status, body):
    if not ok:
        errors.append({"what": what, "status": status, "body": body if isinstance(body, (dict, str)) else str(body)})
    return ok


async def sms_worker(deadline):
    reader, writer = await asyncio.open_connection(host, port)
    key = f"X-API-Key: {api_key}\r\n"
    while time.perf_counter() < deadline:
        mobile = f"+9191{next(numbers):08d}"
        status, body = await call(reader, writer, "sms", "POST", "/onboarding/register", {"mobile_number": mobile})
        if not expect(status == 200 and "hash" in body, "register", status, body):
            continue
        code = body["hash"]
        status, body = await call(reader, writer, "sms", "POST", "/sms/receive",
                                  {"mobile_number": mobile, "message": "ONBOARD:" + code, "received_at": "2026-01-01T00:00:00Z"}, key)
        if not expect(status == 200 and body.get("status") == "received", "receive", status, body):
            continue
        status, body = await call(reader, writer, "sms", "POST", "/pin-setup", {"mobile_number": mobile, "pin": "1234", "hash": code})
        if expect(status == 200, "pin-setup", status, body):
            done["sms"] += 1
    writer.close()


async def admin_worker(deadline, service):
    reader, writer = await asyncio.open_connection(host, port)
    mreader, mwriter = await asyncio.open_connection(host, metrics_port)
    h = f"Authorization: {auth}\r\n"
    while time.perf_counter() < deadline:
        status, body = await call(reader, writer, "admin", "POST", "/admin/monitoring/open-port",
                                  {"service": service, "duration_minutes": 15, "source": "10.99.0.0/24"}, h)
        expect(status == 200 and body.get("status") == "opened", "open-port", status, body)
        status, body = await call(reader, writer, "admin", "GET", "/admin/monitoring/port-status", None, h)
        expect(status == 200 and service in body.get("open_ports", {}), "port-status", status, body)
        status, body = await call(reader, writer, "admin", "POST", "/admin/monitoring/close-port", {"service": service}, h)
        expect(status == 200 and body.get("status") == "closed", "close-port", status, body)
        for path in ("/admin/monitoring/history?limit=20", "/admin/monitoring/services", "/admin/monitoring/audit?limit=20"):
            status, body = await call(reader, writer, "admin", "GET", path, None, h)
            expect(status == 200, path, status, body)
        status, body = await call(reader, writer, "admin", "GET", "/health")
        expect(status == 200, "/health", status, body)
        status, body = await call(mreader, mwriter, "admin", "GET", "/metrics")
        expect(status == 200, "/metrics", status, body)
        done["admin"] += 1
    writer.close()
    mwriter.close()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[int(p * (len(ordered) - 1))] if ordered else 0.0


async def main():
    start = time.perf_counter()
    deadline = start + seconds
    services = ["metrics", "postgres", "redis", "pgbouncer"]
    await asyncio.gather(*(sms_worker(deadline) for _ in range(sms_connections)),
                         *(admin_worker(deadline, services[i % len(services)]) for i in range(admin_connections)))
    elapsed = time.perf_counter() - start
    print(json.dumps({
        "seconds": elapsed,
        "sms_flows_per_second": done["sms"] / elapsed, "sms_flows": done["sms"],
        "admin_rounds_per_second": done["admin"] / elapsed, "admin_rounds": done["admin"],
        "requests": len(latency["sms"]) + len(latency["admin"]),
        "sms_p50_ms": percentile(latency["sms"], 0.5), "sms_p99_ms": percentile(latency["sms"], 0.99),
        "admin_p50_ms": percentile(latency["admin"], 0.5), "admin_p99_ms": percentile(latency["admin"], 0.99),
        "errors": len(errors), "first_errors": errors[:3]}))


asyncio.run(main())
