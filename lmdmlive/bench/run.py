"""The whole bench in one run (`lmdmlive bench`): every figure of DESIGN.md section 6, in a fixed order.

The bench runs the default configuration with the shipped weights when they exist and
seeded random ones otherwise (speed does not depend on training). Each timing is the
median of `repeats` repetitions, the same count on both sides of a ratio (timing.py).
"""
from __future__ import annotations

import torch

from ..model import Codec, LMDM
from ..model.bf16 import uses_bf16
from ..model.int8 import uses_int8
from .long_run import measure_hour, measure_stream_churn
from .realtime import run_realtime_figures
from .reshaped import with_window
from .runners import cached_block_flops, cached_runner, matmul_runner, measure_kv, rtf_runner
from .timing import interleaved, median, ratio_figure, spread

REPEATS_QUICK, REPEATS_FULL = 5, 15
"""Repetitions of each timing (odd: the median is one measured block)."""


def _merge(results: dict, figures: dict) -> None:
    """Add `figures` to `results`, merging their `timings` and `ratio_spread` tables."""
    for key in ("timings", "ratio_spread"):
        results.setdefault(key, {}).update(figures.pop(key, {}))
    results.update(figures)


def run_bench(model: LMDM, codec: Codec, steps: int, guidance: float, quick: bool, progress=print,
              realtime_runs: bool = True, model_path=None, codec_path=None, realtime_threads: int | None = None) -> dict:
    torch.manual_seed(0)
    cfg = model.cfg
    n = REPEATS_QUICK if quick else REPEATS_FULL
    ctx10 = round(10 * cfg.frame_rate / cfg.block_frames) * cfg.block_frames
    results: dict = {"steps": steps, "guidance": guidance, "threads": torch.get_num_threads(), "int8": uses_int8(model),
                     "bf16": uses_bf16(codec),
                     "params_lmdm": model.num_params(), "params_codec": codec.num_params(),
                     "block_seconds": cfg.block_seconds, "context_seconds": cfg.context_frames / cfg.frame_rate,
                     "repeats": n, "timings": {}, "ratio_spread": {}}
    progress(f"timing cached and naive blocks at 10 s of context, in turn, {n} of each ...")
    model10 = with_window(model, 10)
    _merge(results, measure_kv(model10, ctx10, steps, guidance, n))

    progress("timing the default window with 5 s and 60 s of context behind the stream, in turn ...")
    times = interleaved({"block_s_context5": cached_runner(model, 5 * cfg.frame_rate, steps, guidance),
                         "block_s_context60": cached_runner(model, 60 * cfg.frame_rate, steps, guidance)}, n)
    flat, flat_pairs = ratio_figure(times, "block_s_context60", "block_s_context5")
    _merge(results, {**{k: median(v) for k, v in times.items()}, "flat_ratio": flat,
                     "timings": {k: spread(v) for k, v in times.items()}, "ratio_spread": {"flat_ratio": flat_pairs}})
    progress("timing the same weights with 5 s and 60 s windows, in turn ...")
    m5, m60 = with_window(model, 5), with_window(model, 60)
    times = interleaved({"block_s_window5": cached_runner(m5, m5.cfg.context_frames, steps, guidance),
                         "block_s_window60": cached_runner(m60, m60.cfg.context_frames, steps, guidance)}, n)
    window, window_pairs = ratio_figure(times, "block_s_window60", "block_s_window5")
    _merge(results, {**{k: median(v) for k, v in times.items()}, "window_ratio": window,
                     "timings": {k: spread(v) for k, v in times.items()},
                     "ratio_spread": {"window_ratio": window_pairs}})
    del model10, m5, m60

    progress("measuring the real-time factor (generation + decoding), four kinds of stream in turn ...")
    runners = {f"rtf{suffix}": rtf_runner(model, codec, steps, guidance, controls, sketch)
               for suffix, controls, sketch in (("", False, False), ("_controls", True, False),
                                                ("_sketch", False, True), ("_controls_sketch", True, True))}
    # the four-step stream beside it, in the same turns: what fewer steps buy (ARC-Forcing's trade)
    runners["rtf_4steps"] = rtf_runner(model, codec, 4, guidance, False, False)
    times = interleaved(runners, 2 * n)
    _merge(results, {**{k: cfg.block_seconds / median(v) for k, v in times.items()},
                     "timings": {f"{k}_block_s": spread(v) for k, v in times.items()}, "rtf_repeats": 2 * n})
    steps_ratio, steps_pairs = ratio_figure(times, "rtf_4steps", "rtf")
    _merge(results, {"rtf_over_4steps": steps_ratio, "ratio_spread": {"rtf_over_4steps": steps_pairs}})
    progress("starting and dropping streams, watching process memory ...")
    _merge(results, measure_stream_churn(model, codec, rounds=40 if quick else 120))
    progress("timing the cached block and this machine's large float32 matmul, in turn ...")
    flops = cached_block_flops(model, steps, guidance)
    times = interleaved({"cached_default_block_s": cached_runner(model, cfg.context_frames, steps, guidance),
                         "matmul_s": matmul_runner(2048)}, n)
    peak = 2 * 2048 ** 3 / median(times["matmul_s"])
    cached_rate = flops / median(times["cached_default_block_s"])
    _merge(results, {"peak_gflops": peak / 1e9, "cached_gflops": cached_rate / 1e9, "matmul_fraction": cached_rate / peak,
                     "timings": {k: spread(v) for k, v in times.items()}})
    hour = 600.0 if quick else 3600.0
    progress(f"simulating {hour / 60:.0f} minutes of one stream ...")
    _merge(results, measure_hour(model, codec, steps, guidance, seconds=hour))
    results["hour_seconds"] = hour
    if realtime_runs:
        results.update(run_realtime_figures(model, codec, steps, guidance, quick, model_path, codec_path, progress,
                                            realtime_threads))
    return results
