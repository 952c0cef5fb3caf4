"""The audio codec: waveform <-> latent frames, with exact streaming in both directions.

Both directions are causal: every convolution only looks back, and the (inverse) STFT
frames are overlap-added with the unfinished tail carried to the next call. So a
stream decoded block by block equals the whole sequence decoded at once (to float
rounding), and block joins are not seams but ordinary samples.

Decoder: latent frames are projected and reshaped to `upsample` STFT frames each
(a learned pixel shuffle), refined by causal ConvNeXt layers at the STFT frame rate,
and turned into a log-magnitude and a phase per bin, then an inverse FFT and a
windowed overlap-add -- the structure of an iSTFT vocoder, which is cheap on a CPU
because all the work happens at ~100 frames per second instead of 24,000 samples.

Phase (`phase_head`). An "absolute" head names each frame's phase from the frames its
convolutions see. A held note needs each bin's phase to keep advancing by the same
step for seconds, which no finite receptive field can count: steady latents give the
same phase every frame, so a sustained partial comes out as a smear on the 25 Hz grid
at a fraction of its level. A "carried" head keeps each bin's phase as streaming state:
every frame it turns the carried phase by a predicted advance (the bin's own plus up to
two bins' worth of offset) and blends it, by a learned gate, with the absolute head's
phase, which still places onsets where the carried phase knows nothing. With `phase_lock`
the same advances are played by peak-tracked locking instead (codec_lock.py), which keeps
the bins of each partial turning together.

Delay (`decoder_delay`). Encoder frame f spans the n_fft samples that end where latent
frame f / upsample's audio ends, but decoder frame f is overlap-added over the n_fft
samples that start there: without a delay, a decoder frame near the end of its latent
must invent up to three hops (30 ms) its latent never heard. Trained to trail its input
by three hops, every decoder frame spans exactly the audio of its encoder frame. The
stream is the same causal computation, 30 ms later; whoever compares decoded audio
with its source lines them up with `Codec.aligned`.

Encoder: a causal STFT's log-magnitudes, causal ConvNeXt layers, and a learned
folding of `upsample` STFT frames into one latent frame (mean and log-variance, so the
codec can be trained as a VAE whose latents a diffusion model can fit).

With `encoder_phase` the encoder also reads, per bin, how far its phase turned since the
previous frame beyond the bin's own centre frequency (as a unit phasor: cosine and
sine). Magnitudes 25 Hz apart only hint at a partial's exact frequency; its phase
advance names it. An encoder that reads magnitudes alone cannot put a pitch into the
latents that no magnitude shows, and recorded music lost 80 % of its pitched frames
through such a codec (docs/dev/codec.md, "Recorded music").
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .codec_harmonic import HarmonicBranch
from .codec_lock import locked_phasors
from .config import CodecConfig

CARRY_GATE_START = 0.0
"""Gate logit a carried phase head starts from: an even blend. Started at -3 (mostly the
absolute phase, so a grown decoder starts where it was), the gates got too little
gradient to open: their bias moved by 0.006 in 400 steps (docs/dev/codec.md)."""


class Decoded(NamedTuple):
    """What `Codec.decode_with_phase` hands training: the audio and the parts of it that are taught directly."""
    audio: torch.Tensor
    advance: torch.Tensor | None      # a carried head's per-bin phase advance (B, F, bins)
    phasors: torch.Tensor | None      # the output's unit phasors (B, F, bins)
    named: dict | None                # what a harmonic branch named per frame
    gate: torch.Tensor | None         # a carried head's gate per bin (B, F, bins): 1 holds the carried phase


def kl_to_prior(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-element KL (nats) of the encoder's Gaussian to N(0, 1).

    One formula for two readers: training penalises it, and `eval codec` sums it into
    the information rate the latents carry.
    """
    return 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar)


