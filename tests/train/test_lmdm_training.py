"""The LMDM trains on the corpus's latents, resumes, converts base -> lmdm, and scales out with torchrun."""
import json
import os
import socket
import subprocess

import pytest
import torch
from pathlib import Path

from lmdmlive.model import CodecConfig, LMDMConfig, load_checkpoint, LMDM
from lmdmlive.model.checkpoint import save_checkpoint
from lmdmlive.model import Codec
from lmdmlive.train.latents import LatentSplit, build_store
from lmdmlive.model.conditioning import sketch_from_features
from lmdmlive.train.lmdm_data import WindowSampler
from lmdmlive.train.lmdm_train import train_lmdm
from lmdmlive.train.state import read_log

from .test_codec_training import _tone_corpus

TINY_CODEC = CodecConfig(channels=32, encoder_layers=1, decoder_layers=2, latent_dim=8)
TINY = dict(d_model=64, n_layers=2, n_heads=4, block_frames=4, context_blocks=3, latent_dim=8)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("lmdm")
    corpus = _tone_corpus(root / "corpus")
    torch.manual_seed(0)
    codec_path = root / "codec"
    save_checkpoint(Codec(TINY_CODEC), TINY_CODEC, codec_path, "codec")
    store = build_store(corpus, codec_path, log=lambda m: None)
    return corpus, codec_path, store


def test_the_store_holds_every_clip_with_latents_aligned_to_its_curves(setup):
    corpus, codec_path, store = setup
    train = LatentSplit(store, "train")
    assert len(train) == 6
    assert train.latents.shape == (int(train.offsets[-1]), 8)
    assert train.curves.shape == (int(train.offsets[-1]), 5)
    assert all(train.frames(i) == 75 for i in range(len(train)))        # 3 s at 25 frames/s
    assert train.captions.shape[1] == 384                               # MiniLM embeddings of the captions
    assert torch.allclose(train.captions.norm(dim=1), torch.ones(len(train.captions)), atol=1e-4)
    held = LatentSplit(store, "heldout")
    assert {c["piece"] for c in held.clips}.isdisjoint({c["piece"] for c in train.clips})


def test_windows_carry_conditions_and_drop_them_independently(setup):
    _, _, store = setup
    split = LatentSplit(store, "train")
    mean, std = split.stats()
    sampler = WindowSampler(split, mean, std, 4, seed=1)
    x0, cond = sampler.batch(64, 3, drop=False)
    assert x0.shape == (64, 12, 8)
    assert cond.style_mask.sum() == 64 and cond.audio_mask.sum() == 0
    loud = cond.sketch[..., 0]
    x0d, dropped = sampler.batch(256, 3)
    kept = dropped.sketch_mask.amax(dim=1)                        # (B, curves): which curves each item kept
    share = kept[:, [0, 1, 3, 4]].mean().item()                   # pitch also depends on voicing
    assert 0.3 < share < 0.6
    assert 0.05 < (dropped.style_mask == 0).float().mean().item() < 0.5
    assert 0.1 < (dropped.audio_mask[:, 0] == 1).float().mean().item() < 0.4
    assert torch.isfinite(loud).all()


def test_pitch_is_given_only_on_voiced_frames():
    curves = torch.tensor([[[-20.0, 1000.0, 69.0, 1.0, 0.2], [-60.0, 500.0, 0.0, 0.0, 0.0]]])
    units, mask = sketch_from_features(curves)
    assert mask[0, :, 2].tolist() == [1.0, 0.0]
    assert units[0, 0, 2].item() == pytest.approx(0.75)                # A4 is 9 semitones above C4
    assert units[0, 0, 0].item() == pytest.approx((-20 + 30) / 15)


def _bass_corpus(root):
    import numpy as np
    from lmdmlive.model.features import sketch_features
    from lmdmlive.train.corpus.shards import ShardWriter
    rate = 24000
    t = np.arange(rate * 3) / rate
    for split, freqs in (("train", (55.0, 73.4, 98.0)), ("heldout", (82.4,))):     # A1, D2, G2; E2: all under C3
        w = ShardWriter(root, split, rate)
        for i, f in enumerate(freqs):
            audio = (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)
            w.add({"id": f"{split}{i}", "piece": f"{split}{i}", "seconds": 3.0, "sample_rate": rate, "family": "tone"},
                  audio, sketch_features(audio, rate, 960))
    return root


