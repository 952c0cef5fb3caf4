"""Signal judges: what a recording's own samples say about tempo, drums, key, brightness, density.

They caption recorded music (whose metadata is a title and a game, never a tempo) and
they are the signal-based twins of the learned judges in evaluation (DESIGN.md §6): a
generated clip asked for drums at 128 BPM can be checked without trusting a classifier
trained on the same corpus. Pure numpy, no weights, deterministic, any sample rate.

>>> import numpy as np
>>> rate = 22050
>>> clicks = np.zeros(rate * 8, dtype=np.float32)
>>> clicks[:: int(rate * 60 / 120)] = 1.0           # a click every beat at 120 BPM
>>> 115 < tempo_bpm(clicks, rate) < 125
True
"""
from __future__ import annotations

import numpy as np

KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl-Kessler key profiles (probe-tone ratings), the classic template for key finding.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

TEMPO_MIN, TEMPO_MAX = 40.0, 240.0
TEMPO_PRIOR_BPM = 120.0        # centre of the log-normal prior that settles octave ambiguity
TEMPO_PRIOR_OCTAVES = 1.0      # its width, in octaves (tempo doublings)
DRUMS_THRESHOLD = 0.27         # percussive share above which drums are said to play (see percussive_ratio)
HPSS_KERNEL = 17               # median filter length (frames along time, bins along frequency)
HPSS_MARGIN = 1.5              # how far the percussive estimate must beat the harmonic one


