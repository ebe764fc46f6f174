#!/usr/bin/env python3
"""parley's ports of the ANAC winners side by side with NegMAS's reimplementations.

Each parley port (a built-in played through ``parley.negmas.ParleyNegotiator``) and its
counterpart (a class of ``negmas-genius-agents``, or NegMAS's own MiCRO) play the same
fixed opponents — NegMAS's ``AspirationNegotiator``, ``MiCRONegotiator`` and
``BoulwareTBNegotiator`` — on the same scenarios (``negmas_judge.py``'s selection), in
NegMAS's ``SAOMechanism`` (100 steps), in every seating: either utility function, and
either side opening. Port and original meet exactly the same sessions (same scenario,
seat, opponent and seeds), so the differences are paired.

Per pair it prints, for the port, the original and their difference: the agreement
rate, the mean utility (the reserved value when there is no agreement), the mean
advantage (NegMAS's: (utility − reserved) / (best − reserved)) and the mean number of
NegMAS steps to an agreement; then whether the difference in mean utility is within
``--tolerance`` (default 0.1), with the largest difference against a single opponent
beside it (overall means can agree while opponents differ in opposite directions).
``--by-opponent`` adds one line per opponent.

    /work/venv/bin/python bench/negmas_ports.py --scenarios 8
    /work/venv/bin/python bench/negmas_ports.py --scenarios 8 --offset 8 --json /tmp/ports.json
    /work/venv/bin/python bench/negmas_ports.py --only agentk,micro --scenarios 2 --jobs 1
    # before the ports exist in the build: stand-ins for them
    /work/venv/bin/python bench/negmas_ports.py --only agentk --port agentk=frequency:e=0.02 --scenarios 2

(Installing the venv: see ``negmas_judge.py``.) The NegMAS agents are AGPL code
installed for the benchmark only, never vendored.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import pathlib
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Sequence

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import negmas_judge as judge  # noqa: E402  (also silences warnings)
import parley  # noqa: E402

#: parley port (built-in name) → its counterpart (a short name for ``judge.negmas_class``).
PAIRS: dict[str, str] = {
    "agentk": "AgentK",
    "hardheaded": "HardHeaded",
    "cuhk": "CUHKAgent",
    "thefawkes": "TheFawkes",
    "atlas3": "Atlas3",
    "ponpoko": "PonPokoAgent",
    "agreeable": "AgreeableAgent2018",
    "agentgg": "AgentGG",
    "micro": "MiCRO",
}
#: The fixed opponents (NegMAS's own negotiators).
OPPONENTS = ["Aspiration", "MiCRO", "Boulware"]


@dataclass(frozen=True)
class Task:
    """One session: ``subject`` (a port or an original) against ``opponent``."""

    folder: str  #: the scenario's Genius folder
    label: str
    pair: str  #: the port's name
    side: str  #: "port" or "original"
    subject: str  #: the built-in specification (port) or the NegMAS short name (original)
    opponent: str
    seat: int  #: which utility function the subject holds (0 or 1)
    opens: bool  #: whether the subject makes the first offer
    steps: int
    seed: int


@dataclass
class Outcome:
    task: Task
    agreed: bool
    utility: float
    advantage: float
    steps: int
    error: str | None
    seconds: float


@functools.lru_cache(maxsize=None)
def _scenario(folder: str) -> Any:
    """The NegMAS scenario of a Genius folder, made once per process."""
    import parley.negmas as pn

    return pn.to_negmas(parley.load(folder))


@functools.lru_cache(maxsize=None)
def _best(folder: str, seat: int) -> float:
    """What the best outcome is worth to the party in ``seat``."""
    ns = _scenario(folder)
    return float(max(ns.ufuns[seat](o) for o in ns.outcome_space.enumerate_or_sample()))


def play(task: Task) -> Outcome:
    """Runs one session in NegMAS's ``SAOMechanism``."""
    import parley.negmas as pn
    from negmas.sao import SAOMechanism

    ns = _scenario(task.folder)
    random.seed(task.seed)
    np.random.seed(task.seed % 2**32)
    if task.side == "port":
        subject = pn.ParleyNegotiator(task.subject, seed=task.seed, name=f"parley:{task.subject}")
    else:
        subject = judge.negmas_class(task.subject)(name=task.subject)
    opponent = judge.negmas_class(task.opponent)(name=f"opponent:{task.opponent}")
    mine, theirs = ns.ufuns[task.seat], ns.ufuns[1 - task.seat]
    started = time.perf_counter()
    m = SAOMechanism(outcome_space=ns.outcome_space, n_steps=task.steps)
    seats = [(subject, mine), (opponent, theirs)]
    for negotiator, ufun in seats if task.opens else seats[::-1]:
        m.add(negotiator, ufun=ufun)
    state = m.run()
    took = time.perf_counter() - started
    reserved = float(mine.reserved_value)
    best = _best(task.folder, task.seat)
    utility = float(mine(state.agreement)) if state.agreement is not None else reserved
    advantage = (utility - reserved) / (best - reserved) if best != reserved else 0.0
    error = str(state.error_details or "error") if state.has_error else None
    return Outcome(task, state.agreement is not None, utility, advantage, int(state.step), error, took)


