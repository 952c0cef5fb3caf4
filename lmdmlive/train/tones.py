"""Held and gliding tones of a few partials, mixed into the codec's training crops.

Music rarely holds one note alone for long, and every codec trained on the corpus so far
gives a steady tone back 6 to 17 dB too quiet and loses the pitch of bass notes
(docs/dev/codec.md, "Where the pitch is lost: the bass"). A performer's held synth note
or bass line, played into the generative delay, is exactly such a sound. A share of the
training crops is therefore a tone (with the music of another crop quietly under it half
of the time): one to three notes, each a partial series of known f0 that may glide or
wobble, so the decoder learns to render a resolved series at its level.

f0 is drawn log-uniformly from 40 to 400 Hz: half of the notes lie below 126 Hz, where
the decoder's 25 Hz grid does not resolve the partials and the recorded pitch is lost.
"""
from __future__ import annotations

import numpy as np

LOW_HZ, HIGH_HZ = 40.0, 400.0
LEVEL_DB = (-30.0, -10.0)          # RMS of the tone, dBFS
MUSIC_UNDER = (0.1, 0.5)           # gain of the crop under a tone, half of the time


def tone_crop(rng: np.random.Generator, samples: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """A crop of one to three notes: (audio (samples,), f0 per sample in Hz, 0 between notes)."""
    cuts = np.sort(rng.integers(samples // 8, samples - samples // 8, size=int(rng.integers(0, 3))))
    bounds = [0, *cuts.tolist(), samples]
    audio = np.zeros(samples)
    f0 = np.zeros(samples)
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b > a:                                   # two cuts may fall on one sample
            audio[a:b], f0[a:b] = _note(rng, b - a, sample_rate)
    rms = np.sqrt(np.mean(audio ** 2))
    level = 10 ** (rng.uniform(*LEVEL_DB) / 20)
    return (audio * (level / max(rms, 1e-9))).astype(np.float32), f0.astype(np.float32)


def _note(rng: np.random.Generator, n: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n) / sample_rate
    start = np.exp(rng.uniform(np.log(LOW_HZ), np.log(HIGH_HZ)))
    octaves = np.zeros(n)
    if rng.random() < 0.3:                                    # a glide of up to an octave either way
        octaves = octaves + rng.uniform(-1.0, 1.0) * t / max(t[-1], 1e-9)
    if rng.random() < 0.3:                                    # vibrato: 4 to 7 Hz, 5 to 30 cents
        octaves = octaves + rng.uniform(5, 30) / 1200 * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
    f0 = np.clip(start * 2.0 ** octaves, LOW_HZ / 2, HIGH_HZ * 2)
    turns = np.cumsum(f0) / sample_rate                     # the fundamental's phase, in turns
    partials = int(rng.integers(1, 13))
    rolloff = rng.uniform(0.5, 2.0)
    out = np.zeros(n)
    for k in range(1, partials + 1):
        if k * f0.max() > 0.45 * sample_rate:
            break
        amp = k ** -rolloff * rng.uniform(0.5, 1.0)
        out += amp * np.sin(2 * np.pi * (k * turns + rng.random()))
    attack = max(1, int(rng.uniform(0.002, 0.05) * sample_rate))
    release = max(1, int(rng.uniform(0.005, 0.1) * sample_rate))
    env = np.ones(n)
    env[:attack] = np.linspace(0.0, 1.0, min(attack, n))
    env[n - min(release, n):] *= np.linspace(1.0, 0.0, min(release, n))
    return out * env, f0
