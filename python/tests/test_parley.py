"""parley from Python against the command line: the same analysis, the same sessions,
the same utilities (checked also against the format's rules computed here in NumPy)."""

from __future__ import annotations

import itertools
import json
import pathlib

import numpy as np
import pytest

import parley
from conftest import ROOT, cli_json


def genius_folders(corpus: pathlib.Path) -> list[pathlib.Path]:
    """Every scenario folder of the corpus (a folder holding a Genius domain file)."""
    folders = set()
    for xml in (corpus / "genius").rglob("*.xml"):
        try:
            head = xml.read_text(errors="replace")[:2000]
        except OSError:
            continue
        if "<negotiation_template" in head:
            folders.add(xml.parent)
    return sorted(folders)


def test_analyze_equals_the_cli_on_every_shared_scenario(parley_bin, corpus):
    compared = 0
    refused = 0
    for folder in genius_folders(corpus):
        try:
            scenario = parley.load(folder)
        except ValueError as e:
            # Malformed on purpose: the CLI refuses it too, with the same message.
            import subprocess

            out = subprocess.run([str(parley_bin), "analyze", str(folder), "--json", "--quiet"], capture_output=True, text=True)
            assert out.returncode != 0, f"{folder}: Python refused it ({e}) but the CLI did not"
            refused += 1
            continue
        # A work budget: the same frontier on every machine and run, searched or not.
        ours = parley.analyze(scenario, work=200_000)
        theirs = cli_json(parley_bin, "analyze", str(folder), "--work", "200000")
        assert ours == theirs, folder
        compared += 1
    assert compared >= 50, f"only {compared} scenarios compared ({refused} refused)"
    print(f"{compared} scenarios: the same analysis; {refused} refused by both")


def test_analyze_equals_the_cli_on_the_bundled_scenarios(parley_bin, bundled):
    assert bundled
    for path in bundled:
        assert parley.analyze(parley.load(path)) == cli_json(parley_bin, "analyze", str(path)), path


def additive_table(scenario: parley.Scenario, party: int) -> np.ndarray:
    """A linear-additive party's utilities by the format's rules, here in NumPy:
    weights over their sum, a value table over its largest entry, `clamp(slope·(v − min)
    + offset)` for a linear evaluator (docs/scenario-format.md)."""
    model = json.loads(scenario.to_json())
    p = model["parties"][party]
    assert p["utility"].get("kind", "linear") == "linear"
    names = [name for name, _ in scenario.issues]
    cards = [len(values) for _, values in scenario.issues]
    total = sum(t["weight"] for t in p["utility"]["issues"])
    table = np.zeros(cards)
    for term in p["utility"]["issues"]:
        k = names.index(term["issue"])
        values = scenario.issues[k][1]
        if "values" in term:
            raw = np.array([term["values"][v] for v in values], dtype=float)
            e = raw / raw.max() if raw.max() > 0 else raw
        else:
            xs = np.array([float(v) for v in values])
            e = np.clip(term["linear"]["slope"] * (xs - xs[0]) + term["linear"]["offset"], 0, 1)
        shape = [1] * len(cards)
        shape[k] = cards[k]
        table = table + (term["weight"] / total) * e.reshape(shape)
    return table


