#!/usr/bin/env python3
"""Exact reference analyses of Genius negotiation scenarios.

An independent oracle for checking parley. It reads Genius XML scenario folders
(one domain file with root <negotiation_template>, one profile file with root
<utility_space> per party) and writes one JSON file per scenario in the format of
the shared corpus's `reference/` folder (see `reference/README.md` there and
`docs/corpus.md` in this repository).

Usage:
    python3 scripts/reference.py GENIUS_DIR OUT_REFERENCE_DIR [--only REL ...]
                                 [--check REFERENCE_DIR] [--check-only]
                                 [--max-outcomes N] [--max-work N]

GENIUS_DIR is either one scenario folder (written to OUT/<folder name>.json) or a
tree such as `genius/` (every folder holding a domain file is a scenario; the JSON
goes to OUT/<relative path>.json). `--only REL` restricts a tree run to the given
relative folders (e.g. `--only y2012/EnergyA other/pie`).

`--check REFERENCE_DIR` compares the JSON files in OUT with those in REFERENCE_DIR
with the pass criterion of the reference README (distinct Pareto vectors equal as
sets within 1e-6; nash / kalai_smorodinsky / max_welfare values and opposition within
1e-6; reserved, outcome_count, issues and parties equal; published frontiers equal
within 1e-6), prints a per-file summary and exits with status 1 on any failure.
`--check-only` skips the analysis and only compares what is already in OUT.

Semantics (Genius), as in the shared reference README:
  * U(x) = sum_i w_i e_i(x_i).  Discrete issue: e(v) = evaluation(v) / (max evaluation
    of that issue in the profile), or 0 when that max is below 1e-5; a value listed
    twice takes its last evaluation.  Integer issue with <evaluator ftype="linear"
    slope=s offset=o> (legacy: parameter1=s, parameter0=o):
    e(v) = clamp(s * (v - lowerbound) + o, 0, 1).
  * Profile issues are matched to domain issues by their `index` attribute, not by name.
  * Weights are used as given; weights whose index is not an issue are ignored; if
    the issue weights do not sum to 1 (|sum - 1| > 1e-9) they are divided by their sum.
  * Reservation value defaults to 0; discounting is ignored.
  * Every profile file in the folder is a party; parties are sorted by file name.
    Other XML files (e.g. root <Tournament>) are ignored with a note.
  * Outcomes: the cartesian product of the domain issues, in domain order, last issue
    fastest.  "Index" below is the position in that enumeration.
  * pareto: the distinct non-dominated utility vectors (reservation values play no
    part), each with the lowest-index outcome that has it; listed in decreasing
    lexicographic order of the written (float) vectors.
  * Rational outcome: u_i >= r_i for every party i.
  * nash: rational outcome maximising prod(u_i - r_i); max_welfare: rational outcome
    maximising sum(u_i) (ties: lowest index for both).  kalai_smorodinsky: rational
    Pareto outcome maximising min_i (u_i - r_i) / (B_i - r_i), B_i = max u_i over
    rational outcomes (ratio 1 when B_i == r_i); ties: the first in the written
    `pareto` list.  All null when no outcome is rational.
  * opposition: min over all outcomes of the Euclidean distance to (max u_1, ..., max u_n).
  * Folders whose profiles are nonlinear (hyperRectangle) get only `published_pareto`,
    read from their pareto.xml (one "u1, u2" line per point), if they have one.
  * Skipped with a printed reason: real-valued issues, nonlinear profiles without
    pareto.xml, unreadable numbers, more than --max-outcomes outcomes (2,000,000) or more
    than --max-work outcomes x parties (10,000,000; the pure-Python n-party frontier
    is quadratic).

All decisions (dominance, maxima, ties, rationality) are exact: every utility is a
rational number built from the XML decimal strings with fractions.Fraction, and each
party's utilities are held as Python integers over one common denominator.  The
frontier is built issue by issue (Pareto(A + B) is contained in Pareto(A) + Pareto(B)
for additive utilities); Nash, welfare, B_i and opposition scan every outcome.

The floats written to the JSON are computed afterwards, for the chosen outcomes only,
the way a straightforward double-precision (numpy) implementation computes them, so
that the files agree with the shared references to the last digit: utility = sum over
issues in domain order of float(w_i) * (float(eval) / float(max)) (w_i already divided
by the weight sum, exactly; integer issues: float(w_i) * float(exact e)); sums over
parties in numpy's pairwise order.

Standard library only.  This script must not import parley or negmas.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from fractions import Fraction

MAX_OUTCOMES = 2_000_000
# outcomes x parties above which the n-party frontier is too slow in pure Python
MAX_WORK = 10_000_000
TOL = 1e-6
EVAL_ZERO = Fraction(1, 10 ** 5)  # Genius: a max evaluation below 1e-5 evaluates to 0
WEIGHT_TOL = Fraction(1, 10 ** 9)
CLOSE = Fraction(1, 10 ** 11)


class Skip(Exception):
    """The folder cannot be analysed exactly; the message says why."""


# --------------------------------------------------------------------------- XML


def read_xml(path):
    """Parse an XML file; return the root element, or None if it is not XML."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    data = data.lstrip()
    try:
        return ET.fromstring(data)
    except ET.ParseError:
        pass
    # Genius's own reader is lenient: accept a bare '&' (e.g. value="the good, the bad
    # & the ugly" in some template files), an XML declaration that is not at the very
    # start (after a comment), and Windows-1252 / Latin-1 bytes.
    fixed = re.sub(rb"&(?!(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#x[0-9A-Fa-f]+);)", b"&amp;", data)
    fixed = re.sub(rb"<\?xml[^>]*\?>", b"", fixed)
    for encoding in (None, "cp1252", "latin-1"):
        try:
            candidate = fixed if encoding is None else fixed.decode(encoding).encode("utf-8")
            return ET.fromstring(candidate)
        except (ET.ParseError, ValueError):
            continue
    return None


