"""What the bench times: one block per call, through the KV cache, by naive outpainting, or
generated and decoded; and the figures made of them (kv_speedup, rtf, the context sweep).

Speed does not depend on whether weights are trained, so a runner takes any weights
(the shipped ones, or seeded random ones where none ship).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch

from ..model import Codec, Conditions, LMDM, generate_block
from ..model.int8 import disable_int8, enable_int8, uses_int8
from ..model.loudness_follow import FollowingDecoder
from ..model.sampler import guided, sample_euler, timesteps
from .timing import interleaved, median, ratio_figure, spread


def filled_cache(model: LMDM, frames: int):
    """A cache holding `frames` frames of random context (at most the model's window stays)."""
    cache = model.new_cache(1)
    cfg = model.cfg
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(max(1, frames // cfg.block_frames)):
            model.append([cache], torch.randn(1, cfg.block_frames, cfg.latent_dim, generator=g))
    return cache


def random_prompt(model: LMDM) -> Conditions:
    """A seeded random style vector: the conditions every timed block gets."""
    g = torch.Generator().manual_seed(2)
    return Conditions(style=torch.randn(1, model.cfg.style_dim, generator=g))


def cached_runner(model: LMDM, context_frames: int, steps: int, guidance: float) -> Callable[[int], object]:
    """One block through the KV cache per call (prefix, sampling, append), window held at `context_frames`."""
    cache = filled_cache(model, context_frames)
    cond = random_prompt(model)
    return lambda i: generate_block(model, [cache], cond, [i], steps=steps, guidance=guidance)


def naive_runner(model: LMDM, context_frames: int, steps: int, guidance: float) -> Callable[[int], object]:
    """One block per call with context and target recomputed at every step (outpainting)."""
    cfg = model.cfg
    context = torch.randn(1, context_frames, cfg.latent_dim)
    cond = random_prompt(model)
    ts = timesteps(steps)
    cond2 = Conditions(style=torch.cat([cond.style, torch.zeros_like(cond.style)]), style_mask=torch.tensor([1.0, 0.0]))
    ctx2 = context.expand(2, -1, -1)

    @torch.no_grad()
    def run(i):
        x = torch.randn(1, cfg.block_frames, cfg.latent_dim)
        if guidance == 1.0:
            return sample_euler(lambda x_, t: model.forward_naive(context, x_, t, cond), x, ts)
        return sample_euler(guided(lambda x2, t: model.forward_naive(ctx2, x2, t, cond2), guidance, 1), x, ts)
    return run


def rtf_runner(model: LMDM, codec: Codec, steps: int, guidance: float, with_controls: bool = False,
               with_sketch: bool = False) -> Callable[[int], object]:
    """One block generated and decoded (with the loudness follower) per call, window full.

    `with_controls`, `with_sketch`: a stream that sets every arrangement control, or every
    sketch lane; each takes a guidance branch of its own (`guided_layers`).
    """
    cfg = model.cfg
    cache = filled_cache(model, cfg.context_frames)
    decoder = FollowingDecoder.of(codec)
    cond = random_prompt(model)
    if with_controls:
        n = len(cfg.arrangement)
        cond = dataclasses.replace(cond, arrangement=torch.zeros(1, n), arrangement_mask=torch.ones(1, n))
    loud_db = None
    if with_sketch:
        shape = (1, cfg.block_frames, len(cfg.sketch_curves))
        cond = dataclasses.replace(cond, sketch=torch.zeros(shape), sketch_mask=torch.ones(shape))
        loud_db = np.full(cfg.block_frames, -20.0)      # the follower's work does not depend on the level

    @torch.no_grad()
    def run(i):
        z = generate_block(model, [cache], cond, [i], steps=steps, guidance=guidance)
        return decoder(model.to_codec(z), loud_db)
    return run


def matmul_runner(size: int = 2048) -> Callable[[int], object]:
    """One large float32 matmul per call: what this machine can do at best."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return lambda i: a @ b


def cached_block_flops(model: LMDM, steps: int, guidance: float) -> int:
    """Floating-point work of one cached block, counted on the float32 path: the counter
    does not see int8 products, which do the same multiply-adds."""
    from torch.utils.flop_counter import FlopCounterMode

    was_int8 = uses_int8(model)
    disable_int8(model)
    try:
        cache = filled_cache(model, model.cfg.context_frames)
        counter = FlopCounterMode(display=False)
        with counter:
            generate_block(model, [cache], random_prompt(model), [0], steps=steps, guidance=guidance)
        return counter.get_total_flops()
    finally:
        if was_int8:
            enable_int8(model)


def measure_kv(model: LMDM, context_frames: int, steps: int, guidance: float, repeats: int) -> dict:
    """`kv_speedup`: naive / cached seconds per block, `repeats` of each taken in turn."""
    times = interleaved({"cached": cached_runner(model, context_frames, steps, guidance),
                         "naive": naive_runner(model, context_frames, steps, guidance)}, repeats)
    speedup, pairs = ratio_figure(times, "naive", "cached")
    return {"cached_block_s": median(times["cached"]), "naive_block_s": median(times["naive"]),
            "kv_speedup": speedup, "timings": {"cached_block_s": spread(times["cached"]),
                                               "naive_block_s": spread(times["naive"])},
            "ratio_spread": {"kv_speedup": pairs}}


def measure_rtf(model: LMDM, codec: Codec, steps: int, guidance: float, blocks: int,
                with_controls: bool = False, with_sketch: bool = False) -> float:
    """Seconds of audio per second of compute: a block's length over the median seconds to
    generate and decode it (`rtf_runner`), over `blocks` repetitions."""
    run = rtf_runner(model, codec, steps, guidance, with_controls, with_sketch)
    return model.cfg.block_seconds / median(interleaved({"rtf": run}, blocks)["rtf"])


def context_sweep(model: LMDM, steps: int, guidance: float, seconds=(2.5, 5.0, 7.5, 10.0), blocks: int = 3) -> dict:
    """Median seconds per block, cached and naive in turn (`blocks` of each), against the context held (for the chart)."""
    cfg = model.cfg
    out = {"context_s": [], "cached_s": [], "naive_s": [], "repeats": blocks}
    for s in seconds:
        frames = max(1, round(s * cfg.frame_rate / cfg.block_frames)) * cfg.block_frames
        times = interleaved({"cached": cached_runner(model, frames, steps, guidance),
                             "naive": naive_runner(model, frames, steps, guidance)}, blocks)
        out["context_s"].append(frames / cfg.frame_rate)
        out["cached_s"].append(median(times["cached"]))
        out["naive_s"].append(median(times["naive"]))
    return out
