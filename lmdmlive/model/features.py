"""Sketch features at the latent frame rate: what a performer's curves are compared against.

Pure numpy DSP (no model weights to fetch): loudness in dB full scale, spectral
centroid in Hz, a predominant f0 with voicing from a normalised autocorrelation
(YIN's cumulative-mean-normalised difference), and onset strength as positive
spectral flux. Frame k describes samples [k * hop, (k + 1) * hop), the span the
codec's latent frame k covers.
"""
from __future__ import annotations

import numpy as np

F0_MIN, F0_MAX = 50.0, 1000.0
VOICING_THRESHOLD = 0.25          # YIN dip below this = periodic
SILENCE_DB = -60.0


def _frames(audio: np.ndarray, hop: int, size: int) -> np.ndarray:
    """(n_frames, size) windows centred on each hop-sized frame."""
    n = len(audio) // hop
    pad = (size - hop) // 2
    padded = np.pad(audio.astype(np.float32), (pad, size))
    idx = np.arange(size)[None, :] + (np.arange(n) * hop)[:, None]
    return padded[idx]


def loudness_db(audio: np.ndarray, hop: int) -> np.ndarray:
    frames = _frames(audio, hop, 2 * hop)
    rms = np.sqrt(np.mean(frames ** 2, axis=1) + 1e-12)
    return np.maximum(20 * np.log10(rms + 1e-9), SILENCE_DB).astype(np.float32)


def _magnitudes(audio: np.ndarray, hop: int, n_fft: int) -> np.ndarray:
    frames = _frames(audio, hop, n_fft) * np.hanning(n_fft).astype(np.float32)
    return np.abs(np.fft.rfft(frames, axis=1))


def spectral_centroid(audio: np.ndarray, sample_rate: int, hop: int, n_fft: int = 2048) -> np.ndarray:
    mag = _magnitudes(audio, hop, n_fft)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    total = mag.sum(axis=1)
    centroid = (mag * freqs[None, :]).sum(axis=1) / np.maximum(total, 1e-9)
    return np.where(total > 1e-6, centroid, 0.0).astype(np.float32)


def onset_strength(audio: np.ndarray, hop: int, n_fft: int = 2048) -> np.ndarray:
    logmag = np.log1p(100.0 * _magnitudes(audio, hop, n_fft))
    flux = np.maximum(np.diff(logmag, axis=0, prepend=logmag[:1]), 0.0).mean(axis=1)
    return flux.astype(np.float32)


def f0_voicing(audio: np.ndarray, sample_rate: int, hop: int, size: int = 2048):
    """(f0 Hz, voiced 0/1) per frame; f0 is 0 where unvoiced."""
    frames = _frames(audio, hop, size)
    frames = frames - frames.mean(axis=1, keepdims=True)
    half = size // 2
    # YIN difference d(tau) = sum_{j<W} (x_j - x_{j+tau})^2 with W = half the frame:
    # e(0) + e(tau) - 2 r(tau), the correlation of the first half with the whole frame.
    head = frames.copy()
    head[:, half:] = 0.0
    r = np.fft.irfft(np.fft.rfft(frames, n=2 * size, axis=1) * np.conj(np.fft.rfft(head, n=2 * size, axis=1)),
                     axis=1)[:, :half]
    cum = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames ** 2, axis=1)], axis=1)
    lags = np.arange(half)
    e_tau = cum[:, lags + half] - cum[:, lags]
    diff = np.maximum(cum[:, half:half + 1] + e_tau - 2 * r, 0.0)
    tau = np.arange(half)
    cmnd = np.ones_like(diff)
    cums = np.cumsum(diff[:, 1:], axis=1)
    cmnd[:, 1:] = diff[:, 1:] * tau[None, 1:] / np.maximum(cums, 1e-12)
    lo, hi = int(sample_rate / F0_MAX), min(half - 2, int(sample_rate / F0_MIN))
    window = cmnd[:, lo:hi]
    # First dip under the threshold (YIN), else the global minimum.
    below = window < VOICING_THRESHOLD
    first = np.where(below.any(axis=1), below.argmax(axis=1), window.argmin(axis=1))
    # Walk down to the local minimum after the first crossing.
    best = first.copy()
    rows = np.arange(len(best))
    for _ in range(window.shape[1]):
        nxt = np.minimum(best + 1, window.shape[1] - 1)
        better = window[rows, nxt] < window[rows, best]
        if not better.any():
            break
        best = np.where(better, nxt, best)
    value = window[np.arange(len(best)), best]
    t = best + lo
    # Parabolic interpolation of the dip for sub-sample lag.
    left = cmnd[np.arange(len(t)), np.maximum(t - 1, 0)]
    right = cmnd[np.arange(len(t)), np.minimum(t + 1, half - 1)]
    denom = left - 2 * value + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(np.abs(denom) > 1e-9, 0.5 * (left - right) / denom, 0.0)
    f0 = sample_rate / np.maximum(t + np.clip(offset, -1, 1), 1.0)
    loud = loudness_db(audio, hop)
    voiced = (value < VOICING_THRESHOLD) & (loud > -50.0)
    return np.where(voiced, f0, 0.0).astype(np.float32), voiced.astype(np.float32)


def sketch_features(audio: np.ndarray, sample_rate: int, hop: int) -> dict[str, np.ndarray]:
    """All curves, one value per latent frame, keyed as in lmdmlive.model.SKETCH_CURVES (pitch as MIDI)."""
    f0, voiced = f0_voicing(audio, sample_rate, hop)
    pitch = np.where(voiced > 0, 69.0 + 12.0 * np.log2(np.maximum(f0, 1e-3) / 440.0), 0.0).astype(np.float32)
    return {
        "loud": loudness_db(audio, hop),
        "bright": spectral_centroid(audio, sample_rate, hop),
        "pitch": pitch,
        "voiced": voiced,
        "onset": onset_strength(audio, hop),
    }
