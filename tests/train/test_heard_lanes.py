"""The heard-lane loss: the rollout's decoded audio measured as `eval model` measures it, in torch,
so `train arc --heard-lanes` can tell the generator how far what it plays is from what it was asked."""
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lmdmlive.model import features
from lmdmlive.model.conditioning import sketch_from_features
from lmdmlive.model.config import SKETCH_CURVES
from lmdmlive.train.arc import train_arc
from lmdmlive.train.heard_lanes import brightness_units, heard_lane_loss, heard_level_loss, loudness_units

from .test_arc import first_rows
from .test_lmdm_training import setup  # noqa: F401  (the module fixture)

SR, HOP = 24000, 960


def _tone(hz, seconds=2.0, swell=True):
    t = np.arange(int(SR * seconds)) / SR
    wave = sum(a * np.sin(2 * np.pi * k * hz * t) for k, a in ((1, 0.3), (3, 0.1), (5, 0.05)))
    return (wave * (np.linspace(0.1, 1.0, len(t)) if swell else 1.0)).astype(np.float32)


def _lanes_of(audio):
    """The lanes in model units and their mask, as a held-out clip's are made for `eval model`."""
    curves = features.sketch_features(audio, SR, HOP)
    stacked = torch.tensor(np.stack([curves[name] for name in SKETCH_CURVES], axis=-1))[None]
    return sketch_from_features(stacked)


def test_loudness_and_brightness_are_the_listeners_own_curves():
    audio = _tone(220) + 0.05 * np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32)
    wave = torch.tensor(audio)[None]
    loud = (features.loudness_db(audio, HOP) + 30) / 15
    bright = np.log2(np.maximum(features.spectral_centroid(audio, SR, HOP), 20.0) / 1000.0)
    assert np.abs(loudness_units(wave, HOP)[0].numpy() - loud).max() < 1e-4
    assert np.abs(brightness_units(wave, SR, HOP)[0].numpy() - bright).max() < 1e-3


def test_a_tone_costs_least_under_its_own_lanes_and_an_octave_up_is_not_taken_for_it():
    asked, mask = _lanes_of(_tone(220))
    assert mask[..., SKETCH_CURVES.index("pitch")].sum() > 30        # voiced: the pitch lane is given

    def cost(audio):
        return float(heard_lane_loss(torch.tensor(audio)[None], asked, mask, SR, HOP))
    right = cost(_tone(220))
    assert right < 0.05
    # a semitone off, an octave up (it repeats at the asked period too), quieter, brighter: each costs more
    assert cost(_tone(233.08)) > right + 0.05
    assert cost(_tone(440)) > right + 0.3
    assert cost(0.3 * _tone(220)) > right + 0.3
    t = np.arange(2 * SR) / SR
    assert cost(_tone(220) + (0.2 * np.sin(2 * np.pi * 11 * 220 * t)).astype(np.float32)) > right + 0.05
    assert float(heard_lane_loss(torch.tensor(_tone(440))[None], asked, torch.zeros_like(mask), SR, HOP)) == 0.0


def test_its_gradient_turns_a_level_toward_the_asked_loudness():
    asked, mask = _lanes_of(_tone(220, swell=False))
    only_loud = torch.zeros_like(mask)
    only_loud[..., SKETCH_CURVES.index("loud")] = 1
    gain = torch.tensor(0.2, requires_grad=True)
    wave = torch.tensor(_tone(220, swell=False))[None]
    opt = torch.optim.SGD([gain], lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        heard_lane_loss(gain * wave, asked, only_loud, SR, HOP).backward()
        opt.step()
    assert float(gain.detach()) == pytest.approx(1.0, abs=0.05)


def _reaches_the_generator_and_the_log(setup, tmp_path, option: str, key: str, weight: float) -> None:
    """A run with `option` at `weight` logs its term under `key` and trains other weights than a run
    without it, from the same draws; a negative weight is refused by name."""
    corpus, codec_path, _ = setup
    rows = first_rows(setup, tmp_path, option, (0.0, weight), steps=2)
    assert rows[0.0][key] == 0.0 and rows[weight][key] > 0.0
    assert rows[0.0]["d_loss"] == rows[weight]["d_loss"]          # the same draws: the decoder takes none
    a, b = (load_file(str(tmp_path / f"arc{w}" / "generator" / "last.safetensors")) for w in (0.0, weight))
    trained = [k for k in a if k.startswith("model.model.")]
    assert trained and any(not torch.equal(a[k], b[k]) for k in trained)
    with pytest.raises(ValueError, match=f"{option} must be 0 or more"):
        train_arc(corpus, codec_path, tmp_path / "init", tmp_path / "arc_neg", steps=1, **{option: -1.0})


def test_the_heard_term_reaches_the_generator_and_is_logged(setup, tmp_path):
    _reaches_the_generator_and_the_log(setup, tmp_path, "heard_lanes", "heard", 2.0)


def test_the_level_term_counts_how_much_louder_not_the_shape():
    asked, mask = _lanes_of(_tone(220))                 # a swell: its lane rises over the two seconds

    def level(audio, given=mask):
        return float(heard_level_loss(torch.tensor(audio)[None], asked, given, HOP))
    assert level(_tone(220)) < 1e-4
    # 6 dB louder throughout: 6 / 15 of a loudness unit, squared
    assert level(2.0 * _tone(220)) == pytest.approx((20 * np.log10(2.0) / 15) ** 2, rel=0.02)
    # the same level, spread the other way (louder first, quieter last): the shape misses, the level does not
    backwards = _tone(220)[::-1].copy()
    assert level(backwards) < 0.1 * float(heard_lane_loss(torch.tensor(backwards)[None], asked, mask, SR, HOP))
    no_loudness = mask.clone()
    no_loudness[..., SKETCH_CURVES.index("loud")] = 0
    assert level(2.0 * _tone(220), no_loudness) == 0.0
    gain = torch.tensor(0.5, requires_grad=True)       # and its gradient turns a level toward the lane's
    opt = torch.optim.SGD([gain], lr=0.2)
    for _ in range(60):
        opt.zero_grad()
        heard_level_loss(gain * torch.tensor(_tone(220))[None], asked, mask, HOP).backward()
        opt.step()
    assert float(gain.detach()) == pytest.approx(1.0, abs=0.05)


def test_the_level_term_reaches_the_generator_and_is_logged(setup, tmp_path):
    _reaches_the_generator_and_the_log(setup, tmp_path, "heard_level", "level", 5.0)
