#!/usr/bin/env python3
"""Side-by-side speed benchmark of scenario analysis: parley vs NegMAS.

For every scenario (Genius-XML folders under <scenarios>/genius/) it times

* NegMAS: ``Scenario.from_genius_folder(path)`` followed by ``.calc_stats()``,
  each run in a fresh subprocess (this same script, in ``--negmas-worker``
  mode).  Only loading + analysis is timed, inside the subprocess; the time to
  start Python and import negmas is measured separately and reported, but not
  counted.
* parley: ``PARLEY analyze <folder> --json [--parley-arg ...]``, timed as the
  wall time of the whole process (so process start-up and JSON printing count
  against parley).  The run must exit 0 and print a JSON object with keys
  ``outcome_count`` and ``pareto``.  Extra arguments (``--parley-arg``, e.g.
  ``--parley-arg=--method --parley-arg=enumerate``) are appended to the
  command.  The frontier method that ran is reported: it is the ``--method``
  given, else one untimed text-mode run is made to read the method that
  ``auto`` picked.

Each tool is run ``--repeat`` times per scenario and the best (smallest) time
is kept.  Peak RSS of each child process is taken from ``os.wait4``.  A NegMAS
run that exceeds ``--timeout`` seconds is killed and shown as ``>timeout``
with a lower-bound ratio.

It prints a Markdown table (scenario | outcomes | parties | NegMAS s | parley s
(method) | ratio | NegMAS peak MiB | parley peak MiB), a second table with the
Pareto frontier sizes of both tools side by side (informational: the two tools
read Genius files differently, see bench/README.md), plus the NegMAS version
and the machine, and exits non-zero if parley failed on any scenario.

Run it with the Python of the venv that has negmas installed:

    bench/.venv/bin/python bench/analyze_vs_negmas.py --large

Only the standard library is used outside of the NegMAS worker.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)

DEFAULT_SCENARIOS = [
    "y2012/EnergyA",
    "y2011/Energy",
    "y2012/TravelA",
    "y2012/SupermarketA",
    "other/AMPOvsCity",
    "y2015/group9-killer_robot",
    "y2015/group2-politics",
    "y2011/Car",
]

RESULT_MARK = "NEGMAS_BENCH_RESULT "


# --------------------------------------------------------------------------
# NegMAS worker (runs in a fresh subprocess; the only place negmas is used)
# --------------------------------------------------------------------------

def negmas_worker(path: str) -> int:
    t0 = time.perf_counter()
    import negmas  # noqa: F401  (import time is reported, not counted)
    from negmas.inout import Scenario

    t1 = time.perf_counter()
    safe_parsing = True
    try:
        scenario = Scenario.from_genius_folder(path)
    except Exception as e:  # e.g. Genius files whose issue indices do not start at 1
        print(f"from_genius_folder(safe_parsing=True) failed: {e!r}; "
              "retrying with safe_parsing=False", file=sys.stderr)
        safe_parsing = False
        t1 = time.perf_counter()  # time only the load that succeeds
        scenario = Scenario.from_genius_folder(path, safe_parsing=False)
    t2 = time.perf_counter()
    if scenario is None:
        print(f"NegMAS could not load {path}", file=sys.stderr)
        return 3
    stats = scenario.calc_stats()
    t3 = time.perf_counter()

    def n(x):
        return len(x) if x is not None else 0

    hwm_kib = read_vmhwm_kib("self")

    result = {
        "version": getattr(negmas, "__version__", "?"),
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "stats_s": t3 - t2,
        "total_s": t3 - t1,  # load + analysis: the number that is compared
        "safe_parsing": safe_parsing,
        "parties": len(scenario.ufuns),
        "outcomes": scenario.outcome_space.cardinality,
        "pareto_size": n(stats.pareto_utils),
        "nash_count": n(stats.nash_utils),
        "kalai_count": n(stats.kalai_utils),
        "max_welfare_count": n(stats.max_welfare_utils),
        # peak RSS of this process's own address space (not inherited from the parent)
        "vmhwm_mib": None if hwm_kib is None else hwm_kib / 1024.0,
    }
    outcomes = result["outcomes"]
    if isinstance(outcomes, float) and not math.isfinite(outcomes):
        result["outcomes"] = None
    else:
        result["outcomes"] = int(outcomes)
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def read_vmhwm_kib(pid) -> int | None:
    """VmHWM (peak RSS of the current address space, KiB) from /proc/<pid>/status."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _wait(proc: subprocess.Popen, timeout: float | None):
    """Block until proc ends (killing its process group after timeout seconds).

    Returns (status, rusage, timed_out, hwm_kib_at_kill).  Waiting is a blocking
    ``wait4`` so the measured wall time has no polling slack; a timer thread does
    the killing, after reading the child's VmHWM (its peak RSS so far).
    """
    fired = threading.Event()
    timer = None
    hwm_at_kill: list[int | None] = [None]
    if timeout is not None:
        def kill() -> None:
            hwm_at_kill[0] = read_vmhwm_kib(proc.pid)
            fired.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
    try:
        _, status, rusage = os.wait4(proc.pid, 0)
    finally:
        if timer is not None:
            timer.cancel()
    timed_out = fired.is_set() and os.WIFSIGNALED(status)
    return status, rusage, timed_out, hwm_at_kill[0]


