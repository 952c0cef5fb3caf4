"""BlockControls: the performer's units in, the model's conditions out, at one set of frame times."""
import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from lmdmlive.engine.controls import BlockControls, Glide, frame_times, to_conditions
from lmdmlive.engine.process import controls_from_plain, controls_to_plain
from lmdmlive.engine.render import render_offline
from lmdmlive.model import ARRANGEMENT_CONTROLS, SKETCH_CURVES, Codec, sketch_units
from lmdmlive.model.conditioning import arrangement_units

from .test_engine import small_bundle

I = {n: i for i, n in enumerate(SKETCH_CURVES)}
A = {n: i for i, n in enumerate(ARRANGEMENT_CONTROLS)}


def test_lanes_become_model_units_and_nan_frames_stay_free():
    cfg = small_bundle().lmdm.cfg
    bf = cfg.block_frames
    loud = np.full(bf, -12.0)
    loud[3] = np.nan
    pitch = np.full(bf, 64.0)
    pitch[5:] = np.nan
    voiced = np.where(np.isnan(pitch), 0.0, 1.0)
    cond = to_conditions(BlockControls(loud_db=loud, pitch_note=pitch, voiced=voiced, bright_hz=np.full(bf, 2000.0)),
                         cfg)
    assert cond.sketch.shape == (1, bf, len(SKETCH_CURVES))
    assert cond.sketch[0, 0, I["loud"]] == sketch_units("loud", -12.0) and cond.sketch_mask[0, 3, I["loud"]] == 0
    assert cond.sketch[0, 3, I["loud"]] == 0
    assert cond.sketch[0, 0, I["pitch"]] == sketch_units("pitch", 64.0)
    assert cond.sketch_mask[0, :, I["pitch"]].tolist() == [1.0] * 5 + [0.0] * (bf - 5)
    assert cond.sketch_mask[0, :, I["voiced"]].all() and cond.sketch[0, 6, I["voiced"]] == 0, "a rest is unvoiced"
    assert math.isclose(cond.sketch[0, 0, I["bright"]].item(), 1.0, rel_tol=1e-6)      # an octave over 1 kHz
    assert cond.sketch_mask[0, :, I["onset"]].sum() == 0, "a lane not given stays free"
    assert to_conditions(BlockControls(), cfg).sketch is None, "no lanes: no sketch at all"


def test_arrangement_knobs_become_model_units():
    cfg = small_bundle().lmdm.cfg
    cond = to_conditions(BlockControls(arrangement={"drums": 0.0, "tempo": 120.0, "density": 2.0}), cfg)
    assert cond.arrangement_mask[0].tolist() == [1, 0, 0, 0, 1, 0, 1]
    assert cond.arrangement[0, A["tempo"]] == pytest.approx(0.5)
    assert cond.arrangement[0, A["density"]] == pytest.approx(arrangement_units("density", 2.0)) == 0.25
    assert to_conditions(BlockControls(), cfg).arrangement is None
    with pytest.raises(ValueError, match="unknown arrangement control 'cowbell'"):
        to_conditions(BlockControls(arrangement={"cowbell": 1.0}), cfg)
    with pytest.raises(ValueError, match="loud_db lane has 3 frames, a block has 12"):
        to_conditions(BlockControls(loud_db=np.zeros(3)), cfg)


def test_frame_times_are_the_same_moments_at_any_rate_and_a_late_decoder_asks_later():
    bundle = small_bundle()
    codec_rate = bundle.codec.cfg.sample_rate
    for block in (0, 1, 7):
        live, offline = frame_times(block, bundle, 48000), frame_times(block, bundle, codec_rate)
        assert live.block == offline.block == block and len(live.bounds) == bundle.lmdm.cfg.block_frames + 1
        assert [b / 48000 for b in live.bounds] == [b / codec_rate for b in offline.bounds]
        assert live.bounds[0] == block * bundle.lmdm.cfg.block_seconds * 48000
    bundle.codec = Codec(dataclasses.replace(bundle.codec.cfg, decoder_delay=3))
    late = frame_times(2, bundle, 48000)
    assert late.bounds[0] - frame_times(2, small_bundle(), 48000).bounds[0] == Fraction(
        bundle.codec.cfg.delay_samples * 48000, codec_rate)
    assert late.samples(origin=100)[0] == math.floor(100 + late.bounds[0])


def test_one_glide_for_numbers_and_vectors():
    g = Glide(2.0, 6.0, Fraction(1), Fraction(3))
    assert [g.at(Fraction(c)) for c in (0, 1, 2, 3, 10)] == [2.0, 2.0, 4.0, 6.0, 6.0]
    v = Glide(torch.zeros(3), torch.ones(3), 0, 4)
    assert torch.equal(v.at(1), torch.full((3,), 0.25)) and torch.equal(v.at(4), torch.ones(3))


def test_controls_cross_the_engine_process_pipe_as_plain_values():
    import pickle
    bf = 12
    c = BlockControls(style=torch.randn(1, 384), loud_db=np.linspace(-30, -6, bf), onset=np.zeros(bf),
                      arrangement={"tempo": 90.0}, steps=3, guidance=2.5, seed=11, strength=0.4)
    plain = controls_to_plain(c)
    assert not any(isinstance(v, torch.Tensor) for v in plain.values()), "no tensor through torch's pickling"
    back = controls_from_plain(pickle.loads(pickle.dumps(plain)))
    assert torch.equal(back.style, c.style) and np.array_equal(back.loud_db, c.loud_db)
    assert back.pitch_note is None and back.arrangement == {"tempo": 90.0}
    assert (back.steps, back.guidance, back.seed, back.strength) == (3, 2.5, 11, 0.4)


def test_a_render_takes_seed_steps_and_guidance_from_its_controls():
    bundle = small_bundle()
    style = torch.ones(1, 384) * 0.1
    seconds = 2 * bundle.lmdm.cfg.block_seconds
    plain = render_offline(bundle, style, seconds, seed=7, steps=2, guidance=1.5)
    asked = []

    def provider(times):
        asked.append(times.block)
        return BlockControls(style=style, seed=7, steps=2, guidance=1.5)
    assert np.array_equal(render_offline(bundle, None, seconds, seed=0, steps=1, guidance=1.0, controls=provider),
                          plain)
    assert asked == [0, 1]
    other = render_offline(bundle, None, seconds, seed=0, steps=1, guidance=1.0,
                           controls=lambda t: BlockControls(style=style, seed=8, steps=2, guidance=1.5))
    assert not np.array_equal(other, plain), "the controls' seed is the one used"
