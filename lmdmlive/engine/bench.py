"""`lmdmlive bench`: the performance figures of DESIGN.md section 6, measured in one run.

Speed does not depend on whether weights are trained, so the bench runs the default
configuration with the shipped weights when they exist and seeded random ones
otherwise. Every figure is a ratio of two timings taken in the same run, because the
machines are shared and absolute times are noise. Each timing is the median of
`repeats` repetitions, the same count on both sides of a ratio, taken in turn (a, b,
a, b, ...) so that a slow minute of the machine slows both sides; the JSON gives each
timing's quartiles and range (`timings`) and the quartiles of the paired ratios
(`ratio_spread`), so a reader can see how much a figure moved within the run.
"""
from __future__ import annotations

import dataclasses
import gc
import json
import statistics
import time
from typing import Callable

import torch

from .memory import rss_bytes
from ..model import Codec, Conditions, LMDM, generate_block
from ..model.bf16 import uses_bf16
from ..model.int8 import enable_int8, uses_int8
from ..model.loudness_follow import FollowingDecoder
from ..model.sampler import guided, sample_euler, timesteps


def _median(xs):
    return statistics.median(xs)


def spread(xs) -> dict:
    """Median, quartiles and range of repeated timings (or ratios)."""
    xs = sorted(xs)
    q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else (xs[0], xs[0], xs[0])
    return {"median": statistics.median(xs), "q1": q1, "q3": q3, "min": xs[0], "max": xs[-1]}


