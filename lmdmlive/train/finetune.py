"""`lmdmlive finetune FOLDER -o NAME`: low-rank adapters on a performer's own audio.

The folder goes through `corpus add` (captions from folder and file names or
sidecar texts, the same sketch features), is encoded once, and the default model's
projections get rank-r adapters trained with the block-causal objective of `train
lmdm` on its windows, for a fixed wall-clock budget. Only the adapters are saved:
`NAME.safetensors` with a card naming the rank and the base model's hash, in the
adapters folder (`~/.lmdmlive/adapters`, or `$LMDMLIVE_ADAPTERS`), where the REPL
(`session.adapter("NAME")`) and `render --adapter NAME` find it by name.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..model import LMDM
from ..model.adapters import adapters_dir, write_card
from ..model.lora import adapter_state, add_adapters
from .corpus.add import add_folder
from .device import autocast, to_device, training_device
from .latents import LatentSplit, build_store, store_dir
from .lmdm_data import WindowSampler
from .lmdm_train import StageModule, stage_loss


def finetune(folder: Path, name: str, lmdm: LMDM, codec_path: Path, *, minutes: float = 8.0, rank: int = 8,
             alpha: float = 16.0, batch: int = 8, blocks: int = 8, lr: float = 1e-3, seed: int = 0,
             out_dir: Path | None = None, base_source: str = "", device: str = "cpu", progress=None,
             log=print) -> dict:
    where = training_device(device)
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ValueError(f"an adapter name is a plain file name, got {name!r}")
    out_dir = Path(out_dir) if out_dir else adapters_dir()
    work = out_dir / f"{name}.corpus"
    added = add_folder(folder, work, log=log)
    if added["added"] == 0:
        raise ValueError(f"{folder}: no readable audio to fine-tune on ({added['files']} files looked at)")
    build_store(work, codec_path, splits=("user",), log=log)
    split = LatentSplit(store_dir(work, codec_path), "user")
    cfg = lmdm.cfg
    longest = max(split.frames(i) for i in range(len(split)))
    blocks = max(1, min(blocks, longest // cfg.block_frames))
    torch.manual_seed(seed)
    params = add_adapters(lmdm, rank, alpha)
    sampler = WindowSampler(split, lmdm.latent_mean, lmdm.latent_std, cfg.block_frames, seed)   # on the CPU
    lmdm.to(where)
    lmdm.train()
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    net = StageModule(lmdm)
    gen = torch.Generator().manual_seed(seed)
    deadline = time.monotonic() + minutes * 60
    t0, step, losses = time.monotonic(), 0, []
    while time.monotonic() < deadline:
        x0, cond = to_device(sampler.batch(batch, blocks), where)
        with autocast(where):
            loss = stage_loss(net, "lmdm", x0, cond, gen, context_noise=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        losses.append(float(loss.detach()))
        if progress is not None:
            elapsed = time.monotonic() - t0
            progress(min(int(elapsed), int(minutes * 60)), int(minutes * 60))
    lmdm.cpu().eval()
    state = adapter_state(lmdm)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.safetensors"
    save_file(state, str(path))
    first = sum(losses[:20]) / max(1, len(losses[:20]))
    last = sum(losses[-20:]) / max(1, len(losses[-20:]))
    write_card(path, rank=rank, alpha=alpha, base=base_source, steps=step, seconds=round(time.monotonic() - t0, 1),
               audio_seconds=round(float(split.offsets[-1]) / cfg.frame_rate, 1), loss_first=first, loss_last=last)
    n = sum(t.numel() for t in state.values())
    log(f"{name}: {step} steps, loss {first:.3f} -> {last:.3f}, {n / 1e6:.2f}M adapter parameters -> {path}")
    return {"path": path, "steps": step, "loss_first": first, "loss_last": last, "params": n,
            "files": added["files"], "failed": added["failed"], "ok": math.isfinite(last)}
