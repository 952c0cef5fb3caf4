"""A training run's state, made small enough to commit, so a long run survives a new machine.

Why: `runs/` and `data/` are not in git, and the machine that holds them can be replaced
between two sessions; the codec's and the model's multi-session runs were lost that way
twice. What the repository keeps is what lands on main, so a run in progress travels as a
*carry*: its weights in float32 (exact: the run resumes on the very model it saved), its
Adam moments in bfloat16 (a moment is a running average; 3 significant digits of it move
the next steps by far less than the batch noise does, and the float32 copy would double
the size), its `last.json` and its `log.jsonl` (the curves go on where they stopped).

    python -m lmdmlive.train.carry pack runs/codec_x .carry/codec_x
    python -m lmdmlive.train.carry pack --lean runs/lmdm_x .carry/lmdm_x
    python -m lmdmlive.train.carry unpack .carry/codec_x runs/codec_x

`--lean` is for the LMDM's runs, whose weights, EMA and two moments come to about 250 MB:
it keeps the weights and the EMA in float16 too. A float16 weight is within 2^-11 of its
value (relative; below 6e-5, within 6e-8), about one Adam step at the post-training
learning rates: the resumed run goes on from a point one step's noise away, once, which
costs nothing a batch does not. A tensor
float16 cannot hold (a value past its range) stays float32. A run whose optimizer has
beta1 = 0 (train arc's) leaves its first moments out: each is the last gradient, which
the next step overwrites whatever it held. Whatever the mode, a state
too large for one file (a git host refuses files over 100 MB) is written in parts, and
each tensor's own dtype is recorded, so `unpack` gives the run back the dtypes it saved.

`unpack` refuses to overwrite a run that already has a saved state: a run that is further
along on this machine is never replaced by an older carry.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

FILES = ("last.json", "log.jsonl")
MOMENT_DTYPE = torch.bfloat16
LEAN_WEIGHT_DTYPE = torch.float16
FLOAT16_LARGEST = 60_000.0
LARGE_FILE = 95_000_000
PART_BYTES = 90_000_000


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


def _parts(folder: Path) -> list[Path]:
    """A state's files in order: last.safetensors, then last.part2.safetensors, ..."""
    return [folder / "last.safetensors"] + sorted(folder.glob("last.part*.safetensors"),
                                                  key=lambda p: int(p.name.split(".")[1][4:]))


def _carried_dtype(key: str, value: torch.Tensor, lean: bool) -> torch.dtype:
    if not value.is_floating_point():
        return value.dtype
    if key.startswith("opt."):
        return MOMENT_DTYPE
    if lean and value.numel() and bool(torch.isfinite(value).all()) and float(value.abs().max()) < FLOAT16_LARGEST:
        return LEAN_WEIGHT_DTYPE
    return value.dtype


def _write_parts(tensors: dict[str, torch.Tensor], dst: Path, metadata: dict[str, str]) -> None:
    """Write TENSORS as last.safetensors (and last.partN.safetensors while they exceed PART_BYTES),
    each under a temporary name first."""
    parts, size = [{}], 0
    for key, value in tensors.items():
        nbytes = value.numel() * value.element_size()
        if parts[-1] and size + nbytes > PART_BYTES:
            parts.append({})
            size = 0
        parts[-1][key] = value
        size += nbytes
    dst.mkdir(parents=True, exist_ok=True)
    for old in dst.glob("last.part*.safetensors"):
        old.unlink()
    for i, part in enumerate(parts):
        name = "last.safetensors" if i == 0 else f"last.part{i + 1}.safetensors"
        tmp = dst / (name + ".tmp")
        save_file(part, str(tmp), metadata=metadata)
        tmp.replace(dst / name)


