#!/usr/bin/env python3
"""Fill the laptop Prometheus with the server's metrics history for the time the doors were closed.

  scripts/backfill-history.py fetch          download the history into .history-backfill.om
  scripts/backfill-history.py push           push the downloaded history into the local Prometheus
  scripts/backfill-history.py run            both
  scripts/backfill-history.py fetch --output FILE   save the OpenMetrics text, push nothing

The server keeps a sampled history of its metrics and serves it at /metrics/history through the
"metrics" door (the target of the sms_bridge job in config/prometheus-remote.yml). Each sample
gets the labels a live scrape gives it (job, instance and the job's target labels; pg_* series
those of the postgres_exporter job), plus a marker series sms_bridge_history_backfilled = 1 at
each backfilled time. The samples go to http://127.0.0.1:9090/api/v1/write by Prometheus remote
write; that Prometheus must run with --web.enable-remote-write-receiver and an out-of-order
window (storage.tsdb.out_of_order_time_window) that covers the history.

History samples of times this Prometheus already scraped the server live (its runs of up == 1)
are left out, so no series gets both. With --doors-opened-at (monitoring-session.sh passes the
time it opened the doors) a run whose newest scrape succeeded since then goes on until now.

.history-backfill.json remembers the newest sample time pushed and the spans backfilled, so the
next run asks only for what is newer. Delete it to fetch everything the server still keeps.
Python 3 standard library only.
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

MAX_PAGES = 5000                   # of about 1 MiB each: a week of a busy server is ~250
MAX_BYTES = 2 * 1024 * 1024 * 1024
TIMEOUT_SECONDS = 30
OOO_WINDOW_SECONDS = 7 * 24 * 3600
# Samples this close to the edge of the window could fall out of it while the push runs (live
# scrapes move Prometheus' newest time on), and one refused sample fails its whole batch.
WINDOW_MARGIN_SECONDS = 3600
BATCH_SAMPLES = 20000
MARKER = "sms_bridge_history_backfilled"
# Prometheus' staleness marker (a NaN with this payload): a series ends there, instead of being
# looked back at for 5 minutes.
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Refused(Exception):
    """A sentence for the user."""


# ---- pure core: config reading -------------------------------------------------------------

def job_labels(config_text, job):
    """The labels a live scrape of JOB gives: job, instance (its first target) and target labels."""
    lines = config_text.splitlines()
    start = None
    for i, line in enumerate(lines):
        if re.match(r"^\s*-\s*job_name:\s*['\"]?%s['\"]?\s*$" % re.escape(job), line):
            start = i
            break
    if start is None:
        raise Refused(f"the Prometheus config has no '{job}' job.")
    indent = len(lines[start]) - len(lines[start].lstrip())
    labels = {"job": job}
    in_labels = None
    for line in lines[start + 1:]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        ind = len(line) - len(line.lstrip())
        if ind <= indent:
            break
        m = re.match(r"^\s*-?\s*targets:\s*\[\s*['\"]?([^'\",\]]+)", line)
        if m and "instance" in labels:
            break  # the next server's targets (?servers=): the history is the first one's, this server's
        if m:
            labels["instance"] = m.group(1).strip()
            continue
        if re.match(r"^\s*labels:\s*$", line):
            in_labels = ind
            continue
        if in_labels is not None:
            if ind <= in_labels:
                in_labels = None
                continue
            m = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*):\s*['\"]?(.*?)['\"]?\s*$", line)
            if m:
                labels[m.group(1)] = m.group(2)
    if "instance" not in labels:
        raise Refused(f"the '{job}' job in the Prometheus config has no target.")
    return labels


# ---- pure core: OpenMetrics parsing --------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(r"^(%s)(\{(.*)\})? (\S+) (\S+)$" % _NAME)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def _unescape(value):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_openmetrics(text):
    """[(name, {labels}, value, timestamp_ms)] from an OpenMetrics exposition with timestamps."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[-1] != "# EOF":
        raise Refused("the server's history does not end in '# EOF'; it is cut short or not OpenMetrics.")
    samples = []
    for number, line in enumerate(lines[:-1], 1):
        if line.startswith("#"):
            if not re.match(r"^# (TYPE|HELP|UNIT) %s( .*)?$" % _NAME, line):
                raise Refused(f"line {number} of the server's history is not OpenMetrics: {line[:80]!r}.")
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise Refused(f"line {number} of the server's history is not a sample with a timestamp: {line[:80]!r}.")
        labels = {}
        body = m.group(3) or ""
        pos = 0
        while pos < len(body):
            lm = _LABEL.match(body, pos)
            if not lm:
                raise Refused(f"line {number} of the server's history has unreadable labels: {line[:80]!r}.")
            labels[lm.group(1)] = _unescape(lm.group(2))
            pos = lm.end()
        try:
            value = float(m.group(4))
            ts = float(m.group(5))
        except ValueError:
            raise Refused(f"line {number} of the server's history has a value or time that is not a number: {line[:80]!r}.")
        if not math.isfinite(ts):
            raise Refused(f"line {number} of the server's history has no finite time: {line[:80]!r}.")
        samples.append((m.group(1), labels, value, int(round(ts * 1000))))
    return samples


