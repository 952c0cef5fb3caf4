"""ARC-Forcing's discriminators: what tells a rolled-out window from a real one under its prompt.

Kept apart from the training loop (arc.py) because they are models with their own shape
and tests; the loop only calls them on (window, prompt, noise level, noise, lanes).
"""
from __future__ import annotations

import copy
import dataclasses

import torch
import torch.nn as nn

from ..model import LMDM, Conditions
from ..model.audio_prompt import ConvLayer

TRUNK_NOISE = (0.05, 0.5)
"""Noise levels the trunk discriminator reads at: light enough to keep the detail it judges."""


class LatentDiscriminator(nn.Module):
    """Score of a latent window given its prompt: a conv trunk, a plain head and a projection term."""

    def __init__(self, latent_dim: int, style_dim: int = 384, width: int = 128, layers: int = 3):
        super().__init__()
        self.inp = nn.Linear(latent_dim, width)
        self.layers = nn.ModuleList(ConvLayer(width) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 1)
        self.style = nn.Linear(style_dim, width)

    def forward(self, x: torch.Tensor, style: torch.Tensor, t: torch.Tensor | None = None,
                noise: torch.Tensor | None = None) -> torch.Tensor:
        h = self.inp(x)
        for layer in self.layers:
            h = layer(h)
        h = self.norm(h).mean(dim=1)
        return self.head(h).squeeze(-1) + (self.style(style) * h).sum(-1) / h.shape[-1] ** 0.5


class TrunkHead(nn.Module):
    """Per-frame score of one trunk layer plus a projection of the prompt onto its pooled features."""

    def __init__(self, d_model: int, style_dim: int, width: int = 128):
        super().__init__()
        self.norm = nn.LayerNorm(d_model, elementwise_affine=False)
        self.feat = nn.Sequential(nn.Linear(d_model, width), nn.SiLU())
        self.head = nn.Linear(width, 1)
        self.style = nn.Linear(style_dim, width)

    def forward(self, h: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        f = self.feat(self.norm(h))
        pooled = f.mean(dim=1)
        return self.head(f).mean(dim=(1, 2)) + (self.style(style) * pooled).sum(-1) / pooled.shape[-1] ** 0.5


class TrunkDiscriminator(nn.Module):
    """Heads on a frozen copy of the model's trunk, read at a light noise level.

    Real and fake windows of one step are noised with the same levels and the same
    noise (`t`, `noise`), so the only difference the heads can find is the audio.
    """

    def __init__(self, model: LMDM, layers: tuple[int, ...] | None = None):
        super().__init__()
        n = model.cfg.n_layers
        self.layers = tuple(layers) if layers else tuple(sorted({n // 3, (2 * n) // 3, n - 1}))
        self.trunk = [copy.deepcopy(model).requires_grad_(False).eval()]   # a list: not a submodule, not saved
        self.heads = nn.ModuleList(TrunkHead(model.cfg.d_model, model.cfg.style_dim) for _ in self.layers)

    def forward(self, x: torch.Tensor, style: torch.Tensor, t: torch.Tensor | None = None,
                noise: torch.Tensor | None = None, lanes: Conditions | None = None) -> torch.Tensor:
        """`lanes`: the sketch and arrangement to read the window under (its prompt is `style`).

        Why lanes: a rollout played under a sketch is judged by a trunk that knows what the
        sketch asks for, so following it is never what tells a fake from a real window."""
        if t is None:
            t = torch.full((x.shape[0],), TRUNK_NOISE[0])
        if noise is None:
            noise = torch.randn_like(x)
        x_t = (1 - t[:, None, None]) * x + t[:, None, None] * noise
        read = Conditions(style=style) if lanes is None else dataclasses.replace(lanes, style=style, style_mask=None)
        hidden = self.trunk[0].window_hidden(x_t, t, read, self.layers)
        return sum(head(h, style) for head, h in zip(self.heads, hidden)) / len(self.heads)
