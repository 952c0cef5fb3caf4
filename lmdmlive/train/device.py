"""Where a training command runs: `--device cpu` (the default) or `--device cuda`.

Why one place: every trainer must agree on what "cuda" means (bf16 autocast, since a
lent GPU trains several times faster in it and the weights stay float32), must refuse a
device that is not there before it loads or writes anything, and must move batches the
same way. On CUDA the batches are still built on the CPU (corpus reading, numpy) and
moved once per step.
"""
from __future__ import annotations

import contextlib
import dataclasses

import torch

def training_device(name: str | None) -> torch.device:
    """The torch device `name` names, or a ValueError that says why it cannot be used here."""
    name = (name or "cpu").strip().lower()
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r}: not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(f"--device {name!r}: training runs on cpu or cuda, not {device.type}")
    if not torch.cuda.is_available():
        raise ValueError(f"--device {name}: this machine has no CUDA device (torch.cuda.is_available() is False); "
                         "train with --device cpu")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"--device {name}: there are {torch.cuda.device_count()} CUDA devices (0 to "
                         f"{torch.cuda.device_count() - 1})")
    return device


def autocast(device: torch.device):
    """bf16 autocast on CUDA; nothing on the CPU, whose float32 kernels are the fast ones here."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(item, device: torch.device):
    """A batch on `device`: tensors, and tensors inside tuples, lists, dicts and dataclasses (Conditions)."""
    if isinstance(item, torch.Tensor):
        return item.to(device, non_blocking=True) if item.device != device else item
    if isinstance(item, (tuple, list)):
        return type(item)(to_device(x, device) for x in item)
    if isinstance(item, dict):
        return {k: to_device(v, device) for k, v in item.items()}
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.replace(item, **{f.name: to_device(getattr(item, f.name), device)
                                            for f in dataclasses.fields(item) if f.init})
    return item