def _read_parts(src: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors, dtypes = {}, {}
    for part in _parts(src):
        tensors.update(load_file(str(part)))
        with safe_open(str(part), "pt") as f:
            dtypes.update(json.loads((f.metadata() or {}).get("dtypes", "{}")))
    return tensors, dtypes


def _first_moments_unused(state: Path) -> bool:
    """Whether every parameter group of the state's optimizer ran with beta1 = 0 (train arc's
    AdamW): its first moment is then the last gradient, which the next step overwrites."""
    betas = json.loads((state / "last.json").read_text()).get("betas")
    return bool(betas) and all(b[0] == 0 for b in betas)


def _pack_state(src: Path, dst: Path, lean: bool) -> None:
    tensors = load_file(str(src / "last.safetensors"))
    if lean and _first_moments_unused(src):
        tensors = {k: v for k, v in tensors.items() if not (k.startswith("opt.") and k.endswith(".exp_avg"))}
    dtypes = {k: str(v.dtype).removeprefix("torch.") for k, v in tensors.items()}
    out = {k: v.to(_carried_dtype(k, v, lean)) for k, v in tensors.items()}
    _write_parts(out, dst, {"dtypes": json.dumps(dtypes)})


def _unpack_state(src: Path, dst: Path) -> None:
    """Each tensor back in the dtype the run saved it in; a carry packed before dtypes were
    recorded had only its moments narrowed, and those go back to float32."""
    tensors, dtypes = _read_parts(src)
    out = {}
    for k, v in tensors.items():
        if k in dtypes:
            out[k] = v.to(getattr(torch, dtypes[k]))
        else:
            out[k] = v.float() if k.startswith("opt.") and v.is_floating_point() else v
    dst.mkdir(parents=True, exist_ok=True)
    tmp = dst / "last.safetensors.tmp"
    save_file(out, str(tmp))
    tmp.replace(dst / "last.safetensors")


def _packed_once(run: Path, out: Path, lean: bool) -> bool:
    """Pack every state of RUN into OUT; False when the run saved meanwhile (pack again)."""
    states = _states(run)
    before = {s: (s / "last.json").read_bytes() for s in states}
    for state in states:
        _pack_state(state, out / state.relative_to(run), lean)
    _copy_files(run, out)
    return all((s / "last.json").read_bytes() == before[s] for s in states) and _states(run) == states


def pack(run: Path, out: Path, lean: bool = False) -> Path:
    """Write RUN's saved states to OUT (a folder of the same shape), the Adam moments in
    bfloat16, the weights too in float16 when LEAN (module docstring).

    A run that is still training may save while it is read: then the weights of one step
    would travel with the counters of the next, so the pack is taken again until a
    save did not fall inside it. OUT is replaced whole, never merged with an older carry."""
    run, out = Path(run), Path(out)
    states = _states(run) if run.is_dir() else []
    if not states or not all((s / "last.json").exists() for s in states):
        raise FileNotFoundError(f"{run} has no saved state (last.safetensors and last.json)")
    if out.resolve() == run.resolve() or run.resolve() in out.resolve().parents:
        raise ValueError(f"{out} is inside the run it would carry ({run}); pack to another folder")
    tmp = out.with_name(out.name + ".packing")
    for _ in range(3):
        shutil.rmtree(tmp, ignore_errors=True)
        if _packed_once(run, tmp, lean):
            break
    else:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"{run} saved while it was packed, three times; stop the run and pack again")
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return out


def unpack(carry: Path, run: Path) -> Path:
    """Make RUN resumable from CARRY: the moments back in float32, beside the exact weights.
    Written beside RUN and moved in at the end, so an interrupted unpack leaves no half run."""
    carry, run = Path(carry), Path(run)
    if run.is_dir() and _states(run):
        raise FileExistsError(f"{run} already holds a saved state; move it away to resume from {carry}")
    states = _states(carry) if carry.is_dir() else []
    if not states or not all((s / "last.json").exists() for s in states):
        raise FileNotFoundError(f"{carry} is not a carry (no last.safetensors and last.json)")
    tmp = run.with_name(run.name + ".unpacking")
    shutil.rmtree(tmp, ignore_errors=True)
    _copy_files(carry, tmp)
    for state in states:
        _unpack_state(state, tmp / state.relative_to(carry))
    run.mkdir(parents=True, exist_ok=True)
    for item in tmp.iterdir():               # a run folder with no state (a log, a curve) takes the carry's
        target = run / item.name
        if target.is_dir():
            shutil.rmtree(target)
        item.replace(target)
    tmp.rmdir()
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmdmlive.train.carry", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("pack", "unpack"))
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--lean", action="store_true",
                        help="pack: the weights and EMA in float16 too (the LMDM's runs; module docstring)")
    args = parser.parse_args(argv)
    if args.lean and args.action != "pack":
        parser.error("--lean is for pack: unpack reads the dtypes the carry recorded")
    try:
        done = pack(args.source, args.dest, args.lean) if args.action == "pack" else unpack(args.source, args.dest)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as err:
        print(f"carry: {err}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in done.rglob("*") if f.is_file())
    print(f"{args.action}ed {args.source} -> {done} ({size / 1e6:.1f} MB)")
    big = [f for f in done.rglob("*") if f.is_file() and f.stat().st_size > LARGE_FILE] if args.action == "pack" else []
    for f in big:
        print(f"carry: {f} is {f.stat().st_size / 1e6:.0f} MB; a git host may refuse files over 100 MB",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
