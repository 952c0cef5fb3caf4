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

    def result(self, suffix: str) -> dict:
        return {f"loud_corr{suffix}": float(np.mean(self.loud)), f"bright_corr{suffix}": float(np.mean(self.bright)),
                f"pitch_acc{suffix}": self.pitch_ok / self.pitch_n if self.pitch_n else float("nan")}


def follow(got: dict, curves: torch.Tensor, frames: int, into: Following) -> None:
    m = min(len(got["loud"]), frames)
    want = curves[:m].numpy()
    into.loud.append(pearson(got["loud"][:m], want[:, I["loud"]]))
    into.bright.append(pearson(np.log(np.maximum(got["bright"][:m], 20)), np.log(np.maximum(want[:, I["bright"]], 20))))
    right, voiced = pitch_kept({"pitch": want[:, I["pitch"]], "voiced": want[:, I["voiced"]]}, got)
    into.pitch_ok += right
    into.pitch_n += voiced
