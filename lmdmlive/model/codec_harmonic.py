"""A harmonic branch beside the codec's iSTFT decoder: partials whose phase runs on by construction.

Why: the decoder names a magnitude and a phase per bin, 25 Hz apart, every 10 ms. A
partial held between two bins has no bin whose phase advance is its own, so the decoded
frames do not repeat at the note's period and a pitch tracker hears noise. Yet the
latents hold the note: a small probe reads it on 0.81 of recorded voiced frames where
the decoder renders 0.49 (docs/dev/codec.md, "Is the pitch in the latents?").

This branch names per STFT frame a note (one of 88 piano keys, taught by the input's
pitch tracker) with a fine offset, a voicing gate and the amplitudes of `harmonics`
partials. Each partial's phase is carried from frame to frame at its own frequency (the
streaming state), and its spectrum -- the Hann window's main lobe centred on k * f0, its
bins alternating in sign so the burst sits mid-frame -- is added to the decoder's before
the inverse FFT. Frames that overlap then agree on every partial's phase, which is what
a phase vocoder does with a peak it has locked. It costs a few thousand complex adds a
second (12,800 at 32 partials); sinusoids in the time domain would cost a fifth of the
decode rate.

It starts silent (`level` is 0), so a trained codec grown with it sounds as before. It is
part of the decoder: trained with the rest of it (the note's cross-entropy also reaches
the decoder's layers), the latents do not change.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

NOTES = 88
LOWEST_NOTE = 21              # A0, the piano's lowest key (as the lane probe reads notes)
LOBE = 4                      # bins a partial's main lobe is spread over
OVERLAP_GAIN = 0.75           # Codec.overlap_add's Hann synthesis at 4 overlaps: 0.5 * (sum of w^2 = 1.5)
AMPLITUDE_FLOOR = 1e-4        # log-amplitudes are compared above it: about -80 dB of full scale


def note_hz(midi: torch.Tensor) -> torch.Tensor:
    return 440.0 * torch.pow(2.0, (midi - 69.0) / 12.0)


def hz_note_class(f0: torch.Tensor) -> torch.Tensor:
    """Tracker f0 (Hz, 0 where unvoiced) to the nearest key's index; -100 (ignored) where unvoiced."""
    midi = 69.0 + 12.0 * torch.log2(f0.clamp_min(1e-3) / 440.0)
    cls = (torch.round(midi) - LOWEST_NOTE).clamp(0, NOTES - 1).long()
    return torch.where(f0 > 0, cls, torch.full_like(cls, -100))


def _lobe(d: torch.Tensor) -> torch.Tensor:
    """The Hann window's spectrum at `d` bins from its centre, 1 at 0 and 0.5 at +-1.

    sinc(d) / (1 - d^2) is 0 / 0 at +-1; there it is 1 / (|d| (1 + |d|)) to first order
    (sin(pi d) ~ pi (|d| - 1) nearby), which keeps the gradient in the partial's position."""
    a = d.abs()
    near_one = (a - 1).abs() < 1e-3
    safe = torch.where(near_one, torch.zeros_like(d), d)
    one = torch.where(near_one, a, torch.ones_like(a))      # each branch finite everywhere: where()'s
    return torch.where(near_one, 1 / (one * (1 + one)), torch.sinc(safe) / (1 - safe * safe))  # gradient too


