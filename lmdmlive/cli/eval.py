"""The `eval` commands: codec against Opus, how well the model obeys, and drift over long rollouts."""
from __future__ import annotations

import sys

from ..train.splits import EVAL_SPLITS
from .args import FLOAT32_HELP, add_sampling_options, bounded, control_guidance_arg, guidance_arg, steps_arg


CLASSIFIER_HELP = "attribute classifier checkpoint (default: the shipped one)"
ENCODER_HELP = "audio-prompt encoder checkpoint (default: the shipped one)"
SPLIT_HELP = "held-out split: valid (choose defaults here) or test (report here; default)"
CODEC_FLOAT32_HELP = "decode in float32 throughout (default, as played: bf16 decoder products where the CPU has them)"


def cmd_eval_model(args) -> int:
    import json
    from pathlib import Path

    from ..bench.runners import measure_rtf
    from ..model.default import DEFAULT_AUDIO_PROMPT, DEFAULT_CLASSIFIER, DEFAULT_CODEC, load_default
    from ..model.text_encoder import shared_text_encoder
    from ..progress import ProgressBar
    from ..model.generate import CONTROL_GUIDANCE, PITCH_GUIDANCE
    from ..train.eval_gen import load_judges
    from ..train.eval_model import evaluate_model

    bundle = load_default(args.model, args.codec, float32=args.float32)
    judges = load_judges(Path(args.classifier or DEFAULT_CLASSIFIER), Path(args.encoder or DEFAULT_AUDIO_PROMPT))
    played = bundle.sampling.changed(steps=args.steps, guidance=args.guidance,     # the card's, unless given
                                     sketch_guidance=args.sketch_guidance)
    steps, guidance, sketch_guidance = played.steps, played.guidance, played.sketch_guidance
    control_guidance = CONTROL_GUIDANCE if args.control_guidance is None else args.control_guidance
    pitch_guidance = PITCH_GUIDANCE if args.pitch_guidance is None else args.pitch_guidance
    embed = shared_text_encoder().embed
    control_clips = args.control_clips if args.control_clips is not None else (4 if args.quick else 8)
    r = evaluate_model(bundle.lmdm, bundle.codec, Path(args.corpus), Path(args.codec or DEFAULT_CODEC), judges,
                       lambda text: embed([text]), split=args.split, clips=8 if args.quick else 16,
                       control_guidance=control_guidance, control_clips=control_clips, steps=steps,
                       guidance=guidance, sketch_guidance=sketch_guidance, pitch_guidance=pitch_guidance,
                       seed=args.seed, source=args.source,
                       progress=ProgressBar("eval generations", 1, min_interval=2.0))
    r["rtf"] = measure_rtf(bundle.lmdm, bundle.codec, steps, guidance, 6 if args.quick else 24) if not args.no_rtf \
        else float("nan")
    r["weights"] = bundle.source
    rows = [("prompt_acc", r["prompt_acc"], f">= 0.8 x {r['prompt_acc_real']:.3f} (prompt_acc_real)"),
            ("loud_corr", r["loud_corr"], f">= 0.9 (real audio through the codec: {r['loud_corr_codec']:.3f})"),
            ("loud_corr_unfollowed", r["loud_corr_unfollowed"], "(the model alone, before the loudness follower)"),
            ("bright_corr", r["bright_corr"], f"(real audio through the codec: {r['bright_corr_codec']:.3f})"),
            ("pitch_acc", r["pitch_acc"], f">= 0.7 (real audio through the codec: {r['pitch_acc_codec']:.3f})"),
            ("prompt_acc_signal", r["prompt_acc_signal"],
             f"(tempo, drums, brightness from the signal; on real clips: {r['prompt_acc_signal_real']:.3f})"),
            ("fad", r["fad"], f"(fad_floor {r['fad_floor']:.3f}: two real sets of other pieces)"),
            ("fad_ratio", r["fad_ratio"], "<= 3"),
            ("fad_mel", r["fad_mel"], f"(fad_mel_floor {r['fad_mel_floor']:.3f}; real audio through the codec: "
                                      f"{r['fad_mel_codec']:.3f})"),
            ("fad_mel_ratio", r["fad_mel_ratio"], "(log-mel statistics, no trained judge)"),
            ("control_fad", r["control_fad"], "(the same for the control generations)"), ("rtf", r["rtf"], ">= 4")]
    rows += [(f"control_acc {k}", v, ">= 0.9") for k, v in r["control_acc"].items()]
    print(f"{'metric':<24} {'value':>8}  target")
    for name, value, target in rows:
        print(f"{name:<24} {value:>8.3f}  {target}")
    bands = [f"{band} {got['pitch_acc']:.3f} (codec {r['pitch_acc_by_register_codec'][band]['pitch_acc']:.3f}, "
             f"{got['frames']} frames)" for band, got in r["pitch_acc_by_register"].items() if got["frames"]]
    print("pitch_acc by requested register: " + "; ".join(bands))
    which = "" if r["source"] == "all" else f"{r['source']} "
    print(f"(split {r['split']}: {r['clips']} {which}prompting clips of {r['seconds']:.2f} s, "
          f"{r['fad_windows']} windows "
          f"each from {r['reference_clips']} reference and {r['floor_clips']} floor clips; seed {r['seed']}, "
          f"steps {steps}, guidance {guidance}, "
          f"control guidance {control_guidance}, sketch guidance {sketch_guidance}, pitch guidance {pitch_guidance}, "
          f"weights: {r['weights']})")
    if args.json:
        print(json.dumps(r))
    return 0


