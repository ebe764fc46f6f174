#!/usr/bin/env python3
"""Load benchmark of the live server, `parley serve` (a script, not a test).

It starts `parley serve` on a fresh temporary SQLite database (or on the
database given with --db, e.g. postgres://...) on a free loopback port, creates
N sessions (default 200) of the bundled bilateral scenario `job-offer` under
`saop`, each with two program seats, joins every seat, and then drives all N
sessions at once with simulated clients that act as fast as the server lets
them, until every session has ended. It reports the sessions held at once, the
actions, actions per second, the latency (p50/p90/p99/max) of POST /actions and
GET /api/sessions/{id} (and of session creation, joins and, with --evaluate,
POST /evaluate), the errors, and the CPU time of the client (this script, via
getrusage) and of the server (from /proc/<pid>/stat), so that a reader can see
which side was the bottleneck.

Standard library only: the clients speak HTTP/1.1 with keep-alive over asyncio
streams, one connection per seat.

    python3 bench/server_load.py                       # 200 sessions, 40 rounds
    python3 bench/server_load.py --sessions 10 --rounds 10
    python3 bench/server_load.py --db postgres://parley:secret@localhost/parley
    python3 bench/server_load.py --client-procs 2 --json-out /tmp/load.json

See bench/README.md ("Live server load: server_load.py") for what exactly is
measured and the caveats.
"""

import argparse
import secrets
import asyncio
import base64
import json
import math
import multiprocessing
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# A minimal HTTP/1.1 keep-alive JSON client over asyncio streams
# --------------------------------------------------------------------------


class HttpError(Exception):
    pass


class Conn:
    """One keep-alive connection. Requests on it are sequential."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None
        self.reused = False
        self.reconnects = 0

    async def connect(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.reused = False

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self.writer = None

    async def request(self, method, path, token=None, body=None):
        """Return (status, decoded JSON or None). Retries once on a stale connection."""
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if token:
            head.append(f"Authorization: Bearer {token}")
        if body is not None or method == "POST":
            head.append("Content-Type: application/json")
            head.append(f"Content-Length: {len(data)}")
        raw_req = ("\r\n".join(head) + "\r\n\r\n").encode() + data
        for attempt in (0, 1):
            if self.writer is None:
                await self.connect()
            try:
                self.writer.write(raw_req)
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("connection closed before the answer")
                return await self._read_rest(status_line)
            except (ConnectionError, asyncio.IncompleteReadError) as err:
                # A keep-alive connection the server closed while idle: the
                # request never got an answer, retry once on a new connection.
                was_reused = self.reused
                await self.close()
                if attempt == 0 and was_reused:
                    self.reconnects += 1
                    continue
                raise HttpError(f"{method} {path}: {err!r}") from None

    async def _read_rest(self, status_line):
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError(f"bad status line {status_line!r}")
        status = int(parts[1])
        length = None
        chunked = close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.lower() == b"close":
                close = True
        if chunked:
            buf = bytearray()
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                buf += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            payload = bytes(buf)
        elif length is not None:
            payload = await self.reader.readexactly(length)
        else:
            payload = await self.reader.read()
            close = True
        if close:
            await self.close()
        else:
            self.reused = True
        try:
            obj = json.loads(payload) if payload else None
        except ValueError:
            obj = {"error": payload[:200].decode(errors="replace")}
        return status, obj


class WsConn:
    """A minimal WebSocket client (RFC 6455) for GET /api/sessions/{id}/ws:
    text messages only, no extensions."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None
        self.close_code = None

    async def open(self, path, token):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )
        status = await self.reader.readline()
        while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        if b" 101 " not in status:
            raise HttpError(f"WebSocket upgrade of {path} refused: {status!r}")
        self.send_text(json.dumps({"token": token}))

    def send_text(self, text, opcode=1):
        payload = text.encode() if isinstance(text, str) else text
        n = len(payload)
        if n < 126:
            head = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(head + mask + masked)

    async def recv_json(self):
        """The next text message, decoded; None once the server closed."""
        buf = bytearray()
        try:
            while True:
                b0, b1 = await self.reader.readexactly(2)
                opcode, n = b0 & 0x0F, b1 & 0x7F
                if n == 126:
                    n = int.from_bytes(await self.reader.readexactly(2), "big")
                elif n == 127:
                    n = int.from_bytes(await self.reader.readexactly(8), "big")
                mask = await self.reader.readexactly(4) if b1 & 0x80 else None
                data = await self.reader.readexactly(n)
                if mask:
                    data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
                if opcode == 8:  # close
                    self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                    return None
                if opcode == 9:  # ping
                    self.send_text(data, opcode=10)
                    continue
                if opcode in (0, 1, 2):
                    buf += data
                    if b0 & 0x80:
                        return json.loads(buf)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self.writer = None


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