@dataclass
class Summary:
    """One side's figures over a set of sessions."""

    n: int
    errors: int
    agreement_rate: float
    mean_utility: float
    mean_advantage: float
    mean_steps_to_agreement: float | None


def summarize(outcomes: Sequence[Outcome]) -> Summary:
    agreed = [o.steps for o in outcomes if o.agreed]
    return Summary(
        n=len(outcomes),
        errors=sum(o.error is not None for o in outcomes),
        agreement_rate=statistics.fmean(float(o.agreed) for o in outcomes),
        mean_utility=statistics.fmean(o.utility for o in outcomes),
        mean_advantage=statistics.fmean(o.advantage for o in outcomes),
        mean_steps_to_agreement=statistics.fmean(agreed) if agreed else None,
    )


def compare(port: Sequence[Outcome], original: Sequence[Outcome], tolerance: float) -> dict[str, Any]:
    """Port against original on the same sessions; ``delta`` is port − original."""
    p, o = summarize(port), summarize(original)
    steps = (
        p.mean_steps_to_agreement - o.mean_steps_to_agreement
        if p.mean_steps_to_agreement is not None and o.mean_steps_to_agreement is not None
        else None
    )
    # Paired: the same session (scenario, seat, opening, opponent, seed) on both sides.
    key = lambda x: (x.task.label, x.task.opponent, x.task.seat, x.task.opens, x.task.seed)  # noqa: E731
    theirs = {key(x): x.utility for x in original}
    diffs = [x.utility - theirs[key(x)] for x in port if key(x) in theirs]
    half = 1.96 * statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else float("nan")
    delta_u = p.mean_utility - o.mean_utility
    return {
        "port": asdict(p),
        "original": asdict(o),
        "delta": {
            "agreement_rate": p.agreement_rate - o.agreement_rate,
            "mean_utility": delta_u,
            "mean_utility_ci95_half": half,
            "mean_advantage": p.mean_advantage - o.mean_advantage,
            "mean_steps_to_agreement": steps,
        },
        "within_tolerance": abs(delta_u) <= tolerance,
    }


def _num(x: float | None, fmt: str) -> str:
    text = format(x, fmt) if x is not None else "—"
    return text.rjust(len(format(0.0, fmt)))


HEADER = (
    f"{'port':11} {'original':19} {'opponent':10} {'n':>4}  "
    f"{'agreed p / o / Δ':>20}  {'utility p / o / Δ (±CI)':>31}  {'advantage p / o / Δ':>22}  "
    f"{'steps p / o / Δ':>19}  {'err':>5}  verdict"
)


