"""The `train` stages and `finetune`: the commands that make models from the corpus.

`add_training_commands` adds them to the one `lmdmlive` parser (cli/main.py).
"""
from __future__ import annotations

import argparse
import sys

from .args import DEVICE_HELP, CommandError, bounded, control_guidance_arg, device_arg
from .training_codec import add_codec_command


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

    device = device_arg(args)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    result = train_lmdm(args.stage, Path(args.corpus), Path(args.codec or DEFAULT_CODEC), Path(args.run),
                        steps=args.steps, minutes=args.minutes, batch=args.batch, blocks=args.blocks, lr=args.lr,
                        seed=args.seed, config=_model_config(args.config),
                        init=Path(args.init) if args.init else None,
                        export=Path(args.export) if args.export else None, device=device,
                        low_pitch_weight=args.low_pitch_weight,
                        progress=ProgressBar(f"{args.stage} steps", args.steps, min_interval=2.0),
                        log=lambda msg: print(msg, file=sys.stderr, flush=True))
    line = f"{args.stage} at step {result['step']}; state in {args.run}"
    if "replicas_identical" in result:
        line += f"; {result['world']} replicas identical: {result['replicas_identical']}"
    print(line + (f", exported to {args.export}" if args.export else ""))
    return 0


def step_list_arg(text: str) -> tuple[int, ...]:
    """'1,2' -> (1, 2): the step counts a rollout draws from."""
    try:
        steps = tuple(int(x) for x in text.split(","))
    except ValueError:
        steps = ()
    if not steps or any(not 1 <= n <= 64 for n in steps):
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of step counts from 1 to 64, e.g. 1,2")
    return steps


def cmd_train_arc(args) -> int:
    from pathlib import Path

    from ..model.default import DEFAULT_CODEC
    from ..model.generate import SKETCH_GUIDANCE
    from ..progress import ProgressBar
    from ..train.arc import train_arc

    device = device_arg(args)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    r = train_arc(Path(args.corpus), Path(args.codec or DEFAULT_CODEC), Path(args.init), Path(args.run),
                  steps=args.steps, minutes=args.minutes, batch=args.batch, rollout_blocks=args.rollout,
                  lr_g=args.lr, lr_d=args.lr_disc, discriminator=args.disc, grad_blocks=args.grad_blocks,
                  anchor=args.anchor, warmup_blocks=args.warmup, disc_steps=args.disc_steps,
                  step_choices=args.rollout_steps, guidance=args.guidance, sampler=args.sampler,
                  rollout_conditions=args.rollout_conditions, disc_conditions=args.disc_conditions,
                  grad_branch=args.grad_branch, contrastive=args.contrastive, lane_contrastive=args.lane_contrastive,
                  lane_loss=args.lane_loss, lane_probe=Path(args.lane_probe) if args.lane_probe else None,
                  heard_lanes=args.heard_lanes, heard_level=args.heard_level, distill=args.distill,
                  teacher_steps=args.teacher_steps,
                  teacher_guidance=args.teacher_guidance,
                  sketch_guidance=SKETCH_GUIDANCE if args.sketch_guidance is None else args.sketch_guidance,
                  teacher_sketch_guidance=args.teacher_sketch_guidance,
                  export=Path(args.export) if args.export else None,
                  device=device,
                  progress=ProgressBar("arc steps", args.steps, min_interval=2.0),
                  log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"arc at step {r['step']}; state in {args.run}" + (f", exported to {args.export}" if args.export else ""))
    return 0


def cmd_train_audio_model(args) -> int:
    from pathlib import Path

    from ..model.default import DEFAULT_CODEC
    from ..progress import ProgressBar
    from ..train.audio_models import train_audio_models

    device = device_arg(args)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    result = train_audio_models(args.what, Path(args.corpus), Path(args.codec or DEFAULT_CODEC), Path(args.run),
                                steps=args.steps, minutes=args.minutes, batch=args.batch, lr=args.lr, seed=args.seed,
                                export=Path(args.export) if args.export else None, device=device,
                                progress=ProgressBar(f"{args.what} steps", args.steps, min_interval=2.0),
                                log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"{args.what} at step {result.pop('step')}: " + ", ".join(f"{k} {v}" for k, v in result.items()))
    return 0


