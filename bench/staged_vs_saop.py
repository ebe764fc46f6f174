#!/usr/bin/env python3
"""Do staged talks with confided preferences land closer to the Nash point than plain
SAOP between the same negotiators? Runs `parley run --json` on every bilateral shared
scenario for a few negotiator pairs and prints the mean distance to the Nash point
(a failed negotiation counts as the distance from the reservation point).

Usage: python3 bench/staged_vs_saop.py [--parley target/release/parley] [--scenarios DIR]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

PAIRS = ["conceder,conceder", "linear,linear", "boulware,boulware", "frequency,frequency", "conceder,boulware"]


def run(parley, folder, negotiators, extra):
    out = subprocess.run(
        [parley, "run", str(folder), "--negotiators", negotiators, "--json", "-q", *extra],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parley", default="target/release/parley")
    ap.add_argument("--scenarios", default=os.environ.get("PARLEY_SCENARIOS", "../shared/scenarios"))
    ap.add_argument("--rounds", default="100")
    args = ap.parse_args()
    reference = Path(args.scenarios) / "reference"
    folders = []
    for ref in sorted(reference.rglob("*.json")):
        data = json.loads(ref.read_text())
        if len(data.get("parties", [])) == 2 and data.get("nash"):
            folders.append((Path(args.scenarios) / "genius" / ref.relative_to(reference).with_suffix(""), data))
    rows = []
    for pair in PAIRS:
        dist = {"saop": [], "staged": []}
        deals = {"saop": 0, "staged": 0}
        for folder, ref in folders:
            nash = ref["nash"]["utilities"]
            for name, extra in [("saop", ["--protocol", "saop"]), ("staged", ["--protocol", "staged", "--confide", "all"])]:
                result = run(args.parley, folder, pair, ["--rounds", args.rounds, *extra])
                if result["agreement"] is not None:
                    deals[name] += 1
                    dist[name].append(result["nash_distance"])
                else:
                    reserved = ref["reserved"]
                    dist[name].append(sum((a - b) ** 2 for a, b in zip(nash, reserved)) ** 0.5)
        rows.append((pair, statistics.mean(dist["saop"]), statistics.mean(dist["staged"]), deals["saop"], deals["staged"], len(folders)))
    print(f"{len(folders)} bilateral scenarios with a rational outcome, {args.rounds} rounds, seed 0\n")
    print("| negotiators | saop: mean Nash distance | staged + confided: mean Nash distance | saop deals | staged deals |")
    print("|---|---|---|---|---|")
    for pair, s, t, ds, dt, n in rows:
        print(f"| {pair} | {s:.4f} | {t:.4f} | {ds}/{n} | {dt}/{n} |")


if __name__ == "__main__":
    sys.exit(main())