def test_numpy_utilities_equal_rust_and_the_format_rules(bundled):
    for path in bundled:
        s = parley.load(path)
        for party, name in enumerate(s.parties):
            u = s.utilities(name)
            assert u.shape == tuple(len(v) for _, v in s.issues)
            assert u.dtype == np.float64
            assert np.allclose(u, additive_table(s, party), atol=1e-12), (path, name)
            # Element by element, as the Rust utility function gives it.
            for index in itertools.islice(np.ndindex(u.shape), 0, None, max(1, u.size // 40)):
                labels = [s.issues[k][1][i] for k, i in enumerate(index)]
                assert s.utility(party, labels) == u[index]
                assert s.utility(name, dict(zip([n for n, _ in s.issues], labels))) == u[index]


def test_numpy_utilities_on_corpus_scenarios(corpus):
    checked = 0
    for folder in genius_folders(corpus)[:40]:
        try:
            s = parley.load(folder)
        except ValueError:
            continue
        if not isinstance(s.n_outcomes, int) or s.n_outcomes > 200_000:
            continue
        for party in range(len(s.parties)):
            u = s.utilities(party)
            rng = np.random.default_rng(party)
            for _ in range(25):
                index = tuple(int(rng.integers(0, n)) for n in u.shape)
                labels = [s.issues[k][1][i] for k, i in enumerate(index)]
                assert s.utility(party, labels) == u[index], folder
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize(
    "negotiators,options,cli",
    [
        (["boulware", "conceder"], {"protocol": "saop", "rounds": 50}, ["--protocol", "saop", "--rounds", "50"]),
        (["linear", "frequency"], {"protocol": "staged", "confide": "all", "seed": 3},
         ["--protocol", "staged", "--confide", "all", "--seed", "3"]),
        (["conceder", "boulware"], {"protocol": "single-text", "rounds": 30, "mediator": "hill-climber"},
         ["--protocol", "single-text", "--rounds", "30", "--mediator", "hill-climber"]),
        (["boulware:e=0.2", "tit-for-tat"], {"protocol": "shuttle", "confide": ["employer"], "post_settlement": False},
         ["--protocol", "shuttle", "--confide", "employer", "--post-settlement", "off"]),
    ],
)
def test_run_equals_the_cli(parley_bin, negotiators, options, cli):
    path = ROOT / "scenarios/job-offer.toml"
    ours = parley.run(parley.load(path), negotiators, **options)
    theirs = cli_json(parley_bin, "run", str(path), "--negotiators", ",".join(negotiators), *cli)
    assert ours == theirs


def test_a_trace_on_request_matches_the_cli_trace(parley_bin, tmp_path):
    path = ROOT / "scenarios/oman-talks.toml"
    ours = parley.run(parley.load(path), ["boulware", "linear"], confide="all", trace=True)
    import subprocess

    trace = tmp_path / "t.jsonl"
    subprocess.run([str(parley_bin), "run", str(path), "--negotiators", "boulware,linear", "--confide", "all",
                    "--trace", str(trace), "--quiet"], check=True, capture_output=True)
    assert ours["trace"] == [json.loads(line) for line in trace.read_text().splitlines()]
    assert ours["trace"][-1]["type"] == "end"


def test_mistakes_are_named():
    s = parley.load(ROOT / "scenarios/job-offer.toml")
    with pytest.raises(KeyError, match="no party 'cfo'|no party \"cfo\""):
        s.utilities("cfo")
    with pytest.raises(IndexError):
        s.utility(7, ["90"])
    with pytest.raises(ValueError, match="salary"):
        s.utility("candidate", {"salary": "9000"})
    with pytest.raises(ValueError, match="2 parties"):
        parley.run(s, ["boulware"])
    with pytest.raises(ValueError, match="unknown negotiator"):
        parley.run(s, ["boulware", "genius"])
    with pytest.raises(ValueError, match="protocol"):
        parley.run(s, ["boulware", "boulware"], protocol="auction")
    with pytest.raises(ValueError, match="threshold"):
        parley.run(s, ["boulware", "boulware"], protocol="saop", threshold=0.5)
    with pytest.raises(ValueError, match="no party"):
        parley.run(s, ["boulware", "boulware"], confide=["cfo"])
    with pytest.raises(TypeError):
        parley.run(s, "boulware,boulware")
    with pytest.raises(ValueError, match="method"):
        parley.analyze(s, method="guess")
    with pytest.raises(ValueError, match="no such file|No such file|not found|loading"):
        parley.load(ROOT / "scenarios/none.toml")
    with pytest.raises(ValueError, match="utility"):
        parley.loads('{"name": "x", "issues": [{"name": "a", "values": ["1", "2"]}], "parties": [{"name": "p"}]}')


def test_scenarios_round_trip_through_native_text(bundled):
    for path in bundled:
        s = parley.load(path)
        for text, fmt in [(s.to_json(), "json"), (s.to_toml(), "toml")]:
            again = parley.loads(text, format=fmt)
            assert again.parties == s.parties and again.issues == s.issues
            for party in s.parties:
                assert np.array_equal(again.utilities(party), s.utilities(party))


def test_the_package_describes_itself():
    assert parley.__version__
    assert "boulware" in parley.negotiators()
    assert "shuttle" in parley.mediators()
    s = parley.load(ROOT / "scenarios/job-offer.toml")
    assert "Job offer" in repr(s)
    assert s.n_outcomes == int(np.prod([len(v) for _, v in s.issues]))
    assert (ROOT / "python/parley/py.typed").exists()


def test_a_tournament_equals_the_cli(parley_bin, tmp_path):
    import subprocess

    scenarios = [str(ROOT / "scenarios/job-offer.toml"), str(ROOT / "scenarios/supplier-contract.toml")]
    ours = parley.tournament(scenarios, ["boulware", "conceder", "linear"], rounds=40, repetitions=2, seed=5,
                             out=tmp_path / "py")
    out = subprocess.run([str(parley_bin), "tournament", *scenarios, "--negotiators", "boulware,conceder,linear",
                          "--rounds", "40", "--repetitions", "2", "--seed", "5", "--out", str(tmp_path / "cli"),
                          "--json", "--quiet"], capture_output=True, text=True, check=True)
    theirs = json.loads(out.stdout)
    assert ours["summary"] == theirs
    # 2 scenarios × 3·2 ordered pairings × 2 repetitions.
    assert len(ours["rows"]) == 2 * 6 * 2
    assert ours["summary"]["sessions"] == 24
    ranked = [entry["negotiator"] for entry in ours["summary"]["ranking"]]
    assert sorted(ranked) == ["boulware", "conceder", "linear"]
    assert all(set(row["negotiators"]) <= {"boulware", "conceder", "linear"} for row in ours["rows"])
