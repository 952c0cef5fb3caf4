"""Continuous signals: values at every instant, no structure of their own (`whole` is None).

Unipolar, 0 to 1 over each cycle, sampled at the start of the span asked for (as
Tidal does), so `sine.segment(4)` gives four values per cycle and `saw.range(200, 800)`
a sweep. Combine them with `segment`, `range` and arithmetic.
"""
from __future__ import annotations

import math
from fractions import Fraction

from .core import Hap, Pattern, time_rand


def signal(func) -> Pattern:
    return Pattern(lambda span: [Hap(None, span, func(span.begin))])


def _frac(t: Fraction) -> float:
    return float(t - math.floor(t))


sine = signal(lambda t: 0.5 + 0.5 * math.sin(2 * math.pi * _frac(t)))
cosine = signal(lambda t: 0.5 + 0.5 * math.cos(2 * math.pi * _frac(t)))
saw = signal(_frac)
isaw = signal(lambda t: 1.0 - _frac(t))
tri = signal(lambda t: 2 * _frac(t) if _frac(t) < 0.5 else 2 - 2 * _frac(t))
square = signal(lambda t: 0.0 if _frac(t) < 0.5 else 1.0)
rand = signal(lambda t: time_rand(t))
