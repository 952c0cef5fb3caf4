"""Changes heard mid-block: the block that is playing is generated again under the new
conditions and spliced in just ahead of the play head.

Without this, a change waits for the next block boundary: control-to-sound latency is
up to a whole block plus the lookahead (p95 about 0.95 x 480 ms + 170 ms at the default
block). But the block playing now is still *pending* in its stream's KV cache (a
finished block enters the cache with the next block's first step), so it can be
generated again from exactly the same context and the same noise (the noise of a block
depends only on the stream's seed and the block's index). The two versions share their
past and their noise and differ only by the change, which is what makes a short
crossfade between them at the play head sound like a change and not like a cut.

What must be rewound with the block, kept in a `RewindPoint` when it is first written:
the streaming decoder's state before it, the crossfade state of the conditions, and
where its audio sits in the ring. The resampler cannot be rewound (soxr keeps its
state inside), so the new block goes through a fresh resampler primed with the codec
audio just before the block; its output is aligned to its input (measured: an impulse
at input sample n comes out at n x ratio), which places every new sample at an exact
ring position.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr
import torch

from ..model import Conditions

PRIMER_SECONDS = 0.1        # codec audio fed to a fresh resampler before the block (its filter is shorter)
SPLICE_FADE_SECONDS = 0.02  # crossfade from the old version of the block into the new one
GUARD_BUFFERS = 2           # never touch the ring this close to the play head (the callback reads unlocked)
MIN_GAIN_SECONDS = 0.05     # not worth a block of compute for less


@dataclass
class RewindPoint:
    """Everything needed to generate a stream's last block again, taken before it was decoded."""
    block: int                  # the block's index in its stream
    cond: Conditions            # what it was generated under
    ring_pos: int               # absolute ring position of its first resampled sample
    ideal: int                  # that sample's index on the stream's ideal output timeline
    in_total: int               # codec-rate samples decoded before it
    decoder_state: object       # the streaming decoder's state before it
    primer: np.ndarray          # the last PRIMER_SECONDS of codec audio before it
    faded: dict                 # the conditions' crossfade state before it
    tried: float | None = None  # the change (its time) already tried on this block


def same_conditions(a: Conditions, b: Conditions) -> bool:
    for name in vars(a):
        x, y = getattr(a, name), getattr(b, name)
        if (x is None) != (y is None) or (x is not None and (x.shape != y.shape or not torch.equal(x, y))):
            return False
    return True


def primed_resample(primer: np.ndarray, audio: np.ndarray, in_rate: int, out_rate: int, in_before: int):
    """A fresh resampler fed `primer` then `audio`: (resampler, output, ideal index of output[0]).

    `in_before` counts the codec-rate samples decoded before `audio`, so the primer
    starts at input sample in_before - len(primer), whose ideal output index is that
    times the rate ratio.
    """
    stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32")
    out = stream.resample_chunk(np.concatenate([primer, audio]).astype(np.float32))
    origin = int(round((in_before - len(primer)) * out_rate / in_rate))
    return stream, out, origin


def splice_plan(rp: RewindPoint, origin: int, out_len: int, read: int, guard: int) -> tuple[int, int] | None:
    """(ring position to cut at, index into the new output there), or None when nothing
    of the old block is left to replace far enough ahead of the play head."""
    offset = rp.ring_pos + origin - rp.ideal          # ring position of output[0]
    cut = max(rp.ring_pos, read + guard)
    j = cut - offset
    if j < 0 or j >= out_len:
        return None
    return cut, j
