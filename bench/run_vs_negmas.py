#!/usr/bin/env python3
"""Negotiation speed: SAOP boulware vs conceder, parley vs NegMAS.

For every scenario (Genius-XML folders under <scenarios>/genius/) and every
deadline in ``--rounds`` it measures negotiation *steps per second*:

* NegMAS: in a fresh subprocess (this script in ``--negmas-worker`` mode) it
  loads ``Scenario.from_genius_folder(path)``, removes discounting (unless
  ``--keep-discounting``), and for each repetition builds
  ``SAOMechanism(outcome_space=..., n_steps=rounds)`` with
  ``BoulwareTBNegotiator`` (first, with the first profile) and
  ``ConcederTBNegotiator`` (second profile), added with
  ``mechanism.add(negotiator, ufun=...)``.  Only running the mechanism is timed
  (``mechanism.step()`` for the first round, then ``mechanism.run()``).
* parley: ``cargo bench -p parley-engine --bench saop_steps -- --rounds R
  --reps N <folders>`` (crates/parley-engine/benches/saop_steps.rs), which
  times ``run_session`` only, with ``boulware`` and ``conceder`` in the same
  party order.

A *step* is one negotiator action, the same unit on both sides:

* parley: one ``Offer``, ``Accept`` or ``WalkAway`` event of the trace;
* NegMAS: one offer recorded in the mechanism's history (the sum of
  ``len(state.new_offers)`` over ``mechanism.history``) plus one for the
  accepting action when the session ends in agreement.  NegMAS's own "step"
  (``n_steps``, ``state.step``) is a full round in which every negotiator acts
  once (``one_offer_per_step=False``, the default), so it is *not* the unit
  used here; ``n_steps=R`` is the same deadline as parley's ``R`` rounds.  In
  the untimed warm-up session the worker also counts every response the
  negotiators return (by wrapping their ``__call__``) and fails if the two
  counts differ.

Both sides time setup inside the session: parley's negotiators sort their
bids in ``init`` (called by ``run_session``) and NegMAS's build their inverse
utility on the first call (inside ``run()``).  Neither side's loading is
timed.

It prints a Markdown table (scenario | outcomes | rounds | steps per session
on each side | NegMAS steps/s | parley steps/s | ratio), then a second table
that splits setup from acting, since the two sides' sessions differ in length
and setup is a fixed cost per session: NegMAS's first round is timed on its own
(``mechanism.step()``, then ``mechanism.run()``), and the bench reports
parley's ``init`` time, measured on an identical pair of negotiators.  From
these it gives the ratio of the steps/s after setup, and an estimate of the
ratio if NegMAS's sessions were as long as parley's (its first-round time plus
the remaining steps at its rate after the first round).  Then the versions and
the machine.  Run it with the venv Python that has negmas:

    bench/.venv/bin/python bench/run_vs_negmas.py

Only the standard library is used outside the NegMAS worker.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)

DEFAULT_SCENARIOS = [
    "y2012/EnergySmallA",
    "y2011/Grocery",
    "y2012/CameraB",
    "y2010/ItexvsCypress",
    "y2011/Car",
    "y2012/TravelA",
]

RESULT_MARK = "NEGMAS_SAOP_RESULT "
FLOOR = 100.0


# --------------------------------------------------------------------------
# NegMAS worker (runs in a fresh subprocess; the only place negmas is used)
# --------------------------------------------------------------------------

def negmas_worker(path: str, rounds: int, reps: int, keep_discounting: bool,
                  max_seconds: float) -> int:
    import collections
    import copy
    import random
    import warnings

    warnings.filterwarnings("ignore")
    import numpy
    from negmas import ResponseType, Scenario
    from negmas.sao import BoulwareTBNegotiator, ConcederTBNegotiator, SAOMechanism

    loaded = Scenario.from_genius_folder(path)
    if loaded is None:
        raise SystemExit(f"negmas could not load {path}")
    if len(loaded.ufuns) != 2:
        raise SystemExit(f"{path}: boulware vs conceder needs 2 parties, not {len(loaded.ufuns)}")
    discounted = ["Discount" in type(u).__name__ for u in loaded.ufuns]
    scenario = loaded if keep_discounting else loaded.remove_discounting()

    counts: collections.Counter = collections.Counter()

    def counting(cls):
        class Counting(cls):
            def __call__(self, state, dest=None):
                response = super().__call__(state, dest=dest)
                counts[ResponseType(response.response).name] += 1
                return response

        Counting.__name__ = cls.__name__
        return Counting

    def session(rep: int, count_calls: bool):
        random.seed(rep)
        numpy.random.seed(rep)
        # A fresh copy each time, so nothing cached on a ufun carries over.
        s = copy.deepcopy(scenario)
        mechanism = SAOMechanism(outcome_space=s.outcome_space, n_steps=rounds)
        boulware, conceder = BoulwareTBNegotiator, ConcederTBNegotiator
        if count_calls:
            boulware, conceder = counting(boulware), counting(conceder)
        mechanism.add(boulware(name="boulware"), ufun=s.ufuns[0])
        mechanism.add(conceder(name="conceder"), ufun=s.ufuns[1])
        # Bilateral SAOP with offering_is_accepting (the default): a deal is one
        # offer plus exactly one accepting action by the other party.
        def steps_so_far() -> int:
            offers = sum(len(h.new_offers) for h in mechanism.history)
            return offers + (1 if mechanism.state.agreement is not None else 0)

        # The first round is timed on its own (the negotiators build their inverse
        # utilities in it); run() then goes on from the second round.
        started = time.perf_counter()
        mechanism.step()
        first = time.perf_counter() - started
        first_steps = steps_so_far()
        started = time.perf_counter()
        state = mechanism.run()
        seconds = first + time.perf_counter() - started
        offers = sum(len(h.new_offers) for h in mechanism.history)
        accepts = 1 if state.agreement is not None else 0
        return {
            "seconds": seconds,
            "first_round_seconds": first,
            "first_round_steps": first_steps,
            "steps": offers + accepts,
            "offers": offers,
            "accepts": accepts,
            "rounds": state.step,
            "agreement": state.agreement is not None,
            "timedout": bool(state.timedout),
            "broken": bool(state.broken),
        }

    counts.clear()
    warm = session(reps, count_calls=True)
    called = sum(counts.values())
    if called != warm["steps"]:
        raise SystemExit(
            f"{path}: step count from history ({warm['steps']}) differs from the "
            f"negotiators' responses ({dict(counts)})")
    runs = []
    total = 0.0
    for rep in range(reps):
        run = session(rep, count_calls=False)
        runs.append(run)
        total += run["seconds"]
        if total > max_seconds:
            break
    result = {
        "path": path,
        "rounds": rounds,
        "outcomes": int(scenario.outcome_space.cardinality),
        "discounted": discounted,
        "kept_discounting": keep_discounting,
        "reserved": [float(u.reserved_value) for u in scenario.ufuns],
        "warmup_responses": dict(counts),
        "sessions": len(runs),
        "steps": sum(r["steps"] for r in runs),
        "seconds": sum(r["seconds"] for r in runs),
        "agreements": sum(r["agreement"] for r in runs),
        "first_round_seconds": sum(r["first_round_seconds"] for r in runs),
        "first_round_steps": sum(r["first_round_steps"] for r in runs),
        "runs": runs,
    }
    result["steps_per_second"] = result["steps"] / max(result["seconds"], 1e-12)
    result["mean_steps"] = result["steps"] / max(result["sessions"], 1)
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def machine_info() -> str:
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count()
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                    break
    except OSError:
        pass
    return f"nproc={nproc}, CPU: {model}{mem}, {platform.system()} {platform.release()}"


def negmas_version() -> str:
    try:
        from importlib.metadata import version
        return version("negmas")
    except Exception:
        return "not installed"


def command_output(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def parley_revision() -> str:
    rev = command_output(["git", "rev-parse", "--short", "HEAD"]) or "?"
    dirty = command_output(["git", "status", "--porcelain", "--untracked-files=no"])
    return rev + (" + uncommitted changes" if dirty and dirty != "?" else "")


def resolve_dir(path: str) -> str:
    """A folder given relative to the cwd, else to the repository root."""
    candidates = [path] if os.path.isabs(path) else [path, os.path.join(REPO_ROOT, path)]
    for c in candidates:
        if os.path.isdir(c):
            return os.path.abspath(c)
    return os.path.abspath(path)


def resolve_scenario(arg: str, genius: str) -> tuple[str, str]:
    """(absolute folder, name to report) of a scenario argument."""
    candidates = [arg] if os.path.isabs(arg) else [os.path.join(genius, arg), arg,
                                                   os.path.join(REPO_ROOT, arg)]
    for c in candidates:
        if os.path.isdir(c):
            full = os.path.abspath(c)
            rel = os.path.relpath(full, genius)
            return full, (arg if rel.startswith("..") else rel)
    raise SystemExit(f"scenario {arg!r} not found (looked in {genius})")


def run_negmas(folder: str, rounds: int, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--negmas-worker", folder,
           "--rounds", str(rounds), "--reps", str(args.reps),
           "--max-seconds", str(args.max_seconds)]
    if args.keep_discounting:
        cmd.append("--keep-discounting")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f">{args.timeout:g} s (killed)", "timeout": True}
    for line in out.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    tail = (err.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {proc.returncode}: {tail}"}


def run_parley(folders: list[str], rounds: list[int], args, scen_root: str) -> list[dict]:
    cmd = [args.cargo, "bench", "-p", "parley-engine", "--bench", "saop_steps", "--",
           "--rounds", ",".join(map(str, rounds)), "--reps", str(args.parley_reps), *folders]
    log("$ " + shlex.join(cmd))
    env = dict(os.environ, PARLEY_SCENARIOS=scen_root)
    proc = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"cargo bench failed (exit {proc.returncode})")
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    if len(lines) != len(folders) * len(rounds):
        raise SystemExit(f"cargo bench printed {len(lines)} results, expected "
                         f"{len(folders) * len(rounds)}")
    for i, line in enumerate(lines):
        want = rounds[i % len(rounds)]
        if line.get("rounds") != want:
            raise SystemExit(f"cargo bench result {i} is for {line.get('rounds')} rounds, not {want}")
    return lines


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "–"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×"


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x * 1e3:,.0f}" if x >= 0.01 else f"{x * 1e3:.2f}"


def breakdown(row: dict) -> dict:
    """Setup vs acting, per session, from the raw totals of both sides."""
    nm, pa = row["negmas"], row["parley"]
    b = dict.fromkeys(["negmas_setup", "parley_setup", "negmas_after", "parley_after",
                       "ratio_after", "ratio_equal_length"])
    if nm.get("sessions"):
        n = nm["sessions"]
        b["negmas_setup"] = nm["first_round_seconds"] / n
        acting = nm["seconds"] - nm["first_round_seconds"]
        later = nm["steps"] - nm["first_round_steps"]
        if acting > 0 and later > 0:
            b["negmas_after"] = later / acting
    if pa.get("sessions"):
        b["parley_setup"] = pa["setup_seconds"] / pa["sessions"]
        acting = pa["seconds"] - pa["setup_seconds"]
        # The init time is measured on twins, so for sessions that are nearly all
        # setup the difference is noise; leave it out below 5% of the total.
        if acting > 0.05 * pa["seconds"]:
            b["parley_after"] = pa["steps"] / acting
    if b["negmas_after"] and b["parley_after"]:
        b["ratio_after"] = b["parley_after"] / b["negmas_after"]
    if b["negmas_after"] and b["negmas_setup"] is not None and pa.get("mean_steps"):
        # NegMAS's time for a session as long as parley's: its first round, then the
        # remaining steps at its measured rate after the first round.
        length = pa["mean_steps"]
        first_steps = nm["first_round_steps"] / nm["sessions"]
        nm_time = b["negmas_setup"] + max(length - first_steps, 0) / b["negmas_after"]
        b["ratio_equal_length"] = pa["steps_per_second"] / (length / nm_time)
    return b


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Negotiation steps per second, SAOP boulware vs conceder: parley vs "
                    "NegMAS (run with the venv python that has negmas).")
    ap.add_argument("scenario", nargs="*",
                    help="scenario folders relative to <scenarios>/genius/ (or paths); "
                         "default: " + ", ".join(DEFAULT_SCENARIOS))
    ap.add_argument("--scenarios", default=os.environ.get("PARLEY_SCENARIOS", "../shared/scenarios"),
                    help="folder that has genius/ inside (default $PARLEY_SCENARIOS or "
                         "../shared/scenarios, relative to the cwd or the repository root)")
    ap.add_argument("--rounds", default="1000,10000",
                    help="comma-separated deadlines in rounds (default %(default)s)")
    ap.add_argument("--reps", type=int, default=5,
                    help="timed NegMAS sessions per scenario and deadline (default %(default)s)")
    ap.add_argument("--parley-reps", type=int, default=20,
                    help="timed parley sessions per scenario and deadline (default %(default)s)")
    ap.add_argument("--max-seconds", type=float, default=120.0,
                    help="no more NegMAS repetitions once their total time passes this "
                         "(default %(default)s)")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds before a NegMAS worker is killed (default %(default)s)")
    ap.add_argument("--keep-discounting", action="store_true",
                    help="give NegMAS the discounted ufuns as loaded (see bench/README.md)")
    ap.add_argument("--cargo", default="cargo", help="cargo command (default %(default)s)")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--negmas-only", action="store_true", help="skip parley")
    only.add_argument("--parley-only", action="store_true", help="skip NegMAS")
    ap.add_argument("--json-out", metavar="FILE", help="also write all raw results as JSON")
    ap.add_argument("--negmas-worker", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    try:
        rounds = [int(r) for r in args.rounds.split(",")]
    except ValueError:
        ap.error(f"--rounds {args.rounds!r}: expected whole numbers separated by commas")
    if any(r < 1 for r in rounds) or args.reps < 1 or args.parley_reps < 1:
        ap.error("--rounds, --reps and --parley-reps must be at least 1")

    if args.negmas_worker:
        if len(rounds) != 1:
            ap.error("the worker takes one deadline")
        return negmas_worker(args.negmas_worker, rounds[0], args.reps,
                             args.keep_discounting, args.max_seconds)

    if sys.version_info < (3, 12) and not args.parley_only:
        log(f"warning: NegMAS runs on Python {platform.python_version()}; "
            "use 3.12+ (see bench/README.md)")

    scen_root = resolve_dir(args.scenarios)
    genius = os.path.join(scen_root, "genius")
    scenarios = [resolve_scenario(s, genius) for s in (args.scenario or DEFAULT_SCENARIOS)]
    folders = [f for f, _ in scenarios]

    parley: dict[tuple[int, int], dict] = {}
    if not args.negmas_only:
        for i, line in enumerate(run_parley(folders, rounds, args, scen_root)):
            parley[(i // len(rounds), rounds[i % len(rounds)])] = line

    negmas: dict[tuple[int, int], dict] = {}
    if not args.parley_only:
        for i, (folder, name) in enumerate(scenarios):
            for r in rounds:
                log(f"NegMAS {name}, {r} rounds ...")
                started = time.perf_counter()
                negmas[(i, r)] = res = run_negmas(folder, r, args)
                if "error" in res:
                    log(f"  failed: {res['error']}")
                else:
                    log(f"  {res['sessions']} sessions, {res['steps_per_second']:.0f} steps/s "
                        f"({time.perf_counter() - started:.1f} s with start-up)")

    rows = []
    for i, (folder, name) in enumerate(scenarios):
        for r in rounds:
            nm, pa = negmas.get((i, r), {}), parley.get((i, r), {})
            nm_rate = nm.get("steps_per_second")
            pa_rate = pa.get("steps_per_second")
            rows.append({
                "scenario": name, "path": folder, "rounds": r,
                "outcomes": pa.get("outcomes") or nm.get("outcomes"),
                "negmas": nm, "parley": pa,
                "ratio": pa_rate / nm_rate if nm_rate and pa_rate else None,
            })

    out = [
        "| scenario | outcomes | rounds | NegMAS steps/session | parley steps/session "
        "| NegMAS steps/s | parley steps/s | ratio (parley/NegMAS) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        nm, pa = row["negmas"], row["parley"]
        nm_rate = nm.get("error") or fmt_rate(nm.get("steps_per_second"))
        outcomes = f"{int(row['outcomes']):,}" if row["outcomes"] else "?"
        nm_steps = f"{nm['mean_steps']:,.0f}" if "mean_steps" in nm else "–"
        pa_steps = f"{pa['mean_steps']:,.0f}" if "mean_steps" in pa else "–"
        out.append(
            f"| {row['scenario']} | {outcomes} | {row['rounds']:,} | {nm_steps} | {pa_steps} "
            f"| {nm_rate} | {fmt_rate(pa.get('steps_per_second'))} | {fmt_ratio(row['ratio'])} |")
    out.append("")
    for r in rounds:
        ratios = [row["ratio"] for row in rows if row["rounds"] == r and row["ratio"]]
        if ratios:
            geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
            below = [row["scenario"] for row in rows
                     if row["rounds"] == r and row["ratio"] and row["ratio"] < FLOOR]
            out.append(f"- {r:,} rounds: ratio min {fmt_ratio(min(ratios))}, geometric mean "
                       f"{fmt_ratio(geo)}, max {fmt_ratio(max(ratios))}; "
                       + (f"all ≥ {FLOOR:.0f}×" if not below
                          else f"below {FLOOR:.0f}×: {', '.join(below)}"))
    out.append("")
    out.append("Setup and acting separately (both sides time setup inside the session; "
               "the two sides' sessions differ in length):")
    out.append("")
    out.append("| scenario | rounds | NegMAS 1st round ms | parley init ms | NegMAS steps/s "
               "after 1st round | parley steps/s after init | ratio after setup "
               "| ratio at parley's session length (est.) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        b = breakdown(row)
        row["breakdown"] = b
        out.append(
            f"| {row['scenario']} | {row['rounds']:,} | {fmt_ms(b['negmas_setup'])} "
            f"| {fmt_ms(b['parley_setup'])} | {fmt_rate(b['negmas_after'])} "
            f"| {fmt_rate(b['parley_after'])} | {fmt_ratio(b['ratio_after'])} "
            f"| {fmt_ratio(b['ratio_equal_length'])} |")
    out.append("")
    any_nm = next((row["negmas"] for row in rows if "sessions" in row["negmas"]), None)
    any_pa = next((row["parley"] for row in rows if "sessions" in row["parley"]), None)
    out.append(
        f"- sessions per scenario and deadline: NegMAS {any_nm['sessions'] if any_nm else '–'}"
        f" (deterministic negotiators, so identical sessions), parley "
        f"{any_pa['sessions'] if any_pa else '–'} (seeds 2r+1, 2r+2); one untimed warm-up "
        "session each")
    disc = [row["scenario"] for row in rows if row["negmas"].get("discounted") and
            any(row["negmas"]["discounted"]) and row["rounds"] == rounds[0]]
    if disc:
        out.append(
            f"- discounted profiles ({', '.join(disc)}): NegMAS got them "
            + ("as loaded (`ExpDiscountedUFun`)" if args.keep_discounting
               else "with discounting removed (`Scenario.remove_discounting()`)"))
    out.append(f"- NegMAS {negmas_version()} on Python {platform.python_version()}; "
               f"{command_output(['rustc', '-V'])}; parley {parley_revision()}")
    out.append(f"- machine: {machine_info()}")
    out.append("- command: `" + shlex.join(
        ["bench/.venv/bin/python", "bench/run_vs_negmas.py", *(argv or sys.argv[1:])]) + "`")
    print("\n".join(out))

    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump({"rows": rows, "negmas_version": negmas_version(),
                       "python": platform.python_version(), "machine": machine_info()},
                      f, indent=2)
    failed = [row["scenario"] for row in rows if "error" in row["negmas"]]
    return 1 if failed and not args.parley_only else 0


if __name__ == "__main__":
    sys.exit(main())
