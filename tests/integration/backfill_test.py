#!/usr/bin/env python3
"""laptop-monitoring/scripts/backfill-history.py: its encoders, and a real Prometheus (Debian's,
run with the remote-write receiver and an out-of-order window) filled from a history server that
speaks the /metrics/history contract while also serving the live /metrics Prometheus scrapes.

  backfill_test.py --list | --scenario NAME [--build-dir DIR]
"""
import argparse
import http.server
import importlib.util
import json
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(SOURCE_DIR, "laptop-monitoring", "scripts", "backfill-history.py")


def load_module():
    spec = importlib.util.spec_from_file_location("backfill_history", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def snappy_decode(data):
    """A full snappy block decoder (literals and copies), independent of the encoder under test."""
    pos, length, shift = 0, 0, 0
    while True:
        b = data[pos]
        pos += 1
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            n = tag >> 2
            if n >= 60:
                extra = n - 59
                n = int.from_bytes(data[pos:pos + extra], "little")
                pos += extra
            n += 1
            out += data[pos:pos + n]
            pos += n
        else:
            if kind == 1:
                n = ((tag >> 2) & 7) + 4
                off = ((tag >> 5) << 8) | data[pos]
                pos += 1
            elif kind == 2:
                n = (tag >> 2) + 1
                off = int.from_bytes(data[pos:pos + 2], "little")
                pos += 2
            else:
                n = (tag >> 2) + 1
                off = int.from_bytes(data[pos:pos + 4], "little")
                pos += 4
            for _ in range(n):
                out.append(out[-off])
    check(len(out) == length, f"snappy length {len(out)} != header {length}")
    return bytes(out)


def scenario_encoders(_args):
    """Snappy literals round-trip through a real decoder at every literal-length boundary; the
    WriteRequest bytes of a known request; the parser refuses garbage with a sentence."""
    bf = load_module()
    for n in (0, 1, 59, 60, 61, 255, 256, 257, 65535, 65536, 65537, 200000):
        data = bytes((i * 7) & 0xFF for i in range(n))
        check(snappy_decode(bf.snappy_literal(data)) == data, f"snappy round trip failed at {n} bytes")
    got = bf.encode_write_request([({"b": "c", "__name__": "a"}, [(1.0, 1000)])]).hex()
    want = "0a250a0d0a085f5f6e616d655f5f1201610a060a0162120163120c09000000000000f03f10e807"
    check(got == want, f"WriteRequest bytes {got} != {want}")
    samples = bf.parse_openmetrics('# TYPE r counter\nr_total{a="x\\"y"} 5 1700000000.500\npg_up 1 1700000000.5\n# EOF\n')
    check(samples == [("r_total", {"a": 'x"y'}, 5.0, 1700000000500), ("pg_up", {}, 1.0, 1700000000500)], str(samples))
    for bad in ("r_total 5 1\n", "r_total 5\n# EOF\n", "<html>\n# EOF\n", 'r{a=1} 5 1\n# EOF\n'):
        try:
            bf.parse_openmetrics(bad)
        except bf.Refused as e:
            check(str(e).endswith(".") or str(e).endswith("'."), f"not a sentence: {e}")
        else:
            raise AssertionError(f"garbage accepted: {bad!r}")
    # A config listing two servers (?servers=): the history is labelled as the first, this server's.
    two = ("scrape_configs:\n  - job_name: sms_bridge\n    static_configs:\n"
           "      - targets: ['10.0.0.1:9100']\n        labels:\n          door: metrics\n          server: '10.0.0.1'\n"
           "      - targets: ['10.0.0.2:9100']\n        labels:\n          door: metrics\n          server: '10.0.0.2'\n")
    first = bf.job_labels(two, "sms_bridge")
    check(first == {"job": "sms_bridge", "instance": "10.0.0.1:9100", "door": "metrics", "server": "10.0.0.1"},
          f"the labels of a two-server config: {first}")
    labelled = bf.attach_labels(samples, {"job": "sms_bridge", "instance": "s:9100", "door": "metrics"},
                                {"job": "postgres_exporter", "instance": "localhost:9187", "door": "postgres"})
    size = bf.attach_labels([("pg_database_size_bytes", {"datname": "d"}, 1.0, 1)], {"job": "sms_bridge"},
                            {"job": "postgres_exporter", "server": "s:5433"})[0][0]
    check(size == {"__name__": "pg_database_size_bytes", "datname": "d", "job": "postgres_exporter",
                   "server": "s:5433", "exported_server": "s:5433"}, f"pg_database_size_bytes labels: {size}")
    check("exported_server" not in [lab for lab, _, _ in labelled if lab["__name__"] == "pg_up"][0], "pg_up got exported_server")
    # The marker ends (a staleness marker, Prometheus' own NaN) where the ticks pause and after the last.
    paused = bf.attach_labels([("r_total", {}, 1.0, t) for t in (1000, 2000, 3000, 60000, 61000)], {"job": "sms_bridge"}, {})
    stale = [ts for lab, v, ts in paused if lab["__name__"] == bf.MARKER and math.isnan(v)]
    check(stale == [3001], f"the marker's staleness markers: {stale}")
    stale_bits = struct.pack("<d", bf.marker_end({"job": "sms_bridge"}, 61000)[0][1]).hex()
    check(stale_bits == struct.pack("<Q", 0x7FF0000000000002).hex() and bf.marker_end({"job": "j"}, 5)[0][2] == 6,
          f"the end of the marker is not Prometheus' staleness marker: {stale_bits}")
    check(bytes.fromhex("020000000000f07f") in bf.encode_write_request([({"__name__": "m"}, [(bf.STALE, 1)])]),
          "the staleness marker does not survive the encoding")
    jobs = {(lab["__name__"], lab["job"]) for lab, _, _ in labelled}
    check(jobs == {("r_total", "sms_bridge"), ("pg_up", "postgres_exporter"),
                   ("sms_bridge_history_backfilled", "sms_bridge")}, str(jobs))
    # Live scrapes every 15 s from 100 s to 160 s, but the door was closed at 130 s and 145 s; again
    # from 400 s, after Prometheus was stopped: history samples within a run of successful scrapes
    # stay out; those between runs, or before or after one, go in.
    up = [(t * 1000, 0.0 if t in (130, 145) else 1.0) for t in range(100, 161, 15)] + [(400000, 1.0), (415000, 1.0)]
    live = bf.live_spans(up)
    check(live == [(100000, 115000), (160000, 160000), (400000, 415000)], f"live spans: {live}")
    check(bf.live_spans([(5, 0.0)]) == [] and bf.live_spans([(5, 1.0)]) == [(5, 5)], "live spans of one scrape")
    # A run ends at its last scrape, recent or not: the door may have closed right after it.
    scraping = [(0, 1.0), (15000, 1.0), (30000, 1.0)]
    check(bf.live_spans(scraping) == [(0, 30000)], f"a run of three scrapes: {bf.live_spans(scraping)}")
    # ...unless the caller opened the doors before that scrape and holds them: it goes on until now.
    check(bf.live_spans(scraping, 20000, 40000) == [(0, 40000)], f"a run going on: {bf.live_spans(scraping, 20000, 40000)}")
    # Not a run whose last scrape came before this opening (an earlier session's), nor one whose
    # last scrape failed.
    check(bf.live_spans(scraping, 35000, 40000) == [(0, 30000)], f"an earlier session's run: {bf.live_spans(scraping, 35000, 40000)}")
    closed_last = scraping + [(45000, 0.0)]
    check(bf.live_spans(closed_last, 20000, 50000) == [(0, 30000)], f"a run whose last scrape failed: {bf.live_spans(closed_last, 20000, 50000)}")
    # The pages of a download, read line by line.
    pages = list(bf.pages_of(iter(["a 1 1\n", "# EOF\n", "\n", "b 2 2\n", "# EOF\n"])))
    check(pages == ["a 1 1\n# EOF\n", "b 2 2\n# EOF\n"], f"pages: {pages}")
    try:
        list(bf.pages_of(iter(["a 1 1\n", "# EOF\n", "b 2 2\n"])))
    except bf.Refused as e:
        check("middle of a page" in str(e), str(e))
    else:
        raise AssertionError("a download cut inside a page was taken")
    history = [(name, {}, 1.0, t * 1000) for t in (80, 100, 110, 116, 130, 160, 161, 300, 400, 405, 416)
               for name in ("r_total", "pg_up")]
    kept = bf.outside_live(history, {"sms_bridge": live}, lambda n: "postgres_exporter" if n.startswith("pg_") else "sms_bridge")
    check([s[3] // 1000 for s in kept if s[0] == "r_total"] == [80, 116, 130, 161, 300, 416],
          f"history kept beside live scrapes: {[s[3] for s in kept if s[0] == 'r_total']}")
    check(len([s for s in kept if s[0] == "pg_up"]) == 11, "a job with no live scrapes lost history samples")
    print("encoders: snappy round trip at 12 sizes, WriteRequest bytes, 4 garbage texts refused, live spans left out")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class History:
    """A counter sms_bridge_requests_total that rises by 1 a second; samples kept every second."""

    def __init__(self, start):
        self.start = start
        self.requests = []  # the since of each /metrics/history asked

    def value(self, t):
        return int(t - self.start)

    def page(self, since, page_samples=10):
        now = time.time()
        t0 = max(self.start, since)
        ticks = [t0 + i for i in range(int(now - t0) + 1) if t0 + i <= now]
        ticks = [round(t, 3) for t in ticks]
        more = len(ticks) > page_samples
        ticks = ticks[:page_samples]
        lines = ["# TYPE sms_bridge_requests counter"]
        lines += [f'sms_bridge_requests_total{{route="/x"}} {self.value(t)} {t:.3f}' for t in ticks]
        lines += ["# TYPE pg_up unknown"] + [f"pg_up 1 {t:.3f}" for t in ticks]
        nxt = f"{ticks[-1] + 1:.3f}" if more else None
        return "\n".join(lines) + "\n# EOF\n", nxt


def serve(history, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            if url.path == "/metrics/history":
                since = float(urllib.parse.parse_qs(url.query).get("since", ["0"])[0])
                history.requests.append(since)
                body, nxt = history.page(since)
                self.send_response(200)
                self.send_header("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
                if nxt:
                    self.send_header("X-History-Next-Since", nxt)
            elif url.path == "/metrics":
                body = f'# TYPE sms_bridge_requests_total counter\nsms_bridge_requests_total{{route="/x"}} {history.value(time.time())}\n'
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
            else:
                self.send_response(404)
                body = ""
            data = body.encode()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def query(prom, path, **params):
    with urllib.request.urlopen(f"{prom}{path}?{urllib.parse.urlencode(params)}", timeout=10) as r:
        return json.load(r)["data"]["result"]


def scenario_fake_server(_args):
    """A closed gap of 25 s in which the counter rose: after the backfill, query_range over the gap
    has the counter's values at the right times in one series (the live scrape's), the marker covers
    the gap, and a second run asks only for what is newer than the first run pushed."""
    if not shutil.which("prometheus"):
        print("prometheus is not installed (apt-get install prometheus)", file=sys.stderr)
        return 1 if os.environ.get("CI") == "true" else 77
    tmp = tempfile.mkdtemp(prefix="backfill-test-")
    procs = []
    try:
        start = time.time() - 25  # the doors were closed from here on: nothing scraped it
        history = History(start)
        door, prom_port = free_port(), free_port()
        srv = serve(history, door)
        config = os.path.join(tmp, "prometheus-remote.yml")
        with open(os.path.join(SOURCE_DIR, "laptop-monitoring", "config", "prometheus-remote.yml.template")) as f:
            text = f.read()
        text = text.replace("SERVER_ADDRESS:9100", f"127.0.0.1:{door}").replace("localhost:9090", f"127.0.0.1:{prom_port}")
        text = text.replace("scrape_interval: 15s\n    scrape_timeout", "scrape_interval: 2s\n    scrape_timeout")
        text = text.replace("scrape_timeout: 10s", "scrape_timeout: 1s")
        with open(config, "w") as f:
            f.write(text)
        p = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp}/data",
                              f"--web.listen-address=127.0.0.1:{prom_port}", "--web.enable-remote-write-receiver"],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prom.log"), "w"))
        procs.append(p)
        prom = f"http://127.0.0.1:{prom_port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(prom + "/-/ready", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("Prometheus did not become ready: " + open(os.path.join(tmp, "prom.log")).read()[-2000:])
        time.sleep(5)  # live scrapes exist before the backfill: the backfill lands before them, out of order
        state = os.path.join(tmp, "state.json")
        cmd = [sys.executable, SCRIPT, "run", "--config", config, "--state", state,
               "--download", os.path.join(tmp, "h.om"), "--write-url", f"{prom}/api/v1/write"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"backfill failed: {r.stderr}")
        check(len(history.requests) >= 3, f"not all pages fetched: {history.requests}")
        gap_end = start + 20
        res = query(prom, "/api/v1/query_range", query='sms_bridge_requests_total{route="/x"}',
                    start=f"{start:.3f}", end=f"{gap_end:.3f}", step="1")
        check(len(res) == 1, f"the counter is {len(res)} series over the gap, not 1: {res}")
        lab = res[0]["metric"]
        check(lab.get("job") == "sms_bridge" and lab.get("instance") == f"127.0.0.1:{door}" and lab.get("door") == "metrics",
              f"backfilled labels are not the live scrape's: {lab}")
        values = res[0]["values"]
        check(len(values) >= 19, f"only {len(values)} points over a 20 s gap")
        for t, v in values:
            check(abs(float(v) - history.value(round(float(t)) - 0.0)) <= 1, f"value {v} at {t} is not the counter's")
        pg = query(prom, "/api/v1/query_range", query="pg_up", start=f"{start:.3f}", end=f"{gap_end:.3f}", step="1")
        check(len(pg) == 1 and pg[0]["metric"].get("job") == "postgres_exporter", f"pg_up: {pg}")
        mk = query(prom, "/api/v1/query_range", query="sms_bridge_history_backfilled", start=f"{start:.3f}",
                   end=f"{gap_end:.3f}", step="1")
        check(len(mk) == 1 and len(mk[0]["values"]) >= 19, f"the marker does not cover the gap: {mk}")
        with open(state) as f:
            st = json.load(f)
        first_newest = st["newest_ms"]
        check(st["spans"] and st["spans"][0][0] <= int(start * 1000) + 1000, f"state spans: {st}")
        time.sleep(3)
        history.requests.clear()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, f"second backfill failed: {r.stderr}")
        check(history.requests and abs(history.requests[0] - (first_newest + 1) / 1000) < 0.002,
              f"the second run asked since={history.requests[:1]}, not just after {first_newest} ms")
        # A refused push is a sentence with Prometheus' answer, and the state does not move.
        r = subprocess.run(cmd[:-1] + [f"{prom}/api/v1/nowhere"], capture_output=True, text=True, timeout=60)
        check(r.returncode != 0 and "refused" in r.stderr, f"a refused push was not reported: {r.stderr}")
        srv.shutdown()
        print(f"fake_server: {len(values)} points over the gap in 1 series, marker {len(mk[0]['values'])} points, "
              f"second run since={history.requests[0]:.3f}")
        return 0
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--scenario")
    ap.add_argument("--build-dir")
    args = ap.parse_args()
    if args.list:
        print("\n".join(SCENARIOS))
        return 0
    names = [args.scenario] if args.scenario else list(SCENARIOS)
    for name in names:
        rc = SCENARIOS[name](args)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
