"""Few-step flow-matching samplers for one block, as plain functions.

Convention (rectified flow): x_t = (1 - t) * x0 + t * noise, t = 1 is pure noise, and
the network predicts the velocity v = noise - x0. A sampler takes a `denoise(x, t) -> v`
function, the starting noise and the time grid, and returns the clean block; the
caller owns the model, the cache and the conditions.
"""
from __future__ import annotations

from typing import Callable

import torch

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

MAX_STEPS = 64


def timesteps(steps: int, shift: float = 1.0, start: float = 1.0) -> torch.Tensor:
    """(steps + 1,) noise levels from `start` down to 0; shift > 1 spends more steps at high noise."""
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be a whole number from 1 to {MAX_STEPS}, got {steps!r}")
    if not 0.0 < start <= 1.0:
        raise ValueError(f"start noise level must be in (0, 1], got {start!r}")
    t = torch.linspace(start, 0.0, steps + 1)
    return shift * t / (1 + (shift - 1) * t)


def sample_euler(denoise: Denoise, x: torch.Tensor, ts: torch.Tensor, callback=None) -> torch.Tensor:
    """Euler integration of the flow from ts[0] to ts[-1]."""
    for i in range(len(ts) - 1):
        t, t_next = ts[i], ts[i + 1]
        v = denoise(x, t)
        x = x + (t_next - t) * v
        if callback is not None:
            callback(i, x)
    return x


def sample_pingpong(denoise: Denoise, x: torch.Tensor, ts: torch.Tensor, noise_fn: Callable[[int], torch.Tensor],
                    callback=None) -> torch.Tensor:
    """Denoise fully, then re-noise to the next level with fresh (seeded) noise.

    Few-step models distilled by adversarial post-training do better with this than
    with Euler, because each step starts from a fully denoised estimate.
    """
    x0 = x
    for i in range(len(ts) - 1):
        t, t_next = ts[i], ts[i + 1]
        x0 = x - t * denoise(x, t)
        x = x0 if float(t_next) == 0.0 else (1 - t_next) * x0 + t_next * noise_fn(i)
        if callback is not None:
            callback(i, x0)
    return x0


def guided(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], guidance: float, batch: int) -> Denoise:
    """Classifier-free guidance around a network evaluated on [cond, uncond] interleaved per item.

    `velocity(x2, t)` takes a (2 * batch, ...) tensor laid out item-major (item b's
    conditional branch at 2b, its unconditional one at 2b + 1). With guidance 1 the
    unconditional branch is never computed, so callers pass `velocity` on the
    conditional batch alone and this function is not needed.
    """
    def denoise(x, t):
        v = velocity(x.repeat_interleave(2, dim=0), t).view(batch, 2, *x.shape[1:])
        v_cond, v_uncond = v[:, 0], v[:, 1]
        return v_uncond + guidance * (v_cond - v_uncond)
    return denoise


def guided_layers(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], scales: list[float],
                  batch: int) -> Denoise:
    """Guidance with a scale of its own for each layer of conditions.

    `velocity(xn, t)` takes n = len(scales) + 1 branches per item, item-major, from
    every layer given down to nothing: branch k (counted from the last) holds layers
    1..k. The result is v_nothing + sum_k scales[k] * (v_k - v_{k-1}): each layer's own
    effect, scaled. With every scale equal it is plain classifier-free guidance.

    Why: the corpus's captions name the instruments its arrangement controls describe,
    so a control never disagreed with its caption in training; asked for drums out
    under a prompt that names drums, plain guidance follows the prompt, and scaling up
    the controls' own term makes the knob win. The sketch's curves are followed more
    closely the same way (docs/dev/model-core.md gives the measured scales).
    """
    n = len(scales) + 1

    def denoise(x, t):
        v = velocity(x.repeat_interleave(n, dim=0), t).view(batch, n, *x.shape[1:])
        out = v[:, n - 1]
        for k, scale in enumerate(scales, start=1):
            out = out + scale * (v[:, n - 1 - k] - v[:, n - k])
        return out
    return denoise


def block_noise(seed: int, block_index: int, shape, dtype=torch.float32, salt: int = 0) -> torch.Tensor:
    """Noise that depends only on (seed, block index, salt): a performance re-renders identically."""
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(block_index) * 7919 + salt) % (2 ** 63))
    return torch.randn(*shape, generator=g, dtype=dtype)
