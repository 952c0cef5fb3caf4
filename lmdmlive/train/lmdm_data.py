"""Training windows for the LMDM: standardised latents and the conditions they were made under.

Every condition is dropped at random, each independently, because a performer gives
any subset of them: a prompt alone, a loudness lane alone, drums off and nothing else.
A share of items has every condition dropped: the unconditional branch that
classifier-free guidance subtracts.

The input-audio condition (the generative delay's second route) is the window's own
latents, blurred in time and buried in noise: the model learns to follow the shape
of what it is fed without copying it, and the prompt decides the rest.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..model import Conditions
from ..model.conditioning import sketch_from_features
from .latents import LatentSplit


@dataclass(frozen=True)
class DropRates:
    style: float = 0.2
    curve: float = 0.5          # each sketch curve, per item
    control: float = 0.5        # each arrangement control, per item
    audio_given: float = 0.25   # share of items that get the input-audio condition
    everything: float = 0.1     # share of items with no condition at all


class WindowSampler:
    def __init__(self, split: LatentSplit, mean: torch.Tensor, std: torch.Tensor, block_frames: int,
                 seed: int, drop: DropRates = DropRates()):
        self.split, self.mean, self.std, self.bf, self.drop = split, mean, std, block_frames, drop
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.lengths = np.array([split.frames(i) for i in range(len(split))])

    def _pick(self, frames: int) -> tuple[int, int]:
        ok = np.flatnonzero(self.lengths >= frames)
        if len(ok) == 0:
            raise ValueError(f"no clip holds {frames} latent frames ({frames / 25:.1f} s); use shorter windows")
        w = self.lengths[ok].astype(np.float64)
        i = int(ok[self.rng.choice(len(ok), p=w / w.sum())])
        return i, int(self.rng.integers(0, self.lengths[i] - frames + 1))

    def batch(self, size: int, blocks: int, drop: bool = True) -> tuple[torch.Tensor, Conditions]:
        """x0 (B, blocks * Bf, D) standardised, and its conditions (dropped at random when `drop`)."""
        frames = blocks * self.bf
        lat, cur, style, arr = [], [], [], []
        for _ in range(size):
            i, start = self._pick(frames)
            z, c = self.split.clip(i, start, frames)
            lat.append(z)
            cur.append(c)
            clip = self.split.clips[i]
            row = clip["captions"][int(self.rng.integers(0, len(clip["captions"])))]
            style.append(self.split.captions[row])
            arr.append(torch.tensor(clip["arrangement"], dtype=torch.float32))
        x0 = (torch.stack(lat) - self.mean) / self.std
        sketch, sketch_mask = sketch_from_features(torch.stack(cur))
        arrangement = torch.stack(arr)
        arrangement_mask = torch.isfinite(arrangement).float()
        arrangement = torch.nan_to_num(arrangement)
        B = size
        cond = Conditions(style=torch.stack(style), style_mask=torch.ones(B), sketch=sketch, sketch_mask=sketch_mask,
                          audio=torch.zeros_like(x0), audio_mask=torch.zeros(B, frames),
                          arrangement=arrangement, arrangement_mask=arrangement_mask)
        if drop:
            cond = self._dropped(cond, x0)
        return x0, cond

    def _dropped(self, cond: Conditions, x0: torch.Tensor) -> Conditions:
        d, g = self.drop, self.gen
        B, T, n = cond.sketch.shape

        def keep(p, *shape):
            return (torch.rand(*shape, generator=g) >= p).float()

        cond.style_mask = cond.style_mask * keep(d.style, B)
        cond.sketch_mask = cond.sketch_mask * keep(d.curve, B, 1, n)
        cond.arrangement_mask = cond.arrangement_mask * keep(d.control, *cond.arrangement_mask.shape)
        given = keep(1.0 - d.audio_given, B)
        if given.any():
            cond.audio = self._blurred(x0)
            cond.audio_mask = given[:, None].expand(B, T).clone()
        none = keep(1.0 - d.everything, B)          # 1 where everything is dropped
        for name in ("style_mask", "sketch_mask", "arrangement_mask", "audio_mask"):
            m = getattr(cond, name)
            setattr(cond, name, m * (1 - none).view(B, *([1] * (m.dim() - 1))))
        return cond

    def _blurred(self, x0: torch.Tensor) -> torch.Tensor:
        k = int(self.rng.choice([1, 2, 4]))
        y = x0
        if k > 1:
            y = F.avg_pool1d(x0.transpose(1, 2), k, stride=1, padding=0)
            y = F.pad(y, (k - 1, 0), mode="replicate").transpose(1, 2)
        sigma = torch.empty(x0.shape[0], 1, 1).uniform_(0.2, 1.0, generator=self.gen)
        return y + sigma * torch.randn(y.shape, generator=self.gen)