def run_measured(cmd: list[str], timeout: float | None) -> dict:
    """Run cmd, return wall time, exit status, peak RSS (MiB) and output.

    Output goes to temporary files (no pipe dead-locks with large outputs).
    The child is started in its own process group so that a timeout (or an
    interrupt of this script) kills everything it started.

    Peak RSS caveat: on Linux a child's ``ru_maxrss`` is at least the parent's
    own peak RSS at the moment of the fork/vfork + exec (the kernel carries the
    old address space's high-water mark over ``execve``).  So ``peak_mib`` is
    only known to be the child's own peak when it exceeds this script's peak
    RSS (``peak_exact``); otherwise it is an upper bound.  For a timed-out
    child the VmHWM read just before the kill is used, which is exact.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        parent_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            status, rusage, timed_out, hwm_at_kill = _wait(proc, timeout)
        except BaseException:
            # interrupted (Ctrl-C / SIGTERM): do not leave the child running
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.wait4(proc.pid, 0)
            except ChildProcessError:
                pass
            proc.returncode = -signal.SIGKILL
            raise
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen quiet
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    ru_kib = rusage.ru_maxrss  # KiB on Linux
    if timed_out and hwm_at_kill:
        peak_kib, exact = hwm_at_kill, True
    else:
        peak_kib, exact = ru_kib, ru_kib > parent_kib
    return {
        "wall": wall,
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "peak_mib": peak_kib / 1024.0,
        "peak_exact": exact,
        "ru_maxrss_mib": ru_kib / 1024.0,
        "parent_maxrss_mib": parent_kib / 1024.0,
        "stdout": stdout,
        "stderr": stderr,
    }


_GNU_TIME: list = []


def gnu_time() -> str | None:
    """Path of GNU time (for ``-f %M -o FILE``), or None."""
    if not _GNU_TIME:
        found = None
        for cand in (shutil.which("time"), "/usr/bin/time"):
            if not cand or not os.access(cand, os.X_OK):
                continue
            try:
                v = subprocess.run([cand, "--version"], capture_output=True, text=True,
                                   timeout=10)
            except (OSError, subprocess.SubprocessError):
                continue
            if "GNU" in v.stdout + v.stderr:
                found = cand
                break
        _GNU_TIME.append(found)
    return _GNU_TIME[0]


def measure_peak_gnu_time(cmd: list[str], timeout: float) -> float | None:
    """Peak RSS (MiB) of cmd, run once under GNU ``time -f %M`` (untimed).

    GNU time is a small process that forks and execs cmd and reports the
    child's ``ru_maxrss``; its own address space is tiny, so unlike a child of
    this Python script the number is the child's own peak.
    """
    gt = gnu_time()
    if gt is None:
        return None
    fd, report = tempfile.mkstemp(prefix="parley-bench-time-")
    os.close(fd)
    try:
        r = run_measured([gt, "-f", "%M", "-o", report, *cmd], timeout)
        if r["returncode"] != 0 or r["timed_out"]:
            return None
        with open(report, encoding="utf-8") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
        return int(lines[-1]) / 1024.0 if lines and lines[-1].isdigit() else None
    except OSError:
        return None
    finally:
        try:
            os.unlink(report)
        except OSError:
            pass


def find_genius_files(folder: str) -> tuple[str | None, list[str]]:
    """Domain file (root <negotiation_template>) and profiles (root <utility_space>)."""
    domain, profiles = None, []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".xml") or name.endswith("pareto.xml"):
            continue
        full = os.path.join(folder, name)
        try:
            tag = ET.parse(full).getroot().tag
        except ET.ParseError:
            continue
        if tag == "negotiation_template":
            domain = full
        elif tag == "utility_space":
            profiles.append(full)
    return domain, profiles


def describe_scenario(folder: str) -> tuple[int | None, int]:
    """(number of outcomes or None if infinite/unknown, number of parties)."""
    domain, profiles = find_genius_files(folder)
    if domain is None:
        return None, len(profiles)
    count = 1
    for issue in ET.parse(domain).getroot().iter("issue"):
        kind = (issue.get("type") or issue.get("etype") or "discrete").lower()
        items = issue.findall("item")
        if items:
            count *= len(items)
        elif kind == "integer":
            lo, hi = int(issue.get("lowerbound")), int(issue.get("upperbound"))
            count *= max(0, hi - lo + 1)
        else:  # real / unknown: infinite
            return None, len(profiles)
    return count, len(profiles)


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


def resolve_existing(path: str, *, want_dir: bool) -> str:
    """Resolve a path given relative to the cwd, falling back to the repo root."""
    candidates = [path]
    if not os.path.isabs(path):
        candidates.append(os.path.join(REPO_ROOT, path))
    for c in candidates:
        if (os.path.isdir(c) if want_dir else os.path.isfile(c)):
            return os.path.abspath(c)
    return os.path.abspath(path)


def fmt_s(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def fmt_ratio(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}×"
    if x >= 10:
        return f"{x:.1f}×"
    return f"{x:.2f}×"


def fmt_mib(x: float, exact: bool = True) -> str:
    s = f"{x:.1f}" if x < 10 else f"{x:.0f}"
    return s if exact else "≤" + s


def fmt_count(n) -> str:
    return "∞" if n is None else f"{n:,}"


# --------------------------------------------------------------------------
# one scenario, each tool
# --------------------------------------------------------------------------

def bench_negmas(folder: str, repeat: int, timeout: float, max_repeat_s: float,
                 log) -> dict:
    best = None
    runs = []
    for i in range(repeat):
        r = run_measured([sys.executable, os.path.abspath(__file__),
                          "--negmas-worker", folder], timeout)
        if r["timed_out"]:
            log(f"    NegMAS run {i + 1}: >{timeout:g} s (killed), "
                f"peak {r['peak_mib']:.0f} MiB")
            return {"status": "timeout", "peak_mib": max([r["peak_mib"]] +
                    [x["peak_mib"] for x in runs]), "peak_exact": r["peak_exact"],
                    "runs": runs}
        res = None
        for line in r["stdout"].splitlines():
            if line.startswith(RESULT_MARK):
                res = json.loads(line[len(RESULT_MARK):])
        if r["returncode"] != 0 or res is None:
            tail = "\n".join(r["stderr"].strip().splitlines()[-5:])
            log(f"    NegMAS run {i + 1} failed (exit {r['returncode']}):\n{tail}")
            return {"status": "error", "error": tail, "peak_mib": r["peak_mib"], "runs": runs}
        if res.get("vmhwm_mib"):
            res["peak_mib"], res["peak_exact"] = res["vmhwm_mib"], True
        else:
            res["peak_mib"], res["peak_exact"] = r["peak_mib"], r["peak_exact"]
        res["ru_maxrss_mib"] = r["ru_maxrss_mib"]
        res["process_wall_s"] = r["wall"]
        runs.append(res)
        log(f"    NegMAS run {i + 1}: load {res['load_s']:.3f} s + calc_stats "
            f"{res['stats_s']:.3f} s = {res['total_s']:.3f} s "
            f"(import {res['import_s']:.2f} s not counted), peak {res['peak_mib']:.0f} MiB, "
            f"frontier {res['pareto_size']}")
        if best is None or res["total_s"] < best["total_s"]:
            best = res
        if res["total_s"] > max_repeat_s:
            break  # a long run: more repeats would only add noise-level gains
    out = dict(best)
    out["status"] = "ok"
    out["peak_mib"] = max(x["peak_mib"] for x in runs)
    out["peak_exact"] = all(x["peak_exact"] for x in runs)
    out["runs"] = runs
    return out


def explicit_method(extra_args: list[str]) -> str | None:
    """The value of the last ``--method`` in parley's extra arguments, if any."""
    method = None
    for i, a in enumerate(extra_args):
        if a == "--method" and i + 1 < len(extra_args):
            method = extra_args[i + 1]
        elif a.startswith("--method="):
            method = a.split("=", 1)[1]
    return method


