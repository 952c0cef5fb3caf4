"""`train codec --periodicity W`: how much less the decoded audio repeats itself than the input.

Why: on recorded music the codec reads right pitches but loses the tracker's verdict. Of
the input's voiced frames the decoded audio is voiced in a third, and the frequencies in
those are mostly right (docs/dev/codec.md, "Where the pitch goes"). The mel and STFT
distances reward a smear that is right on average and cannot see whether a frame repeats
at its period, which is what the listener's tracker (YIN, `model/features.py`) asks. This
term asks it directly: YIN's difference of each 2048-sample frame at every lag in the
pitch range, normalised by the energy of the two stretches it compares (0 when the frame
repeats exactly at that lag, about 1 when it is unrelated to itself there or silent), taken
on the input and on the decoded audio. Only the input's periodic, audible frames count:

- over the whole lag range, the two curves' L1 (where the input repeats, and where not);
- at the input's own period (as the tracker picks it), how much less the decoded frame
  repeats than the input's.

The difference goes through an FFT (the same correlation `f0_voicing` takes), so the term
costs little beside the decoder.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..model.features import F0_MAX, F0_MIN, VOICING_THRESHOLD, f0_voicing

FRAME = 2048               # YIN frame, as features.f0_voicing
HOP = 480                  # 20 ms: the frames overlap fourfold
AUDIBLE_DB = -50.0         # as f0_voicing's voicing decision


def normalised_difference(audio: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """((B, frames, lags) normalised YIN difference over the pitch range's lags, (B, frames) level in dB)."""
    frames = audio.unfold(-1, FRAME, HOP)
    frames = frames - frames.mean(-1, keepdim=True)
    half = FRAME // 2
    head = F.pad(frames[..., :half], (0, half))
    n = 2 * FRAME
    r = torch.fft.irfft(torch.fft.rfft(frames, n=n) * torch.fft.rfft(head, n=n).conj(), n=n)[..., :half]
    cum = F.pad(torch.cumsum(frames.pow(2), -1), (1, 0))
    lags = torch.arange(half, device=audio.device)
    e0 = cum[..., half:half + 1]
    e_tau = cum[..., lags + half] - cum[..., lags]
    # the floor: silence reads as unrelated (1) rather than as repeating, and a quiet decoded
    # frame's gradient stays bounded (the ratio alone ignores level, so it grows as 1 / amplitude)
    floor = 2 * half * 10 ** (AUDIBLE_DB / 10)
    nd = (e0 + e_tau - 2 * r + floor) / (e0 + e_tau + floor)
    lo, hi = int(sample_rate / F0_MAX), min(half - 2, int(sample_rate / F0_MIN))
    level = 10 * torch.log10(frames.pow(2).mean(-1) + 1e-12)
    return nd[..., lo:hi], level


def tracker_period(nd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(value, lag index) of each frame's period as YIN picks it: the first lag under the
    voicing threshold, walked down to its local minimum (else the lowest lag of all).

    Why not the lowest lag: a steady tone repeats at every multiple of its period, and the
    lowest of those near-zero dips often falls on two or three periods, which the
    tracker (`features.f0_voicing`) never reads."""
    below = nd < VOICING_THRESHOLD
    best = torch.where(below.any(-1), below.int().argmax(-1), nd.argmin(-1))
    last = nd.shape[-1] - 1
    for _ in range(nd.shape[-1]):
        step = (best + 1).clamp(max=last)
        better = torch.gather(nd, -1, step.unsqueeze(-1)) < torch.gather(nd, -1, best.unsqueeze(-1))
        if not better.any():
            break
        best = torch.where(better.squeeze(-1), step, best)
    return torch.gather(nd, -1, best.unsqueeze(-1)).squeeze(-1), best


def periodicity_loss(reference: torch.Tensor, estimate: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """(B, N) input and decoded audio, aligned: the two terms above over the input's periodic frames,
    0 where it has none."""
    with torch.no_grad():
        want, level = normalised_difference(reference, sample_rate)
        dip, period = tracker_period(want)
        counted = ((dip < VOICING_THRESHOLD) & (level > AUDIBLE_DB)).to(reference.dtype)
    if counted.sum() == 0:
        return estimate.sum() * 0.0
    got, _ = normalised_difference(estimate, sample_rate)
    curve = (got - want).abs().mean(-1)
    at_period = F.relu(torch.gather(got, -1, period.unsqueeze(-1)).squeeze(-1) - dip)
    return ((curve + at_period) * counted).sum() / counted.sum()


def harmonic_targets(wave: torch.Tensor, frames: int, sample_rate: int, hop: int, delay: int):
    """The tracker's f0, voicing and whether it had a frame at all (B, frames), on the decoder's frames.

    Decoder frame f is a burst centred at f * hop + 2 * hop of the output, which trails the
    input by `delay` hops. The tracker's frame j is centred at j * hop + hop / 2, but its
    difference function reads only the first half of its 2048-sample window and the lag
    past it, so its verdict is about a moment some 1.5 to 2 hops earlier: a note change
    read between tracker frames 49 and 54 lies at 49.5. So decoder frame f hears tracker
    frame f + 3 - delay. Frames with no tracker frame (past the crop's ends) are not known,
    rather than unvoiced: a stream has no ends to learn silence at.
    """
    shift = 3 - delay
    f0 = np.zeros((wave.shape[0], frames), np.float32)
    voiced = np.zeros_like(f0)
    known = np.zeros_like(f0)
    for b, item in enumerate(wave.detach().float().cpu().numpy()):
        hz, v = f0_voicing(item, sample_rate, hop)
        src = np.arange(frames) + shift
        ok = (src >= 0) & (src < len(hz))
        f0[b, ok], voiced[b, ok], known[b, ok] = hz[src[ok]], v[src[ok]], 1.0
    return tuple(torch.from_numpy(x).to(wave.device) for x in (f0, voiced, known))
