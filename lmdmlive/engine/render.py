"""Offline rendering: a prompt to a WAV file, block by block, exactly as a live stream would.

The same code path as performance (KV cache, streaming decode, seeded noise per
block, the same provider of controls asked at the same frame times), so a render is a
faithful preview of what a stream plays, and the same seed gives the same file.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..model import generate_block
from ..model.default import ModelBundle
from ..model.loudness_follow import FollowingDecoder
from .controls import BlockControls, Provider, frame_times, to_conditions

MAX_SECONDS = 6 * 3600


def render_offline(bundle: ModelBundle, style: torch.Tensor | None, seconds: float, *, seed: int = 0,
                   steps: int | None = None, guidance: float | None = None,
                   progress: Callable[[int, int], None] | None = None, controls: Provider | None = None) -> np.ndarray:
    """Mono float32 audio at the codec's sample rate, `seconds` long.

    `controls(frame_times)` gives each block's controls (sketch lanes, arrangement, and its
    own steps, guidance or seed where it sets them), asked as a live stream is asked, on a
    clock at the codec's rate; otherwise every block has the prompt alone. Steps and
    guidance not given are the model's own (its card's, `model/sampling.py`).
    """
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be a number above 0 and at most {MAX_SECONDS}, got {seconds!r}")
    model, codec = bundle.lmdm, bundle.codec
    played = bundle.sampling.changed(steps=steps, guidance=guidance)
    cfg = model.cfg
    n_blocks = math.ceil(seconds / cfg.block_seconds)
    cache = model.new_cache(1)
    decoder = FollowingDecoder.of(codec)
    fixed = BlockControls(style=style)
    pieces = []
    with torch.no_grad():
        for i in range(n_blocks):
            c = controls(frame_times(i, bundle, codec.cfg.sample_rate)) if controls is not None else fixed
            z = generate_block(model, [cache], to_conditions(c, cfg), [seed if c.seed is None else c.seed],
                               steps=played.steps if c.steps is None else c.steps,
                               guidance=played.guidance if c.guidance is None else c.guidance,
                               sketch_guidance=played.sketch_guidance)
            pieces.append(decoder(model.to_codec(z), c.loud_db))
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
