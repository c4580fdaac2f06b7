"""The backend stub that receives deliveries: real HTTPS with a private CA, checking each request's
HMAC signature and recording what it accepted; it can be told to fail (503) or to be slow."""
import hashlib
import hmac
import http.server
import json
import os
import ssl
import subprocess
import threading
import time


def private_ca(tmp):
    """A private CA and a server certificate it signed for localhost and 127.0.0.1, made with openssl
    in `tmp`: (ca.pem, server.pem, server.key)."""
    ca = os.path.join(tmp, "ca.pem")
    key, cert = os.path.join(tmp, "server.key"), os.path.join(tmp, "server.pem")
    ca_key = os.path.join(tmp, "ca.key")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=60)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
        "-subj", "/CN=SMS Bridge test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", os.path.join(tmp, "server.csr"),
        "-subj", "/CN=localhost")
    with open(os.path.join(tmp, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", os.path.join(tmp, "server.csr"), "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", os.path.join(tmp, "san.ext"))
    return ca, cert, key


class QuietServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server that reuses its port at once and is silent about clients that went
    away mid-request (the tests kill and stop them on purpose)."""
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class Backend:
    """A real HTTPS backend with a private CA: checks each request's signature and records it."""

    def __init__(self, tmp, secret):
        self.secret = secret.encode()
        self.ca, cert, key = private_ca(tmp)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.received = []  # (path, idempotency key, payload) with a valid signature
        self.bad_signatures = 0
        self.mode = "up"
        self.delay = 0.0  # seconds each accepted request takes (widens races between deliverers)
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = hmac.new(backend.secret, self.headers.get("X-Timestamp", "").encode() + body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, self.headers.get("X-Signature", "")):
                    backend.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if backend.mode == "fail":
                    self.send_response(503)
                    self.end_headers()
                    return
                if backend.mode == "slow":
                    time.sleep(3)
                time.sleep(backend.delay)
                backend.received.append((self.path, self.headers.get("Idempotency-Key"), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server_class, self.handler = QuietServer, Handler
        self.port = None
        self.start()

    def start(self):
        self.httpd = self.server_class(("127.0.0.1", self.port or 0), self.handler)
        self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def keys(self, path="/sync"):
        return [k for p, k, _ in self.received if p == path]
