"""The generative delay's input side: live audio cut into blocks the model can use.

Captured audio is resampled to the codec's rate, cut into blocks aligned with the
delay stream's own blocks, and for every block two things are kept:

- its codec latents (in the model's standardised units), for route "latent": the
  block the stream generates N blocks later starts from them, noised to `strength`
  (0 gives back what was played, through the codec), and is conditioned on them;
- its sketch curves (loudness in dB, brightness in Hz, pitch as a MIDI note with
  voicing, onsets), for route "sketch": the player's phrasing drives a sketch-conditioned
  stream whose timbre comes from its prompt -- the method's own generative delay. They
  are lanes in the performer's units, as if typed (engine/controls.py): the engine fills
  a stream's controls with them where the performer gave no lane.

Output block b uses input block b - N. For b < N there is no input yet, and the
stream is fed silence: a delay line says nothing before its first echo.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr
import torch

from ..model.features import sketch_features

ROUTES = ("sketch", "latent")
MIN_DELAY_BLOCKS = 3      # input block b - N must be complete before block b is generated ahead of play
HISTORY = 4096            # samples of earlier input the curve windows reach back into
KEEP_BLOCKS_PER_DELAY = 4  # input blocks kept, in delays: how far the output may fall behind


@dataclass
class InputBlock:
    latents: torch.Tensor      # (1, Bf, D), model units
    lanes: dict                # curve -> (Bf,) in the performer's units (pitch NaN where unvoiced)
    audio: np.ndarray          # the block as captured, at the codec's rate


def check_delay(delay_blocks, route: str = "sketch") -> None:
    """A clear error for a delay that cannot be made, before anything of it is."""
    if route not in ROUTES:
        raise ValueError(f"unknown delay route {route!r}; routes are {list(ROUTES)}")
    if not isinstance(delay_blocks, int) or isinstance(delay_blocks, bool) or delay_blocks < MIN_DELAY_BLOCKS:
        raise ValueError(f"a generative delay needs at least {MIN_DELAY_BLOCKS} blocks of delay "
                         f"(the engine generates ahead of play), got {delay_blocks!r}")


class DelayInput:
    def __init__(self, capture, model, codec, server_rate: int, delay_blocks: int):
        check_delay(delay_blocks)
        self.capture, self.model, self.codec = capture, model, codec
        self.delay = delay_blocks
        self.rate = codec.cfg.sample_rate
        self.block_samples = model.cfg.block_frames * codec.cfg.hop
        self.resampler = soxr.ResampleStream(server_rate, self.rate, 1, dtype="float32")
        self.encoder = codec.stream_encoder()
        self._pending = np.zeros(0, dtype=np.float32)
        self._history = np.zeros(HISTORY, dtype=np.float32)
        self.blocks: dict[int, InputBlock] = {}
        self.captured = 0          # input blocks complete so far
        self.skipped = 0           # input blocks passed over when the output fell behind
        self._silence: InputBlock | None = None

    def pump(self) -> int:
        """Take what was captured since the last call; returns how many input blocks completed."""
        chunk = self.capture.read()
        if len(chunk):
            self._pending = np.concatenate([self._pending, self.resampler.resample_chunk(chunk)])
        done = 0
        while len(self._pending) >= self.block_samples:
            block, self._pending = self._pending[:self.block_samples], self._pending[self.block_samples:]
            self.blocks[self.captured] = self._analyse(block)
            self.blocks.pop(self.captured - KEEP_BLOCKS_PER_DELAY * self.delay, None)   # a few, not the set
            self.captured += 1
            done += 1
        return done

    def ready(self, out_block: int) -> bool:
        return out_block < self.delay or self._input_index(out_block) < self.captured

    def _input_index(self, out_block: int) -> int:
        """The input block output block `out_block` answers. Output that fell behind (a late
        engine loses time, the input does not) skips ahead to recent input: a delay answers
        what was just played, never what was played long ago, and never fails for it."""
        k = out_block - self.delay + self.skipped
        oldest = self.captured - KEEP_BLOCKS_PER_DELAY * self.delay + 1
        if k < oldest and k not in self.blocks:
            self.skipped += self.captured - 1 - k
            k = self.captured - 1
        return k

    def for_output(self, out_block: int) -> InputBlock:
        """The input block that output block `out_block` answers (silence before the first echo)."""
        if out_block < self.delay:
            if self._silence is None:
                self._silence = self._analyse(np.zeros(self.block_samples, dtype=np.float32), keep_state=False)
            return self._silence
        return self.blocks[self._input_index(out_block)]

    @torch.no_grad()
    def _analyse(self, block: np.ndarray, keep_state: bool = True) -> InputBlock:
        hop, bf = self.codec.cfg.hop, self.model.cfg.block_frames
        if keep_state:
            z = self.encoder(torch.from_numpy(np.ascontiguousarray(block))[None])
        else:
            z = self.codec.encode(torch.from_numpy(np.ascontiguousarray(block))[None])
        span = np.concatenate([self._history, block]) if keep_state else np.concatenate([np.zeros(HISTORY, np.float32), block])
        features = sketch_features(span, self.rate, hop)
        lanes = {curve: values[-bf:].astype(np.float64) for curve, values in features.items()}
        # a pitch means something only where it is voiced (as model/conditioning.py sketch_from_features)
        lanes["pitch"] = np.where(lanes["voiced"] > 0.5, lanes["pitch"], np.nan)
        if keep_state:
            self._history = span[-HISTORY:]
        return InputBlock(self.model.from_codec(z), lanes, block)
