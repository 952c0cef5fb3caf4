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
from typing import Any, Callable, Iterable

from .span import F, Hap, Span


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

    def filter_values(self, keep: Callable[[Any], bool]) -> "Pattern":
        return self.filter_haps(lambda h: keep(h.value))

    def discrete_only(self) -> "Pattern":
        """Only the events with a whole: continuous values have no structure to join on."""
        return self.filter_haps(lambda h: h.whole is not None)

    # ---- applicative: two patterns of values combined by `op`; which side gives the structure --------

    def app_both(self, other: "Pattern", op: Callable[[Any, Any], Any]) -> "Pattern":
        """Structure from both: where a left and a right hap overlap, one hap on the intersection of
        their wholes (Tidal's `<*>`, Strudel's `appBoth`)."""
        def query(span):
            out = []
            for h in self._query(span):
                for o in other.query_span(span):
                    part = h.part.intersect(o.part)
                    if part is None:
                        continue
                    whole = None if h.whole is None or o.whole is None else h.whole.intersect(o.whole)
                    if whole is None and h.whole is not None and o.whole is not None:
                        continue
                    out.append(Hap(whole, part, op(h.value, o.value)))
            return out
        return Pattern(query)

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

    def app_right(self, other: "Pattern", op: Callable[[Any, Any], Any]) -> "Pattern":
        """Structure from the right: each right hap takes the values of the left haps it overlaps."""
        return other.app_left(self, lambda b, a: op(a, b))

    # ---- joins: a pattern whose values are patterns, flattened (Strudel's bind family) ------------

    def bind_whole(self, choose_whole: Callable[[Span | None, Span | None], Span | None],
                   func: Callable[[Any], "Pattern"]) -> "Pattern":
        """Each outer hap's value becomes a pattern (`func`), queried over the outer hap's part; the
        whole of each result is `choose_whole(outer whole, inner whole)`."""
        def query(span):
            return [Hap(choose_whole(a.whole, b.whole), b.part, b.value)
                    for a in self._query(span) for b in reify(func(a.value)).query_span(a.part)]
        return Pattern(query)

    def bind(self, func) -> "Pattern":
        """Wholes are the intersection of the outer and the inner haps' wholes."""
        def both(a, b):
            return None if a is None or b is None else a.intersect(b)
        return self.bind_whole(both, func)

    def join(self) -> "Pattern":
        return self.bind(_identity)

    def inner_bind(self, func) -> "Pattern":
        """Structure from the inner patterns: the outer one only says which plays when."""
        return self.bind_whole(lambda _, b: b, func)

    def inner_join(self) -> "Pattern":
        return self.inner_bind(_identity)

    def outer_bind(self, func) -> "Pattern":
        """Structure from the outer pattern: each outer event takes the inner values under it."""
        return self.bind_whole(lambda a, _: a, func)

    def outer_join(self) -> "Pattern":
        return self.outer_bind(_identity)

    def squeeze_join(self) -> "Pattern":
        """A cycle of each inner pattern squeezed into its outer event (Strudel's `squeezeJoin`):
        the event at cycle c plays the inner pattern's cycle c, start to end, within its whole."""
        def query(span):
            out = []
            for outer in self.discrete_only().query_span(span):
                inner = reify(outer.value).focus(outer.whole.begin, outer.whole.end)
                for h in inner.query_span(outer.part):
                    whole = None if h.whole is None else h.whole.intersect(outer.whole)
                    part = h.part.intersect(outer.part)
                    if part is not None and (whole is not None or h.whole is None):
                        out.append(Hap(whole, part, h.value))
            return out
        return Pattern(query)

    def squeeze_bind(self, func) -> "Pattern":
        return self.fmap(func).squeeze_join()

    # ---- time ----------------------------------------------------------------------------

    def fast(self, factor) -> "Pattern":
        """Speed up by `factor`, a number or a pattern of numbers (each of its events speeds up what
        plays under it, as Strudel's patterned arguments do)."""
        if isinstance(factor, Pattern):
            return patterned(self.fast, factor)
        factor = F(factor)
        if factor == 0:
            return silence()
        if factor < 0:
            raise ValueError(f"fast: factor must not be negative, got {factor}")
        return self.with_query_time(lambda t: t * factor).with_hap_time(lambda t: t / factor)

    def slow(self, factor) -> "Pattern":
        if isinstance(factor, Pattern):
            return patterned(self.slow, factor)
        factor = F(factor)
        if factor == 0:
            return silence()
        return self.fast(1 / factor)

    def focus(self, begin, end) -> "Pattern":
        """The cycle that `begin` lies in, played from start to end within [begin, end) (and
        onwards, without gaps; Strudel's `focus`)."""
        begin, end = F(begin), F(end)
        if end <= begin:
            return silence()
        return self.early(math.floor(begin)).fast(1 / (end - begin)).late(begin)

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


def _identity(x):
    return x


def patterned(func: Callable[..., Pattern], *args) -> Pattern:
    """`func(*values)` where each argument may be a pattern: Strudel's patterned arguments.

    With plain values, `func(*args)` itself. Otherwise the arguments are combined with
    structure from the first (`app_left`), each combination of values picks the pattern
    `func` makes of them, and an inner join plays it: what sounds keeps the structure of
    `func`'s pattern, and the arguments only choose which one sounds when.

        >>> [h.whole.begin for h in patterned(lambda n: pure("x").fast(n), sequence(1, 2)).onsets(0, 1)]
        [Fraction(0, 1), Fraction(1, 2)]
    """
    if not any(isinstance(a, Pattern) for a in args):
        return func(*args)
    pats = [reify(a) for a in args]
    combined = pats[0].fmap(lambda v: (v,))
    for p in pats[1:]:
        combined = combined.app_left(p, lambda vs, v: vs + (v,))
    return combined.inner_bind(lambda vs: func(*vs))


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
