"""Note names, scales and degrees for pitch lanes.

    note("c4") == 60, note("eb3") == 51, note("f#5") == 78     (C4 is middle C, MIDI 60)
    scale_degrees("c4:minor", [0, 2, 4, 7]) == [60, 63, 67, 72]
    mini("0 2 4").fmap(to_scale("d3:dorian")) plays scale degrees as MIDI notes.
"""
from __future__ import annotations

import re

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11), "ionian": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10), "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10), "phrygian": (0, 1, 3, 5, 7, 8, 10), "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10), "locrian": (0, 1, 3, 5, 6, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11), "melodic minor": (0, 2, 3, 5, 7, 9, 11),
    "major pentatonic": (0, 2, 4, 7, 9), "minor pentatonic": (0, 3, 5, 7, 10), "blues": (0, 3, 5, 6, 7, 10),
    "chromatic": tuple(range(12)), "whole tone": (0, 2, 4, 6, 8, 10),
}
_STEPS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_NOTE = re.compile(r"^([a-gA-G])(#|s|b|f)*(-?\d+)?$")


class NoteError(ValueError):
    pass


def note(name) -> float:
    """MIDI note number of a name ("c4", "eb3", "f#5", "a" = a4) or a number passed through."""
    if isinstance(name, bool):
        raise NoteError(f"a note is a name like 'c4' or a MIDI number, got {name!r}")
    if isinstance(name, (int, float)):
        return float(name)
    if not isinstance(name, str):
        raise NoteError(f"a note is a name like 'c4' or a MIDI number, got {type(name).__name__}: {name!r}")
    m = _NOTE.match(name.strip())
    if not m:
        raise NoteError(f"{name!r} is not a note name; write a letter a-g, then # or b, then an octave: 'eb3'")
    letter, octave = m.group(1).lower(), int(m.group(3)) if m.group(3) is not None else 4
    accidentals = name.strip()[1:len(name.strip()) - (len(m.group(3)) if m.group(3) else 0)]
    shift = sum(1 if a in "#s" else -1 for a in accidentals)
    value = 12 * (octave + 1) + _STEPS[letter] + shift
    if not 0 <= value <= 127:
        raise NoteError(f"{name!r} is MIDI note {value}, outside 0..127")
    return float(value)


def parse_scale(spec: str) -> tuple[float, tuple[int, ...]]:
    """"c4:minor" or "d:dorian" -> (root MIDI note, intervals)."""
    root, _, mode = spec.partition(":")
    mode = (mode or "major").strip().lower().replace("_", " ")
    if mode not in SCALES:
        raise NoteError(f"unknown scale {mode!r}; scales are {', '.join(sorted(SCALES))}")
    return note(root.strip() or "c4"), SCALES[mode]


def degree(spec: str, n) -> float:
    """The n-th degree (from 0, negative below the root, fractions rounded down) of a scale."""
    root, steps = parse_scale(spec)
    if isinstance(n, str):
        n = float(n)
    n = int(n // 1)
    octave, index = divmod(n, len(steps))
    return root + 12 * octave + steps[index]


def scale_degrees(spec: str, degrees) -> list[float]:
    return [degree(spec, d) for d in degrees]


def to_scale(spec: str):
    """A function for `Pattern.fmap`: scale degrees to MIDI notes."""
    parse_scale(spec)            # fail now, at the performer's line, not later in the audio thread
    return lambda n: degree(spec, n)
