"""BlockControls: what one block of one stream is played under, in the performer's units.

The engine is the only door to the model. Whatever steers a stream (the REPL, a patch,
MIDI, OSC, the render command's `--sketch` lanes, a generative delay's input) reaches
it as one `BlockControls` per block: a style vector, per-frame lanes in dB, Hz, MIDI
notes and onsets (NaN where a frame is left free), arrangement knobs in their own units
(presence, notes per second, Hz, BPM), and the sampler's steps, guidance, seed and
strength. Nothing above the engine speaks model units: `to_conditions` is the one place
where controls become the model's `Conditions`, and the loudness follower reads its dB
straight from `loud_db`.

A provider answers "your controls for these frame times": a function of a `FrameTimes`
(when each frame of the block will sound) to a `BlockControls`. A live `Stream` is one
(`Stream.controls_at`), so is the render command's sketch; `frame_times` is the one rule
for when a block's frames sound, used by the live engine and by the offline render alike.

    >>> times = frame_times(3, bundle, 48000)          # block 3 of a stream, on a 48 kHz clock
    >>> c = BlockControls(style=v, loud_db=np.full(12, -12.0), arrangement={"tempo": 120})
    >>> cond = to_conditions(c, bundle.lmdm.cfg)       # the model's units, for generate_block
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Callable, Mapping

import numpy as np
import torch

from ..model.conditioning import Conditions, arrangement_units, sketch_units
from ..model.config import ARRANGEMENT_CONTROLS, SKETCH_CURVES
from ..model.sampler import MAX_STEPS

# each model curve and the BlockControls field that carries it, in the performer's unit
LANE_FIELDS = {"loud": "loud_db", "bright": "bright_hz", "pitch": "pitch_note", "voiced": "voiced", "onset": "onset"}
# what a performer may set each arrangement knob to (presence 0..1, notes/s, Hz, BPM)
ARRANGEMENT_RANGES = {"drums": (0.0, 1.0), "bass": (0.0, 1.0), "harmony": (0.0, 1.0), "lead": (0.0, 1.0),
                      "density": (1.0, 16.0), "brightness": (250.0, 4000.0), "tempo": (60.0, 180.0)}
assert tuple(ARRANGEMENT_RANGES) == ARRANGEMENT_CONTROLS and tuple(LANE_FIELDS) == SKETCH_CURVES


@dataclass(frozen=True, eq=False)
class BlockControls:
    """One block's controls. Lanes are (block_frames,) arrays, NaN on a frame left free; a lane
    that is None is not given at all. None for steps, guidance, seed or strength: the engine's."""

    style: torch.Tensor | None = None          # (1, style_dim), unit length; None: no prompt
    loud_db: np.ndarray | None = None          # loudness, dBFS
    bright_hz: np.ndarray | None = None        # spectral centroid, Hz
    pitch_note: np.ndarray | None = None       # MIDI note number (60 = middle C); NaN on a rest
    voiced: np.ndarray | None = None           # 1 where a pitch sounds, 0 on a rest
    onset: np.ndarray | None = None            # onset strength: 1 a clear onset, 0 none
    arrangement: Mapping[str, float] = field(default_factory=dict)   # knob -> value (ARRANGEMENT_RANGES)
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    strength: float | None = None              # a latent-route delay: how much noise its input is started from

    def lanes(self) -> dict[str, np.ndarray]:
        """The lanes that are given, by model curve name."""
        return {curve: getattr(self, name) for curve, name in LANE_FIELDS.items() if getattr(self, name) is not None}

    def with_lanes(self, lanes: Mapping[str, np.ndarray]) -> "BlockControls":
        """A copy whose lanes (by curve name) are `lanes`, nothing else given."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update({name: lanes.get(curve) for curve, name in LANE_FIELDS.items()})
        return BlockControls(**values)


Provider = Callable[["FrameTimes"], BlockControls]


@dataclass(frozen=True)
class FrameTimes:
    """When the frames of one block sound: frame k from `bounds[k]` to `bounds[k + 1]`, in samples
    at `rate` from the stream's own start (exact fractions; floored where a clock reads them)."""

    block: int
    rate: int
    bounds: tuple[Fraction, ...]

    def samples(self, origin: int = 0) -> list[int]:
        """The bounds as sample indices on a clock where the stream started at `origin`."""
        return [math.floor(origin + b) for b in self.bounds]


def frame_times(block: int, bundle, rate: int) -> FrameTimes:
    """Frame times of block `block` on a clock at `rate` (`bundle`: anything with `.lmdm.cfg`
    and `.codec.cfg`).

    Block b fills b x (a block's samples) onward of its stream, and each frame is asked for
    the moment it will be heard: a codec whose decoder trails its latents plays frame k that
    much later, so a note in a lane lands on the sound it asked for, not a few ms before it.
    """
    codec = bundle.codec.cfg
    frame = Fraction(codec.hop * int(rate), codec.sample_rate)
    late = Fraction(codec.delay_samples * int(rate), codec.sample_rate)
    first = block * bundle.lmdm.cfg.block_frames
    return FrameTimes(block, int(rate), tuple(late + (first + k) * frame
                                              for k in range(bundle.lmdm.cfg.block_frames + 1)))


def to_conditions(controls: BlockControls, cfg) -> Conditions:
    """The model's conditions for one stream's block (a batch of one): the one conversion from
    the performer's units (model/conditioning.py `sketch_units`, `arrangement_units`)."""
    frames = cfg.block_frames
    sketch = mask = None
    lanes = controls.lanes()
    if lanes:
        sketch = torch.zeros(1, frames, len(cfg.sketch_curves))
        mask = torch.zeros(1, frames, len(cfg.sketch_curves))
        for curve, values in lanes.items():
            if len(values) != frames:
                raise ValueError(f"the {LANE_FIELDS[curve]} lane has {len(values)} frames, a block has {frames}")
            i = cfg.sketch_curves.index(curve)
            for t, v in enumerate(values.tolist()):
                if math.isfinite(v):
                    sketch[0, t, i] = float(sketch_units(curve, v))
                    mask[0, t, i] = 1.0
    arrangement = arrangement_mask = None
    if controls.arrangement:
        arrangement = torch.zeros(1, len(cfg.arrangement))
        arrangement_mask = torch.zeros(1, len(cfg.arrangement))
        for name, value in controls.arrangement.items():
            if name not in cfg.arrangement:
                raise ValueError(f"unknown arrangement control {name!r}; controls are {', '.join(cfg.arrangement)}")
            i = cfg.arrangement.index(name)
            arrangement[0, i] = arrangement_units(name, value)
            arrangement_mask[0, i] = 1.0
    return Conditions(style=controls.style, sketch=sketch, sketch_mask=mask, arrangement=arrangement,
                      arrangement_mask=arrangement_mask)


@dataclass(frozen=True)
class Glide:
    """A straight line from `start` at position `first` to `end` at `last`, then `end` held.

    The one glide of lmdmlive: a Param's ramp and a prompt's morph (positions in cycles), and
    the engine's crossfade of a changed prompt or arrangement (positions in blocks). `start`
    and `end` are numbers or tensors of one shape.
    """

    start: object
    end: object
    first: object
    last: object

    def at(self, position):
        if position >= self.last:
            return self.end
        x = float(max(0, (position - self.first) / (self.last - self.first)))
        return self.start + (self.end - self.start) * x


__all__ = ["ARRANGEMENT_RANGES", "LANE_FIELDS", "MAX_STEPS", "BlockControls", "FrameTimes", "Glide", "Provider",
           "frame_times", "to_conditions"]
