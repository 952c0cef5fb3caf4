"""Exact time and events: `F` makes a Fraction of any time, a `Span` is a stretch of cycles,
a `Hap` is one event (its `whole`, the `part` of it asked for, and its `value`)."""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable, NamedTuple


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
