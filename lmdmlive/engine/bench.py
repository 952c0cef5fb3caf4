"""`lmdmlive bench`: the performance figures of DESIGN.md section 6, measured in one run.

Speed does not depend on whether weights are trained, so the bench runs the default
configuration with the shipped weights when they exist and seeded random ones
otherwise. Every figure is a ratio of two timings taken in the same run, because the
machines are shared and absolute times are noise.
"""
from __future__ import annotations

import dataclasses
import gc
import json
import os
import resource
import time

import torch

from ..model import Codec, Conditions, LMDM, generate_block
from ..model.bf16 import uses_bf16
from ..model.int8 import enable_int8, uses_int8
from ..model.loudness_follow import FollowingDecoder
from ..model.sampler import guided, sample_euler, timesteps


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


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


def time_cached_block(model: LMDM, context_frames: int, steps: int, guidance: float, blocks: int) -> float:
    """Median seconds per block through the KV cache (prefix, sampling, append)."""
    cache = _filled_cache(model, context_frames)
    cond = _prompt(model)
    times = []
    for i in range(blocks + 1):
        t0 = time.perf_counter()
        generate_block(model, [cache], cond, [i], steps=steps, guidance=guidance)
        times.append(time.perf_counter() - t0)
    return min(times[1:])


@torch.no_grad()
def time_naive_block(model: LMDM, context_frames: int, steps: int, guidance: float, blocks: int) -> float:
    """Median seconds per block when context and target are recomputed at every step."""
    cfg = model.cfg
    context = torch.randn(1, context_frames, cfg.latent_dim)
    cond = _prompt(model)
    ts = timesteps(steps)
    times = []
    for i in range(blocks + 1):
        x = torch.randn(1, cfg.block_frames, cfg.latent_dim)
        t0 = time.perf_counter()
        if guidance == 1.0:
            sample_euler(lambda x_, t: model.forward_naive(context, x_, t, cond), x, ts)
        else:
            cond2 = Conditions(style=torch.cat([cond.style, torch.zeros_like(cond.style)]),
                               style_mask=torch.tensor([1.0, 0.0]))
            ctx2 = context.expand(2, -1, -1)
            sample_euler(guided(lambda x2, t: model.forward_naive(ctx2, x2, t, cond2), guidance, 1), x, ts)
        times.append(time.perf_counter() - t0)
    return min(times[1:])


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


@torch.no_grad()
def measure_rtf(model: LMDM, codec: Codec, steps: int, guidance: float, blocks: int,
                with_controls: bool = False, with_sketch: bool = False) -> float:
    """Seconds of audio per second of compute: generation plus streaming decode (and the
    loudness follower), window full.

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
    spent = 0.0
    for i in range(blocks + 1):
        t0 = time.perf_counter()
        z = generate_block(model, [cache], cond, [i], steps=steps, guidance=guidance)
        decoder(model.to_codec(z), cond)
        if i:
            spent += time.perf_counter() - t0
    return blocks * cfg.block_seconds / spent


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@torch.no_grad()
def measure_cache_growth(model: LMDM, blocks_short: int = 100, blocks_long: int = 1000) -> dict:
    """Memory held by a stream's cache (and the whole process) after many blocks vs. fewer."""
    cfg = model.cfg
    cache = model.new_cache(1)
    g = torch.Generator().manual_seed(3)
    held = {}
    for i in range(1, blocks_long + 1):
        model.append([cache], torch.randn(1, cfg.block_frames, cfg.latent_dim, generator=g))
        if i in (blocks_short, blocks_long):
            gc.collect()
            held[i] = (cache.nbytes(), _rss_bytes())
    return {"cache_growth": held[blocks_long][0] / held[blocks_short][0],
            "rss_growth": held[blocks_long][1] / held[blocks_short][1],
            "cache_mb": held[blocks_long][0] / 2 ** 20}


def measure_matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a large float32 matmul: what this machine can do at best."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size ** 3 * repeats / (time.perf_counter() - t0)


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
    return {"hour_block_time_ratio": _median(end) / _median(start), "hour_blocks": total,
            "hour_block_s_start": _median(start), "hour_block_s_end": _median(end)}


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
        soak = 60.0 if quick else 600.0
        progress(f"soak: two streams and a generative delay for {soak / 60:.0f} min in real time on JACK ...")
        r = realtime(dict(base, seconds=soak, streams=2, delay=True), timeout=soak + 180)
        out.update(soak_underruns=r["underruns"], soak_rss_growth=r["rss_growth"], soak_seconds=soak,
                   soak_errors=r["errors"], soak_blocks=r["blocks"], soak_block_ms_max=r["block_ms_max"])

    attempt("latency", latency_default)
    attempt("latency at small blocks", latency_low)
    attempt("soak", soak_run)
    return out