def cmd_eval_style(args) -> int:
    import json
    import tempfile
    from pathlib import Path

    from ..model.default import DEFAULT_AUDIO_PROMPT, DEFAULT_CLASSIFIER, DEFAULT_CODEC, load_default
    from ..model.text_encoder import shared_text_encoder
    from ..progress import ProgressBar
    from ..train.eval_gen import load_judges
    from ..train.eval_style import evaluate_style
    from .args import CommandError

    if not Path(args.folder).is_dir():
        raise CommandError(f"{args.folder}: not a folder")
    if args.adapter:
        from ..model.adapters import find
        find(args.adapter)                    # a wrong name fails here, before minutes of generation
    bundle = load_default(args.model, args.codec, float32=True)
    judges = load_judges(Path(args.classifier or DEFAULT_CLASSIFIER), Path(args.encoder or DEFAULT_AUDIO_PROMPT))
    played = bundle.sampling.changed(steps=args.steps, guidance=args.guidance)     # the card's, unless given
    steps, guidance = played.steps, played.guidance
    embed = shared_text_encoder().embed
    with tempfile.TemporaryDirectory(prefix="lmdmlive-eval-style-") as work:
        try:
            r = evaluate_style(bundle.lmdm, bundle.codec, Path(args.folder), Path(work), judges,
                               lambda text: embed([text]), Path(args.corpus), Path(args.codec or DEFAULT_CODEC),
                               adapter=args.adapter, clips=args.clips, steps=steps, guidance=guidance,
                               split=args.split,
                               progress=ProgressBar("eval generations", 1, min_interval=2.0),
                               log=lambda msg: print(msg, file=sys.stderr, flush=True))
        except ValueError as e:
            raise CommandError(str(e)) from None
    columns = [c for c in ("default", "adapter") if c in r]
    print(f"{'metric':<12}" + "".join(f"{c:>10}" for c in columns) + "  reference")
    print(f"{'prompt_acc':<12}" + "".join(f"{r[c]['prompt_acc']:>10.3f}" for c in columns)
          + f"  {r['prompt_acc_real']:.3f} (prompt_acc_real)")
    print(f"{'fad':<12}" + "".join(f"{r[c]['fad']:>10.3f}" for c in columns) + f"  {r['fad_floor']:.3f} (fad_floor)")
    for c in columns:
        print(f"nearest centroids ({c}): {r[c]['nearest']}")
    print(f"({r['clips']} prompts x {r['seeds']} seeds of {r['seconds']:.2f} s, {r['real_windows']} real windows, "
          f"steps {steps}, guidance {guidance}, weights: {bundle.source}"
          + (f", adapter {args.adapter}" if args.adapter else "") + ")")
    if args.json:
        print(json.dumps(r))
    return 0


