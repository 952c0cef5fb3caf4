"""One block for a batch of streams: build the prefix, sample, append to the caches.

This is the call the engine makes once per block for all live streams together.
"""
from __future__ import annotations

import torch

from .conditioning import Conditions
from .config import SKETCH_CURVES
from .kv_cache import BlockCache
from .lmdm import LMDM
from .sampler import block_noise, guided_layers, sample_euler, sample_pingpong, timesteps

SAMPLERS = ("euler", "pingpong")
CONTROL_GUIDANCE = 24.0
"""Default scale of the arrangement controls' own guidance term (`guided_layers`)."""
SKETCH_GUIDANCE = 4.0
"""Default scale of the sketch's own guidance term (`guided_layers`), measured in docs/dev/model-core.md."""
PITCH_GUIDANCE: float | None = None
"""Default scale of the pitch lane's own term on top of the sketch's; None: the sketch's scale (no branch)."""
PITCH_LANE = "sketch_mask:pitch"
"""The layer name of the pitch lane alone: the pitch column of `sketch_mask`."""
_PITCH = SKETCH_CURVES.index("pitch")


def _given(mask: torch.Tensor | None) -> bool:
    return mask is not None and bool((mask > 0).any())


def _pitch_given(cond: Conditions) -> bool:
    return cond.sketch_mask is not None and bool((cond.sketch_mask[..., _PITCH] > 0).any())


def guidance_layers(cond: Conditions, guidance: float, control_guidance: float | None,
                    sketch_guidance: float | None,
                    pitch_guidance: float | None = None) -> list[tuple[tuple[str, ...], float]]:
    """The layers of guidance for `cond`: (the masks a layer adds, its scale), first layer first.

    The first layer is the prompt and the input audio. The arrangement and the sketch
    follow as layers of their own when some stream sets them and their scale is given;
    a layer with the same scale as the one before merges into it (it is then plain
    guidance, and costs no branch). The pitch lane can be a last layer of its own
    (`pitch_guidance`), so its term can be scaled apart from the other lanes': the
    sketch's scale trades pitch against loudness, and measured apart it is the pitch
    term that costs loudness (docs/dev/model-core.md). By default it merges.
    """
    layers: list[tuple[tuple[str, ...], float]] = [((), guidance)]
    pitch = pitch_guidance if sketch_guidance is not None else None
    for name, scale, given in (("arrangement_mask", control_guidance, _given(cond.arrangement_mask)),
                               ("sketch_mask", sketch_guidance, _given(cond.sketch_mask)),
                               (PITCH_LANE, pitch, _pitch_given(cond))):
        if scale is None or not given:
            continue
        if scale == layers[-1][1]:
            if len(layers) > 1:         # the first layer holds whatever no later layer names
                layers[-1] = (layers[-1][0] + (name,), scale)
        else:
            layers.append(((name,), scale))
    return layers


def guidance_batch(cond: Conditions, model: LMDM, batch: int, layers) -> Conditions:
    """Every layer, then one layer fewer, ... down to nothing, per item: item-major."""
    frames = model.cfg.block_frames
    full = cond.filled(model.cfg, batch, frames)
    branches = [full]
    for k in range(len(layers) - 1, 0, -1):        # drop layer k: the last layer goes first
        fewer = Conditions(**vars(branches[-1]))
        for name in layers[k][0]:
            if name == PITCH_LANE:
                mask = fewer.sketch_mask.clone()
                mask[..., _PITCH] = 0.0
                fewer.sketch_mask = mask
            else:
                setattr(fewer, name, torch.zeros_like(getattr(full, name)))
        branches.append(fewer)
    branches.append(Conditions().filled(model.cfg, batch, frames))
    return Conditions(**{name: torch.stack([getattr(b, name) for b in branches], dim=1).flatten(0, 1)
                         for name in vars(full)})


@torch.no_grad()
def generate_block(model: LMDM, caches: list[BlockCache], cond: Conditions, seeds: list[int], *,
                   steps: int = 4, guidance: float = 1.0, control_guidance: float | None = CONTROL_GUIDANCE,
                   sketch_guidance: float | None = SKETCH_GUIDANCE, pitch_guidance: float | None = PITCH_GUIDANCE,
                   sampler: str = "euler", shift: float = 1.0, init: torch.Tensor | None = None,
                   strength: float = 1.0, append: bool = True) -> torch.Tensor:
    """The clean latents of the next block of every stream: (sum of cache batches, Bf, latent_dim).

    seeds:    one per cache; the noise of a block depends only on (seed, block index)
    guidance: classifier-free guidance scale; 1 evaluates the conditional branch only
    control_guidance: the arrangement controls' own scale (`guided_layers`), used
              when guidance is not 1 and some stream sets a control; None: plain guidance
    sketch_guidance: the sketch's own scale, the same way, when some stream sets a sketch
    pitch_guidance: the pitch lane's own scale on top of the sketch's; None: the sketch's
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
    if sketch_guidance is not None and (not (sketch_guidance == sketch_guidance)
                                        or not 0.0 <= sketch_guidance <= 40.0):
        raise ValueError(f"sketch_guidance must be a number from 0 to 40 or None, got {sketch_guidance!r}")
    if pitch_guidance is not None and (not (pitch_guidance == pitch_guidance) or not 0.0 <= pitch_guidance <= 40.0):
        raise ValueError(f"pitch_guidance must be a number from 0 to 40 or None, got {pitch_guidance!r}")
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

    # guidance 1 is the cheapest path, one branch: no layer is scaled then
    layers = [] if guidance == 1.0 else guidance_layers(cond, guidance, control_guidance, sketch_guidance,
                                                            pitch_guidance)
    copies = len(layers) + 1 if layers else 1
    prefix = model.prefix(caches, copies)
    if copies == 1:
        def denoise(x_, t):
            return model.forward_cached(prefix, x_, t, cond)
    else:
        branches = guidance_batch(cond, model, batch, layers)

        def velocity(xg, t):
            return model.forward_cached(prefix, xg, t, branches)
        denoise = guided_layers(velocity, [scale for _, scale in layers], batch)

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
