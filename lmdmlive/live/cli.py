"""The `lmdmlive` command: one entry point, a sub-command per job, `--help` throughout."""
from __future__ import annotations

import argparse
import math
import sys
import warnings

EXIT_USAGE = 2


class CommandError(Exception):
    """A user mistake the command explains in one line and exits 2 for."""


def _bounded(cast, low: float, high: float, what: str, low_open: bool = False):
    """An argparse type: a number of `cast` within [low, high] (or (low, high]), else one clear line."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_seconds = _bounded(float, 0.0, 6 * 3600, "a number above 0 (seconds, at most 6 hours)", low_open=True)
_steps = _bounded(int, 1, 8, "a whole number of steps from 1 to 8")
_guidance = _bounded(float, 0.0, 20.0, "a guidance scale from 0 to 20")


def cmd_render(args) -> int:
    import soundfile as sf

    from ..engine.render import normalize_peak, render_offline
    from ..model.default import UNTRAINED_NOTE, load_default
    from ..model.text_encoder import shared_text_encoder
    from ..progress import ProgressBar

    if not args.out.lower().endswith((".wav", ".flac")):
        raise CommandError(f"--out {args.out!r}: the file name must end in .wav or .flac")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = load_default(args.model, args.codec, warn=False)
    if not bundle.trained:
        print(f"note: {UNTRAINED_NOTE}", file=sys.stderr)
    if args.adapter:
        from ..model.adapters import apply
        apply(bundle.lmdm, args.adapter)
    style = shared_text_encoder().embed([args.prompt]) if args.prompt.strip() else None
    provider = _sketch_provider(args.sketch, args.bpm, bundle, style) if args.sketch else None
    audio = render_offline(bundle, style, args.seconds, seed=args.seed, steps=args.steps, guidance=args.guidance,
                           progress=ProgressBar("rendering", 1), conditions=provider)
    if not bundle.trained:
        audio = normalize_peak(audio, -6.0)
    sf.write(args.out, audio, bundle.sample_rate)
    print(f"wrote {args.out}: {len(audio) / bundle.sample_rate:.2f} s at {bundle.sample_rate} Hz "
          f"(model: {bundle.source}, seed {args.seed}, {args.steps} steps, guidance {args.guidance})")
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
    hop = bundle.codec.cfg.hop
    width = Fraction(hop) * clock.cycle_at(1)

    def provider(block: int):
        first = block * cfg.block_frames
        cycles = [clock.cycle_at((first + k) * hop) for k in range(cfg.block_frames)]
        sketch, mask = sketch_for_frames(lanes, cycles, width)
        return Conditions(style=style, sketch=sketch, sketch_mask=mask)
    return provider


def cmd_bench(args) -> int:
    import torch

    from ..engine.bench import format_table, run_bench, to_json_line
    from ..model.default import DEFAULT_GUIDANCE, DEFAULT_STEPS, load_default

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bundle = load_default(args.model, args.codec, warn=False)
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
                        model_path=args.model, codec_path=args.codec)
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


def cmd_corpus_build(args) -> int:
    from ..progress import ProgressBar
    from ..train.corpus.build import build

    bar = ProgressBar("corpus (seconds of audio)", int(args.hours * 3600))
    manifest = build(args.out, args.hours, seed=args.seed, workers=args.workers, progress=bar,
                     log=lambda msg: print(msg, file=sys.stderr, flush=True))
    for split, st in manifest["splits"].items():
        print(f"{split:8} {st['clips']:6d} clips {st['hours']:8.2f} h {st['pieces']:6d} pieces "
              f"{len(st['families']):3d} families")
    return 0


def cmd_corpus_add(args) -> int:
    from ..progress import ProgressBar
    from ..train.corpus.add import add_folder

    result = add_folder(args.folder, args.out, log=lambda msg: print(msg, file=sys.stderr, flush=True),
                        progress=ProgressBar("adding", 1))
    print(f"added {result['added']} of {result['files']} files to {args.out} (split 'user'); "
          f"{len(result['failed'])} could not be read")
    for path, why in result["failed"]:
        print(f"  {path}: {why}")
    return 0


def cmd_train_codec(args) -> int:
    from pathlib import Path

    from ..progress import ProgressBar
    from ..train.codec_train import train_codec

    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    result = train_codec(Path(args.corpus), Path(args.run), steps=args.steps, minutes=args.minutes,
                         batch=args.batch, lr=args.lr, seed=args.seed,
                         export=Path(args.export) if args.export else None,
                         init=Path(args.init) if args.init else None, freeze_encoder=args.freeze_encoder,
                         progress=ProgressBar("codec steps", args.steps, min_interval=2.0),
                         log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"codec at step {result['step']}; state in {args.run}" + (f", exported to {args.export}" if args.export else ""))
    return 0


def _model_config(text):
    import json
    from pathlib import Path

    from ..model import LMDMConfig
    if text is None:
        return LMDMConfig()
    data = json.loads(Path(text).read_text()) if not text.lstrip().startswith("{") else json.loads(text)
    return LMDMConfig.from_dict(data, where=f"--config {text}")


def cmd_train_lmdm(args) -> int:
    from pathlib import Path

    from ..model.default import DEFAULT_CODEC
    from ..progress import ProgressBar
    from ..train.lmdm_train import train_lmdm

    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    result = train_lmdm(args.stage, Path(args.corpus), Path(args.codec or DEFAULT_CODEC), Path(args.run),
                        steps=args.steps, minutes=args.minutes, batch=args.batch, blocks=args.blocks, lr=args.lr,
                        seed=args.seed, config=_model_config(args.config),
                        init=Path(args.init) if args.init else None,
                        export=Path(args.export) if args.export else None,
                        progress=ProgressBar(f"{args.stage} steps", args.steps, min_interval=2.0),
                        log=lambda msg: print(msg, file=sys.stderr, flush=True))
    line = f"{args.stage} at step {result['step']}; state in {args.run}"
    if "replicas_identical" in result:
        line += f"; {result['world']} replicas identical: {result['replicas_identical']}"
    print(line + (f", exported to {args.export}" if args.export else ""))
    return 0


def cmd_train_arc(args) -> int:
    from pathlib import Path

    from ..model.default import DEFAULT_CODEC
    from ..progress import ProgressBar
    from ..train.arc import train_arc

    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    r = train_arc(Path(args.corpus), Path(args.codec or DEFAULT_CODEC), Path(args.init), Path(args.run),
                  steps=args.steps, minutes=args.minutes, batch=args.batch, rollout_blocks=args.rollout,
                  export=Path(args.export) if args.export else None,
                  progress=ProgressBar("arc steps", args.steps, min_interval=2.0),
                  log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"arc at step {r['step']}; state in {args.run}" + (f", exported to {args.export}" if args.export else ""))
    return 0


def cmd_train_audio_model(args) -> int:
    from pathlib import Path

    from ..model.default import DEFAULT_CODEC
    from ..progress import ProgressBar
    from ..train.audio_models import train_audio_models

    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    result = train_audio_models(args.what, Path(args.corpus), Path(args.codec or DEFAULT_CODEC), Path(args.run),
                                steps=args.steps, minutes=args.minutes, batch=args.batch, lr=args.lr, seed=args.seed,
                                export=Path(args.export) if args.export else None,
                                progress=ProgressBar(f"{args.what} steps", args.steps, min_interval=2.0),
                                log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"{args.what} at step {result.pop('step')}: " + ", ".join(f"{k} {v}" for k, v in result.items()))
    return 0


def cmd_eval_model(args) -> int:
    import json
    from pathlib import Path

    from ..engine.bench import measure_rtf
    from ..model.default import DEFAULT_CODEC, DEFAULT_GUIDANCE, DEFAULT_STEPS, load_default
    from ..model.text_encoder import shared_text_encoder
    from ..progress import ProgressBar
    from ..train.eval_model import evaluate_model, load_judges

    bundle = load_default(args.model, args.codec)
    judges = load_judges(Path(args.classifier), Path(args.encoder))
    steps = args.steps or DEFAULT_STEPS
    guidance = DEFAULT_GUIDANCE if args.guidance is None else args.guidance
    embed = shared_text_encoder().embed
    r = evaluate_model(bundle.lmdm, bundle.codec, Path(args.corpus), Path(args.codec or DEFAULT_CODEC), judges,
                       lambda text: embed([text]), clips=8 if args.quick else 32,
                       control_clips=4 if args.quick else 8, steps=steps, guidance=guidance,
                       progress=ProgressBar("eval generations", 1, min_interval=2.0))
    r["rtf"] = measure_rtf(bundle.lmdm, bundle.codec, steps, guidance, 6 if args.quick else 24)
    r["weights"] = bundle.source
    rows = [("prompt_acc", r["prompt_acc"], f">= 0.8 x {r['prompt_acc_real']:.3f} (prompt_acc_real)"),
            ("loud_corr", r["loud_corr"], ">= 0.9"), ("bright_corr", r["bright_corr"], ""),
            ("pitch_acc", r["pitch_acc"], ">= 0.7"),
            ("fad", r["fad"], f"<= 3 x {r['fad_floor']:.3f} (fad_floor)"), ("rtf", r["rtf"], ">= 4")]
    rows += [(f"control_acc {k}", v, ">= 0.9") for k, v in r["control_acc"].items()]
    print(f"{'metric':<24} {'value':>8}  target")
    for name, value, target in rows:
        print(f"{name:<24} {value:>8.3f}  {target}")
    print(f"({r['clips']} held-out clips of {r['seconds']:.2f} s, steps {steps}, guidance {guidance}, "
          f"weights: {r['weights']})")
    if args.json:
        print(json.dumps(r))
    return 0


def cmd_eval_drift(args) -> int:
    import json
    from pathlib import Path

    from ..model.default import DEFAULT_CODEC, DEFAULT_GUIDANCE, DEFAULT_STEPS, load_default
    from ..model.text_encoder import shared_text_encoder
    from ..progress import ProgressBar
    from ..train.eval_drift import evaluate_drift, plot_drift
    from ..train.eval_model import load_judges

    judges = load_judges(Path(args.classifier), Path(args.encoder))
    steps = args.steps or DEFAULT_STEPS
    guidance = DEFAULT_GUIDANCE if args.guidance is None else args.guidance
    embed = shared_text_encoder().embed
    results = {}
    for name, path in (("before", args.model), ("after", args.after)):
        if name == "after" and path is None:
            continue
        bundle = load_default(path, args.codec)
        results[name] = evaluate_drift(bundle.lmdm, bundle.codec, Path(args.corpus), Path(args.codec or DEFAULT_CODEC),
                                       judges, lambda t: embed([t]), minutes=args.minutes, prompts=args.prompts,
                                       steps=steps, guidance=guidance,
                                       progress=ProgressBar(f"rollout ({name})", 1, min_interval=2.0))
        results[name]["weights"] = bundle.source
    for name, r in results.items():
        print(f"{name} ({r['weights']}): drift {r['drift']:.3f}, loudness change {r['loud_change_db']:+.2f} dB")
        print(f"  {'minute':>6} {'loud dB':>8} {'spread':>7} {'centroid':>9} {'onsets/s':>8} {'agree':>6} {'FD':>9}")
        for row in r["minutes"]:
            print(f"  {row['minute']:>6} {row['loud_mean_db']:>8.2f} {row['loud_spread_db']:>7.2f} "
                  f"{row['centroid_hz']:>9.1f} {row['onset_rate']:>8.2f} {row['prompt_agreement']:>6.2f} {row['fd']:>9.3f}")
    if args.plot:
        plot_drift(results, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        out = {"drift_before": results["before"]["drift"],
               "drift_after": results["after"]["drift"] if "after" in results else None, "runs": results}
        print(json.dumps(out))
    return 0


def cmd_finetune(args) -> int:
    from pathlib import Path

    from ..model.default import DEFAULT_CODEC, load_default
    from ..progress import ProgressBar
    from ..train.finetune import finetune

    if not Path(args.folder).is_dir():
        raise CommandError(f"{args.folder}: not a folder")
    bundle = load_default(args.model, args.codec)
    result = finetune(Path(args.folder), args.output, bundle.lmdm, Path(args.codec or DEFAULT_CODEC),
                      minutes=args.minutes, rank=args.rank, out_dir=Path(args.dir) if args.dir else None,
                      base_source=bundle.source, progress=ProgressBar("fine-tuning (seconds)", 1, min_interval=2.0),
                      log=lambda msg: print(msg, file=sys.stderr, flush=True))
    for path, why in result["failed"]:
        print(f"  skipped {path}: {why}")
    print(f"adapter {args.output}: {result['steps']} steps, loss {result['loss_first']:.3f} -> "
          f"{result['loss_last']:.3f}, {result['params'] / 1e6:.2f}M parameters, {result['path']}")
    return 0


def cmd_eval_codec(args) -> int:
    import json
    from pathlib import Path

    from ..model import load_codec
    from ..model.default import DEFAULT_CODEC
    from ..train.codec_eval import evaluate_codec

    codec = load_codec(args.codec or DEFAULT_CODEC)
    result = evaluate_codec(codec, Path(args.corpus), clips=args.clips, seconds=args.seconds, plot=args.plot)
    print(f"{'metric':<16} {'codec':>10} {'opus 24k':>10}")
    for key in ("mel_l1", "stft_distance", "si_sdr"):
        print(f"{key:<16} {result[key]:>10.4f} {result[key + '_opus24']:>10.4f}")
    print(f"{'decode_rtf':<16} {result['decode_rtf']:>10.1f}")
    print(f"({result['clips']} held-out clips of {result['seconds_per_clip']} s)")
    if args.json:
        print(json.dumps(result))
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
    parser.add_argument("--audio", default="auto", choices=("auto", "jack", "portaudio"),
                        help="audio backend for the REPL (default: JACK if running, else portaudio)")
    parser.add_argument("--bpm", type=_bounded(float, 10, 999, "a tempo from 10 to 999 BPM"), default=120.0,
                        help="starting tempo of the REPL's clock (default 120)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    render = sub.add_parser("render", help="render a prompt offline to a WAV file",
                            description="Render a prompt offline with the default model, block by block, "
                                        "exactly as a live stream plays it. No audio device is needed.")
    render.add_argument("prompt", help='text prompt, e.g. "warm ambient pads" ("" for no prompt)')
    render.add_argument("--seconds", type=_seconds, default=10.0, help="length in seconds (default 10)")
    render.add_argument("--out", default="out.wav", help="output .wav or .flac file (default out.wav)")
    render.add_argument("--seed", type=int, default=0, help="noise seed: the same seed gives the same audio")
    render.add_argument("--steps", type=_steps, default=4, help="denoising steps per block, 1 to 8 (default 4)")
    render.add_argument("--guidance", type=_guidance, default=2.0, help="classifier-free guidance (default 2)")
    render.add_argument("--model", default=None, help="LMDM checkpoint (NAME, NAME.json or NAME.safetensors)")
    render.add_argument("--codec", default=None, help="codec checkpoint")
    render.add_argument("--sketch", action="append", default=[], metavar="LANE=PATTERN",
                        help="a sketch lane in mini-notation, e.g. --sketch 'pitch=c4 [e4 g4]' --sketch 'loud=-12 -20' "
                             "(lanes: loud, bright, pitch, rhythm; repeat for several)")
    render.add_argument("--bpm", type=float, default=120.0, help="tempo the sketch lanes run at (default 120)")
    render.add_argument("--adapter", default=None, metavar="NAME", help="a fine-tuned adapter (lmdmlive finetune)")
    render.set_defaults(func=cmd_render)

    bench = sub.add_parser("bench", help="measure speed and memory (ratios from one run)",
                           description="Measure kv_speedup, flat_ratio, rtf, cache_growth, matmul_fraction and "
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
    bench.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    bench.add_argument("--model", default=None, help="LMDM checkpoint to time instead of the default")
    bench.add_argument("--codec", default=None, help="codec checkpoint to time instead of the default")
    bench.set_defaults(func=cmd_bench)

    doctor = sub.add_parser("doctor", help="check audio, JACK, MIDI, model files and tools; say what to fix")
    doctor.set_defaults(func=cmd_doctor)

    corpus = sub.add_parser("corpus", help="build or extend the training corpus",
                            description="Build the training corpus offline, or add your own audio to it.")
    corpus_sub = corpus.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    cb = corpus_sub.add_parser("build", help="render music21 pieces and generated grooves (resumable)",
                               description="Render the music21 corpus and generated grooves with FluidSynth into "
                                           "FLAC shards with captions and sketch features. Deterministic per seed; "
                                           "an interrupted build continues where it stopped.")
    cb.add_argument("--hours", type=_bounded(float, 0.0, 1000.0, "hours from 0 to 1000", low_open=True), default=20.0,
                    help="hours of audio to build (default 20)")
    cb.add_argument("--out", default="data/corpus", help="corpus folder (default data/corpus)")
    cb.add_argument("--seed", type=int, default=0, help="seed of the plan, arrangements and captions")
    cb.add_argument("--workers", type=_bounded(int, 1, 64, "a number of worker processes from 1 to 64"), default=2,
                    help="render processes (default 2)")
    cb.set_defaults(func=cmd_corpus_build)
    ca = corpus_sub.add_parser("add", help="add a folder of your own audio",
                               description="Add every audio file of FOLDER (wav, flac, ogg, mp3) with features and "
                                           "captions from a NAME.txt beside it, or from the folder and file names.")
    ca.add_argument("folder", help="folder of audio files (searched recursively)")
    ca.add_argument("--out", default="data/corpus", help="corpus folder (default data/corpus)")
    ca.set_defaults(func=cmd_corpus_add)

    train = sub.add_parser("train", help="training stages (resumable)")
    train_sub = train.add_subparsers(dest="train_command", metavar="STAGE", required=True)
    tc = train_sub.add_parser("codec", help="train the audio codec on the corpus",
                              description="Train the codec (multi-resolution STFT and mel losses, VAE) on random "
                                          "crops of the corpus; resumes from RUN when stopped.")
    tc.add_argument("--corpus", default="data/corpus", help="corpus folder (default data/corpus)")
    tc.add_argument("--run", "--run-dir", dest="run", default="runs/codec", help="run folder for state, log and curve (default runs/codec)")
    tc.add_argument("--steps", type=_bounded(int, 1, 10**7, "a number of steps"), default=20000,
                    help="total steps (default 20000)")
    tc.add_argument("--minutes", type=_bounded(float, 0, 10**5, "minutes above 0", low_open=True), default=None,
                    help="stop after this many minutes (the run resumes later)")
    tc.add_argument("--batch", type=_bounded(int, 1, 1024, "a batch size"), default=16, help="crops per step")
    tc.add_argument("--lr", type=_bounded(float, 0, 1, "a learning rate", low_open=True), default=1e-3)
    tc.add_argument("--seed", type=int, default=0)
    tc.add_argument("--export", default=None, help="also write the trained codec as a checkpoint (NAME)")
    tc.add_argument("--init", default=None, help="start from this codec checkpoint when RUN holds no state "
                                                 "(e.g. lmdmlive/assets/codec)")
    tc.add_argument("--freeze-encoder", action="store_true",
                    help="train the decoder only, so the latents (and models trained on them) stay valid")
    tc.add_argument("--threads", type=_bounded(int, 1, 256, "a thread count"), default=None,
                    help="CPU threads for torch (default: all cores)")
    tc.set_defaults(func=cmd_train_codec)

    for stage, what in (("base", "the bidirectional latent DiT (the pre-trained form)"),
                        ("lmdm", "the block-causal clean-context LMDM the instrument runs "
                                 "(from a base run with --init: the conversion)")):
        tl = train_sub.add_parser(stage, help=f"train {what}",
                                  description=f"Train {what} on the corpus's codec latents, captions and sketch "
                                              "curves; resumes from RUN when stopped. Runs data-parallel when "
                                              "launched with torchrun.")
        tl.add_argument("--corpus", default="data/corpus", help="corpus folder (default data/corpus)")
        tl.add_argument("--codec", default=None, help="codec checkpoint whose latents are modelled "
                                                      "(default: the shipped one)")
        tl.add_argument("--run", "--run-dir", dest="run", default=f"runs/{stage}",
                        help=f"run folder (default runs/{stage}); spell it --run-dir under torchrun, whose own "
                             "--run-path makes --run ambiguous")
        tl.add_argument("--steps", type=_bounded(int, 1, 10**7, "a number of steps"), default=40000,
                        help="total steps of the schedule (default 40000)")
        tl.add_argument("--minutes", type=_bounded(float, 0, 10**5, "minutes above 0", low_open=True), default=None,
                        help="stop after this many minutes (the run resumes later)")
        tl.add_argument("--batch", type=_bounded(int, 1, 4096, "a batch size"), default=16, help="windows per step")
        tl.add_argument("--blocks", type=_bounded(int, 1, 256, "a number of blocks"), default=8,
                        help="blocks per training window (default 8)")
        tl.add_argument("--lr", type=_bounded(float, 0, 1, "a learning rate", low_open=True), default=4e-4)
        tl.add_argument("--seed", type=int, default=0)
        tl.add_argument("--init", default=None, help="start from a checkpoint or a run folder when RUN holds no state")
        tl.add_argument("--export", default=None, help="also write the EMA weights as a checkpoint (NAME)")
        tl.add_argument("--config", default=None, metavar="JSON",
                        help="model config as a JSON file or inline JSON object (default: the shipped size)")
        tl.add_argument("--threads", type=_bounded(int, 1, 256, "a thread count"), default=None,
                        help="CPU threads for torch (default: all cores)")
        tl.set_defaults(func=cmd_train_lmdm, stage=stage)

    ar = train_sub.add_parser("arc", help="ARC-Forcing: adversarial post-training on the model's own rollouts",
                              description="Roll the model out over several blocks on its own output and train it "
                                          "with a relativistic adversarial loss against real continuations plus a "
                                          "contrastive prompt loss in the discriminator; resumes from RUN.")
    ar.add_argument("--init", required=True, help="the LMDM checkpoint to post-train")
    ar.add_argument("--corpus", default="data/corpus")
    ar.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
    ar.add_argument("--run", "--run-dir", dest="run", default="runs/arc")
    ar.add_argument("--steps", type=_bounded(int, 1, 10**7, "a number of steps"), default=2000)
    ar.add_argument("--minutes", type=_bounded(float, 0, 10**5, "minutes above 0", low_open=True), default=None)
    ar.add_argument("--batch", type=_bounded(int, 2, 1024, "a batch size"), default=4)
    ar.add_argument("--rollout", type=_bounded(int, 1, 64, "a number of blocks"), default=4,
                    help="blocks rolled out per step (default 4)")
    ar.add_argument("--export", default=None, help="also write the EMA generator as a checkpoint (NAME)")
    ar.add_argument("--threads", type=_bounded(int, 1, 256, "a thread count"), default=None)
    ar.set_defaults(func=cmd_train_arc)

    for what, desc in (("audio-prompt", "the audio-prompt encoder: clips into the MiniLM text space (contrastive)"),
                       ("classifier", "the attribute classifier (style family, tempo bucket, lead instrument "
                                      "family) that `eval model` measures generated audio with")):
        ta = train_sub.add_parser(what, help=f"train {desc}", description=f"Train {desc}, on 5 s windows of the "
                                  "corpus's codec latents; resumes from RUN when stopped.")
        ta.add_argument("--corpus", default="data/corpus", help="corpus folder (default data/corpus)")
        ta.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
        ta.add_argument("--run", "--run-dir", dest="run", default=f"runs/{what}", help=f"run folder (default runs/{what})")
        ta.add_argument("--steps", type=_bounded(int, 1, 10**7, "a number of steps"), default=3000)
        ta.add_argument("--minutes", type=_bounded(float, 0, 10**5, "minutes above 0", low_open=True), default=None)
        ta.add_argument("--batch", type=_bounded(int, 2, 4096, "a batch size"), default=64)
        ta.add_argument("--lr", type=_bounded(float, 0, 1, "a learning rate", low_open=True), default=1e-3)
        ta.add_argument("--seed", type=int, default=0)
        ta.add_argument("--export", default=None, help="also write the model as a checkpoint (NAME)")
        ta.add_argument("--threads", type=_bounded(int, 1, 256, "a thread count"), default=None)
        ta.set_defaults(func=cmd_train_audio_model, what=what)

    ft = sub.add_parser("finetune", help="low-rank adapters on a folder of your own audio",
                        description="Fine-tune the default model on FOLDER (any audio soundfile reads; captions from "
                                    "folder and file names or sidecar .txt files) with low-rank adapters, for a "
                                    "fixed time; the adapter loads by name: render --adapter NAME, "
                                    "session.adapter('NAME').")
    ft.add_argument("folder", help="folder of audio files")
    ft.add_argument("-o", "--output", required=True, metavar="NAME", help="adapter name")
    ft.add_argument("--minutes", type=_bounded(float, 0, 600, "minutes above 0", low_open=True), default=8.0,
                    help="training time (default 8)")
    ft.add_argument("--rank", type=_bounded(int, 1, 256, "a rank"), default=8)
    ft.add_argument("--model", default=None, help="base LMDM checkpoint (default: the shipped one)")
    ft.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
    ft.add_argument("--dir", default=None, help="adapters folder (default ~/.lmdmlive/adapters or $LMDMLIVE_ADAPTERS)")
    ft.set_defaults(func=cmd_finetune)

    evaluate = sub.add_parser("eval", help="evaluation on held-out data")
    eval_sub = evaluate.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    ec = eval_sub.add_parser("codec", help="the codec against Opus 24 kbit/s on held-out clips")
    ec.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
    ec.add_argument("--corpus", default="data/corpus", help="corpus folder (default data/corpus)")
    ec.add_argument("--clips", type=_bounded(int, 1, 10000, "a number of clips"), default=24)
    ec.add_argument("--seconds", type=_bounded(float, 1, 600, "seconds from 1 to 600"), default=8.0)
    ec.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    ec.add_argument("--plot", default=None, metavar="PNG", help="also save spectrograms (original, codec, Opus)")
    ec.set_defaults(func=cmd_eval_codec)
    em = eval_sub.add_parser("model", help="how well the model obeys prompts, sketches and controls",
                             description="Generate from held-out conditions (unseen prompt phrasings, held-out "
                                         "sketch curves, arrangement controls) and measure prompt_acc, control_acc, "
                                         "loud_corr, bright_corr, pitch_acc, fad (with fad_floor) and rtf.")
    em.add_argument("--model", default=None, help="LMDM checkpoint (default: the shipped one)")
    em.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
    em.add_argument("--corpus", default="data/corpus", help="corpus folder (default data/corpus)")
    em.add_argument("--classifier", default="runs/classifier_export", help="attribute classifier checkpoint")
    em.add_argument("--encoder", default="runs/audio_prompt_export", help="audio-prompt encoder checkpoint")
    em.add_argument("--quick", action="store_true", help="8 clips and 4 per control instead of 32 and 8")
    em.add_argument("--steps", type=_steps, default=None)
    em.add_argument("--guidance", type=_guidance, default=None)
    em.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    em.set_defaults(func=cmd_eval_model)
    ed = eval_sub.add_parser("drift", help="minute-by-minute drift of long rollouts, before and after ARC-Forcing",
                             description="Roll out M minutes from fixed held-out prompts and seeds and report, per "
                                         "minute, loudness mean and spread, centroid, onset rate, prompt agreement "
                                         "and the Fréchet distance to real audio; drift = last / first minute.")
    ed.add_argument("--minutes", type=_bounded(float, 0, 600, "minutes above 0", low_open=True), default=10.0)
    ed.add_argument("--model", default=None, help="the model before ARC-Forcing (default: the shipped one)")
    ed.add_argument("--after", default=None, help="the model after ARC-Forcing, measured on the same prompts and seeds")
    ed.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
    ed.add_argument("--corpus", default="data/corpus")
    ed.add_argument("--classifier", default="runs/classifier_export")
    ed.add_argument("--encoder", default="lmdmlive/assets/audio_prompt")
    ed.add_argument("--prompts", type=_bounded(int, 1, 64, "a number of prompts"), default=4)
    ed.add_argument("--steps", type=_steps, default=None)
    ed.add_argument("--guidance", type=_guidance, default=None)
    ed.add_argument("--plot", default=None, metavar="PNG", help="also plot the minutes (e.g. docs/drift.png)")
    ed.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    ed.set_defaults(func=cmd_eval_drift)
    return parser


def cmd_patch(path: str, audio: str = "auto") -> int:
    import time

    from ..audio.server import AudioServerError
    from . import prelude
    from .patch import PatchRunner

    try:
        session = prelude.Session(audio=audio)
    except AudioServerError as e:
        print(f"lmdmlive: {e}\n  or `lmdmlive doctor`", file=sys.stderr)
        return EXIT_USAGE
    namespace = prelude.namespace(session)
    runner = PatchRunner(path, session, namespace)
    runner.load()
    session.start()
    print(f"playing {path}; save it to reload at the next bar (Ctrl-C stops)", file=sys.stderr)
    try:
        while True:
            runner.tick()
            time.sleep(0.02)
    except KeyboardInterrupt:
        pass
    finally:
        session.stop()
        session.server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    patch = [a for a in argv if a.endswith(".py")]
    if patch and argv and argv[-1] == patch[0]:
        from pathlib import Path
        if not Path(patch[0]).is_file():
            print(f"lmdmlive: {patch[0]}: no such patch file", file=sys.stderr)
            return EXIT_USAGE
        audio = argv[argv.index("--audio") + 1] if "--audio" in argv[:-1] else "auto"
        return cmd_patch(patch[0], audio)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return cmd_repl(args)
    from ..model import CheckpointError, ConfigError
    try:
        return args.func(args)
    except (CommandError, CheckpointError, ConfigError, ValueError, OSError) as e:
        print(f"lmdmlive {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"lmdmlive {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