def cmd_eval_drift(args) -> int:
    import json
    from pathlib import Path

    from ..model.default import DEFAULT_AUDIO_PROMPT, DEFAULT_CLASSIFIER, DEFAULT_CODEC, load_default
    from ..model.text_encoder import shared_text_encoder
    from ..progress import ProgressBar
    from ..train.eval_drift import evaluate_drift, plot_drift
    from ..train.eval_gen import load_judges

    judges = load_judges(Path(args.classifier or DEFAULT_CLASSIFIER), Path(args.encoder or DEFAULT_AUDIO_PROMPT))
    embed = shared_text_encoder().embed
    results = {}
    for name, path in (("before", args.model), ("after", args.after)):
        if name == "after" and path is None:
            continue
        bundle = load_default(path, args.codec, float32=args.float32)
        after = name == "after"
        played = bundle.sampling.changed(steps=(args.after_steps if after and args.after_steps else args.steps) or None,
                                         guidance=args.after_guidance if after and args.after_guidance is not None
                                         else args.guidance)           # each model's card, unless given
        results[name] = evaluate_drift(bundle.lmdm, bundle.codec, Path(args.corpus), Path(args.codec or DEFAULT_CODEC),
                                       judges, lambda t: embed([t]), minutes=args.minutes, streams=args.streams,
                                       prompts=args.prompts, change=args.change, steps=played.steps,
                                       guidance=played.guidance,
                                       split=args.split, seed=args.seed,
                                       progress=ProgressBar(f"rollout ({name})", 1, min_interval=2.0))
        results[name]["weights"] = bundle.source
    for name, r in results.items():
        print(f"{name} ({r['weights']}, {r['steps']} steps, guidance {r['guidance']:g}): "
              f"last/first minute fd {r['fd_ratio']:.3f}, fd_mel {r['fd_mel_ratio']:.3f}; "
              f"loudness change {r['loud_change_db']:+.2f} dB "
              f"(widest swing {r['loud_swing_db']:.2f} dB); collapsed minutes: {r['collapsed'] or 'none'}")
        if r["repeat_pairs"]:
            print(f"  one pass of the prompts ({r['repeat_minutes']} min) later, {r['repeat_pairs']} minutes against "
                  f"the same prompts' earlier ones: fd x{r['fd_repeat_ratio']:.3f} (sd of logs "
                  f"{r['fd_repeat_log_sd']:.3f}), fd_mel x{r['fd_mel_repeat_ratio']:.3f} (sd of logs "
                  f"{r['fd_mel_repeat_log_sd']:.3f}), loudness "
                  f"{r['loud_repeat_change_db']:+.2f} dB (sd {r['loud_repeat_change_db_sd']:.2f})")
        print(f"  real floors: fd {r['fd_floor']:.3f}, fd_mel {r['fd_mel_floor']:.2f} "
              f"({r['windows_per_minute']} windows a minute, {r['streams']} streams, "
              f"prompt changes every {r['change_minutes']:g} min)")
        print(f"  {'minute':>6} {'fd':>7} {'fd_mel':>8} {'loud dB':>8} {'centroid':>9} {'flat':>6} "
              f"{'onsets/s':>8} {'agree':>6}")
        for row in r["minutes"]:
            print(f"  {row['minute']:>6} {row['fd']:>7.3f} {row['fd_mel']:>8.2f} {row['loud_mean_db']:>8.2f} "
                  f"{row['centroid_hz']:>9.1f} {row['flatness']:>6.3f} {row['onset_rate']:>8.2f} "
                  f"{row['prompt_agreement']:>6.2f}" + (f"  {row['collapsed']}" if row["collapsed"] else ""))
    if args.plot:
        plot_drift(results, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        out = {name: {k: r[k] for k in ("fd_ratio", "fd_mel_ratio", "loud_change_db", "loud_swing_db", "collapsed",
                                         "steps", "guidance")} for name, r in results.items()}
        out["runs"] = results
        print(json.dumps(out))
    return 0


def cmd_eval_codec(args) -> int:
    import dataclasses
    import json
    from pathlib import Path

    from ..model import load_codec
    from ..model.bf16 import enable_bf16, uses_bf16
    from ..model.default import DEFAULT_CODEC
    from ..train.codec_eval import OPUS_KBPS, evaluate_codec

    codec = load_codec(args.codec or DEFAULT_CODEC)
    if args.phase_lock:
        if codec.cfg.phase_head != "carried":
            print(f"lmdmlive: --phase-lock plays a carried phase head's advances; {args.codec or DEFAULT_CODEC} "
                  f"has an {codec.cfg.phase_head} head", file=sys.stderr)
            return 2
        codec.cfg = dataclasses.replace(codec.cfg, phase_lock=True)
    if not args.float32:
        enable_bf16(codec)
    result = evaluate_codec(codec, Path(args.corpus), clips=args.clips, seconds=args.seconds, plot=args.plot,
                            split=args.split, source=args.source)
    result["bf16"], result["phase_lock"] = uses_bf16(codec), codec.cfg.phase_lock
    print(f"{'metric':<16} {'codec':>10} {'opus 24k':>10}")
    for key in ("mel_l1", "mel_l1_loud", "mel_l1_quiet", "stft_distance", "si_sdr", "pitch_acc", "pitch_acc_bass",
                "pitch_acc_above", "voicing_kept"):
        print(f"{key:<16} {result[key]:>10.4f} {result[key + '_opus24']:>10.4f}")
    print(f"{'decode_rtf':<16} {result['decode_rtf']:>10.1f}")
    print(f"{'latent_kbps':<16} {result['latent_kbps']:>10.2f} {float(OPUS_KBPS):>10.2f}")
    which = "" if result["source"] == "all" else f"{result['source']} "
    print(f"(split {result['split']}: {result['clips']} {which}clips of {result['seconds_per_clip']} s, decoded in "
          f"{'bf16 products' if result['bf16'] else 'float32'})")
    if args.json:
        print(json.dumps(result))
    return 0


def cmd_eval_quick(args) -> int:
    import json
    import tempfile
    from pathlib import Path

    from ..model.default import DEFAULT_AUDIO_PROMPT, DEFAULT_CLASSIFIER, DEFAULT_CODEC, load_default
    from ..model.text_encoder import shared_text_encoder
    from ..train import quick_figures as qf
    from ..train.eval_gen import load_judges

    bundle = load_default()
    judges = load_judges(Path(DEFAULT_CLASSIFIER), Path(DEFAULT_AUDIO_PROMPT))
    embed = shared_text_encoder().embed
    recorded = None if args.write else qf.read_recorded()
    pieces = qf.choose_pieces(log=lambda m: print(m, file=sys.stderr)) if args.write else recorded["pieces"]
    with tempfile.TemporaryDirectory(prefix="lmdmlive-quick-") as work:
        corpus = qf.render_pieces(pieces, Path(work) / "corpus")
        figures = qf.measure(bundle, judges, corpus, Path(DEFAULT_CODEC), lambda t: embed([t]))
    if args.write:
        qf.write_recorded(figures, pieces)
        print(f"recorded in {qf.FIGURES_PATH}")
    print(f"{'figure':<20} {'now':>8} {'recorded':>9}")
    for k, v in figures.items():
        old = "" if recorded is None else f"{recorded['figures'][k]:>9.3f}"
        print(f"{k:<20} {v:>8.3f} {old}")
    if args.json:
        print(json.dumps(figures))
    if recorded is not None:
        bad = qf.compare(figures, recorded["figures"])
        for line in bad:
            print(f"outside tolerance: {line}", file=sys.stderr)
        return 1 if bad else 0
    return 0


def add_eval_commands(sub) -> None:
    evaluate = sub.add_parser("eval", help="evaluation on held-out data")
    eval_sub = evaluate.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    ec = eval_sub.add_parser("codec", help="the codec against Opus 24 kbit/s on held-out clips")
    ec.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
    ec.add_argument("--corpus", default="data/corpus", help="corpus folder (default data/corpus)")
    ec.add_argument("--clips", type=bounded(int, 1, 10000, "a number of clips"), default=24)
    ec.add_argument("--seconds", type=bounded(float, 1, 600, "seconds from 1 to 600"), default=8.0)
    ec.add_argument("--float32", action="store_true", help=CODEC_FLOAT32_HELP)
    ec.add_argument("--phase-lock", action="store_true",
                    help="decode a carried phase head by peak-tracked locking, whatever its checkpoint says")
    ec.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    ec.add_argument("--plot", default=None, metavar="PNG", help="also save spectrograms (original, codec, Opus)")
    ec.add_argument("--split", choices=EVAL_SPLITS, default="test", help=SPLIT_HELP)
    ec.add_argument("--source", choices=("all", "recorded", "rendered"), default="all",
                    help="which held-out clips: recordings, renderings (scores and grooves) or all (default)")
    ec.set_defaults(func=cmd_eval_codec)
    em = eval_sub.add_parser("model", help="how well the model obeys prompts, sketches and controls",
                             description="Generate from held-out conditions (unseen prompt phrasings, held-out "
                                         "sketch curves, arrangement controls) and measure prompt_acc, control_acc, "
                                         "loud_corr, bright_corr, pitch_acc, fad (with fad_floor) and rtf.")
    em.add_argument("--model", default=None, help="LMDM checkpoint (default: the shipped one)")
    em.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
    em.add_argument("--corpus", default="data/corpus", help="corpus folder (default data/corpus)")
    em.add_argument("--classifier", default=None, help=CLASSIFIER_HELP)
    em.add_argument("--encoder", default=None, help=ENCODER_HELP)
    em.add_argument("--quick", action="store_true", help="8 clips and 4 per control instead of 16 and 8")
    em.add_argument("--seed", type=int, default=0, help="seed of the generations and of the real sets (default 0)")
    em.add_argument("--no-rtf", action="store_true", help="skip the real-time factor (for sweeps)")
    em.add_argument("--control-clips", type=bounded(int, 0, 1000, "a number of clips from 0"), default=None,
                    help="clips per arrangement control (default 8, 4 with --quick; 0 skips the controls)")
    add_sampling_options(em)
    em.add_argument("--control-guidance", type=control_guidance_arg, default=None,
                    help="the arrangement controls' own guidance scale "
                         "(default 24; equal to --guidance: plain guidance)")
    em.add_argument("--sketch-guidance", type=control_guidance_arg, default=None,
                    help="the sketch's own guidance scale (default: the model's card, else 4; equal to "
                         "--guidance: plain guidance)")
    em.add_argument("--pitch-guidance", type=control_guidance_arg, default=None,
                    help="the pitch lane's own scale on top of the sketch's (default: the sketch's, no extra branch)")
    em.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    em.add_argument("--float32", action="store_true", help=FLOAT32_HELP)
    em.add_argument("--split", choices=EVAL_SPLITS, default="test", help=SPLIT_HELP)
    em.add_argument("--source", choices=("all", "recorded", "rendered"), default="all",
                    help="prompts, reference and floor from recordings, from renderings (scores and grooves), "
                         "or all (default)")
    em.set_defaults(func=cmd_eval_model)
    es = eval_sub.add_parser("style", help="the default model against a fine-tuned adapter on a style folder",
                             description="Prompt with each caption of FOLDER (audio with NAME.txt captions, held "
                                         "out of fine-tuning) and compare the default model with --adapter: "
                                         "prompt_acc (nearest style centroid of real audio) and fad against the "
                                         "folder's real audio, next to prompt_acc_real and fad_floor.")
    es.add_argument("folder", help="folder of the style's audio with captions (e.g. from `corpus style`)")
    es.add_argument("--adapter", default=None, metavar="NAME", help="a fine-tuned adapter (lmdmlive finetune)")
    es.add_argument("--model", default=None, help="LMDM checkpoint (default: the shipped one)")
    es.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
    es.add_argument("--corpus", default="data/corpus", help="corpus whose held-out audio gives the other centroids")
    es.add_argument("--classifier", default=None, help=CLASSIFIER_HELP)
    es.add_argument("--encoder", default=None, help=ENCODER_HELP)
    es.add_argument("--clips", type=bounded(int, 1, 256, "a number of prompts"), default=12,
                    help="prompts taken from the folder (default 12), two seeds each")
    add_sampling_options(es)
    es.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    es.add_argument("--split", choices=EVAL_SPLITS, default="test", help=SPLIT_HELP)
    es.set_defaults(func=cmd_eval_style)
    eq = eval_sub.add_parser("quick", help="the shipped model's quick figures against those recorded beside it",
                             description="Evaluate the shipped model on the handful of test pieces named in "
                                         "lmdmlive/assets/quick_figures.json (rendered here, no corpus needed) and "
                                         "compare with the recorded figures; exit 1 if one is outside its tolerance. "
                                         "--write records them anew (when a new model ships).")
    eq.add_argument("--write", action="store_true", help="choose the pieces and record the figures")
    eq.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    eq.set_defaults(func=cmd_eval_quick)
    ed = eval_sub.add_parser("drift", help="minute-by-minute drift of long rollouts, before and after ARC-Forcing",
                             description="Roll several streams out for M minutes (default 30) through the cache, "
                                         "each stepping through a sequence of held-out prompts, and report per "
                                         "minute the Fréchet distances to real music of the split (encoder and "
                                         "log-mel), loudness, centroid, flatness, onset rate and prompt agreement; "
                                         "the last minute's distances over the first's; collapsed minutes.")
    ed.add_argument("--minutes", type=bounded(float, 0, 600, "minutes above 0", low_open=True), default=30.0)
    ed.add_argument("--model", default=None, help="the model before ARC-Forcing (default: the shipped one)")
    ed.add_argument("--after", default=None, help="the model after ARC-Forcing, measured on the same prompts and seeds")
    ed.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
    ed.add_argument("--corpus", default="data/corpus")
    ed.add_argument("--classifier", default=None, help=CLASSIFIER_HELP)
    ed.add_argument("--encoder", default=None, help=ENCODER_HELP)
    ed.add_argument("--prompts", type=bounded(int, 1, 64, "a number of prompts"), default=8,
                    help="held-out captions in the sequence the streams step through (default 8)")
    ed.add_argument("--streams", type=bounded(int, 1, 64, "a number of streams"), default=4,
                    help="streams rolled out together (default 4)")
    ed.add_argument("--change", type=bounded(float, 0, 600, "minutes above 0", low_open=True), default=2.0,
                    help="minutes between prompt changes (default 2)")
    ed.add_argument("--after-steps", type=steps_arg, default=None,
                    help="denoising steps for the --after model (default: --steps, else its card's)")
    ed.add_argument("--after-guidance", type=guidance_arg, default=None,
                    help="guidance for the --after model (default: --guidance, else its card's): a model post-trained "
                         "for fewer steps may play best at another scale, chosen on valid")
    ed.add_argument("--seed", type=bounded(int, 0, 2**31 - 1, "a seed from 0"), default=0)
    add_sampling_options(ed)
    ed.add_argument("--plot", default=None, metavar="PNG", help="also plot the minutes (e.g. docs/dev/drift.png)")
    ed.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    ed.add_argument("--float32", action="store_true", help=FLOAT32_HELP)
    ed.add_argument("--split", choices=EVAL_SPLITS, default="test", help=SPLIT_HELP)
    ed.set_defaults(func=cmd_eval_drift)