def _carry_numpy(turn: torch.Tensor, fresh: torch.Tensor, p: torch.Tensor):
    """The carried phase's frame loop in numpy, for playing: the same sums, without torch's
    per-operation overhead, which at 481 bins is most of the cost (2.5 against 0.4 ms a
    12-frame block measured on one thread)."""
    import numpy as np
    tn, fn = turn.numpy(), fresh.numpy()
    out = np.empty_like(fn)
    q = p.numpy().copy()
    for t in range(fn.shape[1]):
        q = tn[:, t] * q + fn[:, t]
        q /= np.maximum(np.abs(q), 1e-6)
        out[:, t] = q
    return torch.from_numpy(out), torch.from_numpy(q.copy())


class CausalDepthwiseConv(nn.Module):
    """A per-channel causal convolution on (B, T, C) frames.

    Training runs it as a grouped Conv1d, which is the fast way to differentiate it over
    long sequences. Inference adds up `kernel` shifted, weighted copies of the frames
    instead: the same sum, but at the dozens of frames a streaming block holds, oneDNN's
    per-call setup of a grouped convolution costs more than its arithmetic (measured here,
    one thread, 256 channels x 48 frames: 99 us as a Conv1d, 42 us as shifted sums).
    """

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(channels, channels, kernel, groups=channels)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None):
        """x (B, T, C); state (B, kernel - 1, C) of previous inputs, or None for silence."""
        if state is None:
            state = x.new_zeros(x.shape[0], self.kernel - 1, x.shape[2])
        xs = torch.cat([state, x], dim=1)
        if torch.is_grad_enabled():
            y = self.conv(xs.transpose(1, 2)).transpose(1, 2)
        else:
            T = x.shape[1]
            taps = self.conv.weight[:, 0, :].t().contiguous()              # (kernel, C)
            y = torch.addcmul(self.conv.bias, xs[:, :T], taps[0])
            for k in range(1, self.kernel):
                y.addcmul_(xs[:, k:k + T], taps[k])
        return y, xs[:, xs.shape[1] - (self.kernel - 1):]


class ConvNeXtLayer(nn.Module):
    def __init__(self, channels: int, kernel: int, mlp_ratio: int):
        super().__init__()
        self.dwconv = CausalDepthwiseConv(channels, kernel)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.fc1 = nn.Linear(channels, mlp_ratio * channels)
        self.fc2 = nn.Linear(mlp_ratio * channels, channels)
        self.gamma = nn.Parameter(torch.full((channels,), 0.1))

    def forward(self, x: torch.Tensor, state):  # x (B, T, C)
        y, state = self.dwconv(x, state)
        y = self.fc2(F.gelu(self.fc1(self.norm(y))))
        return x + self.gamma * y, state


class _Stack(nn.Module):
    def __init__(self, cfg: CodecConfig, n: int):
        super().__init__()
        self.layers = nn.ModuleList(ConvNeXtLayer(cfg.channels, cfg.kernel, cfg.mlp_ratio) for _ in range(n))

    def forward(self, x, states):
        states = states or [None] * len(self.layers)
        new = []
        for layer, s in zip(self.layers, states):
            x, s = layer(x, s)
            new.append(s)
        return x, new


