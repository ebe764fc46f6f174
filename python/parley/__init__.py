"""parley for Python: multi-issue negotiation with private preferences.

The engine is Rust (the same code as the ``parley`` command line); this package loads
scenarios, analyses them exactly and runs sessions with parley's built-in negotiators::

    import parley

    s = parley.load("scenarios/job-offer.toml")        # a native file or a Genius folder
    a = parley.analyze(s)                               # == `parley analyze --json`
    r = parley.run(s, ["boulware", "conceder"], protocol="saop", rounds=50)
    u = s.utilities("candidate")                        # NumPy, one axis per issue

Results are plain dicts with the same keys as the command line's JSON
(``docs/analysis.md``; ``parley run --json``).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from ._parley import Scenario, __version__, analyze_json, builtins, load, loads, run_json

__all__ = [
    "Scenario",
    "__version__",
    "analyze",
    "load",
    "loads",
    "negotiators",
    "mediators",
    "run",
]


def negotiators() -> list[str]:
    """The built-in negotiators' names (each takes parameters: ``"boulware:e=0.2"``)."""
    return list(builtins()[0])


def mediators() -> list[str]:
    """The built-in mediators' names."""
    return list(builtins()[1])


def analyze(
    scenario: Scenario,
    *,
    method: str = "auto",
    budget: float = 10.0,
    work: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The scenario's analysis: the Pareto frontier, Nash, Kalai–Smorodinsky and more.

    The same dict as ``parley analyze --json`` prints (``docs/analysis.md``).
    ``method`` is ``auto`` (the additive dynamic programme when every utility is
    linear, else enumeration when small, else search), ``additive``, ``enumerate`` or
    ``search``; ``budget`` (seconds) or ``work`` (utility evaluations, the same result
    on every machine) bound a search; ``seed`` seeds it.
    """
    return json.loads(analyze_json(scenario, method, budget, work, seed))


def run(
    scenario: Scenario,
    negotiators: Sequence[str],
    *,
    protocol: str = "staged",
    rounds: int = 100,
    seed: int = 0,
    confide: str | Iterable[str] | None = None,
    mediator: str | None = None,
    indirect: str | None = None,
    threshold: float | None = None,
    indirect_rounds: int | None = None,
    post_settlement: bool = True,
    trace: bool = False,
) -> dict[str, Any]:
    """One negotiation session between built-in negotiators, one per party in order.

    The same dict as ``parley run --json`` prints: ``agreement`` (value labels in issue
    order, or None), ``utilities``, ``rounds``, ``ended_by``, ``phases``,
    ``pareto_distance`` and ``nash_distance``; with ``trace=True`` also ``trace``, the
    events as ``parley run --trace`` writes them. ``protocol`` is ``saop``,
    ``single-text``, ``shuttle`` or ``staged`` (with ``indirect``, ``threshold`` and
    ``indirect_rounds``); ``confide`` is ``"all"``, ``"none"`` or party names.
    """
    if isinstance(negotiators, str):
        raise TypeError("negotiators: a list of names, one per party (not one string)")
    if confide is not None and not isinstance(confide, str):
        confide = list(confide)
    return json.loads(
        run_json(
            scenario,
            list(negotiators),
            protocol,
            rounds,
            seed,
            confide,
            mediator,
            indirect,
            threshold,
            indirect_rounds,
            post_settlement,
            trace,
        )
    )
