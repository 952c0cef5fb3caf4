"""`lmdmlive train audio-prompt` and `lmdmlive train classifier`: two small models on real corpus audio.

- The audio-prompt encoder learns, contrastively, to put a 5 s window of a clip's
  latents next to the MiniLM embedding of that clip's caption (the text side is
  fixed), plus a cosine pull towards it, so audio and text prompts share one space
  and blend by weights. It is also the embedding `fad` is measured in.
- The attribute classifier names a window's style family, tempo bucket and lead
  instrument family (the GM family of the clip's first-listed instrument; "drums" for
  drum-only clips), and whether drums, bass, harmony and a lead part are present.
  `prompt_acc` is its accuracy on generated audio; `prompt_acc_real`, on real held-out
  audio; `control_acc` asks its presence heads whether generated audio obeyed.

Both read the latent store (`latents.py`); both are minutes of CPU.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model import save_checkpoint
from ..model.audio_prompt import AudioPromptEncoder, LatentTrunk, SmallModelConfig
from .device import autocast, to_device, training_device
from .latents import LatentSplit, build_store, store_dir
from .state import append_log, forget_lost_steps, load_state, save_state

WINDOW = 125                 # 5 s of latent frames
TEMPO_BUCKETS = (90.0, 120.0, 150.0)           # < 90, 90-120, 120-150, >= 150 BPM
GROUPS = ("drums", "bass", "harmony", "lead_part")      # presence, known exactly from the MIDI
GM_FAMILIES = ("piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass", "reed",
               "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive", "sound effects", "drums")


def tempo_bucket(bpm) -> int:
    return int(np.searchsorted(TEMPO_BUCKETS, float(bpm or 120.0), side="right"))


def tempo_label(clip: dict) -> int:
    """The clip's tempo bucket, or -100 (unknown, skipped) for a recording.

    A recording's tempo is a beat tracker's reading, and a tracker's octave errors (half or
    double the felt tempo) move a track two buckets: on the real-recordings corpus the
    classifier read the held-out recordings' buckets below chance (0.194 of windows), so
    teaching or judging by them measures the tracker. A rendered clip's tempo is its score's.
    A clip with no tempo (a performer's own, `corpus add`) is unknown too, not 120 BPM.
    """
    tempo = clip.get("tempo")
    if clip.get("source") == "recorded" or tempo is None or float(tempo) <= 0:
        return -100
    return tempo_bucket(tempo)


def lead_family(clip: dict) -> int:
    """The GM family of the first-listed instrument; "drums" for a rendered drum-only clip.

    A recording (or a performer's own clip) lists no programs and knows its
    arrangement only in part, so its lead family is unknown (-100, which the loss and
    the held-out accuracy skip) rather than read as "drums".
    """
    programs = clip.get("programs") or []
    if programs:
        return int(programs[0]) // 8
    groups = clip.get("groups") or {}
    arrangement_known = all(g in groups for g in ("drums", "bass", "harmony", "lead"))
    return GM_FAMILIES.index("drums") if arrangement_known else -100


class AttributeClassifier(nn.Module):
    """Style family, tempo bucket and lead instrument family of a window of latents."""

    def __init__(self, families: list[str], latent_dim: int = 32, width: int = 192, layers: int = 4):
        super().__init__()
        self.families = list(families)
        self.trunk = LatentTrunk(latent_dim, width, layers)
        self.heads = nn.ModuleDict({"family": nn.Linear(width, len(families)),
                                    "tempo": nn.Linear(width, len(TEMPO_BUCKETS) + 1),
                                    "lead": nn.Linear(width, len(GM_FAMILIES)),
                                    **{g: nn.Linear(width, 2) for g in GROUPS}})

    def forward(self, z):
        h = self.trunk(z)
        return {k: head(h) for k, head in self.heads.items()}


class Windows:
    """Random 5 s windows of a split with their caption rows and labels."""

    def __init__(self, split: LatentSplit, families: list[str], seed: int, window: int = WINDOW):
        self.split, self.families, self.window = split, families, window
        self.rng = np.random.default_rng(seed)
        self.ok = [i for i in range(len(split)) if split.frames(i) >= window]
        w = np.array([split.frames(i) for i in self.ok], dtype=np.float64)
        self.p = w / w.sum()

    def labels(self, i: int) -> tuple[int, ...]:
        c = self.split.clips[i]
        fam = self.families.index(c["family"]) if c["family"] in self.families else -100
        groups = c.get("groups") or {}
        present = [int(bool(groups[g.replace("_part", "")])) if g.replace("_part", "") in groups else -100
                   for g in GROUPS]
        return (fam, tempo_label(c), lead_family(c), *present)

    def batch(self, size: int, fixed: bool = False):
        idx = self.ok[:size] if fixed else [self.ok[j] for j in self.rng.choice(len(self.ok), size, p=self.p)]
        z, text, labels = [], [], []
        for i in idx:
            start = 0 if fixed else int(self.rng.integers(0, self.split.frames(i) - self.window + 1))
            z.append(self.split.clip(i, start, self.window)[0])
            rows = self.split.clips[i]["captions"]
            text.append(self.split.captions[rows[0 if fixed else int(self.rng.integers(0, len(rows)))]])
            labels.append(self.labels(i))
        lab = torch.tensor(labels)
        names = ("family", "tempo", "lead", *GROUPS)
        return torch.stack(z), torch.stack(text), {k: lab[:, j] for j, k in enumerate(names)}


def _stats(module, split: LatentSplit) -> None:
    mean, std = split.stats()
    module.trunk.latent_mean.copy_(mean)
    module.trunk.latent_std.copy_(std)


def train_audio_models(what: str, corpus: Path, codec: Path, run: Path, *, steps: int, minutes: float | None = None,
                       batch: int = 64, lr: float = 1e-3, seed: int = 0, export: Path | None = None,
                       window: int = WINDOW, device: str = "cpu", progress=None, log=print) -> dict:
    """Train the audio-prompt encoder (`what="audio-prompt"`) or the attribute classifier (`"classifier"`)."""
    if what not in ("audio-prompt", "classifier"):
        raise ValueError(f"unknown model {what!r}")
    where = training_device(device)
    torch.manual_seed(seed)
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    folder = store_dir(corpus, codec)
    build_store(corpus, codec, log=log)
    train = LatentSplit(folder, "train")
    held = LatentSplit(folder, "heldout") if (folder / "heldout.safetensors").exists() else train
    families = sorted({c["family"] for c in train.clips})
    dim = train.latents.shape[1]
    model = AudioPromptEncoder(dim) if what == "audio-prompt" else AttributeClassifier(families, dim)
    _stats(model, train)
    model.to(where)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    meta = load_state(run, model, opt)
    step = meta["step"] if meta else 0
    forget_lost_steps(run, step)
    sampler = Windows(train, families, seed + step, window)
    held_windows = Windows(held, families, 1, window)
    if not held_windows.ok or not sampler.ok:
        raise ValueError(f"no clip holds {window} latent frames; use a shorter window")
    held_batch = to_device(held_windows.batch(min(256, len(held_windows.ok)), fixed=True), where)
    deadline = time.monotonic() + minutes * 60 if minutes else None
    t0 = time.monotonic()
    while step < steps and (deadline is None or time.monotonic() < deadline):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 100) * (0.5 * (1 + math.cos(math.pi * step / steps)) * 0.9 + 0.1)
        z, text, labels = to_device(sampler.batch(batch), where)
        with autocast(where):
            loss = _loss(model, what, z, text, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0 or step == steps:
            row = {"step": step, "seconds": round(time.monotonic() - t0, 1), "loss": round(float(loss.detach()), 4)}
            row.update(evaluate(model, what, held_batch, families))
            append_log(run, row)
            save_state(run, model, opt, step, {"what": what, "families": families})
        if progress is not None:
            progress(step, steps)
    save_state(run, model, opt, step, {"what": what, "families": families})
    result = {"step": step, **evaluate(model, what, held_batch, families)}
    if export is not None:
        cfg = SmallModelConfig(latent_dim=dim, families=families, kind=what)
        save_checkpoint(model.cpu(), cfg, export, what, extra={"steps": step, "heldout": result, "corpus": str(corpus)})
    return result


def _loss(model, what, z, text, labels):
    if what == "audio-prompt":
        a = model(z)
        logits = a @ text.T * model.log_scale.exp().clamp(max=100)
        # Items of the same clip family share captions often enough; identical rows are not negatives.
        same = (text @ text.T) > 0.999
        logits = logits.masked_fill(same & ~torch.eye(len(a), dtype=torch.bool, device=a.device), -1e4)
        target = torch.arange(len(a), device=a.device)
        clip = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        return clip + (1 - (a * text).sum(-1)).mean()
    out = model(z)
    known = [k for k in out if (labels[k] >= 0).any()]      # a head whose labels are all unknown here waits
    return sum(F.cross_entropy(out[k], labels[k], ignore_index=-100) for k in known)


@torch.no_grad()
def evaluate(model, what: str, batch, families: list[str]) -> dict:
    model.eval()
    z, text, labels = batch
    if what == "audio-prompt":
        a = model(z)
        sims = a @ text.T
        retrieval = float((sims.argmax(1) == torch.arange(len(a), device=a.device)).float().mean())
        cosine = float((a * text).sum(-1).mean())
        model.train()
        return {"heldout_retrieval": round(retrieval, 4), "heldout_cosine": round(cosine, 4)}
    out = model(z)
    acc = {f"heldout_acc_{k}": round(float((out[k].argmax(1) == labels[k]).float()[labels[k] >= 0].mean()), 4)
           for k in out if (labels[k] >= 0).any()}
    model.train()
    return acc
