#!/usr/bin/env python3
"""A forwarding HTTP proxy for apt inside `docker build`, allowed to reach only named hosts.

docker_test.py runs it on the host side of the one veth pair into the server namespace, so that
apt in a build container reaches Debian's archive and nothing else: a request for any other host,
any port but 80, any method but GET and HEAD, or CONNECT, is refused with 403. It is bounded: at
most --max-connections clients at once (more wait in the listen queue), --timeout seconds per
read and write, and it exits by itself after --max-seconds, even if nobody stops it.

Usage: apt_proxy.py --listen ADDR:PORT --allow HOST [--allow HOST ...]
"""
import argparse
import http.client
import http.server
import socketserver
import sys
import threading
import time
import urllib.parse

# Hop-by-hop headers are the proxy's own business (RFC 9110 7.6.1); never forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade"}


class Proxy(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address, allowed, max_connections, timeout):
        self.allowed = {h.lower() for h in allowed}
        self.slots = threading.BoundedSemaphore(max_connections)
        self.io_timeout = timeout
        self.served = 0
        super().__init__(address, Handler)

    def process_request(self, request, client_address):
        # One slot per client connection, held until it is closed: the bound on concurrency.
        self.slots.acquire()
        try:
            super().process_request(request, client_address)
        except Exception:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.request.settimeout(self.server.io_timeout)
        super().setup()
        self.upstream = {}

    def finish(self):
        for c in self.upstream.values():
            c.close()
        super().finish()

    def log_message(self, fmt, *args):
        sys.stderr.write("apt_proxy: " + (fmt % args) + "\n")

    def refuse(self, why):
        body = (why + "\n").encode()
        self.send_response(403)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def do_CONNECT(self):
        self.refuse("This proxy does not tunnel (CONNECT).")

    def do_POST(self):
        self.refuse("This proxy forwards only GET and HEAD.")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        host = (url.hostname or "").lower()
        if url.scheme != "http" or host not in self.server.allowed or (url.port or 80) != 80:
            self.refuse(f"This proxy forwards only to http://{{{','.join(sorted(self.server.allowed))}}}:80, not {self.path}.")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        path = url.path + ("?" + url.query if url.query else "")
        response = None
        for attempt in (1, 2):  # a kept-alive upstream connection may have been closed by the mirror
            conn = self.upstream.get(host) or http.client.HTTPConnection(host, 80, timeout=self.server.io_timeout)
            self.upstream[host] = conn
            try:
                conn.request(self.command, path, headers=headers)
                response = conn.getresponse()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                del self.upstream[host]
                if attempt == 2:
                    self.send_error(502, f"{host} did not answer.")
                    self.close_connection = True
                    return
        length = response.getheader("Content-Length")
        self.send_response(response.status, response.reason)
        for k, v in response.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", length)
        else:
            self.send_header("Connection", "close")  # the body ends when the connection does
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            while True:
                chunk = response.read(65536)
                if not chunk:
                    break
                self.wfile.write(chunk)
        response.close()
        self.server.served += 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", required=True, help="ADDR:PORT")
    parser.add_argument("--allow", action="append", required=True, help="a host name requests may go to")
    parser.add_argument("--max-connections", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--max-seconds", type=float, default=1800)
    args = parser.parse_args()
    address, port = args.listen.rsplit(":", 1)
    proxy = Proxy((address, int(port)), args.allow, args.max_connections, args.timeout)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    print(f"apt_proxy: listening on {args.listen} for {', '.join(args.allow)}", flush=True)
    deadline = time.monotonic() + args.max_seconds
    while time.monotonic() < deadline:
        time.sleep(1)
    print(f"apt_proxy: stopping after {args.max_seconds:.0f} s ({proxy.served} requests served)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
