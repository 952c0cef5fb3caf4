"""A loudness lane obeyed after the decoder: a gain envelope toward the requested level.

Why: the model follows a loudness lane only roughly. On held-out clips the generated
loudness correlates 0.80 with the lane (at sketch guidance 4), where real audio through
the codec reaches 0.91; with this follower, 0.91 too (docs/dev/model-core.md). The model
still shapes the sound (its attacks, its balance, how a crescendo brightens); a gain
stage after the decoder, as a VCA on a synthesizer would, moves each block's level the
rest of the way. The correction is capped at MAX_DB either way so that it trims the
model's dynamics and never replaces them, it never lifts near-silence (it would only
lift noise), and it never lifts a frame's peak above PEAK_DBFS: a lane asking for more
than the model played must not make the follower the thing that clips.

The lane arrives in dBFS, as the performer typed it (engine/controls.py `BlockControls.loud_db`,
NaN on frames left free): the follower never goes through the model's units.

The gain is continuous across blocks: it ramps from where the last block ended through
each frame's centre. A block with no loudness lane eases the gain back to 0 dB.

A codec whose decoder trails its latents (`decoder_delay`) plays frame j's moment mostly
in audio frame j + 1; the follower then reads the lane that many frames late
(`lag_frames`, carried across blocks), so a step in the lane lands on the sound it
asked for and not a frame before it.
"""
from __future__ import annotations

import numpy as np
import torch

MAX_DB = 6.0               # the most the follower moves a frame, up or down
STRENGTH = 1.0             # share of the frame's distance to the lane that is corrected
QUIET_DB = -50.0           # frames below this are never lifted
PEAK_DBFS = -1.0           # a lift stops where it would take a frame's peak above this


def lane_db(loud_db) -> tuple[np.ndarray, np.ndarray] | None:
    """(requested dBFS per frame, where it is given) of a loudness lane (NaN: not given), or None
    when no frame of it is given."""
    if loud_db is None:
        return None
    db = np.asarray(loud_db, dtype=np.float64)
    given = np.isfinite(db)
    if not bool(given.any()):
        return None
    return np.where(given, db, 0.0), given


def lag_frames(codec_cfg) -> int:
    """Whole frames by which a codec's audio trails its latents, to the nearest frame."""
    return int(round(codec_cfg.delay_samples / codec_cfg.hop))