def attr(el, *names):
    for n in names:
        v = el.get(n)
        if v is not None:
            return v
    return None


def index_of(el, what):
    try:
        return int(el.get("index").strip())
    except (AttributeError, ValueError) as exc:
        raise Skip(f"{what}: missing or unreadable index {el.get('index')!r}") from exc


def num(text, what):
    try:
        return Fraction(text.strip())
    except (ValueError, ZeroDivisionError, AttributeError) as exc:
        raise Skip(f"{what}: cannot read number {text!r}") from exc


def issue_kind(el):
    for key in ("etype", "type", "vtype"):
        v = el.get(key)
        if v and v.lower() in ("discrete", "integer", "real"):
            return v.lower()
    if el.find("item") is not None:
        return "discrete"
    if attr(el, "lowerbound", "upperbound") is not None or el.find("range") is not None:
        return "integer"
    return "discrete"


def int_bounds(el, where):
    lo = attr(el, "lowerbound", "lowerBound")
    hi = attr(el, "upperbound", "upperBound")
    rng = el.find("range")
    if (lo is None or hi is None) and rng is not None:
        lo = attr(rng, "lowerbound", "lowerBound")
        hi = attr(rng, "upperbound", "upperBound")
    if lo is None or hi is None:
        raise Skip(f"{where}: integer issue without bounds")
    lo_f, hi_f = num(lo, where), num(hi, where)
    if lo_f.denominator != 1 or hi_f.denominator != 1:
        raise Skip(f"{where}: integer issue with non-integer bounds")
    return int(lo_f), int(hi_f)


class Issue:
    def __init__(self, index, name, kind, values, lower=None):
        self.index = index
        self.name = name
        self.kind = kind  # "discrete" | "integer"
        self.values = values  # list of str (discrete) or int (integer)
        self.lower = lower


def read_domain(root, fname):
    issues = []
    notes = []
    for el in root.iter("issue"):
        name = el.get("name", "")
        index = index_of(el, f"{fname}: issue {name!r}")
        kind = issue_kind(el)
        where = f"{fname}: issue {name!r}"
        if kind == "real":
            raise Skip(f"{where} is real-valued (not enumerable)")
        if kind == "integer":
            lo, hi = int_bounds(el, where)
            if hi < lo:
                raise Skip(f"{where}: empty integer range")
            issues.append(Issue(index, name, "integer", list(range(lo, hi + 1)), lo))
        else:
            values = [it.get("value") for it in el.findall("item")]
            if any(v is None for v in values):
                raise Skip(f"{where}: item without value")
            if not values:
                raise Skip(f"{where}: discrete issue without values")
            if len(set(values)) != len(values):
                notes.append(f"domain: issue {name!r} lists a value twice")
            issues.append(Issue(index, name, "discrete", values))
    if not issues:
        raise Skip(f"{fname}: domain without issues")
    if len({i.index for i in issues}) != len(issues):
        raise Skip(f"{fname}: two domain issues share an index")
    return issues, notes