METHOD_RE = re.compile(r"^frontier\s.*\bmethod\s+([A-Za-z_-]+)", re.MULTILINE)


def probe_parley_method(parley: str, folder: str, extra_args: list[str],
                        timeout: float) -> str | None:
    """Run parley once in text mode (untimed) and read the frontier method it used.

    The report's "frontier   N points (exact; method additive; ...)" line names
    the method that ``--method auto`` resolved to; the JSON output does not.
    """
    r = run_measured([parley, "analyze", folder, *extra_args], timeout)
    if r["returncode"] != 0:
        return None
    m = METHOD_RE.search(r["stdout"])
    return m.group(1) if m else None


def bench_parley(parley: str, folder: str, repeat: int, timeout: float,
                 max_repeat_s: float, log, extra_args: list[str] | None = None) -> dict:
    extra_args = list(extra_args or [])
    best = None
    peak = 0.0
    peak_exact = True
    info: dict = {}
    cmd = [parley, "analyze", folder, "--json", *extra_args]
    for i in range(repeat):
        r = run_measured(cmd, timeout)
        if r["peak_mib"] >= peak:
            peak, peak_exact = r["peak_mib"], r["peak_exact"]
        if r["timed_out"]:
            log(f"    parley run {i + 1}: >{timeout:g} s (killed)")
            return {"status": "timeout", "peak_mib": peak, "peak_exact": peak_exact}
        if r["returncode"] != 0:
            tail = "\n".join(r["stderr"].strip().splitlines()[-5:])
            log(f"    parley run {i + 1} failed (exit {r['returncode']}):\n{tail}")
            return {"status": "error", "error": f"exit {r['returncode']}: {last_line(tail)}",
                    "peak_mib": peak, "peak_exact": peak_exact}
        try:
            doc = json.loads(r["stdout"])
        except json.JSONDecodeError as e:
            log(f"    parley run {i + 1}: output is not JSON ({e})")
            return {"status": "error", "error": f"output is not JSON: {e}", "peak_mib": peak, "peak_exact": peak_exact}
        missing = [k for k in ("outcome_count", "pareto") if not isinstance(doc, dict) or k not in doc]
        if missing:
            log(f"    parley run {i + 1}: JSON lacks key(s) {missing}")
            return {"status": "error", "error": f"JSON lacks {missing}", "peak_mib": peak, "peak_exact": peak_exact}
        if not info:
            pareto = doc["pareto"]
            if isinstance(pareto, dict):
                for key in ("outcomes", "points", "utilities", "frontier"):
                    if isinstance(pareto.get(key), list):
                        pareto = pareto[key]
                        break
            info = {
                "outcome_count": doc["outcome_count"],
                "pareto_size": len(pareto) if isinstance(pareto, list) else None,
                "pareto_exact": doc.get("pareto_exact"),
            }
            if isinstance(doc.get("method"), str):  # in case a later parley reports it
                info["method"] = doc["method"]
        log(f"    parley run {i + 1}: {r['wall']:.3f} s, ru_maxrss {r['ru_maxrss_mib']:.0f} MiB"
            + ("" if r["peak_exact"] else " (includes this script's RSS)"))
        if best is None or r["wall"] < best:
            best = r["wall"]
        if r["wall"] > max_repeat_s:
            break
    if "method" not in info:
        info["method"] = explicit_method(extra_args)
    if info["method"] in (None, "auto"):
        probed = probe_parley_method(parley, folder, extra_args, timeout)
        info["method"] = f"auto→{probed}" if probed else "auto"
    log(f"    parley method: {info['method']}")
    # Peak RSS from one more, untimed run under GNU time (see measure_peak_gnu_time);
    # without GNU time, fall back to the timed runs' ru_maxrss (maybe an upper bound).
    peak_source = "ru_maxrss of the timed runs"
    gt_peak = measure_peak_gnu_time(cmd, timeout)
    if gt_peak is not None:
        peak, peak_exact, peak_source = gt_peak, True, "GNU time %M (separate untimed run)"
    log(f"    parley peak RSS: {'' if peak_exact else '<= '}{peak:.1f} MiB ({peak_source})")
    return {"status": "ok", "wall": best, "peak_mib": peak, "peak_exact": peak_exact,
            "peak_source": peak_source, "args": extra_args, **info}


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Benchmark scenario analysis: parley vs NegMAS "
                    "(run with the venv python that has negmas).")
    ap.add_argument("scenario", nargs="*",
                    help="scenario folders relative to <scenarios>/genius/ "
                         "(or absolute paths); default: " + ", ".join(DEFAULT_SCENARIOS))
    ap.add_argument("--parley", default="target/release/parley",
                    help="parley binary (default %(default)s, relative to the cwd "
                         "or the repository root)")
    ap.add_argument("--scenarios", default=os.environ.get("PARLEY_SCENARIOS", "../shared/scenarios"),
                    help="folder that has genius/ inside (default $PARLEY_SCENARIOS "
                         "or ../shared/scenarios)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and scenario; "
                    "the best wall time is kept (default %(default)s)")
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds before a NegMAS run is killed (default %(default)s)")
    ap.add_argument("--parley-arg", action="append", default=[], metavar="ARG",
                    help="extra argument appended to `parley analyze <folder> --json`; "
                         "repeatable, write it with '=' when ARG starts with '-', e.g. "
                         "--parley-arg=--method --parley-arg=enumerate")
    ap.add_argument("--parley-timeout", type=float, default=600.0,
                    help="seconds before a parley run is killed; counts as a failure "
                         "(default %(default)s)")
    ap.add_argument("--max-repeat-seconds", type=float, default=60.0,
                    help="stop repeating a tool on a scenario once one run took longer "
                         "than this (default %(default)s)")
    ap.add_argument("--also-enumerate", action="store_true",
                    help="in the same run, also time parley with --method enumerate (so both "
                         "ratios divide the same NegMAS times: NegMAS enumerates every outcome)")
    ap.add_argument("--large", action="store_true",
                    help="also generate the 3-party ~6M-outcome scenario "
                         "(make_large_scenario.py) into a temp folder and benchmark it")
    ap.add_argument("--large-only", action="store_true",
                    help="benchmark only the generated large scenario (implies --large)")
    ap.add_argument("--large-seed", type=int, default=42, help="seed for --large (default 42)")
    ap.add_argument("--large-sizes", default="10,10,10,10,10,10,6",
                    help="issue sizes for --large (default %(default)s)")
    ap.add_argument("--keep-large", action="store_true",
                    help="do not delete the generated large scenario (path is printed)")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--negmas-only", action="store_true", help="skip parley")
    only.add_argument("--parley-only", action="store_true", help="skip NegMAS")
    ap.add_argument("--json-out", metavar="FILE", help="also write all raw results as JSON")
    ap.add_argument("--negmas-worker", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.negmas_worker:
        return negmas_worker(args.negmas_worker)

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)

    if args.large_only:
        args.large = True
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    # ---- resolve inputs
    scen_root = resolve_existing(args.scenarios, want_dir=True)
    genius = os.path.join(scen_root, "genius")
    if not os.path.isdir(genius) and os.path.basename(scen_root.rstrip("/")) == "genius":
        genius = scen_root
    names = [] if args.large_only else (args.scenario or DEFAULT_SCENARIOS)
    scenarios: list[tuple[str, str]] = []
    for name in names:
        folder = name if os.path.isabs(name) else os.path.join(genius, name)
        if not os.path.isdir(folder):
            log(f"error: scenario folder not found: {folder}")
            return 2
        scenarios.append((name, folder))

    parley = None
    if not args.negmas_only:
        parley = resolve_existing(args.parley, want_dir=False)
        if not (os.path.isfile(parley) and os.access(parley, os.X_OK)):
            found = shutil.which(args.parley)
            if found:
                parley = found
            else:
                log(f"error: parley binary not found: {args.parley} "
                    "(build it with `cargo build --release -p parley-cli`, pass --parley, "
                    "or use --negmas-only)")
                return 2

    nm_version = "(skipped)" if args.parley_only else negmas_version()
    if not args.parley_only and nm_version == "not installed":
        log(f"error: negmas is not importable from {sys.executable}; run this script "
            "with bench/.venv/bin/python (or use --parley-only)")
        return 2

    if not args.parley_only and sys.version_info < (3, 12):
        log(f"warning: NegMAS runs on Python {platform.python_version()}; on Python < 3.12 "
            "its calc_stats is 2-3x slower (isinstance checks against runtime-checkable "
            "Protocols are slow there), which flatters parley. Prefer a venv made with "
            "python3.12 or newer.")

    large_dir = None
    if args.large:
        sys.dont_write_bytecode = True  # leave no __pycache__ in bench/
        sys.path.insert(0, HERE)
        import make_large_scenario  # noqa: E402

        large_dir = tempfile.mkdtemp(prefix="parley-large-")
        sizes = [int(s) for s in args.large_sizes.split(",") if s.strip()]
        info = make_large_scenario.generate(large_dir, seed=args.large_seed, sizes=sizes)
        log(f"generated large scenario in {large_dir}: {info['parties']} parties, "
            f"issues {info['sizes']}, {info['outcomes']:,} outcomes, seed {info['seed']}")
        scenarios.append((f"large (generated, seed {args.large_seed})", large_dir))

    # ---- run
    rows = []
    parley_failed = []
    try:
        for name, folder in scenarios:
            outcomes, parties = describe_scenario(folder)
            log(f"== {name}: {fmt_count(outcomes)} outcomes, {parties} parties")
            row = {"scenario": name, "folder": folder, "outcomes": outcomes, "parties": parties}
            if not args.parley_only:
                row["negmas"] = bench_negmas(folder, args.repeat, args.timeout,
                                             args.max_repeat_seconds, log)
            if parley is not None:
                row["parley"] = bench_parley(parley, folder, args.repeat, args.parley_timeout,
                                             args.max_repeat_seconds, log, args.parley_arg)
                if row["parley"]["status"] != "ok":
                    parley_failed.append(name)
                if args.also_enumerate:
                    row["parley_enumerate"] = bench_parley(
                        parley, folder, args.repeat, args.parley_timeout, args.max_repeat_seconds,
                        log, [*args.parley_arg, "--method", "enumerate"])
                    if row["parley_enumerate"]["status"] != "ok":
                        parley_failed.append(f"{name} (enumerate)")
            rows.append(row)
    finally:
        if large_dir and not args.keep_large:
            shutil.rmtree(large_dir, ignore_errors=True)
        elif large_dir:
            log(f"kept the large scenario in {large_dir}")

    # ---- report
    print(render_report(rows, args, nm_version, parley))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump({"negmas_version": nm_version, "machine": machine_info(),
                       "python": platform.python_version(), "parley": parley,
                       "parley_args": args.parley_arg, "repeat": args.repeat,
                       "timeout": args.timeout, "rows": rows},
                      f, indent=2, default=str)
    if parley_failed:
        log(f"parley failed on: {', '.join(parley_failed)}")
        return 1
    return 0


