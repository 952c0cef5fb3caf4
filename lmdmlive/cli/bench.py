"""`lmdmlive bench`: the figures of DESIGN.md section 6 on the default model (lmdmlive/bench/ measures them)."""
from __future__ import annotations

import sys
import warnings

from .args import FLOAT32_HELP, add_sampling_options


def cmd_bench(args) -> int:
    import torch

    from ..bench.report import format_table, to_json_line
    from ..bench.run import run_bench
    from ..model.default import load_default

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = load_default(args.model, args.codec, warn=False, float32=args.float32)
    if args.threads:
        torch.set_num_threads(args.threads)
    played = bundle.sampling.changed(steps=args.steps, guidance=args.guidance)     # the card's, unless given
    steps, guidance = played.steps, played.guidance
    import shutil
    realtime_runs = not args.no_realtime
    if realtime_runs and shutil.which("jackd") is None:
        print("jackd is not installed (Debian package jackd2): the real-time figures are skipped",
              file=sys.stderr)
        realtime_runs = False
    results = run_bench(bundle.lmdm, bundle.codec, steps, guidance, args.quick,
                        progress=lambda msg: print(msg, file=sys.stderr, flush=True), realtime_runs=realtime_runs,
                        model_path=args.model, codec_path=args.codec, realtime_threads=args.threads or None)
    results["weights"] = bundle.source
    if args.plot:
        from ..bench.plot import plot_context_sweep
        from ..bench.runners import context_sweep
        print("timing cached and naive blocks against context for the chart ...", file=sys.stderr, flush=True)
        sweep = context_sweep(bundle.lmdm, steps, guidance)
        plot_context_sweep(sweep, bundle.lmdm.cfg.block_seconds, args.plot,
                           f"LMDM {results['params_lmdm'] / 1e6:.1f}M, {steps} steps, guidance {guidance}, "
                           f"{results['threads']} threads")
        print(f"wrote {args.plot}", file=sys.stderr)
    print(format_table(results))
    if args.json:
        print(to_json_line(results))
    return 0


def add_bench_command(sub) -> None:
    bench = sub.add_parser("bench", help="measure speed and memory (ratios from one run)",
                           description="Measure kv_speedup, flat_ratio, rtf, stream_rss_growth, matmul_fraction and "
                                       "hour_block_time_ratio on the default model; then, in real time on a "
                                       "private JACK server (dummy driver), latency_p95_ms, latency_p95_ms_low (and the same at "
                                       "4 steps when the model plays fewer: the latency they buy), "
                                       "soak_underruns and soak_rss_growth.")
    bench.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    bench.add_argument("--quick", action="store_true",
                       help="fewer repetitions, a 10-minute simulated set, 1-minute soak (about 5 minutes)")
    bench.add_argument("--no-realtime", action="store_true",
                       help="skip the real-time runs on JACK (latency and soak figures)")
    add_sampling_options(bench)
    bench.add_argument("--plot", default=None, metavar="PNG",
                       help="also time blocks against context length and save the chart (needs matplotlib)")
    bench.add_argument("--float32", action="store_true", help=FLOAT32_HELP)
    bench.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice offline, one fewer than "
                                                                 "the cores in real time, as the engine plays)")
    bench.add_argument("--model", default=None, help="LMDM checkpoint to time instead of the default")
    bench.add_argument("--codec", default=None, help="codec checkpoint to time instead of the default")
    bench.set_defaults(func=cmd_bench)
