"""The tempo of incoming MIDI clock: 24 ticks a beat, read from their arrival times.

Kept apart from `midi.py` (ports, bindings, learn) because it is the one piece of
arithmetic there that decides what a performer hears: a drum machine's tempo, read
through a busy machine and a MIDI graph that drops a byte now and then.
"""
from __future__ import annotations

import numpy as np

CLOCK_WINDOW = 49         # ticks the tempo is read from: two beats, so a jitter of a period weighs half


def clock_bpm(times) -> float:
    """The tempo of MIDI clock ticks that arrived at `times` (one beat of them or more).

    It is the least-squares slope of arrival time against tick number, not the span: one
    tick delivered late (a busy machine, a jittery clock) moves a span by all of its
    lateness and the slope by a fraction of it. A tick lost on the way (a busy MIDI
    bus drops a clock byte now and then) would shift every later tick's number by one
    and read as a slower tempo, so the fit is tried again with the numbers after the
    widest gap moved on by one; the shifted fit is kept when it explains the times far
    better (less than half the residual), which a real tempo change does not.
    """
    t = np.asarray(times, dtype=float)
    k = np.arange(len(t), dtype=float)

    def fit(k):
        slope, intercept = np.polyfit(k, t, 1)
        return slope, float(np.sqrt(np.mean((t - (slope * k + intercept)) ** 2)))

    slope, rms = fit(k)
    gaps = np.diff(t)
    for _ in range(2):                                   # at most two lost ticks in the window
        j = int(np.argmax(gaps))
        if gaps[j] < 1.6 * slope:
            break
        shifted = k.copy()
        shifted[j + 1:] += 1
        s2, r2 = fit(shifted)
        if r2 > 0.5 * rms:
            break
        k, slope, rms = shifted, s2, r2
        gaps[j] = 0.0
    return float(60.0 / (24 * slope))
