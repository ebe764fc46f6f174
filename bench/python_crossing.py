#!/usr/bin/env python3
"""What crossing between parley and NegMAS costs, in sessions per second.

Four settings on the bundled job-offer scenario (2,640 outcomes), 100 rounds or steps of
alternating offers, the same run, one process, one thread:

  parley, built-in vs built-in      parley.run(s, ["boulware", "boulware"])
  parley, NegMAS agent vs built-in  parley.run(s, [AspirationNegotiator(), "boulware"])
  NegMAS, agent vs parley built-in  SAOMechanism: AspirationNegotiator vs ParleyNegotiator("boulware")
  NegMAS, agent vs agent            SAOMechanism: AspirationNegotiator vs BoulwareTBNegotiator

Each setting runs N sessions (default 200) after 5 unmeasured ones; the time includes
building the negotiators and the mechanism, not loading the scenario. Needs the parley
package and NegMAS in the interpreter:

    python -m venv /tmp/v && /tmp/v/bin/pip install maturin numpy "negmas==0.16.0"
    (cd python && VIRTUAL_ENV=/tmp/v /tmp/v/bin/maturin develop --release)
    /tmp/v/bin/python bench/python_crossing.py [N]
"""

from __future__ import annotations

import pathlib
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import parley  # noqa: E402
import parley.negmas as pn  # noqa: E402
from negmas.sao import AspirationNegotiator, BoulwareTBNegotiator, SAOMechanism  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def rate(label, one, n):
    for _ in range(5):
        one()
    started = time.perf_counter()
    steps = 0
    for _ in range(n):
        steps += one()
    took = time.perf_counter() - started
    print(f"{label:36} {n / took:9.1f} sessions/s   {steps / n:5.1f} rounds a session")
    return n / took


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    s = parley.load(ROOT / "scenarios/job-offer.toml")
    ns = pn.to_negmas(s)

    def parley_builtins():
        return parley.run(s, ["boulware", "boulware"], protocol="saop", rounds=100)["rounds"]

    def parley_negmas_agent():
        return parley.run(s, [AspirationNegotiator(), "boulware"], protocol="saop", rounds=100)["rounds"]

    def negmas(b):
        m = SAOMechanism(outcome_space=ns.outcome_space, n_steps=100)
        m.add(AspirationNegotiator(), ufun=ns.ufuns[0])
        m.add(b(), ufun=ns.ufuns[1])
        return m.run().step

    print(f"job-offer, 100 rounds, {n} sessions each")
    a = rate("parley, built-in vs built-in", parley_builtins, n)
    b = rate("parley, NegMAS agent vs built-in", parley_negmas_agent, n)
    c = rate("NegMAS, agent vs parley built-in", lambda: negmas(lambda: pn.ParleyNegotiator("boulware")), n)
    d = rate("NegMAS, agent vs agent", lambda: negmas(BoulwareTBNegotiator), n)
    print(f"a NegMAS agent in parley: {b / d:.1f}× the sessions per second of the same kind of pairing in NegMAS")
    print(f"parley's built-in in NegMAS: {c / d:.2f}× NegMAS's own Boulware; built-ins alone in parley: {a / d:.0f}×")


if __name__ == "__main__":
    main()
