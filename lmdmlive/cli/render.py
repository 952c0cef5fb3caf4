"""`lmdmlive render`: a prompt rendered offline, block by block as a stream plays it, or a patch bounced."""
from __future__ import annotations

import sys
import warnings

from .args import FLOAT32_HELP, CommandError, add_sampling_options, seconds_arg


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
            return bounce_patch(args)
        print(f"note: there is no patch file {args.prompt!r}; rendering it as a text prompt", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = load_default(args.model, args.codec, warn=False, float32=args.float32)
    played = bundle.sampling.changed(steps=args.steps, guidance=args.guidance)     # the card's, unless given
    args.steps, args.guidance = played.steps, played.guidance
    if not bundle.trained:
        print(f"note: {UNTRAINED_NOTE}", file=sys.stderr)
    if args.adapter:
        from ..model.adapters import apply
        apply(bundle.lmdm, args.adapter)
    style = shared_text_encoder().embed([args.prompt]) if args.prompt.strip() else None
    provider = sketch_provider(args.sketch, args.bpm, bundle, style) if args.sketch else None
    import time
    t0 = time.perf_counter()
    audio = render_offline(bundle, style, args.seconds, seed=args.seed, steps=args.steps, guidance=args.guidance,
                           progress=ProgressBar("rendering", 1), controls=provider)
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


def bounce_patch(args) -> int:
    """`render PATCH.py`: the patch's whole output through the master bus (live/bounce.py)."""
    import time

    from ..model.default import UNTRAINED_NOTE, load_default
    from ..progress import ProgressBar
    from ..live.bounce import BounceError, bounce

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


def sketch_provider(items: list[str], bpm: float, bundle, style):
    """The controls of `--sketch LANE=PATTERN` options, on a clock at `bpm` running at the codec's
    rate: a provider of the same kind as a live stream's `controls_at` (engine/controls.py)."""
    from ..engine.controls import BlockControls
    from ..live.clock import Clock
    from ..live.lanes import frame_cycles, lane_pattern, lanes_for_frames

    lanes = {}
    for item in items:
        lane, sep, text = item.partition("=")
        if not sep:
            raise CommandError(f"--sketch {item!r}: write LANE=PATTERN, e.g. --sketch 'pitch=c4 [e4 g4]'")
        lanes[lane.strip()] = lane_pattern(lane.strip(), text.strip())
    clock = Clock(bpm, 4, bundle.codec.cfg.sample_rate)

    def controls_at(times):
        return BlockControls(style=style, **lanes_for_frames(lanes, frame_cycles(clock, times)))
    return controls_at


def add_render_command(sub) -> None:
    render = sub.add_parser("render", help="render a prompt, or bounce a patch, offline to a WAV file",
                            description="Render a prompt offline with the default model, block by block, "
                                        "exactly as a live stream plays it; or, given a patch file (.py), "
                                        "bounce it: every stream and effect through the master bus, stereo "
                                        "at 48 kHz, faster than real time. No audio device is needed.")
    render.add_argument("prompt", help='text prompt, e.g. "warm ambient pads" ("" for no prompt), '
                                       'or a patch file, e.g. patches/03_prompt_morph.py')
    render.add_argument("--seconds", type=seconds_arg, default=10.0, help="length in seconds (default 10)")
    render.add_argument("--out", default="out.wav", help="output .wav or .flac file (default out.wav)")
    render.add_argument("--seed", type=int, default=0, help="noise seed: the same seed gives the same audio "
                                                             "(a patch: added to each stream's own seed)")
    add_sampling_options(render, also="; a patch: for streams that set none")
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
