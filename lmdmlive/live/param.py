"""Param: one number a performer can type, ramp, modulate, pattern, or put on a knob.

    >>> a.cfg = 3                      # set
    >>> a.cfg.ramp(6, bars=4)          # glide from here to 6 over four bars
    >>> a.cfg.lfo("sine", bars=2, lo=1, hi=5)
    >>> a.cfg = "<1 3 5>"              # a pattern: one value per cycle
    >>> midi.cc(74, a.cfg)             # a knob (see midi.py)

A Param is asked for its value at a clock position (a cycle), once per block by the
stream that owns it, so ramps and patterns follow the tempo. Every way of changing
it checks the value first: a wrong one raises at the line typed and the old
behaviour goes on.
"""
from __future__ import annotations

import math
from fractions import Fraction

from ..engine.controls import Glide
from ..pattern import Pattern, mini
from ..pattern import signals

SHAPES = ("sine", "cosine", "saw", "isaw", "tri", "square", "rand")


class ParamError(ValueError):
    pass


class Param:
    """One number of a stream (`cfg`, `steps`, `seed`, an arrangement knob): set, ramp, modulate, pattern.

        >>> a = session.stream("warm ambient pads")
        >>> a.cfg = 3                              # set it
        >>> a.cfg.ramp(6, bars=4)                  # glide from here to 6 over four bars
        >>> a.cfg.lfo("sine", bars=2, lo=1, hi=5)
        >>> a.cfg = "<1 3 5>"                      # a pattern: one value per cycle
        >>> a.cfg = 99
        ParamError: cfg: 99 is outside 0..20 (line 1)
    """

    def __init__(self, name: str, value: float, lo: float = -math.inf, hi: float = math.inf,
                 integer: bool = False, now=None):
        self.name, self.lo, self.hi, self.integer = name, lo, hi, integer
        self._now = now or (lambda: Fraction(0))       # the current cycle, from the session's clock
        self._source = ("const", self._check(value))
        self.default = self._source[1]

    # ---- checking -------------------------------------------------------------------------------

    def _check(self, value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(f"{self.name}: expected a number, got {type(value).__name__} {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise ParamError(f"{self.name}: {value!r} is not a usable number")
        if not self.lo <= v <= self.hi:
            raise ParamError(f"{self.name}: {value!r} is outside {self.lo:g}..{self.hi:g}")
        if self.integer and v != int(v):
            raise ParamError(f"{self.name}: expected a whole number, got {value!r}")
        return v

    def _finish(self, v: float) -> float:
        v = min(self.hi, max(self.lo, v))
        return float(round(v)) if self.integer else v

    # ---- ways of changing it --------------------------------------------------------------------

    def set(self, value) -> "Param":
        """A number, mini-notation text, a Pattern, or another Param's current value."""
        if isinstance(value, Param):
            value = value.value
        if isinstance(value, (str, Pattern)):
            return self.pattern(value)
        self._source = ("const", self._check(value))
        return self

    def ramp(self, to, bars: float = 1) -> "Param":
        """Glide linearly from the current value to `to` over `bars` cycles, then hold."""
        target = self._check(to)
        bars = _positive(self.name, "bars", bars)
        start = self._now()
        self._source = ("ramp", Glide(self.value, target, start, start + Fraction(bars).limit_denominator(1000)))
        return self

    def lfo(self, shape: str = "sine", bars: float = 1, lo: float | None = None, hi: float | None = None) -> "Param":
        """A periodic (or random) movement between lo and hi, one period every `bars` cycles."""
        if shape not in SHAPES:
            raise ParamError(f"{self.name}: unknown LFO shape {shape!r}; shapes are {', '.join(SHAPES)}")
        lo = self._check(self.lo if lo is None and math.isfinite(self.lo) else (0.0 if lo is None else lo))
        hi = self._check(self.hi if hi is None and math.isfinite(self.hi) else (1.0 if hi is None else hi))
        bars = _positive(self.name, "bars", bars)
        signal = getattr(signals, shape).slow(bars).range(lo, hi)
        self._source = ("pattern", signal)
        return self

    def pattern(self, value) -> "Param":
        """Mini-notation text or a Pattern of numbers, checked over its first cycle now."""
        pat = mini(value) if isinstance(value, str) else value
        if not isinstance(pat, Pattern):
            raise ParamError(f"{self.name}: expected mini-notation or a pattern, got {type(value).__name__}")
        for h in pat.query(0, 8):          # its first bars: a "<1 a>" fails now, not at bar 2
            self._check(h.value)
        self._source = ("pattern", pat)
        return self

    def set_normalized(self, x: float, curve: str = "lin") -> None:
        """From a controller: x in 0..1 mapped onto the range (lin, or exp for ranges above 0)."""
        x = min(1.0, max(0.0, float(x)))
        lo, hi = (self.lo, self.hi) if math.isfinite(self.lo) and math.isfinite(self.hi) else (0.0, 1.0)
        if curve == "exp" and lo > 0:
            v = lo * (hi / lo) ** x
        else:
            v = lo + (hi - lo) * x
        self._source = ("const", self._finish(v))

    # ---- reading it ----------------------------------------------------------------------------

    def at(self, cycle) -> float:
        kind = self._source[0]
        if kind == "const":
            return self._source[1]
        if kind == "ramp":
            return self._finish(self._source[1].at(Fraction(cycle)))
        pat = self._source[1]
        c = Fraction(cycle)
        haps = pat.query(c, c + Fraction(1, 1000))
        if not haps:
            return self._finish(self.default)
        value = haps[0].value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            return self._finish(self.default)
        return self._finish(float(value))

    @property
    def value(self) -> float:
        return self.at(self._now())

    @property
    def mode(self) -> str:
        return self._source[0]

    def __float__(self) -> float:
        return float(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __repr__(self) -> str:
        return f"Param({self.name}={self.value:g}, {self.mode})"


MAX_BARS = 10000


def _positive(name: str, what: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 < value <= MAX_BARS:
        raise ParamError(f"{name}: {what} must be a number above 0 and at most {MAX_BARS}, got {value!r}")
    return float(value)


__all__ = ["Param", "ParamError", "SHAPES"]
