"""What a codec's decoder is taught about phase directly, beside the spectral distances.

The spectral distances see magnitudes through windows of at most 85 ms (11.7 Hz bins), and
their gradient with respect to a phase is a landscape of ripples; the terms here name the
frequency itself (how far each bin turns per frame) and when to hold it (a carried head's
gate).
All of them read the input's own analysis frames lined up with the decoder's frames (heard_frames),
computed once per step by the caller: each is a full STFT of the batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..model import Codec
from ..model.codec_lock import local_peaks


def advance_loss(heard: torch.Tensor, advance: torch.Tensor, peaks: bool = False) -> torch.Tensor:
    """How far a carried head's per-bin phase advance is from the input's own, weighted by magnitude.

    Why taught directly: through the spectral losses alone a frequency is a needle in a
    landscape of ripples (an advance that is off by a little and one that is off by a lot
    look the same after overlap-add), and the head did not find it (docs/dev/codec.md).
    `heard` comes from heard_frames; 1 - cos is blind to wrapping.

    `peaks` counts only the input's partials (peak_bins) and measures the miss as a chord,
    |e^{ia} - e^{ib}|, which keeps pulling as the miss gets small where 1 - cos flattens: a
    phase carried along a partial is only as right as the advance at its peak, and a few hertz
    off there is the pitch that was lost (docs/dev/codec.md, "The phase at the peaks").
    """
    frames = min(advance.shape[1], heard.shape[1])
    now, before = heard[:, 1:frames], heard[:, :frames - 1]
    turned = torch.angle(now) - torch.angle(before)
    weight = torch.sqrt(now.abs() * before.abs())
    gap = advance[:, 1:frames] - turned
    if peaks:
        weight = weight * peak_bins(now.abs())
        miss = 2 * torch.sin(0.5 * gap).abs()
    else:
        miss = 1 - torch.cos(gap)
    return (weight * miss).sum() / weight.sum().clamp_min(1e-8)


PEAK_FLOOR = 0.03
"""A peak counts from this share of its frame's loudest bin up (-30 dB): below it the partials of real mixes are
lost under their louder neighbours' side lobes, and the advance there is noise's."""


def peak_bins(mag: torch.Tensor) -> torch.Tensor:
    """1 at each frame's local maxima of magnitude (B, F, bins) above PEAK_FLOOR and at the bins either side
    (a decoded peak may land one bin off the input's), else 0."""
    peak = (local_peaks(mag) & (mag > PEAK_FLOOR * mag.amax(-1, keepdim=True))).float()
    return F.max_pool1d(peak.reshape(-1, 1, mag.shape[-1]), 3, stride=1, padding=1).reshape(mag.shape)


def heard_frames(codec: Codec, wave: torch.Tensor, frames: int | None = None) -> torch.Tensor:
    """The input's analysis spectra lined up with the first `frames` decoder frames (all of them at None):
    decoder frame f spans encoder frame f + 3 - decoder_delay."""
    spectra = codec.analysis_frames(wave)
    shift = codec.cfg.n_fft // codec.cfg.stft_hop - 1 - codec.cfg.decoder_delay
    rest = spectra.shape[1] - shift
    return spectra[:, shift:shift + (rest if frames is None else min(frames, rest))]


def _turn_miss(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Magnitude-weighted 1 - cos of the angle between unit `out` turns and the input's `ref` turns."""
    weight = ref.abs()
    agree = (out * ref.conj()).real / weight.clamp_min(1e-8)
    return (weight * (1 - agree)).sum() / weight.sum().clamp_min(1e-8)


def phase_loss(heard: torch.Tensor, phasors: torch.Tensor) -> torch.Tensor:
    """How far the decoded phase turns from the input's: frame to frame in each bin (its frequency)
    and bin to bin in each frame (whether the bins of one partial turn together).

    Why: the advances a carried head learns (advance_loss) are worth nothing while its gates
    stay shut, and the spectral losses did not open them; the bins of one partial must also
    agree with each other, or right advances cost more than the absolute head's smear
    (docs/dev/codec.md, "A carried phase"). Both are what the output's own phase does, so
    the gates are taught by their effect. Turns, not phases: a constant offset is inaudible.
    """
    ref = heard[:, :phasors.shape[1]]
    out = phasors[:, :ref.shape[1]]
    in_time = _turn_miss(out[:, 1:] * out[:, :-1].conj(), ref[:, 1:] * ref[:, :-1].conj())
    across = _turn_miss(out[..., 1:] * out[..., :-1].conj(), ref[..., 1:] * ref[..., :-1].conj())
    return 0.5 * (in_time + across)


STEADY_POWER = 8
"""Sharpens `steadiness`: frames overlap by three quarters, so even noise turns by about the same angle
twice running (a plain clamped cosine read 0.56 on white noise, against 0.29 at this power), while a
held partial reads 1.00 and a 5 Hz vibrato of 1 % 0.97."""


def steadiness(heard: torch.Tensor) -> torch.Tensor:
    """Per frame and bin (B, F - 2, bins) of heard spectra (B, F, bins), how nearly the bin turned by the
    same angle as the frame before: 1 inside a held partial (and its side lobes, which turn with it), low
    in noise, where a note starts, and where a glide bends faster than the carried phase could follow."""
    turn = heard[:, 1:] * heard[:, :-1].conj()
    unit = turn / turn.abs().clamp_min(1e-8)
    return (unit[:, 1:] * unit[:, :-1].conj()).real.clamp(0.0, 1.0) ** STEADY_POWER


def gate_loss(heard: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of a carried head's gates against the input's own steadiness, weighted by magnitude.

    Why: the gates decide between a phase that keeps turning (the carried one, which can
    hold a partial between bins) and the absolute head's, which repeats with every latent
    frame and so plays every partial on the 25 Hz grid. Taught only by the effect of the
    output's phase, the gates closed where partials were held (0.28 to 0.39 at the loudest
    bins of a 67 Hz sine, docs/dev/codec.md, "Tones"): the absolute head matches three of
    every four frame-to-frame turns exactly, so opening them bought little. Here the input
    says where to hold: where its own advance is steady.
    """
    ref = heard[:, :gate.shape[1]]
    target = steadiness(ref)
    g = gate[:, 2:ref.shape[1]].clamp(1e-6, 1 - 1e-6)
    weight = ref[:, 2:].abs()
    miss = F.binary_cross_entropy(g, target, reduction="none")
    return (weight * miss).sum() / weight.sum().clamp_min(1e-8)
