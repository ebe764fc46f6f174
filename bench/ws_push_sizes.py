#!/usr/bin/env python3
"""How much a live seat is sent: whole-view pushes against incremental ones.

Starts `parley serve` on a scratch database, creates a job-offer session (a program
seat against a built-in hardliner, 100 rounds), opens two WebSockets for the seat —
one plain, one with `"incremental": true` — and plays the seat's side (its best offer
every round, never taken) to the deadline. Prints the number of events and pushes, the
size of the last push of each kind, and the bytes each socket received in all.

    cargo build --release -p parley-cli
    python3 -m venv /tmp/wsvenv && /tmp/wsvenv/bin/pip install websockets requests
    /tmp/wsvenv/bin/python bench/ws_push_sizes.py [path/to/parley]
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

import requests
import websockets

PORT = 7899
BASE = f"http://127.0.0.1:{PORT}"
CREATOR = "bench-creator-token-0123456789"


async def play(session, token):
    url = f"ws://127.0.0.1:{PORT}/api/sessions/{session}/ws"
    plain = await websockets.connect(url, max_size=None)
    await plain.send(json.dumps({"token": token}))
    incremental = await websockets.connect(url, max_size=None)
    await incremental.send(json.dumps({"token": token, "incremental": True}))
    sizes = {"whole": [len(await plain.recv())], "incremental": [len(await incremental.recv())]}
    auth = {"Authorization": f"Bearer {token}"}
    path = f"{BASE}/api/sessions/{session}"
    requests.post(f"{path}/join", headers=auth, json={}, timeout=10)
    best = requests.get(path, headers=auth, timeout=10).json()["role"]["best_outcome"]

    async def drain(socket, into):
        try:
            while True:
                into.append(len(await asyncio.wait_for(socket.recv(), 0.3)))
        except asyncio.TimeoutError:
            pass

    while True:
        view = requests.get(path, headers=auth, timeout=10).json()
        if view["status"] == "ended":
            break
        if view.get("pending"):
            requests.post(f"{path}/actions", headers=auth, json={"type": "offer", "outcome": best}, timeout=10)
        await drain(plain, sizes["whole"])
        await drain(incremental, sizes["incremental"])
    await drain(plain, sizes["whole"])
    await drain(incremental, sizes["incremental"])
    return requests.get(path, headers=auth, timeout=10).json()["events_total"], sizes


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/parley"
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [binary, "serve", "--db", os.path.join(tmp, "b.db"), "--addr", f"127.0.0.1:{PORT}"],
            env={**os.environ, "PARLEY_CREATE_TOKEN": CREATOR},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    if requests.get(f"{BASE}/healthz", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            created = requests.post(
                f"{BASE}/api/sessions",
                headers={"Authorization": f"Bearer {CREATOR}"},
                json={"scenario": "job-offer", "protocol": "saop", "rounds": 100,
                      "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "hardliner"}}},
                timeout=10,
            ).json()
            events, sizes = asyncio.run(play(created["id"], created["seats"]["candidate"]["token"]))
        finally:
            server.terminate()
            server.wait()
    print(f"{events} events; {len(sizes['whole'])} pushes to each socket")
    for kind, s in sizes.items():
        print(f"{kind:12} last push {s[-1]:>7,} bytes; all pushes {sum(s):>10,} bytes")


if __name__ == "__main__":
    main()
