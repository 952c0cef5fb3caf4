"""How far the audio a rollout decodes to is from the lanes it was played under, with a gradient.

Why: `eval model` scores a rollout's following on its decoded audio (loudness, spectral
centroid and a YIN pitch, `model/features.py`). A probe that reads lanes from latents
was trained on the codec's latents of real audio and read the generator's two-step
rollouts at chance (`lane_probe.py`; docs/dev/training.md, run 13), so its gradient told
the generator little. Here the judge is the listener's own measure, made differentiable:
the frozen decoder turns the rollout into audio and the same three curves are taken in
torch, so nothing has to carry over from one kind of latent to another.

- loudness: the RMS of a two-hop window in dB, as `loudness_db`;
- brightness: the spectral centroid of a 2048-point Hann frame, as `spectral_centroid`;
- pitch: YIN's difference at the lane's own period, normalised by the two stretches'
  energy (0 when the frame repeats exactly at that period, 1 when it is unrelated to
  itself there). YIN takes the first lag under its threshold, so a frame that repeats at
  half the period reads an octave up: that half lag is pushed away from repeating too.

Measured so far, it is a signal the generator can follow but has not learnt from: alone, it
lowers its own value on a fixed batch threefold in 15 steps, while on fresh batches of 4 at
`train arc`'s rate it makes held-out clips worse. Two ARC runs at a batch of 4 (weights 2
and 20) left it where it was, and one at 16 moved pitch the wrong way (docs/dev/training.md,
runs 14 to 16).

All in the units `sketch_units` gives the lanes. The first and last frame are left out:
their windows reach past the decoded stretch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..model.config import SKETCH_CURVES
from ..model.features import F0_MAX, F0_MIN, SILENCE_DB

PITCH_SIZE = 2048          # YIN frame, as features.f0_voicing
CENTROID_FFT = 2048
OCTAVE_UP_MARGIN = 0.5
"""Normalised difference under which the half period counts as repeating (unrelated is 1)."""


def frames(audio: torch.Tensor, hop: int, size: int) -> torch.Tensor:
    """(B, N) -> (B, N // hop, size) windows centred on each hop-sized frame, as features._frames."""
    n = audio.shape[-1] // hop
    pad = (size - hop) // 2
    return F.pad(audio, (pad, size)).unfold(-1, size, hop)[:, :n]


def loudness_units(audio: torch.Tensor, hop: int) -> torch.Tensor:
    rms = torch.sqrt(frames(audio, hop, 2 * hop).pow(2).mean(-1) + 1e-12)
    return (torch.clamp(20 * torch.log10(rms + 1e-9), min=SILENCE_DB) + 30.0) / 15.0


def brightness_units(audio: torch.Tensor, sample_rate: int, hop: int) -> torch.Tensor:
    window = torch.hann_window(CENTROID_FFT, periodic=False, dtype=audio.dtype)
    mag = torch.fft.rfft(frames(audio, hop, CENTROID_FFT) * window, dim=-1).abs()
    freqs = torch.fft.rfftfreq(CENTROID_FFT, 1.0 / sample_rate, dtype=audio.dtype)
    centroid = (mag * freqs).sum(-1) / mag.sum(-1).clamp_min(1e-9)
    return torch.log2(centroid.clamp_min(20.0) / 1000.0)


def repeat_at(audio: torch.Tensor, hop: int, *lags: torch.Tensor) -> list[torch.Tensor]:
    """Normalised YIN difference of each frame at each fractional lag (B, T) in samples:
    sum (x_j - x_{j+lag})^2 / sum (x_j^2 + x_{j+lag}^2) over the first half of the frame.
    The frames are cut once for all the lags asked."""
    x = frames(audio, hop, PITCH_SIZE)
    x = x - x.mean(-1, keepdim=True)
    half = PITCH_SIZE // 2
    head = x[..., :half]

    def at(k: torch.Tensor) -> torch.Tensor:
        moved = torch.gather(x, -1, torch.arange(half) + k.unsqueeze(-1))     # under PITCH_SIZE: k < half - 1
        return (head - moved).pow(2).sum(-1) / (head.pow(2) + moved.pow(2)).sum(-1).clamp_min(1e-9)

    out = []
    for lag in lags:
        lag = lag.clamp(1.0, half - 2.0)
        low = lag.floor()
        frac = lag - low
        out.append((1 - frac) * at(low.long()) + frac * at(low.long() + 1))
    return out


def heard_lane_loss(audio: torch.Tensor, sketch: torch.Tensor, mask: torch.Tensor, sample_rate: int,
                    hop: int) -> torch.Tensor:
    """Decoded audio (B, N) against the lanes (B, T, len(SKETCH_CURVES)) in model units, counted
    only where `mask` gives a lane: squared error on loudness and brightness, plus the pitch
    term above. 0 when nothing is given."""
    S = SKETCH_CURVES.index
    t = min(audio.shape[-1] // hop, sketch.shape[1])
    audio, sketch, mask = audio[:, :t * hop], sketch[:, :t], mask[:, :t].clone()
    mask[:, 0] = 0
    mask[:, -1] = 0
    note = sketch[..., S("pitch")] * 12 + 60
    f0 = 440.0 * torch.pow(2.0, (note - 69.0) / 12.0)
    in_range = (f0 >= F0_MIN) & (f0 <= F0_MAX)
    period = sample_rate / f0.clamp(F0_MIN, F0_MAX)
    pitch_given = mask[..., S("pitch")] * in_range
    octave_given = pitch_given * (2 * f0 <= F0_MAX)
    at_period, at_half = repeat_at(audio, hop, period, period / 2)
    terms = [((loudness_units(audio, hop) - sketch[..., S("loud")]) ** 2, mask[..., S("loud")]),
             ((brightness_units(audio, sample_rate, hop) - sketch[..., S("bright")]) ** 2, mask[..., S("bright")]),
             (at_period, pitch_given),
             (F.relu(OCTAVE_UP_MARGIN - at_half), octave_given)]
    total = torch.zeros(())
    for err, given in terms:
        if given.sum() > 0:
            total = total + (err * given).sum() / given.sum()
    return total


def heard_level_loss(audio: torch.Tensor, sketch: torch.Tensor, mask: torch.Tensor, hop: int) -> torch.Tensor:
    """Decoded audio (B, N) against its loudness lane, in level alone: per item, the mean over
    the frames the lane gives of (heard loudness - lane), squared, averaged over the items
    that give one. 0 when none does.

    Why level alone: after ARC-Forcing two steps follow a lane's shape a little less than four
    do, and play it louder (on one seed's 16 clips, 2.8 dB over the lane in the median against
    1.3 dB before; docs/dev/training.md, session 24), past what the engine's follower trims on
    a narrow lane. That is one number
    per item, a far steadier target than the frame-by-frame curves of `heard_lane_loss`,
    which a batch of four did not learn (runs 14 to 16)."""
    loud = SKETCH_CURVES.index("loud")
    t = min(audio.shape[-1] // hop, sketch.shape[1])
    given = mask[:, :t, loud].clone()
    given[:, 0] = 0
    given[:, -1] = 0
    count = given.sum(1)
    if not bool((count > 0).any()):
        return torch.zeros(())
    gap = ((loudness_units(audio[:, :t * hop], hop) - sketch[:, :t, loud]) * given).sum(1) / count.clamp_min(1)
    return gap[count > 0].pow(2).mean()