def render_frontier_sizes(rows) -> list[str]:
    """Pareto frontier sizes of both tools side by side (informational only).

    They can legitimately differ: NegMAS 0.16 reads Genius evaluations raw (no
    per-issue normalisation), drops outcomes below any reserved value and merges
    equal utility vectors; see bench/README.md.  A difference is never a failure.
    """
    out = ["| scenario | NegMAS frontier | parley frontier | same size |",
           "|---|---:|---:|:---:|"]
    any_row = False
    for row in rows:
        nm, pl = row.get("negmas") or {}, row.get("parley") or {}
        nm_n = nm.get("pareto_size") if nm.get("status") == "ok" else None
        pl_n = pl.get("pareto_size") if pl.get("status") == "ok" else None
        if nm_n is None and pl_n is None:
            continue
        any_row = True
        if nm_n is not None and pl_n is not None:
            same = "yes" if nm_n == pl_n else "no"
        else:
            same = "–"
        pl_txt = "–" if pl_n is None else f"{pl_n:,}"
        if pl_n is not None and pl.get("pareto_exact") is False:
            pl_txt += " (not exact)"
        out.append(f"| {row['scenario']} | {'–' if nm_n is None else f'{nm_n:,}'} "
                   f"| {pl_txt} | {same} |")
    if not any_row:
        return []
    out.append("")
    out.append("Frontier sizes are informational: NegMAS 0.16 does not normalise Genius "
               "evaluations per issue, drops outcomes below any reserved value and merges "
               "outcomes with equal utilities, so its frontier can differ from parley's "
               "(see bench/README.md).")
    return out