class Party:
    """One profile: exact per-issue contribution tables and float tables."""

    def __init__(self, stem):
        self.stem = stem
        self.notes = []
        self.renormalized = False
        self.reserved = Fraction(0)
        self.exact = []  # per domain issue: list of Fraction contributions w_i*e_i(v)
        self.floats = []  # per domain issue: list of float contributions
        self.denominator = 1
        self.tables = []  # per domain issue: list of int numerators over denominator
        self.res_num = 0


def read_profile(root, stem, issues):
    p = Party(stem)
    if (root.get("type") or "").lower() == "nonlinear" or root.find(".//hyperRectangle") is not None:
        raise Skip(f"{stem}: nonlinear profile")
    res = root.find(".//reservation")
    if res is not None and res.get("value") is not None:
        p.reserved = num(res.get("value"), f"{stem}: reservation")
    by_index = {}
    for el in root.iter("issue"):
        by_index[index_of(el, f"{stem}: issue {el.get('name')!r}")] = el
    weights = {}
    for el in root.iter("weight"):
        if el.get("index") is None or el.get("value") is None:
            continue
        weights[index_of(el, f"{stem}: weight")] = num(el.get("value"), f"{stem}: weight")
    domain_idx = [i.index for i in issues]
    ignored = sorted(k for k in weights if k not in domain_idx)
    if ignored:
        p.notes.append(f"{stem}: weights of non-issue objectives {ignored} ignored")
    w = []
    for iss in issues:
        if iss.index not in weights:
            raise Skip(f"{stem}: no weight for issue {iss.name!r} (index {iss.index})")
        w.append(weights[iss.index])
    total = sum(w, Fraction(0))
    if total <= 0:
        raise Skip(f"{stem}: issue weights sum to {float(total)}")
    if abs(total - 1) > WEIGHT_TOL:
        p.renormalized = True
        p.notes.append(f"{stem}: weights summed to {float(total)!r}; divided by the sum")
        w = [x / total for x in w]
    w_float = [float(x) for x in w]

    for iss, wi, wf in zip(issues, w, w_float):
        el = by_index.get(iss.index)
        if el is None:
            raise Skip(f"{stem}: no evaluation for issue {iss.name!r} (index {iss.index})")
        pname = el.get("name")
        if pname is not None and pname != iss.name:
            p.notes.append(
                f"{stem}: issue {iss.index} is named {pname!r} here but {iss.name!r} in the "
                "domain (matched by index, as Genius does)"
            )
        if iss.kind == "discrete":
            evals = {}
            for it in el.findall("item"):
                v = it.get("value")
                e = it.get("evaluation")
                if v is None:
                    continue
                ev = num(e, f"{stem}: issue {iss.name!r} value {v!r}") if e is not None else Fraction(0)
                if v in evals:
                    p.notes.append(
                        f"{stem}: issue {iss.name!r} value {v!r} is listed twice "
                        f"({float(evals[v])!r} then {float(ev)!r}); the last is used, as Genius does"
                    )
                evals[v] = ev
            missing = [v for v in iss.values if v not in evals]
            if missing:
                p.notes.append(
                    f"{stem}: issue {iss.name!r} has no evaluation for {missing}; they evaluate to 0"
                )
            mx = max(evals.values()) if evals else Fraction(0)
            if mx < EVAL_ZERO:
                p.notes.append(
                    f"{stem}: issue {iss.name!r} has max evaluation {float(mx)!r} (< 1e-5): "
                    "it evaluates to 0, as in Genius"
                )
                p.exact.append([Fraction(0)] * len(iss.values))
                p.floats.append([0.0] * len(iss.values))
            else:
                ex, fl = [], []
                mf = float(mx)
                for v in iss.values:
                    ev = evals.get(v, Fraction(0))
                    ex.append(wi * ev / mx)
                    fl.append(wf * (float(ev) / mf))
                p.exact.append(ex)
                p.floats.append(fl)
        else:  # integer
            ev_el = el.find("evaluator")
            if ev_el is None:
                raise Skip(f"{stem}: integer issue {iss.name!r} without evaluator")
            ftype = (ev_el.get("ftype") or "").lower()
            if ftype != "linear":
                raise Skip(f"{stem}: integer issue {iss.name!r} with evaluator ftype {ftype!r}")
            s, o = ev_el.get("slope"), ev_el.get("offset")
            if s is None and o is None:
                s, o = ev_el.get("parameter1"), ev_el.get("parameter0")
                if s is None or o is None:
                    raise Skip(f"{stem}: integer issue {iss.name!r}: linear evaluator without slope/offset")
                p.notes.append(f"{stem}: issue {iss.name!r} uses legacy parameter1/parameter0 as slope/offset")
            if s is None or o is None:
                raise Skip(f"{stem}: integer issue {iss.name!r}: linear evaluator without slope/offset")
            s = num(s, f"{stem}: slope")
            o = num(o, f"{stem}: offset")
            ex, fl = [], []
            for v in iss.values:
                e = s * (v - iss.lower) + o
                e = min(Fraction(1), max(Fraction(0), e))
                ex.append(wi * e)
                fl.append(wf * float(e))
            p.exact.append(ex)
            p.floats.append(fl)

    den = p.reserved.denominator
    for col in p.exact:
        for c in col:
            den = math.lcm(den, c.denominator)
    p.denominator = den
    p.tables = [[int(c * den) for c in col] for col in p.exact]
    p.res_num = int(p.reserved * den)
    return p


