"""Stream: a prompt and sketch lanes, played by the engine, and a pyo object itself.

    >>> a = session.stream("dusty boom bap drums", seed=3).out()
    >>> a.pitch = "c4 [eb4 g4] <bb4 ab4>"
    >>> a.loud = "-12 -20"
    >>> verb = Freeverb(a, size=0.8).out()

A new prompt or lane takes effect at the stream's next block. A mistake raises a
clear error at the line typed, and the stream keeps playing what it had.
"""
from __future__ import annotations

import time
from fractions import Fraction

import pyo
import torch

from ..model import Conditions
from .lanes import LANES, lane_pattern, sketch_for_frames


class Stream(pyo.PyoObject):
    def __init__(self, session, prompt: str | torch.Tensor | None = None, seed: int = 0, mul=1, add=0):
        pyo.PyoObject.__init__(self, mul, add)
        self._session = session
        self._engine_stream = session.engine.add_stream(seed=seed)
        self._engine_stream.provider = self._conditions_for_block
        self.player = self._engine_stream.player
        self.player.mul = mul
        self._base_objs = self.player.getBaseObjects()
        self._style: torch.Tensor | None = None
        self._prompt: str | None = None
        self._lanes: dict[str, object] = {}
        self._start_sample = session.now()
        if prompt is not None:
            self.prompt = prompt

    # ---- what the performer sets -----------------------------------------------------------------

    @property
    def prompt(self):
        return self._prompt

    @prompt.setter
    def prompt(self, value):
        if isinstance(value, torch.Tensor):
            if value.shape != (self._session.engine.bundle.lmdm.cfg.style_dim,):
                raise ValueError(f"a style vector must have shape ({self._session.engine.bundle.lmdm.cfg.style_dim},), "
                                 f"got {tuple(value.shape)}")
            self._style, self._prompt = value.float()[None], "<vector>"
        elif isinstance(value, str):
            self._style = self._session.embed(value) if value.strip() else None
            self._prompt = value
        elif value is None:
            self._style, self._prompt = None, None
        else:
            raise TypeError(f"a prompt is text or a style vector, got {type(value).__name__}")
        self._engine_stream.changed_at = time.perf_counter()

    def _lane(self, name, value):
        if value is None:
            self._lanes.pop(name, None)
        else:
            self._lanes[name] = lane_pattern(name, value)      # raises before anything changes
        self._engine_stream.changed_at = time.perf_counter()

    pitch = property(lambda self: self._lanes.get("pitch"), lambda self, v: self._lane("pitch", v))
    loud = property(lambda self: self._lanes.get("loud"), lambda self, v: self._lane("loud", v))
    bright = property(lambda self: self._lanes.get("bright"), lambda self, v: self._lane("bright", v))
    rhythm = property(lambda self: self._lanes.get("rhythm"), lambda self, v: self._lane("rhythm", v))

    @property
    def underruns(self) -> int:
        return self.player.underruns

    # ---- what the engine asks ------------------------------------------------------------------

    def _conditions_for_block(self, block: int) -> Conditions:
        engine, clock = self._session.engine, self._session.clock
        cfg = engine.bundle.lmdm.cfg
        frame_samples = Fraction(engine.server_rate, cfg.frame_rate)
        start = self._start_sample + block * cfg.block_frames * frame_samples
        cycles = [clock.cycle_at(int(start + k * frame_samples)) for k in range(cfg.block_frames)]
        width = clock.cycle_at(int(start + frame_samples)) - clock.cycle_at(int(start))
        if self._lanes:
            sketch, mask = sketch_for_frames(dict(self._lanes), cycles, width)
            return Conditions(style=self._style, sketch=sketch, sketch_mask=mask)
        return Conditions(style=self._style)

    def close(self) -> None:
        self._session.engine.remove_stream(self._engine_stream)

    def __repr__(self) -> str:
        lanes = ", ".join(f"{k}" for k in self._lanes) or "no lanes"
        return f"Stream({self._prompt!r}, {lanes}, {self.player.underruns} underruns)"


__all__ = ["LANES", "Stream"]