def run_bench(model: LMDM, codec: Codec, steps: int, guidance: float, quick: bool, progress=print,
              realtime_runs: bool = True, model_path=None, codec_path=None, realtime_threads: int | None = None) -> dict:
    torch.manual_seed(0)
    cfg = model.cfg
    n = 4 if quick else 12
    ctx10 = round(10 * cfg.frame_rate / cfg.block_frames) * cfg.block_frames
    results: dict = {"steps": steps, "guidance": guidance, "threads": torch.get_num_threads(), "int8": uses_int8(model),
                     "bf16": uses_bf16(codec),
                     "params_lmdm": model.num_params(), "params_codec": codec.num_params(),
                     "block_seconds": cfg.block_seconds, "context_seconds": cfg.context_frames / cfg.frame_rate}
    progress("timing the cached path at 10 s of context ...")
    model10 = with_window(model, 10)
    cached10 = time_cached_block(model10, ctx10, steps, guidance, n)
    progress("timing naive outpainting at 10 s of context ...")
    naive10 = time_naive_block(model10, ctx10, steps, guidance, max(2, n // 2))
    results.update(cached_block_s=cached10, naive_block_s=naive10, kv_speedup=naive10 / cached10)

    progress("timing the default window with 5 s and 60 s of context behind the stream ...")
    h5 = time_cached_block(model, 5 * cfg.frame_rate, steps, guidance, n)
    h60 = time_cached_block(model, 60 * cfg.frame_rate, steps, guidance, n)
    results.update(block_s_context5=h5, block_s_context60=h60, flat_ratio=h60 / h5)
    progress("timing the same weights with 5 s and 60 s windows ...")
    m5, m60 = with_window(model, 5), with_window(model, 60)
    t5 = time_cached_block(m5, m5.cfg.context_frames, steps, guidance, n)
    t60 = time_cached_block(m60, m60.cfg.context_frames, steps, guidance, n)
    results.update(block_s_window5=t5, block_s_window60=t60, window_ratio=t60 / t5)
    del model10, m5, m60

    progress("measuring the real-time factor (generation + decoding) ...")
    results["rtf"] = measure_rtf(model, codec, steps, guidance, 2 * n)
    results["rtf_controls"] = measure_rtf(model, codec, steps, guidance, 2 * n, with_controls=True)
    results["rtf_sketch"] = measure_rtf(model, codec, steps, guidance, 2 * n, with_sketch=True)
    results["rtf_controls_sketch"] = measure_rtf(model, codec, steps, guidance, 2 * n, with_controls=True,
                                                 with_sketch=True)
    progress("appending 1000 blocks to one cache ...")
    results.update(measure_cache_growth(model))
    progress("measuring this machine's large-matmul FLOP rate ...")
    peak = measure_matmul_rate()
    flops = cached_block_flops(model, steps, guidance)
    cached_default = time_cached_block(model, cfg.context_frames, steps, guidance, n)
    results.update(peak_gflops=peak / 1e9, cached_gflops=flops / cached_default / 1e9,
                   matmul_fraction=(flops / cached_default) / peak)
    hour = 600.0 if quick else 3600.0
    progress(f"simulating {hour / 60:.0f} minutes of one stream ...")
    results.update(measure_hour(model, codec, steps, guidance, seconds=hour))
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
    ("cache_growth", "cache memory after 1000 / 100 blocks", "{:.3f}", "<= 1.02"),
    ("rss_growth", "process memory after 1000 / 100 blocks", "{:.3f}", ""),
    ("matmul_fraction", "cached FLOP rate / large-matmul FLOP rate", "{:.3f}", ""),
    ("hour_block_time_ratio", "time per block at the end / start of a simulated hour", "{:.3f}", "<= 1.1"),
    ("latency_p95_ms", "control to sound, p95, default block (real time)", "{:.0f}", "<= 600"),
    ("latency_p95_ms_low", "the same at the smallest block with rtf >= 1.5", "{:.0f}", "<= 250"),
    ("block_seconds_low", "that smallest block, seconds", "{:.2f}", ""),
    ("soak_underruns", "underruns, 2 streams + delay in real time on JACK", "{:d}", "0"),
    ("soak_rss_growth", "process memory at the end / after warm-up of the soak", "{:.3f}", "<= 1.02"),
    ("cached_block_s", "cached seconds per block (10 s context)", "{:.4f}", ""),
    ("naive_block_s", "naive seconds per block (10 s context)", "{:.4f}", ""),
    ("cached_gflops", "cached path GFLOP/s", "{:.1f}", ""),
    ("peak_gflops", "large matmul GFLOP/s", "{:.1f}", ""),
]


def format_table(results: dict) -> str:
    lines = [f"{'metric':<20} {'value':>10}  {'budget':<8} meaning", "-" * 86]
    for key, meaning, fmt, budget in TABLE_ROWS:
        if key in results:
            lines.append(f"{key:<20} {fmt.format(results[key]):>10}  {budget:<8} {meaning}")
    engine = f" ({results['realtime_threads']} in real time)" if "realtime_threads" in results else ""
    weights = "int8" if results.get("int8") else "float32"
    lines.append(f"(steps {results['steps']}, guidance {results['guidance']}, {weights} weights, "
                 f"{results['threads']} threads{engine}, "
                 f"block {results['block_seconds']:.2f} s, window {results['context_seconds']:.2f} s, "
                 f"LMDM {results['params_lmdm'] / 1e6:.1f}M + codec {results['params_codec'] / 1e6:.1f}M parameters)")
    return "\n".join(lines)


def to_json_line(results: dict) -> str:
    return json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in results.items()})


def context_sweep(model: LMDM, steps: int, guidance: float, seconds=(2.5, 5.0, 7.5, 10.0), blocks: int = 3) -> dict:
    """Seconds per block, cached and naive, against the context held (for the chart)."""
    cfg = model.cfg
    out = {"context_s": [], "cached_s": [], "naive_s": []}
    for s in seconds:
        frames = max(1, round(s * cfg.frame_rate / cfg.block_frames)) * cfg.block_frames
        out["context_s"].append(frames / cfg.frame_rate)
        out["cached_s"].append(time_cached_block(model, frames, steps, guidance, blocks))
        out["naive_s"].append(time_naive_block(model, frames, steps, guidance, max(2, blocks // 2)))
    return out
