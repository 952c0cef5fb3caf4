"""A small network that reads the sketch lanes back out of standardised latents.

Why: at two denoising steps the post-trained model follows a sketch less well than the
model before it at four (docs/dev/training.md, "ARC-Forcing, run 8 to 600 steps"). The
discriminator is told the lanes, but it is asked whether a rollout sounds real, not
whether it plays what was asked. This probe, trained on real latents of the train split
against their own lanes, gives `train arc --lane-loss` a differentiable answer to that
second question: how far the loudness, brightness, voicing and notes a rollout carries
are from the ones it was given. It is frozen during post-training; it judges, it does not learn.

Measured so far, it does not carry over: trained on the codec's latents of real audio, it
reads notes in the generator's two-step rollouts at chance (docs/dev/training.md, run 13),
and four `--lane-loss` runs did not move the lanes `eval model` hears. Train it on rollouts
too before its gradient is trusted.

It reads a few frames either side (a 9-frame receptive field, 0.36 s) because a lane
value is a property of a moment, not of the whole window.

    python -m lmdmlive.train.lane_probe --corpus data/corpus --eval-corpus data/eval-corpus \
        --model lmdmlive/assets/lmdm --out runs/lane_probe
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model import load_checkpoint, save_checkpoint
from ..model.audio_prompt import SmallModelConfig
from ..model.config import SKETCH_CURVES
from .latents import LatentSplit, build_store, store_dir

READ = ("loud", "bright", "pitch", "voiced")
"""The lanes the probe answers for: the ones `eval model` measures a rollout's following of."""
READ_INDEX = [SKETCH_CURVES.index(name) for name in READ]
LOWEST_NOTE, NOTES = 21, 88
"""Pitch is read as one of the 88 piano keys (MIDI 21-108), not as a number: `pitch_acc` asks
whether a frame is within 50 cents of the lane, and a regression toward the mean of the
notes a frame might hold reads real pitch within 50 cents on 21% of voiced frames (median
error 1.7 semitones: docs/dev/training.md, "The probe, made to read notes"), too coarse to tell a rollout that."""
OUT_LOUD, OUT_BRIGHT, OUT_VOICED, OUT_PITCH = 0, 1, 2, 3
"""Output layout: loudness and brightness in model units, a voicing logit, then a logit per note."""


def note_class(pitch_units: torch.Tensor) -> torch.Tensor:
    """Model-unit pitch ((note - 60) / 12) to the index of its nearest key."""
    return (torch.round(pitch_units * 12 + 60) - LOWEST_NOTE).clamp(0, NOTES - 1).long()


