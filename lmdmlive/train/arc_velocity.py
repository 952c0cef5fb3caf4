"""The velocity ARC-Forcing samples with: the rollout's, with its gradient where it should go, and
the teacher's and the rollout's gradient-free steps through the KV cache, as the instrument plays.

Kept apart from the training loop (`arc.py`) because both the rollout and the distillation's
teacher call it, and because the cached and recomputed paths must agree (a test holds them to it).
"""
from __future__ import annotations

import torch

from ..model import LMDM, Conditions
from ..model.generate import guidance_batch, guidance_layers
from ..model.sampler import guided_layers, sample_euler, timesteps
from .arc_options import GRAD_BRANCHES


def guided_velocity(model: LMDM, ctx: torch.Tensor, cond: Conditions, guidance: float,
                    control_guidance: float | None = None, sketch_guidance: float | None = None,
                    grad_branch: str = "every", detached=None):
    """The velocity the instrument samples with: classifier-free guidance when `guidance` is
    not 1, with the arrangement and the sketch as layers of their own scale where given
    (`generate_block`'s layers, every branch in one batch, item-major as it runs them).

    `grad_branch`: where a gradient through this velocity goes. "every" differentiates the
    guided sum as it is, so each branch gets its scale as a weight: with the arrangement's
    scale of 24 after the prompt's 2, the prompt-only branch gets -22 times the gradient,
    and an adversarial step that improves the lanes pushes the prompt's own prediction the
    other way. "conditioned" gives the value unchanged but the gradient of the fully
    conditioned branch alone (the other branches a detached offset), so the guidance
    terms that steer playing are left to the anchor's flow matching.

    `detached(x, t)`: the same guided value computed without a graph (`cached_velocity`), for
    "conditioned" to take its detached offset from, so only the branch that carries the
    gradient recomputes the context."""
    if grad_branch not in GRAD_BRANCHES:
        raise ValueError(f"grad_branch must be one of {GRAD_BRANCHES}, got {grad_branch!r}")
    B = ctx.shape[0]
    if guidance == 1.0:
        return lambda x, t: model.forward_naive(ctx, x, t.expand(B), cond)
    layers = guidance_layers(cond, guidance, control_guidance, sketch_guidance)
    branches = guidance_batch(cond, model, B, layers)
    copies = len(layers) + 1
    ctx_all = ctx.repeat_interleave(copies, dim=0)
    guided = guided_layers(lambda xg, t: model.forward_naive(ctx_all, xg, t.expand(B * copies), branches),
                           [scale for _, scale in layers], B)
    if grad_branch == "every":
        return guided
    full = cond.filled(model.cfg, B, model.cfg.block_frames)

    value_of = guided if detached is None else detached

    def conditioned(x, t):
        if not torch.is_grad_enabled():
            return value_of(x, t)
        with torch.no_grad():
            value = value_of(x, t)
        v = model.forward_naive(ctx, x, t.expand(B), full)
        return v + (value - v).detach()
    return conditioned


@torch.no_grad()
def teacher_block(teacher: LMDM, ctx: torch.Tensor, cond: Conditions, x: torch.Tensor, steps: int,
                  guidance: float, control_guidance: float | None = None,
                  sketch_guidance: float | None = None) -> torch.Tensor:
    """The clean block `teacher` plays from noise `x` after `ctx` in `steps` guided Euler steps.

    Euler is deterministic given its starting noise, so this is the block the many-step
    instrument would have played where the rollout played its few-step one: a target for
    every latent, where the discriminator gives one score per window.

    It needs no gradient, so it plays as the instrument does: the context through the KV cache
    once, then the target block alone at each step (`cached_velocity`). Recomputing the
    context at every one of its many steps was two thirds of an ARC step's time."""
    velocity = cached_velocity(teacher, ctx, cond, guidance, control_guidance, sketch_guidance)
    return sample_euler(velocity, x, timesteps(steps))


@torch.no_grad()
def cached_velocity(model: LMDM, ctx: torch.Tensor, cond: Conditions, guidance: float,
                    control_guidance: float | None = None, sketch_guidance: float | None = None):
    """`guided_velocity`'s value without its graph: `ctx` (a whole number of blocks, at most the
    window) goes into a fresh cache a block at a time, as the engine appends it, and each call
    runs the target block's guidance branches against it (`generate_block`'s path)."""
    B, bf = ctx.shape[0], model.cfg.block_frames
    if ctx.shape[1] % bf or ctx.shape[1] > model.cfg.context_frames:
        raise ValueError(f"a cached context is whole blocks of {bf} frames, at most {model.cfg.context_frames}; "
                         f"got {ctx.shape[1]} frames")
    cache = model.new_cache(B)
    for i in range(0, ctx.shape[1], bf):
        model.append([cache], ctx[:, i:i + bf])
    layers = [] if guidance == 1.0 else guidance_layers(cond, guidance, control_guidance, sketch_guidance)
    prefix = model.prefix([cache], len(layers) + 1)
    if not layers:
        return lambda x, t: model.forward_cached(prefix, x, t, cond)
    branches = guidance_batch(cond, model, B, layers)
    return guided_layers(lambda xg, t: model.forward_cached(prefix, xg, t, branches),
                         [scale for _, scale in layers], B)
