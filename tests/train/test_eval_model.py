"""`eval model` measures generated audio with judges trained on real audio; its distances mean what they say."""
import numpy as np
import pytest
import torch

from lmdmlive.model import Codec, LMDM, LMDMConfig, load_codec
from lmdmlive.model.checkpoint import save_checkpoint
from lmdmlive.model.text_encoder import shared_text_encoder
from lmdmlive.train.audio_models import train_audio_models
from lmdmlive.train.eval_gen import load_judges
from lmdmlive.train.eval_model import evaluate_model
from lmdmlive.train.fad import frechet
from lmdmlive.train.following import pearson

from .test_audio_models import TINY_CODEC, two_family_corpus


def test_frechet_distance_is_zero_for_one_set_and_grows_with_a_shift():
    x = np.random.default_rng(0).standard_normal((400, 6))
    assert frechet(x, x) == pytest.approx(0.0, abs=1e-6)
    assert frechet(x, x + 2.0) == pytest.approx(6 * 4.0, rel=1e-6)
    assert pearson(np.arange(10.0), 2 * np.arange(10.0) + 1) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """A two-family corpus of 8 s clips, a tiny codec, and judges trained on them."""
    root = tmp_path_factory.mktemp("judged")
    torch.manual_seed(0)
    save_checkpoint(Codec(TINY_CODEC), TINY_CODEC, root / "codec", "codec")
    corpus = two_family_corpus(root / "corpus", seconds=8.0, heldout=60)   # 24 of them in `test`
    for what in ("classifier", "audio-prompt"):
        train_audio_models(what, corpus, root / "codec", root / what, steps=80, batch=8, lr=3e-3,
                           window=50, export=root / f"{what}_export", log=lambda m: None)
    return corpus, root / "codec", load_judges(root / "classifier_export", root / "audio-prompt_export")


def embed_text(text):
    return shared_text_encoder().embed([text])


def test_following_is_full_for_audio_that_made_the_curves_and_nil_a_semitone_off():
    from lmdmlive.model.config import SKETCH_CURVES
    from lmdmlive.model.features import sketch_features
    from lmdmlive.train.following import Following, follow
    rate, hop = 24000, 960
    t = np.arange(rate * 4) / rate
    f0 = 220.0 * 2 ** (np.floor(t) / 12)                       # a semitone higher each second
    audio = (np.sin(2 * np.pi * np.cumsum(f0) / rate) * np.linspace(0.05, 0.5, len(t))).astype(np.float32)
    got = sketch_features(audio, rate, hop)
    curves = torch.from_numpy(np.stack([got[c] for c in SKETCH_CURVES], axis=1))
    same, off = Following(), Following()
    follow(got, curves, len(curves), same)
    shifted = curves.clone()
    shifted[:, SKETCH_CURVES.index("pitch")] += 1.0
    follow(got, shifted, len(curves), off)
    assert same.result("")["loud_corr"] == pytest.approx(1.0) and same.result("")["pitch_acc"] == 1.0
    assert off.result("_x")["pitch_acc_x"] == 0.0


def test_pitch_following_is_also_counted_by_the_register_asked_for():
    """A bass an octave up (the way a model misses a mix's bass line) is a miss in the low band only."""
    from lmdmlive.model.config import SKETCH_CURVES
    from lmdmlive.model.features import sketch_features
    from lmdmlive.train.following import Following, follow
    rate, hop = 24000, 960
    t = np.arange(rate * 4) / rate
    low_half = t < 2.0
    asked = np.where(low_half, 55.0, 440.0)                     # A1 for two seconds, then A4
    played = np.where(low_half, 110.0, 440.0)                   # the bass an octave up, the melody right
    tone = lambda f0: (0.3 * np.sin(2 * np.pi * np.cumsum(f0) / rate)).astype(np.float32)
    want = sketch_features(tone(asked), rate, hop)
    curves = torch.from_numpy(np.stack([want[c] for c in SKETCH_CURVES], axis=1))
    got = Following()
    follow(sketch_features(tone(played), rate, hop), curves, len(curves), got)
    bands = got.result("")["pitch_acc_by_register"]
    assert bands["below C3"]["frames"] > 30 and bands["C4-B4"]["frames"] > 30, bands
    assert bands["below C3"]["pitch_acc"] < 0.1 < 0.9 < bands["C4-B4"]["pitch_acc"], bands
    assert bands["C3-B3"]["frames"] == 0 and np.isnan(bands["C3-B3"]["pitch_acc"])
    assert sum(b["frames"] for b in bands.values()) == got.pitch_n


