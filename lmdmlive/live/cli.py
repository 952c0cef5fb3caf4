"""The `lmdmlive` command: one entry point, a sub-command per job, `--help` throughout."""
from __future__ import annotations

import argparse
import sys
import warnings

from .cli_args import AUDIO_MODES, EXIT_USAGE, CommandError, OneLineParser, _bpm, _guidance, _seconds, _steps
from .cli_eval import FLOAT32_HELP, add_eval_commands
from .cli_training import add_training_commands


def cmd_render(args) -> int:
    import soundfile as sf

    from ..engine.render import normalize_peak, render_offline
    from ..model.default import UNTRAINED_NOTE, load_default
    from ..model.text_encoder import shared_text_encoder
    from ..progress import ProgressBar

    if not args.out.lower().endswith((".wav", ".flac")):
        raise CommandError(f"--out {args.out!r}: the file name must end in .wav or .flac")
    from pathlib import Path
    if args.prompt.endswith(".py"):
        if Path(args.prompt).is_file():
            return _bounce_patch(args)
        print(f"note: there is no patch file {args.prompt!r}; rendering it as a text prompt", file=sys.stderr)
    args.steps = 4 if args.steps is None else args.steps
    args.guidance = 2.0 if args.guidance is None else args.guidance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = load_default(args.model, args.codec, warn=False, float32=args.float32)
    if not bundle.trained:
        print(f"note: {UNTRAINED_NOTE}", file=sys.stderr)
    if args.adapter:
        from ..model.adapters import apply
        apply(bundle.lmdm, args.adapter)
    style = shared_text_encoder().embed([args.prompt]) if args.prompt.strip() else None
    provider = _sketch_provider(args.sketch, args.bpm, bundle, style) if args.sketch else None
    import time
    t0 = time.perf_counter()
    audio = render_offline(bundle, style, args.seconds, seed=args.seed, steps=args.steps, guidance=args.guidance,
                           progress=ProgressBar("rendering", 1), conditions=provider)
    compute = time.perf_counter() - t0
    if not bundle.trained:
        audio = normalize_peak(audio, -6.0)
    sf.write(args.out, audio, bundle.sample_rate)
    if args.plot:
        from .render_plot import plot_render
        plot_render(audio, bundle.sample_rate, args.plot, f"{args.prompt!r}, seed {args.seed} ({bundle.source})")
    print(f"wrote {args.out}: {len(audio) / bundle.sample_rate:.2f} s at {bundle.sample_rate} Hz "
          f"in {compute:.1f} s of compute (model: {bundle.source}, seed {args.seed}, {args.steps} steps, "
          f"guidance {args.guidance})")
    return 0


def _bounce_patch(args) -> int:
    """`render PATCH.py`: the patch's whole output through the master bus (live/bounce.py)."""
    import time

    from ..model.default import UNTRAINED_NOTE, load_default
    from ..progress import ProgressBar
    from .bounce import BounceError, bounce

    if args.sketch:
        raise CommandError("--sketch is for a prompt; a patch sets its own lanes")
    if args.plot:
        raise CommandError("--plot is for a prompt; open the bounce in an audio editor")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = load_default(args.model, args.codec, warn=False, float32=args.float32)
    if not bundle.trained:
        print(f"note: {UNTRAINED_NOTE}", file=sys.stderr)
    load = time.perf_counter() - t0
    try:
        r = bounce(args.prompt, args.seconds, args.out, seed=args.seed, bpm=args.bpm, bundle=bundle,
                   adapter=args.adapter, steps=args.steps, guidance=args.guidance,
                   progress=ProgressBar("bouncing", 1))
    except BounceError as e:
        raise CommandError(str(e)) from None
    speed = r.seconds / r.compute_seconds if r.compute_seconds > 0 else float("inf")
    print(f"wrote {args.out}: {r.seconds:.2f} s stereo at 48000 Hz, peak {r.peak_db:.1f} dBFS, "
          f"in {r.compute_seconds:.1f} s of compute ({speed:.1f}x real time; before it {load:.1f} s loading "
          f"the model and {r.setup_seconds:.1f} s starting the patch) (model: {bundle.source}, seed {args.seed}, "
          f"{args.bpm:g} BPM)")
    if r.peak_db == float("-inf"):
        print(f"note: {args.out} is silent: does the patch send anything to .out()?", file=sys.stderr)
    return 0


