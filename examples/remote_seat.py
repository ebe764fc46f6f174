#!/usr/bin/env python3
"""Play one seat of a live `parley serve` session from a remote program.

Standard library only (urllib, json, time, argparse). The API is described in
docs/api.md and docs/openapi.json.

Usage:

    python3 examples/remote_seat.py URL SESSION_ID --token SEAT_TOKEN [options]
    PARLEY_TOKEN=SEAT_TOKEN python3 examples/remote_seat.py URL SESSION_ID

    URL          the server, e.g. http://127.0.0.1:7878
    SESSION_ID   the `id` returned by POST /api/sessions, e.g. s_4q9...
    --token T    the seat's token (`seats.<role>.token` in that answer); the
                 environment variable PARLEY_TOKEN is read when it is absent,
                 which keeps the token out of the process list
    --confide    tell the mediator this party's preferences when joining
                 (protocols with a mediator only)
    --exponent E concession exponent of the target (default 1: linear;
                 below 1 concedes late, above 1 early)
    --max-evals N  how many outcomes to evaluate with POST /evaluate at most
                 (default 300): the whole outcome space when it is that small,
                 otherwise a random sample of it
    --seed N     seed of the sample and of tie-breaking (default 0)
    --poll S     the longest pause between two looks at the view while it
                 is not this seat's turn (default 0.2; it starts at 10 ms
                 after each action and doubles)
    --quiet      print only the result

The seat joins (once), then loops: it reads its view (GET /api/sessions/{id})
and answers the `pending` request, if any:

  * `act` (direct talks): accept the standing offer when it is worth at least
    the current target (or at least the reservation value in the last round);
    otherwise offer the candidate outcome closest above the target;
  * `propose` (indirect talks): propose that same outcome to the mediator, or
    pass when it is the one already proposed;
  * `vote`: accept a text worth at least the target (or at least the
    reservation value in the last round);
  * `consent` (staged talks): consent to go direct. Once direct, a counter-offer
    may not be worth less to the seat than the default text, so it offers the
    default itself once its target falls to it.

The target falls with time, from the best candidate's utility to the seat's
reservation value: target(t) = best - (best - reservation) * t^(1/E), with
t = (round + 1) / rounds, one clock for the whole session.

A `409` answer means the request no longer fits the session (another party
acted first, the talks ended): the seat reads the view again and carries on.
Any other error ends the program with exit status 1 and the server's message.
When the session ends, the program prints the result and exits 0.

Mediator seats are not supported by this example (a mediator has no utility
to evaluate outcomes with).

Example, against a built-in Conceder (see examples/README.md):

    curl -s -X POST http://127.0.0.1:7878/api/sessions \\
      -H "Authorization: Bearer $PARLEY_CREATE_TOKEN" \\
      -H 'Content-Type: application/json' \\
      -d '{"scenario": "job-offer", "protocol": "saop", "rounds": 40,
           "roles": {"candidate": {"seat": "program"},
                     "employer": {"agent": "conceder"}}}'
    # -> {"id": "s_...", "seats": {"candidate": {"token": "..."}}, ...}
    PARLEY_TOKEN=... python3 examples/remote_seat.py http://127.0.0.1:7878 s_...
"""

import argparse
import itertools
import json
import os
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class ApiError(Exception):
    """An error answer from the server: its HTTP status and its message."""

    def __init__(self, status, message):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class Client:
    """A thin JSON-over-HTTP client for one seat of one session."""

    def __init__(self, base_url, session_id, token, timeout=30.0):
        self.base = base_url.rstrip("/")
        self.session = urllib.parse.quote(session_id, safe="")
        self.token = token
        self.timeout = timeout

    def request(self, method, path, body=None):
        """Send one request; return (status, decoded JSON body).

        Raises ApiError for any 4xx/5xx answer, with the server's `error` text.
        """
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.base}/api/sessions/{self.session}{path}", data=data, method=method
        )
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                message = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                message = raw.decode(errors="replace") or err.reason
            raise ApiError(err.code, message) from None

    def view(self):
        return self.request("GET", "")[1]

    def join(self, confide):
        return self.request("POST", "/join", {"confide": confide} if confide else {})

    def evaluate(self, outcome):
        return self.request("POST", "/evaluate", {"outcome": outcome})[1]["utility"]

    def act(self, action):
        return self.request("POST", "/actions", action)


