"""Bfloat16 products for the codec decoder's ConvNeXt layers, on CPUs that multiply bf16 natively.

A streaming block is 48 STFT frames, and decoding it is mostly eighteen products of 48
rows by a 256 x 768 or 768 x 256 matrix: two thirds of the decoder's time on this
machine. Where the CPU has bf16 dot products (AVX512-BF16 or AMX, which oneDNN uses),
such a product takes about a third of its float32 time (measured here, one thread: 412
us in float32, 118 us in bf16), and a whole block about three quarters.

Only the ConvNeXt MLPs go through bf16, between float32 layer norms and a float32
residual stream; the decoded audio differs from float32's by about 0.2 % (relative L2,
on corpus clips). The output projection stays float32: its outputs are log-magnitudes
and phases, where bf16's rounding would be exponentiated or read as radians (0.7 %).
Where a CPU would emulate bf16, it would be slower than float32, so nothing changes.

The float32 weights stay the codec's, as with `int8.py`: training, checkpoints and state
dicts see only them; each MLP linear gets an instance-level `forward` that uses a bf16
copy while no gradient is wanted, re-made whenever the float weights change.
"""
from __future__ import annotations

import types

import torch
import torch.nn as nn
import torch.nn.functional as F

from .int8 import weights_key


def _bf16_forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.float32:
        return F.linear(x, self.weight, self.bias)
    key = weights_key(self)
    if self._bf16_key != key:
        bias = self.bias.detach().bfloat16() if self.bias is not None else None
        self._bf16_weights, self._bf16_key = (self.weight.detach().bfloat16(), bias), key
    weight, bias = self._bf16_weights
    return F.linear(x.bfloat16(), weight, bias).float()


def bf16_available() -> bool:
    """True where oneDNN multiplies bf16 in hardware (otherwise it would emulate, slower than float32)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _mlp_linears(codec: nn.Module):
    for layer in codec.dec_stack.layers:
        yield layer.fc1
        yield layer.fc2


def enable_bf16(codec: nn.Module) -> bool:
    """Give the decoder's MLP linears the bf16 path; False (and nothing changed) where this CPU lacks it."""
    if not bf16_available():
        return False
    for linear in _mlp_linears(codec):
        if "forward" not in linear.__dict__:
            linear._bf16_key, linear._bf16_weights = None, None
            linear.forward = types.MethodType(_bf16_forward, linear)
    codec.bf16 = True
    return True


def disable_bf16(codec: nn.Module) -> None:
    for linear in _mlp_linears(codec):
        if "forward" in linear.__dict__:
            del linear.forward
            linear._bf16_key = linear._bf16_weights = None
    codec.bf16 = False


def uses_bf16(codec: nn.Module) -> bool:
    return bool(getattr(codec, "bf16", False))