class LoudnessFollower:
    """Per stream: gains successive blocks toward their loudness lanes; `gain_db` and the
    lane's last `lag_frames` frames (`lane_tail`) are its state."""

    def __init__(self, hop: int, strength: float = STRENGTH, max_db: float = MAX_DB, lag_frames: int = 0):
        self.hop, self.strength, self.max_db = int(hop), float(strength), float(max_db)
        self.lag = int(lag_frames)
        self.gain_db = 0.0
        self.lane_tail = (np.zeros(self.lag), np.zeros(self.lag, dtype=bool))

    def _lagged(self, lane, frames: int):
        """The lane as the audio of this block hears it: `lag` frames late, the first from the last block."""
        if self.lag == 0:
            return lane
        want, given = lane if lane is not None else (np.zeros(frames), np.zeros(frames, dtype=bool))
        want = np.concatenate([self.lane_tail[0], want])
        given = np.concatenate([self.lane_tail[1], given])
        self.lane_tail = (want[-self.lag:], given[-self.lag:])
        return (want[:-self.lag], given[:-self.lag]) if bool(given[:-self.lag].any()) else None

    def __call__(self, audio: np.ndarray, lane: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        lane = self._lagged(lane, len(audio) // self.hop)
        n = len(audio) // self.hop
        if n == 0 or (lane is None and self.gain_db == 0.0):
            return audio
        frames = audio[: n * self.hop].reshape(n, self.hop)
        got = 20 * np.log10(np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) + 1e-9)
        gain = np.zeros(n)
        if lane is not None:
            want, given = lane
            m = min(n, len(want))
            step = self.strength * (want[:m] - got[:m])
            step = np.where(got[:m] < QUIET_DB, np.minimum(step, 0.0), step)
            gain[:m] = np.where(given[:m], np.clip(step, -self.max_db, self.max_db), 0.0)
        room = _headroom_db(audio, n, self.hop)
        gain = np.minimum(gain, room)
        start = min(self.gain_db, room[0])       # the one place the gain may step: down, to stay unclipped
        centres = (np.arange(n) + 0.5) * self.hop
        at = np.arange(len(audio))
        curve = np.interp(at, np.concatenate([[0.0], centres]), np.concatenate([[start], gain]))
        self.gain_db = float(gain[-1])
        return (audio * 10 ** (curve / 20)).astype(audio.dtype)


def _headroom_db(audio: np.ndarray, n: int, hop: int) -> np.ndarray:
    """Per frame, the most lift that keeps every sample it reaches under PEAK_DBFS (never below 0 dB).

    The gain is interpolated between frame centres, so a frame's gain also reaches into
    half of each neighbour: its room is the least of the three frames'. Samples past
    the last whole frame count as the last frame's.
    """
    peaks = np.abs(audio[: n * hop].reshape(n, hop)).max(axis=1).astype(np.float64)
    if len(audio) > n * hop:
        peaks[-1] = max(peaks[-1], float(np.abs(audio[n * hop:]).max()))
    room = np.maximum(PEAK_DBFS - 20 * np.log10(peaks + 1e-12), 0.0)
    padded = np.concatenate([room[:1], room, room[-1:]])
    return np.minimum(np.minimum(padded[:-2], padded[1:-1]), padded[2:])


class FollowingDecoder:
    """A streaming decoder followed by a loudness follower, rewound together.

    `state` holds both, so whoever saves and restores a decoder's state (the engine,
    to generate a playing block again) rewinds the follower's gain with it.
    """

    def __init__(self, decoder, hop: int, lag_frames: int = 0):
        self.decoder, self.follower = decoder, LoudnessFollower(hop, lag_frames=lag_frames)

    @classmethod
    def of(cls, codec) -> "FollowingDecoder":
        """A fresh stream of `codec`, its follower reading the lane as late as the codec plays."""
        return cls(codec.stream_decoder(), codec.cfg.hop, lag_frames(codec.cfg))

    @property
    def state(self):
        return self.decoder.state, self.follower.gain_db, self.follower.lane_tail

    @state.setter
    def state(self, value) -> None:
        self.decoder.state, self.follower.gain_db, self.follower.lane_tail = value

    @torch.no_grad()
    def __call__(self, z: torch.Tensor, loud_db=None) -> np.ndarray:
        """Mono audio of one stream's block (NaN-free), gained toward its loudness lane `loud_db`
        ((block_frames,) dBFS, NaN where not given; None: no lane)."""
        audio = np.nan_to_num(self.decoder(z)[0].numpy(), nan=0.0, posinf=0.0, neginf=0.0)
        return self.follower(audio, lane_db(loud_db))


def follow_blocks(audio: np.ndarray, loud_db, hop: int, block_frames: int, lag_frames: int = 0) -> np.ndarray:
    """What a FollowingDecoder would have played for `audio` decoded block by block under the
    loudness lane `loud_db` ((frames,) dBFS over all the blocks, NaN where not given; None: no
    lane). Audio past the lane's last whole block is left as it is."""
    follower, size = LoudnessFollower(hop, lag_frames=lag_frames), hop * block_frames
    if loud_db is None:
        return audio.copy()
    blocks = len(loud_db) // block_frames
    lanes = [lane_db(loud_db[b * block_frames:(b + 1) * block_frames]) for b in range(blocks)]
    return np.concatenate([follower(audio[b * size:(b + 1) * size], lane) for b, lane in enumerate(lanes)]
                          + [audio[blocks * size:]])
