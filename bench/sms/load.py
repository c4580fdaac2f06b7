#!/usr/bin/env python3
"""Drives /sms/receive then /pin-setup for pre-registered numbers, over N keep-alive connections,
for a fixed time. Prints JSON: items/s (an item = one receive + one pin-setup), request latency
percentiles in ms, and errors. PORT may be a comma-separated list (several servers): connections
are spread over them in turn, as a load balancer spreads them.
  load.py HOST PORT[,PORT...] API_KEY CONNECTIONS SECONDS FIRST_NUMBER"""
import asyncio
import base64
import itertools
import json
import statistics
import sys
import time

host, ports, api_key = sys.argv[1], [int(p) for p in sys.argv[2].split(",")], sys.argv[3]
connections, seconds, first = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
numbers = itertools.count(first)
latencies, errors, items = [], [], 0


def code(i):
    return base64.b32encode(i.to_bytes(5, "big")).decode()


async def call(reader, writer, path, body, headers=""):
    data = json.dumps(body).encode()
    writer.write(f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n{headers}"
                 f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    start = time.perf_counter()
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    answer = await reader.readexactly(length)
    latencies.append((time.perf_counter() - start) * 1000)
    return int(head.split(b" ")[1]), json.loads(answer)


async def worker(deadline, port):
    global items
    reader, writer = await asyncio.open_connection(host, port)
    while time.perf_counter() < deadline:
        i = next(numbers)
        mobile = f"+9190{i:08d}"
        status, body = await call(reader, writer, "/sms/receive", {"mobile_number": mobile, "message": "ONBOARD:" + code(i),
                                                                   "received_at": "2026-01-01T00:00:00Z"}, f"X-API-Key: {api_key}\r\n")
        if status != 200 or body.get("status") != "received":
            errors.append(body)
            continue
        status, body = await call(reader, writer, "/pin-setup", {"mobile_number": mobile, "pin": "1234", "hash": code(i)})
        if status != 200:
            errors.append(body)
            continue
        items += 1
    writer.close()


async def main():
    start = time.perf_counter()
    await asyncio.gather(*(worker(start + seconds, ports[n % len(ports)]) for n in range(connections)))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    print(json.dumps({"items_per_second": items / elapsed, "items": items, "errors": len(errors),
                      "first_error": errors[0] if errors else None,
                      "p50_ms": statistics.median(ordered), "p99_ms": ordered[int(0.99 * (len(ordered) - 1))]}))


asyncio.run(main())