# ----------------------------------------------------------------------- analysis


def pareto_filter(cands, n):
    """cands: dict vector -> index tuple (distinct vectors).  Returns the
    non-dominated (vector, index) pairs in decreasing lexicographic order."""
    items = sorted(cands.items(), key=lambda kv: kv[0], reverse=True)
    out = []
    if n == 1:
        return items[:1]
    if n == 2:
        best = None
        for vec, idx in items:
            if best is None or vec[1] > best:
                out.append((vec, idx))
                best = vec[1]
        return out
    # n >= 3: a dominator is lexicographically greater, so it was seen before; it
    # suffices to test against the kept (non-dominated) vectors.
    kept = []
    rng = range(1, n)
    for vec, idx in items:
        dominated = False
        for f in kept:
            for k in rng:
                if f[k] < vec[k]:
                    break
            else:
                dominated = True
                break
        if not dominated:
            kept.append(vec)
            out.append((vec, idx))
    return out


def pareto_front(parties, issues):
    """Exact Pareto front of an additive (linear) profile set.

    Pareto(A + B) is contained in Pareto(A) + Pareto(B) (Minkowski sums of the
    per-issue contribution vectors), so the front is built issue by issue.  For equal
    vectors the lexicographically smallest index tuple (= lowest outcome index) is kept.
    """
    n = len(parties)
    front = [(tuple([0] * n), ())]
    for k in range(len(issues)):
        vals = {}
        for j in range(len(issues[k].values)):
            vec = tuple(p.tables[k][j] for p in parties)
            if vec not in vals:
                vals[vec] = (j,)
        per_issue = pareto_filter(vals, n)
        cands = {}
        for vec, idx in front:
            for v2, (j,) in per_issue:
                nv = tuple(a + b for a, b in zip(vec, v2))
                ni = idx + (j,)
                old = cands.get(nv)
                if old is None or ni < old:
                    cands[nv] = ni
        front = pareto_filter(cands, n)
    return front


def columns(party):
    col = [0]
    for table in party.tables:
        col = [a + b for a in col for b in table]
    return col


def decode(flat, sizes):
    idx = []
    for s in reversed(sizes):
        flat, r = divmod(flat, s)
        idx.append(r)
    return tuple(reversed(idx))


def fsum_pairwise(a):
    """Float sum in the order numpy's pairwise summation uses for short arrays
    (sequential below 8 terms, eight interleaved partial sums up to 128), so that
    the written floats agree to the last digit with a numpy-based computation."""
    n = len(a)
    if n < 8:
        s = 0.0
        for x in a:
            s += x
        return s
    if n > 128:
        m = n // 2
        m -= m % 8
        return fsum_pairwise(a[:m]) + fsum_pairwise(a[m:])
    r = list(a[:8])
    i = 8
    while i + 8 <= n:
        for j in range(8):
            r[j] += a[i + j]
        i += 8
    s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        s += a[i]
        i += 1
    return s


