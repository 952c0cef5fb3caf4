"""How closely audio's loudness, brightness and pitch curves follow requested ones.

Shared by `eval model` (generated audio against a held-out clip's curves) and by the
codec's own ceiling (the clip through the codec alone against the same curves).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..model.config import SKETCH_CURVES
from .codec_eval import pitch_kept

I = {n: i for i, n in enumerate(SKETCH_CURVES)}
REGISTERS = ((0, 48, "below C3"), (48, 60, "C3-B3"), (60, 72, "C4-B4"), (72, 128, "C5 and up"))
"""Bands of the requested pitch (MIDI note numbers) `pitch_acc` is also counted in: the pitch lane of a
mix is often its bass line, which a model can miss while it keeps the melody (docs/dev/training.md)."""


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    d = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / d) if d > 0 else 0.0



@dataclass
class Following:
    """How closely audio's curves follow the requested ones, accumulated over clips."""
    loud: list = field(default_factory=list)
    bright: list = field(default_factory=list)
    pitch_ok: int = 0
    pitch_n: int = 0
    by_register: dict = field(default_factory=lambda: {name: [0, 0] for _, _, name in REGISTERS})

    def result(self, suffix: str) -> dict:
        return {f"loud_corr{suffix}": float(np.mean(self.loud)), f"bright_corr{suffix}": float(np.mean(self.bright)),
                f"pitch_acc{suffix}": self.pitch_ok / self.pitch_n if self.pitch_n else float("nan"),
                f"pitch_acc_by_register{suffix}": {name: {"frames": n, "pitch_acc": ok / n if n else float("nan")}
                                                    for name, (ok, n) in self.by_register.items()}}


def follow(got: dict, curves: torch.Tensor, frames: int, into: Following) -> None:
    m = min(len(got["loud"]), frames)
    want = curves[:m].numpy()
    into.loud.append(pearson(got["loud"][:m], want[:, I["loud"]]))
    into.bright.append(pearson(np.log(np.maximum(got["bright"][:m], 20)), np.log(np.maximum(want[:, I["bright"]], 20))))
    wanted = {"pitch": want[:, I["pitch"]], "voiced": want[:, I["voiced"]]}
    right, voiced = pitch_kept(wanted, got)
    into.pitch_ok += right
    into.pitch_n += voiced
    for lo, hi, name in REGISTERS:
        band_right, band_voiced = pitch_kept(wanted, got, where=(wanted["pitch"] >= lo) & (wanted["pitch"] < hi))
        into.by_register[name][0] += band_right
        into.by_register[name][1] += band_voiced
