"""Crossing to NegMAS: scenarios both ways with the same utility for every outcome, and
NegMAS negotiators playing whole sessions in parley's engine in every protocol."""

from __future__ import annotations

import numpy as np
import pytest

import parley
from conftest import ROOT, _in_ci

try:
    import negmas  # noqa: F401
    from negmas.sao import AspirationNegotiator, BoulwareTBNegotiator, MiCRONegotiator, NiceTitForTatNegotiator
except ImportError:  # pragma: no cover
    if _in_ci():
        raise
    pytest.skip("NegMAS is not installed (pip install negmas)", allow_module_level=True)

import parley.negmas as pn

BUNDLED = sorted((ROOT / "scenarios").glob("*.toml"))


def every_outcome(s: parley.Scenario):
    return [tuple(s.issues[k][1][i] for k, i in enumerate(index)) for index in np.ndindex(*(len(v) for _, v in s.issues))]


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_to_negmas_gives_every_outcome_the_same_utility(path):
    s = parley.load(path)
    ns = pn.to_negmas(s)
    assert [i.name for i in ns.outcome_space.issues] == [n for n, _ in s.issues]
    outcomes = every_outcome(s)
    for k, ufun in enumerate(ns.ufuns):
        table = s.utilities(k)
        theirs = np.array([ufun(o) for o in outcomes]).reshape(table.shape)
        assert np.allclose(theirs, table, atol=1e-12), (path, k)
        assert ufun.reserved_value == pytest.approx(s.reservations[k])


def test_corpus_scenarios_cross_to_negmas(corpus):
    from test_parley import genius_folders

    checked = 0
    for folder in genius_folders(corpus):
        try:
            s = parley.load(folder)
        except ValueError:
            continue
        if not isinstance(s.n_outcomes, int) or s.n_outcomes > 20_000:
            continue
        ns = pn.to_negmas(s)
        rng = np.random.default_rng(7)
        outcomes = every_outcome(s)
        for k, ufun in enumerate(ns.ufuns):
            for i in rng.choice(len(outcomes), size=min(30, len(outcomes)), replace=False):
                assert ufun(outcomes[i]) == pytest.approx(s.utility(k, list(outcomes[i])), abs=1e-12), folder
        checked += 1
    assert checked >= 20, checked


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_a_scenario_round_trips_through_negmas(path):
    s = parley.load(path)
    back = pn.from_negmas(pn.to_negmas(s), name=s.name, parties=s.parties)
    assert back.issues == s.issues and back.parties == s.parties
    for k in range(len(s.parties)):
        assert np.allclose(back.utilities(k), s.utilities(k), atol=1e-12)
        assert back.reservations[k] == pytest.approx(s.reservations[k])


def test_a_negmas_scenario_comes_to_parley():
    from negmas import make_issue
    from negmas.outcomes import make_os
    from negmas.preferences import LinearAdditiveUtilityFunction, MappingUtilityFunction
    from negmas.preferences.value_fun import TableFun

    issues = [make_issue(values=["low", "mid", "high"], name="price"), make_issue(values=[1, 2, 3], name="weeks")]
    os_ = make_os(issues, name="deal")
    buyer = LinearAdditiveUtilityFunction(
        values={"price": TableFun({"low": 1.0, "mid": 0.4, "high": 0.0}), "weeks": TableFun({1: 1.0, 2: 0.5, 3: 0.0})},
        weights={"price": 0.8, "weeks": 0.2}, outcome_space=os_, reserved_value=0.3, name="buyer")
    seller = MappingUtilityFunction(
        mapping={o: (0.2 * (o[1] - 1) + (0.6 if o[0] == "high" else 0.3 if o[0] == "mid" else 0.0)) for o in os_.enumerate()},
        outcome_space=os_, reserved_value=0.1, name="seller")
    ns = negmas.inout.Scenario(outcome_space=os_, ufuns=(buyer, seller))
    s = pn.from_negmas(ns)
    assert s.parties == ["buyer", "seller"] and s.issues == [("price", ["low", "mid", "high"]), ("weeks", ["1", "2", "3"])]
    for o in os_.enumerate():
        labels = [str(v) for v in o]
        assert s.utility("buyer", labels) == pytest.approx(buyer(o))
        # The seller's best outcome is worth 1.0 to NegMAS: the same to parley.
        assert s.utility("seller", labels) == pytest.approx(seller(o) / 1.0)
    assert parley.analyze(s)["pareto"], "the scenario analyses"


