#!/usr/bin/env python3
"""Soak benchmark of `yagura serve` (issue 15): not a test, a long run that reports.

Starts `yagura serve` on a fresh store in a temp folder, on a free loopback port; builds and
signs two versions of the core pack (0.1.0, and 0.1.1 with explicit scan-detection config) from
target/rules; creates tenants `acme` and `globex` with scoped tokens; then, for --duration
seconds, runs at once:

  ingest     --ingest-clients per tenant post NDJSON batches (1-6 copies of a sample file,
             event times shifted along a per-tenant timeline so rules fire and alerts are new
             or updated; --gzip-share of them gzipped) at --ingest-rate requests/s each;
             a 429 is retried after its Retry-After
  burst      every 45-75 s, 12 posts at once for one tenant (over --ingest-in-flight: 429s)
  queries    --query-clients alternate GET /v1/alerts with varied filters and pages,
             GET /v1/alerts/{id}, /metrics, /healthz and /v1/rules, ~8 requests/s each
  probe      GET /healthz on a new connection every second (any failure fails the run)
  sse        --sse-clients subscribers to /v1/alerts/stream reading everything, each
             reconnecting after 45-150 s
  activate   every 20-30 s an activation or rollback of yagura-core for one tenant
             (0.1.0 -> 0.1.1 -> rollback -> ^0.1 -> 0.1.0 -> rollback -> rollback, repeated)
  slow       raw sockets that misbehave, each restarting when it ends: idle connections,
             headers trickled a byte a second, bodies trickled (events and JSON), a kept-alive
             connection left idle, an SSE reader taking 256 bytes every 5 s, an SSE reader that
             does not read at all; how each ends (closed, 408, ...) and after how long is counted

Every --interval seconds one line: server RSS, fds (sockets), threads, CPU, load average,
compilers running on the machine, server-side counters from /metrics, and per class of request
count and p50/p99/max latency (ms) with non-2xx statuses. At the end a summary (and --out FILE:
.json for everything, otherwise CSV of the samples). Exit status 1 when any 5xx was answered,
a /healthz probe failed or the server died; 2 when setup failed.

  python3 scripts/soak.py                       # 600 s, binary $YAGURA_BIN or target/release/yagura
  python3 scripts/soak.py --duration 60 --out /tmp/soak.json
Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import collections
import csv
import gzip
import http.client
import json
import math
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENANTS = ["acme", "globex"]
PACK = "yagura-core"
IDLE_REUSE_S = 7.0  # reuse a kept-alive connection only if idle less than this (server: 10 s)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------
# statistics


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.interval = collections.defaultdict(list)  # class -> [latency s]
        self.interval_status = collections.defaultdict(collections.Counter)
        self.total = collections.defaultdict(list)
        self.total_status = collections.defaultdict(collections.Counter)
        self.errors = []  # (t, class, message) for non-slow clients
        self.interval_errors = 0
        self.counters = collections.Counter()
        self.interval_counters = collections.Counter()
        self.slow = collections.defaultdict(list)  # kind -> [(outcome, seconds)]
        self.healthz_failures = []
        self.fivexx = []

    def now(self):
        return time.monotonic() - self.t0

    def record(self, cls, latency, status, detail=""):
        with self.lock:
            self.interval[cls].append(latency)
            self.total[cls].append(latency)
            self.interval_status[cls][status] += 1
            self.total_status[cls][status] += 1
            if status >= 500:
                self.fivexx.append((self.now(), cls, status, detail[:300]))

    def error(self, cls, message):
        with self.lock:
            self.errors.append((self.now(), cls, message[:300]))
            self.interval_errors += 1

    def count(self, name, n=1):
        with self.lock:
            self.counters[name] += n
            self.interval_counters[name] += n

    def slow_end(self, kind, outcome, seconds):
        with self.lock:
            self.slow[kind].append((outcome, seconds))

    def take_interval(self):
        with self.lock:
            lat, st = self.interval, self.interval_status
            errs, ctr = self.interval_errors, self.interval_counters
            self.interval = collections.defaultdict(list)
            self.interval_status = collections.defaultdict(collections.Counter)
            self.interval_errors = 0
            self.interval_counters = collections.Counter()
        return lat, st, errs, ctr


# ---------------------------------------------------------------------------------------------
# HTTP client (keep-alive, one per thread)


class Client:
    def __init__(self, ctx, token, timeout=30.0):
        self.ctx = ctx
        self.token = token
        self.timeout = timeout
        self.conn = None
        self.last = 0.0
        self.prev_status = None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None

    def request(self, cls, method, path, body=None, headers=None, record=True):
        """(status, headers, body bytes) or None after a connection failure (recorded)."""
        stats = self.ctx.stats
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if headers:
            h.update(headers)
        for attempt in (0, 1):
            reused = self.conn is not None and time.monotonic() - self.last < IDLE_REUSE_S
            if not reused:
                self.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.ctx.port, timeout=self.timeout)
            t0 = time.perf_counter()
            try:
                try:
                    self.conn.request(method, path, body=body, headers=h)
                except (BrokenPipeError, ConnectionResetError):
                    # the server may answer (429) without reading the body, then close: the
                    # answer can still be waiting in the socket
                    pass
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.close()
                if reused and attempt == 0:
                    # the server closed a kept-alive connection; http.client cannot tell before
                    # using it. Counted by the status of the connection's previous answer.
                    stats.count("stale_keepalive_retries")
                    stats.count(f"stale_keepalive_after_{self.prev_status}")
                    continue
                stats.error(cls, f"{method} {path.split('?')[0]}: {type(e).__name__}: {e}")
                return None
            except (OSError, http.client.HTTPException) as e:
                self.close()
                stats.error(cls, f"{method} {path.split('?')[0]}: {type(e).__name__}: {e}")
                return None
            dt = time.perf_counter() - t0
            self.last = time.monotonic()
            self.prev_status = resp.status
            if resp.will_close:
                self.close()
            if record:
                stats.record(cls, dt, resp.status, f"{method} {path}: {data[:200]!r}")
            return resp.status, resp.headers, data
        return None


def jget(resp):
    try:
        return json.loads(resp[2])
    except (ValueError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------
# events


class EventSource:
    """Sample files as lines whose `time`/`start_time` are shifted per copy."""

    TIME_RE = re.compile(r'"(time|start_time)":(\d+)')

    def __init__(self, paths):
        self.files = []
        for p in paths:
            lines = [l for l in open(p, encoding="utf-8").read().splitlines() if l.strip()]
            times = [int(json.loads(l)["time"]) for l in lines]
            self.files.append((lines, min(times), max(times) - min(times)))
        start = int(time.time() * 1000) - 365 * 86400 * 1000
        self.timeline = {t: start for t in TENANTS}
        self.lock = threading.Lock()

    def batch(self, tenant, copies, jump_share=0.1):
        out = []
        for _ in range(copies):
            lines, t_min, span = random.choice(self.files)
            with self.lock:
                if random.random() < jump_share:
                    self.timeline[tenant] += 2 * 3600 * 1000  # past the dedup window: new alerts
                base = self.timeline[tenant]
                self.timeline[tenant] += span + 30_000
            shift = base - t_min
            sub = lambda m: f'"{m.group(1)}":{int(m.group(2)) + shift}'  # noqa: E731
            out.extend(self.TIME_RE.sub(sub, l) for l in lines)
        return ("\n".join(out) + "\n").encode(), len(out)

    def position(self, tenant):
        with self.lock:
            return self.timeline[tenant]


# ---------------------------------------------------------------------------------------------
# workers


def sleep_until(ctx, deadline):
    while not ctx.stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        ctx.stop.wait(min(left, 1.0))
    return False


def post_events(ctx, client, cls, tenant, body, n, max_tries=30):
    """Post until taken (honouring Retry-After) or given up; returns the final status."""
    for _ in range(max_tries):
        r = client.request(cls, "POST", "/v1/events", body=body,
                           headers={"Content-Type": "application/x-ndjson"})
        if r is None:
            return None
        status, headers, data = r
        if status == 200:
            j = jget(r) or {}
            ctx.stats.count("events_accepted", j.get("accepted", 0))
            ctx.stats.count("events_rejected", j.get("rejected", 0))
            return status
        if status == 429:
            msg = data.decode(errors="replace")
            reason = "in_flight" if "in flight" in msg else "queue_full"
            ctx.stats.count(f"throttled_requests_{reason}")
            ctx.stats.count("throttled_events", n)
            try:
                wait = float(headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            if ctx.stop.wait(wait):
                return status
            continue
        ctx.stats.count(f"ingest_status_{status}")
        return status
    return 429


def ingest_worker(ctx, tenant, token):
    client = Client(ctx, token)
    period = 1.0 / ctx.args.ingest_rate
    nxt = time.monotonic() + random.random() * period
    while sleep_until(ctx, nxt):
        nxt += period
        body, n = ctx.events.batch(tenant, random.randint(1, 6))
        if random.random() < ctx.args.gzip_share:
            body = gzip.compress(body, 6)
            ctx.stats.count("gzip_requests")
        post_events(ctx, client, "ingest", tenant, body, n)
        if time.monotonic() > nxt + 5 * period:  # fell behind (429 waits): do not burst to catch up
            nxt = time.monotonic()
    client.close()


def burst_worker(ctx):
    while sleep_until(ctx, time.monotonic() + random.uniform(45, 75)):
        tenant = random.choice(TENANTS)
        token = ctx.tokens[tenant]["ingest"]

        def one():
            c = Client(ctx, token)
            body, n = ctx.events.batch(tenant, random.randint(4, 8))
            try:
                barrier.wait()  # all at once
            except threading.BrokenBarrierError:
                pass
            post_events(ctx, c, "ingest-burst", tenant, body, n)
            c.close()

        ts = [threading.Thread(target=one, daemon=True) for _ in range(12)]
        barrier = threading.Barrier(12, timeout=30)
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        ctx.stats.count("bursts")


HOSTS = ["WS01", "WS02", "SRV01", "DC01", "ws03", "10.0.0.66"]
USERS = ["alice", "bob", "carol", "administrator"]
RULES = ["lateral-movement", "emotet-macro-chain", "scan-detection"]
SEVERITIES = ["informational", "low", "medium", "high", "critical"]


def query_worker(ctx, idx):
    tenants = TENANTS[idx % 2:] + TENANTS[:idx % 2]
    clients = {t: Client(ctx, ctx.tokens[t]["reader"]) for t in TENANTS}
    admin = Client(ctx, ctx.admin)
    ids = {t: collections.deque(maxlen=500) for t in TENANTS}
    i = 0
    while sleep_until(ctx, time.monotonic() + random.uniform(0.05, 0.2)):
        i += 1
        tenant = tenants[i % 2]
        c = clients[tenant]
        x = random.random()
        if x < 0.5:
            q = {}
            for key, gen, share in (
                ("rule", lambda: random.choice(RULES), 0.4),
                ("severity", lambda: random.choice(SEVERITIES), 0.3),
                ("host", lambda: random.choice(HOSTS), 0.25),
                ("user", lambda: random.choice(USERS), 0.2),
                ("text", lambda: random.choice(["spray", "scan", "macro", "alice", "10.0.0"]), 0.15),
                ("since", lambda: ctx.events.position(tenant) - random.choice([1, 6, 48]) * 3600_000, 0.3),
                ("limit", lambda: random.choice([1, 10, 50, 100, 500, 1000]), 0.7),
            ):
                if random.random() < share:
                    q[key] = gen()
            if "since" in q and random.random() < 0.5:
                q["until"] = q["since"] + 3600_000
            pages = random.choice([1, 1, 1, 2, 3])
            for _ in range(pages):
                r = c.request("alerts-list", "GET", "/v1/alerts?" + urllib.parse.urlencode(q))
                j = jget(r) if r else None
                if not j or r[0] != 200:
                    break
                for a in j.get("alerts", [])[:20]:
                    ids[tenant].append(a["id"])
                if not j.get("next_cursor"):
                    break
                q["cursor"] = j["next_cursor"]
        elif x < 0.75:
            if ids[tenant]:
                aid = random.choice(ids[tenant])
                c.request("alert-get", "GET", f"/v1/alerts/{aid}")
        elif x < 0.85:
            if random.random() < 0.3:
                admin.request("metrics", "GET", "/metrics")
            else:
                c.request("metrics", "GET", "/metrics")
        elif x < 0.95:
            c.request("healthz", "GET", "/healthz")
        else:
            c.request("rules", "GET", "/v1/rules")
    for c in list(clients.values()) + [admin]:
        c.close()


def healthz_probe(ctx):
    while sleep_until(ctx, time.monotonic() + 1.0):
        c = Client(ctx, None, timeout=5.0)
        r = c.request("healthz-probe", "GET", "/healthz")
        c.close()
        if r is None or r[0] != 200:
            ctx.stats.healthz_failures.append((ctx.stats.now(), r[0] if r else "no answer"))


def sse_worker(ctx, idx):
    tenant = TENANTS[idx % 2]
    if idx % 3 == 2:
        token, path = ctx.admin, f"/v1/alerts/stream?tenant={tenant}"
    else:
        token, path = ctx.tokens[tenant]["reader"], "/v1/alerts/stream"
    while not ctx.stop.is_set():
        life = random.uniform(45, 150)
        conn = http.client.HTTPConnection("127.0.0.1", ctx.port, timeout=45)
        t0 = time.perf_counter()
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            ctx.stats.error("sse-connect", f"{type(e).__name__}: {e}")
            conn.close()
            ctx.stop.wait(2)
            continue
        ctx.stats.record("sse-connect", time.perf_counter() - t0, resp.status)
        if resp.status != 200:
            resp.read()
            conn.close()
            ctx.stop.wait(2)
            continue
        ctx.stats.count("sse_connections")
        start = time.monotonic()
        ended = "closed by us"
        event = None
        try:
            while not ctx.stop.is_set() and time.monotonic() - start < life:
                line = resp.readline()
                if not line:
                    ended = "eof"
                    break
                ctx.stats.count("sse_bytes", len(line))
                line = line.rstrip(b"\r\n")
                if line.startswith(b":"):
                    ctx.stats.count("sse_keepalive_comments")
                elif line.startswith(b"event:"):
                    event = line[6:].strip().decode()
                elif line == b"" and event is not None:
                    ctx.stats.count(f"sse_event_{event}")
                    event = None
        except (OSError, http.client.HTTPException) as e:
            ended = f"{type(e).__name__}: {e}"
        conn.close()
        if ended != "closed by us" and not ctx.stop.is_set():
            ctx.stats.error("sse", f"stream ended after {time.monotonic() - start:.0f}s: {ended}")
            ctx.stats.count("sse_drops")


def activation_worker(ctx):
    # per tenant: the active version and the rollback stack, simulated to check each answer
    state = {t: {"active": "0.1.0", "stack": [None]} for t in TENANTS}
    plan = [("activate", "0.1.1"), ("rollback", None), ("activate", "^0.1"), ("activate", "0.1.0"),
            ("rollback", None), ("rollback", None)]
    step = {t: 0 for t in TENANTS}
    n = 0
    while sleep_until(ctx, time.monotonic() + random.uniform(20, 30)):
        tenant = TENANTS[n % 2]
        n += 1
        st = state[tenant]
        action, version = plan[step[tenant] % len(plan)]
        step[tenant] += 1
        if random.random() < 0.5:
            c, q = Client(ctx, ctx.tokens[tenant]["ops"], timeout=120), ""
        else:
            c, q = Client(ctx, ctx.admin, timeout=120), f"?tenant={tenant}"
        body = {"reason": f"soak {n}"}
        if action == "activate":
            body["version"] = version
            expect = "0.1.0" if version == "0.1.0" else "0.1.1"
        else:
            expect = st["stack"][-1]
        r = c.request("activate", "POST", f"/v1/packs/{PACK}/{action}{q}", body=json.dumps(body),
                      headers={"Content-Type": "application/json"})
        c.close()
        ctx.stats.count(f"activations_{action}")
        if r is None:
            continue
        j = jget(r) or {}
        if r[0] == 200:
            if action == "activate":
                st["stack"].append(st["active"])
            else:
                st["stack"].pop()
            st["active"] = j.get("version")
            if j.get("version") != expect:
                ctx.stats.error("activate", f"{tenant} {action} {version}: version {j.get('version')}, expected {expect}")
        else:
            ctx.stats.error("activate", f"{tenant} {action} {version}: {r[0]} {r[2][:200]!r}")


# --- slow clients (raw sockets) ---------------------------------------------------------------


def _raw(ctx, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:  # before connect, so that the window is small from the start
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", ctx.port))
    s.settimeout(None)
    return s


def _wait_end(ctx, s, limit, start):
    """Wait for the server to close or answer; the outcome."""
    deadline = start + limit
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "still open at our limit"
        if ctx.stop.is_set():
            return "still open at the end of the run"
        r, _, _ = select.select([s], [], [], min(left, 1.0))
        if not r:
            continue
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            return "reset"
        except OSError as e:
            return f"error {e.errno}"
        if not d:
            return _status(buf) or "closed (eof)"
        buf += d
        if b"\r\n" in buf:
            return _status(buf)


def _status(buf):
    if buf.startswith(b"HTTP/1.1 "):
        return f"answered {buf[9:12].decode()}"
    return None


def _trickle(ctx, s, data, every, start, limit):
    """Send data a piece at a time; stop as soon as the server answers or closes."""
    for piece in data:
        if ctx.stop.is_set():
            return "still open at the end of the run"
        r, _, _ = select.select([s], [], [], every)
        if r:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                return "reset"
            return _status(d) or "closed (eof)"
        if time.monotonic() - start > limit:
            return "still open at our limit"
        try:
            s.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return "reset on send"
    return _wait_end(ctx, s, limit, start)


def slow_worker(ctx, kind):
    host = f"127.0.0.1:{ctx.port}"
    while not ctx.stop.is_set():
        start = time.monotonic()
        try:
            s = _raw(ctx, 16384 if kind.startswith("sse") else None)
        except OSError as e:
            ctx.stats.slow_end(kind, f"connect failed: {e}", 0)
            ctx.stop.wait(5)
            continue
        outcome = None
        try:
            if kind == "idle-connection":
                outcome = _wait_end(ctx, s, 120, start)
            elif kind == "trickled-headers":
                head = f"GET /v1/alerts HTTP/1.1\r\nHost: {host}\r\nX-Slow: " + "a" * 200
                outcome = _trickle(ctx, s, [c.encode() for c in head], 1.0, start, 120)
            elif kind == "trickled-events-body":
                body = ctx.events.batch(TENANTS[0], 10)[0][:200_000]
                head = (f"POST /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer "
                        f"{ctx.tokens['default']['ingest']}\r\nContent-Length: {len(body)}\r\n\r\n")
                s.sendall(head.encode())
                pieces = [body[i:i + 100] for i in range(0, len(body), 100)]
                outcome = _trickle(ctx, s, pieces, 1.0, start, 120)
            elif kind == "trickled-json-body":
                body = json.dumps({"name": "slow-tenant-" + "x" * 40}).encode()
                head = (f"POST /v1/tenants HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer "
                        f"{ctx.admin}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n")
                s.sendall(head.encode())
                outcome = _trickle(ctx, s, [body[i:i + 1] for i in range(len(body))], 2.0, start, 120)
            elif kind == "idle-after-request":
                s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                got = b""
                while b"\r\n\r\n" not in got:
                    d = s.recv(4096)
                    if not d:
                        break
                    got += d
                start = time.monotonic()  # time the idle part only
                # the answer's body may still be arriving: read it and wait for the close
                while True:
                    if ctx.stop.is_set():
                        outcome = "still open at the end of the run"
                        break
                    if time.monotonic() - start > 120:
                        outcome = "still open at our limit"
                        break
                    r, _, _ = select.select([s], [], [], 1.0)
                    if r:
                        d = s.recv(4096)
                        if not d:
                            outcome = "closed (eof)"
                            break
            elif kind in ("sse-slow-reader", "sse-stalled"):
                tenant = random.choice(TENANTS)
                s.sendall((f"GET /v1/alerts/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer "
                           f"{ctx.tokens[tenant]['reader']}\r\n\r\n").encode())
                got, lagged = 0, 0
                if kind == "sse-slow-reader":  # 4 KiB a second for 120 s
                    while time.monotonic() - start < 120 and not ctx.stop.is_set():
                        r, _, _ = select.select([s], [], [], 1)
                        if r:
                            d = s.recv(4096)
                            if not d:
                                outcome = "closed (eof)"
                                break
                            got += len(d)
                            lagged += d.count(b"event: lagged")
                        time.sleep(1)
                else:
                    # read nothing for 60 s, then drain for up to 20 s (until `lagged` shows)
                    ctx.stop.wait(60)
                    s.settimeout(2.0)
                    drain = time.monotonic()
                    try:
                        while time.monotonic() - drain < 20 and not lagged:
                            d = s.recv(65536)
                            if not d:
                                outcome = "closed (eof)"
                                break
                            got += len(d)
                            lagged += d.count(b"event: lagged")
                    except (socket.timeout, BlockingIOError):
                        pass
                ctx.stats.count(f"slow_{kind}_bytes", got)
                ctx.stats.count(f"slow_{kind}_lagged_seen", lagged)
                if outcome is None:
                    outcome = "still open at the end of the run" if ctx.stop.is_set() else "open, closed by us"
        except ConnectionResetError:
            outcome = "reset"
        except OSError as e:
            outcome = f"error: {e}"
        finally:
            s.close()
        if outcome is None:
            outcome = "sent everything (unexpected)"
        if outcome != "still open at the end of the run":
            ctx.stats.slow_end(kind, outcome, time.monotonic() - start)
        ctx.stop.wait(random.uniform(0.5, 3))


SLOW_KINDS = ["idle-connection", "idle-connection", "trickled-headers", "trickled-events-body",
              "trickled-json-body", "idle-after-request", "sse-slow-reader", "sse-stalled"]


# ---------------------------------------------------------------------------------------------
# server, process sampling


def proc_sample(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0]) / 1024.0
                elif k == "Threads":
                    out["threads"] = int(v)
        fds = os.listdir(f"/proc/{pid}/fd")
        out["fds"] = len(fds)
        socks = 0
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    socks += 1
            except OSError:
                pass
        out["sockets"] = socks
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        out["cpu_ticks"] = int(parts[11]) + int(parts[12])
    except (OSError, ValueError, IndexError):
        return None
    return out


def dir_mib(path):
    total = 0
    for base, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(base, f)).st_size
            except OSError:
                pass
    return total / 1048576.0


def compilers_running():
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() in ("rustc", "cargo", "cc", "ld", "lld", "clang", "zig"):
                        n += 1
            except OSError:
                pass
    return n


METRIC_RE = re.compile(r"^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+|NaN)$")


def scrape(ctx, client):
    r = client.request("sampler", "GET", "/metrics", record=False)
    if r is None or r[0] != 200:
        return {}
    sums = collections.Counter()
    for line in r[2].decode(errors="replace").splitlines():
        m = METRIC_RE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        try:
            v = float(value)
        except ValueError:
            continue
        if name == "yagura_alerts_total":
            name += "_new" if 'change="new"' in labels else "_updated"
        sums[name] += v
    return sums


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SetupError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


def build_packs(ctx, work):
    rules_dir = ctx.args.rules_dir
    for rid in RULES:
        if not os.path.exists(os.path.join(rules_dir, f"{rid}.wasm")):
            raise SetupError(f"{rules_dir}/{rid}.wasm is missing (cargo xtask build-rules)")
    run([ctx.bin, "key", "generate", os.path.join(work, "publisher")])
    src = open(os.path.join(ROOT, "rules", "pack.toml"), encoding="utf-8").read()
    src = src.replace('"../target/rules/', f'"{rules_dir}/')
    src = re.sub(r'^cases = "', f'cases = "{ROOT}/rules/', src, flags=re.M)
    bundles = {}
    for version in ("0.1.0", "0.1.1"):
        text = re.sub(r'^version = "0.1.0"', f'version = "{version}"', src, flags=re.M)
        if version == "0.1.1":  # a config change, so activations rebuild scan-detection
            text = text.replace('cases = "' + f"{ROOT}/rules/scan-detection/cases.toml" + '"',
                                'cases = "' + f"{ROOT}/rules/scan-detection/cases.toml" + '"\n'
                                "[rule.config]\nport_threshold = 20\nsweep_threshold = 30")
        manifest = os.path.join(work, f"pack-{version}.toml")
        open(manifest, "w", encoding="utf-8").write(text)
        out = os.path.join(work, f"{PACK}-{version}.ypack")
        run([ctx.bin, "pack", "build", manifest, "--key", os.path.join(work, "publisher.key"), "--out", out])
        bundles[version] = open(out, "rb").read()
    return bundles, open(os.path.join(work, "publisher.pub"), encoding="utf-8").read()


def must(r, what, ok=(200, 201)):
    if r is None or r[0] not in ok:
        raise SetupError(f"{what}: {r[0] if r else 'no answer'} {r[2][:300] if r else ''}")
    return jget(r)


def setup_api(ctx, bundles, pub):
    a = Client(ctx, ctx.admin, timeout=120)
    must(a.request("setup", "POST", "/v1/keys", body=json.dumps({"public_key": pub}), record=False), "trust key")
    ctx.tokens = {}
    for t in TENANTS:
        must(a.request("setup", "POST", "/v1/tenants", body=json.dumps({"name": t}), record=False), f"tenant {t}")
    for t in TENANTS + ["default"]:
        ctx.tokens[t] = {}
        for role, scopes in (("ingest", ["events:write"]), ("reader", ["alerts:read"]), ("ops", ["packs:write"])):
            j = must(a.request("setup", "POST", "/v1/tokens", record=False,
                               body=json.dumps({"tenant": t, "name": f"soak {role}", "scopes": scopes})), "token")
            ctx.tokens[t][role] = j["token"]
    for t in TENANTS:
        ops = Client(ctx, ctx.tokens[t]["ops"], timeout=120)
        for version, data in bundles.items():
            must(ops.request("setup", "POST", "/v1/packs", body=data, record=False), f"upload {version} for {t}")
        must(ops.request("setup", "POST", f"/v1/packs/{PACK}/activate", record=False,
                         body=json.dumps({"version": "0.1.0", "reason": "soak start"})), f"activate for {t}")
        ops.close()
    a.close()


# ---------------------------------------------------------------------------------------------
# reporting


CLASS_ORDER = ["ingest", "ingest-burst", "alerts-list", "alert-get", "metrics", "healthz", "rules",
               "healthz-probe", "sse-connect", "activate"]


def ms(v):
    return "-" if v is None else (f"{v * 1000:.0f}" if v >= 0.0095 else f"{v * 1000:.1f}")


def class_cell(name, lat, status):
    if not lat:
        return None
    odd = " ".join(f"{k}x{v}" for k, v in sorted(status.items()) if not 200 <= k < 300)
    return f"{name} {len(lat)} {ms(pct(lat, 50))}/{ms(pct(lat, 99))}/{ms(max(lat))}" + (f" [{odd}]" if odd else "")


class Sampler:
    def __init__(self, ctx):
        self.ctx = ctx
        self.rows = []
        self.prev_ticks = None
        self.prev_t = None
        self.prev_metrics = {}
        self.client = Client(ctx, ctx.admin, timeout=30)

    def sample(self, label=None):
        ctx = self.ctx
        t = ctx.stats.now()
        p = proc_sample(ctx.proc.pid)
        if p is None:
            return None
        cpu = None
        if self.prev_ticks is not None and t > self.prev_t:
            cpu = (p["cpu_ticks"] - self.prev_ticks) / CLK_TCK / (t - self.prev_t) * 100
        self.prev_ticks, self.prev_t = p["cpu_ticks"], t
        m = scrape(ctx, self.client)
        lat, status, errs, ctr = ctx.stats.take_interval()
        load = os.getloadavg()[0]
        row = {
            "t": round(t, 1), "label": label or "", "rss_mib": round(p["VmRSS"], 1), "hwm_mib": round(p["VmHWM"], 1),
            "fds": p["fds"], "sockets": p["sockets"], "threads": p["threads"],
            "cpu_pct": round(cpu, 0) if cpu is not None else "", "load1": round(load, 2),
            "compilers": compilers_running(), "store_mib": round(dir_mib(ctx.store), 1), "conns": int(m.get("yagura_http_connections", 0)),
            "queue": int(m.get("yagura_engine_queue_events", 0)),
            "accepted": int(m.get("yagura_events_accepted_total", 0)),
            "throttled": int(m.get("yagura_events_throttled_total", 0)),
            "refused_req": int(m.get("yagura_ingest_requests_refused_total", 0)),
            "alerts_new": int(m.get("yagura_alerts_total_new", 0)),
            "alerts_updated": int(m.get("yagura_alerts_total_updated", 0)),
            "errors": errs,
            "sse_events": sum(v for k, v in ctr.items() if k.startswith("sse_event_")),
            "sse_lagged": ctr.get("sse_event_lagged", 0),
        }
        for cls in CLASS_ORDER:
            l = lat.get(cls, [])
            row[f"{cls}_n"] = len(l)
            row[f"{cls}_p50_ms"] = round(pct(l, 50) * 1000, 1) if l else ""
            row[f"{cls}_p99_ms"] = round(pct(l, 99) * 1000, 1) if l else ""
            row[f"{cls}_max_ms"] = round(max(l) * 1000, 1) if l else ""
            row[f"{cls}_non2xx"] = " ".join(f"{k}x{v}" for k, v in sorted(status.get(cls, {}).items())
                                            if not 200 <= k < 300)
        self.rows.append(row)
        d = {k: row[k] - self.prev_metrics.get(k, 0) for k in ("accepted", "throttled", "refused_req", "alerts_new", "alerts_updated")}
        self.prev_metrics = {k: row[k] for k in d}
        cells = [c for c in (class_cell(cls, lat.get(cls), status.get(cls, {})) for cls in CLASS_ORDER) if c]
        head = (f"[{t:5.0f}s{(' ' + label) if label else ''}] rss {row['rss_mib']:.1f} MiB fds {row['fds']} "
                f"(sock {row['sockets']}) thr {row['threads']} cpu {row['cpu_pct'] if cpu is not None else '-'}% "
                f"load {load:.2f} cc {row['compilers']} store {row['store_mib']:.0f} MiB | conns {row['conns']} q {row['queue']} "
                f"acc +{d['accepted']} thr +{d['throttled']} ref +{d['refused_req']} "
                f"alerts +{d['alerts_new']}/~{d['alerts_updated']} sse {row['sse_events']}"
                f"{' lag ' + str(row['sse_lagged']) if row['sse_lagged'] else ''} err {errs}")
        print(head + ("\n    " + " | ".join(cells) if cells else ""), flush=True)
        return row


def summary(ctx, sampler, extra):
    st = ctx.stats
    rows = [r for r in sampler.rows if r["label"] != "cooldown"]
    cool = [r for r in sampler.rows if r["label"] == "cooldown"]
    out = []
    P = out.append
    P("")
    P("=" * 100)
    P(f"soak summary: {ctx.args.duration} s of load, server {ctx.bin}, port {ctx.port}")
    P(f"machine: {os.cpu_count()} cores; load1 min/mean/max {min(r['load1'] for r in rows):.2f}/"
      f"{sum(r['load1'] for r in rows) / len(rows):.2f}/{max(r['load1'] for r in rows):.2f}; "
      f"samples with a compiler (rustc, cargo, cc, ld) running: {sum(1 for r in rows if r['compilers'])}/{len(rows)}")
    P("")
    P(f"{'resource':<12}{'start':>10}{'peak':>10}{'end':>10}{'after cooldown':>16}")

    def res(name, key, fmt="{:.1f}"):
        a = [r[key] for r in rows]
        c = fmt.format(cool[-1][key]) if cool else "-"
        P(f"{name:<12}{fmt.format(a[0]):>10}{fmt.format(max(a)):>10}{fmt.format(a[-1]):>10}{c:>16}")

    res("RSS MiB", "rss_mib")
    res("fds", "fds", "{}")
    res("sockets", "sockets", "{}")
    res("threads", "threads", "{}")
    res("connections", "conns", "{}")
    res("store MiB", "store_mib")
    P(f"VmHWM (peak RSS, kernel): {max(r['hwm_mib'] for r in sampler.rows):.1f} MiB")
    if len(rows) >= 6:
        half = len(rows) // 2
        a = sum(r["rss_mib"] for r in rows[1:half]) / max(1, half - 1)
        b = sum(r["rss_mib"] for r in rows[half:]) / (len(rows) - half)
        P(f"RSS mean, first half (after the first sample) vs second half: {a:.1f} vs {b:.1f} MiB")
    P("")
    P(f"{'class':<15}{'count':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  statuses")
    for cls in CLASS_ORDER:
        l = st.total.get(cls)
        if not l:
            continue
        sts = " ".join(f"{k}:{v}" for k, v in sorted(st.total_status[cls].items()))
        P(f"{cls:<15}{len(l):>8}{ms(pct(l, 50)):>9}{ms(pct(l, 99)):>9}{ms(max(l)):>9}  {sts}")
    c = st.counters
    last = rows[-1]
    P("")
    P(f"ingest (client side): {c['events_accepted']} events accepted, {c['events_rejected']} rejected; "
      f"{c['throttled_requests_in_flight'] + c['throttled_requests_queue_full']} requests 429 "
      f"({c['throttled_requests_in_flight']} in_flight, {c['throttled_requests_queue_full']} queue_full; "
      f"{c['throttled_events']} events in them, all re-sent); {c['gzip_requests']} gzip bodies; {c['bursts']} bursts")
    fin = extra.get("final_metrics", {})
    P(f"ingest (server /metrics at the end): accepted {int(fin.get('yagura_events_accepted_total', last['accepted']))}, "
      f"throttled {int(fin.get('yagura_events_throttled_total', last['throttled']))}, "
      f"requests refused before the body {int(fin.get('yagura_ingest_requests_refused_total', last['refused_req']))}, "
      f"rejected {int(fin.get('yagura_events_rejected_total', 0))}")
    P(f"alerts: {int(fin.get('yagura_alerts_total_new', last['alerts_new']))} new, "
      f"{int(fin.get('yagura_alerts_total_updated', last['alerts_updated']))} updates; "
      f"store errors {int(fin.get('yagura_alert_store_errors_total', 0))}; rule faults "
      f"{int(fin.get('yagura_rule_faults_total', 0))}; activations (server) {int(fin.get('yagura_activations_total', 0))}")
    sse = {k[10:]: v for k, v in c.items() if k.startswith("sse_event_")}
    P(f"sse: {c['sse_connections']} connections, events {dict(sorted(sse.items()))}, "
      f"{c['sse_keepalive_comments']} keep-alive comments, {c['sse_drops']} unexpected ends")
    stale = {k[len("stale_keepalive_after_"):]: v for k, v in c.items() if k.startswith("stale_keepalive_after_")}
    P(f"activations sent: {c['activations_activate']} activate, {c['activations_rollback']} rollback")
    P(f"kept-alive connections found closed by the server on reuse (request re-sent on a new one): "
      f"{c['stale_keepalive_retries']}, by the status of the previous answer on it: {stale}")
    P("")
    P("slow clients (how each connection ended; seconds from connect, or from the answer for idle-after-request):")
    for kind in dict.fromkeys(SLOW_KINDS):
        ends = st.slow.get(kind, [])
        by = collections.defaultdict(list)
        for o, s in ends:
            by[o].append(s)
        desc = "; ".join(f"{o} x{len(v)} ({min(v):.1f}-{max(v):.1f}s)" for o, v in sorted(by.items())) or "none ended"
        extra_b = ""
        if kind.startswith("sse"):
            extra_b = f"; {c[f'slow_{kind}_bytes']} bytes read, {c[f'slow_{kind}_lagged_seen']} `lagged` seen"
        P(f"  {kind:<22}{desc}{extra_b}")
    P("")
    P(f"server: exit after SIGTERM {extra.get('exit', '?')} in {extra.get('shutdown_s', '?')} s; "
      f"stderr lines {extra.get('stderr_lines', 0)} (warn {extra.get('stderr_warn', 0)}, error {extra.get('stderr_error', 0)}, "
      f"panic {extra.get('stderr_panic', 0)})")
    for line in extra.get("stderr_sample", []):
        P(f"  | {line[:200]}")
    P("")
    hz = st.healthz_failures
    P(f"5xx answers: {len(st.fivexx)}; /healthz probe failures: {len(hz)}; connection failures and "
      f"anomalies of non-slow clients: {len(st.errors)}")
    for t, cls, status, detail in st.fivexx[:20]:
        P(f"  5xx at {t:.0f}s {cls} {status}: {detail}")
    for t, what in hz[:20]:
        P(f"  healthz failed at {t:.0f}s: {what}")
    for t, cls, msg in st.errors[:40]:
        P(f"  at {t:.0f}s {cls}: {msg}")
    if len(st.errors) > 40:
        P(f"  … {len(st.errors) - 40} more")
    print("\n".join(out), flush=True)


# ---------------------------------------------------------------------------------------------


class Ctx:
    pass


class SetupError(Exception):
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600, help="seconds of load (600)")
    ap.add_argument("--interval", type=float, default=10, help="seconds between samples (10)")
    ap.add_argument("--cooldown", type=float, default=20, help="idle seconds after the load before the last sample (20)")
    ap.add_argument("--bin", default=os.environ.get("YAGURA_BIN", os.path.join(ROOT, "target/release/yagura")))
    ap.add_argument("--rules-dir", default=os.path.join(ROOT, "target/rules"), help="the built rule components")
    ap.add_argument("--ingest-clients", type=int, default=2, help="ingest clients per tenant (2)")
    ap.add_argument("--ingest-rate", type=float, default=4, help="requests/s per ingest client (4)")
    ap.add_argument("--gzip-share", type=float, default=0.3, help="share of ingest bodies gzipped (0.3)")
    ap.add_argument("--query-clients", type=int, default=2)
    ap.add_argument("--sse-clients", type=int, default=3)
    ap.add_argument("--no-slow", action="store_true", help="no slow clients")
    ap.add_argument("--server-arg", action="append", default=[], help="extra flag for yagura serve (repeatable)")
    ap.add_argument("--out", help="write the samples: .json (everything) or CSV")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (store, logs)")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    random.seed(args.seed)

    ctx = Ctx()
    ctx.args = args
    ctx.bin = os.path.abspath(args.bin)
    ctx.stats = Stats()
    ctx.stop = threading.Event()
    if not os.access(ctx.bin, os.X_OK):
        raise SetupError(f"no yagura binary at {ctx.bin} (set YAGURA_BIN or --bin)")
    work = tempfile.mkdtemp(prefix="yagura-soak-")
    print(f"soak: work folder {work}", flush=True)
    proc = None
    try:
        bundles, pub = build_packs(ctx, work)
        ctx.port = free_port()
        ctx.store = os.path.join(work, "store")
        cmd = [ctx.bin, "serve", "--store", ctx.store, "--listen", f"127.0.0.1:{ctx.port}",
               "--header-timeout-s", "10", "--body-timeout-s", "60"] + args.server_arg
        print("soak: " + " ".join(cmd), flush=True)
        out_f = open(os.path.join(work, "stdout"), "w")
        err_path = os.path.join(work, "stderr")
        err_f = open(err_path, "w")
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, cwd=work)
        ctx.proc = proc
        deadline = time.monotonic() + 60
        ctx.admin = None
        while time.monotonic() < deadline and ctx.admin is None:
            if proc.poll() is not None:
                raise SetupError(f"the server exited ({proc.returncode}): {open(err_path).read()[-2000:]}")
            for line in open(os.path.join(work, "stdout")):
                if "admin token" in line:
                    ctx.admin = line.split()[-1]
            time.sleep(0.1)
        if ctx.admin is None:
            raise SetupError("no admin token on stdout within 60 s")
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", ctx.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        ctx.events = EventSource([os.path.join(ROOT, "examples/events/core.ndjson"),
                                  os.path.join(ROOT, "examples/events/sample.ndjson")])
        setup_api(ctx, bundles, pub)
        print(f"soak: server pid {proc.pid} on port {ctx.port}; tenants {', '.join(TENANTS)} run {PACK}@0.1.0; "
              f"load for {args.duration:.0f} s", flush=True)
        print("line: [time] server RSS, fds (sockets), threads, CPU (100% = one core), load average, compilers "
              "running (cc), store size on disk | open API connections, engine queue, since the last line: events accepted/throttled, "
              "ingest requests refused, alerts new/~updated, SSE events, client errors\n"
              "  then per class: count p50/p99/max ms [non-2xx statuses]", flush=True)

        sampler = Sampler(ctx)
        ctx.stats.t0 = time.monotonic()
        sampler.sample("start")
        threads = []

        def spawn(fn, *a):
            t = threading.Thread(target=fn, args=a, daemon=True)
            t.start()
            threads.append(t)

        for t in TENANTS:
            for _ in range(args.ingest_clients):
                spawn(ingest_worker, ctx, t, ctx.tokens[t]["ingest"])
        spawn(burst_worker, ctx)
        for i in range(args.query_clients):
            spawn(query_worker, ctx, i)
        spawn(healthz_probe, ctx)
        for i in range(args.sse_clients):
            spawn(sse_worker, ctx, i)
        spawn(activation_worker, ctx)
        if not args.no_slow:
            for kind in SLOW_KINDS:
                spawn(slow_worker, ctx, kind)

        start = time.monotonic()
        died = False
        nxt = start + args.interval
        while time.monotonic() - start < args.duration:
            time.sleep(max(0, min(nxt, start + args.duration) - time.monotonic()))
            if proc.poll() is not None:
                died = True
                print(f"soak: the server died with status {proc.returncode}", flush=True)
                break
            if time.monotonic() >= nxt - 0.01:
                sampler.sample()
                nxt += args.interval
        if not died:
            sampler.sample("end")
        ctx.stop.set()
        for t in threads:
            t.join(timeout=15)
        alive = [t for t in threads if t.is_alive()]
        if not died:
            time.sleep(max(0.0, args.cooldown - (time.monotonic() - start - args.duration)))
            sampler.sample("cooldown")
        extra = {"final_metrics": {}}
        if not died:
            extra["final_metrics"] = scrape(ctx, sampler.client)
            sampler.client.close()
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                extra["exit"] = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                extra["exit"] = f"killed after 60 s ({proc.wait()})"
            extra["shutdown_s"] = round(time.monotonic() - t0, 1)
        else:
            extra["exit"] = f"died ({proc.returncode})"
        err_f.close()
        lines = open(err_path, errors="replace").read().splitlines()
        extra["stderr_lines"] = len(lines)
        extra["stderr_warn"] = sum(1 for l in lines if " WARN " in l or "WARN" in l[:40])
        extra["stderr_error"] = sum(1 for l in lines if " ERROR " in l or "ERROR" in l[:40])
        extra["stderr_panic"] = sum(1 for l in lines if "panicked" in l)
        # distinct messages, times stripped
        seen = collections.Counter(re.sub(r"^\S+\s+", "", l)[:160] for l in lines)
        extra["stderr_sample"] = [f"{n}x {m}" for m, n in seen.most_common(8)]
        if alive:
            ctx.stats.error("soak", f"{len(alive)} worker threads did not stop")
        summary(ctx, sampler, extra)
        if args.out:
            if args.out.endswith(".json"):
                st = ctx.stats
                doc = {
                    "args": vars(args), "samples": sampler.rows, "extra": extra,
                    "classes": {c: {"count": len(l), "p50_ms": pct(l, 50) * 1000, "p99_ms": pct(l, 99) * 1000,
                                    "max_ms": max(l) * 1000, "statuses": dict(st.total_status[c])}
                                for c, l in st.total.items() if l},
                    "counters": dict(st.counters), "errors": st.errors, "fivexx": st.fivexx,
                    "healthz_failures": st.healthz_failures,
                    "slow": {k: v for k, v in st.slow.items()},
                }
                with open(args.out, "w") as f:
                    json.dump(doc, f, indent=1, default=str)
            else:
                with open(args.out, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(sampler.rows[0].keys()))
                    w.writeheader()
                    w.writerows(sampler.rows)
            print(f"soak: wrote {args.out}")
        failed = died or bool(ctx.stats.fivexx) or bool(ctx.stats.healthz_failures)
        if failed:
            print("soak: FAILED (5xx, /healthz failure or the server died)")
        return 1 if failed else 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if args.keep:
            print(f"soak: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SetupError as e:
        print(f"soak: setup failed: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
