#!/usr/bin/env python3
"""A round robin judged by NegMAS, not by parley (issue 15's judge).

NegMAS's own `cartesian_tournament` (its `SAOMechanism`, both role orders, 100 steps,
its advantage score) runs parley's built-ins (`ParleyNegotiator`, `best` included)
against the ANAC winners reimplemented for NegMAS (`negmas-genius-agents`) and NegMAS's
Aspiration and MiCRO, on bilateral scenarios of the shared corpus loaded by parley
(Genius normalisation) and handed over with `parley.negmas.to_negmas`. Prints the
ranking by mean advantage (utility − reserved value) with a 95% confidence interval
and each competitor's agreement rate.

    python -m venv /tmp/v && /tmp/v/bin/pip install maturin numpy "negmas==0.16.0" "negmas-genius-agents==0.3.0"
    (cd python && VIRTUAL_ENV=/tmp/v /tmp/v/bin/maturin develop --release)
    /tmp/v/bin/python bench/negmas_judge.py [--scenarios N] [--max-outcomes M]

The competitors are AGPL code installed for the benchmark only, never vendored.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import statistics
import time
import warnings

warnings.filterwarnings("ignore")

import parley  # noqa: E402
import parley.negmas as pn  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
ANAC = ["HardHeaded", "AgentK", "CUHKAgent", "TheFawkes", "Atlas3", "PonPokoAgent", "AgreeableAgent2018", "AgentGG"]
PARLEY = ["best", "boulware", "conceder", "frequency", "tit-for-tat"]


def scenarios(corpus: pathlib.Path, count: int, max_outcomes: int):
    """Bilateral, linear, small enough scenario folders of the corpus, in name order."""
    found = []
    for xml in sorted((corpus / "genius").rglob("*.xml")):
        folder = xml.parent
        if folder in [f for f, _ in found]:
            continue
        try:
            if "<negotiation_template" not in xml.read_text(errors="replace")[:2000]:
                continue
            s = parley.load(folder)
        except (OSError, ValueError):
            continue
        if len(s.parties) != 2 or not isinstance(s.n_outcomes, int) or s.n_outcomes > max_outcomes:
            continue
        found.append((folder, s))
        if len(found) >= count:
            break
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, default=8)
    ap.add_argument("--max-outcomes", type=int, default=20_000)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    import negmas_genius_agents as anac
    from negmas.sao import AspirationNegotiator, MiCRONegotiator
    from negmas.tournaments.neg import cartesian_tournament

    corpus = pathlib.Path(os.environ.get("PARLEY_SCENARIOS", ROOT.parent / "shared/scenarios"))
    chosen = scenarios(corpus, args.scenarios, args.max_outcomes)
    competitors = [pn.ParleyNegotiator] * len(PARLEY) + [getattr(anac, n) for n in ANAC] + [AspirationNegotiator, MiCRONegotiator]
    params = [{"strategy": s} for s in PARLEY] + [{} for _ in ANAC] + [{}, {}]
    names = [f"parley:{s}" for s in PARLEY] + ANAC + ["Aspiration", "MiCRO"]
    print(f"{len(chosen)} scenarios: {', '.join(f.name for f, _ in chosen)}")
    started = time.perf_counter()
    results = cartesian_tournament(
        competitors=competitors, competitor_params=params, competitor_names=names,
        scenarios=[pn.to_negmas(s) for _, s in chosen], n_steps=args.steps, n_repetitions=1,
        njobs=-1, verbosity=0, save_stats=False, save_scenario_figs=False, self_play=False,
        rotate_ufuns=True,
    )
    errors = int(results.details["has_error"].sum())
    took = time.perf_counter() - started
    d = results.scores
    rows = []
    for name, g in d.groupby("strategy"):
        adv = g["advantage"].astype(float).tolist()
        mean = statistics.fmean(adv)
        half = 1.96 * statistics.stdev(adv) / math.sqrt(len(adv)) if len(adv) > 1 else float("nan")
        agreed = g["session_agreement_reached"].astype(float).mean()
        rows.append((mean, name, half, len(adv), agreed))
    rows.sort(reverse=True)
    print(f"{len(results.details)} negotiations in {took:.1f} s (NegMAS {__import__('negmas').__version__}, "
          f"{args.steps} steps, both role orders; {errors} with an error)")
    print(f"{'rank':>4}  {'competitor':28} {'mean advantage':>15}  {'95% CI':>17}  {'n':>5}  {'agreements':>10}")
    for rank, (mean, name, half, n, agreed) in enumerate(rows, 1):
        print(f"{rank:>4}  {name:28} {mean:15.4f}  [{mean - half:.4f}, {mean + half:.4f}]  {n:5d}  {agreed:10.1%}")


if __name__ == "__main__":
    main()
