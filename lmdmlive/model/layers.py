"""The transformer's building blocks: adaLN modulation, the timestep embedding, attention
over a cached prefix, one block, and the pitch's Fourier features.

Kept apart from `lmdm.py`, which says how blocks are stacked and streamed: these pieces
know nothing of blocks of frames, caches across calls or conditions.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import LMDMConfig
from .kv_cache import AttentionPrefix
from .rope import Rotary


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


class TimestepEmbedding(nn.Module):
    def __init__(self, d: int, freq_dim: int = 128):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, d), nn.SiLU(), nn.Linear(d, d))

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # t: (B,) in [0, 1]
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = (t.float() * 1000.0)[:, None] * freqs[None]
        emb = torch.cat([args.cos(), args.sin()], dim=-1)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class Attention(nn.Module):
    def __init__(self, cfg: LMDMConfig):
        super().__init__()
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x, rope, prefix: AttentionPrefix | None, layer: int, mask: torch.Tensor | None):
        """Returns the output and this block's rotated keys and values (for the cache)."""
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
        q, k = Rotary.apply(qkv[:2], *rope).unbind(0)   # one rotation for queries and keys
        v = qkv[2]
        if prefix is not None:
            k_all, v_all = prefix.keys_values(layer, k, v)
        else:
            k_all, v_all = k, v
        if mask is not None and mask.device != q.device:     # masks are built on the CPU
            mask = mask.to(q.device)
        y = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(B, T, C)), k, v


class Block(nn.Module):
    def __init__(self, cfg: LMDMConfig):
        super().__init__()
        d = cfg.d_model
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.mlp_ratio * d), nn.GELU(), nn.Linear(cfg.mlp_ratio * d, d))
        # adaLN-single (PixArt-alpha): one modulation shared by all blocks plus a learned
        # per-block offset. Per-block adaLN would be a third of the weights, and the
        # cached path's time on a CPU is mostly the time to stream weights through memory.
        # Order: shift1, scale1, gate1, shift2, scale2, gate2; the scales start at 1 (so
        # modulation is one addcmul) and the gates at 0 (adaLN-Zero: identity at init).
        offset = torch.zeros(6, d)
        offset[1] = offset[4] = 1.0
        self.mod_offset = nn.Parameter(offset.flatten())

    def forward(self, x, mod, rope, prefix=None, layer=0, mask=None):
        shift1, scale1, gate1, shift2, scale2, gate2 = (mod + self.mod_offset).chunk(6, dim=-1)
        a, k, v = self.attn(torch.addcmul(shift1, self.norm1(x), scale1), rope, prefix, layer, mask)
        x = torch.addcmul(x, gate1, a)
        x = torch.addcmul(x, gate2, self.mlp(torch.addcmul(shift2, self.norm2(x), scale2)))
        return x, k, v



def pitch_fourier(pitch: torch.Tensor, pairs: int) -> torch.Tensor:
    """(..., ) pitch in model units (octaves from middle C) -> (..., 2 * pairs) sines and cosines.

    A single number is a poor way to ask for a note: telling E from F through one linear
    input needs a resolution the network learns slowly. Periods of an octave and its
    harmonics (down to two semitones) give pitch class directly; periods of two and four
    octaves give register.
    """
    harmonics = [2.0 ** -j for j in (2, 1)] + list(range(1, pairs - 1))
    freqs = torch.tensor(harmonics[:pairs], dtype=pitch.dtype, device=pitch.device)
    angle = 2 * math.pi * pitch[..., None] * freqs
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)
