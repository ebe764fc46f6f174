"""Language-model seats from Python (docs/llm.md): `llm` is a negotiator name like any
built-in once the package is imported; without an endpoint the error says what to set;
with one (CI starts a local model), a short session ends by the rules."""

from __future__ import annotations

import os

import pytest

import parley
from conftest import ROOT, _in_ci


def test_an_llm_seat_without_an_endpoint_says_what_to_set(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    s = parley.load(ROOT / "scenarios/job-offer.toml")
    with pytest.raises(ValueError, match="OPENAI_BASE_URL is not set"):
        parley.run(s, ["llm", "conceder"], protocol="saop", rounds=4)
    with pytest.raises(ValueError, match="hawkish, neutral or cooperative"):
        parley.run(s, ["llm:persona=grumpy", "conceder"], protocol="saop", rounds=4)


def test_an_llm_seat_plays_a_session_within_its_guardrails():
    if not os.environ.get("OPENAI_BASE_URL"):
        message = "needs OPENAI_BASE_URL (`export \"$(scripts/llm-server start)\"`)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    s = parley.load(ROOT / "scenarios/job-offer.toml")
    result = parley.run(
        s,
        ["llm:timeout=120:history=4:message_chars=80:max_tokens=400", "conceder"],
        protocol="saop",
        rounds=3,
        trace=True,
    )
    assert result["ended_by"] in ("agreement", "deadline", "walk-away")
    if result["agreement"] is not None:
        assert result["utilities"][0] >= 0.5 - 1e-9
    calls = [e for e in result["trace"] if e["type"] == "model-call"]
    assert calls and all(c["by"] == "candidate" for c in calls)
