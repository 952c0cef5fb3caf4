"""Int8 inference: close to float32, never seen by training or checkpoints, and following
every in-place change of the float weights (adapters)."""
import pytest
import torch

from lmdmlive.model import Conditions, generate_block
from lmdmlive.model.int8 import disable_int8, enable_int8, int8_available, uses_int8

from .helpers import small_lmdm

pytestmark = pytest.mark.skipif(not int8_available(), reason="this torch has no int8 CPU kernels")


def blocks(model, n=4):
    cache = model.new_cache(1)
    cond = Conditions(style=torch.randn(1, model.cfg.style_dim, generator=torch.Generator().manual_seed(1)))
    return torch.cat([generate_block(model, [cache], cond, [3], steps=2, guidance=2.0) for _ in range(n)])


def test_int8_blocks_are_close_to_float32_and_disabling_gives_float32_back():
    model = small_lmdm()
    reference = blocks(model)
    assert enable_int8(model) and uses_int8(model)
    fast = blocks(model)
    rel = float((fast - reference).norm() / reference.norm())
    assert 0 < rel < 0.03, rel
    disable_int8(model)
    assert not uses_int8(model)
    assert torch.equal(blocks(model), reference)


def test_training_and_state_dicts_see_only_the_float_weights():
    model = small_lmdm()
    keys = {k: v.clone() for k, v in model.state_dict().items()}
    enable_int8(model)
    assert {k: v for k, v in model.state_dict().items()}.keys() == keys.keys()
    assert all(torch.equal(v, keys[k]) for k, v in model.state_dict().items())
    lin = model.blocks[0].mlp[0]
    x = torch.randn(5, lin.in_features, requires_grad=True)
    y = lin(x)                                       # a gradient is wanted: the float path, exactly
    assert torch.equal(y, torch.nn.functional.linear(x, lin.weight, lin.bias))
    y.sum().backward()
    assert lin.weight.grad is not None


def test_an_in_place_weight_change_is_followed():
    model = small_lmdm()
    enable_int8(model)
    lin = model.blocks[0].attn.qkv
    x = torch.randn(3, lin.in_features)
    with torch.no_grad():
        before = lin(x)
        lin.weight.mul_(-2.0)                        # what an adapter merge does: an in-place edit
        after = lin(x)
        exact = torch.nn.functional.linear(x, lin.weight, lin.bias)
    assert float((after - exact).norm() / exact.norm()) < 0.02
    assert float((after - before).norm() / before.norm()) > 0.5
