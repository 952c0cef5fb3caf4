"""Int8 weights for the transformer's matrix products when generating on a CPU.

A cached denoising step multiplies a handful of token rows by every weight matrix, so
its time is the time to stream the weights through memory, not arithmetic: measured
here with one thread, a 6 x 384 by 384 x 1536 product takes 437 us in float32 and
97 us with int8 weights (fbgemm's dynamic-quantized kernel), and a whole default block
(4 steps, guidance) 102 ms against 53 ms. The outputs of a block differ by about 0.4 %
(relative L2) on the seeded weights.

The float32 weights stay the model's: training, adapters (merged in place), checkpoints
and state dicts see only them. Each `nn.Linear` of the transformer blocks gets an
instance-level `forward` that uses a packed int8 copy while no gradient is wanted, and
re-packs whenever the float weights change (their version counter moves on any in-place
edit, such as an adapter merge or `load_state_dict`).
"""
from __future__ import annotations

import types
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F


def _pack(linear: nn.Linear):
    w = linear.weight.detach().float()
    scale = w.abs().amax(dim=1).clamp(min=1e-8) / 127.0
    with warnings.catch_warnings():
        # Upstream marks quantized tensors deprecated; the torch range pyproject allows has them,
        # and where they are gone `_fast_forward` falls back to float32 (it never fails a block).
        warnings.simplefilter("ignore")
        q = torch.quantize_per_channel(w, scale.double(), torch.zeros(w.shape[0], dtype=torch.long), 0, torch.qint8)
    bias = linear.bias.detach().float() if linear.bias is not None else None
    return torch.ops.quantized.linear_prepack(q, bias)


def weights_key(linear: nn.Linear):
    """What identifies a linear's current float weights: their storage and version counters,
    which move on any in-place edit. A cached copy (int8 here, bf16 in `bf16.py`) is stale
    when its key differs."""
    params = linear._parameters         # not `linear.weight`: Module.__getattr__ costs a step microseconds
    w, b = params["weight"], params["bias"]
    return (w.data_ptr(), w._version, None if b is None else (b.data_ptr(), b._version))


def _fast_forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    params = self._parameters
    if torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.float32 \
            or params["weight"].device.type != "cpu":
        return F.linear(x, params["weight"], params["bias"])
    key = weights_key(self)
    try:
        if self._int8_key != key:
            self._int8_packed, self._int8_key = _pack(self), key
        shape = x.shape
        y = torch.ops.quantized.linear_dynamic.default(x.reshape(-1, shape[-1]).contiguous(), self._int8_packed, True)
    except (RuntimeError, AttributeError, NotImplementedError):
        del self.forward                 # this torch cannot: float32 from now on, for this layer
        return F.linear(x, self.weight, self.bias)
    return y.view(*shape[:-1], y.shape[-1])


def int8_available() -> bool:
    return "fbgemm" in torch.backends.quantized.supported_engines or "x86" in torch.backends.quantized.supported_engines


def enable_int8(model: nn.Module) -> bool:
    """Give the linears of `model.blocks` the int8 path; False (and nothing changed) where
    this torch has no int8 CPU kernels."""
    if not int8_available():
        return False
    for m in model.blocks.modules():
        if isinstance(m, nn.Linear) and "forward" not in m.__dict__:
            m._int8_key, m._int8_packed = None, None
            m.forward = types.MethodType(_fast_forward, m)
    model.int8 = True
    return True


def disable_int8(model: nn.Module) -> None:
    for m in model.blocks.modules():
        if isinstance(m, nn.Linear) and "forward" in m.__dict__:
            del m.forward
            m._int8_key = m._int8_packed = None
    model.int8 = False


def uses_int8(model: nn.Module) -> bool:
    return bool(getattr(model, "int8", False))