def attach_labels(samples, bridge_labels, exporter_labels, exporter_server=None, marker_ended_at=None):
    """Give each sample the labels its live scrape would have; add the marker series.

    The postgres exporter (0.11) labels every pg_* figure but pg_up with server="HOST:PORT" of its
    connection; the job's own target label server wins that clash in Prometheus, which keeps the
    exporter's as exported_server. exporter_server is that HOST:PORT (default: the job's label)."""
    out = []
    ticks = set()
    for name, labels, value, ts in samples:
        job = exporter_labels if name.startswith("pg_") else bridge_labels
        merged = dict(labels)
        if name.startswith("pg_") and name != "pg_up":
            server = merged.pop("server", None) or exporter_server or exporter_labels.get("server", "")
            if server:
                merged["exported_server"] = server
        merged.update(job)
        merged["__name__"] = name
        out.append((merged, value, ts))
        ticks.add(ts)
    marker = dict(bridge_labels)
    marker["__name__"] = MARKER
    # The time an earlier push ended the marker at holds its staleness marker: a tick there (from
    # a server sampling 1 ms after that push's last tick) keeps its samples, not a second marker.
    times = sorted(ticks - {marker_ended_at})
    for ts in times:
        out.append((marker, 1.0, ts))
    # Where the backfilled ticks pause (the daemon was down, or live scrapes were left out), the
    # marker ends, so the dashboards' annotation does not run on over the pause.
    for _, last in spans(times, 3 * median_gap(times))[:-1]:
        out.append((marker, STALE, last + 1))
    return out


def marker_end(bridge_labels, last_ms):
    """The staleness marker that ends the marker series after the last backfilled tick."""
    marker = dict(bridge_labels)
    marker["__name__"] = MARKER
    return [(marker, STALE, last_ms + 1)]


