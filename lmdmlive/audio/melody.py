"""A played melody that stands in for the live input where no one plays: the bench's
soak and the tests have a dummy sound card whose input is silent.

Built from `Sine`, not `SineLoop`: pyo 1.1.0's `SineLoop` with an audio-rate frequency
and `feedback > 0` kills the process with a segmentation fault after a few minutes of
audio (docs/dev/engine.md, "A pyo crash in the soak's input"), which is what ended the
first 10-minute soaks.
"""
from __future__ import annotations

import pyo

NOTES_HZ = (220, 262, 330, 392, 440)


def practice_melody(notes=NOTES_HZ, rate: float = 3.0, swell: float = 0.4) -> pyo.PyoObject:
    """Random notes from `notes`, `rate` per second, under a slow swell of loudness."""
    return pyo.Sine(freq=pyo.Choice(list(notes), freq=rate), mul=pyo.Sine(swell).range(0.03, 0.3))
