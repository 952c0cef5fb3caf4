"""What teaches a carried phase head to play a partial between its bins: gates taught where the
input holds a partial, and a distance through a window long enough to tell where a low partial sits."""
import dataclasses
import json
import math

import pytest
import torch

from lmdmlive.model import Codec
from lmdmlive.train.codec_phase import advance_loss, gate_loss, heard_frames, steadiness
from lmdmlive.train.codec_train import train_codec
from lmdmlive.train.spectral import fine_stft_distance, stft_distance
from lmdmlive.train.state import read_log
from tests.train.test_codec_training import SR, TINY, _tone_corpus

CARRIED = dataclasses.replace(TINY, phase_head="carried", decoder_delay=3)


def _sine(f0: float, seconds: float = 1.0, phase: float = 0.0) -> torch.Tensor:
    t = torch.arange(int(SR * seconds)) / SR
    return (0.2 * torch.sin(2 * math.pi * f0 * t + phase))[None]


def test_a_held_partial_reads_steady_where_it_is_loud_and_noise_does_not():
    codec = Codec(CARRIED)
    for f0 in (67.3, 141.0, 333.3):            # off the 25 Hz grid, as the partials the grid lost
        heard = heard_frames(codec, _sine(f0), 10 ** 6)[:, 4:]      # past the first window's silence
        loud = heard[:, 2:].abs() > 0.3 * heard.abs().max()
        assert float(steadiness(heard)[loud].mean()) > 0.95, f0
    noise = heard_frames(codec, 0.2 * torch.randn(1, SR, generator=torch.Generator().manual_seed(0)), 10 ** 6)[:, 4:]
    assert float(steadiness(noise).mean()) < 0.35


def test_the_gate_loss_asks_to_hold_a_partial_and_to_let_go_in_noise():
    codec = Codec(CARRIED)
    sine, noise = _sine(67.3), 0.2 * torch.randn(1, SR, generator=torch.Generator().manual_seed(1))
    frames = SR // CARRIED.stft_hop
    bins = CARRIED.n_fft // 2 + 1
    held, loose = torch.full((1, frames, bins), 0.97), torch.full((1, frames, bins), 0.03)
    heard_sine, heard_noise = heard_frames(codec, sine), heard_frames(codec, noise)
    assert float(gate_loss(heard_sine, held)) < 0.5 * float(gate_loss(heard_sine, loose))
    assert float(gate_loss(heard_noise, loose)) < 0.5 * float(gate_loss(heard_noise, held))
    # and it reaches the head: its gradient opens the gates of the partial's bins
    logits = torch.zeros(1, frames, bins, requires_grad=True)
    gate_loss(heard_sine, torch.sigmoid(logits)).backward()
    peak = int(heard_frames(codec, sine, frames)[0, 20].abs().argmax())
    assert float(logits.grad[0, 10:, peak].sum()) < 0


def test_the_fine_distance_tells_a_low_partial_off_its_place_where_the_coarse_one_barely_does():
    ref = _sine(67.3)
    near, grid, far = (float(fine_stft_distance(ref, _sine(f, phase=0.3), SR)) for f in (67.3, 75.0, 90.0))
    assert near < 0.5 and grid > 4 * near and far > grid, (near, grid, far)
    assert float(fine_stft_distance(ref, ref, SR)) == 0.0
    # the coarse resolutions see the 7.7 Hz miss at a fraction of the fine distance's contrast
    coarse = float(stft_distance(ref, _sine(75.0, phase=0.3))) / float(stft_distance(ref, _sine(67.3, phase=0.3)))
    assert grid / near > 1.5 * coarse
    short = _sine(67.3, seconds=0.15)            # a crop shorter than the window still gets a distance
    assert math.isfinite(float(fine_stft_distance(short, _sine(80.0, seconds=0.15), SR)))


def test_train_codec_logs_both_terms_and_keeps_their_weights_across_a_resume(tmp_path):
    corpus = _tone_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    kwargs = dict(minutes=None, batch=1, seconds=0.2, lr=3e-3, save_every=25, config=CARRIED, log=lambda m: None)
    train_codec(corpus, run, steps=25, fine=0.5, gate=0.25, **kwargs)
    train_codec(corpus, run, steps=50, **kwargs)             # the command without the options resumes as started
    saved = json.loads((run / "last.json").read_text())
    assert (saved["fine"], saved["gate"]) == (0.5, 0.25)
    rows = read_log(run)
    assert [r["step"] for r in rows] == [25, 50]
    assert all(r["fine"] > 0 and r["gate"] > 0 for r in rows)
    with pytest.raises(ValueError, match="carried phase head"):
        train_codec(corpus, tmp_path / "absolute", steps=25, gate=1.0, **dict(kwargs, config=TINY))


def test_taught_advances_learn_from_their_own_term_alone():
    codec = Codec(CARRIED).train()
    bins = CARRIED.n_fft // 2 + 1
    with torch.no_grad():
        codec.dec_phase.weight.normal_(0, 0.05)        # a head that turns and gates something
    wave = _sine(141.0, seconds=0.2)
    grads = {}
    for taught in (False, True):
        codec.taught_advance = taught
        codec.zero_grad()
        out = codec.decode_with_phase(codec.encode(wave))
        stft_distance(*codec.aligned(wave, out.audio)).backward()
        grads[taught] = codec.dec_phase.weight.grad.clone()
    # the spectral distance moves the advances only when they are not taught alone; the gates either way
    assert grads[False][:bins].abs().sum() > 0 and grads[True][:bins].abs().sum() == 0
    assert grads[True][bins:].abs().sum() > 0
    codec.zero_grad()
    advance_loss(heard_frames(codec, wave), codec.decode_with_phase(codec.encode(wave)).advance).backward()
    assert codec.dec_phase.weight.grad[:bins].abs().sum() > 0


def test_taught_advances_are_for_a_carried_head_and_kept_across_a_resume(tmp_path):
    corpus = _tone_corpus(tmp_path / "corpus")
    kwargs = dict(minutes=None, batch=1, seconds=0.2, lr=3e-3, save_every=25, log=lambda m: None)
    with pytest.raises(ValueError, match="--taught-advance is for a carried phase head"):
        train_codec(corpus, tmp_path / "absolute", steps=25, taught_advance=True, config=TINY, **kwargs)
    run = tmp_path / "run"
    train_codec(corpus, run, steps=25, taught_advance=True, config=CARRIED, **kwargs)
    train_codec(corpus, run, steps=26, config=CARRIED, **kwargs)
    assert json.loads((run / "last.json").read_text())["taught_advance"] is True
