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

import statistics
import time
from dataclasses import dataclass

import numpy as np
import soxr
import torch

from ..model import Conditions

PRIMER_SECONDS = 0.1        # codec audio fed to a fresh resampler before the block (its filter is shorter)
SPLICE_FADE_SECONDS = 0.02  # crossfade from the old version of the block into the new one
GUARD_BUFFERS = 2           # never touch the ring this close to the play head (the callback reads unlocked)
MIN_GAIN_SECONDS = 0.05     # not worth a block of compute for less
FALLBACK_ROUND_SECONDS = 0.4  # a round's compute before any is measured (the engine's starting lookahead)


@dataclass
class RewindPoint:
    """Everything needed to generate a stream's last block again, taken before it was decoded."""
    block: int                  # the block's index in its stream
    cond: Conditions            # what it was generated under (the model's, to compare a change against)
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


class MidBlockChanges:
    """The engine's part that generates a playing block again (mixed into `Engine`, whose
    streams, rings, `_generate` and `_plan` it uses)."""

    def _guard(self) -> int:
        bs = self.streams[0].player.buffer_size if self.streams else 256
        return GUARD_BUFFERS * bs + int(0.005 * self.server_rate)

    def redo_candidates(self) -> list:
        """Streams whose conditions changed while their last block plays, when generating that
        block again lands the change sooner than the next block would, and every stream keeps
        enough queued audio to ride out the extra round."""
        if not self.redo or not self.streams:
            return []
        recent = list(self.compute_seconds)[-32:]
        estimate = 1.5 * (statistics.median(recent) if recent else FALLBACK_ROUND_SECONDS)
        need = int((self.lookahead_target() + estimate) * self.server_rate)
        gain = int((estimate + MIN_GAIN_SECONDS) * self.server_rate) + self._guard()
        picked = []
        for s in self.streams:
            rp = s.rewind
            if (s.changed_at is None or s.delay is not None or not s.active or rp is None
                    or rp.block != s.blocks - 1 or s.cache.pending is None or rp.tried == s.changed_at):
                continue
            if s.player.ring.lookahead() >= max(need, gain):
                picked.append(s)
        others = [s for s in self.streams if s.active and s not in picked]
        if picked and any(s.player.ring.lookahead() < need for s in others):
            return []
        return picked

    def _redo_blocks(self, streams: list) -> None:
        model, rate = self.bundle.lmdm, self.bundle.codec.cfg.sample_rate
        saved = {id(s): (s.cache.pending, s.decoder.state, s.faded, s.blocks) for s in streams}
        planned, changes = [], []
        for s in streams:
            s.rewind.tried = s.changed_at
            s.cache.pending, s.blocks, s.faded = None, s.rewind.block, dict(s.rewind.faded)
            p = self._plan(s)
            if same_conditions(p.cond, s.rewind.cond):     # e.g. a change quantized to a later bar
                self._restore(s, saved[id(s)])
                continue
            planned.append(p)
            changes.append(s.changed_at)
        if not planned:
            return
        try:
            z = self._generate(planned)
        except BaseException:
            for p in planned:                            # a failed redo leaves every stream as it was
                self._restore(p.stream, saved[id(p.stream)])
            raise
        for i, (p, changed) in enumerate(zip(planned, changes)):
            s = p.stream
            rp, ring = s.rewind, s.player.ring
            s.decoder.state = rp.decoder_state
            audio = s.decoder(model.to_codec(z[i]), p.controls.loud_db)
            resampler, out, origin = primed_resample(rp.primer, audio, rate, self.server_rate, rp.in_total)
            plan = splice_plan(rp, origin, len(out), ring.read, self._guard())
            fade = int(SPLICE_FADE_SECONDS * self.server_rate)
            if plan is None or not ring.splice(plan[0], out[plan[1]:], fade, self._guard()):
                self._restore(s, saved[id(s)])          # too late: the block plays as it was
                continue
            cut = plan[0]
            s.resampler, s.out_origin, s.out_total = resampler, origin, len(out)
            s.in_total = rp.in_total + len(audio)
            s.primer = np.concatenate([rp.primer, audio])[-len(rp.primer):]
            s.blocks = rp.block + 1
            rp.cond = p.cond
            self.redos += 1
            if changed is not None and s.changed_at == changed:
                s.latencies.append(time.perf_counter() - changed + max(0, cut - ring.read) / self.server_rate)
                s.changed_at = None

    @staticmethod
    def _restore(s, saved) -> None:
        s.cache.pending, s.decoder.state, s.faded, s.blocks = saved
