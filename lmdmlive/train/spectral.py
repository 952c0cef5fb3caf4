"""Spectral representations shared by the codec's losses and its evaluation (torch, no torchaudio)."""
from __future__ import annotations

import functools
import math

import torch

MEL_N_FFT, MEL_HOP, MEL_BINS = 1024, 256, 80
STFT_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))
FINE_N_FFT, FINE_HOP, FINE_TOP_HZ = 8192, 1024, 1000.0
"""The fine distance's window: 2.9 Hz bins at 24 kHz, over the band where a partial 12 Hz off its
place is a semitone or more wrong and the 2048-sample resolution (11.7 Hz bins) barely sees it."""


@functools.lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int = MEL_N_FFT, n_mels: int = MEL_BINS,
                   fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters on the HTK mel scale."""
    fmax = fmax or sample_rate / 2

    def hz_to_mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    mels = torch.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (freqs[None] - lower) / (centre - lower)
    down = (upper - freqs[None]) / (upper - centre)
    return torch.clamp(torch.minimum(up, down), min=0.0)


def stft_mag(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(B, n_fft // 2 + 1, frames) magnitudes of (B, N) audio."""
    window = torch.hann_window(n_fft, device=audio.device)
    spec = torch.stft(audio, n_fft, hop, window=window, return_complex=True, center=True, pad_mode="reflect")
    return spec.abs()


def log_mel(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    mag = stft_mag(audio, MEL_N_FFT, MEL_HOP)
    mel = torch.matmul(mel_filterbank(sample_rate).to(audio.device), mag)
    return torch.log(mel.clamp_min(1e-5))


def mel_l1(reference: torch.Tensor, estimate: torch.Tensor, sample_rate: int) -> torch.Tensor:
    return (log_mel(reference, sample_rate) - log_mel(estimate, sample_rate)).abs().mean()


LOUD_BIN = -1.0        # natural-log mel magnitude: the partials and onsets, not the decays and the noise floor


def mel_l1_by_level(reference: torch.Tensor, estimate: torch.Tensor, sample_rate: int) -> dict[str, float]:
    """Summed log-mel L1 and bin counts over the reference's loud bins and over the rest.

    Sums rather than means, so that clips pool into one figure per level: which part of
    the sound a coder loses.
    """
    ref = log_mel(reference, sample_rate)
    err = (ref - log_mel(estimate, sample_rate)).abs()
    loud = ref >= LOUD_BIN
    return {"loud_sum": float(err[loud].sum()), "loud_bins": int(loud.sum()),
            "quiet_sum": float(err[~loud].sum()), "quiet_bins": int((~loud).sum())}


def stft_distance(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Multi-resolution log-magnitude L1 plus spectral convergence, averaged over resolutions."""
    total = 0.0
    for n_fft, hop in STFT_RESOLUTIONS:
        r, e = stft_mag(reference, n_fft, hop), stft_mag(estimate, n_fft, hop)
        log_l1 = (torch.log(r.clamp_min(1e-5)) - torch.log(e.clamp_min(1e-5))).abs().mean()
        convergence = torch.linalg.norm(r - e) / torch.linalg.norm(r).clamp_min(1e-8)
        total = total + log_l1 + convergence
    return total / len(STFT_RESOLUTIONS)


def fine_stft_distance(reference: torch.Tensor, estimate: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Log-magnitude L1 plus spectral convergence below FINE_TOP_HZ, through a window long enough to tell
    where a low partial sits: the codec's decoder played every partial on its 25 Hz bin grid and the
    losses of STFT_RESOLUTIONS did not tell (docs/dev/codec.md, "Tones")."""
    n_fft = min(FINE_N_FFT, 1 << (reference.shape[-1] - 1).bit_length() - 1)     # reflect padding needs n_fft / 2 < N
    top = int(FINE_TOP_HZ * n_fft / sample_rate) + 1
    r = stft_mag(reference, n_fft, min(FINE_HOP, n_fft // 4))[:, :top]
    e = stft_mag(estimate, n_fft, min(FINE_HOP, n_fft // 4))[:, :top]
    log_l1 = (torch.log(r.clamp_min(1e-5)) - torch.log(e.clamp_min(1e-5))).abs().mean()
    return log_l1 + torch.linalg.norm(r - e) / torch.linalg.norm(r).clamp_min(1e-8)


def si_sdr(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """Scale-invariant signal-to-distortion ratio in dB, per item."""
    reference = reference - reference.mean(dim=-1, keepdim=True)
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference ** 2).sum(-1, keepdim=True).clamp_min(1e-8)
    target = scale * reference
    noise = estimate - target
    return 10 * torch.log10((target ** 2).sum(-1).clamp_min(1e-10) / (noise ** 2).sum(-1).clamp_min(1e-10))


def draw_mel(ax, mel, seconds: float, title: str, vmin: float, vmax: float) -> None:
    """One log-mel spectrogram on a matplotlib axis, the way every plot of this project shows them."""
    ax.imshow(mel, origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma",
              extent=(0, seconds, 0, mel.shape[0]))
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("s", fontsize=7)
    ax.set_ylabel("mel bin", fontsize=7)
    ax.tick_params(labelsize=6)
