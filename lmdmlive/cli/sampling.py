"""`lmdmlive sampling NAME`: read or set how a checkpoint plays by default.

The step count, prompt guidance and sketch scale are chosen on `valid` for each model
(docs/dev/training.md) and written into its card, so every command plays the model the
way it was measured (model/sampling.py).
"""
from __future__ import annotations

from .args import control_guidance_arg, guidance_arg, steps_arg


def cmd_sampling(args) -> int:
    from dataclasses import asdict

    from ..model.checkpoint import read_card
    from ..model.default import require_checkpoint
    from ..model.sampling import read_sampling, write_sampling

    path = require_checkpoint(args.checkpoint, "LMDM")
    kind = read_card(path)["kind"]
    if kind != "lmdm":
        raise ValueError(f"{args.checkpoint}: holds a {kind!r} checkpoint; sampling defaults belong to an LMDM's card")
    given = {"steps": args.steps, "guidance": args.guidance, "sketch_guidance": args.sketch_guidance}
    writing = any(v is not None for v in given.values())
    chosen = write_sampling(path, **given) if writing else read_sampling(path)
    print(f"{args.checkpoint}: {'now plays' if writing else 'plays'} at "
          + ", ".join(f"{k} {v:g}" for k, v in asdict(chosen).items()))
    return 0


def add_sampling_command(sub) -> None:
    sp = sub.add_parser("sampling", help="read or set how an LMDM checkpoint plays by default",
                        description="With no option, print the checkpoint's sampling defaults (steps, guidance, "
                                    "sketch guidance). With options, write them into its card (the weights are "
                                    "untouched). Choose them on the valid split.")
    sp.add_argument("checkpoint", help="LMDM checkpoint (NAME, NAME.json or NAME.safetensors)")
    sp.add_argument("--steps", type=steps_arg, default=None, help="denoising steps per block")
    sp.add_argument("--guidance", type=guidance_arg, default=None, help="prompt guidance")
    sp.add_argument("--sketch-guidance", type=control_guidance_arg, default=None,
                    help="the sketch's own guidance scale")
    sp.set_defaults(func=cmd_sampling)