class HarmonicBranch(nn.Module):
    def __init__(self, channels: int, harmonics: int, sample_rate: int, n_fft: int, hop: int):
        super().__init__()
        self.harmonics, self.sample_rate, self.n_fft, self.hop = harmonics, sample_rate, n_fft, hop
        self.head = nn.Linear(channels, NOTES + 2 + harmonics)      # note logits, offset, gate, log-amplitudes
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.bias[NOTES + 2:].fill_(-3.0)                     # partials start quiet (e^-3, then the gate)
        self.level = nn.Parameter(torch.zeros(()))
        # how far the decoder's own spectrum gives way under the partials (0: not at all); a
        # training run sets it (train codec --harmonic-duck), a checkpoint keeps it
        self.register_buffer("duck", torch.zeros(()))
        self.register_buffer("orders", torch.arange(1, harmonics + 1, dtype=torch.float32), persistent=False)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "duck", torch.zeros(()))      # saved before the decoder could give way
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def read(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the branch names per frame from the decoder's hidden state h (B, F, channels)."""
        out = self.head(h)
        out = out.float() if out.dtype in (torch.float16, torch.bfloat16) else out      # autocast: float
        logits, offset, gate, amps = out.split([NOTES, 1, 1, self.harmonics], dim=-1)
        midi = logits.argmax(-1).float() + LOWEST_NOTE + 0.5 * torch.tanh(offset[..., 0])
        return {"note_logits": logits, "gate_logit": gate[..., 0], "f0": note_hz(midi),
                "amplitude": torch.exp(amps.clamp(max=6.0)) * torch.sigmoid(gate)}

    def spectrum(self, h: torch.Tensor, state=None, f0_taught: torch.Tensor | None = None):
        """Complex spectra (B, F, n_fft // 2 + 1) to add to the decoder's, what `read` named, and the
        state to go on from: each partial's phase at the last frame's centre and that frame's f0.

        `f0_taught` (B, F; Hz, 0 where unknown) is teacher forcing for training: the partials
        play at that f0 wherever it is above 0, whatever note the head names, so the
        amplitudes learn against the input's own note while the head is still guessing. On
        its own it did not wake a silent branch (probe T, docs/dev/codec.md); with the decoder
        giving way under the partials (`duck`) it did."""
        named = self.read(h)
        f0, amp = named["f0"], named["amplitude"]                        # (B, F), (B, F, K)
        if f0_taught is not None:
            f0 = torch.where(f0_taught > 0, f0_taught.to(f0.dtype), f0)
        B, Fr = f0.shape
        phase0, last_f0 = state if state is not None else (f0.new_zeros(B, self.harmonics), f0[:, :1])
        # a partial turns at the mean of the two frames' frequencies between their centres; the
        # turns are not differentiated: a frame's offset would otherwise be pulled by every later
        # frame's phase, a gradient summed over the whole crop
        held = f0.detach()
        before = torch.cat([last_f0, held[:, :-1]], dim=1)
        turn = 2 * math.pi * self.hop / self.sample_rate * 0.5 * (before + held)           # (B, F) per order 1
        # each partial's turns wrapped, then summed in float64: a stream cut into blocks and the
        # whole decode then agree on every phase however long they run
        steps = torch.remainder(turn[..., None] * self.orders, 2 * math.pi).double()      # (B, F, K)
        phase = phase0[:, None, :].double() + torch.cumsum(steps, dim=1)
        phase = (torch.remainder(phase + math.pi, 2 * math.pi) - math.pi).to(f0.dtype)
        bins = self.n_fft // 2 + 1
        centre = f0[..., None] * self.orders * (self.n_fft / self.sample_rate)           # fractional bin (B, F, K)
        first = torch.floor(centre).long() - (LOBE // 2 - 1)
        # a partial whose lobe would reach bin 0 (below 50 Hz) or past the top is left out: the
        # lobe's mirror image at negative frequencies is not drawn
        audible = ((first >= 1) & (centre < bins - LOBE)).float()
        idx = first[..., None] + torch.arange(LOBE, device=h.device)                     # (B, F, K, LOBE)
        # scaled by an rfft's N / 2, so that amplitudes of order 1 are partials near full scale
        weight = _lobe(idx.float() - centre[..., None]) * (amp * audible * (self.n_fft / 2))[..., None]
        sign = 1.0 - 2.0 * torch.remainder(idx, 2).float()                            # the burst mid-frame
        # unit phasors times the signed weights: polar() is undefined for a negative magnitude (its
        # gradient there has the wrong sign), and the level multiplies last so it learns from 0
        unit = torch.polar(torch.ones_like(weight), phase[..., None].expand_as(weight))
        value = unit * (weight * sign) * self.level
        idx = idx.clamp(0, bins - 1)
        spec = torch.zeros(B, Fr, bins, dtype=value.dtype, device=h.device)
        spec = spec.scatter_add(2, idx.reshape(B, Fr, -1), value.reshape(B, Fr, -1))
        named["cover"] = self._cover(named, f0_taught, idx, centre, audible, bins) if float(self.duck) > 0 else None
        return spec, named, (phase[:, -1], held[:, -1:])

    def _cover(self, named, f0_taught, idx, centre, audible, bins) -> torch.Tensor:
        """(B, F, bins) in [0, duck]: how far the decoder's own spectrum gives way, in each partial's
        lobe, where the branch is voiced (its gate; under teacher forcing, the tracker's verdict).

        Why: a partial added to bins the decoder already fills meets the decoder's own at an
        unrelated phase, so to first order the spectral losses see it neither help nor hurt,
        and the level and the amplitudes drift without a direction (run T: the level stayed
        within 5e-4 of 0 for 1,000 steps, taught or not). With the decoder out of the way,
        a partial's amplitude is what the loss hears in its bins. Not differentiated: the
        gate is taught by the tracker's voicing, not by what ducking costs the decoder."""
        voiced = torch.sigmoid(named["gate_logit"].detach())
        if f0_taught is not None:
            voiced = torch.where(f0_taught > 0, torch.ones_like(voiced), voiced)
        shape = _lobe(idx.float() - centre.detach()[..., None]).abs().clamp(max=1.0)      # (B, F, K, LOBE)
        shape = shape * (audible * voiced[..., None])[..., None]
        B, Fr = voiced.shape
        cover = torch.zeros(B, Fr, bins, dtype=shape.dtype, device=shape.device)
        cover = cover.scatter_reduce(2, idx.reshape(B, Fr, -1), shape.reshape(B, Fr, -1), reduce="amax")
        return (cover * self.duck).detach()


def partial_amplitudes(heard: torch.Tensor, f0: torch.Tensor, harmonics: int, n_fft: int, sample_rate: int):
    """What amplitude each of `harmonics` partials of `f0` (B, F; Hz) has in the input's spectra
    `heard` (B, F, bins; the decoder's convention, lined up with its frames), in the branch's own
    units, and whether the branch could play it (its lobe inside the spectrum).

    The bin nearest each partial, divided by the window lobe's height there and by what the
    overlap-add gives an analysed partial: a partial the branch plays at amplitude a reads
    back as a (tested). In a mix, what else sounds in that bin is counted too; the decoder
    gives way there (`duck`), so the partial stands for it."""
    bins = heard.shape[-1]
    orders = torch.arange(1, harmonics + 1, dtype=f0.dtype, device=f0.device)
    centre = f0[..., None] * orders * (n_fft / sample_rate)                             # (B, F, K)
    nearest = torch.round(centre).long().clamp(0, bins - 1)
    mag = heard.abs().gather(2, nearest)
    amp = mag / (_lobe(nearest.to(f0.dtype) - centre).abs().clamp_min(0.5) * (n_fft / 2) * OVERLAP_GAIN)
    playable = ((torch.floor(centre).long() - (LOBE // 2 - 1)) >= 1) & (centre < bins - LOBE)
    return amp, playable


def harmonic_losses(named: dict[str, torch.Tensor], f0_target: torch.Tensor, voiced: torch.Tensor,
                    known: torch.Tensor | None = None, heard: torch.Tensor | None = None,
                    level: torch.Tensor | None = None, n_fft: int = 0, sample_rate: int = 0) -> dict:
    """The branch's note against the tracker's on voiced frames, and its gate against the tracker's
    voicing. `f0_target`, `voiced`, `known`: (B, F) on the decoder's frames; frames not `known`
    (the tracker had no frame for them) teach neither.

    With `heard` (the input's spectra on the decoder's frames), also the partials' amplitudes
    (times the branch's `level`) against the input's own at the tracker's f0 (`partial_amplitudes`),
    in log-amplitude on the voiced frames. Why taught directly: through the spectral losses
    alone the amplitudes of probe T2 went to about e^-8.5, silent, while its gate opened and the
    decoder gave way under them (docs/dev/codec.md, "Where the pitch is lost")."""
    known = torch.ones_like(voiced, dtype=torch.bool) if known is None else known.bool()
    target = hz_note_class(f0_target * voiced)
    target = torch.where(known, target, torch.full_like(target, -100))
    logits = named["note_logits"]
    note = (F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=-100)
            if (target >= 0).any() else logits.sum() * 0)
    per_frame = F.binary_cross_entropy_with_logits(named["gate_logit"], voiced.float(), reduction="none")
    gate = (per_frame * known).sum() / known.sum().clamp_min(1)
    out = {"note": note, "voicing": gate}
    if heard is not None:
        frames = min(heard.shape[1], f0_target.shape[1])
        amp = named["amplitude"][:, :frames] * (level if level is not None else 1.0)
        f0 = (f0_target * voiced)[:, :frames]
        want, playable = partial_amplitudes(heard[:, :frames], f0, amp.shape[-1], n_fft, sample_rate)
        mask = playable & ((f0 > 0) & known[:, :frames])[..., None]
        miss = (torch.log(amp.abs() + AMPLITUDE_FLOOR) - torch.log(want + AMPLITUDE_FLOOR)).abs()
        out["amplitude"] = (miss * mask).sum() / mask.sum().clamp_min(1)
    return out