def cmd_train_pack(args) -> int:
    from pathlib import Path

    from ..model import Codec, CodecConfig, LMDM, LMDMConfig, load_checkpoint, save_checkpoint
    from ..model.checkpoint import checkpoint_paths, read_card

    builders = {"lmdm": (LMDMConfig, LMDM), "codec": (CodecConfig, Codec)}
    card = read_card(args.source)
    if card["kind"] not in builders:
        raise CommandError(f"{args.source}: a {card['kind']!r} checkpoint; pack takes {sorted(builders)}")
    module, config, card = load_checkpoint(args.source, card["kind"], *builders[card["kind"]])
    extra = dict(card.get("extra", {}), packed_from=Path(args.source).name, source_sha256=card["sha256"])
    save_checkpoint(module, config, args.out, card["kind"], extra=extra, half=not args.float32)
    weights = checkpoint_paths(args.out)[0]
    print(f"{card['kind']} {args.source} -> {args.out} ({'float32' if args.float32 else 'float16'}, "
          f"{weights.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_finetune(args) -> int:
    from pathlib import Path

    from ..model.default import DEFAULT_CODEC, load_default
    from ..progress import ProgressBar
    from ..train.finetune import finetune

    if not Path(args.folder).is_dir():
        raise CommandError(f"{args.folder}: not a folder")
    device = device_arg(args)
    bundle = load_default(args.model, args.codec)
    result = finetune(Path(args.folder), args.output, bundle.lmdm, Path(args.codec or DEFAULT_CODEC),
                      minutes=args.minutes, rank=args.rank, out_dir=Path(args.dir) if args.dir else None,
                      base_source=bundle.source, device=device,
                      progress=ProgressBar("fine-tuning (seconds)", 1, min_interval=2.0),
                      log=lambda msg: print(msg, file=sys.stderr, flush=True))
    for path, why in result["failed"]:
        print(f"  skipped {path}: {why}")
    print(f"adapter {args.output}: {result['steps']} steps, loss {result['loss_first']:.3f} -> "
          f"{result['loss_last']:.3f}, {result['params'] / 1e6:.2f}M parameters, {result['path']}")
    return 0


def add_training_commands(sub) -> None:
    train = sub.add_parser("train", help="training stages (resumable)")
    train_sub = train.add_subparsers(dest="train_command", metavar="STAGE", required=True)
    add_codec_command(train_sub)

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
        tl.add_argument("--steps", type=bounded(int, 1, 10**7, "a number of steps"), default=40000,
                        help="total steps of the schedule (default 40000)")
        tl.add_argument("--minutes", type=bounded(float, 0, 10**5, "minutes above 0", low_open=True), default=None,
                        help="stop after this many minutes (the run resumes later)")
        tl.add_argument("--batch", type=bounded(int, 1, 4096, "a batch size"), default=16, help="windows per step")
        tl.add_argument("--blocks", type=bounded(int, 1, 256, "a number of blocks"), default=8,
                        help="blocks per training window (default 8)")
        tl.add_argument("--lr", type=bounded(float, 0, 1, "a learning rate", low_open=True), default=4e-4)
        tl.add_argument("--seed", type=int, default=0)
        tl.add_argument("--init", default=None, help="start from a checkpoint or a run folder when RUN holds no state")
        tl.add_argument("--export", default=None, help="also write the EMA weights as a checkpoint (NAME)")
        tl.add_argument("--config", default=None, metavar="JSON",
                        help="model config as a JSON file or inline JSON object (default: the shipped size)")
        tl.add_argument("--threads", type=bounded(int, 1, 256, "a thread count"), default=None,
                        help="CPU threads for torch (default: all cores)")
        tl.add_argument("--device", default="cpu", help=DEVICE_HELP)
        tl.add_argument("--low-pitch-weight", type=bounded(float, 1, 100, "a weight from 1 to 100"), default=1.0,
                        help="loss weight of frames whose pitch lane is given below C3, where a mix's bass "
                             "line lies (default 1: every frame alike)")
        tl.set_defaults(func=cmd_train_lmdm, stage=stage)

    tp = train_sub.add_parser("pack", help="store a trained checkpoint compactly (float16) for shipping",
                              description="Check SOURCE (an lmdm or codec checkpoint) and write it to OUT with float "
                                          "parameters stored as float16: half the size, loaded back into float32. "
                                          "How the shipped default in lmdmlive/assets/ is written.")
    tp.add_argument("source", help="checkpoint to pack (NAME, as training's --export wrote it)")
    tp.add_argument("--out", required=True, help="where to write it (NAME), e.g. lmdmlive/assets/lmdm")
    tp.add_argument("--float32", action="store_true", help="keep float32 (a checked copy)")
    tp.set_defaults(func=cmd_train_pack)

    ar = train_sub.add_parser("arc", help="ARC-Forcing: adversarial post-training on the model's own rollouts",
                              description="Roll the model out over several blocks on its own output and train it "
                                          "with a relativistic adversarial loss against real continuations plus a "
                                          "contrastive prompt loss in the discriminator; resumes from RUN.")
    ar.add_argument("--init", required=True, help="the LMDM checkpoint to post-train")
    ar.add_argument("--corpus", default="data/corpus")
    ar.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
    ar.add_argument("--run", "--run-dir", dest="run", default="runs/arc")
    ar.add_argument("--steps", type=bounded(int, 1, 10**7, "a number of steps"), default=2000)
    ar.add_argument("--minutes", type=bounded(float, 0, 10**5, "minutes above 0", low_open=True), default=None)
    ar.add_argument("--batch", type=bounded(int, 2, 1024, "a batch size"), default=4)
    ar.add_argument("--rollout", type=bounded(int, 1, 64, "a number of blocks"), default=4,
                    help="blocks rolled out per step (default 4)")
    ar.add_argument("--lr", type=bounded(float, 0, 1, "a learning rate above 0", low_open=True), default=1e-5,
                    help="the generator's learning rate (default 1e-5)")
    ar.add_argument("--lr-disc", type=bounded(float, 0, 1, "a learning rate above 0", low_open=True), default=1e-4,
                    help="the discriminator's learning rate (default 1e-4)")
    ar.add_argument("--disc", choices=("trunk", "latent"), default="trunk",
                    help="discriminator: heads on the frozen model trunk (default) or a small latent network")
    ar.add_argument("--grad-blocks", choices=("last", "all"), default="last",
                    help="gradients through each block's own last step only (default) or through the "
                         "context later blocks read too")
    weight = bounded(float, 0, 100, "a weight of 0 or more")
    ar.add_argument("--anchor", type=weight, default=1.0,
                    help="weight of the flow-matching loss on real windows beside the adversarial one (default 1)")
    ar.add_argument("--warmup", type=bounded(int, 0, 256, "a number of blocks"), default=16,
                    help="at most this many blocks generated through the cache before the rolled-out ones "
                         "(drawn per step; default 16)")
    ar.add_argument("--disc-steps", type=bounded(int, 1, 16, "a number of updates from 1 to 16"), default=1,
                    help="discriminator updates per generator update, each with fresh noise (default 1)")
    ar.add_argument("--rollout-steps", type=step_list_arg, default=(1, 2, 4), metavar="N,N,...",
                    help="denoising step counts a rolled-out block is sampled with, one drawn per block "
                         "(default 1,2,4; 1,2 trains for a two-step instrument)")
    ar.add_argument("--guidance", type=bounded(float, 0, 20, "a guidance scale from 0 to 20"), default=1.0,
                    help="classifier-free guidance inside the rollout (default 1: none; the instrument plays at 2)")
    ar.add_argument("--sampler", choices=("euler", "pingpong"), default="pingpong",
                    help="the few-step sampler inside the rollout: the engine's Euler, or ping-pong (default)")
    ar.add_argument("--rollout-conditions", choices=("style", "window", "mixed"), default="window",
                    help="what rollouts are played under: the prompt alone (style), with the real continuation's "
                         "sketch curves and arrangement, each dropped at random (window, the default), or half of "
                         "them under the prompt alone and half as window (mixed)")
    ar.add_argument("--disc-conditions", choices=("prompt", "lanes"), default="prompt",
                    help="what the trunk discriminator reads a window under: its prompt (default), or the prompt "
                         "with the sketch and arrangement the rollout was played under")
    ar.add_argument("--grad-branch", choices=("every", "conditioned"), default="every",
                    help="which guidance branches a guided rollout's gradient goes through: every one, weighted by "
                         "its scale (default), or the fully conditioned one alone")
    for flag, default, what in (
            ("--contrastive", 1.0, "weight of the discriminator's prompt-swapped (contrastive) term beside the "
                                   "real/fake one (default 1)"),
            ("--lane-contrastive", 0.0, "weight of the discriminator's lane-swapped term: real audio under its own "
                                        "sketch and arrangement above the same audio under another item's "
                                        "(default 0, off; needs --disc-conditions lanes)"),
            ("--lane-loss", 0.0, "weight of the distance between the lanes a lane probe reads back from each "
                                 "rollout and the lanes it was played under (default 0, off; needs --lane-probe)"),
            ("--heard-lanes", 0.0, "add this weight times how far the rollout's decoded audio (loudness, centroid, "
                                   "YIN at the lane's period) is from the lanes it was played under (default 0, off)"),
            ("--heard-level", 0.0, "add this weight times how far the level of the rollout's decoded audio is from "
                                   "its loudness lane, one number per item (default 0, off)"),
            ("--distill", 0.0, "add this weight times the squared distance from each rollout block to the block "
                               "the --init model plays from the same noise and context in --teacher-steps Euler "
                               "steps (default 0, off; needs --sampler euler)")):
        ar.add_argument(flag, type=weight, default=default, help=what)
    ar.add_argument("--teacher-steps", type=bounded(int, 1, 64, "a step count from 1 to 64"), default=4,
                    help="the teacher's Euler steps for --distill (default 4)")
    ar.add_argument("--teacher-guidance", type=bounded(float, 0, 20, "a guidance scale from 0 to 20"), default=None,
                    help="the teacher's prompt guidance for --distill (default: the rollout's --guidance); more "
                         "guidance buys prompt adherence at many steps")
    ar.add_argument("--sketch-guidance", type=control_guidance_arg, default=None,
                    help="the sketch's own guidance scale inside the rollout (default 4, the instrument's); roll "
                         "out at the scale the model will be played at")
    ar.add_argument("--teacher-sketch-guidance", type=control_guidance_arg, default=None,
                    help="the teacher's sketch scale for --distill (default: --sketch-guidance)")
    ar.add_argument("--lane-probe", default=None,
                    help="lane probe checkpoint for --lane-loss (python -m lmdmlive.train.lane_probe makes one)")
    ar.add_argument("--export", default=None, help="also write the EMA generator as a checkpoint (NAME)")
    ar.add_argument("--threads", type=bounded(int, 1, 256, "a thread count"), default=None)
    ar.add_argument("--device", default="cpu", help=DEVICE_HELP)
    ar.set_defaults(func=cmd_train_arc)

    for what, desc in (("audio-prompt", "the audio-prompt encoder: clips into the MiniLM text space (contrastive)"),
                       ("classifier", "the attribute classifier (style family, tempo bucket, lead instrument "
                                      "family) that `eval model` measures generated audio with")):
        ta = train_sub.add_parser(what, help=f"train {desc}", description=f"Train {desc}, on 5 s windows of the "
                                  "corpus's codec latents; resumes from RUN when stopped.")
        ta.add_argument("--corpus", default="data/corpus", help="corpus folder (default data/corpus)")
        ta.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
        ta.add_argument("--run", "--run-dir", dest="run", default=f"runs/{what}", help=f"run folder (default runs/{what})")
        ta.add_argument("--steps", type=bounded(int, 1, 10**7, "a number of steps"), default=3000)
        ta.add_argument("--minutes", type=bounded(float, 0, 10**5, "minutes above 0", low_open=True), default=None)
        ta.add_argument("--batch", type=bounded(int, 2, 4096, "a batch size"), default=64)
        ta.add_argument("--lr", type=bounded(float, 0, 1, "a learning rate", low_open=True), default=1e-3)
        ta.add_argument("--seed", type=int, default=0)
        ta.add_argument("--export", default=None, help="also write the model as a checkpoint (NAME)")
        ta.add_argument("--threads", type=bounded(int, 1, 256, "a thread count"), default=None)
        ta.add_argument("--device", default="cpu", help=DEVICE_HELP)
        ta.set_defaults(func=cmd_train_audio_model, what=what)

    ft = sub.add_parser("finetune", help="low-rank adapters on a folder of your own audio",
                        description="Fine-tune the default model on FOLDER (any audio soundfile reads; captions from "
                                    "folder and file names or sidecar .txt files) with low-rank adapters, for a "
                                    "fixed time; the adapter loads by name: render --adapter NAME, "
                                    "session.adapter('NAME').")
    ft.add_argument("folder", help="folder of audio files")
    ft.add_argument("-o", "--output", required=True, metavar="NAME", help="adapter name")
    ft.add_argument("--minutes", type=bounded(float, 0, 600, "minutes above 0", low_open=True), default=8.0,
                    help="training time (default 8)")
    ft.add_argument("--rank", type=bounded(int, 1, 256, "a rank"), default=8)
    ft.add_argument("--model", default=None, help="base LMDM checkpoint (default: the shipped one)")
    ft.add_argument("--codec", default=None, help="codec checkpoint (default: the shipped one)")
    ft.add_argument("--dir", default=None, help="adapters folder (default ~/.lmdmlive/adapters or $LMDMLIVE_ADAPTERS)")
    ft.add_argument("--device", default="cpu", help=DEVICE_HELP)
    ft.set_defaults(func=cmd_finetune)
