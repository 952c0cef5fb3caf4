"""Rotary positions: attention scores depend only on the distance between two frames.

That is what lets the context window slide for hours: a cached key never has to be
re-encoded, only rotated relative to the block that is being generated.
"""
from __future__ import annotations

import torch


class Rotary:
    def __init__(self, head_dim: int, base: float = 10000.0):
        if head_dim % 2:
            raise ValueError(f"rotary positions need an even head size, got {head_dim}")
        self.inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
        self._cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, positions: torch.Tensor):
        """cos and sin of shape (T, head_dim/2) for integer positions (T,)."""
        angles = positions.to(torch.float64)[:, None] * self.inv_freq[None, :]
        return angles.cos().float(), angles.sin().float()

    def range_tables(self, start: int, stop: int):
        """Tables for positions start..stop-1, memoised: target blocks always use the same range."""
        key = (start, stop)
        if key not in self._cache:
            self._cache[key] = self.tables(torch.arange(start, stop))
        return self._cache[key]

    @staticmethod
    def apply(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Rotate x (..., T, head_dim) by the tables (T, head_dim/2); pairs are (first half, second half)."""
        x1, x2 = x.chunk(2, dim=-1)
        if cos.dtype != x.dtype or cos.device != x.device:     # tables are made (and memoised) on the CPU
            cos, sin = cos.to(x.device, x.dtype), sin.to(x.device, x.dtype)
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
