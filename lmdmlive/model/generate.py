"""One block for a batch of streams: build the prefix, sample, append to the caches.

This is the call the engine makes once per block for all live streams together.
"""
from __future__ import annotations

import torch

from .conditioning import Conditions
from .kv_cache import BlockCache
from .lmdm import LMDM
from .sampler import block_noise, guided, guided_with_controls, sample_euler, sample_pingpong, timesteps

SAMPLERS = ("euler", "pingpong")
CONTROL_GUIDANCE = 12.0
"""Default scale of the arrangement controls' own guidance term (`guided_with_controls`)."""


def _guidance_batch(cond: Conditions, model: LMDM, batch: int, with_controls: bool) -> Conditions:
    """[cond_0, null, cond_1, null, ...], or [cond_0, cond_0 without arrangement, null, ...]: item-major."""
    frames = model.cfg.block_frames
    full = cond.filled(model.cfg, batch, frames)
    null = Conditions().filled(model.cfg, batch, frames)
    branches = [full]
    if with_controls:
        rest = Conditions(**vars(full))
        rest.arrangement_mask = torch.zeros_like(full.arrangement_mask)
        branches.append(rest)
    branches.append(null)
    return Conditions(**{name: torch.stack([getattr(b, name) for b in branches], dim=1).flatten(0, 1)
                         for name in vars(full)})


@torch.no_grad()
def generate_block(model: LMDM, caches: list[BlockCache], cond: Conditions, seeds: list[int], *,
                   steps: int = 4, guidance: float = 1.0, control_guidance: float | None = CONTROL_GUIDANCE,
                   sampler: str = "euler", shift: float = 1.0, init: torch.Tensor | None = None,
                   strength: float = 1.0, append: bool = True) -> torch.Tensor:
    """The clean latents of the next block of every stream: (sum of cache batches, Bf, latent_dim).

    seeds:    one per cache; the noise of a block depends only on (seed, block index)
    guidance: classifier-free guidance scale; 1 evaluates the conditional branch only
    control_guidance: the arrangement controls' own scale (`guided_with_controls`), used
              when guidance is not 1 and some stream sets a control; None: plain guidance
    init, strength: start from `init` latents noised to level `strength` (0 returns
              `init` unchanged, 1 ignores it) -- the generative delay's partial noising
    append:   make the result the context of the next block. It is left pending in
              each cache and computed with the next block's first denoising step (one
              pass through the weights saved per block); `model.flush` appends it now.
    """
    cfg = model.cfg
    if len(seeds) != len(caches):
        raise ValueError(f"got {len(seeds)} seeds for {len(caches)} streams")
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {list(SAMPLERS)}")
    if not (guidance == guidance) or not 0.0 <= guidance <= 20.0:
        raise ValueError(f"guidance must be a number from 0 to 20, got {guidance!r}")
    if control_guidance is not None and (not (control_guidance == control_guidance)
                                         or not 0.0 <= control_guidance <= 40.0):
        raise ValueError(f"control_guidance must be a number from 0 to 40 or None, got {control_guidance!r}")
    if not (strength == strength) or not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be a number from 0 to 1, got {strength!r}")
    if len({c.pending is None for c in caches}) > 1:
        model.flush(caches)     # a stream that just started batches with ones mid-performance
    batch = sum(c.batch for c in caches)
    cond.check(cfg, batch, cfg.block_frames)
    shape_per = [(c.batch, cfg.block_frames, cfg.latent_dim) for c in caches]
    blocks = [c.blocks_generated for c in caches]
    noise = torch.cat([block_noise(s, b, shp) for s, b, shp in zip(seeds, blocks, shape_per)])

    if init is not None and strength < 1.0:
        if tuple(init.shape) != tuple(noise.shape):
            raise ValueError(f"init latents of shape {tuple(init.shape)}, expected {tuple(noise.shape)}")
        if strength == 0.0:
            x0 = init.clone()
            if append:
                _leave_pending(model, caches, x0)
            return x0
        ts = timesteps(steps, shift, start=strength)
        x = (1 - strength) * init + strength * noise
    else:
        ts = timesteps(steps, shift)
        x = noise

    with_controls = (guidance != 1.0 and control_guidance is not None and control_guidance != guidance
                     and cond.arrangement_mask is not None and bool((cond.arrangement_mask > 0).any()))
    copies = 1 if guidance == 1.0 else 3 if with_controls else 2
    prefix = model.prefix(caches, copies)
    if copies == 1:
        def denoise(x_, t):
            return model.forward_cached(prefix, x_, t, cond)
    else:
        branches = _guidance_batch(cond, model, batch, with_controls)

        def velocity(xg, t):
            return model.forward_cached(prefix, xg, t, branches)
        denoise = (guided_with_controls(velocity, guidance, control_guidance, batch) if with_controls
                   else guided(velocity, guidance, batch))

    if sampler == "euler":
        x0 = sample_euler(denoise, x, ts)
    else:
        def fresh(i):
            return torch.cat([block_noise(s, b, shp, salt=i + 1) for s, b, shp in zip(seeds, blocks, shape_per)])
        x0 = sample_pingpong(denoise, x, ts, fresh)
    if append:
        _leave_pending(model, caches, x0)
    return x0


def _leave_pending(model: LMDM, caches: list[BlockCache], x0: torch.Tensor) -> None:
    model.flush(caches)     # only the strength-0 path arrives with a block still pending
    start = 0
    for c in caches:
        c.pending = x0[start:start + c.batch].clone()
        start += c.batch
