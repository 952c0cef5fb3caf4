"""Resumable training state without pickles: weights, optimizer moments and counters.

    RUN/last.safetensors   model weights and Adam moments ("opt.<param>.exp_avg", ...)
    RUN/last.json          step, optimizer scalars, RNG seed position, config
    RUN/log.jsonl          one line per logged step (losses, seconds), appended; cut back to
                           the saved step when a killed run resumes (forget_lost_steps)
Written to temporary names and renamed, so a run killed mid-save resumes from the
previous save.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def save_state(run: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int, extra: dict) -> None:
    run.mkdir(parents=True, exist_ok=True)
    names = {id(p): n for n, p in model.named_parameters()}
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    scalars = {}
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p, {})
            for key, value in st.items():
                if torch.is_tensor(value) and value.dim() > 0:
                    tensors[f"opt.{names[id(p)]}.{key}"] = value.detach().contiguous().cpu()
                else:
                    scalars[f"{names[id(p)]}.{key}"] = float(value)
    tmp = run / "last.safetensors.tmp"
    save_file(tensors, str(tmp))
    tmp.replace(run / "last.safetensors")
    meta = dict(extra, step=step, optimizer_scalars=scalars, lr=[g["lr"] for g in opt.param_groups],
                betas=[list(g["betas"]) for g in opt.param_groups if "betas" in g])
    tmpj = run / "last.json.tmp"
    tmpj.write_text(json.dumps(meta, indent=1))
    tmpj.replace(run / "last.json")


def load_state(run: Path, model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict | None:
    """Restore in place and return the saved extra fields (with "step"), or None when there is no state."""
    if not (run / "last.safetensors").exists() or not (run / "last.json").exists():
        return None
    meta = json.loads((run / "last.json").read_text())
    tensors = load_file(str(run / "last.safetensors"))
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    params = dict(model.named_parameters())
    for name, p in params.items():
        st = {}
        s = {k.rsplit(".", 1)[1]: v for k, v in meta["optimizer_scalars"].items() if k.rsplit(".", 1)[0] == name}
        for key in ("exp_avg", "exp_avg_sq"):
            t = tensors.get(f"opt.{name}.{key}")
            if t is not None:
                st[key] = t.to(p.device)          # a run may resume on another device (--device)
            elif key in s:                        # a 0-dim parameter's moments were saved as scalars
                st[key] = torch.tensor(s[key], dtype=p.dtype, device=p.device)
        if "exp_avg" not in st and "exp_avg_sq" in st:
            # a lean carry of a run with beta1 = 0 leaves the first moment out: the next step
            # replaces it with that step's gradient whatever it held (train/carry.py)
            st["exp_avg"] = torch.zeros_like(p)
        if "step" in s:
            st["step"] = torch.tensor(s["step"])
        if st:
            opt.state[p] = st
    return meta


def append_log(run: Path, row: dict) -> None:
    with open(run / "log.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def forget_lost_steps(run: Path, step: int) -> None:
    """Cut RUN/log.jsonl back to the state a run resumes from (`step`).

    Why: a run killed between two saves has logged steps its state does not hold; it plays
    them again, and without the cut the log (and its curves) would hold those steps twice. A
    line the kill cut short goes too: `read_log` stops at it, so every row after it would be lost."""
    path = run / "log.jsonl"
    if not path.exists():
        return
    text = path.read_text()
    rows = read_log(run)
    kept = [r for r in rows if r.get("step", 0) <= step]
    if len(kept) == len(text.splitlines()) and text.endswith("\n"):
        return                                  # nothing lost, and no line cut short by the kill
    tmp = run / "log.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    tmp.replace(path)


def read_log(run: Path) -> list[dict]:
    path = run / "log.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows
