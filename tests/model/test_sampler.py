"""Seeded, few-step sampling: the same seed and conditions give the same audio."""
import pytest
import torch

from lmdmlive.model import Conditions, generate_block
from lmdmlive.model.config import SKETCH_CURVES
from lmdmlive.model.generate import PITCH_LANE, guidance_layers
from lmdmlive.model.sampler import timesteps

from .helpers import small_codec, small_lmdm

BF, D = 4, 8


def _run(model, seed, blocks=4, **kw):
    cache = model.new_cache(1)
    cond = Conditions(style=torch.ones(1, 384) * 0.1)
    return torch.cat([generate_block(model, [cache], cond, [seed], **kw) for _ in range(blocks)], dim=1)


@pytest.mark.parametrize("sampler", ["euler", "pingpong"])
def test_the_same_seed_reproduces_the_same_output(sampler):
    model = small_lmdm()
    a = _run(model, 5, sampler=sampler, guidance=2.0)
    b = _run(model, 5, sampler=sampler, guidance=2.0)
    c = _run(model, 6, sampler=sampler, guidance=2.0)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


def test_the_same_seed_reproduces_the_same_audio():
    model, codec = small_lmdm(), small_codec()
    with torch.no_grad():
        a = codec.decode(_run(model, 11))
        b = codec.decode(_run(model, 11))
    assert torch.equal(a, b)


@pytest.mark.parametrize("steps", range(1, 9))
def test_every_step_count_from_one_to_eight_gives_finite_blocks(steps):
    out = _run(small_lmdm(), 0, blocks=2, steps=steps)
    assert out.shape == (1, 2 * BF, D) and torch.isfinite(out).all()


def test_step_counts_change_the_result():
    model = small_lmdm()
    assert (_run(model, 0, steps=1) - _run(model, 0, steps=8)).abs().max() > 1e-4


def test_guidance_changes_the_result_and_one_means_conditional_only():
    model = small_lmdm()
    g1, g3 = _run(model, 0, guidance=1.0), _run(model, 0, guidance=3.0)
    assert (g1 - g3).abs().max() > 1e-4


def test_strength_zero_returns_the_input_latents_unchanged():
    model = small_lmdm()
    cache = model.new_cache(1)
    init = torch.randn(1, BF, D)
    out = generate_block(model, [cache], Conditions(), [0], init=init, strength=0.0)
    assert torch.equal(out, init)
    half = generate_block(model, [cache], Conditions(), [0], init=init, strength=0.5)
    assert not torch.equal(half, init)


@pytest.mark.parametrize("kw, message", [
    ({"steps": 0}, "steps must be a whole number from 1 to 64"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"guidance": float("nan")}, "guidance must be a number from 0 to 20"),
    ({"control_guidance": -1.0}, "control_guidance must be a number from 0 to 40 or None"),
    ({"strength": 1.5}, "strength must be a number from 0 to 1"),
    ({"sampler": "heun"}, "unknown sampler 'heun'"),
])
def test_bad_sampling_parameters_are_explained(kw, message):
    model = small_lmdm()
    with pytest.raises(ValueError, match=message):
        generate_block(model, [model.new_cache(1)], Conditions(), [0], **kw)


def test_nan_in_a_condition_is_refused_before_it_reaches_the_model():
    model = small_lmdm()
    sketch = torch.zeros(1, BF, 5)
    sketch[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="condition 'sketch' holds NaN"):
        generate_block(model, [model.new_cache(1)], Conditions(sketch=sketch), [0])


def test_timesteps_run_from_noise_to_clean():
    ts = timesteps(4, shift=3.0)
    assert ts[0] == 1.0 and ts[-1] == 0.0 and bool((ts[1:] < ts[:-1]).all())


def _one_block(model, cond, **kw):
    return generate_block(model, [model.new_cache(1)], cond, [3], steps=1, guidance=2.0, **kw)


def test_control_guidance_scales_only_the_arrangement_term():
    model = small_lmdm()
    arrangement = torch.zeros(1, 7)
    mask = torch.zeros(1, 7)
    mask[0, 0] = 1.0                                     # drums out
    cond = Conditions(style=torch.ones(1, 384) * 0.1, arrangement=arrangement, arrangement_mask=mask)
    plain = _one_block(model, cond, control_guidance=None)
    assert torch.allclose(_one_block(model, cond, control_guidance=2.0), plain)
    a, b = _one_block(model, cond, control_guidance=6.0), _one_block(model, cond, control_guidance=10.0)
    assert (a - plain).abs().max() > 1e-4
    # one Euler step from pure noise: the output is linear in the controls' scale
    assert torch.allclose(b - plain, 2 * (a - plain), atol=1e-5)


def test_control_guidance_leaves_streams_without_controls_as_they_were():
    model = small_lmdm()
    cond = Conditions(style=torch.ones(1, 384) * 0.1)
    assert torch.equal(_one_block(model, cond, control_guidance=12.0), _one_block(model, cond, control_guidance=None))