NEGMAS_AGENTS = [AspirationNegotiator, MiCRONegotiator, BoulwareTBNegotiator, NiceTitForTatNegotiator]


@pytest.mark.parametrize("protocol", ["saop", "single-text", "shuttle", "staged"])
@pytest.mark.parametrize("agent", NEGMAS_AGENTS, ids=lambda a: a.__name__)
def test_negmas_agents_play_whole_sessions_in_parley(agent, protocol):
    s = parley.load(ROOT / "scenarios/job-offer.toml")
    for seats in ([agent(), "conceder"], ["boulware", agent()]):
        r = parley.run(s, seats, protocol=protocol, rounds=50, confide="all" if protocol == "staged" else None, trace=True)
        invalid = [e["message"] for e in r["trace"] if e["type"] == "invalid"]
        assert not invalid, invalid
        assert r["ended_by"] in {"agreement", "deadline", "fallback", "walk-away", "indirect-deadline"}, r
        if r["agreement"] is not None:
            outcome = dict(zip([n for n, _ in s.issues], r["agreement"]))
            for k in range(2):
                assert s.utility(k, outcome) >= 0.0


def test_a_small_tournament_of_negmas_agents_and_built_ins():
    """Every NegMAS agent against every built-in in both roles, on two scenarios: whole
    sessions, none invalid, and most reach a deal."""
    rows = []
    for path in [ROOT / "scenarios/job-offer.toml", ROOT / "scenarios/supplier-contract.toml"]:
        s = parley.load(path)
        for agent in NEGMAS_AGENTS:
            for builtin in ["boulware", "conceder", "linear", "frequency"]:
                for seats in ([agent(), builtin], [builtin, agent()]):
                    r = parley.run(s, seats, protocol="saop", rounds=60, trace=True)
                    assert not [e for e in r["trace"] if e["type"] == "invalid"], (path, agent, builtin)
                    rows.append(r["agreement"] is not None)
    assert len(rows) == 2 * 4 * 4 * 2
    assert sum(rows) >= len(rows) // 2, f"{sum(rows)} deals in {len(rows)} sessions"


def test_anac_winners_reimplemented_for_negmas_play_in_parley():
    """ANAC agents from `negmas-genius-agents` (a test dependency, never vendored) play
    whole sessions in parley against built-ins, as either party."""
    try:
        import negmas_genius_agents as anac
    except ImportError:
        if _in_ci():
            raise
        pytest.skip("negmas-genius-agents is not installed (pip install negmas-genius-agents)")
    s = parley.load(ROOT / "scenarios/job-offer.toml")
    names = ["HardHeaded", "AgentK", "AgreeableAgent2018", "AgentGG", "Atlas3", "CUHKAgent", "PonPokoAgent", "TheFawkes"]
    deals = 0
    for name in names:
        agent = getattr(anac, name)
        for seats in ([agent(), "boulware"], ["conceder", agent()]):
            r = parley.run(s, seats, protocol="saop", rounds=100, trace=True)
            assert not [e for e in r["trace"] if e["type"] == "invalid"], (name, r["trace"][-2:])
            assert r["ended_by"] in {"agreement", "deadline", "walk-away"}, (name, r)
            deals += r["agreement"] is not None
    assert deals >= len(names), f"{deals} deals in {2 * len(names)} sessions"


