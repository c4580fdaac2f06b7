#!/usr/bin/env python3
"""Sends raw HTTP/1.1 requests and reports the answers, for tests that need bytes curl will not send.

Reads a JSON list from stdin: [{"host": H, "port": P, "request": BASE64}, ...]; writes a JSON list
of {"status": N (0: no answer), "headers": {...}, "body": TEXT, "error": TEXT}. Each request goes on
its own connection, which the test closes after the answer (bounded: 10 s per request, 1 MiB read).
Run inside the namespace that can reach the server (ip netns exec NS python3 raw_http.py).
"""
import base64
import json
import socket
import sys


def exchange(host, port, raw):
    out = {"status": 0, "headers": {}, "body": "", "error": ""}
    try:
        with socket.create_connection((host, port), timeout=10) as s:
            try:
                s.sendall(raw)
                s.shutdown(socket.SHUT_WR)  # nothing more is coming: a short body ends here
            except OSError as e:  # the server may answer and close before reading everything
                out["error"] = f"send: {e}"
            data = b""
            while len(data) < (1 << 20):
                try:
                    chunk = s.recv(65536)
                except OSError as e:
                    out["error"] = out["error"] or f"recv: {e}"
                    break
                if not chunk:
                    break
                data += chunk
                head, sep, rest = data.partition(b"\r\n\r\n")
                if sep:
                    length = next((int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")[1:]
                                   if l.lower().startswith(b"content-length:")), None)
                    if length is not None and len(rest) >= length:
                        break
    except OSError as e:
        out["error"] = f"connect: {e}"
        return out
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if lines and lines[0].startswith("HTTP/"):
        out["status"] = int(lines[0].split()[1])
        for line in lines[1:]:
            k, _, v = line.partition(":")
            out["headers"][k.strip().lower()] = v.strip()
    out["body"] = body.decode("utf-8", "replace")
    return out


def main():
    cases = json.load(sys.stdin)
    json.dump([exchange(c["host"], c["port"], base64.b64decode(c["request"])) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
