"""`lmdmlive train base` and `lmdmlive train lmdm`: the diffusion model, resumable, logged, data-parallel.

Two stages, one loop:

- base: a bidirectional latent DiT. Windows of `blocks` blocks are noised to one
  level per item and denoised as a whole (`LMDM.forward_window`).
- lmdm: the block-causal clean-context form the instrument runs. Every block of a
  window is noised to its own level and denoised from the clean blocks before it,
  all blocks in one pass (`LMDM.forward_paired`). Started from a base run
  (`--init`), this is the conversion; started from nothing, it is the baseline the
  conversion is measured against.

Both predict the rectified-flow velocity (noise - clean), with noise levels drawn
from a logit-normal, conditions dropped at random (`lmdm_data`), AdamW, and an EMA
of the weights, which is what gets exported. Some steps use long windows (the whole
attention span of generation) so that the model has seen every distance it will
attend over; the batch shrinks to keep the work per step level.

Under `torchrun` the same command trains data-parallel (DistributedDataParallel;
gloo on CPU, nccl on GPU): every rank draws its own windows, rank 0 logs and saves,
and at the end the ranks check that their weights are identical.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model import LMDM, LMDMConfig, save_checkpoint
from ..model.checkpoint import read_card
from ..model.conditioning import sketch_units
from ..model.config import SKETCH_CURVES
from ..model.lmdm_growth import state_depth
from .device import autocast, to_device, training_device
from .latents import LatentSplit, build_store, store_dir
from .lmdm_data import WindowSampler
from .state import append_log, forget_lost_steps, load_state, read_log, save_state

STAGES = ("base", "lmdm")
EMA_DECAY = 0.999
LONG_SHARE = 0.25          # share of steps on windows as long as generation's attention span


class Pair(nn.Module):
    """The trained model and its EMA, saved and resumed together."""

    def __init__(self, model: LMDM):
        super().__init__()
        self.model = model
        self.ema = copy.deepcopy(model).requires_grad_(False)

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        for e, p in zip(self.ema.parameters(), self.model.parameters()):
            e.lerp_(p.detach(), 1.0 - decay)


def logit_normal(shape, generator, device=None) -> torch.Tensor:
    return torch.sigmoid(torch.randn(shape, generator=generator, device=generator.device)).to(device)


LOW_PITCH = 48.0
"""MIDI note under which a given pitch lane counts as low for `low_pitch_weights` (C3)."""


def low_pitch_weights(cond, weight: float) -> torch.Tensor | None:
    """Per-frame loss weights (B, T): `weight` where the pitch lane is given below C3, 1 elsewhere.

    Why: the model follows a pitch lane from C4 up at 0.92 of what the codec keeps, and below C3 at
    0.56, where most of a mix's pitch lane lies (its bass; docs/dev/training.md, "Where the pitch is
    missed"). Frames asked for a low note are the ones to fit harder. None when `weight` is 1.
    """
    if weight == 1.0 or cond.sketch is None or cond.sketch_mask is None:
        return None
    p = SKETCH_CURVES.index("pitch")
    low = (cond.sketch_mask[..., p] > 0) & (cond.sketch[..., p] < sketch_units("pitch", LOW_PITCH))
    return 1.0 + (weight - 1.0) * low.to(cond.sketch.dtype)


def stage_loss(model: nn.Module, stage: str, x0: torch.Tensor, cond, generator, context_noise: float = 0.0,
               frame_weight: torch.Tensor | None = None):
    """Flow-matching loss of one batch; `model` may be the DDP wrapper (its forward picks the stage).

    `frame_weight` (B, T): a weight per frame; the loss stays a weighted mean, so its scale does not move."""
    B, T, _ = x0.shape
    # drawn on the generator's (CPU) stream and moved: the same noise on any device
    noise = torch.randn(x0.shape, generator=generator, device=generator.device).to(x0.device)
    if stage == "base":
        t = logit_normal((B,), generator, x0.device)
        x_t = (1 - t[:, None, None]) * x0 + t[:, None, None] * noise
        v = model(stage, x_t, t, cond)
    else:
        bf = _module(model).cfg.block_frames
        t = logit_normal((B, T // bf), generator, x0.device)
        tf = t.repeat_interleave(bf, dim=1)[..., None]
        x_t = (1 - tf) * x0 + tf * noise
        clean = x0
        if context_noise:
            jitter = torch.randn(x0.shape, generator=generator, device=generator.device)
            clean = x0 + context_noise * jitter.to(x0.device)
        v = model(stage, x_t, t, cond, clean)
    if frame_weight is None:
        return F.mse_loss(v, noise - x0)
    per_frame = ((v - (noise - x0)) ** 2).mean(dim=-1)
    w = frame_weight.to(per_frame.dtype)
    return (per_frame * w).sum() / w.sum()


class StageModule(nn.Module):
    """One forward for both stages, so DistributedDataParallel wraps a single call."""

    def __init__(self, lmdm: LMDM):
        super().__init__()
        self.lmdm = lmdm
        self.cfg = lmdm.cfg

    def forward(self, stage, x_t, t, cond, clean=None):
        if stage == "base":
            return self.lmdm.forward_window(x_t, t, cond)
        return self.lmdm.forward_paired(clean, x_t, t, cond)


def _module(m):
    return m.module if hasattr(m, "module") else m


def _dist(asked: str = "cpu"):
    """(rank, world, device) -- a process group is set up when launched by torchrun, whose ranks each
    take their own GPU when there are GPUs (`asked` is then only checked)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    one = training_device(asked)
    if world == 1:
        return 0, 1, one
    import torch.distributed as dist
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() else torch.device("cpu")
    return rank, world, device


