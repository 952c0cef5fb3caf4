"""Patterns: functions from a time span to events, with exact rational time.

The model is TidalCycles' and Strudel's: a pattern answers `query(begin, end)` with
the events ("haps") active in that span. Each hap has a `whole` (the event's full
extent, or None for continuous values), a `part` (the piece of it inside the query)
and a `value`. Time is in cycles (one cycle = one bar by default) and is always a
`fractions.Fraction`, so "a b c" divides a bar in exact thirds forever.

Every transformation is a small combinator on the query (shift or scale the time
asked for, then map the answers back), so dozens of operations come from a handful
of primitives. Pure Python: nothing here knows about audio or torch.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable, Iterable, NamedTuple


def F(x) -> Fraction:
    """Exact time from an int, Fraction, decimal string or float (floats via their shortest repr)."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError(f"time must be finite, got {x!r}")
        return Fraction(repr(x))
    return Fraction(x)


class Span(NamedTuple):
    begin: Fraction
    end: Fraction

    def cycles(self) -> list["Span"]:
        """The span cut at cycle boundaries (an empty span stays one piece)."""
        if self.begin == self.end:
            return [self]
        out, b = [], self.begin
        while b < self.end:
            nxt = min(Fraction(math.floor(b) + 1), self.end)
            out.append(Span(b, nxt))
            b = nxt
        return out

    def intersect(self, other: "Span") -> "Span | None":
        b, e = max(self.begin, other.begin), min(self.end, other.end)
        if b > e or (b == e and not (self.begin == self.end or other.begin == other.end)):
            return None
        return Span(b, e)

    def with_time(self, f: Callable[[Fraction], Fraction]) -> "Span":
        return Span(f(self.begin), f(self.end))


class Hap(NamedTuple):
    whole: Span | None
    part: Span
    value: Any

    def has_onset(self) -> bool:
        return self.whole is not None and self.whole.begin == self.part.begin

    def with_time(self, f) -> "Hap":
        return Hap(None if self.whole is None else self.whole.with_time(f), self.part.with_time(f), self.value)

    def with_value(self, v) -> "Hap":
        return Hap(self.whole, self.part, v)