def _first_half(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """The first half of a projection's outputs, without computing the second half."""
    half = linear.out_features // 2
    return F.linear(x, linear.weight[:half], linear.bias[:half])


class Codec(nn.Module):
    def __init__(self, cfg: CodecConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.taught_advance = False
        """Training only: a carried head's advances turn the phase detached, so they learn from the input's
        own advance alone (train/codec_phase.advance_loss) and gates opening onto them cannot pull them off."""
        bins = cfg.n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(cfg.n_fft, periodic=True), persistent=False)
        # encoder
        self.enc_in = nn.Linear(3 * bins if cfg.encoder_phase else bins, cfg.channels)
        self.enc_stack = _Stack(cfg, cfg.encoder_layers)
        self.enc_norm = nn.LayerNorm(cfg.channels, eps=1e-6)
        self.enc_out = nn.Linear(cfg.upsample * cfg.channels, 2 * cfg.latent_dim)
        # decoder
        self.dec_in = nn.Linear(cfg.latent_dim, cfg.upsample * cfg.channels)
        self.dec_stack = _Stack(cfg, cfg.decoder_layers)
        self.dec_norm = nn.LayerNorm(cfg.channels, eps=1e-6)
        self.dec_out = nn.Linear(cfg.channels, 2 * bins)
        if cfg.phase_head == "carried":
            self.dec_phase = nn.Linear(cfg.channels, 2 * bins)       # advance offset, gate
            nn.init.zeros_(self.dec_phase.weight)
            with torch.no_grad():
                self.dec_phase.bias[:bins].zero_()
                self.dec_phase.bias[bins:].fill_(CARRY_GATE_START)
        if cfg.harmonics:
            self.dec_harmonic = HarmonicBranch(cfg.channels, cfg.harmonics, cfg.sample_rate, cfg.n_fft, cfg.stft_hop)
        # a bin's centre frequency turns its phase by 2 pi k hop / n_fft per frame
        self.register_buffer("bin_advance", 2 * math.pi * torch.arange(bins) * cfg.stft_hop / cfg.n_fft,
                             persistent=False)

    # ---- encoder -----------------------------------------------------------------------

    def _check_wave(self, wave: torch.Tensor) -> None:
        if wave.dim() != 2:
            raise ValueError(f"audio must be (batch, samples), got shape {tuple(wave.shape)}")
        if wave.shape[1] % self.cfg.hop:
            raise ValueError(f"{wave.shape[1]} samples is not a whole number of {self.cfg.hop}-sample latent frames")

    def _spectra(self, wave, past=None, lead: int = 0):
        """Complex spectra (B, lead + F, bins) of the encoder's frames, and the padded audio they were cut
        from: frame f ends where STFT hop f of `wave` ends, `past` (or silence) filling the first window
        and, with `lead`, that many frames before it."""
        cfg = self.cfg
        if past is None:
            past = wave.new_zeros(wave.shape[0], cfg.n_fft - cfg.stft_hop + lead * cfg.stft_hop)
        padded = torch.cat([past, wave], dim=1)
        return torch.fft.rfft(padded.unfold(1, cfg.n_fft, cfg.stft_hop) * self.window, dim=-1), padded

    def _encoder_input(self, spectra):
        """Log-magnitudes, and with encoder_phase each bin's phase advance past its centre frequency
        (the first of `spectra`'s frames is only there to be advanced from)."""
        if not self.cfg.encoder_phase:
            return torch.log(spectra.abs() + 1e-4)
        now, before = spectra[:, 1:], spectra[:, :-1]
        turn = now * before.conj() * torch.polar(torch.ones_like(self.bin_advance), -self.bin_advance)
        unit = turn / (turn.abs() + 1e-8)       # silence reads as no turn at all (0, 0)
        return torch.cat([torch.log(now.abs() + 1e-4), unit.real, unit.imag], dim=-1)

    def _encode_frames(self, wave, state):
        cfg = self.cfg
        past, conv_states = state if state is not None else (None, None)
        lead = 1 if cfg.encoder_phase else 0
        spectra, padded = self._spectra(wave, past, lead)
        x = self.enc_in(self._encoder_input(spectra))                            # (B, F, C)
        x, conv_states = self.enc_stack(x, conv_states)
        x = self.enc_norm(x)
        B, Fr, C = x.shape
        stats = self.enc_out(x.reshape(B, Fr // cfg.upsample, cfg.upsample * C))  # (B, T, 2D)
        new_past = padded[:, padded.shape[1] - (cfg.n_fft - cfg.stft_hop + lead * cfg.stft_hop):]
        return stats, (new_past, conv_states)

    def encode_stats(self, wave: torch.Tensor):
        """Mean and log-variance of the latents of `wave` (B, N) -> two (B, N / hop, latent_dim)."""
        self._check_wave(wave)
        stats, _ = self._encode_frames(wave, None)
        mean, logvar = stats.chunk(2, dim=-1)
        return mean, logvar.clamp(-12.0, 6.0)

    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        return self.encode_stats(wave)[0]

    # ---- decoder -----------------------------------------------------------------------

    def _carried_phase(self, h, phase, turning):
        """Unit phasors (B, F, bins), the phasor to go on from, the advance each bin was turned by and its
        gate (both (B, F, bins)).

        p[t] = normalise(g[t] e^{i a[t]} p[t-1] + (1 - g[t]) e^{i phase[t]}). Normalising
        every frame is what lets a gate near 1 hold a partial: without it a steady absolute
        phase adds up, frame after frame, to a constant that outweighs the turning part.
        """
        offset, gate = self.dec_phase(h).float().chunk(2, dim=-1)
        g = torch.sigmoid(gate)
        advance = self.bin_advance + math.pi * torch.tanh(offset)
        turn = torch.polar(g, advance.detach() if self.taught_advance else advance)
        fresh = torch.polar(1 - g, phase)
        p = turning if turning is not None else torch.zeros_like(fresh[:, 0])
        if not torch.is_grad_enabled() and fresh.device.type == "cpu":
            return (*_carry_numpy(turn, fresh, p), advance, g)
        out = []
        for t in range(fresh.shape[1]):
            p = turn[:, t] * p + fresh[:, t]
            p = p / p.abs().clamp_min(1e-6)
            out.append(p)
        return torch.stack(out, dim=1), p, advance, g

    def decoder_polar(self, z: torch.Tensor, conv_states=None, with_phase: bool = True):
        """The decoder before its phase is settled: per STFT frame the magnitude and the absolute head's phase
        (B, F, bins), its hidden state h (B, F, channels) and the convolutions' state to go on from.
        Apart from decoding, it lets a probe pair these magnitudes with another phase (train/codec_probe.py).
        Without `with_phase` the absolute phase is None and its half of the projection is never computed:
        a locked decode does not read it."""
        cfg = self.cfg
        B, T, _ = z.shape
        x = self.dec_in(z).reshape(B, T * cfg.upsample, cfg.channels)            # (B, F, C)
        x, conv_states = self.dec_stack(x, conv_states)
        h = self.dec_norm(x)
        if not with_phase:
            logmag = _first_half(self.dec_out, h).float()
            return torch.exp(logmag.clamp(max=8.0)), None, h, conv_states
        logmag, phase = self.dec_out(h).float().chunk(2, dim=-1)     # float: polar and the FFT under autocast
        return torch.exp(logmag.clamp(max=8.0)), phase, h, conv_states

    def overlap_add(self, spec: torch.Tensor, carry: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Complex spectra (B, F, bins) -> audio (B, F * hop) and the three hops still owed to the next frames."""
        cfg = self.cfg
        frames = torch.fft.irfft(spec, n=cfg.n_fft, dim=-1) * self.window * 0.5  # (B, F, n_fft)
        B, Fr, hop = frames.shape[0], frames.shape[1], cfg.stft_hop
        parts = frames.view(B, Fr, 4, hop)
        out = frames.new_zeros(B, Fr + 3, hop)
        for r in range(4):
            out[:, r:r + Fr] = out[:, r:r + Fr] + parts[:, :, r]
        if carry is not None:
            out[:, :3] = out[:, :3] + carry
        return out[:, :Fr].reshape(B, Fr * hop), out[:, Fr:]

    def _decode_frames(self, z, state, f0_taught=None):
        """One stretch of the decoder: audio, the state to go on from, a carried head's (advance, phasors, gate)
        (or None) and what a harmonic branch named (or None). `f0_taught`: HarmonicBranch.spectrum."""
        conv_states, carry, turning, partials = state if state is not None else (None, None, None, None)
        mag, phase, h, conv_states = self.decoder_polar(z, conv_states, with_phase=not self.cfg.phase_lock)
        carried = None
        if self.cfg.phase_lock:
            offset = _first_half(self.dec_phase, h).float()     # the gates are not read under the lock
            advance = self.bin_advance + math.pi * torch.tanh(offset)
            unit, turning = locked_phasors(mag, advance.detach() if self.taught_advance else advance, turning)
            carried = (advance, unit, None)
            spec = mag * unit
        elif self.cfg.phase_head == "carried":
            unit, turning, advance, gate = self._carried_phase(h, phase, turning)
            carried = (advance, unit, gate)
            spec = mag * unit
        else:
            spec = torch.polar(mag, phase)
            if torch.is_grad_enabled():          # training may score how an absolute head's phase turns too
                carried = (None, torch.polar(torch.ones_like(phase), phase), None)
        named = None
        if self.cfg.harmonics:
            extra, named, partials = self.dec_harmonic.spectrum(h, partials, f0_taught)
            spec = spec + extra if named["cover"] is None else spec * (1 - named["cover"]) + extra
        audio, carry = self.overlap_add(spec, carry)
        return audio, (conv_states, carry, turning, partials), carried, named

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Audio of latents (B, T, latent_dim) -> (B, T * hop); the overlap tail past the end is dropped."""
        return self.decode_with_phase(z)[0]

    def decode_with_phase(self, z: torch.Tensor, f0_taught: torch.Tensor | None = None) -> Decoded:
        """Audio, a carried head's per-bin phase advance and gate (B, F, bins; None for an absolute head),
        the output's unit phasors (B, F, bins; an absolute head's only while gradients are on), which
        training also teaches directly (train/codec_phase.py), and what a harmonic branch named per
        frame (codec_harmonic.HarmonicBranch.read; None without one).
        `f0_taught` (B, frames of the STFT hop) makes a harmonic branch play that f0 (training only)."""
        if z.dim() != 3 or z.shape[2] != self.cfg.latent_dim:
            raise ValueError(f"latents must be (batch, frames, {self.cfg.latent_dim}), got {tuple(z.shape)}")
        audio, _, carried, named = self._decode_frames(z, None, f0_taught)
        advance, phasors, gate = carried if carried is not None else (None, None, None)
        return Decoded(audio, advance, phasors, named, gate)

    def analysis_frames(self, wave: torch.Tensor) -> torch.Tensor:
        """Complex spectra (B, N / stft_hop, bins) of the encoder's frames, from silence: frame f ends
        where the audio of STFT hop f ends. At decoder_delay 3, decoder frame f spans the same samples."""
        return self._spectra(wave)[0]

    def aligned(self, source: torch.Tensor, decoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`source` and the audio decoded from its latents, cut to the span where they show the same moments."""
        d = self.cfg.delay_samples
        if d == 0:
            return source, decoded
        return source[..., :source.shape[-1] - d], decoded[..., d:]

    def stream_decoder(self) -> "StreamingDecoder":
        return StreamingDecoder(self)

    def stream_encoder(self) -> "StreamingEncoder":
        return StreamingEncoder(self)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class StreamingDecoder:
    """Decodes block after block with carried state; the concatenation equals `Codec.decode`."""

    def __init__(self, codec: Codec):
        self.codec = codec
        self.state = None

    @torch.no_grad()
    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        audio, self.state, _, _ = self.codec._decode_frames(z, self.state)
        return audio

    def reset(self) -> None:
        self.state = None


class StreamingEncoder:
    """Encodes chunk after chunk (whole latent frames each); the concatenation equals `Codec.encode`."""

    def __init__(self, codec: Codec):
        self.codec = codec
        self.state = None

    @torch.no_grad()
    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        self.codec._check_wave(wave)
        stats, self.state = self.codec._encode_frames(wave, self.state)
        return stats.chunk(2, dim=-1)[0]

    def reset(self) -> None:
        self.state = None