def _sketch_provider(items: list[str], bpm: float, bundle, style):
    """Per-block conditions from `--sketch LANE=PATTERN` options, on a clock at `bpm`."""
    from fractions import Fraction

    from ..engine.clock import Clock
    from ..model import Conditions
    from .lanes import lane_pattern, sketch_for_frames

    lanes = {}
    for item in items:
        lane, sep, text = item.partition("=")
        if not sep:
            raise CommandError(f"--sketch {item!r}: write LANE=PATTERN, e.g. --sketch 'pitch=c4 [e4 g4]'")
        lanes[lane.strip()] = lane_pattern(lane.strip(), text.strip())
    cfg, rate = bundle.lmdm.cfg, bundle.codec.cfg.sample_rate
    clock = Clock(bpm, 4, rate)
    hop, late = bundle.codec.cfg.hop, bundle.codec.cfg.delay_samples
    width = Fraction(hop) * clock.cycle_at(1)

    def provider(block: int):
        first = block * cfg.block_frames       # each frame asks for the moment it sounds in the file
        cycles = [clock.cycle_at((first + k) * hop + late) for k in range(cfg.block_frames)]
        sketch, mask = sketch_for_frames(lanes, cycles, width)
        return Conditions(style=style, sketch=sketch, sketch_mask=mask)
    return provider


def cmd_bench(args) -> int:
    import torch

    from ..engine.bench import format_table, run_bench, to_json_line
    from ..model.default import DEFAULT_GUIDANCE, DEFAULT_STEPS, load_default

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = load_default(args.model, args.codec, warn=False, float32=args.float32)
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = args.steps or DEFAULT_STEPS
    guidance = DEFAULT_GUIDANCE if args.guidance is None else args.guidance
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
        from ..engine.bench import context_sweep
        from ..engine.bench_plot import plot_context_sweep
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


def cmd_doctor(args) -> int:
    from .doctor import format_checks, run_checks

    checks = run_checks()
    print(format_checks(checks))
    failed = [c for c in checks if c.status == "fail"]
    print(f"{len(failed)} problem(s) to fix" if failed else "nothing blocks lmdmlive on this machine")
    return 1 if failed else 0


