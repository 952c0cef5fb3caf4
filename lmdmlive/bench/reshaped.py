"""The same weights in another shape: a longer or shorter window, a smaller block.

Positions are relative and the block length is not part of any weight's shape, so the
bench can time one set of weights at several windows and block sizes. Both the
in-process figures and the real-time runs (a process of their own) need this.
"""
from __future__ import annotations

import dataclasses

from ..model import LMDM
from ..model.int8 import enable_int8, uses_int8


def _copy_with(model: LMDM, **changes) -> LMDM:
    other = LMDM(dataclasses.replace(model.cfg, **changes)).eval()
    other.load_state_dict(model.state_dict())
    if uses_int8(model):
        enable_int8(other)
    return other


def with_window(model: LMDM, seconds: float) -> LMDM:
    """The same weights with a context window of about `seconds`."""
    cfg = model.cfg
    return _copy_with(model, context_blocks=max(1, round(seconds * cfg.frame_rate / cfg.block_frames)))


def with_block(model: LMDM, frames: int, window_seconds: float = 10.0) -> LMDM:
    """The same weights generating blocks of `frames` frames, with a window of about `window_seconds`."""
    return _copy_with(model, block_frames=frames,
                      context_blocks=max(1, round(window_seconds * model.cfg.frame_rate / frames)))