def _sketched(arrangement: bool = False) -> Conditions:
    sketch = torch.randn(1, BF, 5, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(1, BF, 5)
    mask[..., 0] = 1.0                                   # a loudness lane
    arr, arr_mask = torch.zeros(1, 7), torch.zeros(1, 7)
    arr_mask[0, 0] = float(arrangement)
    return Conditions(style=torch.ones(1, 384) * 0.1, sketch=sketch, sketch_mask=mask,
                      arrangement=arr, arrangement_mask=arr_mask)


def test_sketch_guidance_scales_only_the_sketch_term():
    model = small_lmdm()
    cond = _sketched()
    plain = _one_block(model, cond, sketch_guidance=None)
    assert torch.allclose(_one_block(model, cond, sketch_guidance=2.0), plain, atol=1e-6)
    a, b = _one_block(model, cond, sketch_guidance=4.0), _one_block(model, cond, sketch_guidance=7.0)
    assert (a - plain).abs().max() > 1e-4
    # one Euler step from pure noise: the output is linear in the sketch's scale
    assert torch.allclose(b - plain, 2.5 * (a - plain), atol=1e-5)
    no_sketch = Conditions(style=cond.style)
    assert torch.equal(_one_block(model, no_sketch, sketch_guidance=4.0),
                       _one_block(model, no_sketch, sketch_guidance=None))


def test_controls_and_sketch_are_guided_as_layers_that_telescope():
    model = small_lmdm()
    cond = _sketched(arrangement=True)
    assert [(names, s) for names, s in guidance_layers(cond, 2.0, 12.0, 4.0)] == \
        [((), 2.0), (("arrangement_mask",), 12.0), (("sketch_mask",), 4.0)]
    assert guidance_layers(cond, 2.0, 4.0, 4.0) == [((), 2.0), (("arrangement_mask", "sketch_mask"), 4.0)]
    assert guidance_layers(cond, 2.0, None, 2.0) == [((), 2.0)]
    plain = _one_block(model, cond, control_guidance=None, sketch_guidance=None)
    # every scale equal to the prompt's: the layers' terms add up to plain guidance
    assert torch.allclose(_one_block(model, cond, control_guidance=2.0 + 1e-9, sketch_guidance=2.0 - 1e-9),
                          plain, atol=1e-5)
    both = _one_block(model, cond, control_guidance=6.0, sketch_guidance=4.0)
    controls_only = _one_block(model, cond, control_guidance=6.0, sketch_guidance=None)
    sketch_only = _one_block(model, cond, control_guidance=None, sketch_guidance=4.0)
    assert (both - controls_only).abs().max() > 1e-4 and (both - sketch_only).abs().max() > 1e-4


def test_a_bad_sketch_guidance_is_refused():
    with pytest.raises(ValueError, match="sketch_guidance must be a number from 0 to 40 or None"):
        _one_block(small_lmdm(), _sketched(), sketch_guidance=float("nan"))


def _pitched() -> Conditions:
    cond = _sketched()
    p = SKETCH_CURVES.index("pitch")
    mask = cond.sketch_mask.clone()
    mask[..., p] = 1.0                                   # a pitch lane beside the loudness lane
    return Conditions(style=cond.style, sketch=cond.sketch, sketch_mask=mask)


def test_the_pitch_lane_has_a_scale_of_its_own_on_top_of_the_sketch():
    model = small_lmdm()
    cond = _pitched()
    assert guidance_layers(cond, 2.0, None, 4.0, 8.0) == [((), 2.0), (("sketch_mask",), 4.0), ((PITCH_LANE,), 8.0)]
    assert guidance_layers(cond, 2.0, None, 4.0, 4.0) == [((), 2.0), (("sketch_mask", PITCH_LANE), 4.0)]
    assert guidance_layers(cond, 2.0, None, None, 8.0) == [((), 2.0)]     # no sketch layer, no pitch layer
    merged = _one_block(model, cond, sketch_guidance=4.0)
    assert torch.equal(_one_block(model, cond, sketch_guidance=4.0, pitch_guidance=4.0), merged)
    a, b = (_one_block(model, cond, sketch_guidance=4.0, pitch_guidance=s) for s in (8.0, 12.0))
    assert (a - merged).abs().max() > 1e-4
    # one Euler step from pure noise: the output is linear in the pitch lane's scale
    assert torch.allclose(b - merged, 2 * (a - merged), atol=1e-5)


def test_a_pitch_scale_changes_nothing_where_no_pitch_is_given():
    model = small_lmdm()
    cond = _sketched()                                   # loudness only
    assert guidance_layers(cond, 2.0, None, 4.0, 8.0) == [((), 2.0), (("sketch_mask",), 4.0)]
    assert torch.equal(_one_block(model, cond, sketch_guidance=4.0, pitch_guidance=8.0),
                       _one_block(model, cond, sketch_guidance=4.0))


def test_a_bad_pitch_guidance_is_refused():
    with pytest.raises(ValueError, match="pitch_guidance must be a number from 0 to 40 or None"):
        _one_block(small_lmdm(), _pitched(), pitch_guidance=-2.0)