def cmd_repl(args) -> int:
    from pathlib import Path

    from ..audio.server import AudioServerError
    from . import prelude
    from .repl import repl

    try:
        session = prelude.Session(audio=args.audio, bpm=args.bpm)
    except AudioServerError as e:
        print(f"lmdmlive: {e}\n  try `lmdmlive --audio jack` with a JACK server running, or `lmdmlive doctor`",
              file=sys.stderr)
        return EXIT_USAGE
    namespace = prelude.namespace(session)
    session.start()
    print(f"lmdmlive — {session.server.lmdm_mode} audio at {session.sample_rate} Hz, {session.bpm:.0f} BPM. "
          "Try: a = stream(\"warm dub chords\").out()   (Ctrl-D quits)")
    try:
        repl(namespace, history=Path.home() / ".lmdmlive_history")
    finally:
        session.stop()
        session.server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmdmlive", description="Live coding with a streaming music diffusion model. "
                                     "With no command, opens the REPL with audio.")
    parser.add_argument("--audio", default="auto", choices=AUDIO_MODES,
                        help="audio backend for the REPL (default: JACK if running, else portaudio)")
    parser.add_argument("--bpm", type=_bpm, default=120.0, help="starting tempo of the REPL's clock (default 120)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    render = sub.add_parser("render", help="render a prompt, or bounce a patch, offline to a WAV file",
                            description="Render a prompt offline with the default model, block by block, "
                                        "exactly as a live stream plays it; or, given a patch file (.py), "
                                        "bounce it: every stream and effect through the master bus, stereo "
                                        "at 48 kHz, faster than real time. No audio device is needed.")
    render.add_argument("prompt", help='text prompt, e.g. "warm ambient pads" ("" for no prompt), '
                                       'or a patch file, e.g. patches/03_prompt_morph.py')
    render.add_argument("--seconds", type=_seconds, default=10.0, help="length in seconds (default 10)")
    render.add_argument("--out", default="out.wav", help="output .wav or .flac file (default out.wav)")
    render.add_argument("--seed", type=int, default=0, help="noise seed: the same seed gives the same audio "
                                                             "(a patch: added to each stream's own seed)")
    render.add_argument("--steps", type=_steps, default=None, help="denoising steps per block, 1 to 8 (default 4; "
                                                                    "a patch: for streams that set none)")
    render.add_argument("--guidance", type=_guidance, default=None, help="classifier-free guidance (default 2; "
                                                                          "a patch: for streams that set none)")
    render.add_argument("--model", default=None, help="LMDM checkpoint (NAME, NAME.json or NAME.safetensors)")
    render.add_argument("--codec", default=None, help="codec checkpoint")
    render.add_argument("--sketch", action="append", default=[], metavar="LANE=PATTERN",
                        help="a sketch lane in mini-notation, e.g. --sketch 'pitch=c4 [e4 g4]' --sketch 'loud=-12 -20' "
                             "(lanes: loud, bright, pitch, rhythm; repeat for several)")
    render.add_argument("--bpm", type=float, default=120.0, help="tempo the sketch lanes (or the patch) run at "
                                                                  "(default 120)")
    render.add_argument("--adapter", default=None, metavar="NAME", help="a fine-tuned adapter (lmdmlive finetune)")
    render.add_argument("--float32", action="store_true", help=FLOAT32_HELP)
    render.add_argument("--plot", default=None, metavar="PNG", help="also save a spectrogram of the result")
    render.set_defaults(func=cmd_render)

    bench = sub.add_parser("bench", help="measure speed and memory (ratios from one run)",
                           description="Measure kv_speedup, flat_ratio, rtf, stream_rss_growth, matmul_fraction and "
                                       "hour_block_time_ratio on the default model; then, in real time on a "
                                       "private JACK server (dummy driver), latency_p95_ms, latency_p95_ms_low, "
                                       "soak_underruns and soak_rss_growth.")
    bench.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    bench.add_argument("--quick", action="store_true",
                       help="fewer repetitions, a 10-minute simulated set, 1-minute soak (about 5 minutes)")
    bench.add_argument("--no-realtime", action="store_true",
                       help="skip the real-time runs on JACK (latency and soak figures)")
    bench.add_argument("--steps", type=_steps, default=None, help="denoising steps (default: the default model's)")
    bench.add_argument("--guidance", type=_guidance, default=None, help="guidance (default: the default model's)")
    bench.add_argument("--plot", default=None, metavar="PNG",
                       help="also time blocks against context length and save the chart (needs matplotlib)")
    bench.add_argument("--float32", action="store_true", help=FLOAT32_HELP)
    bench.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice offline, one fewer than "
                                                                 "the cores in real time, as the engine plays)")
    bench.add_argument("--model", default=None, help="LMDM checkpoint to time instead of the default")
    bench.add_argument("--codec", default=None, help="codec checkpoint to time instead of the default")
    bench.set_defaults(func=cmd_bench)

    doctor = sub.add_parser("doctor", help="check audio, JACK, MIDI, model files and tools; say what to fix")
    doctor.set_defaults(func=cmd_doctor)

    add_training_commands(sub)
    add_eval_commands(sub)
    return parser


