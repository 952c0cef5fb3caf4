"""Fréchet distances to real music, and the real sets they are measured against.

Two judges, so the verdict is not only the project's own encoder's: `fad` fits Gaussians
to audio-prompt-encoder embeddings of 5 s windows; `fad_mel` to a statistic no trained
part of the project computes, each window's per-band mean and spread of its log-mel
spectrogram. `fad_mel` fits Gaussians with diagonal covariance: the evaluation has a few
dozen windows per side and the statistic 160 dimensions, and a full covariance fitted
to so few points is mostly estimation noise, under which one clip repeated (a collapsed
model) reads *closer* to real music than another real set does. Per dimension, the
spread is well estimated, and a set without any reads far. Both need a floor to mean anything: the distance between two *real* sets
of the same size, drawn from clips disjoint from each other and from the clips whose
captions prompted the generations, one random window per clip in turn, so a floor is
never a few clips' consecutive windows against their neighbours.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .spectral import log_mel


def frechet(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of embeddings (rows)."""
    mu1, mu2 = x.mean(0), y.mean(0)
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    # trace of sqrt(c1 c2) from the eigenvalues of sqrt(c1) c2 sqrt(c1), which is symmetric
    w, v = np.linalg.eigh(c1)
    s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = s1 @ c2 @ s1
    tr = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * tr)


def frechet_diagonal(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians with diagonal covariance fitted to two sets of rows."""
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + ((x.std(0, ddof=1) - y.std(0, ddof=1)) ** 2).sum())


@torch.no_grad()
def mel_stats(audio: np.ndarray, rate: int) -> np.ndarray:
    """Per-band mean and standard deviation over time of a window's log-mel spectrogram (160 values)."""
    mel = log_mel(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None], rate)[0]
    return torch.cat([mel.mean(dim=1), mel.std(dim=1)]).numpy()


@dataclass
class RealSet:
    """Real windows as both judges see them: encoder embeddings and log-mel statistics (one row each)."""
    enc: np.ndarray
    mel: np.ndarray

    def __len__(self) -> int:
        return len(self.enc)


def spread_windows(frames: list[int], n: int, window: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """n (clip position, start frame) pairs: clips in a shuffled order, one random window each per
    round, so every clip is used before any gives a second window."""
    usable = [k for k, f in enumerate(frames) if f >= window]
    if not usable:
        raise ValueError(f"no real clip holds a window of {window} frames")
    picks: list[tuple[int, int]] = []
    while len(picks) < n:
        for k in rng.permutation(usable):
            if len(picks) == n:
                break
            picks.append((int(k), int(rng.integers(0, frames[k] - window + 1))))
    return picks


def distances(gen: RealSet, reference: RealSet, floor: RealSet) -> dict:
    """`fad`, `fad_floor`, `fad_ratio` and their log-mel twins; sets are cut to the smallest size."""
    n = min(len(gen), len(reference), len(floor))
    fad, fad_floor = frechet(gen.enc[:n], reference.enc[:n]), frechet(floor.enc[:n], reference.enc[:n])
    mel, mel_floor = frechet_diagonal(gen.mel[:n], reference.mel[:n]), frechet_diagonal(floor.mel[:n], reference.mel[:n])
    return {"fad": fad, "fad_floor": fad_floor, "fad_ratio": fad / fad_floor if fad_floor > 0 else float("inf"),
            "fad_mel": mel, "fad_mel_floor": mel_floor,
            "fad_mel_ratio": mel / mel_floor if mel_floor > 0 else float("inf"), "fad_windows": n}