class Stats:
    """Latencies (seconds) per request kind, counts and errors."""

    def __init__(self):
        self.lat = {}
        self.count = {}
        self.errors = {}  # "kind status: message" -> count
        self.examples = []

    def add(self, kind, seconds):
        self.lat.setdefault(kind, []).append(seconds)

    def bump(self, name, n=1):
        self.count[name] = self.count.get(name, 0) + n

    def error(self, kind, status, obj):
        msg = obj.get("error") if isinstance(obj, dict) else str(obj)
        key = f"{kind} {status}: {str(msg)[:160]}"
        self.errors[key] = self.errors.get(key, 0) + 1

    def merge(self, other):
        for k, v in other["lat"].items():
            self.lat.setdefault(k, []).extend(v)
        for k, v in other["count"].items():
            self.bump(k, v)
        for k, v in other["errors"].items():
            self.errors[k] = self.errors.get(k, 0) + v

    def to_dict(self):
        return {"lat": self.lat, "count": self.count, "errors": self.errors}


def pct(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    k = max(0, math.ceil(p / 100.0 * len(sorted_values)) - 1)
    return sorted_values[k]


def summary(values):
    v = sorted(values)
    if not v:
        return None
    return {
        "n": len(v),
        "mean_ms": 1000 * sum(v) / len(v),
        "p50_ms": 1000 * pct(v, 50),
        "p90_ms": 1000 * pct(v, 90),
        "p99_ms": 1000 * pct(v, 99),
        "max_ms": 1000 * v[-1],
    }


def proc_cpu_seconds(pid):
    """utime + stime of a process, in seconds, from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    # After the ")": field 3 (state) is index 0, so utime (14) is 11, stime (15) is 12.
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_mem_mib(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:", "Threads:")):
                    k, v = line.split(":", 1)
                    n = int(v.split()[0])
                    out[k] = n / 1024 if k.startswith("Vm") else n
    except OSError:
        pass
    return out


class ThreadSampler:
    """CPU time of each thread of the server during the drive, by thread name.

    Reads /proc/<pid>/task/*/stat every `interval` seconds from a background
    thread, so that threads which exit during the drive (each session's engine
    thread ends with its session) are counted up to their last sample.
    """

    def __init__(self, pid, interval=0.25):
        self.pid, self.interval = pid, interval
        self.first, self.last, self.names = {}, {}, {}
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        ticks = os.sysconf("SC_CLK_TCK")
        try:
            tids = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return
        for tid in tids:
            try:
                with open(f"/proc/{self.pid}/task/{tid}/stat") as f:
                    raw = f.read()
            except OSError:
                continue
            name = raw[raw.index("(") + 1 : raw.rindex(")")]
            fields = raw.rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / ticks
            self.first.setdefault(tid, cpu if self.started else 0.0)
            self.last[tid] = cpu
            self.names[tid] = name

    def _run(self):
        while not self.stop_flag.wait(self.interval):
            self._sample()

    def start(self):
        self.started = False
        self._sample()  # baseline of the threads alive now
        self.started = True
        self.thread.start()

    def stop(self):
        self.stop_flag.set()
        self.thread.join()
        self._sample()

    def by_group(self):
        groups = {}
        for tid, cpu in self.last.items():
            name = self.names[tid]
            if name.startswith("session "):
                group = "session engine threads"
            else:
                group = name.rstrip("0123456789-")
            g = groups.setdefault(group, {"threads": 0, "cpu_seconds": 0.0})
            g["threads"] += 1
            g["cpu_seconds"] += cpu - self.first.get(tid, 0.0)
        return dict(sorted(groups.items(), key=lambda kv: -kv[1]["cpu_seconds"]))


def machine_cpu():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(v) - v[3] - v[4], sum(v)


def self_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def loadavg():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


# --------------------------------------------------------------------------
# The simulated clients
# --------------------------------------------------------------------------


class Cfg:
    """What the drivers need (picklable, for --client-procs > 1)."""

    def __init__(self, host, port, issues, evaluate, max_seconds, wait="poll"):
        self.host, self.port = host, port
        self.wait = wait
        self.issues = issues
        self.evaluate = evaluate
        self.max_seconds = max_seconds


def random_outcome(issues, rng):
    return {i["name"]: rng.choice(i["values"]) for i in issues}


def standing_utility(view, pending):
    """My utility of the standing offer: the view's `standing_utility`, else
    the `my_utility` of the latest visible offer event."""
    u = pending.get("standing_utility")
    if u is not None:
        return u
    for event in reversed(view.get("events") or []):
        if event.get("type") == "offer" and event.get("my_utility") is not None:
            return event["my_utility"]
    return None


def decide(cfg, view, pending, rng):
    """The strategy: accept the standing offer when it is worth at least a
    target falling linearly from 1 to the seat's reservation value over the
    deadline, otherwise offer a random outcome."""
    reservation = float((view.get("role") or {}).get("reservation") or 0.0)
    rounds = max(1, int(view.get("rounds") or 1))
    t = min(1.0, (int(view.get("round") or 0) + 1) / rounds)
    target = 1.0 - (1.0 - reservation) * t
    su = standing_utility(view, pending) if pending.get("standing") is not None else None
    if su is not None and su >= target:
        return {"type": "accept"}
    return {"type": "offer", "outcome": random_outcome(cfg.issues, rng)}


async def act(cfg, conn, base, token, view, pending, rng, stats):
    """Answer a pending `act` request; returns the HTTP status (0: not sent)."""
    if pending.get("kind") != "act":
        stats.error("driver", 0, {"error": f"unexpected pending kind {pending.get('kind')!r}"})
        return 0
    action = decide(cfg, view, pending, rng)
    if cfg.evaluate and action["type"] == "offer":
        t0 = time.perf_counter()
        st, ans = await conn.request("POST", base + "/evaluate", token, {"outcome": action["outcome"]})
        stats.add("POST evaluate", time.perf_counter() - t0)
        if st != 200:
            stats.error("POST evaluate", st, ans)
    t0 = time.perf_counter()
    status, ans = await conn.request("POST", base + "/actions", token, action)
    stats.add("POST actions", time.perf_counter() - t0)
    if status == 200:
        stats.bump("actions")
        stats.bump(f"actions: {action['type']}")
    elif status == 409:
        stats.bump("conflicts (409)")  # the caller reads the view again
    else:
        stats.error("POST actions", status, ans)
    return status


async def drive_session(cfg, sess, conns, stats, state):
    """Play both seats of one session until it ends.

    One coroutine per session, one keep-alive connection per seat. It reads
    the view of the seat whose turn it is (GET), answers its pending `act`
    request (POST /actions, see `decide`; the random offers are seeded per
    session, so a run is reproducible), and switches to the other seat.
    """
    sid = sess["id"]
    seats = sess["seats"]  # [(role, token)] in party order: the first must offer
    rng = random.Random(sess["seed"])
    base = f"/api/sessions/{sid}"
    turn = 0
    idle = 0  # consecutive views of this session with nothing pending
    handoff = None  # when the last action was answered (perf_counter)
    first = [True] * len(seats)
    state["active"] += 1
    state["peak_active"] = max(state["peak_active"], state["active"])
    try:
        while True:
            if time.monotonic() > state["deadline"]:
                stats.bump("sessions_unfinished")
                return
            role, token = seats[turn]
            t0 = time.perf_counter()
            status, view = await conns[turn].request("GET", base, token)
            stats.add("GET view", time.perf_counter() - t0)
            if status != 200:
                stats.error("GET view", status, view)
                stats.bump("sessions_failed")
                return
            if first[turn]:
                first[turn] = False
                if turn == 0 and view.get("status") == "running":
                    stats.bump("sessions_running_at_start")
            if view.get("status") == "ended":
                result = view.get("result") or {}
                stats.bump("sessions_ended")
                stats.bump(f"result: {result.get('reason')}")
                return
            pending = view.get("pending")
            if not pending:
                # The server answers an action once it is logged; the engine
                # then runs (and logs its events) before it asks the next
                # seat. Until then nobody has a pending request: poll again,
                # backing off from 0 to 8 ms. In bilateral saop the other seat
                # is always next; every 16th poll looks at the seat that acted
                # last, in case it is not (and the poll after goes back).
                stats.bump("views_without_pending")
                idle += 1
                if idle % 16 in (0, 1) and idle > 1:
                    turn = (turn + 1) % len(seats)
                await asyncio.sleep(0 if idle == 1 else min(0.008, 0.001 * 2 ** min(idle - 2, 3)))
                continue
            idle = 0
            if handoff is not None:
                stats.add("turn handoff", time.perf_counter() - handoff)
                handoff = None
            if pending.get("kind") != "act":
                stats.error("driver", 0, {"error": f"unexpected pending kind {pending.get('kind')!r}"})
                stats.bump("sessions_failed")
                return
            status = await act(cfg, conns[turn], base, token, view, pending, rng, stats)
            if status == 200:
                turn = (turn + 1) % len(seats)
                handoff = time.perf_counter()
            elif status != 409:
                stats.bump("sessions_failed")
                return
    except HttpError as err:
        stats.error("transport", 0, {"error": str(err)})
        stats.bump("sessions_failed")
    finally:
        state["active"] -= 1
        for c in conns:
            stats.bump("reconnects", c.reconnects)
            await c.close()


async def drive_session_ws(cfg, sess, conns, stats, state):
    """Like drive_session, but each seat learns of its turn from the
    WebSocket (GET /api/sessions/{id}/ws) instead of polling its view.

    conns: per seat (HTTP connection, open WebSocket). One reader task per
    seat keeps the seat's latest pushed view; the session's coroutine acts
    on a view that shows a pending request and has more events than the view
    it last acted on (a push built before its action took effect is stale).
    """
    sid = sess["id"]
    seats = sess["seats"]
    rng = random.Random(sess["seed"])
    base = f"/api/sessions/{sid}"
    latest = [None] * len(seats)
    acted_at = [-1] * len(seats)  # number of events in the view last acted on
    changed = asyncio.Event()
    handoff = None

    async def reader(i):
        while True:
            msg = await conns[i][1].recv_json()
            if msg is None:
                latest[i] = latest[i] or {}
                latest[i] = dict(latest[i], _closed=True)
                changed.set()
                return
            stats.bump("WebSocket view pushes")
            if msg.get("type") == "view":
                latest[i] = msg["view"]
                changed.set()

    readers = [asyncio.create_task(reader(i)) for i in range(len(seats))]
    state["active"] += 1
    state["peak_active"] = max(state["peak_active"], state["active"])
    stats.bump("sessions_running_at_start")  # every seat joined before the drive
    try:
        while True:
            remaining = state["deadline"] - time.monotonic()
            if remaining <= 0:
                stats.bump("sessions_unfinished")
                return
            try:
                await asyncio.wait_for(changed.wait(), timeout=remaining)
            except asyncio.TimeoutError:
                continue
            changed.clear()
            for i, view in enumerate(latest):
                if view is None:
                    continue
                if view.get("_closed"):
                    stats.error("WebSocket", conns[i][1].close_code or 0, {"error": "closed by the server"})
                    stats.bump("sessions_failed")
                    return
                if view.get("status") == "ended":
                    stats.bump("sessions_ended")
                    stats.bump(f"result: {(view.get('result') or {}).get('reason')}")
                    return
                pending = view.get("pending")
                n_events = len(view.get("events") or [])
                if not pending or n_events <= acted_at[i]:
                    continue
                if handoff is not None:
                    stats.add("turn handoff", time.perf_counter() - handoff)
                    handoff = None
                acted_at[i] = n_events
                status = await act(cfg, conns[i][0], base, seats[i][1], view, pending, rng, stats)
                if status == 200:
                    handoff = time.perf_counter()
                elif status != 409:
                    stats.bump("sessions_failed")
                    return
    except HttpError as err:
        stats.error("transport", 0, {"error": str(err)})
        stats.bump("sessions_failed")
    finally:
        state["active"] -= 1
        for t in readers:
            t.cancel()
        for http, ws in conns:
            stats.bump("reconnects", http.reconnects)
            await http.close()
            await ws.close()


async def run_clients(cfg, sessions, progress, sync):
    """Open one connection per seat, wait for `sync()` (the start signal),
    then drive every session at once. Returns (stats, drive seconds, client
    CPU seconds, connect seconds); only the drive is timed."""
    stats = Stats()
    state = {"active": 0, "peak_active": 0}
    sem = asyncio.Semaphore(64)  # do not overflow the server's listen backlog
    if cfg.wait == "ws":
        conns = [[(Conn(cfg.host, cfg.port), WsConn(cfg.host, cfg.port)) for _ in s["seats"]] for s in sessions]

        async def connect(pair, sid, token):
            async with sem:
                await pair[0].connect()
                await pair[1].open(f"/api/sessions/{sid}/ws", token)

        jobs = [connect(pair, s["id"], tok) for s, cs in zip(sessions, conns) for pair, (_, tok) in zip(cs, s["seats"])]
        driver = drive_session_ws
    else:
        conns = [[Conn(cfg.host, cfg.port) for _ in s["seats"]] for s in sessions]

        async def connect(c):
            async with sem:
                await c.connect()

        jobs = [connect(c) for cs in conns for c in cs]
        driver = drive_session
    t0 = time.perf_counter()
    await asyncio.gather(*jobs)
    connect_seconds = time.perf_counter() - t0

    async def reporter():
        start = time.monotonic()
        while True:
            await asyncio.sleep(5)
            n = stats.count.get("actions", 0)
            log(f"  {time.monotonic() - start:5.0f} s: {n} actions, {state['active']} sessions active")

    await sync()
    state["deadline"] = time.monotonic() + cfg.max_seconds
    cpu0 = self_cpu_seconds()
    t0 = time.perf_counter()
    rep = asyncio.create_task(reporter()) if progress else None
    await asyncio.gather(*(driver(cfg, s, cs, stats, state) for s, cs in zip(sessions, conns)))
    drive_seconds = time.perf_counter() - t0
    client_cpu = self_cpu_seconds() - cpu0
    if rep:
        rep.cancel()
    stats.bump("peak_sessions_driven_at_once", state["peak_active"])
    return stats, drive_seconds, client_cpu, connect_seconds


def worker_main(cfg, sessions, ready, go, queue, progress):
    """One client process (--client-procs): drive its share of the sessions."""

    async def sync():
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, ready.wait)  # connected
        await loop.run_in_executor(None, go.wait)  # the parent read the server's CPU time

    stats, seconds, cpu, connect = asyncio.run(run_clients(cfg, sessions, progress, sync))
    queue.put({"stats": stats.to_dict(), "cpu": cpu, "seconds": seconds, "connect": connect})


# --------------------------------------------------------------------------
# Server and setup
# --------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(path):
    p = Path(path)
    for cand in (p, REPO / p):
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand.resolve()
    sys.exit(f"error: no parley binary at {path} (build it: cargo build --release -p parley-cli)")


async def wait_ready(host, port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        conn = Conn(host, port)
        try:
            status, body = await conn.request("GET", "/api/scenarios")
            if status == 200:
                return body
        except (HttpError, OSError):
            pass
        finally:
            await conn.close()
        await asyncio.sleep(0.05)
    return False


async def setup_sessions(host, port, args, parties, stats):
    """Create args.sessions sessions and join every seat; timed."""
    sem = asyncio.Semaphore(args.setup_concurrency)
    conns = [Conn(host, port) for _ in range(args.setup_concurrency)]
    free = list(conns)
    sessions = [None] * args.sessions

    async def one(i):
        async with sem:
            conn = free.pop()
            try:
                body = {
                    "scenario": args.scenario,
                    "protocol": "saop",
                    "rounds": args.rounds,
                    "seed": args.seed + i,
                    "roles": {p: {"seat": "program"} for p in parties},
                }
                t0 = time.perf_counter()
                status, ans = await conn.request("POST", "/api/sessions", args.create_token, body)
                stats.add("POST sessions", time.perf_counter() - t0)
                if status != 201:
                    stats.error("POST sessions", status, ans)
                    return
                seats = [(p, ans["seats"][p]["token"]) for p in parties]
                for role, token in seats:
                    t0 = time.perf_counter()
                    st, j = await conn.request("POST", f"/api/sessions/{ans['id']}/join", token, {})
                    stats.add("POST join", time.perf_counter() - t0)
                    if st != 200:
                        stats.error("POST join", st, j)
                        return
                sessions[i] = {"id": ans["id"], "seats": seats, "seed": args.seed + i, "owner": ans.get("owner_token")}
            finally:
                free.append(conn)

    await asyncio.gather(*(one(i) for i in range(args.sessions)))
    for c in conns:
        await c.close()
    return [s for s in sessions if s is not None]


def stop_server(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def fmt_ms(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def markdown(report):
    r = report
    c = r["counts"]
    lines = []
    lines.append(f"### parley serve load: {r['config']['sessions']} sessions × 2 program seats, "
                 f"{r['config']['scenario']}, saop, {r['config']['rounds']} rounds, db {r['config']['db_kind']}, "
                 f"turns by {'polling GET view' if r['config']['wait'] == 'poll' else 'WebSocket'}"
                 + (", POST /evaluate before each offer" if r["config"]["evaluate"] else ""))
    lines.append("")
    lines.append("| metric | value |")
    lines.append("|---|---:|")
    rows = [
        ("sessions created / joined", f"{r['sessions_created']} / {r['sessions_joined']}"),
        ("sessions running when the drive started (from their first view)", c.get("sessions_running_at_start", 0)),
        ("sessions driven at once (peak)", c.get("peak_sessions_driven_at_once", 0)),
        ("sessions ended / failed / unfinished", f"{c.get('sessions_ended', 0)} / {c.get('sessions_failed', 0)} / {c.get('sessions_unfinished', 0)}"),
        ("results", ", ".join(f"{k[8:]} {v}" for k, v in sorted(c.items()) if k.startswith("result: ")) or "–"),
        ("setup s (create + join) / connecting the seats' keep-alive connections s", f"{r['setup_seconds']:.2f} / {r['connect_seconds']:.2f}"),
        ("drive wall time s", f"{r['drive_seconds']:.2f}"),
        ("actions (POST /actions answered 200)", c.get("actions", 0)),
        ("**actions per second**", f"**{r['actions_per_second']:.0f}**"),
        ("HTTP requests per second (drive)", f"{r['requests_per_second']:.0f}"),
        ("views with nothing pending (polled again)" if r["config"]["wait"] == "poll" else "WebSocket view pushes",
         c.get("views_without_pending", 0) if r["config"]["wait"] == "poll" else c.get("WebSocket view pushes", 0)),
        ("409 conflicts / other errors", f"{c.get('conflicts (409)', 0)} / {sum(r['errors'].values())}"),
        ("server CPU s during the drive (user+sys)", f"{r['server_cpu_seconds']:.2f} ({r['server_cpu_seconds'] / r['drive_seconds'] * 100:.0f}% of one core)" if r["server_cpu_seconds"] is not None else "–"),
        ("server CPU s by thread (sampled every 0.25 s)", "; ".join(
            f"{k} ×{v['threads']}: {v['cpu_seconds']:.2f}" for k, v in (r.get("server_threads") or {}).items()) or "–"),
        ("client CPU s during the drive (user+sys)", f"{r['client_cpu_seconds']:.2f} ({r['client_cpu_seconds'] / r['drive_seconds'] * 100:.0f}% of one core, {r['config']['client_procs']} process(es))"),
        ("whole machine busy during the drive (all processes, all CPUs)",
         f"{100 * r['machine_busy_fraction']:.0f}% of {os.cpu_count()} CPUs" if r.get("machine_busy_fraction") is not None else "–"),
        ("server RSS after setup / at the end / peak MiB", " / ".join(fmt_ms(r["server_mem"].get(k)) for k in ("after_setup_rss", "end_rss", "peak")) if r["server_mem"] else "–"),
    ]
    for k, v in rows:
        lines.append(f"| {k} | {v} |")
    lines.append("")
    lines.append("| request | count | mean ms | p50 ms | p90 ms | p99 ms | max ms |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for kind in ("POST actions", "GET view", "turn handoff", "POST evaluate", "POST sessions", "POST join"):
        s = r["latency"].get(kind)
        if s:
            lines.append(f"| {kind} | {s['n']} | {fmt_ms(s['mean_ms'])} | {fmt_ms(s['p50_ms'])} | {fmt_ms(s['p90_ms'])} | {fmt_ms(s['p99_ms'])} | {fmt_ms(s['max_ms'])} |")
    lines.append("")
    lines.append("*turn handoff*: from the answer to one seat's action until the other seat's view "
                 + ("first shows its pending request (including the polls in between)."
                    if r["config"]["wait"] == "poll" else "pushed over the WebSocket shows its pending request."))
    if r["errors"]:
        lines.append("")
        lines.append("Errors:")
        lines.append("")
        for k, v in sorted(r["errors"].items(), key=lambda kv: -kv[1]):
            lines.append(f"- {v} × {k}")
    notes = []
    if r["client_cpu_seconds"] / max(r["drive_seconds"], 1e-9) > 0.85 * r["config"]["client_procs"]:
        notes.append("the client processes were nearly saturated (client CPU close to wall time): "
                     "the server may have more headroom than these numbers show; try --client-procs 2")
    if r.get("audit"):
        a = r["audit"]
        notes.append(f"`parley audit` afterwards: exit {a['rc']} in {a['seconds']:.2f} s")
    if notes:
        lines.append("")
        for n in notes:
            lines.append(f"Note: {n}.")
    lines.append("")
    lines.append(f"Machine: {r['machine']}. Command: `{r['command']}`")
    return "\n".join(lines)


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parley", default="target/release/parley", help="the parley binary (default target/release/parley)")
    ap.add_argument("--db", help="database for the server (default: a fresh SQLite file in a temp folder); e.g. postgres://user:pw@host/db")
    ap.add_argument("--url", help="benchmark an already running server at this URL (http://host:port) instead of starting one")
    ap.add_argument("--server-pid", type=int, help="with --url: the server's pid, to read its CPU time")
    ap.add_argument("--create-token", default=os.environ.get("PARLEY_CREATE_TOKEN"), help="with --url: the server's creator token (default: $PARLEY_CREATE_TOKEN; a server this script starts gets a fresh one)")
    ap.add_argument("--serve-arg", action="append", default=[], help="extra argument for `parley serve` (repeatable)")
    ap.add_argument("--sessions", type=int, default=200, help="concurrent sessions (default 200)")
    ap.add_argument("--rounds", type=int, default=40, help="deadline in rounds (default 40)")
    ap.add_argument("--scenario", default="job-offer", help="a bundled bilateral scenario (default job-offer)")
    ap.add_argument("--seed", type=int, default=0, help="session i gets seed SEED+i; the clients' offers too")
    ap.add_argument("--wait", choices=["poll", "ws"], default="poll", help="how a seat learns it is its turn: poll GET view (default) or WebSocket pushes")
    ap.add_argument("--evaluate", action="store_true", help="call POST /evaluate on every offer before sending it, as a real client would")
    ap.add_argument("--client-procs", type=int, default=1, help="client processes sharing the sessions (default 1)")
    ap.add_argument("--setup-concurrency", type=int, default=8, help="parallel requests while creating and joining (default 8)")
    ap.add_argument("--max-seconds", type=float, default=600, help="stop driving after this long (default 600)")
    ap.add_argument("--startup-timeout", type=float, default=30)
    ap.add_argument("--audit", action="store_true", help="run `parley audit --db DB` afterwards and time it")
    ap.add_argument("--keep-db", action="store_true", help="keep the temporary database (its path is printed)")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    ap.add_argument("--json-out", help="also write every measurement as JSON to this file")
    args = ap.parse_args()
    if args.sessions < 1 or args.rounds < 1 or args.client_procs < 1:
        ap.error("--sessions, --rounds and --client-procs must be >= 1")

    tmpdir = None
    proc = None
    server_log = None
    binary = None
    if args.url:
        from urllib.parse import urlsplit

        u = urlsplit(args.url)
        host, port = u.hostname, u.port or 80
        db = args.db
        pid = args.server_pid
    else:
        binary = find_binary(args.parley)
        tmpdir = tempfile.mkdtemp(prefix="parley-load-")
        db = args.db or os.path.join(tmpdir, "load.db")
        host, port = "127.0.0.1", free_port()
        server_log = open(os.path.join(tmpdir, "server.log"), "wb")
        # The benchmark creates its sessions as fast as it can: lift the per-address
        # creation limit (a --serve-arg given later wins).
        cmd = [str(binary), "serve", "--db", db, "--addr", f"{host}:{port}",
               "--create-rate", "0", *args.serve_arg]
        log(f"starting: {' '.join(cmd)}")
        args.create_token = secrets.token_urlsafe(32)
        env = {**os.environ, "PARLEY_CREATE_TOKEN": args.create_token}
        proc = subprocess.Popen(cmd, stdout=server_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        pid = proc.pid

    def fail(msg):
        log(f"error: {msg}")
        if server_log is not None:
            server_log.flush()
            tail = Path(server_log.name).read_bytes()[-3000:].decode(errors="replace")
            if tail.strip():
                log("server output (tail):\n" + tail)
        stop_server(proc)
        sys.exit(1)

    try:
        scenarios = asyncio.run(wait_ready(host, port, proc, args.startup_timeout))
        if not scenarios:
            fail(f"the server did not answer GET /api/scenarios on {host}:{port} within {args.startup_timeout} s")
        scen = next((s for s in scenarios if s.get("id") == args.scenario), None)
        if scen is None:
            fail(f"no bundled scenario {args.scenario!r} (have {[s.get('id') for s in scenarios]})")
        parties = scen["parties"]
        issues = [{"name": i["name"], "values": i["values"]} for i in scen["issues"]]

        # ---- setup: create and join (timed, not part of the drive) -----------
        setup_stats = Stats()
        t0 = time.perf_counter()
        log(f"creating {args.sessions} sessions and joining {args.sessions * len(parties)} seats ...")
        sessions = asyncio.run(setup_sessions(host, port, args, parties, setup_stats))
        setup_seconds = time.perf_counter() - t0
        if not sessions:
            fail("no session could be created and joined: " + json.dumps(setup_stats.errors))
        log(f"  {len(sessions)} sessions ready in {setup_seconds:.1f} s")

        # ---- drive ----------------------------------------------------------
        cfg = Cfg(host, port, issues, args.evaluate, args.max_seconds, args.wait)
        mem_after_setup = proc_mem_mib(pid) if pid else {}
        load_before = loadavg()
        srv_cpu = {}
        sampler = ThreadSampler(pid) if pid and os.path.isdir(f"/proc/{pid}/task") else None
        if args.client_procs == 1:

            async def sync():
                if sampler:
                    sampler.start()
                srv_cpu["start"] = proc_cpu_seconds(pid) if pid else None
                srv_cpu["machine"] = machine_cpu()

            stats, drive_seconds, client_cpu, connect_seconds = asyncio.run(run_clients(cfg, sessions, not args.quiet, sync))
            srv1 = proc_cpu_seconds(pid) if pid else None
            mach1 = machine_cpu()
            if sampler:
                sampler.stop()
            srv0 = srv_cpu["start"]
            mach0 = srv_cpu["machine"]
        else:
            ctx = multiprocessing.get_context("fork")
            ready = ctx.Barrier(args.client_procs + 1)
            go = ctx.Event()
            queue = ctx.Queue()
            shares = [sessions[i :: args.client_procs] for i in range(args.client_procs)]
            workers = [ctx.Process(target=worker_main, args=(cfg, sh, ready, go, queue, not args.quiet and i == 0)) for i, sh in enumerate(shares)]
            for w in workers:
                w.start()
            ready.wait()  # every worker has connected
            if sampler:
                sampler.start()
            srv0 = proc_cpu_seconds(pid) if pid else None
            mach0 = machine_cpu()
            t0 = time.perf_counter()
            go.set()
            results = [queue.get() for _ in workers]
            drive_seconds = time.perf_counter() - t0
            srv1 = proc_cpu_seconds(pid) if pid else None
            mach1 = machine_cpu()
            if sampler:
                sampler.stop()
            for w in workers:
                w.join()
            stats = Stats()
            client_cpu = 0.0
            peak = 0
            connect_seconds = max(r["connect"] for r in results)
            for res in results:
                peak += res["stats"]["count"].pop("peak_sessions_driven_at_once", 0)
                stats.merge(res["stats"])
                client_cpu += res["cpu"]
            stats.bump("peak_sessions_driven_at_once", peak)
        load_after = loadavg()
        mem_end = proc_mem_mib(pid) if pid else {}

        audit = None
        if args.audit and binary is not None:
            stop_server(proc)
            t_a = time.perf_counter()
            a = subprocess.run([str(binary), "audit", "--db", db], capture_output=True, text=True)
            audit = {"rc": a.returncode, "seconds": time.perf_counter() - t_a, "output": (a.stdout + a.stderr)[-2000:]}
    finally:
        stop_server(proc)
        if server_log is not None:
            server_log.close()

    all_stats = Stats()
    all_stats.merge(setup_stats.to_dict())
    all_stats.merge(stats.to_dict())
    requests = sum(len(v) for k, v in stats.lat.items() if k != "turn handoff")
    if (db or "").startswith(("postgres://", "postgresql://")):
        db_kind = "postgres"
    elif args.url and not db:
        db_kind = "unknown (--url)"
    else:
        db_kind = "sqlite" if args.db else "sqlite (temp file)"
    report = {
        "config": {
            "sessions": args.sessions,
            "rounds": args.rounds,
            "scenario": args.scenario,
            "seed": args.seed,
            "evaluate": args.evaluate,
            "wait": args.wait,
            "client_procs": args.client_procs,
            "db_kind": db_kind,
            "binary": str(binary) if binary else None,
            "url": args.url,
        },
        "sessions_created": args.sessions - sum(v for k, v in setup_stats.errors.items() if k.startswith("POST sessions")),
        "sessions_joined": len(sessions),
        "setup_seconds": setup_seconds,
        "connect_seconds": connect_seconds,
        "drive_seconds": drive_seconds,
        "counts": stats.count,
        "actions_per_second": stats.count.get("actions", 0) / drive_seconds,
        "requests_per_second": requests / drive_seconds,
        "latency": {k: summary(v) for k, v in all_stats.lat.items()},
        "errors": all_stats.errors,
        "server_cpu_seconds": (srv1 - srv0) if srv0 is not None and srv1 is not None else None,
        "server_threads": sampler.by_group() if sampler else None,
        "machine_busy_fraction": ((mach1[0] - mach0[0]) / max(1, mach1[1] - mach0[1])) if mach0 and mach1 else None,
        "client_cpu_seconds": client_cpu,
        "server_mem": {"after_setup_rss": mem_after_setup.get("VmRSS"), "end_rss": mem_end.get("VmRSS"),
                       "peak": mem_end.get("VmHWM"), "threads": mem_end.get("Threads")} if mem_end else {},
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "audit": audit,
        "machine": f"{os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}, Python {platform.python_version()}",
        "command": " ".join(["python3", "bench/server_load.py", *sys.argv[1:]]),
    }
    print(markdown(report))
    if args.json_out:
        raw = dict(report)
        raw["latencies_seconds"] = all_stats.lat
        Path(args.json_out).write_text(json.dumps(raw, indent=1))
    if tmpdir:
        if args.keep_db:
            log(f"kept {tmpdir} (database and server.log)")
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)
    failed = stats.count.get("sessions_failed", 0) + stats.count.get("sessions_unfinished", 0)
    return 1 if failed or len(sessions) < args.sessions else 0


if __name__ == "__main__":
    sys.exit(main())