def test_frames_asked_for_a_low_note_weigh_more_and_the_rest_as_before(setup, tmp_path):
    from lmdmlive.model import Conditions
    from lmdmlive.train.lmdm_train import StageModule, low_pitch_weights, stage_loss
    curves = torch.tensor([[[-20.0, 500.0, 40.0, 1.0, 0.1],        # E2, voiced: a low note asked for
                            [-20.0, 500.0, 64.0, 1.0, 0.1],        # E4, voiced
                            [-60.0, 500.0, 0.0, 0.0, 0.0],         # unvoiced: no pitch lane
                            [-20.0, 500.0, 40.0, 1.0, 0.1]]])      # E2 again, its lane dropped below
    sketch, mask = sketch_from_features(curves)
    mask[0, 3, 2] = 0.0
    cond = Conditions(sketch=sketch, sketch_mask=mask)
    assert low_pitch_weights(cond, 1.0) is None
    assert low_pitch_weights(cond, 4.0).tolist() == [[4.0, 1.0, 1.0, 1.0]]
    model = StageModule(LMDM(LMDMConfig(**TINY))).eval()
    x0 = torch.randn(1, 4, 8, generator=torch.Generator().manual_seed(0))

    def loss(w):
        with torch.no_grad():
            return float(stage_loss(model, "lmdm", x0, cond, torch.Generator().manual_seed(3), frame_weight=w))
    plain = loss(None)
    assert loss(torch.ones(1, 4)) == pytest.approx(plain, rel=1e-6)          # a weight of 1 everywhere changes nothing
    only_first = loss(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    # (4 e0 + e1 + e2 + e3) / 7, with plain = (e0 + e1 + e2 + e3) / 4 and only_first = e0
    assert loss(low_pitch_weights(cond, 4.0)) == pytest.approx((3 * only_first + 4 * plain) / 7, rel=1e-5)
    assert only_first != pytest.approx(plain, rel=1e-3)                       # so the weight did move the loss
    with pytest.raises(ValueError, match="low_pitch_weight must be a number from 1 to 100"):
        train_lmdm("lmdm", Path("nowhere"), Path("nowhere"), Path("nowhere"), steps=1, low_pitch_weight=0.5)
    # the option reaches training: on bass tones the same seeded steps end elsewhere
    _, codec_path, _ = setup
    corpus = _bass_corpus(tmp_path / "bass")
    kwargs = dict(batch=8, blocks=4, lr=3e-3, config=LMDMConfig(**TINY), log=lambda m: None)
    ends = []
    for w in (1.0, 4.0):
        train_lmdm("lmdm", corpus, codec_path, tmp_path / f"w{w}", steps=3, export=tmp_path / f"m{w}",
                   low_pitch_weight=w, **kwargs)
        ends.append(load_checkpoint(tmp_path / f"m{w}", "lmdm", LMDMConfig, LMDM)[0].state_dict())
    assert any(not torch.equal(ends[0][k], ends[1][k]) for k in ends[0])


def test_lmdm_training_lowers_heldout_loss_resumes_and_exports(setup, tmp_path):
    corpus, codec_path, _ = setup
    cfg = LMDMConfig(**TINY)
    run = tmp_path / "lmdm"
    kwargs = dict(batch=8, blocks=4, lr=3e-3, config=cfg, save_every=25, log=lambda m: None)
    train_lmdm("lmdm", corpus, codec_path, run, steps=50, **kwargs)
    train_lmdm("lmdm", corpus, codec_path, run, steps=300, export=tmp_path / "m", **kwargs)
    rows = read_log(run)
    assert [r["step"] for r in rows] == sorted({r["step"] for r in rows}), "a resumed run never repeats steps"
    held = [r["heldout_loss"] for r in rows if "heldout_loss" in r]
    assert len(held) == 12 and held[-1] < 0.9 * held[0], held
    model = load_checkpoint(tmp_path / "m", "lmdm", LMDMConfig, LMDM)[0]
    assert not torch.allclose(model.latent_std, torch.ones(8))         # standardisation ships with the weights
    assert (run / "curve.png").stat().st_size > 1000


def test_base_converts_into_lmdm_from_its_weights(setup, tmp_path):
    corpus, codec_path, _ = setup
    cfg = LMDMConfig(**TINY)
    kwargs = dict(batch=8, blocks=4, lr=3e-3, config=cfg, save_every=25, log=lambda m: None)
    train_lmdm("base", corpus, codec_path, tmp_path / "base", steps=50, **kwargs)
    base_rows = read_log(tmp_path / "base")
    assert base_rows[-1]["heldout_loss"] < base_rows[0]["heldout_loss"]
    messages = []
    train_lmdm("lmdm", corpus, codec_path, tmp_path / "conv", steps=1, init=tmp_path / "base",
               **dict(kwargs, log=messages.append))
    assert any("starting from" in m for m in messages)


def test_a_run_from_before_the_pitch_encoding_grows_into_it_and_keeps_its_faster_rate(setup, tmp_path):
    from dataclasses import replace
    from lmdmlive.train.lmdm_train import GROWN_LR_SCALE
    corpus, codec_path, _ = setup
    kwargs = dict(batch=8, blocks=4, lr=3e-3, save_every=25, log=lambda m: None)
    old = replace(LMDMConfig(**TINY), pitch_features=0)
    train_lmdm("lmdm", corpus, codec_path, tmp_path / "old", steps=25, config=old, **kwargs)
    messages = []
    new_run = tmp_path / "new"
    train_lmdm("lmdm", corpus, codec_path, new_run, steps=25, init=tmp_path / "old", config=LMDMConfig(**TINY),
               **dict(kwargs, log=messages.append))
    assert any("pitch_proj" in m for m in messages), messages
    saved = json.loads((new_run / "last.json").read_text())
    assert saved["grown"] == ["pitch_proj.bias", "pitch_proj.weight"]
    assert saved["lr"][1] == pytest.approx(GROWN_LR_SCALE * saved["lr"][0])
    train_lmdm("lmdm", corpus, codec_path, new_run, steps=50, init=tmp_path / "old", config=LMDMConfig(**TINY),
               **kwargs)                                              # resumes: the grown group stays
    saved = json.loads((new_run / "last.json").read_text())
    assert saved["step"] == 50 and saved["lr"][1] == pytest.approx(GROWN_LR_SCALE * saved["lr"][0])


def test_a_run_on_a_narrower_codec_starts_a_run_on_a_wider_one(setup, tmp_path):
    corpus, codec_path, _ = setup
    kwargs = dict(batch=8, blocks=4, lr=3e-3, save_every=25, log=lambda m: None)
    train_lmdm("lmdm", corpus, codec_path, tmp_path / "narrow", steps=25, config=LMDMConfig(**TINY), **kwargs)
    wide_codec = tmp_path / "wide_codec"
    torch.manual_seed(1)
    wide_cfg = CodecConfig(**{**TINY_CODEC.to_dict(), "latent_dim": 12})
    save_checkpoint(Codec(wide_cfg), wide_cfg, wide_codec, "codec")
    messages = []
    wide = LMDMConfig(**{**TINY, "latent_dim": 12})
    train_lmdm("lmdm", corpus, wide_codec, tmp_path / "wide", steps=25, init=tmp_path / "narrow", config=wide,
               export=tmp_path / "wide_export", **dict(kwargs, log=messages.append))
    assert any("widened from 8 to 12" in m for m in messages), messages
    model = load_checkpoint(tmp_path / "wide_export", "lmdm", LMDMConfig, LMDM)[0]
    assert model.cfg.latent_dim == 12 and model.in_proj.weight.shape[1] == 12
    with pytest.raises(ValueError, match="12 channels, the model config 8"):
        train_lmdm("lmdm", corpus, wide_codec, tmp_path / "again", steps=25, init=tmp_path / "narrow",
                   config=LMDMConfig(**TINY), **kwargs)


def test_torchrun_two_gloo_processes_keep_identical_replicas(setup, tmp_path):
    corpus, codec_path, _ = setup
    run = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    with socket.socket() as s:                 # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = ["torchrun", "--nproc_per_node", "2", "--master_port", str(port), "-m", "lmdmlive", "train", "lmdm",
           "--corpus", str(corpus), "--codec", str(codec_path), "--run-dir", str(run), "--steps", "30",
           "--batch", "4", "--blocks", "4", "--lr", "3e-3", "--config", json.dumps(TINY)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 replicas identical: True" in out.stdout
    digests = [json.loads((run / f"replica-{r}.json").read_text())["sha256"] for r in (0, 1)]
    assert digests[0] == digests[1]
    rows = read_log(run)
    assert rows and rows[-1]["step"] == 25