def test_an_untrained_model_is_told_apart_from_real_audio(judged):
    corpus, codec_path, judges = judged
    lmdm = LMDM(LMDMConfig(d_model=64, n_layers=2, n_heads=2, latent_dim=8, block_frames=4, context_blocks=3)).eval()
    r = evaluate_model(lmdm, load_codec(codec_path), corpus, codec_path, judges, embed_text, clips=8, seconds=6.4,
                       steps=1, guidance=1.0, control_clips=1)
    assert r["split"] == "test" and r["clips"] == 8 and r["reference_clips"] >= 6 and r["floor_clips"] >= 6, r
    assert set(r["control_acc"]) == {"drums", "bass", "harmony", "lead", "density", "brightness", "tempo"}
    for key in ("prompt_acc", "prompt_acc_real", "pitch_acc", "pitch_acc_codec"):
        assert 0.0 <= r[key] <= 1.0, key
    for key in ("loud_corr", "bright_corr", "loud_corr_codec", "bright_corr_codec"):
        assert -1.0 <= r[key] <= 1.0, key
    assert r["fad_ratio"] > 3 and r["fad_mel_ratio"] > 3, r   # noise from random weights is far from drones and clicks
    assert 0.0 <= r["prompt_acc_signal"] <= 1.0 and r["prompt_acc_signal_by"].keys() == {"tempo", "drums", "brightness"}
    assert r["control_fad"] > 3 * r["fad_floor"], r
    assert -1.0 <= r["loud_corr_unfollowed"] <= 1.0
    for suffix in ("", "_codec"):
        bands = r["pitch_acc_by_register" + suffix]
        assert list(bands) == ["below C3", "C3-B3", "C4-B4", "C5 and up"], bands
        assert all(b["frames"] >= 0 for b in bands.values())


def test_drift_is_measured_minute_by_minute_against_real_music_under_changing_prompts(judged, tmp_path):
    from lmdmlive.train.eval_drift import evaluate_drift, plot_drift
    corpus, codec_path, judges = judged
    lmdm = LMDM(LMDMConfig(d_model=64, n_layers=2, n_heads=2, latent_dim=8, block_frames=12, context_blocks=2)).eval()
    r = evaluate_drift(lmdm, load_codec(codec_path), corpus, codec_path, judges, embed_text,
                       minutes=3.0, streams=2, prompts=2, change=1.0, steps=1, guidance=1.0)
    assert [row["minute"] for row in r["minutes"]] == [1, 2, 3]
    # each stream moves on a prompt a minute, and the last minute comes back to the first's prompts
    assert [row["prompts"] for row in r["minutes"]] == [[0, 1], [1, 0], [0, 1]]
    for row in r["minutes"]:
        assert np.isfinite(row["fd"]) and row["fd"] >= 0 and np.isfinite(row["fd_mel"]) and row["fd_mel"] >= 0
    assert r["fd_ratio"] == pytest.approx(r["minutes"][-1]["fd"] / r["minutes"][0]["fd"])
    assert r["fd_mel_ratio"] == pytest.approx(r["minutes"][-1]["fd_mel"] / r["minutes"][0]["fd_mel"])
    assert r["fd_floor"] > 0 and r["fd_mel_floor"] > 0
    # random weights are far from real music on both judges, beyond what real music scores against itself
    assert r["minutes"][0]["fd_mel"] > 2 * r["fd_mel_floor"], r
    # one pass of the two prompts is two minutes: minute 3 (home again) against minute 1
    assert r["repeat_pairs"] == 1 and r["fd_repeat_ratio"] == pytest.approx(r["fd_ratio"])
    plot_drift({"before": r}, str(tmp_path / "drift.png"))
    assert (tmp_path / "drift.png").stat().st_size > 1000


def test_a_half_hour_sets_every_minute_of_the_second_pass_against_the_same_prompts_in_the_first():
    from lmdmlive.train.eval_drift import prompt_plan, repeat_pairs, repeat_summary
    plan = prompt_plan(30, 4, 8, 2)
    assert len(plan) == 30 and plan[0] == plan[16] == plan[29] == [0, 1, 2, 3] and plan[2] == [1, 2, 3, 4]
    rows = [{"minute": m + 1, "prompts": p, "fd": 1.0 + 0.01 * m, "fd_mel": 100.0, "loud_mean_db": -30.0 + 0.1 * m}
            for m, p in enumerate(plan)]
    pairs = repeat_pairs(rows, 16)
    # minutes 17-29 repeat 1-13; minute 30 has come home early and plays what minute 14 did not
    assert [(a["minute"], b["minute"]) for a, b in pairs] == [(m, m + 16) for m in range(1, 14)]
    summary = repeat_summary(rows, 16)
    assert summary["repeat_pairs"] == 13 and summary["fd_mel_repeat_ratio"] == pytest.approx(1.0)
    assert summary["loud_repeat_change_db"] == pytest.approx(1.6) and summary["loud_repeat_change_db_sd"] < 1e-9
    assert 1.1 < summary["fd_repeat_ratio"] < 1.2
    rows[5]["fd_mel"] = 1000.0          # one far minute among thirteen: a geometric mean is not carried off by it
    assert repeat_summary(rows, 16)["fd_mel_repeat_ratio"] == pytest.approx(10 ** (-1 / 13))
    assert repeat_pairs(rows, 31) == [] and repeat_pairs(rows, 2.5) == []   # no second pass; passes off the minute


def test_a_minute_of_silence_or_of_noise_is_called_collapsed_and_music_is_not(judged):
    from lmdmlive.train.eval_drift import flatness, minute_stats
    _, codec_path, judges = judged
    codec = load_codec(codec_path)
    rate = codec.cfg.sample_rate
    t = np.arange(rate * 10) / rate
    chord = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)).astype(np.float32)
    noise = np.random.default_rng(0).standard_normal(len(t)).astype(np.float32) * 0.1
    assert flatness(noise) > 0.5 > 0.05 > flatness(chord)
    kinds = [minute_stats(a[None], codec, judges, [-1])["collapsed"] for a in (chord, noise, chord * 1e-5)]
    assert kinds == ["", "noise", "silence"]
