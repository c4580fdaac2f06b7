#!/usr/bin/env python3
"""A notification receiver for the tests, run as its own process (inside a test's namespace):
HTTPS with a private CA's certificate, every POST recorded as one JSON line (path, headers, body)
in the log file and answered 200; or, with --hang, a TCP listener that accepts and never answers.

Usage: receiver.py --port PORT --log FILE --cert PEM --key PEM
       receiver.py --port PORT --hang
"""
import argparse
import http.server
import json
import socket
import ssl
import threading
import time

from backend import QuietServer  # run as a script from kit/, so its siblings import directly


def serve(port, log_path, cert, key):
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            line = json.dumps({"path": self.path, "headers": {k: v for k, v in self.headers.items()},
                               "body": body.decode("utf-8", "replace"), "at": time.time()})
            with lock, open(log_path, "a") as f:
                f.write(line + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    httpd = QuietServer(("127.0.0.1", port), Handler)
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    print("ready", flush=True)
    httpd.serve_forever()


def hang(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    print("ready", flush=True)
    held = []
    while True:
        held.append(s.accept()[0])
        print(f"held {len(held)}", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--hang", action="store_true")
    a = p.parse_args()
    if a.hang:
        hang(a.port)
    else:
        serve(a.port, a.log, a.cert, a.key)


if __name__ == "__main__":
    main()
