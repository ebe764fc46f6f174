"""Crossing to NegMAS: scenarios both ways, and NegMAS negotiators in parley's engine.

Needs ``negmas`` (``pip install negmas``); parley itself does not. Outcomes cross as
tuples of value labels (strings) in issue order, so every issue becomes a NegMAS
categorical issue whose values are parley's labels.

Utilities cross exactly under parley's rules (the Genius ones): a value table is divided
by its largest entry and weights by their sum. NegMAS 0.16 reads Genius files
differently — it does not divide discrete evaluations by their maximum, and reads an
integer evaluator as ``slope·v + offset`` on the value itself rather than on its offset
from the issue's lower bound — so a scenario loaded by NegMAS from the same Genius
folder can value outcomes differently; :func:`to_negmas` builds its utility functions
from parley's values, so both sides agree outcome by outcome.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from . import Negotiator, Party, Scenario, loads

__all__ = ["BEST", "NegmasNegotiator", "ParleyNegotiator", "from_negmas", "to_negmas"]

#: The built-in that ``ParleyNegotiator()`` plays by default: ``best``, parley's
#: negotiator made to win (issue 15), a built-in of its own (``docs/negotiators.md``),
#: judged against the ANAC winners in NegMAS's tournament by ``bench/negmas_judge.py``.
BEST = "best"


def _negmas():
    try:
        import negmas  # noqa: F401
    except ImportError as e:  # pragma: no cover - exercised without negmas only
        raise ImportError("parley.negmas needs NegMAS: pip install negmas") from e
    return negmas


def _issues(issues: list[tuple[str, list[str]]]):
    from negmas import make_issue

    return [make_issue(values=list(values), name=name) for name, values in issues]


def _party_ufun(
    party_model: dict[str, Any], issues: list[tuple[str, list[str]]], outcome_space, reserved: float, table=None
):
    """A NegMAS utility function equal to a parley party's, outcome by outcome: linear
    additive with one table per issue when the party's utility is linear, else a
    mapping over every outcome (from ``table``, the party's NumPy utilities)."""
    from negmas.preferences import LinearAdditiveUtilityFunction, MappingUtilityFunction
    from negmas.preferences.value_fun import TableFun

    # NegMAS has one reserved value: what walking away is worth at the start (an
    # alternative that moves with time is read at t = 0).
    reserved = float(reserved)
    utility = party_model["utility"]
    if utility.get("kind", "linear") == "linear":
        names = [n for n, _ in issues]
        total = sum(t["weight"] for t in utility["issues"]) or 1.0
        values, weights = {}, {}
        for term in utility["issues"]:
            k = names.index(term["issue"])
            labels = issues[k][1]
            if "values" in term:
                raw = [float(term["values"][v]) for v in labels]
                top = max(raw)
                e = [x / top if top > 0 else 0.0 for x in raw]
            else:
                xs = [float(v) for v in labels]
                lin = term["linear"]
                e = [min(1.0, max(0.0, lin["slope"] * (x - xs[0]) + lin["offset"])) for x in xs]
            values[term["issue"]] = TableFun(dict(zip(labels, e)))
            weights[term["issue"]] = term["weight"] / total
        for name, labels in issues:
            if name not in values:
                values[name] = TableFun({v: 0.0 for v in labels})
                weights[name] = 0.0
        return LinearAdditiveUtilityFunction(
            values=values, weights=weights, outcome_space=outcome_space, reserved_value=reserved
        )
    if table is None:
        raise ValueError("a non-linear party needs its utility table")
    mapping = {
        tuple(issues[k][1][i] for k, i in enumerate(index)): float(table[index]) for index in np.ndindex(table.shape)
    }
    return MappingUtilityFunction(mapping=mapping, outcome_space=outcome_space, reserved_value=reserved)


def to_negmas(scenario: Scenario):
    """The scenario as a NegMAS ``Scenario``: categorical issues with parley's labels,
    and one utility function per party that gives every outcome the same utility as
    parley does (``reserved_value``: the reservation value)."""
    negmas = _negmas()
    from negmas.outcomes import make_os

    issues = scenario.issues
    os_ = make_os(_issues(issues), name=scenario.name)
    model = json.loads(scenario.to_json())
    ufuns = []
    for index, party in enumerate(model["parties"]):
        table = None if party["utility"].get("kind", "linear") == "linear" else scenario.utilities(index)
        ufun = _party_ufun(party, issues, os_, scenario.reservations[index], table)
        ufun.name = party["name"]
        ufuns.append(ufun)
    return negmas.inout.Scenario(outcome_space=os_, ufuns=tuple(ufuns))


def _space_of(os_):
    """A NegMAS outcome space as parley sees it: issues with their labels (``str(v)``),
    the values as NegMAS holds them, and every outcome."""
    issues = [(str(i.name), [str(v) for v in i.all]) for i in os_.issues]
    raw_values = [list(i.all) for i in os_.issues]
    return issues, raw_values, list(os_.enumerate_or_sample())


def _party_model(pname: str, ufun, issues, raw_values, outcomes) -> dict[str, Any]:
    """A NegMAS utility function as a parley party (native format), scaled so that its
    best outcome is worth 1."""
    utils = np.array([float(ufun(o)) for o in outcomes])
    best = float(utils.max()) if len(utils) else 1.0
    scale = best if best > 0 else 1.0
    reserved = getattr(ufun, "reserved_value", 0.0)
    reserved = 0.0 if reserved is None or not np.isfinite(reserved) else float(reserved) / scale
    weights = getattr(ufun, "weights", None)
    funs = getattr(ufun, "values", None)
    if weights is not None and funs is not None and len(funs) == len(issues):
        terms = []
        for (iname, labels), raw, fun, w in zip(issues, raw_values, funs, weights):
            evals = {label: float(fun(v)) for label, v in zip(labels, raw)}
            if w > 0 and max(evals.values()) > 0:
                terms.append({"issue": iname, "weight": float(w) * max(evals.values()), "values": evals})
        utility: dict[str, Any] = {"issues": terms}
    else:
        # Any other function: one hyper-rectangle per outcome holding its utility.
        rectangles = []
        for o, u in zip(outcomes, utils / scale):
            if u > 0:
                include = {iname: [str(v), str(v)] for (iname, _), v in zip(issues, o)}
                rectangles.append({"utility": float(u), "include": include})
        utility = {"kind": "hyper-rectangles", "max": 1.0, "rectangles": rectangles}
    return {"name": pname, "reservation": min(1.0, max(0.0, reserved)), "utility": utility}


def from_negmas(negmas_scenario, name: str | None = None, parties: list[str] | None = None) -> Scenario:
    """A parley ``Scenario`` from a NegMAS one: its issues (values as labels, ``str(v)``)
    and, for each utility function, a linear additive one when it is
    ``LinearAdditiveUtilityFunction`` over tables (or anything NegMAS can evaluate per
    value), else a table of every outcome. parley normalises utilities so that each
    party's best outcome is worth 1 (the Genius rule); a NegMAS function whose best
    outcome is worth less is scaled, and its reserved value with it."""
    _negmas()
    os_ = negmas_scenario.outcome_space
    issues, raw_values, outcomes = _space_of(os_)
    party_models = []
    for k, ufun in enumerate(negmas_scenario.ufuns):
        pname = parties[k] if parties else (getattr(ufun, "name", None) or f"party{k + 1}")
        party_models.append(_party_model(str(pname), ufun, issues, raw_values, outcomes))
    model = {
        "name": name or str(getattr(os_, "name", None) or "negmas scenario"),
        "issues": [{"name": n, "values": v} for n, v in issues],
        "parties": party_models,
    }
    return loads(json.dumps(model))


def _outcome(issues: list[tuple[str, list[str]]], outcome) -> dict[str, str] | None:
    if outcome is None:
        return None
    outcome = getattr(outcome, "outcome", outcome)  # an ExtendedOutcome
    if outcome is None:
        return None
    return {name: str(v) for (name, _), v in zip(issues, outcome)}


class NegmasNegotiator(Negotiator):
    """A NegMAS ``SAONegotiator`` playing one party in parley's engine.

    parley drives it through NegMAS's own interface: it joins a NegMAS mechanism that
    stands for the session (the party's own utility function, built by
    :func:`to_negmas`'s rules; the deadline in steps; the other parties as place
    holders), and on each turn it is given an ``SAOState`` with parley's round and
    normalised time. Direct talks: asked to ``respond`` to the standing offer (accept,
    or end the talks: walk away), then to ``propose`` a counter-offer. Mediated talks: a
    proposal to the mediator is its ``propose``; a text the mediator carries to it, or
    puts to everyone, is an offer it responds to (accepting it is voting for it).
    Staged talks: it consents to go direct; in the direct phase a counter-offer worth
    less to it than the mediator's default text (which parley refuses) is replaced by
    the default text.

    ``parley.run`` wraps a NegMAS negotiator in this by itself.
    """

    def __init__(self, negotiator, name: str | None = None):
        self.negotiator = negotiator
        self.name = name or f"negmas:{type(negotiator).__name__}"
        self._last = None
        self._default = None

    def observe(self, event: dict[str, Any]) -> None:
        # Staged talks: the mediator's text stands as the default once talks go direct.
        if event.get("type") == "default":
            self._default = event.get("outcome")

    def init(self, party: Party) -> None:
        super().init(party)
        from negmas.outcomes import make_os
        from negmas.sao import RandomNegotiator, SAOMechanism

        self._issues = party.issues
        os_ = make_os(_issues(self._issues))
        model = json.loads(party.preferences_json())
        table = None if model["utility"].get("kind", "linear") == "linear" else party.utilities()
        ufun = _party_ufun(model, self._issues, os_, party.reservation, table)
        self._mechanism = SAOMechanism(outcome_space=os_, n_steps=party.rounds)
        self._mechanism.add(self.negotiator, ufun=ufun)
        for _ in range(len(party.parties) - 1):
            self._mechanism.add(RandomNegotiator(), ufun=ufun)
        start = getattr(self.negotiator, "on_negotiation_start", None)
        if start is not None:
            start(self._mechanism.state)

    def _state(self, state: dict[str, Any], offer: dict[str, str] | None):
        from negmas.sao import SAOState

        current = None if offer is None else tuple(offer[name] for name, _ in self._issues)
        return SAOState(
            running=True,
            started=True,
            step=int(state["round"]),
            relative_time=float(state["time"]),
            time=float(state["time"]),
            current_offer=current,
            n_negotiators=len(self.party.parties),
        )

    def _respond(self, state, offer) -> str:
        from negmas.sao import ResponseType

        answer = self.negotiator.respond(self._state(state, offer), source="parley")
        answer = getattr(answer, "response", answer)  # an ExtendedResponseType
        if answer == ResponseType.ACCEPT_OFFER:
            return "accept"
        if answer in (ResponseType.END_NEGOTIATION, getattr(ResponseType, "LEAVE", None)):
            return "walk-away"
        return "reject"

    def _propose(self, state, offer=None) -> dict[str, str] | None:
        proposal = _outcome(self._issues, self.negotiator.propose(self._state(state, offer)))
        if proposal is not None:
            self._last = proposal
        return proposal

    def act(self, state, standing):
        if standing is not None:
            answer = self._respond(state, standing)
            if answer != "reject":
                return answer
        proposal = self._propose(state, standing)
        # NegMAS's "no offer": its last offer stands again (parley has no pass in
        # direct talks), or, before any, its best.
        proposal = proposal or self._last or self.best()
        # Staged talks: a counter-offer worth less to it than the default text is not
        # allowed; NegMAS agents do not know the rule, so the default goes instead.
        if self._default is not None and self.party.utility(proposal) < self.party.utility(self._default):
            return dict(self._default)
        return proposal

    def propose(self, state):
        return self._propose(state)

    def vote(self, state, text, current):
        return self._respond(state, text) == "accept"


def _parley_negotiator_class():
    _negmas()
    from negmas.sao import ResponseType, SAONegotiator

    class ParleyNegotiator(SAONegotiator):
        """One of parley's built-in negotiators playing inside NegMAS's own
        ``SAOMechanism`` (and so in ``cartesian_tournament``).

        ``ParleyNegotiator("boulware")``, ``ParleyNegotiator("frequency:e=0.2")``, or
        ``ParleyNegotiator("best")`` (:data:`BEST`, the default). Its utility function is NegMAS's:
        a linear additive one crosses as it is, any other through its value on every
        outcome. NegMAS drives it: asked to ``respond`` to the standing offer, it is
        told the offer and takes its turn (accept, end the negotiation, or reject with
        a counter-offer it then proposes); asked to ``propose`` first, it opens.
        The deadline it plans against is the mechanism's ``n_steps`` (100 if NegMAS has
        none). Time is parley's turn clock on NegMAS's steps: with ``n`` negotiators
        and ``N`` steps, the ``k``-th to act in step ``s`` is at ``(s·n + k)/(N·n)``,
        as in parley's own engine, so that a strategy knows whether anyone acts after
        it (NegMAS's ``relative_time`` is the same for every negotiator of a step).
        """

        def __init__(self, strategy: str = BEST, *, seed: int = 0, **kwargs):
            super().__init__(**kwargs)
            self.strategy = strategy
            self.seed = seed
            self._builtin = None
            self._counter = None
            self._values: list[dict[str, Any]] = []

        def _ensure(self):
            if self._builtin is not None:
                return
            from . import _parley

            os_ = self.nmi.outcome_space if self.nmi is not None else self.ufun.outcome_space
            issues, raw, outcomes = _space_of(os_)
            self._values = [{str(v): v for v in values} for values in raw]
            me = _party_model("me", self.ufun, issues, raw, outcomes)
            model = {
                "name": "negmas",
                "issues": [{"name": n, "values": v} for n, v in issues],
                "parties": [me, {"name": "other", "utility": {"issues": []}}],
            }
            steps = getattr(self.nmi, "n_steps", None) if self.nmi is not None else None
            scenario = loads(json.dumps(model))
            self._builtin = _parley.Builtin(scenario, self.strategy, 0, int(steps or 100), self.seed)

        def _negmas_outcome(self, labels):
            return tuple(values[label] for values, label in zip(self._values, labels))

        def _labels(self, outcome):
            return [str(v) for v in outcome]

        def _time(self, state) -> float:
            """parley's turn clock: which turn of which step this is."""
            steps = getattr(self.nmi, "n_steps", None) if self.nmi is not None else None
            if not steps:
                return float(state.relative_time)
            n = max(2, int(getattr(self.nmi, "n_negotiators", 2) or 2))
            before = sum(1 for who, _ in (getattr(state, "new_offers", None) or []) if who != self.id)
            return min(1.0, (state.step * n + min(before, n - 1)) / (steps * n))

        def respond(self, state, source=None):
            self._ensure()
            offer = state.current_offer
            if offer is None:
                return ResponseType.REJECT_OFFER
            t = self._time(state)
            self._builtin.offered(1, state.step, t, self._labels(offer))
            kind, labels = self._builtin.act(state.step, t, self._labels(offer))
            if kind == "accept":
                return ResponseType.ACCEPT_OFFER
            if kind == "walk-away":
                return ResponseType.END_NEGOTIATION
            self._counter = self._negmas_outcome(labels)
            return ResponseType.REJECT_OFFER

        def propose(self, state, dest=None):
            self._ensure()
            if self._counter is not None:
                counter, self._counter = self._counter, None
                return counter
            kind, labels = self._builtin.act(state.step, self._time(state), None)
            return self._negmas_outcome(labels) if kind == "offer" else None

    # Found by name from other processes (NegMAS tournaments pickle their competitors).
    ParleyNegotiator.__module__ = __name__
    ParleyNegotiator.__qualname__ = "ParleyNegotiator"
    return ParleyNegotiator


def __getattr__(name: str):
    # ParleyNegotiator subclasses NegMAS's SAONegotiator: made on first use, so that
    # importing parley.negmas does not need NegMAS until then.
    if name == "ParleyNegotiator":
        cls = _parley_negotiator_class()
        globals()["ParleyNegotiator"] = cls
        return cls
    raise AttributeError(name)
