#!/usr/bin/env python3
"""Times open-port and close-port through HTTP (Basic auth, the helper, the audit commit), one
keep-alive connection, N pairs. Prints JSON with medians and p99s in milliseconds."""
import base64
import http.client
import json
import statistics
import sys
import time

host, port, user, password, pairs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
headers = {"Authorization": auth, "Content-Type": "application/json"}
conn = http.client.HTTPConnection(host, port, timeout=30)


def call(path, body):
    start = time.perf_counter()
    conn.request("POST", path, body=json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    elapsed = (time.perf_counter() - start) * 1000
    if r.status != 200:
        sys.exit(f"{path}: {r.status} {data!r}")
    return elapsed


call("/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60})  # warm the login cache
call("/admin/monitoring/close-port", {"service": "metrics"})
opens, closes = [], []
for _ in range(pairs):
    opens.append(call("/admin/monitoring/open-port", {"service": "metrics", "duration_minutes": 60, "source": "10.9.9.9/32"}))
    closes.append(call("/admin/monitoring/close-port", {"service": "metrics"}))


def p99(xs):
    return sorted(xs)[min(len(xs) - 1, int(0.99 * len(xs)))]


print(json.dumps({"open_median_ms": statistics.median(opens), "open_p99_ms": p99(opens),
                  "close_median_ms": statistics.median(closes), "close_p99_ms": p99(closes), "pairs": pairs}))
