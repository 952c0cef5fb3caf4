"""Bf16 decoder products: close to float32, streaming like it, never seen by training or
checkpoints, following in-place weight changes, and what the instrument loads by default."""
import pytest
import torch

from lmdmlive.model.bf16 import bf16_available, disable_bf16, enable_bf16, uses_bf16
from lmdmlive.model.default import load_default

from .helpers import SMALL_CODEC, small_codec

pytestmark = pytest.mark.skipif(not bf16_available(), reason="this CPU has no native bf16 products")


def decoded(codec, z, block=None):
    with torch.no_grad():
        if block is None:
            return codec.decode(z)
        stream = codec.stream_decoder()
        return torch.cat([stream(z[:, i:i + block]) for i in range(0, z.shape[1], block)], dim=1)


def test_bf16_decoding_is_close_to_float32_and_disabling_gives_float32_back():
    codec = small_codec()
    z = torch.randn(1, 24, SMALL_CODEC.latent_dim, generator=torch.Generator().manual_seed(3))
    reference = decoded(codec, z)
    assert enable_bf16(codec) and uses_bf16(codec)
    fast = decoded(codec, z)
    rel = float((fast - reference).norm() / reference.norm())
    assert 0 < rel < 0.02, rel
    assert torch.allclose(decoded(codec, z, block=5), fast, atol=1e-5 * float(fast.abs().max()))
    disable_bf16(codec)
    assert not uses_bf16(codec)
    assert torch.equal(decoded(codec, z), reference)


def test_training_and_state_dicts_see_only_the_float_weights():
    codec = small_codec()
    keys = {k: v.clone() for k, v in codec.state_dict().items()}
    enable_bf16(codec)
    assert codec.state_dict().keys() == keys.keys()
    assert all(torch.equal(v, keys[k]) for k, v in codec.state_dict().items())
    fc1 = codec.dec_stack.layers[0].fc1
    x = torch.randn(5, fc1.in_features, requires_grad=True)
    y = fc1(x)                                       # a gradient is wanted: the float path, exactly
    assert y.dtype == torch.float32
    assert torch.equal(y, torch.nn.functional.linear(x, fc1.weight, fc1.bias))
    y.sum().backward()
    assert fc1.weight.grad is not None


def test_an_in_place_weight_change_is_followed():
    codec = small_codec()
    enable_bf16(codec)
    fc2 = codec.dec_stack.layers[1].fc2
    x = torch.randn(3, fc2.in_features)
    with torch.no_grad():
        before = fc2(x)
        fc2.weight.mul_(-2.0)
        after = fc2(x)
        exact = torch.nn.functional.linear(x, fc2.weight, fc2.bias)
    assert after.dtype == torch.float32
    assert float((after - exact).norm() / exact.norm()) < 0.02
    assert float((after - before).norm() / before.norm()) > 0.5


def test_the_instrument_decodes_with_bf16_unless_asked_for_float32():
    assert uses_bf16(load_default(warn=False).codec)
    assert not uses_bf16(load_default(warn=False, float32=True).codec)
