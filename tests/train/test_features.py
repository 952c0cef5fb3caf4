"""Sketch features describe their audio."""
import numpy as np
import pytest

from lmdmlive.model.features import sketch_features

SR, HOP = 24000, 960


def tone(freq, seconds=2.0, amp=0.3, harmonics=3):
    t = np.arange(int(SR * seconds)) / SR
    return sum(amp / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, harmonics + 1)).astype(np.float32)


@pytest.mark.parametrize("freq", [55.0, 110.0, 261.63, 440.0, 880.0])
def test_a_known_pitch_is_tracked_within_ten_cents(freq):
    f = sketch_features(tone(freq), SR, HOP)
    midi = 69 + 12 * np.log2(freq / 440)
    inner = slice(3, -3)
    assert f["voiced"][inner].mean() > 0.95
    assert np.abs(f["pitch"][inner] - midi).max() < 0.1


def test_a_louder_passage_has_a_higher_loudness_curve():
    audio = np.concatenate([tone(220, amp=0.05), tone(220, amp=0.5)])
    loud = sketch_features(audio, SR, HOP)["loud"]
    n = len(loud) // 2
    assert loud[n + 3:-3].mean() - loud[3:n - 3].mean() == pytest.approx(20.0, abs=1.0)


def test_noise_is_unvoiced_and_silence_is_quiet():
    rng = np.random.default_rng(0)
    f = sketch_features(rng.standard_normal(SR * 2).astype(np.float32) * 0.2, SR, HOP)
    assert f["voiced"].mean() < 0.1
    silent = sketch_features(np.zeros(SR, dtype=np.float32), SR, HOP)
    assert silent["loud"].max() <= -59.9 and silent["voiced"].sum() == 0


def test_brighter_sound_has_a_higher_centroid():
    dull = sketch_features(tone(200, harmonics=1), SR, HOP)["bright"][3:-3].mean()
    bright = sketch_features(tone(200, harmonics=12), SR, HOP)["bright"][3:-3].mean()
    assert bright > 2 * dull


def test_onsets_peak_where_notes_start():
    audio = np.zeros(SR * 2, dtype=np.float32)
    for start in (0.4, 1.2):
        i = int(start * SR)
        audio[i:i + SR // 4] = tone(330, seconds=0.25) * np.linspace(1, 0, SR // 4, dtype=np.float32)
    onset = sketch_features(audio, SR, HOP)["onset"]
    peaks = sorted(np.argsort(onset)[-2:])
    assert [round(p / 25, 1) for p in peaks] == pytest.approx([0.4, 1.2], abs=0.09)


def test_one_value_per_latent_frame():
    f = sketch_features(tone(220, seconds=1.0), SR, HOP)
    assert {k: len(v) for k, v in f.items()} == {k: 25 for k in ("loud", "bright", "pitch", "voiced", "onset")}
