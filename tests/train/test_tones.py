"""The tone family of the codec's training mix: notes the listener's tracker reads at the f0
they were named, at a level in range, and a sampler that mixes them in only when asked."""
import json

import numpy as np
import torch

from lmdmlive.model.features import f0_voicing
from lmdmlive.train.codec_train import train_codec
from lmdmlive.train.crops import CropSampler
from lmdmlive.train.tones import HIGH_HZ, LEVEL_DB, LOW_HZ, tone_crop
from tests.train.test_codec_training import SR, TINY, _tone_corpus

HOP = 240


def test_the_tracker_reads_each_tone_at_the_f0_it_was_named():
    rng = np.random.default_rng(0)
    kept = total = 0
    lows = 0
    for _ in range(40):
        audio, f0 = tone_crop(rng, SR, SR)
        rms_db = 20 * np.log10(np.sqrt(np.mean(audio ** 2)))
        assert LEVEL_DB[0] - 0.1 <= rms_db <= LEVEL_DB[1] + 0.1
        assert np.abs(audio).max() < 1.0
        heard, voiced = f0_voicing(audio, SR, HOP)
        named = f0[np.arange(len(heard)) * HOP + HOP // 2]
        # frames whose tracker window lies inside one note, above the tracker's 50 Hz floor
        around = [named[max(0, i - 5):i + 6] for i in range(len(named))]
        steady = np.array([a.min() > 55 and np.ptp(a) < 0.02 * f for a, f in zip(around, named)])
        cents = 1200 * np.abs(np.log2(np.maximum(heard[steady], 1.0) / named[steady]))
        kept += int(np.sum(cents < 50))
        total += int(steady.sum())
        lows += int(np.sum(named[steady] < 126))
        assert LOW_HZ / 2 <= f0.max() <= 2 * HIGH_HZ
    assert total > 1000 and lows > 0.3 * total, (total, lows)
    assert kept > 0.9 * total, (kept, total)


def test_the_sampler_mixes_tones_in_only_when_asked(tmp_path):
    corpus = _tone_corpus(tmp_path / "corpus")
    plain = CropSampler(corpus, "train", 9600, seed=3).batch(6)
    assert torch.equal(plain, CropSampler(corpus, "train", 9600, seed=3, tones=0.0).batch(6)), \
        "without tones the crops are the ones a run without the option read"
    toned = CropSampler(corpus, "train", 9600, seed=3, tones=1.0).batch(6)
    # the corpus holds sines of 110-660 Hz; a tone is a different note, so every crop changed
    assert all(not torch.allclose(a, b) for a, b in zip(plain, toned))
    half = CropSampler(corpus, "train", 9600, seed=3, tones=0.5).batch(64)
    again = CropSampler(corpus, "train", 9600, seed=3, tones=0.5).batch(64)
    assert torch.equal(half, again), "seeded: a resumed run reads the same crops"


def test_a_run_keeps_its_tone_share_across_a_resume(tmp_path):
    corpus = _tone_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    kwargs = dict(minutes=None, batch=2, seconds=0.4, config=TINY, save_every=10, log=lambda m: None)
    train_codec(corpus, run, steps=10, tones=0.3, **kwargs)
    messages = []
    train_codec(corpus, run, steps=20, **dict(kwargs, log=messages.append))
    assert json.loads((run / "last.json").read_text())["tones"] == 0.3
    assert not any("tone share" in m for m in messages)
    train_codec(corpus, run, steps=30, tones=0.0, **dict(kwargs, log=messages.append))
    assert any("tone share 0.3 -> 0.0" in m for m in messages)
    saved = json.loads((run / "last.json").read_text())
    assert saved["tones"] == 0.0 and saved["step"] == 30


def test_notes_of_a_sample_or_two_and_crops_with_cuts_close_together_stay_finite():
    from lmdmlive.train.tones import _note
    rng = np.random.default_rng(1)
    for n in (1, 2, 3):
        audio, f0 = _note(rng, n, SR)
        assert np.isfinite(audio).all() and np.isfinite(f0).all(), n
    for _ in range(300):                       # 300 samples: cuts often land on one sample
        audio, _ = tone_crop(rng, 300, SR)
        assert np.isfinite(audio).all()
