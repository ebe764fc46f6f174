#!/usr/bin/env python3
"""Tournament throughput: ``parley tournament`` vs NegMAS's ``cartesian_tournament``.

Both tools run the same grid: every scenario × every ordered pair of distinct
negotiators (no self-play; each negotiator plays each role) × one repetition,
bilateral alternating offers (SAOP) with a deadline of R rounds.  The unit is
the same on both sides: **sessions per second** (finished negotiations divided
by wall time).

* parley: ``PARLEY tournament <folders> --negotiators LIST --protocol saop
  --rounds R --repetitions 1 --seed S --out <fresh temp dir> -q``.  Timed from
  outside (``time.perf_counter`` around the subprocess), so process start,
  scenario loading and writing ``results.csv`` count against parley; this
  external time is the headline.  parley's own ``timing.json``
  (``sessions_run``, ``elapsed_seconds``, ``sessions_per_second``,
  ``threads``) is reported next to it.  The sessions are the data rows of
  ``results.csv``; the agreement rate is the share of rows whose
  ``agreement`` column is true.
* NegMAS: in a fresh subprocess (this script in a hidden ``--negmas-worker``
  mode) the scenarios are loaded with ``Scenario.from_genius_folder`` and
  discounting is removed (as in ``run_vs_negmas.py``), then
  ``negmas.tournaments.neg.cartesian_tournament(competitors, scenarios,
  n_steps=R, n_repetitions=1, self_play=False, rotate_ufuns=…, njobs=…,
  path=None, verbosity=0, save_stats=False, …)`` is called.  Only that call is
  timed (importing negmas and loading are measured and reported, not
  counted).  The sessions are the rows of ``results.details``; the agreement
  rate is the share of rows with a non-null ``agreement``.  NegMAS is run
  serially (``njobs=-1``, in-process) and in parallel (``njobs`` = parley's
  thread count, process pool), and the faster of the two is the baseline.

It prints a Markdown table (scenario set | rounds | negotiators | sessions |
wall s | sessions/s | ratio | agreement rate, parley / NegMAS in each cell),
then every run in detail, the versions and the machine.  Run it with the
venv Python that has negmas (see bench/README.md):

    bench/.venv/bin/python bench/tournament_vs_negmas.py

Only the standard library is used outside the NegMAS worker.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

# Shared helpers of the other two benchmarks (both import only the standard
# library at module level).
from analyze_vs_negmas import describe_scenario
from run_vs_negmas import (
    DEFAULT_SCENARIOS,
    REPO_ROOT,
    command_output,
    fmt_ratio,
    log,
    machine_info,
    negmas_version,
    parley_revision,
    resolve_dir,
    resolve_scenario,
)

RESULT_MARK = "NEGMAS_TOURNAMENT_RESULT "
START_MARK = "NEGMAS_TOURNAMENT_START "
DONE_MARK = "NEGMAS_SESSION_DONE "

# parley's built-in negotiator → (NegMAS class in negmas.sao, constructor params).
NEGMAS_EQUIVALENT: dict[str, tuple[str, dict]] = {
    "boulware": ("BoulwareTBNegotiator", {}),
    "linear": ("LinearTBNegotiator", {}),
    "conceder": ("ConcederTBNegotiator", {}),
    # Offers only its best outcome and accepts only that (parley: e = 0).
    "hardliner": ("ToughNegotiator", {}),
    "tit-for-tat": ("NaiveTitForTatNegotiator", {}),
    # parley's random accepts a rational offer with probability 1/2 and never
    # walks away; NegMAS's default would end 10% of its turns.
    "random": ("RandomNegotiator", {"p_acceptance": 0.5, "p_rejection": 0.5, "p_ending": 0.0}),
}


# --------------------------------------------------------------------------
# NegMAS worker (runs in a fresh subprocess; the only place negmas is used)
# --------------------------------------------------------------------------

def _session_done(record, config=None) -> None:
    # after_end_callback: one line per finished session, so that a run killed at
    # --max-negmas-seconds still tells how many sessions it had finished.  In
    # parallel mode this runs in the worker processes, which share our stdout.
    print(f"{DONE_MARK}{time.monotonic():.6f}", flush=True)


def negmas_worker(spec: dict) -> int:
    import math
    import random
    import warnings

    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    import numpy
    import negmas.sao
    from negmas import Scenario
    from negmas.tournaments.neg import cartesian_tournament
    import_seconds = time.perf_counter() - started

    random.seed(spec["seed"])
    numpy.random.seed(spec["seed"])

    started = time.perf_counter()
    scenarios = []
    for path in spec["folders"]:
        s = Scenario.from_genius_folder(path)
        if s is None:
            raise SystemExit(f"negmas could not load {path}")
        if len(s.ufuns) != 2:
            raise SystemExit(f"{path}: {len(s.ufuns)} parties, the benchmark is bilateral")
        scenarios.append(s if spec["keep_discounting"] else s.remove_discounting())
    load_seconds = time.perf_counter() - started

    names = spec["negotiators"]
    classes = [getattr(negmas.sao, NEGMAS_EQUIVALENT[n][0]) for n in names]
    params = [dict(NEGMAS_EQUIVALENT[n][1]) for n in names]

    print(f"{START_MARK}{time.monotonic():.6f}", flush=True)
    started = time.perf_counter()
    results = cartesian_tournament(
        competitors=classes,
        scenarios=scenarios,
        competitor_params=params,
        competitor_names=list(names),
        n_steps=spec["rounds"],
        n_repetitions=1,
        self_play=False,
        rotate_ufuns=spec["rotate"],
        njobs=spec["njobs"],
        path=None,
        verbosity=0,
        save_stats=spec["stats"],
        save_scenario_figs=False,
        plot_fraction=0.0,
        ignore_discount=not spec["keep_discounting"],
        # A payload that cannot be pickled for the process pool must fail
        # loudly, not quietly run in this process.
        allow_inline_fallback=False,
        after_end_callback=_session_done,
    )
    details = results.details
    seconds = time.perf_counter() - started

    def agreed(a) -> bool:
        return a is not None and not (isinstance(a, float) and math.isnan(a))

    n = len(details)
    out = {
        "mode": spec["mode"],
        "njobs": spec["njobs"],
        "rotate": spec["rotate"],
        "scenarios": len(scenarios),
        "outcomes": [int(s.outcome_space.cardinality) for s in scenarios],
        "negotiators": {n_: NEGMAS_EQUIVALENT[n_][0] for n_ in names},
        "sessions": n,
        "seconds": seconds,
        "sessions_per_second": n / max(seconds, 1e-12),
        "import_seconds": import_seconds,
        "load_seconds": load_seconds,
        "agreements": int(sum(agreed(a) for a in details["agreement"])) if n else 0,
        "errors": int(details["has_error"].fillna(False).astype(bool).sum()) if n else 0,
        "timedout": int(details["timedout"].fillna(False).astype(bool).sum()) if n else 0,
        "mean_rounds": float(details["step"].mean()) if n else None,
    }
    print(RESULT_MARK + json.dumps(out), flush=True)
    return 0


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def run_negmas(folders: list[str], rounds: int, negotiators: list[str], mode: str,
               njobs: int, rotate: bool, args) -> dict:
    spec = {"folders": folders, "rounds": rounds, "negotiators": negotiators,
            "mode": mode, "njobs": njobs, "rotate": rotate, "seed": args.seed,
            "keep_discounting": args.keep_discounting, "stats": args.negmas_stats}
    cmd = [sys.executable, os.path.abspath(__file__), "--negmas-worker", json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    killed = False
    try:
        out, err = proc.communicate(timeout=args.max_negmas_seconds)
    except subprocess.TimeoutExpired:
        killed = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    start = done = None
    finished: list[float] = []
    for line in out.splitlines():
        if line.startswith(RESULT_MARK):
            done = json.loads(line[len(RESULT_MARK):])
        elif line.startswith(START_MARK):
            start = float(line[len(START_MARK):])
        elif line.startswith(DONE_MARK):
            finished.append(float(line[len(DONE_MARK):]))
    if done is not None:
        done["callback_sessions"] = len(finished)
        return done
    base = {"mode": mode, "njobs": njobs, "rotate": rotate, "scenarios": len(folders)}
    if killed:
        # Partial rate: the sessions finished by the last one's end, in NegMAS's
        # (shuffled) run order.  It leaves out the final aggregation of results.
        k = len(finished)
        rate = k / (finished[-1] - start) if k and start is not None else None
        return base | {"error": f">{args.max_negmas_seconds:g} s (killed)", "killed": True,
                       "partial_sessions": k,
                       "partial_seconds": (finished[-1] - start) if k and start else None,
                       "partial_rate": rate}
    tail = (err.strip().splitlines() or ["no output"])[-1]
    return base | {"error": f"exit {proc.returncode}: {tail}"}


def find_parley(args) -> str:
    path = args.parley
    if not os.path.isabs(path) and not os.path.exists(path):
        path = os.path.join(REPO_ROOT, path)
    path = os.path.abspath(path)
    build = [args.cargo, "build", "--release", "-p", "parley-cli"]
    if args.build or not os.path.exists(path):
        why = "--build" if args.build else f"{path} does not exist"
        log(f"{why}: $ {shlex.join(build)}")
        if subprocess.run(build, cwd=REPO_ROOT).returncode != 0:
            raise SystemExit("cargo build failed")
        if not os.path.exists(path):
            raise SystemExit(f"{path} still does not exist after the build")
    probe = subprocess.run([path, "tournament", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise SystemExit(f"{path} has no working `tournament` subcommand (stale build?); "
                         f"rebuild with `{shlex.join(build)}` or pass --build")
    return path


def read_parley_results(outdir: str) -> tuple[int, int | None, float | None]:
    """(data rows, agreements or None, mean rounds or None) of results.csv."""
    with open(os.path.join(outdir, "results.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    agreements = None
    if rows and "agreement" in rows[0]:
        agreements = sum(r["agreement"].strip().lower() in ("true", "1", "yes") for r in rows)
    mean_rounds = None
    col = next((c for c in ("rounds", "round", "steps") if rows and c in rows[0]), None)
    if col:
        try:
            mean_rounds = statistics.fmean(float(r[col]) for r in rows)
        except ValueError:
            pass
    return len(rows), agreements, mean_rounds


def run_parley(parley: str, folders: list[str], rounds: int, negotiators: list[str],
               args) -> dict:
    runs = []
    for rep in range(args.parley_repeat):
        outdir = tempfile.mkdtemp(prefix="parley-tournament-")
        cmd = [parley, "tournament", *folders, "--negotiators", ",".join(negotiators),
               "--protocol", "saop", "--rounds", str(rounds), "--repetitions", "1",
               "--seed", str(args.seed), "--out", outdir, "-q"]
        if rep == 0:
            log("$ " + shlex.join(cmd))
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=args.parley_timeout)
            wall = time.perf_counter() - started
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise SystemExit(f"parley tournament failed (exit {proc.returncode}): {tail}")
            with open(os.path.join(outdir, "timing.json"), encoding="utf-8") as f:
                timing = json.load(f)
            rows, agreements, mean_rounds = read_parley_results(outdir)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"parley tournament took more than {args.parley_timeout:g} s")
        finally:
            shutil.rmtree(outdir, ignore_errors=True)
        if timing.get("sessions_run") != rows:
            raise SystemExit(f"parley: timing.json says {timing.get('sessions_run')} sessions, "
                             f"results.csv has {rows} rows")
        runs.append({"wall_seconds": wall, "sessions": rows, "agreements": agreements,
                     "mean_rounds": mean_rounds, "timing": timing})
    walls = [r["wall_seconds"] for r in runs]
    median = sorted(runs, key=lambda r: r["wall_seconds"])[(len(runs) - 1) // 2]
    result = dict(median)
    result["walls"] = walls
    result["sessions_per_second"] = result["sessions"] / max(result["wall_seconds"], 1e-12)
    result["command"] = cmd[:-3] + ["--out", "<fresh temp dir>", "-q"]
    return result


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "–"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e4:
        return f"{x / 1e3:.0f} k"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def fmt_s(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def fmt_pct(agreements: int | None, sessions: int | None) -> str:
    if agreements is None or not sessions:
        return "–"
    return f"{100 * agreements / sessions:.0f}%"


def best_negmas(runs: list[dict]) -> dict | None:
    ok = [r for r in runs if "sessions_per_second" in r and not r.get("errors")]
    return max(ok, key=lambda r: r["sessions_per_second"]) if ok else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Tournament throughput in sessions per second: `parley tournament` vs "
                    "NegMAS's cartesian_tournament on the same grid (run with the venv "
                    "python that has negmas).")
    ap.add_argument("scenario", nargs="*",
                    help="bilateral scenario folders relative to <scenarios>/genius/ (or "
                         "paths); default: " + ", ".join(DEFAULT_SCENARIOS))
    ap.add_argument("--scenarios", default=os.environ.get("PARLEY_SCENARIOS", "../shared/scenarios"),
                    help="folder that has genius/ inside (default $PARLEY_SCENARIOS or "
                         "../shared/scenarios, relative to the cwd or the repository root)")
    ap.add_argument("--negotiators", default="boulware,linear,conceder",
                    help="parley negotiator names, comma-separated (default %(default)s); "
                         "NegMAS equivalents: " + ", ".join(
                             f"{k}→{v[0]}" for k, v in NEGMAS_EQUIVALENT.items()))
    ap.add_argument("--rounds", default="100,1000",
                    help="comma-separated deadlines in rounds, one tournament each "
                         "(default %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="seed for both tools (default 0)")
    ap.add_argument("--parley", default="target/release/parley",
                    help="parley binary (default %(default)s; built with cargo if missing)")
    ap.add_argument("--build", action="store_true",
                    help="run `cargo build --release -p parley-cli` first even if the binary exists")
    ap.add_argument("--cargo", default="cargo", help="cargo command (default %(default)s)")
    ap.add_argument("--parley-repeat", type=int, default=3,
                    help="parley runs per deadline; the median wall time counts (default %(default)s)")
    ap.add_argument("--parley-timeout", type=float, default=600.0,
                    help="seconds before a parley run counts as failed (default %(default)s)")
    ap.add_argument("--negmas-mode", choices=["both", "serial", "parallel"], default="both",
                    help="run NegMAS serially (njobs=-1), in parallel, or both and keep the "
                         "faster (default %(default)s)")
    ap.add_argument("--negmas-njobs", type=int, default=None,
                    help="processes for parallel NegMAS (default: parley's thread count "
                         "from timing.json, else the number of CPUs)")
    ap.add_argument("--negmas-rotate", choices=["auto", "on", "off"], default="auto",
                    help="rotate_ufuns for NegMAS; auto picks the setting whose session count "
                         "matches parley's (off when parley did not run) (default %(default)s)")
    ap.add_argument("--negmas-scenarios", metavar="LIST",
                    help="run NegMAS on this comma-separated subset of the scenarios only "
                         "(rates are still comparable; the table says what each side ran)")
    ap.add_argument("--max-negmas-seconds", type=float, default=600.0,
                    help="kill a NegMAS run after this many seconds and report the rate of "
                         "the sessions it had finished (default %(default)s)")
    ap.add_argument("--keep-discounting", action="store_true",
                    help="give NegMAS the discounted ufuns as loaded (very slow; see "
                         "bench/README.md)")
    ap.add_argument("--negmas-stats", action="store_true",
                    help="let NegMAS compute each scenario's Pareto frontier and bargaining "
                         "solutions and every session's distances to them (save_stats=True), "
                         "as parley does for its results; off by default (slow, see README)")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--negmas-only", action="store_true", help="skip parley")
    only.add_argument("--parley-only", action="store_true", help="skip NegMAS")
    ap.add_argument("--json-out", metavar="FILE", help="also write all raw results as JSON")
    ap.add_argument("--negmas-worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.negmas_worker:
        return negmas_worker(json.loads(args.negmas_worker))

    try:
        rounds = [int(r) for r in args.rounds.split(",")]
    except ValueError:
        ap.error(f"--rounds {args.rounds!r}: expected whole numbers separated by commas")
    if any(r < 1 for r in rounds) or args.parley_repeat < 1:
        ap.error("--rounds and --parley-repeat must be at least 1")
    negotiators = [n.strip() for n in args.negotiators.split(",") if n.strip()]
    if len(negotiators) < 2 or len(set(negotiators)) != len(negotiators):
        ap.error("--negotiators needs at least two distinct names")
    if not args.parley_only:
        missing = [n for n in negotiators if n not in NEGMAS_EQUIVALENT]
        if missing:
            ap.error(f"no NegMAS equivalent for {', '.join(missing)} (known: "
                     f"{', '.join(NEGMAS_EQUIVALENT)}); use --parley-only")
        if sys.version_info < (3, 12):
            log(f"warning: NegMAS runs on Python {platform.python_version()}; "
                "use 3.12+ (see bench/README.md)")

    scen_root = resolve_dir(args.scenarios)
    genius = os.path.join(scen_root, "genius")
    scenarios = [resolve_scenario(s, genius) for s in (args.scenario or DEFAULT_SCENARIOS)]
    outcomes = {}
    for folder, name in scenarios:
        count, parties = describe_scenario(folder)
        if parties != 2:
            raise SystemExit(f"{name}: {parties} profiles; the benchmark needs bilateral scenarios")
        outcomes[name] = count
    folders = [f for f, _ in scenarios]
    nm_scenarios = scenarios
    if args.negmas_scenarios:
        wanted = [resolve_scenario(s.strip(), genius) for s in args.negmas_scenarios.split(",")]
        unknown = [n for f, n in wanted if f not in folders]
        if unknown:
            ap.error(f"--negmas-scenarios: {', '.join(unknown)} not among the scenarios")
        nm_scenarios = [s for s in scenarios if s[0] in {f for f, _ in wanted}]
    nm_folders = [f for f, _ in nm_scenarios]
    pairs = len(negotiators) * (len(negotiators) - 1)

    parley = None
    if not args.negmas_only:
        parley = find_parley(args)

    rows = []
    for r in rounds:
        row = {"rounds": r, "parley": None, "negmas": []}
        rows.append(row)
        if parley:
            log(f"parley, {len(folders)} scenarios, {r} rounds, {args.parley_repeat} runs ...")
            pa = row["parley"] = run_parley(parley, folders, r, negotiators, args)
            log(f"  {pa['sessions']} sessions, median wall {pa['wall_seconds']:.3f} s "
                f"({', '.join(f'{w:.3f}' for w in pa['walls'])}); internal "
                f"{pa['timing'].get('elapsed_seconds', float('nan')):.3f} s, "
                f"{pa['timing'].get('threads')} threads")
        if args.parley_only:
            continue
        if args.negmas_rotate == "auto":
            rotate = False
            pa = row["parley"]
            if pa and pa["sessions"] == 2 * pairs * len(folders):
                rotate = True
        else:
            rotate = args.negmas_rotate == "on"
        threads = (row["parley"] or {}).get("timing", {}).get("threads")
        njobs = args.negmas_njobs or threads or os.cpu_count() or 1
        modes = ["serial", "parallel"] if args.negmas_mode == "both" else [args.negmas_mode]
        for mode in modes:
            jobs = -1 if mode == "serial" else njobs
            log(f"NegMAS {mode} (njobs={jobs}, rotate_ufuns={rotate}), "
                f"{len(nm_folders)} scenarios, {r} rounds ...")
            started = time.perf_counter()
            res = run_negmas(nm_folders, r, negotiators, mode, jobs, rotate, args)
            row["negmas"].append(res)
            if "error" in res:
                extra = ""
                if res.get("partial_rate"):
                    extra = (f"; {res['partial_sessions']} sessions finished in "
                             f"{res['partial_seconds']:.1f} s")
                log(f"  failed: {res['error']}{extra}")
            else:
                if res["callback_sessions"] != res["sessions"]:
                    log(f"  warning: {res['callback_sessions']} sessions reported finishing, "
                        f"{res['sessions']} rows in results.details")
                log(f"  {res['sessions']} sessions in {res['seconds']:.2f} s = "
                    f"{res['sessions_per_second']:.1f} sessions/s "
                    f"({time.perf_counter() - started:.1f} s with start-up and loading)")

    # ---------------------------------------------------------------- report
    def set_label(names: list[str]) -> str:
        if [n for _, n in scenarios] == DEFAULT_SCENARIOS and names == DEFAULT_SCENARIOS:
            return f"default {len(names)}"
        return ", ".join(names) if len(names) <= 3 else f"{len(names)} scenarios"

    pa_label = set_label([n for _, n in scenarios])
    nm_label = set_label([n for _, n in nm_scenarios])
    label = pa_label if nm_scenarios == scenarios else f"parley: {pa_label}; NegMAS: {nm_label}"
    out = [
        "| scenario set | rounds | negotiators | sessions (parley / NegMAS) "
        "| wall s (parley / NegMAS) | sessions/s (parley / NegMAS) | ratio (parley/NegMAS) "
        "| agreement rate (parley / NegMAS) |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        pa, nm = row["parley"], best_negmas(row["negmas"])
        row["negmas_best"] = nm
        killed = next((x for x in row["negmas"] if x.get("partial_rate")), None)
        nm_rate = nm["sessions_per_second"] if nm else None
        nm_rate_s, nm_sessions, nm_wall = fmt_rate(nm_rate), "–", "–"
        if nm:
            nm_sessions, nm_wall = f"{nm['sessions']:,}", fmt_s(nm["seconds"])
            nm_rate_s += f" ({nm['mode']})"
        elif killed:
            # Only a partial run: report what it finished.
            nm_rate = killed["partial_rate"]
            nm_rate_s = f"~{fmt_rate(nm_rate)} (partial, {killed['mode']})"
            nm_sessions = f"{killed['partial_sessions']:,} (of a killed run)"
            nm_wall = f">{args.max_negmas_seconds:g} (killed)"
        elif row["negmas"]:
            nm_rate_s = row["negmas"][0].get("error", "failed")
        pa_rate = pa["sessions_per_second"] if pa else None
        ratio = pa_rate / nm_rate if pa_rate and nm_rate else None
        row["ratio"] = ratio
        pa_cells = (f"{pa['sessions']:,}", fmt_s(pa["wall_seconds"]),
                    fmt_pct(pa["agreements"], pa["sessions"])) if pa else ("–", "–", "–")
        nm_agree = fmt_pct(nm["agreements"], nm["sessions"]) if nm else "–"
        out.append(
            f"| {label} | {row['rounds']:,} | {','.join(negotiators)} "
            f"| {pa_cells[0]} / {nm_sessions} | {pa_cells[1]} / {nm_wall} "
            f"| {fmt_rate(pa_rate)} / {nm_rate_s} | {fmt_ratio(ratio)} "
            f"| {pa_cells[2]} / {nm_agree} |")
    out.append("")
    out.append("Every run:")
    out.append("")
    out.append("| rounds | tool | mode | sessions | timed s | sessions/s | agreements "
               "| mean rounds | not timed |")
    out.append("|---:|---|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        pa = row["parley"]
        if pa:
            t = pa["timing"]
            rounds_s = f"{pa['mean_rounds']:.1f}" if pa["mean_rounds"] is not None else "–"
            walls = ", ".join(fmt_s(w) for w in pa["walls"])
            out.append(
                f"| {row['rounds']:,} | parley | {t.get('threads', '?')} threads; wall time "
                f"outside, median of {walls} | {pa['sessions']:,} "
                f"| {fmt_s(pa['wall_seconds'])} | {fmt_rate(pa['sessions_per_second'])} "
                f"| {fmt_pct(pa['agreements'], pa['sessions'])} | {rounds_s} | nothing |")
            out.append(
                f"| {row['rounds']:,} | parley | same run, its own timing.json "
                f"| {t.get('sessions_run', 0):,} | {fmt_s(t.get('elapsed_seconds'))} "
                f"| {fmt_rate(t.get('sessions_per_second'))} | | | what parley's own clock "
                "leaves out (at least process start) |")
        for nm in row["negmas"]:
            mode = f"{nm['mode']}, njobs={nm['njobs']}, rotate_ufuns={nm['rotate']}"
            if "error" in nm:
                part = ""
                if nm.get("partial_rate"):
                    part = (f"{nm['partial_sessions']:,} finished in "
                            f"{fmt_s(nm['partial_seconds'])} s ≈ {fmt_rate(nm['partial_rate'])}/s")
                out.append(f"| {row['rounds']:,} | NegMAS | {mode} | {part or '–'} "
                           f"| {nm['error']} | – | – | – | |")
                continue
            # (NegMAS's `timedout` is a session that reached the deadline, not a fault.)
            bad = f" ({nm['errors']} failed)" if nm["errors"] else ""
            out.append(
                f"| {row['rounds']:,} | NegMAS | {mode} | {nm['sessions']:,}{bad} "
                f"| {fmt_s(nm['seconds'])} | {fmt_rate(nm['sessions_per_second'])} "
                f"| {fmt_pct(nm['agreements'], nm['sessions'])} "
                f"| {nm['mean_rounds']:.1f} | import {fmt_s(nm['import_seconds'])} s, "
                f"loading {fmt_s(nm['load_seconds'])} s |")
    out.append("")
    sizes = ", ".join(f"{n} ({outcomes[n]:,})" if outcomes[n] else n for _, n in scenarios)
    out.append(f"- scenarios (outcomes): {sizes}")
    if nm_scenarios != scenarios:
        out.append(f"- NegMAS ran only: {', '.join(n for _, n in nm_scenarios)} "
                   "(--negmas-scenarios); compare the rates, not the totals")
    out.append(
        f"- grid: {len(negotiators)} negotiators → {pairs} ordered pairs (no self-play) per "
        "scenario, 1 repetition; NegMAS "
        + ", ".join(f"{k}→{v[0]}{v[1] or ''}" for k, v in NEGMAS_EQUIVALENT.items()
                    if k in negotiators))
    out.append(
        "- parley: wall time of the whole process, measured outside (start-up, loading, "
        "writing results.csv included), median of the runs; NegMAS: the "
        "`cartesian_tournament` call only, in the faster of its modes (import and loading "
        "excluded), one run per mode")
    out.append(
        "- NegMAS: "
        + ("discounted ufuns as loaded" if args.keep_discounting else
           "ufuns with discounting removed (`remove_discounting()`, `ignore_discount=True`)")
        + (", `save_stats=True` (Pareto frontier, Nash etc. per scenario, distances per "
           "session, as parley's results have)" if args.negmas_stats else
           ", `save_stats=False`: no Pareto frontier or Nash point per scenario, although "
           "parley's results.csv has each session's distances to them")
        + ", `path=None` (nothing written), `verbosity=0`")
    out.append(f"- NegMAS {negmas_version()} on Python {platform.python_version()}; "
               f"{command_output(['rustc', '-V'])}; parley {parley_revision()}")
    out.append(f"- machine: {machine_info()}; load average before/after: "
               f"{LOAD_BEFORE} / {load_average()}")
    if rows and rows[0]["parley"]:
        out.append("- parley command: `" + shlex.join(rows[0]["parley"]["command"]) + "`")
    out.append("- command: `" + shlex.join(
        ["bench/.venv/bin/python", "bench/tournament_vs_negmas.py", *(argv or sys.argv[1:])]) + "`")
    print("\n".join(out))

    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump({"rows": rows, "scenarios": [n for _, n in scenarios],
                       "negmas_scenarios": [n for _, n in nm_scenarios],
                       "negotiators": negotiators, "negmas_version": negmas_version(),
                       "python": platform.python_version(), "machine": machine_info()},
                      f, indent=2)
    failed = [row for row in rows if not args.parley_only and not row.get("negmas_best")]
    return 1 if failed else 0


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


LOAD_BEFORE = load_average()

if __name__ == "__main__":
    sys.exit(main())
