"""Low-rank adapters: a performer's own sound as a few hundred kilobytes beside the default model.

Every attention and MLP projection of the transformer gets a trainable low-rank
update, W + (alpha / r) * B A, with B starting at zero so an adapter begins as the
model itself. Only A and B train and only they are saved; loading an adapter adds
its update into the weights (one matrix sum per layer, no cost per block), and
removing it subtracts the same update, so the default model comes back exactly (to
float rounding).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

TARGETS = ("attn.qkv", "attn.proj", "mlp.0", "mlp.2")


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.rank, self.scale = rank, alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x):
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    def delta(self) -> torch.Tensor:
        return (self.lora_b @ self.lora_a) * self.scale


def _targets(model: nn.Module):
    for name, module in model.named_modules():
        if not name.startswith("blocks."):          # the transformer's own layers, not its embeddings
            continue
        for t in TARGETS:
            if name.endswith(t) and isinstance(module, (nn.Linear, LoRALinear)):
                yield name, module


def _set(model: nn.Module, name: str, value: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    if isinstance(owner, nn.Sequential):
        owner[int(leaf)] = value
    else:
        setattr(owner, leaf, value)


def add_adapters(model: nn.Module, rank: int = 8, alpha: float = 16.0) -> list[nn.Parameter]:
    """Wrap every target projection; freeze everything else; returns the trainable parameters."""
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"adapter rank must be a whole number of at least 1, got {rank!r}")
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for name, module in list(_targets(model)):
        if isinstance(module, LoRALinear):
            raise ValueError(f"{name} already has an adapter")
        wrapped = LoRALinear(module, rank, alpha)
        _set(model, name, wrapped)
        params += [wrapped.lora_a, wrapped.lora_b]
    if not params:
        raise ValueError("no projection to adapt was found in this model")
    return params


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapters' tensors, keyed by the projection they adapt."""
    out = {}
    for name, module in _targets(model):
        if isinstance(module, LoRALinear):
            out[f"{name}.lora_a"] = module.lora_a.detach().contiguous()
            out[f"{name}.lora_b"] = module.lora_b.detach().contiguous()
    return out


def strip_adapters(model: nn.Module) -> None:
    """Put the plain projections back (the adapters' updates not applied)."""
    for name, module in list(_targets(model)):
        if isinstance(module, LoRALinear):
            _set(model, name, module.base)


@torch.no_grad()
def merge(model: nn.Module, state: dict[str, torch.Tensor], alpha: float, sign: float = 1.0) -> None:
    """Add (sign=1) or remove (sign=-1) an adapter's update in a plain model's weights."""
    names = {n[: -len(".lora_a")] for n in state if n.endswith(".lora_a")}
    if not names:
        raise ValueError("the adapter holds no lora_a/lora_b tensors")
    for name in sorted(names):
        a, b = state[f"{name}.lora_a"], state[f"{name}.lora_b"]
        try:
            linear = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"the adapter names {name!r}, which this model does not have") from None
        if not isinstance(linear, nn.Linear) or tuple(linear.weight.shape) != (b.shape[0], a.shape[1]):
            raise ValueError(f"the adapter's {name} does not fit this model's projection")
        linear.weight += sign * (b @ a) * (alpha / a.shape[0])