class Pattern:
    def __init__(self, query: Callable[[Span], list[Hap]]):
        self._query = query

    # ---- querying ----------------------------------------------------------------------

    def query(self, begin, end) -> list[Hap]:
        return self._query(Span(F(begin), F(end)))

    def query_span(self, span: Span) -> list[Hap]:
        return self._query(span)

    def onsets(self, begin, end) -> list[Hap]:
        """Only the haps that start inside the span: what a sequencer triggers."""
        return [h for h in self.query(begin, end) if h.has_onset()]

    def first_cycle(self) -> list[Hap]:
        return self.query(0, 1)

    # ---- primitive combinators -----------------------------------------------------------

    def split_queries(self) -> "Pattern":
        """Query cycle by cycle: patterns defined per cycle need it."""
        return Pattern(lambda span: [h for s in span.cycles() for h in self._query(s)])

    def with_query_time(self, f) -> "Pattern":
        return Pattern(lambda span: self._query(span.with_time(f)))

    def with_hap_time(self, f) -> "Pattern":
        return Pattern(lambda span: [h.with_time(f) for h in self._query(span)])

    def fmap(self, f: Callable[[Any], Any]) -> "Pattern":
        return Pattern(lambda span: [h.with_value(f(h.value)) for h in self._query(span)])

    def filter_haps(self, keep: Callable[[Hap], bool]) -> "Pattern":
        return Pattern(lambda span: [h for h in self._query(span) if keep(h)])

    def app_left(self, other: "Pattern", op: Callable[[Any, Any], Any]) -> "Pattern":
        """Structure from the left: each left hap takes the values of the right haps it overlaps."""
        def query(span):
            out = []
            for h in self._query(span):
                for o in other.query_span(h.whole or h.part):
                    part = h.part.intersect(o.part)
                    if part is not None:
                        out.append(Hap(h.whole, part, op(h.value, o.value)))
            return out
        return Pattern(query)

    # ---- time ----------------------------------------------------------------------------

    def fast(self, factor) -> "Pattern":
        factor = F(factor)
        if factor == 0:
            return silence()
        if factor < 0:
            raise ValueError(f"fast: factor must not be negative, got {factor}")
        return self.with_query_time(lambda t: t * factor).with_hap_time(lambda t: t / factor)

    def slow(self, factor) -> "Pattern":
        factor = F(factor)
        if factor == 0:
            return silence()
        return self.fast(1 / factor)

    def early(self, offset) -> "Pattern":
        offset = F(offset)
        return self.with_query_time(lambda t: t + offset).with_hap_time(lambda t: t - offset)

    def late(self, offset) -> "Pattern":
        return self.early(-F(offset))

    def rev(self) -> "Pattern":
        """Each cycle played backwards."""
        def query(span):
            cycle = Fraction(math.floor(span.begin))
            nxt = cycle + 1

            def reflect(s: Span) -> Span:
                return Span(cycle + nxt - s.end, cycle + nxt - s.begin)
            return [Hap(None if h.whole is None else reflect(h.whole), reflect(h.part), h.value)
                    for h in self._query(reflect(span))]
        return Pattern(query).split_queries()

    def every(self, n: int, f: Callable[["Pattern"], "Pattern"]) -> "Pattern":
        """Apply f on every n-th cycle (the first of each n)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"every: n must be a whole number of cycles of at least 1, got {n!r}")
        changed = f(self)
        return Pattern(lambda span: (changed if math.floor(span.begin) % n == 0 else self).query_span(span)
                       ).split_queries()

    def degrade_by(self, amount: float, seed: int = 0) -> "Pattern":
        """Drop each event with probability `amount`, the same way every time it is queried."""
        amount = float(amount)
        if not 0.0 <= amount <= 1.0:
            raise ValueError(f"degrade_by: amount must be between 0 and 1, got {amount}")
        return self.filter_haps(lambda h: time_rand((h.whole or h.part).begin, seed) >= amount)

    def segment(self, n) -> "Pattern":
        """Sample a (continuous) pattern n times per cycle into discrete events."""
        return pure(True).fast(n).app_left(self, lambda _, v: v)

    def range(self, low, high) -> "Pattern":
        """Map values in 0..1 (the unipolar signals) to low..high."""
        return self.fmap(lambda v: low + v * (high - low))

    # ---- arithmetic: structure comes from the left, as in Tidal's `|+` ------------------------

    def _op(self, other, op) -> "Pattern":
        return self.app_left(reify(other), op)

    def __add__(self, other):
        return self._op(other, lambda a, b: a + b)

    def __radd__(self, other):
        return reify(other)._op(self, lambda a, b: a + b)

    def __sub__(self, other):
        return self._op(other, lambda a, b: a - b)

    def __rsub__(self, other):
        return reify(other)._op(self, lambda a, b: a - b)

    def __mul__(self, other):
        return self._op(other, lambda a, b: a * b)

    def __rmul__(self, other):
        return reify(other)._op(self, lambda a, b: a * b)

    def __truediv__(self, other):
        return self._op(other, lambda a, b: a / b)

    def __neg__(self):
        return self.fmap(lambda v: -v)

    def __repr__(self) -> str:
        haps = self.first_cycle()
        shown = ", ".join(f"{h.value!r}@{h.whole.begin}" if h.whole else f"~{h.value!r}" for h in haps[:8])
        return f"Pattern({shown}{', …' if len(haps) > 8 else ''})"


# ---- constructors ---------------------------------------------------------------------------

def silence() -> Pattern:
    return Pattern(lambda span: [])


def pure(value) -> Pattern:
    """One event per cycle holding `value`."""
    def query(span):
        out = []
        for s in span.cycles():
            c = Fraction(math.floor(s.begin))
            whole = Span(c, c + 1)
            part = whole.intersect(s)
            if part is not None:
                out.append(Hap(whole, part, value))
        return out
    return Pattern(query)


def reify(x) -> Pattern:
    return x if isinstance(x, Pattern) else pure(x)


def stack(*pats) -> Pattern:
    pats = [reify(p) for p in pats]
    return Pattern(lambda span: [h for p in pats for h in p.query_span(span)])


def slowcat(*pats) -> Pattern:
    """One pattern per cycle, in turn (mini-notation `< >`)."""
    pats = [reify(p) for p in pats]
    if not pats:
        return silence()

    def query(span):
        cycle = math.floor(span.begin)
        i = cycle % len(pats)
        # The chosen pattern's own cycles are counted only while it is playing.
        offset = Fraction(cycle - (cycle - i) // len(pats))
        return [h.with_time(lambda t: t + offset) for h in pats[i].query_span(span.with_time(lambda t: t - offset))]
    return Pattern(query).split_queries()


def cat(*pats) -> Pattern:
    return slowcat(*pats)


def timecat(*pairs: tuple[Any, Pattern]) -> Pattern:
    """Patterns squeezed into one cycle, each taking its weight's share (mini-notation `@`)."""
    pairs = [(F(w), reify(p)) for w, p in pairs if F(w) > 0]
    total = sum(w for w, _ in pairs)
    if total == 0:
        return silence()
    layers, begin = [], Fraction(0)
    for w, p in pairs:
        end = begin + w
        layers.append(_compress(p, begin / total, end / total))
        begin = end
    return stack(*layers)