class LaneProbe(nn.Module):
    """(B, T, latent_dim) standardised latents -> (B, T, 3 + NOTES): loudness and brightness
    in model units, a voicing logit and a logit per note (OUT_*)."""

    def __init__(self, cfg: SmallModelConfig):
        super().__init__()
        d, w = cfg.fields["latent_dim"], cfg.fields.get("width", 128)
        self.cfg = cfg
        self.net = nn.Sequential(nn.Conv1d(d, w, 3, padding=1), nn.GELU(),
                                 nn.Conv1d(w, w, 3, padding=1), nn.GELU(),
                                 nn.Conv1d(w, w, 3, padding=1), nn.GELU(),
                                 nn.Conv1d(w, w, 3, padding=1), nn.GELU(),
                                 nn.Conv1d(w, OUT_PITCH + NOTES, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.transpose(1, 2)).transpose(1, 2)


def probe_config(latent_dim: int, width: int = 128) -> SmallModelConfig:
    return SmallModelConfig(latent_dim=latent_dim, width=width, read=list(READ), notes=NOTES, kind="lane_probe")


def lane_loss(pred: torch.Tensor, sketch: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Distance of the probe's lanes from the given ones, counted only where a lane is given.

    `sketch`, `mask`: (B, T, len(SKETCH_CURVES)) as Conditions holds them (mask 0 where a
    lane is free, and pitch's mask 0 on unvoiced frames). Squared error on loudness and
    brightness; cross-entropy on voicing and on the note, so a frame a semitone off costs
    what one an octave off does: right is what counts, as in `pitch_acc`. 0 when nothing
    is given.
    """
    S = SKETCH_CURVES.index
    terms = [((pred[..., OUT_LOUD] - sketch[..., S("loud")]) ** 2, mask[..., S("loud")]),
             ((pred[..., OUT_BRIGHT] - sketch[..., S("bright")]) ** 2, mask[..., S("bright")]),
             (F.binary_cross_entropy_with_logits(pred[..., OUT_VOICED], sketch[..., S("voiced")], reduction="none"),
              mask[..., S("voiced")]),
             (F.cross_entropy(pred[..., OUT_PITCH:].flatten(0, -2), note_class(sketch[..., S("pitch")]).flatten(),
                              reduction="none").view(pred.shape[:-1]), mask[..., S("pitch")])]
    total = sum((err * given).sum() for err, given in terms)
    return total / sum(given.sum() for _, given in terms).clamp(min=1.0)


@torch.no_grad()
def probe_figures(probe: LaneProbe, split: LatentSplit, members: list[int], mean: torch.Tensor, std: torch.Tensor,
                  frames: int = 250) -> dict:
    """How well the probe reads real held-out latents: loudness and brightness correlation,
    the share of voiced frames whose note is within 50 cents, and voicing accuracy."""
    from ..model.conditioning import sketch_from_features
    preds, targets, masks = [], [], []
    for i in members:
        n = min(frames, split.frames(i))
        z, curves = split.clip(i, 0, n)
        sketch, mask = sketch_from_features(curves[None])
        preds.append(probe(((z - mean) / std)[None])[0])
        targets.append(sketch[0][:, READ_INDEX])
        masks.append(mask[0][:, READ_INDEX])
    p, t, m = torch.cat(preds), torch.cat(targets), torch.cat(masks)
    out = {"clips": len(members)}
    for k, name in enumerate(READ):
        keep = m[:, k] > 0
        if name == "voiced":
            out["voiced_acc"] = round(float(((p[keep, OUT_VOICED] > 0).float() == t[keep, k]).float().mean()), 4)
        elif name == "pitch":       # within 50 cents, as `pitch_acc` asks of generated audio
            note = p[keep, OUT_PITCH:].argmax(-1) + LOWEST_NOTE
            out["pitch_acc"] = round(float(((note - (t[keep, k] * 12 + 60)).abs() <= 0.5).float().mean()), 4)
        else:
            col = OUT_LOUD if name == "loud" else OUT_BRIGHT
            out[f"{name}_corr"] = round(float(torch.corrcoef(torch.stack([p[keep, col], t[keep, k]]))[0, 1]), 4)
    return out


def train_lane_probe(corpus: Path, eval_corpus: Path, codec: Path, model: Path, out: Path, *, steps: int = 3000,
                     batch: int = 32, lr: float = 2e-3, seed: int = 0, log=print) -> dict:
    """Fit the probe on train-split windows (every lane given), report it on the valid split, save it."""
    from ..model import LMDM, LMDMConfig
    from .lmdm_data import WindowSampler
    from .splits import indices_in
    lmdm = load_checkpoint(model, "lmdm", LMDMConfig, LMDM)[0]
    build_store(corpus, codec, splits=("train",), log=log)
    build_store(eval_corpus, codec, splits=("heldout",), log=log)
    train = LatentSplit(store_dir(corpus, codec), "train")
    held = LatentSplit(store_dir(eval_corpus, codec), "heldout")
    torch.manual_seed(seed)
    cfg = lmdm.cfg
    probe = LaneProbe(probe_config(cfg.latent_dim))
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    windows = WindowSampler(train, lmdm.latent_mean, lmdm.latent_std, cfg.block_frames, seed)
    t0 = time.monotonic()
    for step in range(1, steps + 1):
        x0, cond = windows.batch(batch, 2, drop=False)
        loss = lane_loss(probe(x0), cond.sketch, cond.sketch_mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == steps:
            log(f"lane probe step {step}/{steps}: loss {float(loss.detach()):.4f} ({time.monotonic() - t0:.0f} s)")
    probe.eval()
    figures = probe_figures(probe, held, indices_in(held.clips, "valid"), lmdm.latent_mean, lmdm.latent_std)
    save_checkpoint(probe, probe.cfg, out, "lane_probe", extra={"steps": steps, "valid": figures,
                                                                 "model": str(model), "corpus": str(corpus)})
    return figures


def load_lane_probe(path: Path) -> LaneProbe:
    probe = load_checkpoint(path, "lane_probe", SmallModelConfig, LaneProbe)[0]
    return probe.eval().requires_grad_(False)


def main(argv: list[str] | None = None) -> int:
    from ..model.default import DEFAULT_CODEC
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="the training corpus (its train split)")
    ap.add_argument("--eval-corpus", type=Path, required=True, help="the held-out corpus (its valid split)")
    ap.add_argument("--codec", type=Path, default=Path(DEFAULT_CODEC))
    ap.add_argument("--model", type=Path, required=True, help="the LMDM whose latent statistics it reads in")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=3000)
    a = ap.parse_args(argv)
    print(json.dumps(train_lane_probe(a.corpus, a.eval_corpus, a.codec, a.model, a.out, steps=a.steps)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
