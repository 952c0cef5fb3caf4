"""Sketch lanes: patterns turned into the per-frame curves the model is conditioned on.

A lane takes mini-notation, a number, a Pattern or a signal. For each latent frame of
a block, the clock gives the frame's cycle position and the lane's pattern is asked
what sounds there:

- `loud` (dB), `bright` (Hz), `pitch` (note names or MIDI numbers): the value of the
  event covering the frame; a rest leaves the frame free (mask 0) for `loud` and
  `bright`, and marks it unvoiced for `pitch`;
- `rhythm`: an onset curve, 1 on the frame where an event starts, 0 elsewhere.
"""
from __future__ import annotations

import math
from fractions import Fraction

import torch

from ..model import SKETCH_CURVES, sketch_units
from ..pattern import Pattern, mini, pure
from ..pattern.notes import note

LANES = ("loud", "bright", "pitch", "rhythm")
RANGES = {"loud": (-100.0, 20.0, "dB"), "bright": (20.0, 20000.0, "Hz")}
_INDEX = {name: i for i, name in enumerate(SKETCH_CURVES)}


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


def sketch_for_frames(lanes: dict[str, Pattern], frame_cycles: list[Fraction], frame_width: Fraction):
    """(sketch, mask), each (1, frames, n_curves) in model units, for frames starting at `frame_cycles`."""
    T = len(frame_cycles)
    sketch = torch.zeros(1, T, len(SKETCH_CURVES))
    mask = torch.zeros(1, T, len(SKETCH_CURVES))
    for lane, pat in lanes.items():
        for t, c in enumerate(frame_cycles):
            haps = pat.query(c, c + frame_width)
            if lane == "rhythm":
                mask[0, t, _INDEX["onset"]] = 1.0
                if any(h.whole is not None and c <= h.whole.begin < c + frame_width for h in haps):
                    sketch[0, t, _INDEX["onset"]] = 1.0
                continue
            if not haps:
                if lane == "pitch":
                    mask[0, t, _INDEX["voiced"]] = 1.0          # a rest: explicitly unvoiced
                continue
            value = min(haps, key=lambda h: h.part.begin).value     # what sounds at the frame's start
            if lane == "pitch":
                sketch[0, t, _INDEX["pitch"]] = sketch_units("pitch", float(value))
                mask[0, t, _INDEX["pitch"]] = 1.0
                sketch[0, t, _INDEX["voiced"]] = 1.0
                mask[0, t, _INDEX["voiced"]] = 1.0
            else:
                curve = {"loud": "loud", "bright": "bright"}[lane]
                sketch[0, t, _INDEX[curve]] = float(sketch_units(curve, float(value)))
                mask[0, t, _INDEX[curve]] = 1.0
    return sketch, mask