def build_patch_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="lmdmlive PATCH.py", description="Play a patch file; save it to reload it at the "
                           "next bar. Ctrl-C stops.")
    parser.add_argument("patch", help="the patch file (.py)")
    parser.add_argument("--record", default=None, metavar="FILE",
                        help="record what is heard (every stream and effect) to a .wav file as it plays")
    parser.add_argument("--bpm", type=_bpm, default=120.0, help="starting tempo of the clock (default 120)")
    parser.add_argument("--audio", default="auto", choices=AUDIO_MODES,
                        help="audio backend (default: JACK if running, else portaudio)")
    return parser


def parse_patch_args(argv: list[str]) -> argparse.Namespace:
    """The options of `lmdmlive PATCH.py ...`; a mistake is a CommandError naming it."""
    args, unknown = build_patch_parser().parse_known_args(argv)
    if unknown:
        raise CommandError(f"unknown option {unknown[0]!r} for a patch; a patch takes --record FILE, --bpm B, "
                           "--audio MODE")
    from pathlib import Path
    if not Path(args.patch).is_file():
        raise CommandError(f"{args.patch}: no such patch file")
    if args.record is not None:
        rec = Path(args.record)
        if rec.suffix.lower() != ".wav":
            raise CommandError(f"--record {args.record!r}: the file name must end in .wav")
        if not rec.resolve().parent.is_dir():
            raise CommandError(f"--record {args.record!r}: the folder {str(rec.parent)!r} does not exist")
    return args


def _patch_argument(argv: list[str]) -> str | None:
    """The patch file when the command line plays one: its first word that is neither an option
    nor an option's value, when that word ends in .py."""
    takes_value = {"--audio", "--bpm", "--record"}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in takes_value:
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            return word if word.endswith(".py") else None
    return None


def cmd_patch(args) -> int:
    import time

    from ..audio.server import AudioServerError
    from . import prelude
    from .patch import PatchRunner

    try:
        session = prelude.Session(audio=args.audio, bpm=args.bpm)
    except AudioServerError as e:
        print(f"lmdmlive: {e}\n  or `lmdmlive doctor`", file=sys.stderr)
        return EXIT_USAGE
    namespace = prelude.namespace(session)
    runner = PatchRunner(args.patch, session, namespace)
    runner.load()
    session.start()
    print(f"playing {args.patch} at {session.bpm:g} BPM; save it to reload at the next bar (Ctrl-C stops)",
          file=sys.stderr, flush=True)
    try:
        if args.record is not None:
            session.record(args.record)      # what the listener hears, reloads and effects included
            print(f"recording to {args.record}", file=sys.stderr, flush=True)
        while True:
            runner.tick()
            time.sleep(0.02)
    except KeyboardInterrupt:
        pass
    finally:
        session.stop()         # stops the recorder too: the file is complete
        session.server.stop()
    return 0


CHECKPOINT_OPTIONS = {"model": "LMDM", "after": "LMDM", "codec": "codec"}


def _check_checkpoint_options(args) -> None:
    """A `--model`/`--codec`/`--after` path given but missing is an error naming it, before any work
    (a damaged one is found when it loads); never a fall-back to other weights."""
    from ..model import CheckpointError
    from ..model.default import require_checkpoint
    for name, what in CHECKPOINT_OPTIONS.items():
        path = getattr(args, name, None)
        if path is not None:
            try:
                require_checkpoint(path, what)
            except CheckpointError as e:
                raise CheckpointError(f"--{name} {e}") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if _patch_argument(argv) is not None:
        try:
            args = parse_patch_args(argv)
        except CommandError as e:
            print(f"lmdmlive: {e}", file=sys.stderr)
            return EXIT_USAGE
        return cmd_patch(args)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return cmd_repl(args)
    from ..model import CheckpointError, ConfigError
    try:
        _check_checkpoint_options(args)
        return args.func(args)
    except (CommandError, CheckpointError, ConfigError, ValueError, OSError) as e:
        print(f"lmdmlive {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"lmdmlive {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
