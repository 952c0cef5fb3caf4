"""Codec training learns, resumes where it stopped, and is measured against Opus on the same clips."""
import json
import math

import numpy as np
import pytest
import torch

from lmdmlive.model import CodecConfig, load_codec
from lmdmlive.train.codec_eval import evaluate_codec, latent_kbps, opus_roundtrip, pitch_kept, voicing_kept
from lmdmlive.train.codec_train import train_codec
from lmdmlive.model.features import sketch_features
from lmdmlive.train.corpus.shards import ShardWriter
from lmdmlive.train.spectral import mel_l1
from lmdmlive.train.state import load_state, read_log, save_state

SR = 24000
TINY = CodecConfig(channels=32, encoder_layers=1, decoder_layers=2, latent_dim=8)


def _tone_corpus(root):
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("heldout", 11)):        # heldout0 and heldout10 fall in `test`
        w = ShardWriter(root, split, SR)
        for i in range(n):
            t = np.arange(SR * 3) / SR
            f = rng.uniform(110, 660)
            audio = (0.3 * np.sin(2 * np.pi * f * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
                     + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
            w.add({"id": f"{split}{i}", "piece": f"{split}{i}", "seconds": 3.0, "sample_rate": SR, "family": "tone"},
                  audio, sketch_features(audio, SR, 960))
    return root


def test_training_state_round_trips_without_pickles(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
    save_state(tmp_path, model, opt, 7, {"note": "x"})
    other = torch.nn.Linear(4, 3)
    opt2 = torch.optim.AdamW(other.parameters(), lr=1e-2)
    meta = load_state(tmp_path, other, opt2)
    assert meta["step"] == 7 and meta["note"] == "x"
    assert torch.equal(model.weight, other.weight)
    for p, q in zip(model.parameters(), other.parameters()):
        assert torch.equal(opt.state[p]["exp_avg_sq"], opt2.state[q]["exp_avg_sq"])
    assert not list(tmp_path.glob("*.pt"))


def test_a_log_line_cut_short_by_a_kill_is_forgotten_with_the_lost_steps(tmp_path):
    from lmdmlive.train.state import append_log, forget_lost_steps
    for step in (25, 50):
        append_log(tmp_path, {"step": step})
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write('{"step": 75, "lo')                            # killed mid-write
    forget_lost_steps(tmp_path, 50)
    for step in (75, 100):
        append_log(tmp_path, {"step": step})
    assert [r["step"] for r in read_log(tmp_path)] == [25, 50, 75, 100]


def test_the_codec_learns_and_resumes_where_it_stopped(tmp_path):
    corpus = _tone_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    train_codec(corpus, run, steps=40, minutes=None, batch=4, seconds=0.4, lr=3e-3, save_every=20, config=TINY,
                log=lambda m: None)
    first = read_log(run)
    assert first[-1]["step"] == 25 or first[-1]["step"] == 40 or first[-1]["step"] % 25 == 0
    wider = CodecConfig(**{**TINY.to_dict(), "latent_dim": 16})
    with pytest.raises(ValueError, match="different codec config"):
        train_codec(corpus, run, steps=80, minutes=None, batch=4, seconds=0.4, config=wider, log=lambda m: None)
    # A run killed between saves has logged steps its state does not hold; they are played again, once.
    from lmdmlive.train.state import append_log
    for lost in (50, 75):
        append_log(run, {"step": lost, "loss": 9.9})
    # Without a config the run resumes in its own shape.
    train_codec(corpus, run, steps=80, minutes=None, batch=4, seconds=0.4, lr=3e-3, save_every=20,
                export=tmp_path / "codec", log=lambda m: None)
    rows = read_log(run)
    assert [r["step"] for r in rows] == sorted({r["step"] for r in rows}), "resumed steps continue, never repeat"
    assert [r["step"] for r in rows] == [25, 50, 75] and all(r["loss"] != 9.9 for r in rows)
    assert json.loads((run / "last.json").read_text())["step"] == 80
    assert (run / "curve.png").exists()
    codec = load_codec(tmp_path / "codec")
    assert codec.cfg == TINY
    # The trainer's initial weights are Codec(TINY) after manual_seed(0): compare on fixed held-out audio.
    from lmdmlive.model import Codec
    from lmdmlive.train.codec_train import codec_losses
    from lmdmlive.train.crops import CropSampler
    torch.manual_seed(0)
    before = Codec(TINY).eval()
    wave = CropSampler(corpus, "heldout", 9600, seed=5).batch(8)
    with torch.no_grad():
        mel_before = float(codec_losses(before, wave, sample=False)["mel_l1"])
        mel_after = float(codec_losses(codec, wave, sample=False)["mel_l1"])
    assert mel_after < 0.8 * mel_before, (mel_before, mel_after)


def test_opus_round_trip_keeps_length_and_sounds_like_the_input():
    t = np.arange(SR * 2) / SR
    noise = np.random.default_rng(1).standard_normal(len(t))
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * noise).astype(np.float32)
    out = opus_roundtrip(audio, SR)
    assert out.shape == audio.shape
    assert float(mel_l1(torch.from_numpy(audio)[None], torch.from_numpy(out)[None], SR)) < 1.0


def test_eval_puts_codec_and_opus_side_by_side(tmp_path):
    corpus = _tone_corpus(tmp_path / "corpus")
    torch.manual_seed(0)
    from lmdmlive.model import Codec
    result = evaluate_codec(Codec(TINY).eval(), corpus, clips=2, seconds=2.0)
    for key in ("mel_l1", "stft_distance", "si_sdr", "mel_l1_opus24", "stft_distance_opus24", "si_sdr_opus24"):
        assert np.isfinite(result[key]), key
    assert result["clips"] == 2 and result["decode_rtf"] > 0
    assert result["mel_l1_opus24"] < result["mel_l1"], "an untrained codec must lose to Opus"
    assert result["pitch_acc_opus24"] > 0.9, "Opus keeps the tones' pitch"
    assert result["pitch_acc"] < result["pitch_acc_opus24"], "an untrained codec loses it"
    for suffix in ("", "_opus24"):
        assert result["pitch_acc" + suffix] <= result["voicing_kept" + suffix] <= 1.0
        # tones of 110 to 660 Hz: every voiced frame is above the bass band, which says it heard none
        assert result["pitch_acc_above" + suffix] == result["pitch_acc" + suffix]
        assert result["voiced_frames_bass" + suffix] == 0 and np.isnan(result["pitch_acc_bass" + suffix])
    for suffix in ("", "_opus24"):       # equal-length clips: the overall figure lies between its two parts
        lo, hi = sorted((result["mel_l1_loud" + suffix], result["mel_l1_quiet" + suffix]))
        assert lo - 1e-3 <= result["mel_l1" + suffix] <= hi + 1e-3, suffix


def test_pitch_kept_counts_only_voiced_frames_read_within_fifty_cents():
    wanted = {"pitch": np.array([60.0, 60.0, 60.0, 60.0, 0.0]), "voiced": np.array([1.0, 1, 1, 1, 0])}
    got = {"pitch": np.array([60.4, 72.0, 60.0, 61.0, 60.0]), "voiced": np.array([1.0, 1, 0, 1, 1])}
    assert pitch_kept(wanted, got) == (1, 4), "an octave, an unvoiced frame and a semitone are misses"
    assert voicing_kept(wanted, got) == 3, "the octave and the semitone are heard voiced; the last frame was not asked"
    low = np.array([True, True, False, False, True])
    assert pitch_kept(wanted, got, where=low) == (1, 2) and pitch_kept(wanted, got, where=~low) == (0, 2)


def test_the_latent_rate_counts_what_the_posterior_pins_down(tmp_path):
    frames = torch.zeros(1, 50, 4)
    assert latent_kbps(frames, frames, 25) == 0.0, "the prior itself carries nothing"
    narrow = torch.full((1, 50, 4), 2 * math.log(0.01))             # std 0.01 around 0
    per_dim = 0.5 * (1e-4 - 1 - math.log(1e-4)) / math.log(2)      # bits per channel per frame
    assert latent_kbps(frames, narrow, 25) == pytest.approx(4 * per_dim * 25 / 1000, rel=1e-6)
    assert latent_kbps(frames + 3.0, narrow, 25) > latent_kbps(frames, narrow, 25), "a far mean says more"
    from lmdmlive.model import Codec
    result = evaluate_codec(Codec(TINY).eval(), _tone_corpus(tmp_path / "corpus"), clips=1, seconds=1.0)
    assert result["latent_kbps"] > 0


def test_mel_l1_by_level_puts_an_error_where_it_was_made():
    from lmdmlive.train.spectral import mel_l1_by_level
    t = torch.arange(SR) / SR
    tone = 0.5 * torch.sin(2 * torch.pi * 440 * t)[None]
    hiss = 1e-3 * torch.randn(1, SR, generator=torch.Generator().manual_seed(0))
    reference = tone + hiss

    def errors(estimate):
        e = mel_l1_by_level(reference, estimate, SR)
        return e["loud_sum"] / e["loud_bins"], e["quiet_sum"] / e["quiet_bins"]

    loud_err, quiet_err = errors(0.5 * tone + hiss)      # the tone 6 dB down
    assert loud_err > 0.5 and quiet_err < loud_err / 2
    loud_err, quiet_err = errors(tone)                   # the hiss gone
    assert quiet_err > 1.0 and loud_err < quiet_err / 2


def test_the_discriminator_learns_to_tell_tones_from_noise():
    from lmdmlive.train.codec_disc import CodecAdversary
    torch.manual_seed(0)
    adversary = CodecAdversary(SR)
    opt = torch.optim.Adam(adversary.parameters(), lr=2e-3)
    t = torch.arange(SR // 2) / SR
    freqs = torch.linspace(150, 900, 4)[:, None]
    real = 0.3 * torch.sin(2 * torch.pi * freqs * t)
    fake = 0.3 * torch.randn(4, SR // 2)
    with torch.no_grad():
        before = adversary.realness(real) - adversary.realness(fake)
    for _ in range(30):
        opt.zero_grad()
        adversary.discriminator_loss(real, fake).backward()
        opt.step()
    with torch.no_grad():
        after = adversary.realness(real) - adversary.realness(fake)
    assert float(after.min()) > 0.5 and float(after.mean()) > float(before.mean()) + 0.5, (before, after)
    # The generator's side reaches the audio and leaves the discriminator's weights alone.
    opt.zero_grad(set_to_none=True)
    fake.requires_grad_(True)
    adv, fm = adversary.generator_losses(real, fake)
    (adv + fm).backward()
    assert fake.grad is not None and float(fake.grad.abs().sum()) > 0
    assert all(p.grad is None and p.requires_grad for p in adversary.parameters())


def test_adversarial_codec_training_keeps_its_discriminator_across_resumes(tmp_path):
    corpus = _tone_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    kwargs = dict(minutes=None, batch=4, seconds=0.4, lr=3e-3, save_every=20, config=TINY, adversarial=True,
                  log=lambda m: None)
    train_codec(corpus, run, steps=25, **kwargs)
    saved = json.loads((run / "discriminator" / "last.json").read_text())
    assert saved["step"] == 25
    train_codec(corpus, run, steps=50, **kwargs)
    rows = read_log(run)
    assert [r["step"] for r in rows] == [25, 50]
    assert all({"adv", "fm", "d_loss"} <= set(r) for r in rows)
    assert json.loads((run / "discriminator" / "last.json").read_text())["step"] == 50
    from lmdmlive.train.codec_disc import CodecAdversary
    restored = CodecAdversary(SR)
    load_state(run / "discriminator", restored, torch.optim.AdamW(restored.parameters()))
    assert not torch.equal(restored.discriminators[0].head.weight, CodecAdversary(SR).discriminators[0].head.weight)


def test_an_absolute_codec_grows_a_carried_delayed_decoder_and_keeps_its_latents(tmp_path):
    import dataclasses
    from lmdmlive.model import Codec, save_checkpoint
    corpus = _tone_corpus(tmp_path / "corpus")
    torch.manual_seed(3)
    start = Codec(TINY).eval()
    save_checkpoint(start, TINY, tmp_path / "start", "codec", extra={"steps": 10})
    grown_cfg = dataclasses.replace(TINY, phase_head="carried", decoder_delay=3)
    messages = []
    train_codec(corpus, tmp_path / "run", steps=14, minutes=None, batch=2, seconds=0.4, config=grown_cfg,
                init=tmp_path / "start", freeze_encoder=True, export=tmp_path / "grown", log=messages.append)
    assert any("grows a carried one" in m for m in messages), messages
    grown = load_codec(tmp_path / "grown")
    assert grown.cfg == grown_cfg
    for name, tensor in start.state_dict().items():
        if name.startswith("enc_"):
            assert torch.equal(tensor, grown.state_dict()[name]), f"{name} moved: the latents would change"
    wave = torch.from_numpy(np.sin(2 * np.pi * 330 * np.arange(SR) / SR).astype(np.float32))[None] * 0.3
    with torch.no_grad():
        assert torch.equal(start.encode(wave), grown.encode(wave))
    # A new run from --init without a shape keeps the init's own (here: carried, delayed).
    train_codec(corpus, tmp_path / "again", steps=15, minutes=None, batch=2, seconds=0.4, init=tmp_path / "grown",
                freeze_encoder=True, log=lambda m: None)
    assert json.loads((tmp_path / "again" / "last.json").read_text())["config"] == grown_cfg.to_dict()
    # Resumed without --freeze-encoder, a decoder-only run stays decoder-only: the latents do not move.
    told = []
    train_codec(corpus, tmp_path / "again", steps=18, minutes=None, batch=2, seconds=0.4, export=tmp_path / "more",
                log=told.append)
    assert any("trains the decoder alone" in m for m in told), told
    with torch.no_grad():
        assert torch.equal(start.encode(wave), load_codec(tmp_path / "more").encode(wave))
    # What would change the latents under --freeze-encoder, reshape the codec, or throw a trained head
    # away is refused, naming the init (growing wider latents without it: test_codec_grow.py).
    wider = dataclasses.replace(grown_cfg, latent_dim=16)
    with pytest.raises(ValueError, match="grown: growing latent_dim changes the latents"):
        train_codec(corpus, tmp_path / "wide", steps=16, minutes=None, batch=2, seconds=0.4, config=wider,
                    init=tmp_path / "grown", freeze_encoder=True, log=lambda m: None)
    with pytest.raises(ValueError, match="grown: its config differs"):
        train_codec(corpus, tmp_path / "deep", steps=16, minutes=None, batch=2, seconds=0.4,
                    config=dataclasses.replace(grown_cfg, channels=48), init=tmp_path / "grown", log=lambda m: None)
    with pytest.raises(ValueError, match="cannot go back to an absolute one"):
        train_codec(corpus, tmp_path / "back", steps=16, minutes=None, batch=2, seconds=0.4, config=TINY,
                    init=tmp_path / "grown", log=lambda m: None)


def test_eval_measures_a_delayed_decoder_against_what_it_heard(tmp_path):
    import dataclasses
    from lmdmlive.model import Codec
    torch.manual_seed(0)
    codec = Codec(dataclasses.replace(TINY, decoder_delay=3)).eval()
    result = evaluate_codec(codec, _tone_corpus(tmp_path / "corpus"), clips=1, seconds=1.0)
    assert result["decoder_delay_ms"] == 30.0
    assert np.isfinite(result["mel_l1"]) and np.isfinite(result["mel_l1_opus24"])


@pytest.mark.parametrize("delay", [0, 3])
def test_the_advance_loss_knows_a_tone_by_its_frequency_not_its_nearest_bin(delay):
    import dataclasses
    from lmdmlive.model import Codec
    from lmdmlive.train.codec_phase import advance_loss, heard_frames
    codec = Codec(dataclasses.replace(CodecConfig(), phase_head="carried", decoder_delay=delay))
    t = torch.arange(SR) / SR
    tone = (0.3 * torch.sin(2 * math.pi * 440.0 * t))[None]           # 17.6 bins of 25 Hz: between two bins
    frames = SR // codec.cfg.stft_hop
    right = torch.full((1, frames, codec.cfg.n_fft // 2 + 1), 2 * math.pi * 440.0 * codec.cfg.stft_hop / SR)
    nearest = codec.bin_advance.expand(1, frames, -1)
    off = right + 2 * math.pi * 10.0 * codec.cfg.stft_hop / SR                # 10 Hz sharp
    heard = heard_frames(codec, tone)
    assert float(advance_loss(heard, right)) < 0.05
    assert float(advance_loss(heard, off)) > 5 * float(advance_loss(heard, right))
    assert float(advance_loss(heard, nearest)) > 0.3


def test_eval_codec_decodes_as_played_unless_asked_for_float32(tmp_path):
    """The command measures the decoder the instrument runs (bf16 products where the CPU has
    them), says which it measured, and `--float32` gives the plain one the same distances."""
    import subprocess
    import sys

    from lmdmlive.model import Codec, save_checkpoint
    from lmdmlive.model.bf16 import bf16_available
    corpus = _tone_corpus(tmp_path / "corpus")
    torch.manual_seed(0)
    save_checkpoint(Codec(TINY).eval(), TINY, tmp_path / "tiny", "codec")
    results, said = {}, {}
    for flags in ((), ("--float32",)):
        out = subprocess.run([sys.executable, "-m", "lmdmlive", "eval", "codec", "--codec", str(tmp_path / "tiny"),
                              "--corpus", str(corpus), "--clips", "1", "--seconds", "1", "--json", *flags],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        results[flags] = json.loads(out.stdout.strip().splitlines()[-1])
        said[flags] = out.stdout
    played, plain = results[()], results[("--float32",)]
    assert played["bf16"] == bf16_available() and plain["bf16"] is False
    assert ("decoded in bf16 products" in said[()]) == bf16_available()
    assert "decoded in float32" in said[("--float32",)]
    assert played["mel_l1"] == pytest.approx(plain["mel_l1"], abs=0.01)
    assert played["mel_l1_opus24"] == plain["mel_l1_opus24"]
