#!/usr/bin/env python3
"""Sends endless HTTP requests (floods) on parallel connections and reports how far each got.

Reads a JSON object from stdin: {"host": H, "port": P, "max_bytes": N, "seconds": S, "floods":
[{"head": BASE64, "piece": BASE64}, ...]}. Each flood opens a connection (send buffer 16 KiB),
sends its head, then its piece again and again until the server answers, closes, N bytes are sent
or S seconds pass. Writes a JSON list of {"sent": BYTES, "status": N (0: no answer), "body": TEXT,
"ended": "answered" | "closed" | "max_bytes" | "timeout", "closed_after": true when the server closed
the connection within 3 s of its answer}. Run inside the client namespace.
"""
import base64
import json
import select
import socket
import sys
import threading
import time


def closed_within(s, seconds):
    """Whether the peer closes the connection (EOF or reset) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readable, _, _ = select.select([s], [], [], 0.2)
        if readable:
            try:
                if s.recv(65536) == b"":
                    return True
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return True
    return False


def flood(host, port, head, piece, max_bytes, seconds):
    out = {"sent": 0, "status": 0, "body": "", "ended": "timeout", "closed_after": False}
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    s.settimeout(10)
    s.connect((host, port))
    s.setblocking(False)
    pending, answer = head, b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([s], [s] if out["sent"] < max_bytes else [], [], 0.5)
            if readable:
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    out["ended"] = "answered" if answer else "closed"
                    break
                if data:
                    answer += data
                    if b"\r\n\r\n" in answer:
                        head_part, _, body = answer.partition(b"\r\n\r\n")
                        length = next((int(l.split(b":", 1)[1]) for l in head_part.split(b"\r\n")[1:]
                                       if l.lower().startswith(b"content-length:")), 0)
                        if len(body) >= length:
                            out["ended"] = "answered"
                            out["closed_after"] = closed_within(s, 3)
                            break
            if writable:
                try:
                    n = s.send(pending)
                except (BlockingIOError, InterruptedError):
                    n = 0
                except OSError:
                    out["ended"] = "closed"
                    break
                out["sent"] += n
                pending = pending[n:] or piece
            elif out["sent"] >= max_bytes and not readable:
                out["ended"] = "max_bytes"
                # keep waiting for an answer until the deadline: the server may still be reading
    finally:
        s.close()
    if answer.startswith(b"HTTP/"):
        head_part, _, body = answer.partition(b"\r\n\r\n")
        out["status"] = int(head_part.split()[1])
        out["body"] = body.decode("utf-8", "replace")
    return out


def main():
    spec = json.load(sys.stdin)
    results = [None] * len(spec["floods"])

    def run(i, f):
        results[i] = flood(spec["host"], spec["port"], base64.b64decode(f["head"]), base64.b64decode(f["piece"]),
                           spec["max_bytes"], spec["seconds"])
    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(spec["floods"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
