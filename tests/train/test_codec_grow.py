"""A codec grown wider (more latent channels, an encoder that reads phase) starts out
sounding exactly as the one it grew from, streams as it did, and what it newly reads is
each partial's frequency within its bin."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from lmdmlive.model import Codec, CodecConfig
from lmdmlive.train.codec_grow import grown
from lmdmlive.train.codec_train import train_codec

from .test_codec_training import _tone_corpus

SMALL = CodecConfig(channels=32, encoder_layers=1, decoder_layers=2, latent_dim=8, decoder_delay=3)


def _trained_start():
    torch.manual_seed(1)
    start = Codec(SMALL)
    with torch.no_grad():       # weights far from their init, as a trained codec's are
        for p in start.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return start.eval()


def test_a_grown_codec_decodes_what_it_grew_from_and_streams_the_same():
    start = _trained_start()
    cfg = dataclasses.replace(SMALL, latent_dim=16, encoder_phase=True)
    codec = Codec(cfg)
    codec.load_state_dict(grown(cfg, start))
    codec.eval()
    wave = 0.3 * torch.sin(2 * math.pi * 330 * torch.arange(4 * SMALL.hop) / SMALL.sample_rate)[None]
    with torch.no_grad():
        m0, v0 = start.encode_stats(wave)
        m1, v1 = codec.encode_stats(wave)
        # the same sums with zero terms added: equal up to the summation order a CPU's kernels choose
        assert torch.allclose(m1[..., :8], m0, rtol=0, atol=1e-5) and torch.allclose(v1[..., :8], v0, rtol=0, atol=1e-5)
        assert torch.equal(v1[..., 8:], torch.zeros_like(v1[..., 8:]))      # new channels start as the prior
        assert m1[..., 8:].abs().max() > 0                                   # but do read the encoder
        assert torch.allclose(codec.decode(m1), start.decode(m0), rtol=0, atol=1e-5)
        streamed = codec.stream_encoder()
        chunks = torch.cat([streamed(wave[:, i:i + SMALL.hop]) for i in range(0, wave.shape[1], SMALL.hop)], dim=1)
    assert torch.allclose(chunks, m1, atol=1e-5)


def test_growing_never_shrinks_nor_unlearns_phase():
    start = Codec(dataclasses.replace(SMALL, encoder_phase=True))
    with pytest.raises(ValueError, match="cannot shrink"):
        grown(dataclasses.replace(SMALL, latent_dim=4, encoder_phase=True), start)
    with pytest.raises(ValueError, match="cannot stop reading"):
        grown(SMALL, start)


@pytest.mark.parametrize("freq", [450.0, 462.5, 470.0])
def test_the_phase_reading_encoder_hears_where_in_its_bin_a_partial_is(freq):
    """Three tones in one 25 Hz bin: the magnitudes barely tell them apart, the phase turn does."""
    codec = Codec(dataclasses.replace(SMALL, encoder_phase=True))
    sr, hop, n_fft = SMALL.sample_rate, SMALL.stft_hop, SMALL.n_fft
    wave = torch.sin(2 * math.pi * freq * torch.arange(8 * SMALL.hop) / sr)[None]
    spectra, _ = codec._spectra(wave, None, 1)
    features = codec._encoder_input(spectra)
    bins = n_fft // 2 + 1
    k = round(freq * n_fft / sr)                            # the bin the tone falls in (450-475 Hz: bin 18 or 19)
    turn = torch.atan2(features[0, 10:, 2 * bins + k], features[0, 10:, bins + k])
    want = 2 * math.pi * (freq - k * sr / n_fft) * hop / sr
    want = math.atan2(math.sin(want), math.cos(want))
    assert np.allclose(turn.numpy(), want, atol=1e-3)


def test_training_grows_a_codec_from_its_init_and_resumes_grown(tmp_path):
    from lmdmlive.model.checkpoint import save_checkpoint
    corpus = _tone_corpus(tmp_path / "corpus")
    save_checkpoint(_trained_start(), SMALL, tmp_path / "start", "codec", extra={"steps": 10})
    cfg = dataclasses.replace(SMALL, latent_dim=12, encoder_phase=True)
    said = []
    r = train_codec(corpus, tmp_path / "run", steps=14, minutes=None, batch=2, config=cfg, init=tmp_path / "start",
                    save_every=2, log=said.append)
    assert r["step"] == 14 and any("grown from 8 to 12 latent channels" in s for s in said)
    r = train_codec(corpus, tmp_path / "run", steps=16, minutes=None, batch=2, export=tmp_path / "out",
                    save_every=2, log=said.append)
    assert r["step"] == 16
    from lmdmlive.model import load_codec
    assert load_codec(tmp_path / "out").cfg == cfg


def test_the_phase_loss_is_nothing_for_the_inputs_own_phase_and_counts_a_smear():
    """A carried head is taught by how its output turns: the input's own phasors cost nothing,
    a phase that stands still in every bin (the absolute head's smear of a held note) costs."""
    from lmdmlive.train.codec_phase import heard_frames, phase_loss
    codec = Codec(dataclasses.replace(SMALL, encoder_phase=True, phase_head="carried"))
    sr = SMALL.sample_rate
    t = torch.arange(8 * SMALL.hop) / sr
    wave = (0.3 * torch.sin(2 * math.pi * 443.0 * t) + 0.2 * torch.sin(2 * math.pi * 887.0 * t))[None]
    ref = heard_frames(codec, wave, 10 ** 6)
    own = ref / ref.abs().clamp_min(1e-8)
    assert float(phase_loss(ref, own)) < 1e-6
    still = torch.ones_like(own)
    assert float(phase_loss(ref, still)) > 0.2
    rotated = own * torch.polar(torch.ones(()), torch.tensor(1.0))          # a constant offset is inaudible
    assert float(phase_loss(ref, rotated)) < 1e-5


def test_an_absolute_head_is_scored_on_its_turns_only_when_asked_and_a_run_keeps_the_choice(tmp_path):
    import json

    from lmdmlive.train.codec_train import reconstruction_losses
    codec = Codec(SMALL)
    wave = 0.3 * torch.sin(2 * math.pi * 330 * torch.arange(4 * SMALL.hop) / SMALL.sample_rate)[None]
    assert "phase" not in reconstruction_losses(codec, wave)[0]
    asked = reconstruction_losses(codec, wave, absolute_phase=True)[0]
    assert float(asked["phase"]) > 0 and float(asked["loss"]) > float(asked["mel_l1"] + asked["stft"])
    corpus = _tone_corpus(tmp_path / "corpus")
    train_codec(corpus, tmp_path / "run", steps=2, minutes=None, batch=2, config=SMALL, absolute_phase=True,
                save_every=2, log=lambda m: None)
    train_codec(corpus, tmp_path / "run", steps=4, minutes=None, batch=2, save_every=2, log=lambda m: None)
    assert json.loads((tmp_path / "run" / "last.json").read_text())["absolute_phase"] is True
