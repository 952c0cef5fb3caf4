"""Conditions: any subset can be given, and guidance dropout removes them independently."""
import math

import pytest
import torch

from lmdmlive.model import Conditions, LMDMConfig, sketch_units

CFG = LMDMConfig()


def _full(batch=64, frames=12):
    return Conditions(style=torch.randn(batch, 384), sketch=torch.randn(batch, frames, 5),
                      audio=torch.randn(batch, frames, 32), arrangement=torch.rand(batch, 7)).filled(CFG, batch, frames)


def test_missing_conditions_are_filled_as_not_given():
    c = Conditions(sketch=torch.ones(2, 12, 5)).filled(CFG, 2, 12)
    assert c.style_mask.sum() == 0 and c.audio_mask.sum() == 0 and c.arrangement_mask.sum() == 0
    assert c.sketch_mask.sum() == 2 * 12 * 5


def test_dropout_of_one_drops_everything_and_of_zero_nothing():
    c = _full()
    gone = c.drop_randomly(1.0)
    assert all(getattr(gone, m).sum() == 0 for m in ("style_mask", "sketch_mask", "audio_mask", "arrangement_mask"))
    kept = c.drop_randomly(0.0)
    assert torch.equal(kept.sketch_mask, c.sketch_mask) and torch.equal(kept.style_mask, c.style_mask)


def test_sketch_curves_are_dropped_independently_of_each_other():
    c = _full(batch=2000).drop_randomly(0.5, torch.Generator().manual_seed(0))
    per_curve = c.sketch_mask[:, 0, :]                       # (batch, curves), constant over frames
    assert torch.equal(c.sketch_mask[:, 0], c.sketch_mask[:, -1])
    both = (per_curve[:, 0] * per_curve[:, 1]).mean().item()
    assert abs(per_curve[:, 0].mean().item() - 0.5) < 0.05
    assert abs(both - 0.25) < 0.05, "curves dropped together, not independently"


def test_wrong_shapes_are_named():
    with pytest.raises(ValueError, match=r"condition 'style' has shape \(1, 10\), expected \(1, 384\)"):
        Conditions(style=torch.zeros(1, 10)).filled(CFG, 1, 12)


def test_sketch_units_map_performer_units_to_unit_scale():
    assert sketch_units("loud", -30.0) == 0.0
    assert sketch_units("pitch", 72.0) == 1.0
    assert math.isclose(sketch_units("bright", 2000.0), 1.0)
    assert torch.allclose(sketch_units("bright", torch.tensor([500.0, 4000.0])), torch.tensor([-1.0, 2.0]))
    with pytest.raises(KeyError, match="unknown sketch curve 'wobble'"):
        sketch_units("wobble", 1.0)
