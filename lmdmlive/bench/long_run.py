"""What time and traffic leave behind: memory while streams come and go, and time per block an hour in.

Both budgets of DESIGN.md section 7 for a long performance ("memory and per-block time
flat") are growth ratios, end over start, so each figure is taken within one run.
"""
from __future__ import annotations

import gc
import time

import torch

from ..engine.memory import rss_bytes
from ..model import Codec, Conditions, LMDM, generate_block
from ..model.loudness_follow import FollowingDecoder
from .runners import random_prompt
from .timing import median, ratio_figure, spread


@torch.no_grad()
def measure_stream_churn(model: LMDM, codec: Codec, rounds: int = 60, live: int = 3, warm_rounds: int = 10) -> dict:
    """Process memory while streams come and go: its resident size at the end over after `warm_rounds`.

    Each round starts a stream (a cache and a decoder, as the engine's `add_stream` makes),
    generates one block for every live stream in one batched call (one step, no guidance:
    memory does not depend on them), decodes each, and drops the oldest stream beyond
    `live`; one stream lives through every round, so its window fills and slides. Whatever
    a stream leaves behind when it goes (a cache, a prefix, a memo keyed by stream) shows
    up as growth; a ring allocated once per stream does not.
    """
    cfg = model.cfg
    g = torch.Generator().manual_seed(3)
    cond1 = random_prompt(model)
    keeper = (model.new_cache(1), FollowingDecoder.of(codec))
    streams: list = []
    rss = {}
    warm_rounds = min(warm_rounds, rounds)
    for r in range(rounds):
        streams.append((model.new_cache(1), FollowingDecoder.of(codec)))
        if len(streams) > live:
            streams.pop(0)
        everyone = [keeper] + streams
        cond = Conditions(style=cond1.style.expand(len(everyone), -1) + 0.01 * torch.randn(
            len(everyone), cfg.style_dim, generator=g))
        z = generate_block(model, [c for c, _ in everyone], cond, [r * 7 + k for k in range(len(everyone))],
                           steps=1, guidance=1.0)
        for k, (_, decoder) in enumerate(everyone):
            decoder(model.to_codec(z[k:k + 1]))
        if r + 1 in (warm_rounds, rounds):
            gc.collect()
            rss[r + 1] = rss_bytes()
    return {"stream_rss_growth": rss[rounds] / rss[warm_rounds], "stream_rounds": rounds,
            "cache_mb": keeper[0].nbytes() / 2 ** 20}


@torch.no_grad()
def measure_hour(model: LMDM, codec: Codec, steps: int, guidance: float, seconds: float = 3600.0,
                 window: int = 40) -> dict:
    """Time per block (generation + decode) of a stream `seconds` old over a fresh one's.

    The blocks of the hour are generated with one step and no guidance: the state an
    hour leaves behind (cache positions, rebases, memory) does not depend on the step
    count, and this keeps the simulated hour to minutes. The old stream and a fresh one
    (window just filled) are then timed in alternation, block for block, so that the
    shared machine's speed, which drifts over minutes, is the same on both sides of the
    ratio (timing the start and the end minutes apart gave ratios from 0.72 to 1.26).
    """
    cfg = model.cfg
    total = int(seconds / cfg.block_seconds)
    cond = random_prompt(model)

    def stream():
        cache, decoder = model.new_cache(1), codec.stream_decoder()
        for i in range(cfg.context_blocks + 2):         # a full window
            decoder(model.to_codec(generate_block(model, [cache], cond, [i], steps=1, guidance=1.0)))
        return cache, decoder

    def timed(cache, decoder, i):
        t0 = time.perf_counter()
        decoder(model.to_codec(generate_block(model, [cache], cond, [i], steps=steps, guidance=guidance)))
        return time.perf_counter() - t0

    old_cache, old_decoder = stream()
    for i in range(total - window - cfg.context_blocks - 2):
        old_decoder(model.to_codec(generate_block(model, [old_cache], cond, [i], steps=1, guidance=1.0)))
    new_cache, new_decoder = stream()
    end, start = [], []
    for i in range(window):
        end.append(timed(old_cache, old_decoder, i))
        start.append(timed(new_cache, new_decoder, i))
    _, pairs = ratio_figure({"end": end, "start": start}, "end", "start")
    return {"hour_block_time_ratio": median(end) / median(start), "hour_blocks": total, "hour_repeats": window,
            "hour_block_s_start": median(start), "hour_block_s_end": median(end),
            "timings": {"hour_block_s_start": spread(start), "hour_block_s_end": spread(end)},
            "ratio_spread": {"hour_block_time_ratio": pairs}}
