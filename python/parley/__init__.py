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

from ._parley import (
    Party,
    Scenario,
    __version__,
    analyze_json,
    builtins,
    load,
    loads,
    register_competitor,
    run_json,
    tournament_json,
    unregister_competitor,
)

__all__ = [
    "Negotiator",
    "Party",
    "Scenario",
    "__version__",
    "analyze",
    "load",
    "loads",
    "negotiators",
    "mediators",
    "run",
    "tournament",
]


class Negotiator:
    """A strategy written in Python, played by parley's engine in any protocol.

    Subclass it and override what you need; pass an instance to :func:`run` in place of
    a built-in's name. The engine owns the clock, the deadline and the visibility
    policy: the negotiator sees only what its party may see (``observe``) and reaches
    only its own preferences (``self.party``, a :class:`Party`). Outcomes are dicts
    issue → value label; ``state`` is ``{"round", "time", "phase"}`` (``time`` the
    normalised time in [0, 1], the same clock the built-ins read).

    Whatever goes wrong — an exception, an answer that is not a move, an outcome
    outside the space, a call slower than ``run(..., move_timeout=…)`` — ends the
    session with an ``invalid`` event saying so.
    """

    #: The name shown in traces.
    name: str = "python"
    #: This party's own view, set by :meth:`init`.
    party: Party

    def init(self, party: Party) -> None:
        """Called once before the talks; keep ``party``."""
        self.party = party

    def observe(self, event: dict[str, Any]) -> None:
        """An event this party may see (offers, texts carried to it, votes, the end…)."""

    def act(self, state: dict[str, Any], standing: dict[str, str] | None) -> str | dict[str, str]:
        """Direct talks: ``"accept"`` the standing offer, ``"walk-away"``, or an outcome
        to offer. By default: accept what is worth at least walking away now, else offer
        the best outcome across no red line."""
        if standing is not None and self.party.utility(standing) >= self.party.reservation_at(state["time"]):
            return "accept"
        return self.best()

    def propose(self, state: dict[str, Any]) -> dict[str, str] | None:
        """Mediated talks: a proposal for the mediator, or None for nothing new."""
        return None

    def vote(self, state: dict[str, Any], text: dict[str, str], current: dict[str, str] | None) -> bool:
        """Accept the mediator's text or not (``current``: what it is judged against).
        By default: accept what is worth at least walking away now."""
        return self.party.utility(text) >= self.party.reservation_at(state["time"])

    def consent(self, state: dict[str, Any]) -> bool:
        """Staged talks: consent to go direct. By default, yes."""
        return True

    def best(self) -> dict[str, str]:
        """This party's best outcome across none of its red lines."""
        import numpy as np

        table = self.party.utilities()
        issues = self.party.issues
        for name, refused in self.party.red_lines.items():
            k = [n for n, _ in issues].index(name)
            for label in refused:
                index = [slice(None)] * table.ndim
                index[k] = issues[k][1].index(label)
                table = table.copy() if not table.flags.writeable else table
                table[tuple(index)] = -np.inf
        best = np.unravel_index(int(np.argmax(table)), table.shape)
        return {name: values[i] for (name, values), i in zip(issues, best)}