def last_line(text: str) -> str:
    """The last non-empty line of an error text (keeps Markdown bullets on one line)."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def short_method(method: str | None) -> str:
    """"auto→additive" -> "additive" (for labels); None -> "?"."""
    if not method:
        return "?"
    return method.split("→", 1)[-1]


def render_report(rows, args, nm_version, parley) -> str:
    out = []
    methods = sorted({(row.get("parley") or {}).get("method") or "?" for row in rows
                      if (row.get("parley") or {}).get("status") == "ok"})
    per_row_method = len(methods) > 1
    if not methods:
        pl_label = "parley s"
    elif per_row_method:
        pl_label = "parley s (method per row)"
    else:
        pl_label = f"parley s ({methods[0]})"
    enum = any("parley_enumerate" in row for row in rows)
    extra_head = " parley s (enumerate) | ratio, enumeration vs enumeration |" if enum else ""
    extra_rule = "---:|---:|" if enum else ""
    out.append(f"| scenario | outcomes | parties | NegMAS s | {pl_label} | ratio (NegMAS/parley) |"
               f"{extra_head} NegMAS peak MiB | parley peak MiB |")
    out.append(f"|---|---:|---:|---:|---:|---:|{extra_rule}---:|---:|")
    notes = []
    for row in rows:
        nm, pl = row.get("negmas"), row.get("parley")
        nm_s = pl_s = ratio = nm_mem = pl_mem = "–"
        nm_time = None
        nm_lower = False
        if nm is not None:
            nm_mem = fmt_mib(nm["peak_mib"], nm.get("peak_exact", True))
            if nm["status"] == "ok":
                nm_time = nm["total_s"]
                nm_s = fmt_s(nm_time)
            elif nm["status"] == "timeout":
                nm_time = args.timeout
                nm_lower = True
                nm_s = f">{args.timeout:g}"
                nm_mem = f"≥{fmt_mib(nm['peak_mib'])}"
            else:
                nm_s = "error"
                notes.append(f"NegMAS failed on {row['scenario']}: {last_line(nm.get('error', ''))}")
        if pl is not None:
            pl_mem = fmt_mib(pl["peak_mib"], pl.get("peak_exact", True))
            if pl["status"] == "ok":
                pl_s = fmt_s(pl["wall"])
                if per_row_method:
                    pl_s += f" ({short_method(pl.get('method'))})"
                if nm_time is not None and pl["wall"] > 0:
                    ratio = ("≥" if nm_lower else "") + fmt_ratio(nm_time / pl["wall"])
            elif pl["status"] == "timeout":
                pl_s = f">{args.parley_timeout:g} (FAILED)"
            else:
                pl_s = "FAILED"
                notes.append(f"parley failed on {row['scenario']}: {last_line(pl.get('error', ''))}")
        extra = ""
        if enum:
            pe = row.get("parley_enumerate") or {}
            pe_s = pe_ratio = "–"
            if pe.get("status") == "ok":
                pe_s = fmt_s(pe["wall"])
                if nm_time is not None and pe["wall"] > 0:
                    pe_ratio = ("≥" if nm_lower else "") + fmt_ratio(nm_time / pe["wall"])
                pl_mem += f" / {fmt_mib(pe['peak_mib'], pe.get('peak_exact', True))}"
            extra = f" {pe_s} | {pe_ratio} |"
        out.append(f"| {row['scenario']} | {fmt_count(row['outcomes'])} | {row['parties']} "
                   f"| {nm_s} | {pl_s} | {ratio} |{extra} {nm_mem} | {pl_mem} |")

    out.append("")
    out.extend(render_frontier_sizes(rows))
    out.append("")
    out.append(f"- NegMAS version: {nm_version}; Python {platform.python_version()}")
    out.append(f"- machine: {machine_info()}")
    out.append(f"- best of {args.repeat} run(s) per tool (fewer when one run took over "
               f"{args.max_repeat_seconds:g} s); NegMAS timeout {args.timeout:g} s")
    out.append("- NegMAS s = `Scenario.from_genius_folder()` + `.calc_stats()` timed inside a "
               "fresh Python process (interpreter start and `import negmas` not counted); "
               "parley s = wall time of the whole parley process (command below)")
    imports = [r["import_s"] for row in rows for r in (row.get("negmas") or {}).get("runs", [])]
    if imports:
        out.append(f"- `import negmas` took {min(imports):.2f}–{max(imports):.2f} s per process "
                   "(excluded above)")
    out.append("- peak MiB = peak resident set size. NegMAS: the worker's own `VmHWM` "
               "(/proc/self/status) after `calc_stats` (for a timeout, read just before the "
               "kill, so a lower bound). parley: one extra, untimed run under GNU "
               "`time -f %M`. (A direct child's `ru_maxrss` would include this script's own "
               "RSS, which Linux carries over vfork+exec; `≤` marks such upper bounds.)")
    if parley:
        out.append(f"- parley binary: {parley}")
        cmd = " ".join(["parley", "analyze", "<folder>", "--json", *args.parley_arg])
        out.append(f"- parley command: `{cmd}`; frontier method per scenario: "
                   + ", ".join(f"{row['scenario']} {row['parley'].get('method')}"
                               for row in rows
                               if (row.get("parley") or {}).get("status") == "ok"))
    unsafe = [row["scenario"] for row in rows
              if row.get("negmas", {}).get("status") == "ok"
              and row["negmas"].get("safe_parsing") is False]
    if unsafe:
        out.append("- NegMAS loaded " + ", ".join(unsafe) + " only with "
                   "`from_genius_folder(path, safe_parsing=False)` (the default strict "
                   "parser rejects it)")
    for n in notes:
        out.append(f"- note: {n}")
    return "\n".join(out)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:
        print(f"interrupted ({e or 'Ctrl-C'})", file=sys.stderr)
        sys.exit(130)