def line(port: str, original: str, opponent: str, c: dict[str, Any], tolerance: float) -> str:
    p, o, d = c["port"], c["original"], c["delta"]
    verdict = "within" if c["within_tolerance"] else "OUTSIDE"
    worst = c.get("worst_opponent")
    worst = f"; worst opponent {worst[0]} {worst[1]:.3f}" if worst else ""
    return (
        f"{port:11} {original:19} {opponent:10} {p['n']:4d}  "
        f"{p['agreement_rate']:5.2f} / {o['agreement_rate']:5.2f} / {d['agreement_rate']:+5.2f}  "
        f"{p['mean_utility']:.3f} / {o['mean_utility']:.3f} / {d['mean_utility']:+.3f} (±{d['mean_utility_ci95_half']:.3f})  "
        f"{p['mean_advantage']:.3f} / {o['mean_advantage']:.3f} / {d['mean_advantage']:+.3f}  "
        f"{_num(p['mean_steps_to_agreement'], '5.1f')} / {_num(o['mean_steps_to_agreement'], '5.1f')} / "
        f"{_num(d['mean_steps_to_agreement'], '+5.1f')}  {p['errors']:2d}/{o['errors']:<2d}  "
        f"{verdict} (|Δu| {abs(d['mean_utility']):.3f} vs {tolerance}{worst})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    judge.add_scenario_options(ap)
    ap.add_argument("--only", help="ports to compare, comma-separated (default: all of " + ",".join(PAIRS) + ")")
    ap.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="play SPEC for port NAME (a stand-in, e.g. agentk=frequency:e=0.02); repeatable",
    )
    ap.add_argument("--opponents", default=",".join(OPPONENTS), help="fixed opponents (default Aspiration,MiCRO,Boulware)")
    ap.add_argument("--tolerance", type=float, default=0.1, help="largest |Δ mean utility| called within (default 0.1)")
    ap.add_argument("--repetitions", type=int, default=1, help="sessions per seating, with different seeds")
    ap.add_argument("--by-opponent", action="store_true", help="also one line per opponent")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (1: in-process)")
    ap.add_argument("--json", metavar="PATH", help="also write the comparison as JSON")
    args = ap.parse_args(argv)

    names = judge.split_list(args.only) if args.only else list(PAIRS)
    unknown = [n for n in names if n not in PAIRS]
    if unknown:
        raise SystemExit(f"unknown ports: {', '.join(unknown)} (known: {', '.join(PAIRS)})")
    specs = {n: n for n in names}
    for entry in args.port:
        name, sep, spec = entry.partition("=")
        if not sep or name not in PAIRS:
            raise SystemExit(f"--port {entry!r}: NAME=SPEC with NAME one of {', '.join(PAIRS)}")
        specs[name] = spec
    judge.check_parley_specs(specs[n] for n in names)
    opponents = judge.split_list(args.opponents)
    for n in [*opponents, *(PAIRS[n] for n in names)]:
        judge.negmas_class(n)
    chosen = judge.chosen_from(args)

    tasks = []
    seating = 0
    for c in chosen:
        for opponent in opponents:
            for seat in (0, 1):
                for opens in (True, False):
                    for _ in range(args.repetitions):
                        # One seed per seating, the same for port and original: a paired comparison.
                        seed, seating = seating, seating + 1
                        for n in names:
                            for side, subject in (("port", specs[n]), ("original", PAIRS[n])):
                                tasks.append(
                                    Task(str(c.folder), c.label, n, side, subject, opponent, seat, opens, args.steps, seed)
                                )
    import negmas

    print(
        f"{len(chosen)} scenarios (order {args.order}, offset {args.offset}, ≤ {args.max_outcomes} outcomes): "
        + ", ".join(c.rel for c in chosen)
    )
    print(
        f"NegMAS {negmas.__version__}, parley {parley.__version__}; SAOMechanism, {args.steps} steps; opponents "
        f"{', '.join(opponents)}; both seats × both openings × {args.repetitions} repetition(s); {len(tasks)} sessions"
    )
    stand_ins = {n: s for n, s in specs.items() if s != n}
    if stand_ins:
        print("stand-ins: " + ", ".join(f"{n} played by {s}" for n, s in stand_ins.items()))
    started = time.perf_counter()
    if args.jobs == 1:
        outcomes = [play(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            outcomes = list(pool.map(play, tasks, chunksize=4))
    took = time.perf_counter() - started
    print(
        f"{took:.1f} s wall ({took / len(chosen):.1f} s per scenario, {args.jobs} job(s)); "
        f"session time summed {sum(o.seconds for o in outcomes):.1f} s"
    )

    results: dict[str, Any] = {}
    print("\np = port, o = original, Δ = p − o; utility: the reserved value when no agreement; steps: NegMAS steps to an agreement")
    print(HEADER)
    for n in names:
        mine = [o for o in outcomes if o.task.pair == n]
        port = [o for o in mine if o.task.side == "port"]
        original = [o for o in mine if o.task.side == "original"]
        entry = compare(port, original, args.tolerance)
        entry["spec"] = specs[n]
        entry["original_name"] = PAIRS[n]
        entry["by_opponent"] = {
            opp: compare(
                [o for o in port if o.task.opponent == opp],
                [o for o in original if o.task.opponent == opp],
                args.tolerance,
            )
            for opp in opponents
        }
        # The overall means can agree while each opponent's differ in opposite directions.
        entry["worst_opponent"] = max(
            ((opp, abs(c["delta"]["mean_utility"])) for opp, c in entry["by_opponent"].items()), key=lambda x: x[1]
        )
        label = n if specs[n] == n else f"{n}*"
        print(line(label, PAIRS[n], "all", entry, args.tolerance))
        if args.by_opponent:
            for opp, c in entry["by_opponent"].items():
                print(line("", "", opp, c, args.tolerance))
        errors = [o for o in mine if o.error]
        for o in errors[:3]:
            print(f"    error ({o.task.side} {o.task.subject} vs {o.task.opponent} on {o.task.label}): {o.error[:200]}")
        results[n] = entry
    if stand_ins:
        print("* played by a stand-in (--port)")
    within = sum(r["within_tolerance"] for r in results.values())
    print(f"\n{within} of {len(results)} ports within {args.tolerance} of their original in mean utility")
    if args.json:
        dump = {
            "settings": {
                k: getattr(args, k)
                for k in ("scenarios", "offset", "max_outcomes", "only_linear", "order", "steps", "tolerance", "repetitions")
            }
            | {"opponents": opponents, "negmas_version": negmas.__version__, "seconds": took},
            "scenarios": [c.rel for c in chosen],
            "pairs": results,
        }
        pathlib.Path(args.json).write_text(json.dumps(dump, indent=1) + "\n")
        print(f"written: {args.json}")


if __name__ == "__main__":
    main()
