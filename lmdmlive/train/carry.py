"""A training run's state, made small enough to commit, so a long run survives a new machine.

Why: `runs/` and `data/` are not in git, and the machine that holds them can be replaced
between two sessions; the codec's and the model's multi-session runs were lost that way
twice. What the repository keeps is what lands on main, so a run in progress travels as a
*carry*: its weights in float32 (exact: the run resumes on the very model it saved), its
Adam moments in bfloat16 (a moment is a running average; 3 significant digits of it move
the next steps by far less than the batch noise does, and the float32 copy would double
the size), its `last.json` and its `log.jsonl` (the curves go on where they stopped).

    python -m lmdmlive.train.carry pack runs/codec_x .carry/codec_x
    python -m lmdmlive.train.carry unpack .carry/codec_x runs/codec_x

`unpack` refuses to overwrite a run that already has a saved state: a run that is further
along on this machine is never replaced by an older carry.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

FILES = ("last.json", "log.jsonl")
MOMENT_DTYPE = torch.bfloat16


def _states(folder: Path) -> list[Path]:
    """The folders under FOLDER (itself included) that hold a saved state: a run keeps one,
    `train arc` one for its generator and one for its discriminator."""
    return sorted(p.parent for p in folder.rglob("last.safetensors"))


def _copy_files(src: Path, dst: Path) -> None:
    for path in src.rglob("*"):
        if path.name in FILES and path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _convert(src: Path, dst: Path, moments) -> None:
    tensors = load_file(str(src / "last.safetensors"))
    out = {k: (v.to(moments) if k.startswith("opt.") and v.is_floating_point() else v) for k, v in tensors.items()}
    dst.mkdir(parents=True, exist_ok=True)
    tmp = dst / "last.safetensors.tmp"
    save_file(out, str(tmp))
    tmp.replace(dst / "last.safetensors")


def pack(run: Path, out: Path) -> Path:
    """Write RUN's saved states to OUT (a folder of the same shape), the Adam moments in bfloat16."""
    run, out = Path(run), Path(out)
    states = _states(run) if run.is_dir() else []
    if not states or not all((s / "last.json").exists() for s in states):
        raise FileNotFoundError(f"{run} has no saved state (last.safetensors and last.json)")
    for state in states:
        _convert(state, out / state.relative_to(run), MOMENT_DTYPE)
    _copy_files(run, out)
    return out


def unpack(carry: Path, run: Path) -> Path:
    """Make RUN resumable from CARRY: the moments back in float32, beside the exact weights."""
    carry, run = Path(carry), Path(run)
    if run.is_dir() and _states(run):
        raise FileExistsError(f"{run} already holds a saved state; move it away to resume from {carry}")
    states = _states(carry) if carry.is_dir() else []
    if not states or not all((s / "last.json").exists() for s in states):
        raise FileNotFoundError(f"{carry} is not a carry (no last.safetensors and last.json)")
    _copy_files(carry, run)
    for state in states:                        # the weights last: a run is resumable only once all is there
        _convert(state, run / state.relative_to(carry), torch.float32)
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmdmlive.train.carry", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("pack", "unpack"))
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    try:
        done = (pack if args.action == "pack" else unpack)(args.source, args.dest)
    except (FileNotFoundError, FileExistsError) as err:
        print(f"carry: {err}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in done.rglob("*") if f.is_file())
    print(f"{args.action}ed {args.source} -> {done} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