class Seat:
    """The strategy: a time-dependent target over a set of evaluated candidates."""

    def __init__(self, client, view, exponent, max_evals, rng, log):
        self.client = client
        self.issues = view["scenario"]["issues"]  # [{"name", "values"}] in order
        self.names = [issue["name"] for issue in self.issues]
        role = view.get("role") or {}
        if role.get("kind") != "party":
            raise SystemExit(f"error: this example plays party seats, not {role.get('kind')!r}")
        self.reservation = float(role.get("reservation") or 0.0)
        self.exponent = exponent
        self.rng = rng
        self.log = log
        self.cache = {}  # outcome (tuple of labels, issue order) -> my utility
        self.last_proposal = None
        self.candidates = self._evaluate_candidates(max_evals)
        self.best = self.candidates[0][0]

    # ---- outcomes ----------------------------------------------------------
    def key(self, outcome):
        """An outcome as a tuple of labels in issue order.

        Views show outcomes as lists of labels; requests send them as objects
        from issue name to label. Accept either here.
        """
        if isinstance(outcome, dict):
            return tuple(outcome[name] for name in self.names)
        return tuple(outcome)

    def as_object(self, key):
        return dict(zip(self.names, key))

    def utility(self, outcome):
        """My utility of an outcome: from the cache, else from POST /evaluate."""
        key = self.key(outcome)
        if key not in self.cache:
            self.cache[key] = self.client.evaluate(self.as_object(key))
        return self.cache[key]

    def learn(self, view):
        """Every visible event with an outcome carries `my_utility`: cache it."""
        for event in view.get("events") or []:
            if event.get("outcome") is not None and event.get("my_utility") is not None:
                self.cache.setdefault(self.key(event["outcome"]), event["my_utility"])

    def _evaluate_candidates(self, max_evals):
        sizes = [len(issue["values"]) for issue in self.issues]
        space = 1
        for size in sizes:
            space *= size
        if space <= max_evals:
            keys = list(itertools.product(*(issue["values"] for issue in self.issues)))
            how = "every outcome"
        else:
            # Sample distinct outcomes (indices first, so that a huge space
            # costs nothing to sample from).
            seen = set()
            while len(seen) < max_evals:
                seen.add(tuple(self.rng.randrange(size) for size in sizes))
            keys = [
                tuple(issue["values"][i] for issue, i in zip(self.issues, idx))
                for idx in sorted(seen)
            ]
            how = f"a sample of {max_evals}"
        self.log(f"evaluating {how} of {space:,} outcomes ...")
        scored = sorted(((self.utility(k), k) for k in keys), reverse=True)
        self.log(f"best candidate {scored[0][0]:.3f}, reservation {self.reservation:.3f}")
        return scored

    # ---- the strategy ------------------------------------------------------
    def time(self, view):
        """Normalised time in [0, 1]: one clock for the whole session (staged talks
        do not reset it when they go direct)."""
        rounds = max(1, int(view.get("rounds") or 1))
        return min(1.0, (int(view.get("round") or 0) + 1) / rounds)

    def default(self, view):
        """Staged talks, once direct: the default text and its utility to me, if any."""
        for event in reversed(view.get("events") or []):
            if event.get("type") == "default" and event.get("outcome"):
                outcome = self.key(event["outcome"])
                u = event.get("my_utility")
                return outcome, (u if u is not None else self.utility(outcome))
        return None

    def target(self, t):
        low = min(self.reservation, self.best)
        return self.best - (self.best - low) * t ** (1.0 / self.exponent)

    def bid(self, t):
        """The candidate closest above the target (random among near ties)."""
        target = self.target(t)
        above = [(u, k) for u, k in self.candidates if u >= target] or self.candidates[:1]
        lowest = above[-1][0]
        near = [k for u, k in above if u <= lowest + 0.01]
        return self.rng.choice(near)

    def decide(self, view, pending):
        """The action answering `pending`, as a JSON-able dict."""
        t = self.time(view)
        target = self.target(t)
        last_round = t >= 1.0
        kind = pending.get("kind")

        if kind == "act":
            standing = pending.get("standing")
            my_bid = self.bid(t)
            # A counter-offer may not be worth less to me than the default text: once
            # my target falls to it, I offer the default itself.
            default = self.default(view)
            if default is not None and self.utility(my_bid) <= default[1]:
                my_bid = default[0]
            if standing is not None:
                u = pending.get("standing_utility")
                if u is None:
                    u = self.utility(standing)
                # Accept what is worth the target, or my own next bid (AC_next),
                # or, at the very end, anything better than no deal.
                if u >= min(target, self.utility(my_bid)) or (last_round and u >= self.reservation):
                    return {"type": "accept"}, f"accept standing offer worth {u:.3f} (target {target:.3f})"
            return (
                {"type": "offer", "outcome": self.as_object(my_bid)},
                f"offer worth {self.utility(my_bid):.3f} (target {target:.3f})",
            )

        if kind == "propose":
            my_bid = self.bid(t)
            if my_bid == self.last_proposal:
                return {"type": "pass"}, "pass"
            self.last_proposal = my_bid
            return (
                {"type": "propose", "outcome": self.as_object(my_bid)},
                f"propose outcome worth {self.utility(my_bid):.3f} (target {target:.3f})",
            )

        if kind == "vote":
            u = pending.get("text_utility")
            if u is None:
                u = self.utility(pending["text"])
            yes = u >= target or (last_round and u >= self.reservation)
            return {"type": "vote", "accept": yes}, f"vote {'yes' if yes else 'no'} on a text worth {u:.3f} (target {target:.3f})"

        if kind == "consent":
            return {"type": "consent", "accept": True}, "consent to direct talks"

        raise SystemExit(f"error: cannot answer a pending request of kind {kind!r} (mediator seats are not supported)")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Play one seat of a live parley session.")
    ap.add_argument("url", help="the server, e.g. http://127.0.0.1:7878")
    ap.add_argument("session", help="the session id")
    ap.add_argument("--token", default=os.environ.get("PARLEY_TOKEN"), help="the seat token (default: $PARLEY_TOKEN)")
    ap.add_argument("--confide", action="store_true", help="confide preferences to the mediator when joining")
    ap.add_argument("--exponent", type=float, default=1.0, help="concession exponent (default 1, linear)")
    ap.add_argument("--max-evals", type=int, default=300, help="outcomes to evaluate at most (default 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--poll", type=float, default=0.2, help="seconds between looks while waiting (default 0.2)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if not args.token:
        ap.error("no seat token: pass --token or set PARLEY_TOKEN")
    if args.exponent <= 0 or args.max_evals < 1:
        ap.error("--exponent must be > 0 and --max-evals >= 1")

    def log(message):
        if not args.quiet:
            print(message, flush=True)

    client = Client(args.url, args.session, args.token)
    try:
        # 1. Join. A 409 means this seat joined already (for example before
        #    this program restarted): carry on with the session as it is.
        try:
            client.join(args.confide)
            log(f"joined session {args.session}" + (" (confiding)" if args.confide else ""))
        except ApiError as err:
            if err.status != 409:
                raise
            log(f"already joined: {err.message}")

        # 2. Wait for the talks to start (every seat must join first).
        view = client.view()
        while view["status"] == "waiting":
            time.sleep(args.poll)
            view = client.view()

        seat = Seat(client, view, args.exponent, args.max_evals, random.Random(args.seed), log)

        # 3. Play until the session ends.
        acted = 0
        wait = 0.01  # first pause after acting; doubles up to --poll while idle
        while True:
            view = client.view()
            if view["status"] == "ended":
                break
            seat.learn(view)
            pending = view.get("pending")
            ratification = view.get("ratification")
            if not pending or (ratification and ratification.get("status") == "pending"):
                # Not our turn, or an acceptance waits for our principal.
                # The others usually answer within milliseconds: look again
                # soon, then less and less often.
                time.sleep(wait)
                wait = min(args.poll, wait * 2)
                continue
            wait = 0.01
            action, why = seat.decide(view, pending)
            try:
                status, answer = client.act(action)
            except ApiError as err:
                if err.status == 409:
                    # The request no longer fits (someone else moved first, the
                    # deadline passed): look at the view again.
                    log(f"round {view['round']}: {err.message}; reading the view again")
                    continue
                raise
            acted += 1
            if status == 202:
                log(f"round {view['round']}: {why}; waiting for the principal to ratify")
            else:
                receipt = (answer or {}).get("receipt") or {}
                log(f"round {view['round']}: {why} (receipt {str(receipt.get('hash', '?'))[:12]})")

        # 4. The result.
        result = view.get("result") or {}
        agreement = result.get("agreement")
        print(f"session {view['id']} ended after {acted} actions of ours: {result.get('reason')}")
        if agreement is not None:
            for name, value in seat.as_object(seat.key(agreement)).items():
                print(f"  {name}: {value}")
        else:
            print("  no agreement")
        if result.get("my_utility") is not None:
            print(f"  my utility: {result['my_utility']:.4f} (reservation {seat.reservation:.4f})")
        return 0
    except ApiError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except urllib.error.URLError as err:
        print(f"error: cannot reach {args.url}: {err.reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