@pytest.mark.parametrize("strategy", ["best", "boulware", "conceder", "linear", "frequency:e=0.2", "tit-for-tat"])
def test_parley_negotiators_play_in_negmas_mechanisms(strategy):
    from negmas.sao import SAOMechanism

    s = parley.load(ROOT / "scenarios/job-offer.toml")
    ns = pn.to_negmas(s)
    for mine, theirs in [(0, 1), (1, 0)]:
        m = SAOMechanism(outcome_space=ns.outcome_space, n_steps=80)
        me = pn.ParleyNegotiator(strategy)
        m.add(me, ufun=ns.ufuns[mine])
        m.add(AspirationNegotiator(), ufun=ns.ufuns[theirs])
        state = m.run()
        assert not state.has_error, state.error_details
        # The conceding strategies reach a deal; the tough ones may hold out to the end.
        if strategy in ("conceder", "linear"):
            assert state.agreement is not None, (strategy, mine)
        if state.agreement is not None:
            # Never below what walking away pays (the built-ins' rule), on NegMAS's scale.
            assert ns.ufuns[mine](state.agreement) >= ns.ufuns[mine].reserved_value - 1e-9
        assert state.step > 0
    assert pn.ParleyNegotiator("best").strategy == pn.BEST


def test_parley_negotiators_keep_parleys_turn_clock_on_negmas_steps():
    """NegMAS gives both negotiators of a step the same relative time; parley's
    negotiators see the turn clock of parley's engine, (step·n + k)/(N·n) for the
    k-th to act, so a strategy knows when nobody acts after it."""
    from negmas.sao import SAOMechanism

    s = parley.load(ROOT / "scenarios/job-offer.toml")
    ns = pn.to_negmas(s)
    seen: dict[str, list[float]] = {}

    class Recording(pn.ParleyNegotiator):
        def _time(self, state):
            t = super()._time(state)
            seen.setdefault(self.id, []).append(t)
            return t

    m = SAOMechanism(outcome_space=ns.outcome_space, n_steps=10)
    first, second = Recording("hardliner"), Recording("hardliner")
    m.add(first, ufun=ns.ufuns[0])
    m.add(second, ufun=ns.ufuns[1])
    state = m.run()
    assert not state.has_error, state.error_details
    assert state.agreement is None  # two hardliners
    assert sorted(set(seen[first.id])) == [2 * k / 20 for k in range(10)]
    assert sorted(set(seen[second.id])) == [(2 * k + 1) / 20 for k in range(10)]


def test_parley_negotiators_in_a_negmas_cartesian_tournament():
    from negmas.tournaments.neg import cartesian_tournament

    scenarios = [pn.to_negmas(parley.load(ROOT / f"scenarios/{n}.toml")) for n in ("job-offer", "supplier-contract")]
    results = cartesian_tournament(
        competitors=[pn.ParleyNegotiator, AspirationNegotiator, MiCRONegotiator],
        competitor_params=[{"strategy": "best"}, {}, {}],
        scenarios=scenarios, n_steps=60, n_repetitions=1, njobs=-1, verbosity=0,
        save_stats=False, save_scenario_figs=False, self_play=False,
    )
    assert int(results.details["has_error"].sum()) == 0, results.details["error_details"].tolist()
    assert len(results.details) == 2 * 6 * 2  # scenarios × ordered pairs × rotated ufuns
    names = results.final_scores["strategy"].tolist()
    assert any(n.startswith("ParleyNegotiator") for n in names), names