def _player(entry: Any) -> Any:
    """A NegMAS negotiator is played through :class:`parley.negmas.NegmasNegotiator`."""
    if isinstance(entry, str) or hasattr(entry, "act"):
        return entry
    from_negmas = any(c.__module__.split(".")[0] == "negmas" for c in type(entry).__mro__)
    if from_negmas and callable(getattr(entry, "propose", None)) and callable(getattr(entry, "respond", None)):
        from .negmas import NegmasNegotiator

        return NegmasNegotiator(entry)
    return entry


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
    negotiators: Sequence[str | Negotiator],
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
    move_timeout: float | None = None,
) -> dict[str, Any]:
    """One negotiation session, one negotiator per party in order: a built-in's name
    (``"boulware:e=0.2"``), a :class:`Negotiator`, or a NegMAS ``SAONegotiator``
    (played through :class:`parley.negmas.NegmasNegotiator`); ``move_timeout``: the
    seconds a Python negotiator may take to answer, else the session ends as
    ``invalid``.

    The same dict as ``parley run --json`` prints: ``agreement`` (value labels in issue
    order, or None), ``utilities``, ``rounds``, ``ended_by``, ``phases``,
    ``pareto_distance`` and ``nash_distance``; with ``trace=True`` also ``trace``, the
    events as ``parley run --trace`` writes them. ``protocol`` is ``saop``,
    ``single-text``, ``shuttle`` or ``staged`` (with ``indirect``, ``threshold`` and
    ``indirect_rounds``); ``confide`` is ``"all"``, ``"none"`` or party names.
    """
    if isinstance(negotiators, str):
        raise TypeError("negotiators: a list of names, one per party (not one string)")
    negotiators = [_player(n) for n in negotiators]
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
            move_timeout,
        )
    )


def _competitor(entry: Any) -> tuple[str, Any | None]:
    """A competitor's name, and the factory that makes a fresh one per session (None
    for a built-in, named by its specification)."""
    if isinstance(entry, str):
        return entry, None
    if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str) and callable(entry[1]):
        name, make = entry
    elif isinstance(entry, type):
        from_negmas = any(c.__module__.split(".")[0] == "negmas" for c in entry.__mro__)
        name = f"negmas:{entry.__name__}" if from_negmas else f"python:{entry.__name__}"
        make = entry
    else:
        raise TypeError(
            f"competitor {entry!r}: a built-in's name, a class (a parley.Negotiator subclass or a "
            "NegMAS SAONegotiator), or a (name, factory) pair — each session needs a fresh negotiator"
        )

    def fresh() -> Any:
        return _player(make())

    return name, fresh


def tournament(
    scenarios: Sequence[str | Any],
    negotiators: Sequence[str | Any] | None = None,
    *,
    protocol: str = "saop",
    rounds: int = 100,
    repetitions: int = 1,
    seed: int = 0,
    confide: bool = False,
    mediator: str | None = None,
    post_settlement: bool = True,
    self_play: bool = False,
    parties: int | None = None,
    out: str | Any | None = None,
    resume: bool = False,
    move_timeout: float | None = None,
) -> dict[str, Any]:
    """A tournament, as ``parley tournament`` runs it: every competitor in every role
    against every other, on every scenario (files, Genius or GeniusWeb folders, or
    folders holding them), ``repetitions`` times, in parallel.

    A competitor is a built-in's name, or a class made afresh for each session — a
    :class:`Negotiator` subclass, or a NegMAS ``SAONegotiator`` (an ANAC agent from
    ``negmas-genius-agents``, say) — or a ``(name, factory)`` pair. Classes are named
    ``python:Name`` or ``negmas:Name`` in the results.

    Returns ``{"summary": …, "rows": […], "out": folder}``: the summary ``parley
    tournament --json`` prints (ranking by mean advantage with 95% confidence
    intervals, win matrix, …) and one row per session. ``out`` keeps the results
    (``results.jsonl``, ``results.csv``, ``summary.json``; a temporary folder when
    None); ``resume=True`` continues a tournament already in ``out``.
    """
    import pathlib
    import tempfile

    folder = pathlib.Path(out) if out is not None else pathlib.Path(tempfile.mkdtemp(prefix="parley-tournament-"))
    names = None
    registered: list[str] = []
    if negotiators is not None:
        names = []
        for entry in negotiators:
            name, make = _competitor(entry)
            names.append(name)
            if make is not None:
                register_competitor(name, make, move_timeout)
                registered.append(name)
    try:
        text = tournament_json(
            [str(s) for s in scenarios],
            str(folder),
            names,
            protocol,
            rounds,
            repetitions,
            seed,
            confide,
            mediator,
            post_settlement,
            self_play,
            parties,
            resume=resume,
        )
    finally:
        for name in registered:
            unregister_competitor(name)
    summary = json.loads(text)
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines() if line.strip()]
    return {"summary": summary, "rows": rows, "out": str(folder)}