def float_utils(parties, idx):
    out = []
    for p in parties:
        u = 0.0
        for k, j in enumerate(idx):
            u += p.floats[k][j]
        out.append(u)
    return out


def close_pairs(col, den):
    vals = sorted(set(col))
    limit = Fraction(den) * CLOSE
    return sum(1 for a, b in zip(vals, vals[1:]) if (b - a) < limit)


def analyse(folder, name):
    """The reference analysis of one scenario folder (a dict); raises Skip."""
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(".xml"))
    domain = None
    profiles = []
    file_notes = []
    has_pareto = "pareto.xml" in files
    for f in files:
        if f == "pareto.xml":
            continue
        root = read_xml(os.path.join(folder, f))
        if root is None:
            file_notes.append(f"ignored {f} (not well-formed XML)")
            continue
        if root.tag == "negotiation_template":
            if domain is not None:
                raise Skip(f"two domain files ({domain[0]}, {f})")
            domain = (f, root)
        elif root.tag == "utility_space":
            profiles.append((f, root))
        else:
            file_notes.append(f"ignored {f} (root <{root.tag}>)")
    if domain is None:
        raise Skip("no domain file (root <negotiation_template>)")
    if not profiles:
        raise Skip("no profile files (root <utility_space>)")

    nonlinear = any(
        (r.get("type") or "").lower() == "nonlinear" or r.find(".//hyperRectangle") is not None
        for _, r in profiles
    )
    if nonlinear:
        if has_pareto:
            return published(folder, name)
        raise Skip("nonlinear profiles and no published pareto.xml")

    issues, dom_notes = read_domain(domain[1], domain[0])
    sizes = [len(i.values) for i in issues]
    count = math.prod(sizes)
    if count > MAX_OUTCOMES:
        raise Skip(f"{count} outcomes (> {MAX_OUTCOMES})")
    if count * len(profiles) > MAX_WORK:
        raise Skip(f"{count} outcomes x {len(profiles)} parties (> {MAX_WORK}): too large for this oracle")

    parties = []
    for f, root in profiles:
        parties.append(read_profile(root, f[:-4], issues))
    n = len(parties)

    cols = [columns(p) for p in parties]
    res = [p.res_num for p in parties]
    L = 1
    for p in parties:
        L = math.lcm(L, p.denominator)
    mult = [L // p.denominator for p in parties]

    # maxima over all outcomes (opposition) and over rational outcomes (KS)
    best_all = [max(c) for c in cols]

    nash_i = welfare_i = None
    nash_v = welfare_v = None
    best_rat = best_rat_i = None
    opp_i, opp_v = None, None
    if n == 2:
        c0, c1 = cols
        r0, r1 = res
        m0, m1 = mult
        M0, M1 = best_all
        b0 = b1 = None
        for i, (a, b) in enumerate(zip(c0, c1)):
            d = ((M0 - a) * m0) ** 2 + ((M1 - b) * m1) ** 2
            if opp_v is None or d < opp_v:
                opp_v, opp_i = d, i
            if a >= r0 and b >= r1:
                pr = (a - r0) * (b - r1)
                if nash_v is None or pr > nash_v:
                    nash_v, nash_i = pr, i
                wv = a * m0 + b * m1
                if welfare_v is None or wv > welfare_v:
                    welfare_v, welfare_i = wv, i
                if b0 is None or a > b0:
                    b0, b0_i = a, i
                if b1 is None or b > b1:
                    b1, b1_i = b, i
        if b0 is not None:
            best_rat, best_rat_i = [b0, b1], [b0_i, b1_i]
    else:
        bmax = None
        for i, vec in enumerate(zip(*cols)):
            d = sum(((M - a) * m) ** 2 for M, a, m in zip(best_all, vec, mult))
            if opp_v is None or d < opp_v:
                opp_v, opp_i = d, i
            if all(a >= r for a, r in zip(vec, res)):
                pr = 1
                for a, r in zip(vec, res):
                    pr *= a - r
                if nash_v is None or pr > nash_v:
                    nash_v, nash_i = pr, i
                wv = sum(a * m for a, m in zip(vec, mult))
                if welfare_v is None or wv > welfare_v:
                    welfare_v, welfare_i = wv, i
                if bmax is None:
                    bmax, bmax_i = list(vec), [i] * n
                else:
                    for k in range(n):
                        if vec[k] > bmax[k]:
                            bmax[k], bmax_i[k] = vec[k], i
        best_rat, best_rat_i = bmax, (bmax_i if bmax is not None else None)

    front = pareto_front(parties, issues)
    # listed by decreasing float utility vector (ties: decreasing exact vector)
    listed = sorted(((float_utils(parties, idx), vec, idx) for vec, idx in front), reverse=True)

    def outcome_of(idx):
        return [iss.values[j] for iss, j in zip(issues, idx)]

    rf = [float(p.reserved) for p in parties]

    def point(idx, value):
        return {"value": value, "utilities": float_utils(parties, idx), "outcome": outcome_of(idx)}

    nash = ks = welfare = None
    if nash_i is not None:
        idx = decode(nash_i, sizes)
        u = float_utils(parties, idx)
        v = 1.0
        for a, r in zip(u, rf):
            v *= a - r
        nash = point(idx, v)
        idx = decode(welfare_i, sizes)
        welfare = point(idx, fsum_pairwise(float_utils(parties, idx)))
        # Kalai-Smorodinsky over rational Pareto outcomes
        best_k = None
        # ties: the first in the order of the written `pareto` list
        for _, vec, idx in listed:
            if any(a < r for a, r in zip(vec, res)):
                continue
            ratios = [
                Fraction(1) if b == r else Fraction(a - r, b - r)
                for a, r, b in zip(vec, res, best_rat)
            ]
            val = min(ratios)
            if best_k is None or val > best_k[0]:
                best_k = (val, idx)
        # float value: B_i as the float utility of the first rational outcome attaining it
        bf = [float_utils(parties, decode(i, sizes))[k] for k, i in enumerate(best_rat_i)]
        idx = best_k[1]
        u = float_utils(parties, idx)
        vals = []
        for k in range(n):
            if best_rat[k] == res[k]:
                vals.append(1.0)
            else:
                vals.append((u[k] - rf[k]) / (bf[k] - rf[k]))
        ks = point(idx, min(vals))

    # opposition (exact argmin, float value)
    oidx = decode(opp_i, sizes)
    ou = float_utils(parties, oidx)
    maxf = []
    for k, (c, M) in enumerate(zip(cols, best_all)):
        at = [i for i, a in enumerate(c) if a == M]
        maxf.append(max(float_utils(parties, decode(i, sizes))[k] for i in at[:1000]))
    opposition = math.sqrt(fsum_pairwise([(M - a) ** 2 for M, a in zip(maxf, ou)]))

    notes = list(file_notes) + dom_notes
    for p in parties:
        notes.extend(p.notes)
    for p, c in zip(parties, cols):
        k = close_pairs(c, p.denominator)
        if k:
            notes.append(f"{p.stem}: {k} pair(s) of different utilities are closer than 1e-11 (decided exactly)")

    pareto = [{"utilities": fu, "outcome": outcome_of(idx)} for fu, _, idx in listed]
    return {
        "name": name,
        "parties": [p.stem for p in parties],
        "issues": [{"name": i.name, "values": i.values} for i in issues],
        "outcome_count": count,
        "reserved": rf,
        "pareto": pareto,
        "nash": nash,
        "kalai_smorodinsky": ks,
        "max_welfare": welfare,
        "opposition": opposition,
        "weights_renormalized": any(p.renormalized for p in parties),
        "notes": notes,
    }


def published(folder, name):
    pts = []
    with open(os.path.join(folder, "pareto.xml"), encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            parts = [x.strip() for x in line.split(",")]
            try:
                pts.append([float(x) for x in parts])
            except ValueError as exc:
                raise Skip(f"pareto.xml: cannot read line {line!r}") from exc
    if not pts:
        raise Skip("pareto.xml is empty")
    return {"name": name, "published_pareto": pts}


# ------------------------------------------------------------------------ output


def dumps(obj):
    j = lambda x: json.dumps(x, ensure_ascii=False)
    if "published_pareto" in obj:
        pts = ",\n  ".join(j(p) for p in obj["published_pareto"])
        return "{" + f'"name": {j(obj["name"])}, "published_pareto": [{pts}]' + "}\n"
    lines = ["{"]
    lines.append(f'"name": {j(obj["name"])},')
    lines.append(f'"parties": {j(obj["parties"])},')
    lines.append('"issues": [')
    lines.append(",\n".join("  " + j(i) for i in obj["issues"]))
    lines.append("],")
    lines.append(f'"outcome_count": {obj["outcome_count"]},')
    lines.append(f'"reserved": {j(obj["reserved"])},')
    lines.append('"pareto": [')
    lines.append(",\n".join("  " + j(p) for p in obj["pareto"]))
    lines.append("],")
    for key in ("nash", "kalai_smorodinsky", "max_welfare", "opposition", "weights_renormalized"):
        lines.append(f'"{key}": {j(obj[key])},')
    lines.append(f'"notes": {j(obj["notes"])}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def is_scenario(folder):
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    for f in names:
        if f.lower().endswith(".xml") and f != "pareto.xml":
            root = read_xml(os.path.join(folder, f))
            if root is not None and root.tag == "negotiation_template":
                return True
    return False


def find_scenarios(genius_dir):
    """Relative paths ('' for the folder itself) of scenario folders."""
    if is_scenario(genius_dir):
        return [""]
    out = []
    for dp, dn, fn in os.walk(genius_dir):
        dn.sort()
        if dp != genius_dir and is_scenario(dp):
            out.append(os.path.relpath(dp, genius_dir).replace(os.sep, "/"))
    return sorted(out)


def generate(genius_dir, out_dir, only):
    genius_dir = os.path.abspath(genius_dir)
    rels = find_scenarios(genius_dir)
    if only:
        wanted = {o.strip("/") for o in only}
        rels = [r for r in rels if r in wanted]
        for w in sorted(wanted - set(rels)):
            print(f"not a scenario folder under {genius_dir}: {w}")
    written, skipped = [], []
    t_all = time.time()
    for rel in rels:
        folder = os.path.join(genius_dir, rel) if rel else genius_dir
        name = os.path.basename(folder.rstrip("/"))
        out_rel = rel if rel else name
        t0 = time.time()
        try:
            result = analyse(folder, name)
        except Skip as exc:
            print(f"skip  {out_rel}: {exc}")
            skipped.append((out_rel, str(exc)))
            continue
        path = os.path.join(out_dir, out_rel + ".json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(dumps(result))
        kind = "published" if "published_pareto" in result else f"{result['outcome_count']} outcomes"
        print(f"wrote {out_rel}.json ({kind}, {time.time() - t0:.2f}s)")
        written.append(out_rel)
    print(f"{len(written)} written, {len(skipped)} skipped in {time.time() - t_all:.1f}s")
    return rels, written, skipped


# ------------------------------------------------------------------------- check


def vec_sets_equal(a, b, tol=TOL):
    if len(a) != len(b):
        return False, f"{len(a)} vs {len(b)} vectors"
    if not a:
        return True, ""
    if any(len(x) != len(a[0]) for x in a + b):
        return False, "vector lengths differ"
    bs = sorted(b)
    firsts = [x[0] for x in bs]
    used = [False] * len(bs)
    for x in a:
        lo = bisect.bisect_left(firsts, x[0] - tol)
        hi = bisect.bisect_right(firsts, x[0] + tol)
        hit = None
        for i in range(lo, hi):
            if not used[i] and all(abs(p - q) <= tol for p, q in zip(x, bs[i])):
                hit = i
                break
        if hit is None:
            return False, f"no match for {x}"
        used[hit] = True
    return True, ""


def compare(got, ref):
    """Return (ok, reasons, info)."""
    reasons, info = [], []
    if "published_pareto" in ref or "published_pareto" in got:
        a, b = got.get("published_pareto"), ref.get("published_pareto")
        if a is None or b is None:
            return False, ["one has published_pareto, the other not"], info
        if len(a) != len(b) or any(
            len(p) != len(q) or any(abs(x - y) > TOL for x, y in zip(p, q)) for p, q in zip(a, b)
        ):
            reasons.append("published_pareto differs")
        return not reasons, reasons, info
    for key in ("parties", "issues", "outcome_count", "reserved"):
        if got.get(key) != ref.get(key):
            reasons.append(f"{key} differs")
    ga = [p["utilities"] for p in got.get("pareto", [])]
    ra = [p["utilities"] for p in ref.get("pareto", [])]
    ok, why = vec_sets_equal(ga, ra)
    if not ok:
        reasons.append(f"pareto differs ({why})")
    for key in ("nash", "kalai_smorodinsky", "max_welfare"):
        g, r = got.get(key), ref.get(key)
        if (g is None) != (r is None):
            reasons.append(f"{key}: one is null")
        elif g is not None:
            if abs(g["value"] - r["value"]) > TOL:
                reasons.append(f"{key}.value {g['value']} vs {r['value']}")
            elif g["outcome"] != r["outcome"]:
                info.append(f"{key} outcome differs")
    go, ro = got.get("opposition"), ref.get("opposition")
    if go is None or ro is None or abs(go - ro) > TOL:
        reasons.append(f"opposition {go} vs {ro}")
    if not reasons:
        # informational: representative outcomes of the Pareto vectors
        rmap = {tuple(round(x, 9) for x in p["utilities"]): p["outcome"] for p in ref["pareto"]}
        diff = sum(
            1 for p in got["pareto"] if rmap.get(tuple(round(x, 9) for x in p["utilities"]), p["outcome"]) != p["outcome"]
        )
        if diff:
            info.append(f"{diff} pareto outcome(s) differ")
        if got.get("weights_renormalized") != ref.get("weights_renormalized"):
            info.append("weights_renormalized differs")
    return not reasons, reasons, info


def check(genius_dir, out_dir, ref_dir, only, in_scope):
    ref_files = []
    for dp, dn, fn in os.walk(ref_dir):
        for f in fn:
            if f.endswith(".json"):
                ref_files.append(os.path.relpath(os.path.join(dp, f), ref_dir).replace(os.sep, "/")[:-5])
    ref_files.sort()
    scope = set(in_scope)
    if only:
        wanted = {o.strip("/") for o in only}
        scope &= wanted
    passed, failed, missing, outside = [], [], [], []
    for rel in ref_files:
        if rel not in scope:
            outside.append(rel)
            continue
        gp = os.path.join(out_dir, rel + ".json")
        if not os.path.exists(gp):
            print(f"MISSING {rel}")
            missing.append(rel)
            continue
        with open(gp, encoding="utf-8") as fh:
            got = json.load(fh)
        with open(os.path.join(ref_dir, rel + ".json"), encoding="utf-8") as fh:
            ref = json.load(fh)
        ok, reasons, info = compare(got, ref)
        extra = f"  ({'; '.join(info)})" if info else ""
        if ok:
            print(f"pass    {rel}{extra}")
            passed.append(rel)
        else:
            print(f"FAIL    {rel}: {'; '.join(reasons)}")
            failed.append(rel)
    extra = sorted(
        r for r in scope if r not in set(ref_files) and os.path.exists(os.path.join(out_dir, r + ".json"))
    )
    for r in extra:
        print(f"extra   {r} (no reference file to compare with)")
    print(
        f"check: {len(passed)} pass, {len(failed)} fail, {len(missing)} missing, "
        f"{len(extra)} without reference; {len(outside)} reference file(s) not compared "
        f"(scenario folder not in {genius_dir} or not selected)"
    )
    return not failed and not missing


def main(argv=None):
    global MAX_OUTCOMES, MAX_WORK
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("genius_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--only", nargs="+", metavar="REL", help="relative scenario folders to analyse")
    ap.add_argument("--check", metavar="REFERENCE_DIR", help="compare the output with these references")
    ap.add_argument("--check-only", action="store_true", help="with --check: do not analyse, only compare")
    ap.add_argument("--max-outcomes", type=int, default=MAX_OUTCOMES, help=f"skip larger scenarios (default {MAX_OUTCOMES})")
    ap.add_argument("--max-work", type=int, default=MAX_WORK, help=f"skip when outcomes x parties is larger (default {MAX_WORK})")
    args = ap.parse_args(argv)
    MAX_WORK = args.max_work
    MAX_OUTCOMES = args.max_outcomes
    if not os.path.isdir(args.genius_dir):
        ap.error(f"not a folder: {args.genius_dir}")
    if args.check_only and not args.check:
        ap.error("--check-only needs --check")
    t0 = time.time()
    if args.check_only:
        rels = find_scenarios(os.path.abspath(args.genius_dir))
    else:
        rels, _, _ = generate(args.genius_dir, args.out_dir, args.only)
    if rels == [""]:
        rels = [os.path.basename(os.path.abspath(args.genius_dir))]
    if args.check:
        ok = check(args.genius_dir, args.out_dir, args.check, args.only, rels)
        print(f"total time {time.time() - t0:.1f}s")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
