"""Offline rendering: a prompt to a WAV file, block by block, exactly as a live stream would.

The same code path as performance (KV cache, streaming decode, seeded noise per
block), so a render is a faithful preview of what a stream plays, and the same
seed gives the same file.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..model import Conditions, generate_block
from ..model.default import ModelBundle
from ..model.loudness_follow import FollowingDecoder

MAX_SECONDS = 6 * 3600


def render_offline(bundle: ModelBundle, style: torch.Tensor | None, seconds: float, *, seed: int = 0,
                   steps: int = 4, guidance: float = 2.0, progress: Callable[[int, int], None] | None = None,
                   conditions: Callable[[int], Conditions] | None = None) -> np.ndarray:
    """Mono float32 audio at the codec's sample rate, `seconds` long.

    `conditions(block)` gives each block's conditions (sketch lanes, arrangement) when
    they change over time; otherwise every block has the prompt alone.
    """
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be a number above 0 and at most {MAX_SECONDS}, got {seconds!r}")
    model, codec = bundle.lmdm, bundle.codec
    cfg = model.cfg
    n_blocks = math.ceil(seconds / cfg.block_seconds)
    cache = model.new_cache(1)
    decoder = FollowingDecoder.of(codec)
    cond = Conditions(style=style) if style is not None else Conditions()
    pieces = []
    with torch.no_grad():
        for i in range(n_blocks):
            block_cond = conditions(i) if conditions is not None else cond
            z = generate_block(model, [cache], block_cond, [seed], steps=steps, guidance=guidance)
            pieces.append(decoder(model.to_codec(z), block_cond))
            if progress is not None:
                progress(i + 1, n_blocks)
    audio = np.concatenate(pieces)[: int(round(seconds * codec.cfg.sample_rate))]
    return np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def normalize_peak(audio: np.ndarray, peak_db: float = -1.0) -> np.ndarray:
    """Scale to a peak of `peak_db` dBFS (untrained weights produce arbitrary levels)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 1e-9:
        return audio
    return (audio * (10 ** (peak_db / 20) / peak)).astype(np.float32)
