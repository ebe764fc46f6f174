"""Strategies written in Python (`parley.Negotiator`) played by parley's engine: in every
protocol, seeing only what their party may see, reaching only their own preferences,
and ending their session as `invalid` — never crashing it — when they misbehave."""

from __future__ import annotations

import time

import numpy as np
import pytest

import parley
from conftest import ROOT

JOB = ROOT / "scenarios/job-offer.toml"


class Recorder(parley.Negotiator):
    """Accepts anything worth 0.6 to it, offers and proposes its best; keeps what it saw."""

    name = "recorder"

    def init(self, party):
        super().init(party)
        self.events = []
        self.asked = []

    def observe(self, event):
        self.events.append(event)

    def act(self, state, standing):
        self.asked.append(("act", state))
        if standing is not None and self.party.utility(standing) >= 0.6:
            return "accept"
        return self.best()

    def propose(self, state):
        self.asked.append(("propose", state))
        return self.best()

    def vote(self, state, text, current):
        self.asked.append(("vote", state))
        return self.party.utility(text) >= 0.6


@pytest.mark.parametrize("protocol", ["saop", "single-text", "shuttle", "staged"])
def test_a_python_negotiator_plays_every_protocol(protocol):
    s = parley.load(JOB)
    me = Recorder()
    r = parley.run(s, [me, "conceder"], protocol=protocol, rounds=40, trace=True)
    assert r["ended_by"] != "invalid-action", r["trace"][-3:]
    assert me.party.name == "candidate" and me.party.index == 0
    assert me.asked, "it was asked to move"
    # The clock is the engine's: rounds and normalised time grow, within the deadline.
    times = [state["time"] for _, state in me.asked]
    assert times == sorted(times) and 0.0 <= times[0] and times[-1] < 1.0
    assert all(state["round"] < 40 for _, state in me.asked)
    # It saw the start and the end, every outcome as issue → value.
    assert me.events[0]["type"] == "start" and me.events[-1]["type"] == "end"
    for e in me.events:
        if "outcome" in e:
            assert set(e["outcome"]) == {name for name, _ in s.issues}
    # Nothing private of the other party: its proposals to the mediator, its votes.
    for e in me.events:
        assert not (e["type"] == "proposal" and e.get("from") == "employer"), e
        assert not (e["type"] == "vote" and e.get("by") == "employer"), e
    # The events it saw are the engine's, in order, numbered for it alone.
    assert [e["seq"] for e in me.events] == list(range(len(me.events)))


def test_a_python_negotiator_reaches_only_its_own_preferences():
    s = parley.load(JOB)
    me = Recorder()
    parley.run(s, ["conceder", me], protocol="saop", rounds=10)
    party = me.party
    assert party.name == "employer"
    assert np.array_equal(party.utilities(), s.utilities("employer"))
    assert not np.array_equal(party.utilities(), s.utilities("candidate"))
    assert party.reservation == s.reservations[1]
    public = {name for name in dir(party) if not name.startswith("_")}
    assert public == {"name", "index", "parties", "issues", "rounds", "reservation", "discount",
                      "reservation_at", "red_lines", "utility", "utilities", "preferences_json"}, public


def test_the_default_negotiator_never_takes_less_than_walking_away():
    s = parley.load(JOB)
    for other in ["boulware", "conceder", "linear", "hardliner"]:
        r = parley.run(s, [parley.Negotiator(), other], protocol="saop", rounds=60)
        assert r["ended_by"] in {"agreement", "deadline"}, r
        if r["agreement"] is not None:
            agreed = dict(zip([n for n, _ in s.issues], r["agreement"]))
            assert s.utility("candidate", agreed) >= s.reservations[0], (other, r)
    # Against a conceder it does reach a deal.
    r = parley.run(s, [parley.Negotiator(), "conceder"], protocol="saop", rounds=60)
    assert r["agreement"] is not None


class Raises(parley.Negotiator):
    def act(self, state, standing):
        raise RuntimeError("out of ideas")


class NotAMove(parley.Negotiator):
    def act(self, state, standing):
        return 42


class Outside(parley.Negotiator):
    def act(self, state, standing):
        return {"salary": "1000000"}


class Slow(parley.Negotiator):
    def act(self, state, standing):
        time.sleep(0.3)
        return "walk-away"


class InitRaises(parley.Negotiator):
    def init(self, party):
        raise KeyError("no config")


class BadVote(parley.Negotiator):
    def vote(self, state, text, current):
        return "maybe"


@pytest.mark.parametrize(
    "negotiator,protocol,says",
    [
        (Raises(), "saop", "act() raised RuntimeError: out of ideas"),
        (NotAMove(), "saop", "act() returned an outcome outside the space"),
        (Outside(), "saop", "1000000"),
        (Slow(), "saop", "took 0."),
        (InitRaises(), "saop", "init() raised KeyError"),
        (BadVote(), "single-text", "vote() returned 'maybe': expected True or False"),
    ],
)
def test_a_misbehaving_negotiator_ends_its_session_as_invalid(negotiator, protocol, says):
    s = parley.load(JOB)
    r = parley.run(s, [negotiator, "conceder"], protocol=protocol, rounds=20, trace=True, move_timeout=0.1)
    assert r["ended_by"] == "invalid-action", r
    invalid = [e for e in r["trace"] if e["type"] == "invalid"]
    assert len(invalid) == 1 and invalid[0]["by"] == "candidate"
    assert says in invalid[0]["message"], invalid[0]["message"]
    # Every party walks away with its alternative.
    assert r["agreement"] is None


def test_objects_that_are_not_negotiators_are_refused_before_the_session():
    s = parley.load(JOB)
    with pytest.raises(ValueError, match="no method act"):
        parley.run(s, [object(), "conceder"])
    with pytest.raises(ValueError, match="move_timeout"):
        parley.run(s, [parley.Negotiator(), "conceder"], move_timeout=-1)