def median_gap(times):
    """The median gap between consecutive times (sorted), 0 for fewer than two."""
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    return gaps[len(gaps) // 2] if gaps else 0


def spans(timestamps_ms, gap_ms):
    """[(first, last)] runs of times no more than gap_ms apart."""
    result = []
    for ts in sorted(set(timestamps_ms)):
        if result and ts - result[-1][1] <= gap_ms:
            result[-1][1] = ts
        else:
            result.append([ts, ts])
    return [tuple(s) for s in result]


def live_spans(up_samples, opened_at_ms=None, now_ms=None):
    """[(first, last)] runs of successful live scrapes, from (timestamp_ms, up) pairs.

    A scrape whose up is 0 stored nothing (the door was closed), so it ends a run and the history
    may fill its time; so does a pause of more than three scrape intervals (Prometheus was not
    running); the scrape interval is the median gap between scrapes. A run ends at its last
    scrape: whether the door stayed open after it is not known, and if it closed, the history is
    the only record. (So a history sample taken after the newest scrape, while the door is open
    and being scraped, would sit between two scrapes: at most one per series at the default
    sampling interval, and none when the stack was stopped, as stop-monitoring.sh leaves it,
    since monitoring-session.sh downloads the history before it starts the stack.) When the caller
    opened the doors at `opened_at_ms` and holds them open until `now_ms` (monitoring-session.sh),
    a run whose last scrape succeeded after that opening is still going on and lasts until now."""
    points = sorted(up_samples)
    gap = 3 * median_gap([ts for ts, _ in points])
    runs, scraped = [], []
    for ts, up in points + [(None, 0)]:
        if up == 1:
            scraped.append(ts)
        elif scraped:
            runs += spans(scraped, gap)
            scraped = []
    if opened_at_ms is not None and now_ms is not None and points and points[-1][1] == 1 and points[-1][0] >= opened_at_ms:
        runs[-1] = (runs[-1][0], max(runs[-1][1], now_ms))
    return runs


def outside_live(samples, live_by_job, job_of):
    """The samples whose time lies within no run of live scrapes of their job. Within a run
    Prometheus already has the series, and history samples there would interleave with the scraped
    ones; before a run's first scrape and after its last, the door was closed or opening, and the
    history is all there is."""
    kept = []
    for sample in samples:
        ts = sample[3]
        if not any(first <= ts <= last for first, last in live_by_job.get(job_of(sample[0]), ())):
            kept.append(sample)
    return kept


# ---- pure core: remote-write encoding ------------------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, payload):
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def encode_write_request(series):
    """Protobuf prometheus.WriteRequest from [(labels dict, [(value, ts_ms)])], labels by name."""
    out = bytearray()
    for labels, points in series:
        ts_bytes = bytearray()
        for name in sorted(labels):
            ts_bytes += _field(1, _field(1, name.encode()) + _field(2, labels[name].encode()))
        for value, ts in points:
            sample = b"\x09" + struct.pack("<d", value) + b"\x10" + _varint(ts & 0xFFFFFFFFFFFFFFFF)
            ts_bytes += _field(2, sample)
        out += _field(1, bytes(ts_bytes))
    return bytes(out)


def snappy_literal(data):
    """Snappy block format made of literals only: valid snappy, no compression."""
    out = bytearray(_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start:start + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
    return bytes(out)


def batches(labelled, per_batch):
    """Group samples by series (time order inside) and cut into WriteRequests of ~per_batch samples."""
    by_series = {}
    for labels, value, ts in labelled:
        key = tuple(sorted(labels.items()))
        by_series.setdefault(key, []).append((value, ts))
    current, count = [], 0
    for key, points in by_series.items():
        points.sort(key=lambda p: p[1])
        for i in range(0, len(points), per_batch):
            part = points[i:i + per_batch]
            current.append((dict(key), part))
            count += len(part)
            if count >= per_batch:
                yield current
                current, count = [], 0
    if current:
        yield current


# ---- I/O shell -----------------------------------------------------------------------------

def exporter_server_of(env_path):
    """HOST:PORT the laptop's exporter connects to, from .env (as docker-compose-monitoring.yml
    builds DATA_SOURCE_URI), or None."""
    try:
        with open(env_path) as f:
            env = dict(line.strip().split("=", 1) for line in f if re.match(r"^[A-Z_]+=", line))
    except OSError:
        return None
    host = env.get("SMS_BRIDGE_HOST", "").strip("'\"")
    return f"{host}:{env.get('POSTGRES_DOOR_PORT', '5433').strip() or '5433'}" if host else None


def load_state(path):
    try:
        with open(path) as f:
            state = json.load(f)
    except FileNotFoundError:
        return {"newest_ms": None, "spans": []}
    except (OSError, ValueError) as e:
        raise Refused(f"{path} is unreadable ({e}); delete it to fetch the whole history again.")
    state.setdefault("newest_ms", None)
    state.setdefault("spans", [])
    return state


def save_state(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def fetch_history(base_url, since_s, log, out):
    """Writes every page of /metrics/history from since_s to the file `out`, each page whole (its own
    # EOF), each checked to be OpenMetrics first. Returns the number of pages."""
    total, pages = 0, 0
    since = since_s
    while True:
        pages += 1
        if pages > MAX_PAGES:
            raise Refused(f"the server's history has more than {MAX_PAGES} pages; stopped there.")
        url = f"{base_url}/metrics/history?since={since:.3f}"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as resp:
                body = resp.read(MAX_BYTES - total + 1)
                next_since = resp.headers.get("X-History-Next-Since")
        except urllib.error.HTTPError as e:
            detail = e.read(2000).decode("utf-8", "replace").strip()
            raise Refused(f"the server answered {e.code} to {url}: {detail}")
        except (urllib.error.URLError, OSError) as e:
            raise Refused(f"could not reach {url} ({getattr(e, 'reason', e)}); is the metrics door open?")
        total += len(body)
        if total > MAX_BYTES:
            raise Refused(f"the server's history is larger than {MAX_BYTES // (1024 * 1024)} MiB; stopped there.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Refused(f"page {pages} of the server's history is not UTF-8 text (at byte {e.start}); it is not OpenMetrics.")
        if not text.rstrip("\n").endswith("# EOF"):
            raise Refused(f"page {pages} of the server's history does not end in '# EOF'.")
        parse_openmetrics(text)  # refuse garbage before keeping it
        out.write(text.rstrip("\n") + "\n")
        log(f"fetched page {pages} of the server's history ({len(body)} bytes)")
        if not next_since:
            break
        try:
            nxt = float(next_since)
        except ValueError:
            raise Refused(f"the server's X-History-Next-Since '{next_since[:40]}' is not a time.")
        if nxt <= since:
            raise Refused("the server's X-History-Next-Since does not move forward; stopped.")
        since = nxt
    return pages


def pages_of(lines):
    """The pages a fetch wrote, each a whole OpenMetrics text, from its lines (a file read line by
    line: only one page is in memory at a time)."""
    page = []
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        page.append(line)
        if line == "# EOF":
            yield "\n".join(page) + "\n"
            page = []
    if page:
        raise Refused("the downloaded history ends in the middle of a page; run 'fetch' again.")


def live_scrapes(query_url, labels, seconds):
    """[(timestamp_ms, up)] of the job's live scrapes in the last `seconds`, from the laptop
    Prometheus' own `up` series."""
    selector = ",".join(f'{k}="{labels[k]}"' for k in ("job", "instance"))
    url = query_url + "?" + urllib.parse.urlencode({"query": f"up{{{selector}}}[{int(seconds)}s]"})
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as resp:
            answer = json.loads(resp.read(64 * 1024 * 1024))
    except urllib.error.HTTPError as e:
        raise Refused(f"the laptop Prometheus did not say when it scraped the server ({e.code}): "
                      f"{e.read(2000).decode('utf-8', 'replace').strip()}")
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise Refused(f"could not ask the laptop Prometheus at {query_url} when it scraped the server "
                      f"({getattr(e, 'reason', e)}).")
    return [(int(round(float(t) * 1000)), float(v)) for series in answer.get("data", {}).get("result", [])
            for t, v in series.get("values", [])]


def push(url, labelled, log):
    pushed = 0
    for batch in batches(labelled, BATCH_SAMPLES):
        body = snappy_literal(encode_write_request(batch))
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
            "User-Agent": "sms-bridge-backfill",
        })
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:
                resp.read(4096)
        except urllib.error.HTTPError as e:
            detail = e.read(2000).decode("utf-8", "replace").strip()
            raise Refused(f"the laptop Prometheus refused the history ({e.code}): {detail}")
        except (urllib.error.URLError, OSError) as e:
            raise Refused(f"could not reach the laptop Prometheus at {url} ({getattr(e, 'reason', e)}); "
                          "is it running with --web.enable-remote-write-receiver?")
        pushed += sum(len(points) for _, points in batch)
    log(f"pushed {pushed} samples into the laptop Prometheus")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[2:]))
    ap.add_argument("action", choices=["fetch", "push", "run"])
    ap.add_argument("--config", default=os.path.join(PROJECT_DIR, "config", "prometheus-remote.yml"),
                    help="the exported Prometheus config (default: config/prometheus-remote.yml)")
    ap.add_argument("--state", default=os.path.join(PROJECT_DIR, ".history-backfill.json"),
                    help="what was backfilled before (default: .history-backfill.json)")
    ap.add_argument("--download", default=os.path.join(PROJECT_DIR, ".history-backfill.om"),
                    help="where fetch keeps the history for push (default: .history-backfill.om)")
    ap.add_argument("--output", help="save the OpenMetrics history to FILE and push nothing")
    ap.add_argument("--write-url", default="http://127.0.0.1:9090/api/v1/write",
                    help="the laptop Prometheus' remote-write receiver")
    ap.add_argument("--query-url", help="the laptop Prometheus' query API, asked when it scraped the "
                    "server live (default: /api/v1/query on the write URL's host)")
    ap.add_argument("--doors-opened-at", type=int, metavar="MS",
                    help="the doors were opened at MS (Unix milliseconds) and are still open "
                    "(monitoring-session.sh passes it): a live scrape since then goes on covering the "
                    "time up to now, so history samples after it are left out")
    args = ap.parse_args(argv)
    if not args.query_url:
        parts = urllib.parse.urlsplit(args.write_url)
        args.query_url = f"{parts.scheme}://{parts.netloc}/api/v1/query"

    def log(msg):
        print(f"backfill: {msg}", file=sys.stderr)

    try:
        with open(args.config) as f:
            config = f.read()
    except OSError as e:
        print(f"backfill: cannot read {args.config} ({e.strerror}); run scripts/monitoring-session.sh first.",
              file=sys.stderr)
        return 1
    try:
        bridge = job_labels(config, "sms_bridge")
        try:
            exporter = job_labels(config, "postgres_exporter")
        except Refused:
            exporter = None  # no postgres door: the pg_* figures keep the sms_bridge job's labels
        state = load_state(args.state)
        if args.action in ("fetch", "run"):
            now = time.time()
            since = now - OOO_WINDOW_SECONDS + WINDOW_MARGIN_SECONDS
            if state["newest_ms"] is not None:
                since = max(since, (state["newest_ms"] + 1) / 1000.0)
            target = args.output or args.download
            with open(target + ".part", "w") as f:
                pages = fetch_history(f"http://{bridge['instance']}", since, log, f)
            os.replace(target + ".part", target)
            log(f"saved the history (since {since:.3f}, {pages} pages) as {target}")
            if args.output:
                return 0
        if args.action in ("push", "run"):
            try:
                download = open(args.download, encoding="utf-8")
            except FileNotFoundError:
                raise Refused(f"{args.download} does not exist; run 'fetch' first.")
            with download:
                # Page by page, the state saved after each: memory stays at a page's worth, and a push
                # cut short goes on from where it stopped next time.
                server = exporter_server_of(os.path.join(PROJECT_DIR, ".env"))
                oldest_ms = int((time.time() - OOO_WINDOW_SECONDS + WINDOW_MARGIN_SECONDS / 2) * 1000)
                # The times a previous session scraped live are in the history too; those samples stay
                # out, so no series has both.
                jobs = {"sms_bridge": bridge}
                if exporter:
                    jobs["postgres_exporter"] = exporter
                now_ms = int(time.time() * 1000)
                live = {job: live_spans(live_scrapes(args.query_url, labels, OOO_WINDOW_SECONDS), args.doors_opened_at, now_ms)
                        for job, labels in jobs.items()}
                job_of = lambda name: "postgres_exporter" if exporter and name.startswith("pg_") else "sms_bridge"
                all_spans = []
                skipped = 0
                for page in pages_of(download):
                    samples = [s for s in parse_openmetrics(page) if s[3] >= oldest_ms]
                    if state["newest_ms"] is not None:
                        samples = [s for s in samples if s[3] > state["newest_ms"]]
                    if not samples:
                        continue
                    fresh = outside_live(samples, live, job_of)
                    skipped += len(samples) - len(fresh)
                    if fresh:
                        push(args.write_url, attach_labels(fresh, bridge, exporter or bridge, server if exporter else None,
                                                           state.get("marker_ended_ms")), log)
                        page_spans = [list(x) for x in spans([s[3] for s in fresh], 5 * 60 * 1000)]
                        if all_spans and page_spans[0][0] - all_spans[-1][1] <= 5 * 60 * 1000:
                            all_spans[-1][1] = page_spans[0][1]
                            page_spans = page_spans[1:]
                        all_spans += page_spans
                    # Past the newest time looked at, pushed or covered by a live scrape.
                    state["newest_ms"] = max(s[3] for s in samples)
                    save_state(args.state, dict(state, spans=(state["spans"] + all_spans)[-50:]))
            if all_spans:
                end = marker_end(bridge, all_spans[-1][1])
                push(args.write_url, end, lambda _: None)
                state["marker_ended_ms"] = end[0][2]
            os.remove(args.download)
            if skipped:
                log(f"left out {skipped} samples of times the laptop Prometheus scraped live")
            if not all_spans:
                log("nothing new in the server's history")
                return 0
            state["spans"] = (state["spans"] + all_spans)[-50:]
            save_state(args.state, state)
            for first, last in all_spans:
                log("backfilled " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(first / 1000))
                    + " to " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last / 1000)))
        return 0
    except Refused as e:
        log(str(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
