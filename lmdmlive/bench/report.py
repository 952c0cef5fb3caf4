"""The bench's report: a table of figures against their budgets, and one JSON line with every timing's spread."""
from __future__ import annotations

import json


TABLE_ROWS = [
    ("kv_speedup", "naive / cached time per block at 10 s of context", "{:.1f}x", ">= 8"),
    ("flat_ratio", "cached time per block, 60 s / 5 s of context behind", "{:.2f}", "<= 1.3"),
    ("window_ratio", "same weights, 60 s window / 5 s window (stress)", "{:.2f}", ""),
    ("rtf", "audio seconds per compute second (gen + decode)", "{:.2f}", ">= 4"),
    ("rtf_4steps", "the same at 4 denoising steps, in the same turns", "{:.2f}", ""),
    ("rtf_over_4steps", "rtf / rtf_4steps: what the default step count buys", "{:.2f}", ""),
    ("rtf_controls", "the same with arrangement controls set", "{:.2f}", ""),
    ("rtf_sketch", "the same with sketch lanes set", "{:.2f}", ""),
    ("rtf_controls_sketch", "the same with controls and sketch lanes set", "{:.2f}", ""),
    ("stream_rss_growth", "process memory, streams started and dropped: end / warm", "{:.3f}", "<= 1.02"),
    ("matmul_fraction", "cached FLOP rate / large-matmul FLOP rate", "{:.3f}", ""),
    ("hour_block_time_ratio", "time per block at the end / start of a simulated hour", "{:.3f}", "<= 1.1"),
    ("latency_p95_ms", "control to sound, p95, default block (real time)", "{:.0f}", "<= 600"),
    ("latency_p95_ms_low", "the same at the smallest block with rtf >= 1.5", "{:.0f}", "<= 250"),
    ("block_seconds_low", "that smallest block, seconds", "{:.2f}", ""),
    ("latency_p95_ms_4steps", "control to sound, p95, default block, at 4 steps", "{:.0f}", ""),
    ("latency_p95_ms_low_4steps", "the same at 4 steps' smallest block with rtf >= 1.5", "{:.0f}", ""),
    ("block_seconds_low_4steps", "4 steps' smallest real-time block, seconds", "{:.2f}", ""),
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
