"""`lmdmlive eval style FOLDER`: the default model against an adapter on a style it never heard.

The folder (held out of fine-tuning: `corpus style --first` past the fine-tuning
folder's grooves) supplies prompts and real audio. Each clip's caption is the prompt;
the default model, and the model with the adapter, generate from it with the same
seeds, and both are listened to by the audio-prompt encoder:

- prompt_acc: the share of generated clips whose embedding lies nearer the style's
  centroid (its real audio) than any corpus family's centroid (real held-out corpus
  audio). The attribute classifier of `eval model` has no head for a style it was
  not trained on, so the style attribute is judged by nearest centroid here, trained
  on real audio just the same; prompt_acc_real is the same test on the folder's real
  windows, each against a centroid that leaves its own clip out.
- fad: the Fréchet distance between generated and the folder's real embeddings, next
  to fad_floor, the same between two disjoint halves of the real ones.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..model import adapters
from .audio_models import WINDOW
from .corpus.add import add_folder
from .eval_gen import Judges, block_conditions, generate, judge
from .fad import frechet
from .latents import LatentSplit, build_store, store_dir
from .splits import indices_in

CORPUS_WINDOWS = 600
"""Real held-out corpus windows the family centroids are fitted on."""


def nearest_centroid(emb: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the most similar centroid (cosine) for each row of `emb`."""
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(1e-9)
    c = centroids / np.linalg.norm(centroids, axis=1, keepdims=True).clip(1e-9)
    return (e @ c.T).argmax(axis=1)


@torch.no_grad()
def _windows(judges: Judges, split: LatentSplit, limit: int | None = None) -> tuple[np.ndarray, list[int]]:
    """Embeddings of consecutive 5 s windows of a split's clips, and the clip of each."""
    emb, owner = [], []
    for i in range(len(split)):
        for start in range(0, split.frames(i) - WINDOW + 1, WINDOW):
            emb.append(judges.encoder(split.clip(i, start, WINDOW)[0][None])[0].numpy())
            owner.append(i)
            if limit and len(emb) >= limit:
                return np.stack(emb), owner
    return np.stack(emb), owner


def family_centroids(judges: Judges, corpus: Path, codec_path: Path, limit: int = CORPUS_WINDOWS,
                     split: str = "test"):
    """(family names, centroids) of real held-out corpus windows of `split`, spread over every family."""
    build_store(corpus, codec_path, splits=("heldout",))
    held = LatentSplit(store_dir(corpus, codec_path), "heldout")
    members = indices_in(held.clips, split)
    by_family: dict[str, list[np.ndarray]] = {}
    per_family = max(1, limit // max(1, len({held.clips[i]["family"] for i in members})))
    for i in members:
        clip = held.clips[i]
        got = by_family.setdefault(clip["family"], [])
        for start in range(0, held.frames(i) - WINDOW + 1, WINDOW):
            if len(got) >= per_family:
                break
            with torch.no_grad():
                got.append(judges.encoder(held.clip(i, start, WINDOW)[0][None])[0].numpy())
    names = sorted(f for f, e in by_family.items() if e)
    return names, np.stack([np.mean(by_family[f], axis=0) for f in names])


def evaluate_style(lmdm, codec, folder: Path, work: Path, judges: Judges, embed, corpus: Path, codec_path: Path, *,
                   adapter: str | None = None, clips: int = 12, seeds: int = 2, seconds: float = 10.0,
                   steps: int = 4, guidance: float = 2.0, split: str = "test", progress=None, log=print) -> dict:
    added = add_folder(folder, work, log=log)
    if added["added"] == 0:
        raise ValueError(f"{folder}: no readable audio to evaluate on ({added['files']} files looked at)")
    build_store(work, codec_path, splits=("user",), log=log)
    folder_clips = LatentSplit(store_dir(work, codec_path), "user")
    real, owner = _windows(judges, folder_clips)
    if len(real) < 4:
        raise ValueError(f"{folder}: {len(real)} windows of 5 s; the style needs at least 4 to be measured")
    names, corpus_centroids = family_centroids(judges, corpus, codec_path, split=split)
    style_centroid = real.mean(axis=0)
    # real windows against a style centroid that leaves their own clip out
    hits = []
    owner_arr = np.array(owner)
    for i in sorted(set(owner)):
        others = real[owner_arr != i]
        if len(others) == 0:
            continue
        cents = np.vstack([corpus_centroids, others.mean(axis=0)[None]])
        hits += list(nearest_centroid(real[owner_arr == i], cents) == len(names))
    cfg = lmdm.cfg
    blocks = max(1, int(round(seconds * cfg.frame_rate / cfg.block_frames)))
    chosen = list(range(min(clips, len(folder_clips))))
    prompts = [folder_clips.caption_texts[folder_clips.clips[i]["captions"][0]] for i in chosen]
    models = {"default": None} if adapter is None else {"default": None, "adapter": adapter}
    total, done = len(models) * len(chosen) * seeds, 0
    cents = np.vstack([corpus_centroids, style_centroid[None]])
    half = len(real) // 2
    out = {}
    for label, name in models.items():
        if name is not None:
            adapters.apply(lmdm, name)
        try:
            emb = []
            for n, text in enumerate(prompts):
                style = embed(text)
                for s in range(seeds):
                    audio = generate(lmdm, codec, block_conditions(cfg, blocks, style), seed=100 * s + n,
                                     steps=steps, guidance=guidance)
                    emb.append(judge(judges, codec, audio)[1])
                    done += 1
                    if progress is not None:
                        progress(done, total)
        finally:
            if name is not None:
                adapters.apply(lmdm, name, sign=-1.0)
        gen = np.stack(emb)
        picked = nearest_centroid(gen, cents)
        n = min(len(gen), half)
        out[label] = {"prompt_acc": float(np.mean(picked == len(names))), "fad": frechet(gen[:n], real[:half]),
                      "nearest": {f: int((picked == j).sum()) for j, f in enumerate([*names, "style"])
                                  if (picked == j).any()}}
    n = min(len(chosen) * seeds, half)
    return {**out, "prompt_acc_real": float(np.mean(hits)) if hits else float("nan"),
            "fad_floor": frechet(real[half:half + n], real[:half]), "clips": len(chosen), "seeds": seeds,
            "real_windows": len(real), "seconds": blocks * cfg.block_seconds, "steps": steps, "guidance": guidance,
            "adapter_name": adapter, "split": split}
