#!/usr/bin/env python3
"""An LLM seat against the built-ins: agreement rate, mean advantage, seconds per
turn and invalid-reply rate (docs/llm.md#how-it-plays).

For each bundled scenario and each opponent, the seat plays both sides of direct
talks (saop, --rounds R) over a few seeds through `parley run --json --trace`; the
same sessions are played with a built-in (`boulware`) in the seat as a reference.
Advantage is the seat's utility at the end (a deal's, or what walking away pays
then) minus what walking away pays it at the start. A turn is one move the seat made (offer, accept or walk away);
seconds per turn is the session's wall time over the seat's turns; the invalid-reply
rate is replies parley refused over requests.

    scripts/llm-server start               # or any endpoint:
    export OPENAI_BASE_URL=http://127.0.0.1:18080/v1   # (and OPENAI_API_KEY)
    cargo build --release -p parley-cli
    python3 bench/llm_seats.py [--seat llm] [--rounds 10] [--seeds 2] [--parley PATH]
                               [--scenarios job-offer.toml,…] [--opponents conceder,…]

Only the standard library is needed.
"""

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ["job-offer.toml", "supplier-contract.toml", "oman-talks.toml"]
OPPONENTS = ["conceder", "boulware", "best"]


def session(parley, scenario, seat, opponent, side, rounds, seed, trace):
    negotiators = [seat, opponent] if side == 0 else [opponent, seat]
    started = time.perf_counter()
    out = subprocess.run(
        [str(parley), "run", str(ROOT / "scenarios" / scenario), "--protocol", "saop",
         "--negotiators", ",".join(negotiators), "--rounds", str(rounds),
         "--seed", str(seed), "--json", "--trace", str(trace)],
        capture_output=True, text=True, check=True,
    )
    seconds = time.perf_counter() - started
    result = json.loads(out.stdout)
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    start = next(e for e in events if e["type"] == "start")
    me = start["parties"][side]
    turns = sum(1 for e in events if e["type"] in ("offer", "accept", "walk-away")
                and (e.get("from") == me or e.get("by") == me))
    calls = [e for e in events if e["type"] == "model-call"]
    invalid = sum(1 for c in calls if "invalid reply" in c["note"] or "request failed" in c["note"])
    fallbacks = sum(1 for c in calls if "fallback:" in c["note"])
    guard = sum(1 for c in calls if "guardrail:" in c["note"])
    return {
        "deal": result["agreement"] is not None,
        "utility": result["utilities"][side],
        "seconds": seconds,
        "turns": turns,
        "requests": len(calls),
        "invalid": invalid,
        "fallbacks": fallbacks,
        "guardrails": guard,
        "me": me,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seat", default="llm", help="the seat's negotiator (default: llm)")
    ap.add_argument("--reference", default="boulware", help="a built-in in the same seat, for comparison")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--parley", default=str(ROOT / "target/release/parley"))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="bundled scenario files, comma-separated")
    ap.add_argument("--opponents", default=",".join(OPPONENTS), help="built-ins, comma-separated")
    args = ap.parse_args()
    scenarios = args.scenarios.split(",")
    reservations = reservations_of(args.parley, scenarios)
    print(f"| scenario | seat | opponent | sessions | agreements | mean advantage | s/turn | requests | invalid replies | fallback moves | guardrail corrections |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in scenarios:
            for opponent in args.opponents.split(","):
                for seat in (args.seat, args.reference):
                    rows = []
                    for seed in range(args.seeds):
                        for side in (0, 1):
                            r = session(args.parley, scenario, seat, opponent, side,
                                        args.rounds, seed, Path(tmp) / "t.jsonl")
                            # Over what walking away pays at the start (a session
                            # without a deal pays what the alternative is worth then).
                            r["advantage"] = r["utility"] - reservations[scenario][side]
                            rows.append(r)
                    n = len(rows)
                    deals = sum(r["deal"] for r in rows)
                    adv = statistics.mean(r["advantage"] for r in rows)
                    turns = sum(r["turns"] for r in rows)
                    secs = sum(r["seconds"] for r in rows) / max(turns, 1)
                    req = sum(r["requests"] for r in rows)
                    inv = sum(r["invalid"] for r in rows)
                    fb = sum(r["fallbacks"] for r in rows)
                    gr = sum(r["guardrails"] for r in rows)
                    rate = f"{inv / req:.0%}" if req else "—"
                    print(f"| {scenario.removesuffix('.toml')} | {seat} | {opponent} | {n} | {deals / n:.0%} | {adv:+.3f} | {secs:.2f} | {req} | {rate} | {fb} | {gr} |", flush=True)


def reservations_of(parley, scenarios):
    """Each party's walk-away value at the start, from `parley analyze --json`."""
    out = {}
    for scenario in scenarios:
        r = subprocess.run([str(parley), "analyze", str(ROOT / "scenarios" / scenario), "--json"],
                           capture_output=True, text=True, check=True)
        a = json.loads(r.stdout)
        out[scenario] = a["reserved"]
    return out


if __name__ == "__main__":
    main()
