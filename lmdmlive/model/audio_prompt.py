"""Audio in the prompt space: codec latents -> a unit vector where MiniLM puts text.

A clip can then be a prompt, and text and clips blend by weights, because both end
up as directions in one space. The trunk (a few non-causal convolution layers over
latent frames, then attention pooling) is small: it sees 40 ms frames, and a prompt
is a property of seconds of music, not of samples. The same trunk, with other heads,
is the attribute classifier `lmdmlive eval model` measures generated audio with.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvLayer(nn.Module):
    """A residual depthwise convolution over time with an MLP: the audio judges' layer, also the ARC
    latent discriminator's (train/arc.py)."""

    def __init__(self, width: int, kernel: int = 5):
        super().__init__()
        self.dw = nn.Conv1d(width, width, kernel, padding=kernel // 2, groups=width)
        self.norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, x):                     # (B, T, W)
        y = self.dw(x.transpose(1, 2)).transpose(1, 2)
        return x + self.mlp(self.norm(y))


class LatentTrunk(nn.Module):
    """(B, T, D) latents -> (B, width): convolutions over time, then attention pooling."""

    def __init__(self, latent_dim: int = 32, width: int = 192, layers: int = 4):
        super().__init__()
        self.inp = nn.Linear(latent_dim, width)
        self.layers = nn.ModuleList(ConvLayer(width) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.score = nn.Linear(width, 1)
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_std", torch.ones(latent_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.inp((z - self.latent_mean) / self.latent_std)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        w = torch.softmax(self.score(x), dim=1)
        return (w * x).sum(dim=1)


class AudioPromptEncoder(nn.Module):
    def __init__(self, latent_dim: int = 32, width: int = 192, layers: int = 4, out_dim: int = 384):
        super().__init__()
        self.trunk = LatentTrunk(latent_dim, width, layers)
        self.out = nn.Linear(width, out_dim)
        self.log_scale = nn.Parameter(torch.tensor(2.6))      # contrastive temperature, learnt (CLIP-style)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, T, latent_dim) codec latents -> (B, out_dim) unit vectors."""
        return F.normalize(self.out(self.trunk(z)), dim=-1)


class SmallModelConfig:
    """The checkpoint config of the two small models (plain fields, as checkpoints want)."""

    def __init__(self, **fields):
        self.fields = fields

    def to_dict(self) -> dict:
        return dict(self.fields)

    @classmethod
    def from_dict(cls, data: dict, where: str = "") -> "SmallModelConfig":
        if not isinstance(data, dict) or "latent_dim" not in data:
            raise TypeError(f"{where}: expected fields latent_dim, families, kind")
        return cls(**data)
