#!/usr/bin/env python3
"""A round robin judged by NegMAS, not by parley (issue 15's judge).

NegMAS's own ``cartesian_tournament`` (its ``SAOMechanism``, 100 steps, both opening
orders and both ufun rotations, its advantage score) runs parley's negotiators
(``ParleyNegotiator``: ``best`` and the ports of the ANAC winners) against the same
ANAC winners reimplemented for NegMAS (``negmas-genius-agents``) and NegMAS's
Aspiration and MiCRO, on bilateral scenarios of the shared corpus loaded by parley
(Genius normalisation) and handed over with ``parley.negmas.to_negmas``.

With ``--engine parley`` the same field plays inside ``parley.tournament`` instead
(NegMAS agents as Python competitors, every competitor in both roles against every
other); ``--engine both`` runs both and prints both tables.

For each engine it prints the ranking by mean advantage with a 95% confidence interval
— NegMAS's score, ``(utility − reserved value) / (best utility − reserved value)``,
computed the same way from parley's rows —, the mean utility, the agreement rate, the agreement rate over the sessions
whose scenario has a rational outcome (one both sides value above their reserved
value), and whether the leader's lead over each other competitor lies outside both
confidence intervals.

Scenario choice is deterministic: the bilateral corpus folders with at most
``--max-outcomes`` outcomes, ordered by a hash of their path (``--order name``: by
path), then ``--scenarios N`` of them from position ``--offset K`` (a different
offset gives a disjoint slice, for checks on scenarios a negotiator was not tuned on).
Both engines play undiscounted scenarios (NegMAS's utility functions made by
``to_negmas`` have no discounting; the parley engine is given copies without the
Genius discount factors).

    python3 -m venv /work/venv
    /work/venv/bin/pip install maturin numpy pytest "negmas==0.16.0" "negmas-genius-agents==0.3.0"
    (cd python && VIRTUAL_ENV=/work/venv PATH=/work/venv/bin:$PATH maturin develop --release)
    /work/venv/bin/python bench/negmas_judge.py --scenarios 8
    /work/venv/bin/python bench/negmas_judge.py --engine both --scenarios 8 --offset 8 --json /tmp/judge.json
    /work/venv/bin/python bench/negmas_judge.py --parley best,boulware --negmas HardHeaded,MiCRO --scenarios 2

The NegMAS competitors are AGPL code installed for the benchmark only, never vendored.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import pathlib
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

import parley  # noqa: E402
import parley.negmas as pn  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: parley's ports of the ANAC winners (and MiCRO), as built-in specifications.
PARLEY_PORTS = ["agentk", "hardheaded", "cuhk", "thefawkes", "atlas3", "ponpoko", "agreeable", "agentgg", "micro"]
#: parley's side of the field by default.
PARLEY_DEFAULT = ["best", *PARLEY_PORTS]
#: The ANAC winners as classes of ``negmas_genius_agents`` (0.3.0).
ANAC = ["AgentK", "HardHeaded", "CUHKAgent", "TheFawkes", "Atlas3", "PonPokoAgent", "AgreeableAgent2018", "AgentGG"]
#: NegMAS's own negotiators, by the short name used here.
NEGMAS_OWN = {"Aspiration": "AspirationNegotiator", "MiCRO": "MiCRONegotiator", "Boulware": "BoulwareTBNegotiator"}
#: NegMAS's side of the field by default.
NEGMAS_DEFAULT = [*ANAC, "Aspiration", "MiCRO"]


# --------------------------------------------------------------------------- scenarios


@dataclass
class Chosen:
    """A corpus scenario picked for the benchmark."""

    rel: str  #: its folder relative to ``<corpus>/genius``
    folder: pathlib.Path
    scenario: Any  #: the ``parley.Scenario``
    label: str  #: a unique name (``rel`` with ``/`` → ``_``), used as the scenario's name in both engines
    rational: bool  #: some outcome is worth more than its reserved value to both sides


def corpus_dir() -> pathlib.Path:
    """The shared corpus: ``$PARLEY_SCENARIOS``, else ``../shared/scenarios`` beside the repository."""
    return pathlib.Path(os.environ.get("PARLEY_SCENARIOS", ROOT.parent / "shared/scenarios"))


def has_rational_outcome(scenario: Any) -> bool:
    """Whether some outcome is worth more than its reserved value to every party: a deal
    that leaves both better off than walking away. (An outcome worth exactly the
    reserved value to one side gives it no reason to agree, and NegMAS's advantage is
    0 for it either way: y2012/FiftyFiftyA's only such outcome is the 0.5/0.5 split
    with both reserved values at 0.5.)"""
    ok = None
    for k, reserved in enumerate(scenario.reservations):
        mine = np.asarray(scenario.utilities(k)) > reserved + 1e-9
        ok = mine if ok is None else ok & mine
    return bool(ok is not None and ok.any())


def is_linear(scenario: Any) -> bool:
    model = json.loads(scenario.to_json())
    return all(p["utility"].get("kind", "linear") == "linear" for p in model["parties"])


def select_scenarios(
    corpus: pathlib.Path,
    count: int,
    max_outcomes: int,
    *,
    offset: int = 0,
    only_linear: bool = False,
    order: str = "hash",
) -> list[Chosen]:
    """``count`` bilateral Genius folders of ``corpus`` with at most ``max_outcomes``
    outcomes (linear ones only with ``only_linear``), from position ``offset`` of a
    fixed order: ``hash`` (SHA-256 of the folder's relative path: a spread over the
    years, the same on every machine) or ``name`` (by path)."""
    genius = corpus / "genius"
    candidates: list[tuple[str, pathlib.Path, Any]] = []
    for folder in sorted({xml.parent for xml in genius.rglob("*.xml")}):
        try:
            s = parley.load(folder)
        except (OSError, ValueError):
            continue
        if len(s.parties) != 2 or not isinstance(s.n_outcomes, int) or s.n_outcomes > max_outcomes:
            continue
        if only_linear and not is_linear(s):
            continue
        candidates.append((folder.relative_to(genius).as_posix(), folder, s))
    if order == "hash":
        candidates.sort(key=lambda c: hashlib.sha256(c[0].encode()).hexdigest())
    elif order != "name":
        raise ValueError(f"order: hash or name, not {order!r}")
    picked = candidates[offset : offset + count]
    return [Chosen(rel, folder, s, rel.replace("/", "_"), has_rational_outcome(s)) for rel, folder, s in picked]


def negmas_scenario(chosen: Chosen) -> Any:
    """The scenario as NegMAS sees it (``to_negmas``), named ``chosen.label``."""
    import attrs

    ns = pn.to_negmas(chosen.scenario)
    return attrs.evolve(ns, outcome_space=attrs.evolve(ns.outcome_space, name=chosen.label), name=chosen.label)


def undiscounted_file(chosen: Chosen, folder: pathlib.Path) -> pathlib.Path:
    """A native JSON copy of the scenario without discount factors, named ``chosen.label``."""
    model = json.loads(chosen.scenario.to_json())
    model["name"] = chosen.label
    for party in model["parties"]:
        party.pop("discount", None)
    path = folder / f"{chosen.label}.json"
    path.write_text(json.dumps(model))
    return path


# --------------------------------------------------------------------------- competitors


def negmas_class(name: str) -> type:
    """A NegMAS negotiator class by its short name: ``Aspiration``, ``MiCRO``,
    ``Boulware`` (NegMAS's own) or a class of ``negmas_genius_agents``."""
    if name in NEGMAS_OWN:
        import negmas.sao

        return getattr(negmas.sao, NEGMAS_OWN[name])
    import negmas_genius_agents

    try:
        return getattr(negmas_genius_agents, name)
    except AttributeError:
        raise SystemExit(f"{name}: neither {', '.join(NEGMAS_OWN)} nor a class of negmas_genius_agents") from None


def check_parley_specs(specs: Iterable[str]) -> None:
    """Stop with a clear message when a specification names no built-in of this build."""
    known = parley.negotiators()
    unknown = [s for s in specs if s.split(":")[0] not in known]
    if unknown:
        raise SystemExit(
            f"not built-ins of this build of parley: {', '.join(unknown)} (it has {', '.join(known)}); "
            "rebuild the package (maturin develop --release) or choose others with --parley"
        )


def split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


# --------------------------------------------------------------------------- statistics


@dataclass
class Record:
    """One competitor's part in one session."""

    competitor: str
    advantage: float  #: NegMAS's: (utility − reserved) / (best − reserved)
    utility: float
    agreed: bool
    rational: bool  #: the session's scenario has a rational outcome


@dataclass
class Standing:
    """One competitor's line of the table."""

    rank: int
    competitor: str
    n: int
    mean_advantage: float
    ci95: tuple[float, float]
    mean_utility: float
    agreement_rate: float
    rational_n: int
    rational_agreement_rate: float | None

    @property
    def half(self) -> float:
        return (self.ci95[1] - self.ci95[0]) / 2


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the half-width of its 95% confidence interval (normal, 1.96·s/√n)."""
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, half


def standings(records: Iterable[Record]) -> list[Standing]:
    """The ranking by mean advantage (ties by name)."""
    by: dict[str, list[Record]] = {}
    for r in records:
        by.setdefault(r.competitor, []).append(r)
    rows = []
    for name, rs in by.items():
        mean, half = mean_ci([r.advantage for r in rs])
        rational = [r for r in rs if r.rational]
        rows.append(
            Standing(
                rank=0,
                competitor=name,
                n=len(rs),
                mean_advantage=mean,
                ci95=(mean - half, mean + half),
                mean_utility=statistics.fmean(r.utility for r in rs),
                agreement_rate=statistics.fmean(float(r.agreed) for r in rs),
                rational_n=len(rational),
                rational_agreement_rate=statistics.fmean(float(r.agreed) for r in rational) if rational else None,
            )
        )
    rows.sort(key=lambda s: (-s.mean_advantage, s.competitor))
    for rank, s in enumerate(rows, 1):
        s.rank = rank
    return rows


def leads(table: list[Standing]) -> list[dict[str, Any]]:
    """The leader's lead over each other competitor: outside both confidence intervals
    when it is larger than both half-widths (the leader's mean lies outside the other's
    interval and the other's mean outside the leader's); ``disjoint`` when the two
    intervals do not overlap (the lead exceeds the sum of the half-widths)."""
    if not table:
        return []
    top = table[0]
    out = []
    for other in table[1:]:
        lead = top.mean_advantage - other.mean_advantage
        out.append(
            {
                "leader": top.competitor,
                "competitor": other.competitor,
                "lead": lead,
                "outside_both": bool(lead > top.half and lead > other.half),
                "disjoint": bool(lead > top.half + other.half),
            }
        )
    return out


def print_table(title: str, table: list[Standing]) -> None:
    print(f"\n{title}")
    print(
        f"{'rank':>4}  {'competitor':26} {'mean adv.':>9}  {'95% CI':>18}  {'utility':>7}  {'n':>5}  {'agreed':>7}  "
        f"{'n (rational)':>12}  {'agreed (rational)':>17}"
    )
    for s in table:
        rational = "—" if s.rational_agreement_rate is None else f"{s.rational_agreement_rate:.1%}"
        print(
            f"{s.rank:>4}  {s.competitor:26} {s.mean_advantage:9.4f}  [{s.ci95[0]:7.4f}, {s.ci95[1]:7.4f}]  {s.mean_utility:7.4f}  "
            f"{s.n:5d}  {s.agreement_rate:7.1%}  {s.rational_n:12d}  {rational:>17}"
        )
    rows = leads(table)
    if rows:
        print(f"\nlead of {rows[0]['leader']} (outside both CIs: lead > both half-widths; disjoint: CIs do not overlap)")
        for r in rows:
            outside = "yes" if r["outside_both"] else "no"
            disjoint = "yes" if r["disjoint"] else "no"
            print(f"  over {r['competitor']:26} {r['lead']:+.4f}  outside both: {outside:3}  disjoint: {disjoint}")


# --------------------------------------------------------------------------- engines


@dataclass
class EngineResult:
    engine: str
    sessions: int
    errors: int
    seconds: float
    table: list[Standing]


def run_negmas(chosen: list[Chosen], parley_specs: list[str], negmas_names: list[str], args: argparse.Namespace) -> EngineResult:
    """The field in NegMAS's ``cartesian_tournament``."""
    from negmas.tournaments.neg import cartesian_tournament

    competitors = [pn.ParleyNegotiator] * len(parley_specs) + [negmas_class(n) for n in negmas_names]
    params = [{"strategy": s} for s in parley_specs] + [{} for _ in negmas_names]
    names = [f"parley:{s}" for s in parley_specs] + [f"negmas:{n}" for n in negmas_names]
    rational: dict[str, bool] = {}
    for c in chosen:
        # cartesian_tournament names a rotated scenario NAME-1, NAME-2, …
        for k in range(len(c.scenario.parties)):
            rational[c.label if k == 0 else f"{c.label}-{k}"] = c.rational
    started = time.perf_counter()
    results = cartesian_tournament(
        competitors=competitors,
        competitor_params=params,
        competitor_names=names,
        scenarios=[negmas_scenario(c) for c in chosen],
        n_steps=args.steps,
        n_repetitions=args.repetitions,
        njobs=args.jobs,
        verbosity=0,
        save_stats=False,
        save_scenario_figs=False,
        self_play=False,
        rotate_ufuns=True,
    )
    took = time.perf_counter() - started
    d = results.scores
    if getattr(args, "records", None):
        columns = ["strategy", "partners", "scenario", "utility", "reserved_value", "advantage", "session_agreement_reached"]
        d[columns].to_csv(args.records, index=False)
    records = [
        Record(str(name), float(adv), float(u), bool(float(agreed) > 0), rational[str(scenario)])
        for name, adv, u, agreed, scenario in zip(
            d["strategy"], d["advantage"], d["utility"], d["session_agreement_reached"], d["scenario"]
        )
    ]
    return EngineResult(
        engine="negmas",
        sessions=len(results.details),
        errors=int(results.details["has_error"].sum()),
        seconds=took,
        table=standings(records),
    )


def run_parley(chosen: list[Chosen], parley_specs: list[str], negmas_names: list[str], args: argparse.Namespace) -> EngineResult:
    """The field in ``parley.tournament`` (SAOP, ``--steps`` rounds)."""
    competitors: list[Any] = list(parley_specs) + [(f"negmas:{n}", negmas_class(n)) for n in negmas_names]
    rational = {c.label.lower(): c.rational for c in chosen}
    # NegMAS's advantage: divided by what the best outcome is worth above the reserved value.
    span = {
        c.label.lower(): [float(np.max(c.scenario.utilities(k))) - r for k, r in enumerate(c.scenario.reservations)]
        for c in chosen
    }
    with tempfile.TemporaryDirectory(prefix="negmas-judge-") as tmp:
        files = [undiscounted_file(c, pathlib.Path(tmp)) for c in chosen]
        started = time.perf_counter()
        result = parley.tournament(
            [str(f) for f in files],
            competitors,
            protocol="saop",
            rounds=args.steps,
            repetitions=args.repetitions,
            seed=args.seed,
            out=pathlib.Path(tmp) / "out",
        )
        took = time.perf_counter() - started
    records = []
    errors = 0
    for row in result["rows"]:
        errors += row["ended_by"] == "invalid-action"
        label = row["scenario"].lower()
        for k, (name, u, adv) in enumerate(zip(row["negotiators"], row["utilities"], row["advantages"])):
            shown = name if name.startswith("negmas:") else f"parley:{name}"
            scaled = float(adv) / span[label][k] if span[label][k] > 0 else 0.0
            records.append(Record(shown, scaled, float(u), row["agreement"] is not None, rational[label]))
    return EngineResult(engine="parley", sessions=len(result["rows"]), errors=errors, seconds=took, table=standings(records))


# --------------------------------------------------------------------------- main


def add_scenario_options(ap: argparse.ArgumentParser) -> None:
    """The options that choose scenarios (shared with ``negmas_ports.py``)."""
    ap.add_argument("--scenarios", type=int, default=8, metavar="N", help="how many scenarios (default 8)")
    ap.add_argument("--offset", type=int, default=0, metavar="K", help="skip the first K of the order (default 0)")
    ap.add_argument("--max-outcomes", type=int, default=20_000, metavar="M", help="largest outcome space (default 20000)")
    ap.add_argument("--only-linear", action="store_true", help="linear additive scenarios only")
    ap.add_argument("--order", choices=["hash", "name"], default="hash", help="scenario order (default hash)")
    ap.add_argument("--steps", type=int, default=100, help="NegMAS steps = parley rounds (default 100)")


def chosen_from(args: argparse.Namespace) -> list[Chosen]:
    chosen = select_scenarios(
        corpus_dir(), args.scenarios, args.max_outcomes, offset=args.offset, only_linear=args.only_linear, order=args.order
    )
    if not chosen:
        raise SystemExit(f"no scenario chosen from {corpus_dir()} (set PARLEY_SCENARIOS?)")
    return chosen


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scenario_options(ap)
    ap.add_argument("--parley", default=",".join(PARLEY_DEFAULT), help="parley built-ins, comma-separated specifications")
    ap.add_argument("--negmas", default=",".join(NEGMAS_DEFAULT), help="NegMAS competitors, comma-separated short names")
    ap.add_argument("--engine", choices=["negmas", "parley", "both"], default="negmas")
    ap.add_argument("--repetitions", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=-1, help="NegMAS worker processes (-1: all cores; 1: in-process)")
    ap.add_argument("--seed", type=int, default=0, help="parley tournament's seed")
    ap.add_argument("--json", metavar="PATH", help="also write the tables as JSON")
    ap.add_argument("--records", metavar="CSV", help="also write NegMAS's score of every negotiator in every session (engine negmas)")
    args = ap.parse_args(argv)

    parley_specs = split_list(args.parley)
    negmas_names = split_list(args.negmas)
    check_parley_specs(parley_specs)
    for n in negmas_names:
        negmas_class(n)
    chosen = chosen_from(args)
    import negmas

    print(
        f"{len(chosen)} scenarios (order {args.order}, offset {args.offset}, ≤ {args.max_outcomes} outcomes): "
        + ", ".join(f"{c.rel}{'' if c.rational else ' (no rational outcome)'}" for c in chosen)
    )
    print(f"NegMAS {negmas.__version__}, parley {parley.__version__}, {args.steps} steps, {args.repetitions} repetition(s)")
    engines = ["negmas", "parley"] if args.engine == "both" else [args.engine]
    results: list[EngineResult] = []
    for engine in engines:
        run = run_negmas if engine == "negmas" else run_parley
        r = run(chosen, parley_specs, negmas_names, args)
        results.append(r)
        how = (
            "NegMAS cartesian_tournament: both opening orders × both ufun rotations"
            if engine == "negmas"
            else "parley.tournament (saop): every competitor in both roles"
        )
        print_table(
            f"[{engine}] {r.sessions} negotiations in {r.seconds:.1f} s ({r.seconds / len(chosen):.1f} s per scenario; "
            f"{how}; {r.errors} with an error)",
            r.table,
        )
        sys.stdout.flush()
    if args.json:
        dump = {
            "settings": {
                k: getattr(args, k)
                for k in ("scenarios", "offset", "max_outcomes", "only_linear", "order", "steps", "repetitions", "seed")
            }
            | {"parley": parley_specs, "negmas": negmas_names, "negmas_version": negmas.__version__},
            "scenarios": [{"path": c.rel, "label": c.label, "rational_outcome": c.rational} for c in chosen],
            "engines": {
                r.engine: {
                    "sessions": r.sessions,
                    "errors": r.errors,
                    "seconds": r.seconds,
                    "ranking": [dataclasses.asdict(s) for s in r.table],
                    "leads": leads(r.table),
                }
                for r in results
            },
        }
        pathlib.Path(args.json).write_text(json.dumps(dump, indent=1) + "\n")
        print(f"\nwritten: {args.json}")


if __name__ == "__main__":
    main()