def _mono(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    return audio.mean(axis=1) if audio.ndim == 2 else audio


def _stft_mag(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(frames, n_fft // 2 + 1) magnitudes with a Hann window; at least one frame."""
    audio = np.pad(_mono(audio), (n_fft // 2, n_fft // 2))
    if len(audio) < n_fft:
        audio = np.pad(audio, (0, n_fft - len(audio)))
    n = 1 + (len(audio) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    return np.abs(np.fft.rfft(audio[idx] * np.hanning(n_fft).astype(np.float32), axis=1)).astype(np.float32)


def onset_envelope(audio: np.ndarray, rate: int, hop_seconds: float = 0.01) -> tuple[np.ndarray, float]:
    """(positive log-spectral flux per frame, frames per second): where new sound starts."""
    hop = max(1, int(round(rate * hop_seconds)))
    n_fft = 1 << int(np.ceil(np.log2(4 * hop)))
    mag = _stft_mag(audio, n_fft, hop)
    # Log compression makes a quiet hi-hat count beside a loud pad; flux keeps only rises.
    logmag = np.log1p(1000.0 * mag / max(float(mag.max()), 1e-9))
    flux = np.maximum(np.diff(logmag, axis=0, prepend=logmag[:1]), 0.0).mean(axis=1)
    return flux.astype(np.float32), rate / hop


def tempo_bpm(audio: np.ndarray, rate: int) -> float:
    """Tempo in BPM by onset autocorrelation, 0.0 when nothing pulses.

    The onset envelope is autocorrelated; each candidate beat period is scored by its
    autocorrelation plus half that of twice the period (a beat grid repeats there too),
    weighted by a log-normal prior around 120 BPM that decides between a tempo and its
    double the way listeners mostly do. Within a few percent
    of the true tempo on steady music, or at its double or half.
    """
    env, fps = onset_envelope(audio, rate)
    env = env - env.mean()
    if len(env) < 4 or not np.any(env):
        return 0.0
    n = 1 << int(np.ceil(np.log2(2 * len(env))))
    spec = np.fft.rfft(env, n)
    ac = np.fft.irfft(spec * np.conj(spec), n)[: len(env)]
    if ac[0] <= 0:
        return 0.0
    ac = ac / ac[0]
    lo = max(1, int(np.floor(fps * 60.0 / TEMPO_MAX)))
    hi = min(len(ac) // 2 - 1, int(np.ceil(fps * 60.0 / TEMPO_MIN)))
    if hi <= lo + 1:
        return 0.0
    lags = np.arange(lo, hi + 1)
    score = ac[lags] + 0.5 * ac[np.minimum(2 * lags, len(ac) - 1)]
    bpm = 60.0 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpm / TEMPO_PRIOR_BPM) / TEMPO_PRIOR_OCTAVES) ** 2)
    weighted = np.maximum(score, 0.0) * prior
    k = int(np.argmax(weighted))
    if weighted[k] <= 0.05:
        return 0.0
    lag = float(lags[k])
    if 0 < k < len(lags) - 1:      # parabolic interpolation of the peak: sub-frame period
        a, b, c = weighted[k - 1], weighted[k], weighted[k + 1]
        denom = a - 2 * b + c
        if abs(denom) > 1e-12:
            lag += float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
    return float(60.0 * fps / lag)


def onset_rate(audio: np.ndarray, rate: int) -> float:
    """Onsets per second: peaks of the onset envelope above a local, adaptive threshold."""
    env, fps = onset_envelope(audio, rate)
    if len(env) < 3 or env.max() <= 0:
        return 0.0
    w = max(1, int(round(0.1 * fps)))           # peaks at least 100 ms apart
    padded = np.pad(env, (w, w), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1)
    local_max = env >= windows.max(axis=1)
    threshold = windows.mean(axis=1) + 0.5 * env.std() + 0.02 * env.max()
    peaks = local_max & (env > threshold)
    return float(peaks.sum() / (len(env) / fps))


def _median_filter(x: np.ndarray, size: int, axis: int, chunk: int = 256) -> np.ndarray:
    """Median over a centred window of odd `size` along `axis` (edges repeated), in chunks to bound memory."""
    x = np.moveaxis(x, axis, 0)
    half = size // 2
    padded = np.pad(x, [(half, half)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    out = np.empty_like(x)
    for start in range(0, len(x), chunk):
        stop = min(len(x), start + chunk)
        view = np.lib.stride_tricks.sliding_window_view(padded[start: stop + 2 * half], size, axis=0)
        out[start:stop] = np.partition(view, half, axis=-1)[..., half]      # the median of an odd window
    return np.moveaxis(out, 0, axis)


def percussive_ratio(audio: np.ndarray, rate: int) -> float:
    """Share (0..1) of the spectrum that is clearly percussive, by median-filtering HPSS.

    Harmonic sound is smooth along time (a median across frames keeps it), percussive
    sound is smooth along frequency (a median across bins keeps it) (Fitzgerald 2010).
    A bin counts as percussive when its percussive estimate beats the harmonic one by
    `HPSS_MARGIN` (Driedger's margin), so steady noise, where both estimates agree,
    does not; bins are weighted by the square root of their magnitude, so a quiet hi-hat
    under a loud sustained chord still counts. Measured on sonic-pi's samples: drum
    loops 0.35-0.62, pads, guitar chords, a bass hit and noise 0.01-0.17, repeated
    piano chords 0.2.
    """
    hop = max(1, int(round(rate * 0.0116)))      # 256 samples at 22.05 kHz
    n_fft = 4 * hop
    mag = _stft_mag(audio, n_fft, hop)
    weight = np.sqrt(mag)
    total = float(weight.sum())
    if float(mag.max()) <= 1e-6:
        return 0.0
    harmonic = _median_filter(mag, HPSS_KERNEL, axis=0)
    percussive = _median_filter(mag, HPSS_KERNEL, axis=1)
    return float((weight * (percussive > HPSS_MARGIN * harmonic)).sum() / total)


def drums_present(audio: np.ndarray, rate: int, threshold: float = DRUMS_THRESHOLD) -> bool:
    """Whether drums (or other strongly percussive sound) play: `percussive_ratio` above `threshold`."""
    return percussive_ratio(audio, rate) > threshold


def centroid_hz(audio: np.ndarray, rate: int) -> float:
    """Energy-weighted mean spectral centroid in Hz over the clip (0.0 for silence): its brightness."""
    hop = max(1, int(round(rate * 0.02)))
    n_fft = 1 << int(np.ceil(np.log2(2 * hop)))
    mag = _stft_mag(audio, n_fft, hop)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    weight = mag.sum()
    return float((mag * freqs[None, :]).sum() / weight) if weight > 1e-9 else 0.0


def chroma(audio: np.ndarray, rate: int) -> np.ndarray:
    """(12,) energy per pitch class (C first), from 55 Hz to 2 kHz, summed over the clip."""
    n_fft = 1 << int(np.ceil(np.log2(rate * 0.18)))     # ~5 Hz bins: semitones apart from 55 Hz up
    mag = _stft_mag(audio, n_fft, n_fft // 2)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    band = (freqs >= 55.0) & (freqs <= 2000.0)
    pitch_class = np.round(12 * np.log2(freqs[band] / 440.0) + 69).astype(int) % 12
    energy = (mag[:, band] ** 2).sum(axis=0)
    return np.bincount(pitch_class, weights=energy, minlength=12)


def key_estimate(audio: np.ndarray, rate: int) -> tuple[str, float]:
    """("A minor"-style key name, correlation -1..1) by Krumhansl-Schmuckler profile matching; ("", 0) in silence."""
    c = chroma(audio, rate)
    if c.sum() <= 1e-9:
        return "", 0.0
    c = np.log1p(c / c.max() * 100.0)         # compress: one loud bass note should not decide the key
    best = ("", -2.0)
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(c, np.roll(profile, tonic))[0, 1])
            if r > best[1]:
                best = (f"{KEY_NAMES[tonic]} {mode}", r)
    return best


def describe(audio: np.ndarray, rate: int) -> dict:
    """Every judge at once, as a record's fields: tempo, key, key_strength, centroid_hz, onset_rate,
    percussive_ratio, drums."""
    key, strength = key_estimate(audio, rate)
    ratio = percussive_ratio(audio, rate)
    return {"tempo": round(tempo_bpm(audio, rate), 2), "key": key, "key_strength": round(strength, 3),
            "centroid_hz": round(centroid_hz(audio, rate), 1), "onset_rate": round(onset_rate(audio, rate), 3),
            "percussive_ratio": round(ratio, 3), "drums": bool(ratio > DRUMS_THRESHOLD)}
