"""Sketch lanes: patterns asked, frame by frame, what a block should sound like.

A lane takes mini-notation, a number, a Pattern or a signal. For each latent frame of
a block, the clock gives the frame's span in cycles and the lane's pattern is asked
what sounds there, in the performer's units (engine/controls.py `BlockControls`):

- `loud` (dB), `bright` (Hz), `pitch` (note names or MIDI numbers): the value of the
  event covering the frame; a rest leaves the frame free (NaN) for `loud` and `bright`,
  and marks it unvoiced for `pitch`;
- `rhythm`: an onset curve, 1 on the frame where an event starts, 0 elsewhere.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..pattern import Pattern, mini, pure
from ..pattern.notes import note

LANES = ("loud", "bright", "pitch", "rhythm")
RANGES = {"loud": (-100.0, 20.0, "dB"), "bright": (20.0, 20000.0, "Hz")}
FIELDS = {"loud": ("loud_db",), "bright": ("bright_hz",), "pitch": ("pitch_note", "voiced"), "rhythm": ("onset",)}


class LaneError(ValueError):
    pass


def lane_pattern(lane: str, value) -> Pattern:
    """The pattern a performer's value stands for; mistakes are reported now, at the line typed."""
    if lane not in LANES:
        raise LaneError(f"unknown sketch lane {lane!r}; lanes are {', '.join(LANES)}")
    if isinstance(value, Pattern):
        pat = value
    elif isinstance(value, str):
        pat = mini(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, int) and abs(value) > 10 ** 9 or not math.isfinite(value):
            raise LaneError(f"{lane}: {value!r} is not a usable value")
        pat = pure(value)
    else:
        raise LaneError(f"{lane}: expected mini-notation, a number or a pattern, got {type(value).__name__}")
    if lane == "pitch":
        def midi_note(v):
            n = note(v)
            if not 0 <= n <= 127:
                raise LaneError(f"pitch: {v!r} is outside the MIDI range 0..127 (c-1..g9)")
            return n
        pat = pat.fmap(midi_note)
        for h in pat.query(0, 1):          # evaluate one cycle now: a bad note name fails here
            pass
    elif lane != "rhythm":
        lo, hi, unit = RANGES[lane]

        def number(v):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise LaneError(f"{lane}: {v!r} is not a number")
            if not lo <= v <= hi:
                raise LaneError(f"{lane}: {v!r} is outside {lo:g}..{hi:g} {unit}")
            return float(v)
        pat = pat.fmap(number)
        for h in pat.query(0, 1):
            pass
    return pat


def frame_cycles(clock, times, origin: int = 0) -> list[Fraction]:
    """The cycle position of each bound of `times` (engine/controls.py `FrameTimes`) on `clock`,
    for a stream that started at the clock's sample `origin`."""
    if times.rate != clock.sample_rate:
        raise ValueError(f"frame times at {times.rate} Hz cannot be read on a clock at {clock.sample_rate} Hz")
    return [clock.cycle_at(s) for s in times.samples(origin)]


def lanes_for_frames(lanes: dict[str, Pattern], bounds: list[Fraction]) -> dict[str, np.ndarray]:
    """The BlockControls lanes (loud_db, bright_hz, pitch_note, voiced, onset) of frames whose
    cycle spans are bounds[k]..bounds[k + 1]; NaN on a frame a lane leaves free."""
    T = len(bounds) - 1
    out = {field: np.full(T, np.nan) for name in lanes for field in FIELDS[name]}
    for name, pat in lanes.items():
        for t in range(T):
            c, end = bounds[t], bounds[t + 1]
            haps = pat.query(c, end)
            if name == "rhythm":
                out["onset"][t] = float(any(h.whole is not None and c <= h.whole.begin < end for h in haps))
                continue
            if not haps:
                if name == "pitch":
                    out["voiced"][t] = 0.0                    # a rest: explicitly unvoiced
                continue
            value = float(min(haps, key=lambda h: h.part.begin).value)     # what sounds at the frame's start
            if name == "pitch":
                out["pitch_note"][t] = value
                out["voiced"][t] = 1.0
            else:
                out[FIELDS[name][0]][t] = value
    return out
