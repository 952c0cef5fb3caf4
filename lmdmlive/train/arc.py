"""`lmdmlive train arc`: ARC-Forcing -- adversarial, relativistic-contrastive post-training on self-rollouts.

A long set drifts because at performance time the model continues its own output,
while it was trained to continue real audio. Here it is trained on its own output:

- Self-rollout: from a real context, the model generates K blocks one after another,
  each from the blocks it generated before, with a step count drawn per block, the
  way the engine runs it. Every step but the last of each block runs without
  gradients; the last step (a full denoise, as the ping-pong sampler does) carries
  them. The generated blocks become the next blocks' context detached, so memory
  stays that of one block.
- A discriminator (a small network over latent windows with a projection of the
  prompt, or as measured, the model's own trunk) scores a window given its prompt.
- Relativistic loss: the generator wants its rollout to score above the real
  continuation of the same context under the same prompt (softplus(-(D_fake - D_real)));
  the discriminator wants the opposite.
- Contrastive loss (discriminator): real audio with its own prompt must score above
  the same audio with another item's prompt, so the discriminator -- and through it
  the generator -- keeps caring what the prompt said.

The rollout uses `LMDM.forward_naive`, which computes exactly what the KV cache
computes (tested), because gradients do not flow through the cache's in-place ring.
"""
from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model import LMDM, Conditions, save_checkpoint
from ..model.audio_prompt import _ConvLayer
from ..model.sampler import timesteps
from .latents import LatentSplit, store_dir
from .state import append_log, load_state, save_state

STEP_CHOICES = (1, 2, 4)


class LatentDiscriminator(nn.Module):
    """Score of a latent window given its prompt: a conv trunk, a plain head and a projection term."""

    def __init__(self, latent_dim: int, style_dim: int = 384, width: int = 128, layers: int = 3):
        super().__init__()
        self.inp = nn.Linear(latent_dim, width)
        self.layers = nn.ModuleList(_ConvLayer(width) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 1)
        self.style = nn.Linear(style_dim, width)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for layer in self.layers:
            h = layer(h)
        h = self.norm(h).mean(dim=1)
        return self.head(h).squeeze(-1) + (self.style(style) * h).sum(-1) / h.shape[-1] ** 0.5


def rollout(model: LMDM, context: torch.Tensor, cond: Conditions, blocks: int, rng: random.Random) -> torch.Tensor:
    """K blocks generated from `context`, each from the ones before; gradients through each block's last step."""
    cfg = model.cfg
    B, bf = context.shape[0], cfg.block_frames
    history = context
    out = []
    for _ in range(blocks):
        ts = timesteps(rng.choice(STEP_CHOICES))
        ctx = history[:, -cfg.context_frames:] if history.shape[1] > cfg.context_frames else history
        x = torch.randn(B, bf, cfg.latent_dim)
        with torch.no_grad():
            for i in range(len(ts) - 2):
                t, t_next = ts[i], ts[i + 1]
                x0 = x - t * model.forward_naive(ctx, x, t.expand(B), cond)
                x = (1 - t_next) * x0 + t_next * torch.randn_like(x0)          # ping-pong: re-noise
        t = ts[-2]
        x0 = x - t * model.forward_naive(ctx, x, t.expand(B), cond)             # the step with gradients
        out.append(x0)
        history = torch.cat([history, x0.detach()], dim=1)
    return torch.cat(out, dim=1)


def relativistic(d_high: torch.Tensor, d_low: torch.Tensor) -> torch.Tensor:
    """softplus(-(d_high - d_low)): small when `d_high` clearly beats `d_low`."""
    return F.softplus(-(d_high - d_low)).mean()


def train_arc(corpus: Path, codec: Path, init: Path, run: Path, *, steps: int, minutes: float | None = None,
              batch: int = 4, context_blocks: int = 4, rollout_blocks: int = 4, lr_g: float = 2e-6,
              lr_d: float = 2e-5, contrastive: float = 1.0, seed: int = 0, export: Path | None = None,
              progress=None, log=print) -> dict:
    from ..model import LMDMConfig, load_checkpoint
    from .lmdm_data import WindowSampler

    torch.manual_seed(seed)
    rng = random.Random(seed)
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    gen = load_checkpoint(init, "lmdm", LMDMConfig, LMDM)[0]
    cfg = gen.cfg
    split = LatentSplit(store_dir(corpus, codec), "train")
    disc = LatentDiscriminator(cfg.latent_dim, cfg.style_dim)
    ema = copy.deepcopy(gen).requires_grad_(False)
    g_opt = torch.optim.AdamW(gen.parameters(), lr=lr_g, betas=(0.0, 0.99), weight_decay=0.0)
    d_opt = torch.optim.AdamW(disc.parameters(), lr=lr_d, betas=(0.0, 0.99), weight_decay=0.0)
    g_state = nn.ModuleDict({"model": gen, "ema": ema})
    meta = load_state(run / "generator", g_state, g_opt)
    load_state(run / "discriminator", disc, d_opt)
    step = meta["step"] if meta else 0
    if meta:
        log(f"resuming {run} at step {step}")
    sampler = WindowSampler(split, gen.latent_mean, gen.latent_std, cfg.block_frames, seed + step)
    total = context_blocks + rollout_blocks
    deadline = time.monotonic() + minutes * 60 if minutes else None
    t0 = time.monotonic()
    while step < steps and (deadline is None or time.monotonic() < deadline):
        x0, cond = sampler.batch(batch, total, drop=False)
        style = cond.style
        block_cond = Conditions(style=style)
        bf = cfg.block_frames
        context, real = x0[:, :context_blocks * bf], x0[:, context_blocks * bf:]
        gen.train()
        fake = rollout(gen, context, block_cond, rollout_blocks, rng)
        # discriminator: relativistic on (real, fake) + contrastive on (own prompt, another's)
        d_real, d_fake = disc(real, style), disc(fake.detach(), style)
        shuffled = style.roll(1, dims=0)
        d_loss = relativistic(d_real, d_fake) + contrastive * relativistic(d_real, disc(real, shuffled))
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        # generator: its rollout should beat the real continuation under the same prompt
        g_loss = relativistic(disc(fake, style), disc(real, style).detach())
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        torch.nn.utils.clip_grad_norm_(gen.parameters(), 1.0)
        g_opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), gen.parameters()):
                e.lerp_(p, 1e-2)
        step += 1
        row = {"step": step, "seconds": round(time.monotonic() - t0, 1), "d_loss": round(float(d_loss.detach()), 4),
               "g_loss": round(float(g_loss.detach()), 4), "d_real": round(float(d_real.detach().mean()), 4),
               "d_fake": round(float(d_fake.detach().mean()), 4)}
        append_log(run, row)
        if step % 25 == 0 or step == steps:
            save_state(run / "generator", g_state, g_opt, step, {"init": str(init)})
            save_state(run / "discriminator", disc, d_opt, step, {})
        if progress is not None:
            progress(step, steps)
    save_state(run / "generator", g_state, g_opt, step, {"init": str(init)})
    save_state(run / "discriminator", disc, d_opt, step, {})
    if export is not None:
        save_checkpoint(ema.eval(), cfg, export, "lmdm", extra={"stage": "arc", "steps": step, "init": str(init)})
    (run / "summary.json").write_text(json.dumps({"step": step}))
    return {"step": step}