def test_geniusweb_profiles_cross_to_negmas_and_back(parley_bin, tmp_path):
    """parley writes GeniusWeb profiles (parley convert --to geniusweb) that NegMAS reads
    with the same utility for every outcome; parley.load reads them back."""
    import subprocess

    from negmas.inout import Scenario as NegmasScenario

    src = ROOT / "scenarios/job-offer.toml"
    out = tmp_path / "gw"
    subprocess.run([str(parley_bin), "convert", str(src), str(out), "--to", "geniusweb", "-q"], check=True)
    s = parley.load(src)
    theirs = NegmasScenario.load(out)
    names = [i.name for i in theirs.outcome_space.issues]
    for k, ufun in enumerate(theirs.ufuns):
        assert ufun.name == s.parties[k]
        for o in list(theirs.outcome_space.enumerate())[::37]:
            labels = dict(zip(names, o))
            assert ufun(o) == pytest.approx(s.utility(k, labels), abs=1e-12)
        assert ufun.reserved_value == pytest.approx(s.reservations[k], abs=0.02)
    back = parley.load(out)
    assert sorted(back.parties) == sorted(s.parties)
    for party in s.parties:
        for o in every_outcome(s)[::53]:
            labels = dict(zip([n for n, _ in s.issues], o))
            assert back.utility(party, labels) == pytest.approx(s.utility(party, labels), abs=1e-12)


def test_negmas_agents_and_python_strategies_compete_in_parleys_tournament(tmp_path):
    """parley.tournament with built-ins, NegMAS agents, an ANAC winner and a Python
    strategy as competitors: every session runs, none is invalid, everyone is ranked."""

    class Firm(parley.Negotiator):
        def act(self, state, standing):
            if standing and self.party.utility(standing) >= 0.8 - 0.3 * state["time"]:
                return "accept"
            return self.best()

    competitors = ["boulware", "conceder", AspirationNegotiator, MiCRONegotiator, Firm]
    try:
        import negmas_genius_agents as anac

        competitors.append(anac.HardHeaded)
    except ImportError:
        if _in_ci():
            raise
    scenarios = [ROOT / "scenarios/job-offer.toml", ROOT / "scenarios/supplier-contract.toml"]
    result = parley.tournament(scenarios, competitors, rounds=60, repetitions=1, out=tmp_path / "t")
    n = len(competitors)
    assert result["summary"]["sessions"] == len(scenarios) * n * (n - 1)
    assert len(result["rows"]) == result["summary"]["sessions"]
    assert all(row["ended_by"] != "invalid-action" for row in result["rows"]), [
        row for row in result["rows"] if row["ended_by"] == "invalid-action"][:2]
    ranked = {entry["negotiator"] for entry in result["summary"]["ranking"]}
    assert {"boulware", "conceder", "negmas:AspirationNegotiator", "negmas:MiCRONegotiator", "python:Firm"} <= ranked
    assert result["summary"]["agreement_rate"] > 0.5
    # Instances are not competitors: each session needs a fresh negotiator.
    with pytest.raises(TypeError, match="fresh negotiator"):
        parley.tournament(scenarios, ["boulware", AspirationNegotiator()], out=tmp_path / "u")


def test_every_agent_of_negmas_genius_agents_plays_a_session_in_parley():
    """All of them (146 in 0.3.0), each one direct session against a built-in: none ends
    in an invalid action, and most reach a deal."""
    import inspect

    try:
        import negmas_genius_agents as anac
    except ImportError:
        if _in_ci():
            raise
        pytest.skip("negmas-genius-agents is not installed")
    s = parley.load(ROOT / "scenarios/job-offer.toml")
    played = deals = 0
    for name in sorted(dir(anac)):
        cls = getattr(anac, name)
        if not inspect.isclass(cls):
            continue
        try:
            agent = cls()
        except TypeError:
            continue  # a helper class, not an agent
        if not (callable(getattr(agent, "propose", None)) and callable(getattr(agent, "respond", None))):
            continue
        r = parley.run(s, [agent, "boulware"], protocol="saop", rounds=100, trace=True)
        invalid = [e["message"] for e in r["trace"] if e["type"] == "invalid"]
        assert not invalid, (name, invalid)
        played += 1
        deals += r["agreement"] is not None
    assert played >= 100, played
    assert deals >= played // 2, (deals, played)
