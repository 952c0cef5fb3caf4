"""Advances taught at the input's partials: the phase a decoder carries along a partial is only as
right as the advance at its peak, so that is where the term looks, and it keeps pulling at a
miss of a few hertz."""
import json
import math

import pytest
import torch

from lmdmlive.model import Codec
from lmdmlive.train.codec_phase import advance_loss, heard_frames, peak_bins
from lmdmlive.train.codec_train import train_codec
from tests.train.test_codec_gate import CARRIED, _sine
from tests.train.test_codec_training import SR, TINY, _tone_corpus


def _advance_at(hz: float, frames: int, bins: int) -> torch.Tensor:
    return torch.full((1, frames, bins), 2 * math.pi * hz * CARRIED.stft_hop / SR)


def test_peak_bins_are_a_frames_partials_and_their_neighbours_not_its_floor():
    mag = torch.full((1, 2, 40), 1e-3)
    mag[0, :, 10], mag[0, :, 11], mag[0, :, 30] = 1.0, 0.6, 0.2
    mag[0, 1, 20] = 0.01                     # under PEAK_FLOOR of the frame's loudest bin
    marked = peak_bins(mag)
    assert marked[0, 0].nonzero().flatten().tolist() == [9, 10, 11, 29, 30, 31]
    assert marked[0, 1, 19:22].sum() == 0


def test_the_peak_term_ignores_what_lies_between_partials_and_pulls_at_a_small_miss():
    codec = Codec(CARRIED)
    wave = _sine(141.0) + _sine(333.3)
    heard = heard_frames(codec, wave)
    frames, bins = heard.shape[1], heard.shape[2]
    right = _advance_at(141.0, frames, bins)
    at_peaks = peak_bins(heard.abs())
    # the 333 Hz partial's bins get their own right advance; the bins between partials a wrong one
    right = torch.where(torch.arange(bins) * SR / CARRIED.n_fft > 240, _advance_at(333.3, frames, bins), right)
    wrong_between = torch.where(at_peaks > 0, right, right + 1.0)
    assert float(advance_loss(heard, wrong_between, peaks=True)) < 0.02
    assert float(advance_loss(heard, wrong_between)) > 3 * float(advance_loss(heard, right))
    # 2 Hz off costs a quarter of 8 Hz off under the chord (its miss grows linearly); 1 - cos grows with the
    # square, so it hardly pulls at 2 Hz
    near, far = right + 2 * math.pi * 2.0 * CARRIED.stft_hop / SR, right + 2 * math.pi * 8.0 * CARRIED.stft_hop / SR
    chord = float(advance_loss(heard, near, peaks=True)) / float(advance_loss(heard, far, peaks=True))
    cosine = float(advance_loss(heard, near)) / float(advance_loss(heard, far))
    assert 0.2 < chord < 0.35 and chord > 1.5 * cosine, (chord, cosine)


def test_train_codec_keeps_advance_peaks_across_a_resume_and_refuses_it_on_an_absolute_head(tmp_path):
    corpus = _tone_corpus(tmp_path / "corpus")
    kwargs = dict(minutes=None, batch=1, seconds=0.2, lr=3e-3, save_every=25, log=lambda m: None)
    with pytest.raises(ValueError, match="--advance-peaks is for a carried phase head"):
        train_codec(corpus, tmp_path / "absolute", steps=25, advance_peaks=True, config=TINY, **kwargs)
    run = tmp_path / "run"
    train_codec(corpus, run, steps=25, advance_peaks=True, config=CARRIED, **kwargs)
    said = []
    train_codec(corpus, run, steps=26, config=CARRIED, **dict(kwargs, log=said.append))
    assert json.loads((run / "last.json").read_text())["advance_peaks"] is True
    plain = tmp_path / "plain"
    train_codec(corpus, plain, steps=25, config=CARRIED, **kwargs)
    train_codec(corpus, plain, steps=26, advance_peaks=True, config=CARRIED, **dict(kwargs, log=said.append))
    assert any("partials alone from this step on" in m for m in said)
