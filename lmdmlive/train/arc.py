"""`lmdmlive train arc`: ARC-Forcing -- adversarial, relativistic-contrastive post-training on self-rollouts.

A long set drifts because at performance time the model continues its own output,
while it was trained to continue real audio. Here it is trained on its own output:

- Self-rollout: from a real context, the model first generates a random number of
  warm-up blocks through the KV cache, exactly as the engine does (guided, without
  gradients), so that the context it then continues is partly or wholly its own. It
  then generates K blocks one after another, each from the blocks before, with a step
  count drawn per block from `step_choices` (1,2 trains the two-step instrument the
  method promises). Each block is sampled with the few-step sampler inside the loop:
  the engine's Euler or ping-pong, with classifier-free guidance when `guidance` is
  not 1 and the sketch's own scale (`sketch_guidance`: the one it will be played at), so
  that what is judged is what would be heard. (Moving both to the scale two steps are
  read at did not by itself change what they lose: docs/dev/training.md, run 22.) Every
  step but the last of
  each block runs without gradients; the last (a full denoise to the clean block)
  carries them. With `grad_blocks="last"` each generated block enters the next one's context
  detached (memory of one block); with "all" the gradient also flows through the
  context the later blocks read.
- A discriminator scores a window given its prompt. "trunk" (the default, as measured:
  the first run's small latent network stayed at chance for 883 steps) reads the
  frozen trunk of the model being post-trained at a light noise level, with small
  trainable heads; "latent" is a small conv network over the latents.
- Relativistic loss: the generator wants its rollout to score above a real window of
  the same clip under the same prompt (softplus(-(D_fake - D_real))); the
  discriminator wants the opposite.
- Contrastive loss (discriminator): real audio with its own prompt must score above
  the same audio with another item's prompt, so the discriminator -- and through it
  the generator -- keeps caring what the prompt said. Optionally (`lane_contrastive`)
  the same for the sketch and arrangement: real audio under its own lanes above the
  same audio under another item's (`arc_lanes.py`: what rollouts are played and read under).
- Distillation (`distill`): the init, frozen, plays each rollout block again from the same
  context, conditions and noise in `teacher_steps` Euler steps; the squared distance to it is
  a target for every latent of what the few-step rollout should have played. The teacher
  may play at a prompt guidance and a sketch scale of its own (`teacher_guidance`,
  `teacher_sketch_guidance`), so that the target need
  not be played as the rollout is (at eight steps, more guidance buys prompt adherence and
  costs loudness; what that did to a student is in docs/dev/training.md, runs 19 to 21).
- Anchor: the block-causal flow-matching loss of `train lmdm` on real windows, weighted
  by `anchor`, so that the adversarial signal corrects the model rather than replacing
  what it learned (the first run, without it, lost its prompt and 7.5 dB of loudness).

The grad-carrying rollout uses `LMDM.forward_naive`, which computes exactly what the KV
cache computes (tested), because gradients do not flow through the cache's in-place ring.
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

from ..model import LMDM, Conditions, generate_block, load_codec, save_checkpoint
from ..model.generate import CONTROL_GUIDANCE, SKETCH_GUIDANCE
from ..model.sampler import timesteps
from .arc_disc import TRUNK_NOISE, LatentDiscriminator, TrunkDiscriminator
from .arc_lanes import BARE_SHARE, block_conditions, swapped_lanes, window_conditions
from .arc_options import GRAD_BLOCKS, ROLLOUT_SAMPLERS, STEP_CHOICES, check_arc_options
from .arc_velocity import cached_velocity, guided_velocity, teacher_block
from .device import training_device
from .heard_lanes import heard_lane_loss, heard_level_loss
from .lane_probe import lane_loss as probe_lane_loss, load_lane_probe
from .latents import LatentSplit, build_store, store_dir
from .lmdm_train import StageModule, stage_loss
from .state import append_log, forget_lost_steps, load_state, read_log, save_state

@torch.no_grad()
def warm_history(model: LMDM, context: torch.Tensor, style: torch.Tensor, blocks: int, seed: int,
                 steps: int = 4, guidance: float = 2.0) -> torch.Tensor:
    """`context` followed by `blocks` blocks the model generated through its KV cache, as the engine runs it."""
    if blocks == 0:
        return context
    B, bf = context.shape[0], model.cfg.block_frames
    caches = [model.new_cache(1) for _ in range(B)]
    for i in range(context.shape[1] // bf):
        model.append(caches, context[:, i * bf:(i + 1) * bf])
    cond = Conditions(style=style)
    out = [context]
    for _ in range(blocks):
        out.append(generate_block(model, caches, cond, [seed + i for i in range(B)], steps=steps, guidance=guidance,
                                  control_guidance=None))
    return torch.cat(out, dim=1)


def rollout(model: LMDM, context: torch.Tensor, cond, blocks: int, rng: random.Random,
            grad_blocks: str = "last", step_choices: tuple[int, ...] = STEP_CHOICES, guidance: float = 1.0,
            sampler: str = "euler", noise=None, control_guidance: float | None = None,
            sketch_guidance: float | None = None, grad_branch: str = "every", watch=None) -> torch.Tensor:
    """K blocks generated from `context`, each from the ones before; gradients through each block's last step.

    Each block is sampled as the instrument samples it: `sampler` ("euler", the engine's,
    or "pingpong") over a step count drawn from `step_choices`, with `guidance` (and the
    arrangement's and sketch's own scales) inside the loop, so what the discriminator
    judges is what a performer would hear at those steps. `cond` is one Conditions for
    every block, or a function of the block number giving each its own (the sketch of
    the frames it covers). grad_blocks: "last" feeds each block to the next one's context
    detached; "all" keeps the graph, so a block's gradient also reaches the blocks it
    continued. noise(k, shape): block k's starting noise (default: fresh from torch's generator).
    grad_branch: which guidance branches the gradient goes through (`guided_velocity`).
    watch(k, ctx, cond, x): told each block's context, conditions and starting noise before it is
    sampled (a teacher plays the same block from them).
    """
    if grad_blocks not in GRAD_BLOCKS:
        raise ValueError(f"grad_blocks must be one of {GRAD_BLOCKS}, got {grad_blocks!r}")
    if sampler not in ROLLOUT_SAMPLERS:
        raise ValueError(f"sampler must be one of {ROLLOUT_SAMPLERS}, got {sampler!r}")
    cfg = model.cfg
    B, bf = context.shape[0], cfg.block_frames
    cond_of = cond if callable(cond) else (lambda k: cond)
    history = context
    out = []
    for k in range(blocks):
        ts = timesteps(rng.choice(step_choices))
        ctx = history[:, -cfg.context_frames:] if history.shape[1] > cfg.context_frames else history
        block_cond = cond_of(k)
        # the steps before the last carry no gradient: they play through the cache, as the engine does
        fast = cached_velocity(model, ctx.detach(), block_cond, guidance, control_guidance, sketch_guidance) \
            if ctx.shape[1] % bf == 0 and (len(ts) > 2 or grad_branch == "conditioned") else None
        velocity = guided_velocity(model, ctx, block_cond, guidance, control_guidance, sketch_guidance, grad_branch,
                                   detached=fast)
        free_step = velocity if fast is None else fast
        x = torch.randn(B, bf, cfg.latent_dim) if noise is None else noise(k, (B, bf, cfg.latent_dim))
        if watch is not None:
            watch(k, ctx.detach(), block_cond, x)
        with torch.no_grad():
            for i in range(len(ts) - 2):
                t, t_next = ts[i], ts[i + 1]
                v = free_step(x, t)
                if sampler == "euler":
                    x = x + (t_next - t) * v
                else:                                               # ping-pong: denoise, re-noise
                    x = (1 - t_next) * (x - t * v) + t_next * torch.randn_like(x)
        t = ts[-2]
        x0 = x - t * velocity(x, t)            # the last step, to the clean block, carries the gradients
        out.append(x0)
        history = torch.cat([history, x0 if grad_blocks == "all" else x0.detach()], dim=1)
    return torch.cat(out, dim=1)


def relativistic(d_high: torch.Tensor, d_low: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """softplus(-(d_high - d_low)): small when `d_high` clearly beats `d_low`. `weight`: per item,
    a mean over the items it counts (items of weight 0 say nothing)."""
    loss = F.softplus(-(d_high - d_low))
    if weight is None:
        return loss.mean()
    return (loss * weight).sum() / weight.sum().clamp(min=1.0)


def plot_arc_curve(run: Path, path: Path, window: int = 25) -> None:
    """Moving averages of the log: whether the discriminator tells rollouts from real audio, and the anchor."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    rows = read_log(run)
    if len(rows) < 2:
        return
    steps = np.array([r["step"] for r in rows])
    w = min(window, len(rows))

    def smooth(key):
        return np.convolve([r.get(key, 0.0) for r in rows], np.ones(w) / w, mode="valid")

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), dpi=120)
    axes[0].plot(steps[w - 1:], smooth("d_loss"), label="discriminator")
    axes[0].plot(steps[w - 1:], smooth("g_loss"), label="generator (adversarial)")
    axes[0].axhline(2 * np.log(2), color="grey", ls="--", lw=0.8, label="2 ln 2 (chance)")
    axes[1].plot(steps[w - 1:], smooth("d_acc"))
    axes[1].axhline(0.5, color="grey", ls="--", lw=0.8)
    axes[2].plot(steps[w - 1:], smooth("anchor"), label="anchor (flow matching)")
    for key, label in (("lanes", "lanes read back from rollouts"), ("heard", "lanes heard in decoded rollouts"),
                       ("level", "loudness lane's level, heard"),
                       ("distill", "distance to the teacher's blocks")):
        if any(r.get(key, 0.0) > 0 for r in rows):        # a run with --lane-loss, --heard-lanes or --heard-level
            axes[2].plot(steps[w - 1:], smooth(key), label=label)
            axes[2].legend(fontsize=7)
    for ax, title in zip(axes, ("losses", "share of real scored above rollout", "generator's other terms")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"train arc, moving average of {w} steps", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def train_arc(corpus: Path, codec: Path, init: Path, run: Path, *, steps: int, minutes: float | None = None,
              batch: int = 4, context_blocks: int = 4, rollout_blocks: int = 4, warmup_blocks: int = 16,
              lr_g: float = 1e-5, lr_d: float = 1e-4, contrastive: float = 1.0, anchor: float = 1.0,
              discriminator: str = "trunk", grad_blocks: str = "last", disc_steps: int = 1, seed: int = 0,
              step_choices: tuple[int, ...] = STEP_CHOICES, guidance: float = 1.0, sampler: str = "pingpong",
              rollout_conditions: str = "window", disc_conditions: str = "prompt", grad_branch: str = "every",
              lane_contrastive: float = 0.0, lane_loss: float = 0.0, lane_probe: Path | None = None,
              heard_lanes: float = 0.0, heard_level: float = 0.0, distill: float = 0.0, teacher_steps: int = 4,
              teacher_guidance: float | None = None, sketch_guidance: float = SKETCH_GUIDANCE,
              teacher_sketch_guidance: float | None = None, export: Path | None = None,
              device: str = "cpu",
              progress=None, log=print) -> dict:
    from ..model import LMDMConfig, load_checkpoint
    from .lmdm_data import WindowSampler

    if training_device(device).type != "cpu":
        raise ValueError(f"--device {device}: train arc runs on the CPU for now; its rollouts go through the "
                         "engine's KV cache and block noise, which are built on the CPU (docs/dev/training.md)")
    step_choices = check_arc_options(
        discriminator=discriminator, grad_blocks=grad_blocks, disc_steps=disc_steps, step_choices=step_choices,
        sampler=sampler, disc_conditions=disc_conditions, grad_branch=grad_branch,
        rollout_conditions=rollout_conditions, contrastive=contrastive, lane_contrastive=lane_contrastive,
        lane_loss=lane_loss, lane_probe=lane_probe, heard_lanes=heard_lanes, heard_level=heard_level, distill=distill,
        teacher_steps=teacher_steps)
    probe = load_lane_probe(lane_probe) if lane_loss > 0 else None     # built before the seed: the draws stay
    decoder = load_codec(codec).eval().requires_grad_(False) if heard_lanes > 0 or heard_level > 0 else None
    torch.manual_seed(seed)
    rng = random.Random(seed)
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    gen = load_checkpoint(init, "lmdm", LMDMConfig, LMDM)[0]
    cfg = gen.cfg
    teacher = copy.deepcopy(gen).eval().requires_grad_(False) if distill > 0 else None   # the init, before resuming
    teacher_guidance = guidance if teacher_guidance is None else teacher_guidance
    teacher_sketch_guidance = sketch_guidance if teacher_sketch_guidance is None else teacher_sketch_guidance
    build_store(corpus, codec, splits=("train",), log=log)      # encoded once; a stored split is kept
    split = LatentSplit(store_dir(corpus, codec), "train")
    disc = TrunkDiscriminator(gen) if discriminator == "trunk" else LatentDiscriminator(cfg.latent_dim, cfg.style_dim)
    ema = copy.deepcopy(gen).requires_grad_(False)
    g_opt = torch.optim.AdamW(gen.parameters(), lr=lr_g, betas=(0.0, 0.99), weight_decay=0.0)
    d_opt = torch.optim.AdamW([p for p in disc.parameters() if p.requires_grad], lr=lr_d, betas=(0.0, 0.99),
                              weight_decay=0.0)
    g_state = nn.ModuleDict({"model": gen, "ema": ema})
    meta = load_state(run / "generator", g_state, g_opt)
    load_state(run / f"discriminator-{discriminator}", disc, d_opt)
    step = meta["step"] if meta else 0
    forget_lost_steps(run, step)
    if meta:
        log(f"resuming {run} at step {step}")
    windows = WindowSampler(split, gen.latent_mean, gen.latent_std, cfg.block_frames, seed + step)
    net = StageModule(gen)
    noise_gen = torch.Generator().manual_seed(seed + step)
    total = context_blocks + rollout_blocks
    bf = cfg.block_frames
    max_warmup = max(0, min(warmup_blocks, cfg.context_blocks - context_blocks))
    deadline = time.monotonic() + minutes * 60 if minutes else None
    t0 = time.monotonic()
    info = {"init": str(init), "discriminator": discriminator, "grad_blocks": grad_blocks, "anchor": anchor,
            "disc_steps": disc_steps, "step_choices": list(step_choices), "guidance": guidance, "sampler": sampler,
            "rollout_blocks": rollout_blocks, "rollout_conditions": rollout_conditions,
            "disc_conditions": disc_conditions, "grad_branch": grad_branch, "contrastive": contrastive,
            "lane_contrastive": lane_contrastive, "lane_loss": lane_loss,
            "lane_probe": str(lane_probe) if lane_probe else None, "heard_lanes": heard_lanes,
            "heard_level": heard_level,
            "distill": distill, "teacher_steps": teacher_steps, "teacher_guidance": teacher_guidance,
            "sketch_guidance": sketch_guidance, "teacher_sketch_guidance": teacher_sketch_guidance}
    while step < steps and (deadline is None or time.monotonic() < deadline):
        x0, cond = windows.batch(batch, total, drop=False)
        style = cond.style
        context, real = x0[:, :context_blocks * bf], x0[:, context_blocks * bf:]
        warm = rng.randint(0, max_warmup)
        gen.eval()
        history = warm_history(gen, context, style, warm, seed=rng.randrange(2 ** 31), steps=max(step_choices),
                               guidance=2.0 if guidance == 1.0 else guidance)
        gen.train()
        played = window_conditions(cond, noise_gen, keep_lanes=rollout_conditions != "style",
                                   bare_share=BARE_SHARE if rollout_conditions == "mixed" else 0.0)
        start = context_blocks * bf
        taught = []

        def watch(k, ctx, block_cond, x):
            taught.append(teacher_block(teacher, ctx, block_cond, x, teacher_steps, teacher_guidance,
                                        CONTROL_GUIDANCE, teacher_sketch_guidance))
        fake = rollout(gen, history, lambda k: block_conditions(played, start + k * bf, start + (k + 1) * bf),
                       rollout_blocks, rng, grad_blocks, step_choices, guidance, sampler,
                       control_guidance=CONTROL_GUIDANCE, sketch_guidance=sketch_guidance, grad_branch=grad_branch,
                       watch=watch if teacher is not None else None)
        shuffled = style.roll(1, dims=0)
        asked = block_conditions(played, start, start + rollout_blocks * bf)    # the lanes the rollout played
        read = {"lanes": asked} if disc_conditions == "lanes" else {}
        if lane_contrastive > 0:
            other, said = swapped_lanes(read["lanes"])
        for _ in range(disc_steps):
            # one noise level and one noise per item, shared by every window the discriminator reads in this update
            t = torch.empty(batch).uniform_(*TRUNK_NOISE, generator=noise_gen)
            eps = torch.randn(real.shape, generator=noise_gen)
            # discriminator: relativistic on (real, fake) + contrastive on (own prompt, another's)
            d_real, d_fake = disc(real, style, t, eps, **read), disc(fake.detach(), style, t, eps, **read)
            d_loss = relativistic(d_real, d_fake) + contrastive * relativistic(d_real, disc(real, shuffled, t, eps,
                                                                                            **read))
            if lane_contrastive > 0:     # and real audio under its own lanes above the same audio under another's
                d_loss = d_loss + lane_contrastive * relativistic(d_real, disc(real, style, t, eps, lanes=other), said)
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
        # generator: its rollout should beat the real window under the same prompt, anchored to the data
        with torch.no_grad():
            d_real_now = disc(real, style, t, eps, **read)
        g_adv = relativistic(disc(fake, style, t, eps, **read), d_real_now)
        g_loss = g_adv
        fm, lanes, heard, level, taught_loss = (torch.zeros(()) for _ in range(5))
        if teacher is not None:         # each block as the many-step init played it from the same noise and context
            taught_loss = F.mse_loss(fake, torch.cat(taught, dim=1))
            g_loss = g_loss + distill * taught_loss
        if probe is not None:           # the lanes the rollout carries, read back, against those it was played under
            lanes = probe_lane_loss(probe(fake), asked.sketch, asked.sketch_mask)
            g_loss = g_loss + lane_loss * lanes
        if decoder is not None:         # the same, as the listener hears them in the decoded audio
            audio = decoder.decode(fake * gen.latent_std + gen.latent_mean)[:, decoder.cfg.delay_samples:]
            if heard_lanes > 0:
                heard = heard_lane_loss(audio, asked.sketch, asked.sketch_mask, decoder.cfg.sample_rate,
                                        decoder.cfg.hop)
                g_loss = g_loss + heard_lanes * heard
            if heard_level > 0:         # the loudness lane's level alone (heard_lanes.heard_level_loss)
                level = heard_level_loss(audio, asked.sketch, asked.sketch_mask, decoder.cfg.hop)
                g_loss = g_loss + heard_level * level
        if anchor > 0:
            a0, a_cond = windows.batch(batch, total)
            fm = stage_loss(net, "lmdm", a0, a_cond, noise_gen, context_noise=0.05)
            g_loss = g_loss + anchor * fm
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        torch.nn.utils.clip_grad_norm_(gen.parameters(), 1.0)
        g_opt.step()
        with torch.no_grad():
            for e, p in zip(ema.parameters(), gen.parameters()):
                e.lerp_(p, 1e-2)
        step += 1
        row = {"step": step, "seconds": round(time.monotonic() - t0, 1), "d_loss": round(float(d_loss.detach()), 4),
               "g_loss": round(float(g_adv.detach()), 4), "anchor": round(float(fm.detach()), 4),
               "d_real": round(float(d_real.detach().mean()), 4), "d_fake": round(float(d_fake.detach().mean()), 4),
               "d_acc": round(float((d_real > d_fake).float().mean()), 3), "warmup": warm,
               "lanes": round(float(lanes.detach()), 4), "heard": round(float(heard.detach()), 4),
               "level": round(float(level.detach()), 4),
               "distill": round(float(taught_loss.detach()), 4)}
        append_log(run, row)
        if step % 25 == 0 or step == steps:
            save_state(run / "generator", g_state, g_opt, step, info)
            save_state(run / f"discriminator-{discriminator}", disc, d_opt, step, {})
            plot_arc_curve(run, run / "curve.png")
        if progress is not None:
            progress(step, steps)
    save_state(run / "generator", g_state, g_opt, step, info)
    save_state(run / f"discriminator-{discriminator}", disc, d_opt, step, {})
    plot_arc_curve(run, run / "curve.png")
    if export is not None:
        save_checkpoint(ema.eval(), cfg, export, "lmdm", extra={"stage": "arc", "steps": step, **info})
    (run / "summary.json").write_text(json.dumps({"step": step, **info}))
    return {"step": step}
