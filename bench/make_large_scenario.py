#!/usr/bin/env python3
"""Generate a large, seeded, 3-party Genius-XML scenario for benchmarking.

The scenario is linear-additive over discrete issues.  With the default issue
sizes 10,10,10,10,10,10,6 (seven issues) it has 6,000,000 outcomes.  Preferences are opposed so
that the Pareto frontier is non-trivial: the values of each issue are placed on
a circle in a random order, each party's ideal value sits a third of the circle
away from the others', evaluations fall with the circular distance to the
ideal (plus a little noise), and issue weights are random per party.  Every
pair of parties is therefore opposed on every issue and they trade issues
against each other.

Files written into OUT_DIR (created if needed):
    large-domain.xml, large-prof1.xml, large-prof2.xml, large-prof3.xml

Usage:
    python3 bench/make_large_scenario.py OUT_DIR [--seed 42] [--sizes 10,10,10,10,10,10,6]

Standard library only; the output is a pure function of --seed and --sizes.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from xml.sax.saxutils import quoteattr

DEFAULT_SIZES = (10, 10, 10, 10, 10, 10, 6)  # 6,000,000 outcomes
DEFAULT_SEED = 42
PREFIX = "large"
N_PARTIES = 3


def _fmt(x: float) -> str:
    """Evaluations/weights with a fixed, short decimal form."""
    return f"{x:.6f}"


def _value_label(issue: int, value: int) -> str:
    return f"i{issue}v{value}"


def _normalised(ws: list[float]) -> list[float]:
    s = sum(ws)
    out = [round(w / s, 6) for w in ws]
    # make the rounded weights sum to exactly 1 (fix up the largest one)
    k = max(range(len(out)), key=lambda i: out[i])
    out[k] = round(out[k] + (1.0 - sum(out)), 6)
    return out


def make_preferences(sizes: list[int], seed: int):
    """Return (weights, evaluations, reservations).

    weights[p][i]         -- weight of issue i for party p (sums to 1)
    evaluations[p][i][v]  -- evaluation of value v of issue i for party p, in [0, 1],
                             with max 1 and min 0 on every issue
    reservations[p]       -- reservation value of party p
    """
    rng = random.Random(seed)
    evaluations: list[list[list[float]]] = [[] for _ in range(N_PARTIES)]
    for size in sizes:
        # The values of each issue are put on a circle in a random order and
        # every party has its ideal value a third of the circle away from the
        # others': each party's evaluation falls with the circular distance to
        # its ideal (plus a little noise), so every pair of parties is opposed.
        position = list(range(size))
        rng.shuffle(position)  # position[v] = place of value v on the circle
        offset = rng.randrange(size)
        half = size / 2.0
        for p in range(N_PARTIES):
            ideal = (offset + p * size / N_PARTIES) % size
            e = []
            for v in range(size):
                d = abs(position[v] - ideal)
                d = min(d, size - d)
                e.append(1.0 - d / half + rng.uniform(-0.05, 0.05))
            lo, hi = min(e), max(e)
            if hi - lo < 1e-9:
                e = [1.0] * size
            else:
                e = [(x - lo) / (hi - lo) for x in e]
            evaluations[p].append([round(x, 6) for x in e])

    # weights: random per party, so the parties trade issues against each other
    weights = [_normalised([rng.uniform(0.2, 1.0) for _ in sizes])
               for _ in range(N_PARTIES)]
    reservations = [round(rng.uniform(0.05, 0.25), 4) for _ in range(N_PARTIES)]
    return weights, evaluations, reservations


def domain_xml(sizes: list[int]) -> str:
    lines = [
        '<negotiation_template number_of_sessions="1">',
        f'  <utility_space number_of_issues="{len(sizes)}">',
        '    <objective index="0" description="" name="root" type="objective" etype="objective">',
    ]
    for i, size in enumerate(sizes, start=1):
        lines.append(
            f'      <issue index="{i}" name="i{i}" type="discrete" etype="discrete" vtype="discrete">'
        )
        for v in range(1, size + 1):
            lines.append(f'        <item index="{v}" value={quoteattr(_value_label(i, v))}/>')
        lines.append("      </issue>")
    lines += ["    </objective>", "  </utility_space>", "</negotiation_template>", ""]
    return "\n".join(lines)


def profile_xml(sizes: list[int], weights: list[float], evals: list[list[float]],
                reservation: float) -> str:
    lines = [
        f'<utility_space number_of_issues="{len(sizes)}">',
        '  <objective index="0" description="" name="root" type="objective" etype="objective">',
    ]
    for i, w in enumerate(weights, start=1):
        lines.append(f'    <weight index="{i}" value="{_fmt(w)}"/>')
    for i, size in enumerate(sizes, start=1):
        lines.append(
            f'    <issue index="{i}" name="i{i}" type="discrete" etype="discrete" vtype="discrete">'
        )
        for v in range(1, size + 1):
            lines.append(
                f'      <item index="{v}" value={quoteattr(_value_label(i, v))} '
                f'evaluation="{_fmt(evals[i - 1][v - 1])}"/>'
            )
        lines.append("    </issue>")
    lines += [
        "  </objective>",
        f'  <reservation value="{reservation}"/>',
        '  <discount_factor value="1.0"/>',
        "</utility_space>",
        "",
    ]
    return "\n".join(lines)


def generate(out_dir: str, seed: int = DEFAULT_SEED, sizes=DEFAULT_SIZES) -> dict:
    """Write the scenario into out_dir and return a small description."""
    sizes = [int(s) for s in sizes]
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(f"issue sizes must be positive integers, got {sizes}")
    os.makedirs(out_dir, exist_ok=True)
    weights, evaluations, reservations = make_preferences(sizes, seed)
    files = [f"{PREFIX}-domain.xml"]
    with open(os.path.join(out_dir, files[0]), "w", encoding="utf-8") as f:
        f.write(domain_xml(sizes))
    for p in range(N_PARTIES):
        name = f"{PREFIX}-prof{p + 1}.xml"
        files.append(name)
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.write(profile_xml(sizes, weights[p], evaluations[p], reservations[p]))
    return {
        "folder": out_dir,
        "files": files,
        "sizes": sizes,
        "outcomes": math.prod(sizes),
        "parties": N_PARTIES,
        "seed": seed,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", help="folder to write the scenario into (created if missing)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED,
                    help=f"random seed (default {DEFAULT_SEED})")
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                    help="comma-separated number of values per issue "
                         "(default %(default)s = 6,000,000 outcomes)")
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        info = generate(args.out_dir, args.seed, sizes)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(info['files'])} files to {info['folder']}: "
          f"{info['parties']} parties, issues {info['sizes']}, "
          f"{info['outcomes']:,} outcomes, seed {info['seed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