def interleaved(runners: dict[str, Callable[[int], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds of `repeats` calls of each runner, taken in turn: a(1), b(1), a(2), b(2), ...

    Each runner is called once first, untimed (the first call pays for kernels and
    buffers). Taking the sides of a ratio in turn means the shared machine's drift,
    which is slow next to one call, lands on both of them alike.
    """
    for run in runners.values():
        run(0)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for i in range(1, repeats + 1):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run(i)
            times[name].append(time.perf_counter() - t0)
    return times


def ratio_figure(times: dict[str, list[float]], over: str, under: str) -> tuple[float, dict]:
    """median(over) / median(under), and the spread of the ratios of the pairs taken side by side."""
    pairs = [a / b for a, b in zip(times[over], times[under])]
    return _median(times[over]) / _median(times[under]), spread(pairs)


def _filled_cache(model: LMDM, frames: int):
    cache = model.new_cache(1)
    cfg = model.cfg
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(max(1, frames // cfg.block_frames)):
            model.append([cache], torch.randn(1, cfg.block_frames, cfg.latent_dim, generator=g))
    return cache


def _prompt(model: LMDM) -> Conditions:
    g = torch.Generator().manual_seed(2)
    return Conditions(style=torch.randn(1, model.cfg.style_dim, generator=g))


def cached_runner(model: LMDM, context_frames: int, steps: int, guidance: float) -> Callable[[int], object]:
    """One block through the KV cache per call (prefix, sampling, append), window held at `context_frames`."""
    cache = _filled_cache(model, context_frames)
    cond = _prompt(model)
    return lambda i: generate_block(model, [cache], cond, [i], steps=steps, guidance=guidance)


def naive_runner(model: LMDM, context_frames: int, steps: int, guidance: float) -> Callable[[int], object]:
    """One block per call with context and target recomputed at every step (outpainting)."""
    cfg = model.cfg
    context = torch.randn(1, context_frames, cfg.latent_dim)
    cond = _prompt(model)
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


def time_cached_block(model: LMDM, context_frames: int, steps: int, guidance: float, blocks: int) -> float:
    """Median seconds per block through the KV cache over `blocks` repetitions."""
    return _median(interleaved({"cached": cached_runner(model, context_frames, steps, guidance)}, blocks)["cached"])


def time_naive_block(model: LMDM, context_frames: int, steps: int, guidance: float, blocks: int) -> float:
    """Median seconds per block of naive outpainting over `blocks` repetitions."""
    return _median(interleaved({"naive": naive_runner(model, context_frames, steps, guidance)}, blocks)["naive"])


def measure_kv(model: LMDM, context_frames: int, steps: int, guidance: float, repeats: int) -> dict:
    """`kv_speedup`: naive / cached seconds per block, `repeats` of each taken in turn."""
    times = interleaved({"cached": cached_runner(model, context_frames, steps, guidance),
                         "naive": naive_runner(model, context_frames, steps, guidance)}, repeats)
    speedup, pairs = ratio_figure(times, "naive", "cached")
    return {"cached_block_s": _median(times["cached"]), "naive_block_s": _median(times["naive"]),
            "kv_speedup": speedup, "timings": {"cached_block_s": spread(times["cached"]),
                                               "naive_block_s": spread(times["naive"])},
            "ratio_spread": {"kv_speedup": pairs}}


def with_window(model: LMDM, seconds: float) -> LMDM:
    """The same weights with another context window: positions are relative, so the window
    is not part of the weights' shapes."""
    cfg = model.cfg
    blocks = max(1, round(seconds * cfg.frame_rate / cfg.block_frames))
    other = LMDM(dataclasses.replace(cfg, context_blocks=blocks)).eval()
    other.load_state_dict(model.state_dict())
    if uses_int8(model):
        enable_int8(other)
    return other


def rtf_runner(model: LMDM, codec: Codec, steps: int, guidance: float, with_controls: bool = False,
               with_sketch: bool = False) -> Callable[[int], object]:
    """One block generated and decoded (with the loudness follower) per call, window full.

    `with_controls`, `with_sketch`: a stream that sets every arrangement control, or every
    sketch lane; each takes a guidance branch of its own (`guided_layers`).
    """
    cfg = model.cfg
    cache = _filled_cache(model, cfg.context_frames)
    decoder = FollowingDecoder.of(codec)
    cond = _prompt(model)
    if with_controls:
        n = len(cfg.arrangement)
        cond = dataclasses.replace(cond, arrangement=torch.zeros(1, n), arrangement_mask=torch.ones(1, n))
    if with_sketch:
        shape = (1, cfg.block_frames, len(cfg.sketch_curves))
        cond = dataclasses.replace(cond, sketch=torch.zeros(shape), sketch_mask=torch.ones(shape))

    @torch.no_grad()
    def run(i):
        z = generate_block(model, [cache], cond, [i], steps=steps, guidance=guidance)
        return decoder(model.to_codec(z), cond)
    return run


def measure_rtf(model: LMDM, codec: Codec, steps: int, guidance: float, blocks: int,
                with_controls: bool = False, with_sketch: bool = False) -> float:
    """Seconds of audio per second of compute: a block's length over the median seconds to
    generate and decode it (`rtf_runner`), over `blocks` repetitions."""
    run = rtf_runner(model, codec, steps, guidance, with_controls, with_sketch)
    return model.cfg.block_seconds / _median(interleaved({"rtf": run}, blocks)["rtf"])


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
    cond1 = _prompt(model)
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


def matmul_runner(size: int = 2048) -> Callable[[int], object]:
    """One large float32 matmul per call: what this machine can do at best."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return lambda i: a @ b


def measure_matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a large float32 matmul, from the median of `repeats`."""
    return 2 * size ** 3 / _median(interleaved({"matmul": matmul_runner(size)}, repeats)["matmul"])


def cached_block_flops(model: LMDM, steps: int, guidance: float) -> int:
    """Floating-point work of one cached block, counted on the float32 path: the counter
    does not see int8 products, which do the same multiply-adds."""
    from torch.utils.flop_counter import FlopCounterMode

    from ..model.int8 import disable_int8
    was_int8 = uses_int8(model)
    disable_int8(model)
    try:
        cache = _filled_cache(model, model.cfg.context_frames)
        counter = FlopCounterMode(display=False)
        with counter:
            generate_block(model, [cache], _prompt(model), [0], steps=steps, guidance=guidance)
        return counter.get_total_flops()
    finally:
        if was_int8:
            enable_int8(model)


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
    cond = _prompt(model)

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
    return {"hour_block_time_ratio": _median(end) / _median(start), "hour_blocks": total, "hour_repeats": window,
            "hour_block_s_start": _median(start), "hour_block_s_end": _median(end),
            "timings": {"hour_block_s_start": spread(start), "hour_block_s_end": spread(end)},
            "ratio_spread": {"hour_block_time_ratio": pairs}}


def realtime(opts: dict, timeout: float) -> dict:
    """One `realtime_run` in its own process, on a private JACK server (dummy driver)."""
    import subprocess
    import sys

    from ..audio.jack import dummy_jack
    with dummy_jack() as env:
        out = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "lmdmlive.engine.realtime_run",
                              json.dumps(opts)], env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"real-time run failed (exit code {out.returncode}): {out.stderr.strip()[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def smallest_realtime_block(model: LMDM, codec: Codec, steps: int, guidance: float, min_rtf: float = 1.5,
                            frames=(6, 4, 3, 2)) -> tuple[int, float]:
    """The smallest block (in frames) whose real-time factor stays >= min_rtf, and that factor."""
    from .realtime_run import with_block
    best = (model.cfg.block_frames, measure_rtf(model, codec, steps, guidance, 6))
    for f in frames:
        rtf = measure_rtf(with_block(model, f), codec, steps, guidance, 12)
        if rtf < min_rtf:
            break
        best = (f, rtf)
    return best


def run_realtime_figures(model: LMDM, codec: Codec, steps: int, guidance: float, quick: bool, model_path=None,
                         codec_path=None, progress=print, threads: int | None = None) -> dict:
    """Latency at the default and the smallest real-time block, and the soak; a run that fails is
    reported (`realtime_errors`) and the others still are measured. `threads`: the engine's
    torch threads (default: the engine's own choice, as a performance gets it)."""
    from .worker import default_threads
    threads = threads or default_threads()
    base = {"threads": threads, "model": model_path, "codec": codec_path, "steps": steps, "guidance": guidance,
            "float32": not uses_int8(model)}
    span = 20.0 if quick else 60.0
    out: dict = {"realtime_errors": [], "realtime_threads": threads}

    def attempt(what, fn):
        try:
            fn()
        except Exception as e:          # one failed run must not lose the others' figures
            out["realtime_errors"].append(f"{what}: {e}")
            progress(f"  {what} failed: {str(e)[-400:]}")

    def latency_default():
        progress(f"control-to-sound latency at the default block size ({span:.0f} s in real time on JACK) ...")
        r = realtime(dict(base, seconds=span, streams=1, changes=True), timeout=span + 120)
        out.update(latency_p95_ms=r["latency_p95_ms"], latency_p50_ms=r["latency_p50_ms"],
                   latency_changes=r["changes"], latency_underruns=r["underruns"])

    def latency_low():
        progress("finding the smallest block with a real-time factor >= 1.5 ...")
        frames, rtf_low = smallest_realtime_block(model, codec, steps, guidance)
        progress(f"latency at {frames}-frame blocks ({span:.0f} s in real time) ...")
        r = realtime(dict(base, seconds=span, streams=1, changes=True, block_frames=frames), timeout=span + 120)
        out.update(latency_p95_ms_low=r["latency_p95_ms"], block_seconds_low=frames / model.cfg.frame_rate,
                   rtf_low=rtf_low, latency_low_underruns=r["underruns"])

    def soak_run():
        from .soak_live import soak as soak_as_heard
        seconds = 60.0 if quick else 600.0
        progress(f"soak: two streams and a generative delay for {seconds / 60:.0f} min in real time on JACK, "
                 "as a listener hears it ...")
        out.update(soak_as_heard(seconds, progress=progress, model=model_path, codec=codec_path,
                                 steps=steps, guidance=guidance, threads=threads))

    attempt("latency", latency_default)
    attempt("latency at small blocks", latency_low)
    attempt("soak", soak_run)
    return out


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
    _merge(results, {**{k: _median(v) for k, v in times.items()}, "flat_ratio": flat,
                     "timings": {k: spread(v) for k, v in times.items()}, "ratio_spread": {"flat_ratio": flat_pairs}})
    progress("timing the same weights with 5 s and 60 s windows, in turn ...")
    m5, m60 = with_window(model, 5), with_window(model, 60)
    times = interleaved({"block_s_window5": cached_runner(m5, m5.cfg.context_frames, steps, guidance),
                         "block_s_window60": cached_runner(m60, m60.cfg.context_frames, steps, guidance)}, n)
    window, window_pairs = ratio_figure(times, "block_s_window60", "block_s_window5")
    _merge(results, {**{k: _median(v) for k, v in times.items()}, "window_ratio": window,
                     "timings": {k: spread(v) for k, v in times.items()},
                     "ratio_spread": {"window_ratio": window_pairs}})
    del model10, m5, m60

    progress("measuring the real-time factor (generation + decoding), four kinds of stream in turn ...")
    times = interleaved({f"rtf{suffix}": rtf_runner(model, codec, steps, guidance, controls, sketch)
                         for suffix, controls, sketch in (("", False, False), ("_controls", True, False),
                                                          ("_sketch", False, True), ("_controls_sketch", True, True))},
                        2 * n)
    _merge(results, {**{k: cfg.block_seconds / _median(v) for k, v in times.items()},
                     "timings": {f"{k}_block_s": spread(v) for k, v in times.items()}, "rtf_repeats": 2 * n})
    progress("starting and dropping streams, watching process memory ...")
    _merge(results, measure_stream_churn(model, codec, rounds=40 if quick else 120))
    progress("timing the cached block and this machine's large float32 matmul, in turn ...")
    flops = cached_block_flops(model, steps, guidance)
    times = interleaved({"cached_default_block_s": cached_runner(model, cfg.context_frames, steps, guidance),
                         "matmul_s": matmul_runner(2048)}, n)
    peak = 2 * 2048 ** 3 / _median(times["matmul_s"])
    cached_rate = flops / _median(times["cached_default_block_s"])
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


TABLE_ROWS = [
    ("kv_speedup", "naive / cached time per block at 10 s of context", "{:.1f}x", ">= 8"),
    ("flat_ratio", "cached time per block, 60 s / 5 s of context behind", "{:.2f}", "<= 1.3"),
    ("window_ratio", "same weights, 60 s window / 5 s window (stress)", "{:.2f}", ""),
    ("rtf", "audio seconds per compute second (gen + decode)", "{:.2f}", ">= 4"),
    ("rtf_controls", "the same with arrangement controls set", "{:.2f}", ""),
    ("rtf_sketch", "the same with sketch lanes set", "{:.2f}", ""),
    ("rtf_controls_sketch", "the same with controls and sketch lanes set", "{:.2f}", ""),
    ("stream_rss_growth", "process memory, streams started and dropped: end / warm", "{:.3f}", "<= 1.02"),
    ("matmul_fraction", "cached FLOP rate / large-matmul FLOP rate", "{:.3f}", ""),
    ("hour_block_time_ratio", "time per block at the end / start of a simulated hour", "{:.3f}", "<= 1.1"),
    ("latency_p95_ms", "control to sound, p95, default block (real time)", "{:.0f}", "<= 600"),
    ("latency_p95_ms_low", "the same at the smallest block with rtf >= 1.5", "{:.0f}", "<= 250"),
    ("block_seconds_low", "that smallest block, seconds", "{:.2f}", ""),
    ("soak_underruns", "ring underruns, 2 streams + delay in real time on JACK", "{:d}", "0"),
    ("soak_xruns", "JACK xruns of lmdmlive's client in the soak", "{:d}", "<= 1.5 x floor"),
    ("soak_xruns_floor", "JACK xruns of a plain pyo patch, same time, same server", "{:d}", ""),
    ("soak_peak", "peak of the recorded output", "{:.3f}", "<= 1.0"),
    ("soak_gaps", "digital silences over 20 ms in the recorded output", "{:d}", "0"),
    ("soak_rss_growth", "engine process memory at the end / after warm-up of the soak", "{:.3f}", "<= 1.02"),
    ("cached_block_s", "cached seconds per block (10 s context)", "{:.4f}", ""),
    ("naive_block_s", "naive seconds per block (10 s context)", "{:.4f}", ""),
    ("cached_gflops", "cached path GFLOP/s", "{:.1f}", ""),
    ("peak_gflops", "large matmul GFLOP/s", "{:.1f}", ""),
]


def format_table(results: dict) -> str:
    lines = [f"{'metric':<20} {'value':>10}  {'budget':<8} meaning", "-" * 86]
    for key, meaning, fmt, budget in TABLE_ROWS:
        if key in results:
            value = "-" if results[key] is None else fmt.format(results[key])
            lines.append(f"{key:<20} {value:>10}  {budget:<8} {meaning}")
    engine = f" ({results['realtime_threads']} in real time)" if "realtime_threads" in results else ""
    weights = "int8" if results.get("int8") else "float32"
    lines.append(f"(timings: medians of {results.get('repeats', '?')} repetitions per side, sides taken in turn; "
                 f"steps {results['steps']}, guidance {results['guidance']}, {weights} weights, "
                 f"{results['threads']} threads{engine}, "
                 f"block {results['block_seconds']:.2f} s, window {results['context_seconds']:.2f} s, "
                 f"LMDM {results['params_lmdm'] / 1e6:.1f}M + codec {results['params_codec'] / 1e6:.1f}M parameters)")
    return "\n".join(lines)


def _rounded(v):
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    return v


def to_json_line(results: dict) -> str:
    return json.dumps(_rounded(results))


def context_sweep(model: LMDM, steps: int, guidance: float, seconds=(2.5, 5.0, 7.5, 10.0), blocks: int = 3) -> dict:
    """Median seconds per block, cached and naive in turn (`blocks` of each), against the context held (for the chart)."""
    cfg = model.cfg
    out = {"context_s": [], "cached_s": [], "naive_s": [], "repeats": blocks}
    for s in seconds:
        frames = max(1, round(s * cfg.frame_rate / cfg.block_frames)) * cfg.block_frames
        times = interleaved({"cached": cached_runner(model, frames, steps, guidance),
                             "naive": naive_runner(model, frames, steps, guidance)}, blocks)
        out["context_s"].append(frames / cfg.frame_rate)
        out["cached_s"].append(_median(times["cached"]))
        out["naive_s"].append(_median(times["naive"]))
    return out