def weights_digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


GROWN_LR_SCALE = 5.0
"""Learning-rate factor for inputs grown onto a trained model (`LMDM.load_grown`).

They start at zero inside a network that already works, and the diffusion loss gives
them a faint, noisy gradient; at the common rate a new pitch encoding had moved
a sixth of what Adam allows in its first 200 steps.
"""


def _optimizer(model: nn.Module, lr: float, grown: list[str]) -> torch.optim.Optimizer:
    named = dict(model.named_parameters())
    groups = [{"params": [p for n, p in named.items() if n not in grown], "lr_scale": 1.0}]
    if grown:
        groups.append({"params": [named[n] for n in grown], "lr_scale": GROWN_LR_SCALE})
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), weight_decay=0.01)


def _lr(step: int, steps: int, lr: float, warmup: int = 300) -> float:
    warm = min(1.0, (step + 1) / warmup)
    return lr * warm * (0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, steps)))) + 0.1)


def plot_curve(run: Path, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = read_log(run)
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    steps = [r["step"] for r in rows]
    ax.plot(steps, [r["loss"] for r in rows], lw=0.8, alpha=0.6, label="train loss")
    held = [r for r in rows if "heldout_loss" in r]
    if held:
        ax.plot([r["step"] for r in held], [r["heldout_loss"] for r in held], "o-", ms=3, label="held-out loss (EMA)")
    ax.set_xlabel("step")
    ax.set_ylabel("flow-matching MSE")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@torch.no_grad()
def heldout_loss(model: LMDM, stage: str, batch, seed: int = 7) -> float:
    """Loss of the EMA weights on a fixed held-out batch with fixed noise: comparable across runs."""
    x0, cond = batch
    g = torch.Generator().manual_seed(seed)
    return float(stage_loss(StageModule(model), stage, x0, cond, g))


def train_lmdm(stage: str, corpus: Path, codec: Path, run: Path, *, steps: int, minutes: float | None = None,
               batch: int = 16, blocks: int = 8, lr: float = 4e-4, seed: int = 0, config: LMDMConfig = LMDMConfig(),
               init: Path | None = None, export: Path | None = None, save_every: int = 200,
               context_noise: float = 0.05, low_pitch_weight: float = 1.0, device: str = "cpu", progress=None,
               log=print) -> dict:
    """`low_pitch_weight`: the loss weight of frames whose pitch lane is given below C3 (`low_pitch_weights`)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {list(STAGES)}")
    if not 1.0 <= low_pitch_weight <= 100.0:
        raise ValueError(f"low_pitch_weight must be a number from 1 to 100, got {low_pitch_weight!r}")
    rank, world, device = _dist(device)
    torch.manual_seed(seed)
    torch.set_flush_denormal(True)
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    folder = store_dir(corpus, codec)
    if rank == 0:
        from ..progress import ProgressBar
        build_store(corpus, codec, log=log, progress=ProgressBar("encoding clips", 1, min_interval=2.0))
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
    train_split = LatentSplit(folder, "train")
    held_split = LatentSplit(folder, "heldout") if (folder / "heldout.safetensors").exists() else train_split
    if train_split.latents.shape[1] != config.latent_dim:
        raise ValueError(f"the codec's latents have {train_split.latents.shape[1]} channels, the model config "
                         f"{config.latent_dim}")
    mean, std = train_split.stats()

    pair = Pair(LMDM(config))
    saved = json.loads((run / "last.json").read_text()) if (run / "last.json").exists() else None
    grown = []
    if saved is None and init is not None:
        grown = _init_from(pair, init, config, log)
    elif saved is not None:
        grown = saved.get("grown", [])
    opt = _optimizer(pair.model, lr, grown)
    meta = load_state(run, pair, opt)
    step = meta["step"] if meta else 0
    if rank == 0:                     # the log is rank 0's
        forget_lost_steps(run, step)
    if meta:
        log(f"resuming {run} at step {step}")
    for m in (pair.model, pair.ema):
        m.latent_mean.copy_(mean)
        m.latent_std.copy_(std)
    pair.to(device)

    stage_module = StageModule(pair.model)
    net = stage_module
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(stage_module, device_ids=[device.index] if device.type == "cuda" else None,
                                      find_unused_parameters=stage == "base")

    sampler = WindowSampler(train_split, mean, std, config.block_frames, seed * 1000 + rank * 7919 + step)
    held = WindowSampler(held_split, mean, std, config.block_frames, 12345).batch(min(batch, 16), blocks)
    long_blocks = config.context_blocks + 1
    long_batch = max(1, batch * blocks // long_blocks)
    long_fits = _fits(train_split, long_blocks * config.block_frames)
    gen = torch.Generator().manual_seed(seed * 31 + rank + step)
    deadline = time.monotonic() + minutes * 60 if minutes else None
    t0 = time.monotonic()
    extra = {"stage": stage, "config": config.to_dict(), "seed": seed, "codec": read_card(codec)["sha256"],
             "init": str(init) if init else None, "world": world, "grown": grown,
             "low_pitch_weight": low_pitch_weight}
    pair.model.train()
    while step < steps and (deadline is None or time.monotonic() < deadline):
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, lr) * group["lr_scale"]
        long = stage == "lmdm" and long_fits and sampler.rng.random() < LONG_SHARE
        x0, cond = sampler.batch(long_batch if long else batch, long_blocks if long else blocks)
        if device.type != "cpu":
            x0, cond = x0.to(device), _cond_to(cond, device)
        with autocast(device):
            loss = stage_loss(net, stage, x0, cond, gen, context_noise if stage == "lmdm" else 0.0,
                              low_pitch_weights(cond, low_pitch_weight))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(pair.model.parameters(), 1.0))
        opt.step()
        pair.update_ema(min(EMA_DECAY, (1 + step) / (10 + step)))
        step += 1
        if rank == 0 and step % 25 == 0:
            row = {"step": step, "seconds": round(time.monotonic() - t0, 1), "lr": opt.param_groups[0]["lr"],
                   "loss": round(float(loss.detach()), 5), "grad_norm": round(grad_norm, 3), "long": bool(long)}
            if step % save_every == 0:
                row["heldout_loss"] = round(heldout_loss(pair.ema, stage, to_device(held, device)), 5)
            append_log(run, row)
        if rank == 0 and step % save_every == 0:
            save_state(run, pair, opt, step, extra)
            plot_curve(run, run / "curve.png", f"train {stage}")
        if progress is not None and rank == 0:
            progress(step, steps)
    result = {"step": step, "world": world}
    if rank == 0:
        save_state(run, pair, opt, step, extra)
        plot_curve(run, run / "curve.png", f"train {stage}")
        if export is not None:
            pair.ema.eval()
            save_checkpoint(pair.ema.cpu(), config, export, "lmdm",
                            extra={"stage": stage, "steps": step, "corpus": str(corpus),
                                   "codec_sha256": extra["codec"], "init": extra["init"]})
    if world > 1:
        result["replicas_identical"] = _check_replicas(pair, run, rank, world)
    return result


def _fits(split: LatentSplit, frames: int) -> bool:
    return any(split.frames(i) >= frames for i in range(len(split)))


def _cond_to(cond, device):
    from ..model import Conditions
    return Conditions(**{k: (v.to(device) if v is not None else None) for k, v in vars(cond).items()})


def _init_from(pair: Pair, init: Path, config: LMDMConfig, log) -> list[str]:
    """Start from a checkpoint (NAME) or another run's folder (its current weights).

    The source may predate inputs this config adds (`LMDM.load_grown`): those start at
    zero, and their parameter names are returned. It may have been trained on a narrower
    codec's latents: its channels are widened (`model.lmdm_growth.widened_latents`). It may
    be shallower than the config: silent blocks go on top (`model.lmdm_growth.deepened`).
    """
    init = Path(init)
    if init.is_dir():
        meta = json.loads((init / "last.json").read_text()) if (init / "last.json").exists() else None
        if meta is None:
            raise FileNotFoundError(f"{init}: no training state to start from")
        other = Pair(LMDM(LMDMConfig.from_dict(meta["config"], where=f"{init / 'last.json'}: config")))
        load_state(init, other, torch.optim.AdamW(other.model.parameters()))
        state = other.ema.state_dict()
    else:
        from ..model.checkpoint import load_checkpoint
        state = load_checkpoint(init, "lmdm", LMDMConfig, LMDM)[0].state_dict()
    narrow = state["in_proj.weight"].shape[1] if "in_proj.weight" in state else config.latent_dim
    depth = state_depth(state)
    grown = pair.model.load_grown(state)
    pair.ema.load_grown(state)
    log(f"starting from {init}" + (f"; new inputs start at zero: {sorted({k.rsplit('.', 1)[0] for k in grown})}"
                                   if grown else "")
        + (f"; latent channels widened from {narrow} to {config.latent_dim}, the new ones read and predicted "
           "as zero until trained" if narrow != config.latent_dim else "")
        + (f"; {config.n_layers - depth} silent blocks stacked on its {depth}" if config.n_layers > depth else ""))
    return grown


def _check_replicas(pair: Pair, run: Path, rank: int, world: int) -> bool:
    import torch.distributed as dist
    digest = weights_digest(pair.model)
    (run / f"replica-{rank}.json").write_text(json.dumps({"rank": rank, "world": world, "sha256": digest}))
    digests = [None] * world
    dist.all_gather_object(digests, digest)
    dist.barrier()
    return len(set(digests)) == 1


def small_config(**overrides) -> LMDMConfig:
    """A tiny model for tests and smoke runs of the commands."""
    base = LMDMConfig(d_model=64, n_layers=2, n_heads=4, block_frames=4, context_blocks=3)
    return replace(base, **overrides)