def fastcat(*pats) -> Pattern:
    return timecat(*[(1, p) for p in pats])


def sequence(*values) -> Pattern:
    return fastcat(*values)


def _compress(pat: Pattern, b: Fraction, e: Fraction) -> Pattern:
    """The whole pattern's cycle squeezed into [b, e) of every cycle."""
    if b == e:
        return silence()
    width = e - b

    def query(span):
        cycle = Fraction(math.floor(span.begin))
        inside = span.intersect(Span(cycle + b, cycle + e))
        if inside is None:
            return []
        inner = Span(cycle + (inside.begin - cycle - b) / width, cycle + (inside.end - cycle - b) / width)
        return [h.with_time(lambda t: cycle + b + (t - cycle) * width) for h in pat.query_span(inner)]
    return Pattern(query).split_queries()


def polymeter(steps: int, *layers: list) -> Pattern:
    """Each layer's steps at `steps` per cycle (mini-notation `{ }`)."""
    return stack(*[fastcat(*layer).fast(Fraction(steps, len(layer))) for layer in layers if layer])


def bjorklund(k: int, n: int) -> list[bool]:
    """k onsets spread as evenly as possible over n steps (Toussaint's Euclidean rhythms)."""
    if n <= 0 or k <= 0:
        return [False] * max(n, 0)
    k = min(k, n)
    groups = [[True] for _ in range(k)] + [[False] for _ in range(n - k)]
    while True:
        ones = sum(1 for g in groups if g == groups[0])
        rest = len(groups) - ones
        if rest <= 1 or ones <= 1:
            break
        pairs = min(ones, rest)
        merged = [groups[i] + groups[ones + i] for i in range(pairs)]
        groups = merged + groups[pairs:ones] + groups[ones + pairs:]
    return [x for g in groups for x in g]


def euclid(pat, k: int, n: int, rotation: int = 0) -> Pattern:
    """`pat` on the onsets of a Euclidean rhythm (k of n steps, rotated left)."""
    for name, v in (("k", k), ("n", n), ("rotation", rotation)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValueError(f"euclid: {name} must be a whole number, got {v!r}")
    if n < 1:
        raise ValueError(f"euclid: n must be at least 1, got {n}")
    bits = bjorklund(k, n)
    if bits:
        r = rotation % n
        bits = bits[r:] + bits[:r]
    pat = reify(pat)
    return fastcat(*[pat if b else silence() for b in bits])


def time_rand(t: Fraction, seed: int = 0) -> float:
    """A deterministic pseudo-random number in [0, 1) for a point in time (Tidal-style xorshift)."""
    x = (int(math.floor((t - math.floor(t)) * 300)) + int(math.floor(t)) * 300 + 1 + seed * 7919) & 0xFFFFFFFF
    for _ in range(3):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
    return (x % 536870912) / 536870912


def choose_by_cycle(options: Iterable[Pattern], seed: int = 0) -> Pattern:
    """One of the options per cycle, chosen at random but the same each time (mini-notation `|`)."""
    options = [reify(o) for o in options]

    def query(span):
        i = int(time_rand(Fraction(math.floor(span.begin)), seed + 11) * len(options))
        return options[min(i, len(options) - 1)].query_span(span)
    return Pattern(query).split_queries()
