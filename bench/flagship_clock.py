#!/usr/bin/env python3
"""How talks on the flagship fare against the clock.

Runs `parley tournament` on scenarios/oman-talks.toml under direct talks (saop) and
staged talks (with and without confidences), four built-in strategies in every
pairing and both role orders, 10 repetitions each (160 sessions a setting, seeds fixed
by the tournament seed), and prints one row per setting: how many sessions end in a
deal, by breakdown or at the deadline, when deals come (normalised time; the zone of
agreement closes at t = 0.555 and the ultimatum falls at t = 0.6), each side's mean
utility and the deals' mean distance to the Nash point.

    cargo build --release -p parley-cli
    python3 bench/flagship_clock.py [path/to/parley]

Only the standard library is needed.
"""

import csv
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARLEY = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target/release/parley"
SCENARIO = ROOT / "scenarios/oman-talks.toml"
ZONE_CLOSES = 0.555339
SETTINGS = [("saop", "none"), ("staged", "none"), ("staged", "all")]


def run(protocol: str, confide: str, out: Path) -> list[dict]:
    subprocess.run(
        [
            str(PARLEY), "tournament", str(SCENARIO),
            "--negotiators", "boulware,conceder,linear,frequency", "--self-play",
            "--repetitions", "10", "--rounds", "30",
            "--protocol", protocol, "--confide", confide,
            "--out", str(out), "-q",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def main() -> None:
    print("| talks | sessions | deals | broke down | deadline | deals before the zone closes"
          " | mean time of a deal | US utility | Iran utility | deal's distance to Nash |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for protocol, confide in SETTINGS:
            rows = run(protocol, confide, Path(tmp) / f"{protocol}-{confide}")
            n = len(rows)
            deals = [r for r in rows if r["agreement"] == "true"]
            ended = lambda why: sum(r["ended_by"] == why for r in rows)  # noqa: E731
            early = sum(float(r["time"]) < ZONE_CLOSES for r in deals)
            mean = lambda xs: statistics.mean(xs) if xs else float("nan")  # noqa: E731
            name = protocol if protocol == "saop" else f"{protocol} --confide {confide}"
            print(
                f"| {name} | {n} | {len(deals) / n:.0%} | {ended('breakdown') / n:.0%}"
                f" | {ended('deadline') / n:.0%} | {early}"
                f" | {mean([float(r['time']) for r in deals]):.3f}"
                f" | {mean([float(r['utility_1']) for r in rows]):.3f}"
                f" | {mean([float(r['utility_2']) for r in rows]):.3f}"
                f" | {mean([float(r['nash_distance']) for r in deals]):.3f} |"
            )


if __name__ == "__main__":
    main()
