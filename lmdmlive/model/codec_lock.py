"""Peak-tracked phase locking: how a carried head's advances are played when `CodecConfig.phase_lock` is set.

A carried head keeps a phase per bin, so the bins of one partial each drift by their own
offset, and the partial's window-shaped lobe comes apart between frames; overlap-add then
cancels part of it, and the pitch tracker hears less of the note. A windowed partial's
bins stand π apart from each other (a Hann window's lobe is real and positive, and each bin
further from the peak turns its phase by π). So, as the phase vocoder does: in every frame
each magnitude peak's phase goes on from the phase its bin had the frame before, turned by
the head's advance there, and every other bin takes its nearest peak's phase turned by π per
bin away from it. Neither gates nor the absolute head are read; onsets get no fresh phase,
which costs a little log-mel distance (docs/dev/codec.md, "The phase at the peaks").

Each frame reads only the frame before, so a stream decoded block by block equals a whole
decode, with the previous frame's phasors as the streaming state.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def local_peaks(mag: torch.Tensor) -> torch.Tensor:
    """True at each frame's local maxima of magnitude (B, F, bins): above the bin below, at least the bin above."""
    left = F.pad(mag[..., :-1], (1, 0), value=-1.0)
    right = F.pad(mag[..., 1:], (0, 1), value=-1.0)
    return (mag > left) & (mag >= right)


def nearest_peak(mag: torch.Tensor) -> torch.Tensor:
    """Per frame and bin of magnitudes (B, F, bins), the index of the frame's nearest local maximum (the lower
    one on a tie). A frame with no maximum (all equal, as in digital silence) names its first bin."""
    bins = mag.shape[-1]
    peak = local_peaks(mag)
    k = torch.arange(bins, device=mag.device).expand_as(mag)
    far = 2 * bins
    before = torch.where(peak, k, torch.full_like(k, -far)).cummax(-1).values
    after = torch.where(peak, k, torch.full_like(k, far)).flip(-1).cummin(-1).values.flip(-1)
    return torch.where(k - before <= after - k, before, after).clamp(0, bins - 1)


def locked_phasors(mag: torch.Tensor, advance: torch.Tensor, previous: torch.Tensor | None):
    """Unit phasors (B, F, bins) of magnitudes `mag` played with per-bin `advance` (radians per hop), and the
    last frame's phasors to go on from. `previous` (B, bins): the frame before this stretch (None: a start)."""
    near = nearest_peak(mag)
    k = torch.arange(mag.shape[-1], device=mag.device)
    lobe = math.pi * (k - near)                     # each bin's offset from its peak's phase
    phase = previous.angle() if previous is not None else torch.zeros_like(mag[:, 0])
    if not torch.is_grad_enabled() and mag.device.type == "cpu":
        return _locked_numpy(near, lobe, advance, phase)
    frames = []
    for t in range(mag.shape[1]):
        turned = phase + advance[:, t]
        phase = torch.remainder(turned.gather(-1, near[:, t]) + lobe[:, t] + math.pi, 2 * math.pi) - math.pi
        frames.append(phase)
    out = torch.polar(torch.ones_like(mag), torch.stack(frames, dim=1))
    return out, out[:, -1]


def _locked_numpy(near: torch.Tensor, lobe: torch.Tensor, advance: torch.Tensor, phase: torch.Tensor):
    """locked_phasors' frame loop in numpy, for playing: torch's per-operation overhead on one frame of
    481 bins is most of the loop's cost (as in codec._carry_numpy)."""
    import numpy as np
    nn_, ln, an = near.numpy(), lobe.float().numpy(), advance.float().numpy()
    ph = phase.float().numpy().copy()
    out = np.empty(an.shape, dtype=np.float32)
    rows = np.arange(an.shape[0])[:, None]
    for t in range(an.shape[1]):
        ph = (ph + an[:, t])[rows, nn_[:, t]] + ln[:, t]
        ph = np.remainder(ph + np.pi, 2 * np.pi) - np.pi
        out[:, t] = ph
    unit = torch.polar(torch.ones(out.shape), torch.from_numpy(out))
    return unit, unit[:, -1]
