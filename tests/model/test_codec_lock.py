"""Peak-tracked phase locking: a partial's bins turn together, from the advances alone, and a stream
plays what a whole decode plays."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from lmdmlive.model import Codec
from lmdmlive.model.codec_lock import locked_phasors, nearest_peak
from lmdmlive.model.config import CodecConfig, ConfigError
from tests.model.helpers import perturbed

SR, HOP = 24000, 240
N_FFT = 4 * HOP
TINY = CodecConfig(channels=32, encoder_layers=1, decoder_layers=2, latent_dim=8, phase_head="carried",
                   decoder_delay=3)


def test_each_bin_is_named_to_its_nearest_peak():
    mag = torch.tensor([[[0.1, 0.5, 0.2, 0.1, 0.1, 0.3, 1.0, 0.4]]])
    assert nearest_peak(mag)[0, 0].tolist() == [1, 1, 1, 1, 6, 6, 6, 6]
    assert nearest_peak(torch.zeros(1, 1, 5))[0, 0].tolist() == [0, 0, 0, 0, 0]     # silence: no peak, no error


def _analysis(wave: np.ndarray) -> torch.Tensor:
    window = torch.hann_window(N_FFT, periodic=True)
    frames = torch.from_numpy(wave).float().unfold(0, N_FFT, HOP) * window
    return torch.fft.rfft(frames, dim=-1)[None]


def _overlap_add(spec: torch.Tensor) -> np.ndarray:
    frames = torch.fft.irfft(spec[0], n=N_FFT, dim=-1) * torch.hann_window(N_FFT, periodic=True)
    out = np.zeros(HOP * (frames.shape[0] + 3))
    for t, f in enumerate(frames.numpy()):
        out[t * HOP:t * HOP + N_FFT] += f
    return out[N_FFT:-N_FFT]


@pytest.mark.parametrize("f0", [141.0, 333.3])            # between the 25 Hz bins
def test_a_partial_played_from_its_magnitudes_and_advance_keeps_its_pitch_and_level(f0):
    t = np.arange(2 * SR) / SR
    wave = 0.3 * np.sin(2 * math.pi * f0 * t)
    spec = _analysis(wave)
    advance = torch.full(spec.shape, 2 * math.pi * f0 * HOP / SR)
    unit, last = locked_phasors(spec.abs(), advance, None)
    assert torch.allclose(last, unit[:, -1])
    out = _overlap_add(spec.abs() * unit)
    # every bin with its own start instead (what a carried head's gates leave): the lobe comes apart
    scattered = unit * torch.polar(torch.ones(spec.shape[-1]), torch.rand(spec.shape[-1], generator=torch.Generator().manual_seed(0)) * 6.28)
    loose = _overlap_add(spec.abs() * scattered)
    level = lambda x: 20 * np.log10(np.sqrt(np.mean(x ** 2)) / np.sqrt(np.mean(wave[N_FFT:N_FFT + len(x)] ** 2)))  # noqa: E731
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out)), n=8 * len(out)))
    peak = np.fft.rfftfreq(8 * len(out), 1 / SR)[np.argmax(spectrum)]
    assert abs(peak - f0) < 1.0
    assert abs(level(out) - 20 * np.log10(1.5)) < 0.5     # a Hann window squared, four-fold: the input phase's gain too
    assert level(loose) < level(out) - 0.8      # 1.0 and 1.5 dB lost here


def test_a_locked_stream_plays_the_whole_decode_and_the_training_path_the_playing_one():
    codec = perturbed(Codec(dataclasses.replace(TINY, phase_lock=True)), scale=0.05)
    z = torch.randn(1, 30, TINY.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = codec.decode(z)
        stream = codec.stream_decoder()
        parts = torch.cat([stream(z[:, i:i + 7]) for i in range(0, 30, 7)], dim=1)
    assert torch.allclose(whole, parts, atol=1e-5)
    with torch.enable_grad():
        out = codec.decode_with_phase(z)              # torch's frame loop, not numpy's
    assert torch.allclose(out.audio.detach(), whole, atol=1e-4)
    assert out.gate is None and out.advance is not None


def test_a_locked_decode_plays_what_the_whole_projections_give_without_the_halves_it_does_not_read():
    codec = perturbed(Codec(dataclasses.replace(TINY, phase_lock=True)), scale=0.05)
    z = torch.randn(1, 12, TINY.latent_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mag, phase, h, _ = codec.decoder_polar(z)
        lean, no_phase, _, _ = codec.decoder_polar(z, with_phase=False)
        offset = codec.dec_phase(h).chunk(2, dim=-1)[0]
        advance = codec.bin_advance + math.pi * torch.tanh(offset)
        unit, _ = locked_phasors(mag, advance, None)
        expected, _ = codec.overlap_add(mag * unit)
        played = codec.decode(z)
    assert no_phase is None and phase is not None
    assert torch.allclose(lean, mag, atol=1e-6)
    assert torch.allclose(played, expected, atol=1e-5)


def test_phase_lock_needs_a_carried_head():
    with pytest.raises(ConfigError, match="phase_lock plays a carried head"):
        dataclasses.replace(TINY, phase_head="absolute", phase_lock=True).validate()


def test_eval_codec_phase_lock_measures_a_carried_head_locked_and_refuses_an_absolute_one(tmp_path, capsys):
    import json

    from lmdmlive.cli.main import main
    from lmdmlive.model import save_checkpoint
    from tests.train.test_codec_training import _tone_corpus
    corpus = _tone_corpus(tmp_path / "corpus")
    absolute = dataclasses.replace(TINY, phase_head="absolute", decoder_delay=0)
    save_checkpoint(Codec(absolute).eval(), absolute, tmp_path / "absolute", "codec")
    save_checkpoint(perturbed(Codec(TINY)), TINY, tmp_path / "carried", "codec")
    args = ["eval", "codec", "--corpus", str(corpus), "--clips", "1", "--seconds", "1", "--json", "--float32"]
    assert main(args + ["--codec", str(tmp_path / "absolute"), "--phase-lock"]) == 2
    assert "--phase-lock plays a carried phase head's advances" in capsys.readouterr().err
    results = {}
    for flags in ((), ("--phase-lock",)):
        assert main(args + ["--codec", str(tmp_path / "carried"), *flags]) == 0
        results[flags] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert results[()]["phase_lock"] is False and results[("--phase-lock",)]["phase_lock"] is True
    assert results[()]["mel_l1"] != results[("--phase-lock",)]["mel_l1"]


def test_a_carried_codec_takes_on_the_lock_from_its_init_and_its_magnitudes_learn_under_it(tmp_path):
    from lmdmlive.model import load_codec, save_checkpoint
    from lmdmlive.train.codec_train import reconstruction_losses, train_codec
    from tests.train.test_codec_training import _tone_corpus
    corpus = _tone_corpus(tmp_path / "corpus")
    save_checkpoint(perturbed(Codec(TINY)), TINY, tmp_path / "start", "codec", extra={"steps": 10})
    locked = dataclasses.replace(TINY, phase_lock=True)
    r = train_codec(corpus, tmp_path / "run", steps=14, minutes=None, batch=2, config=locked, init=tmp_path / "start",
                    freeze_encoder=True, taught_advance=True, advance_peaks=True, export=tmp_path / "out",
                    save_every=2, log=lambda m: None)
    assert r["step"] == 14 and load_codec(tmp_path / "out").cfg.phase_lock is True
    codec = Codec(locked).train()
    codec.taught_advance = True
    wave = 0.3 * torch.sin(2 * math.pi * 141.0 * torch.arange(4800) / SR)[None]
    losses, _ = reconstruction_losses(codec, wave)
    assert "advance" in losses and "phase" not in losses     # phasors of detached advances teach nothing
    losses["mel_l1"].backward()
    assert codec.dec_out.weight.grad.abs().sum() > 0            # the magnitudes hear the locked phase
    assert codec.dec_phase.weight.grad is None or codec.dec_phase.weight.grad.abs().sum() == 0
