"""`lmdmlive eval drift`: what minutes of a model feeding on its own output do to the sound.

Fixed prompts (held-out clips' captions in phrasings never used in training) and
fixed seeds are rolled out for M minutes through the KV cache, all prompts batched
into one model call per block, exactly as the engine runs streams. Minute by minute:
loudness mean and spread, spectral centroid, onset rate, the attribute classifier's
agreement with each prompt's style family, and the Fréchet distance of that minute's
5 s windows (audio-prompt-encoder embeddings) to real held-out windows. `drift` is
the distance in the last minute over the first. Run for the model before and after
ARC-Forcing on the same prompts and seeds, side by side.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..model import Conditions, generate_block
from ..model.conditioning import stack_conditions
from ..model.features import sketch_features
from .audio_models import WINDOW
from .eval_gen import Judges
from .fad import frechet, spread_windows
from .latents import LatentSplit, build_store, store_dir
from .splits import indices_in


@torch.no_grad()
def rollout_minutes(lmdm, codec, styles: torch.Tensor, seconds: float, seed: int = 0, steps: int = 4,
                    guidance: float = 2.0, progress=None):
    """Yield (minute index, audio (n_prompts, samples)) for each full minute of a batched rollout."""
    cfg = lmdm.cfg
    n = styles.shape[0]
    caches = [lmdm.new_cache(1) for _ in range(n)]
    decoders = [codec.stream_decoder() for _ in range(n)]
    cond = stack_conditions([Conditions(style=styles[i:i + 1]) for i in range(n)], cfg, cfg.block_frames)
    per_minute = int(round(60.0 / cfg.block_seconds))
    blocks = int(round(seconds / cfg.block_seconds))
    pieces = [[] for _ in range(n)]
    for b in range(blocks):
        z = generate_block(lmdm, caches, cond, [seed + i for i in range(n)], steps=steps, guidance=guidance)
        for i in range(n):
            pieces[i].append(decoders[i](lmdm.to_codec(z[i:i + 1]))[0].numpy())
        if progress is not None:
            progress(b + 1, blocks)
        if (b + 1) % per_minute == 0 or b + 1 == blocks:
            yield b // per_minute, np.stack([np.concatenate(p) for p in pieces])
            pieces = [[] for _ in range(n)]


@torch.no_grad()
def minute_stats(audio: np.ndarray, codec, judges: Judges, families: list[int]) -> dict:
    """Statistics of one minute of every prompt's audio (n_prompts, samples)."""
    rate, hop = codec.cfg.sample_rate, codec.cfg.hop
    loud, bright, onsets, agree, emb = [], [], [], [], []
    for i, a in enumerate(audio):
        f = sketch_features(a, rate, hop)
        loud.append(f["loud"])
        bright.append(np.log2(np.maximum(f["bright"], 20.0)))
        o = f["onset"]
        peaks = (o[1:-1] > 0.25) & (o[1:-1] >= o[:-2]) & (o[1:-1] > o[2:])
        onsets.append(peaks.sum() / (len(a) / rate))
        z = codec.encode(torch.from_numpy(np.ascontiguousarray(a[: len(a) // hop * hop]))[None])
        for s in range(0, z.shape[1] - WINDOW + 1, WINDOW):
            w = z[:, s:s + WINDOW]
            emb.append(judges.encoder(w)[0].numpy())
            if families[i] >= 0:
                agree.append(int(judges.classifier(w)["family"][0].argmax()) == families[i])
    loud_all = np.concatenate(loud)
    return {"loud_mean_db": float(loud_all.mean()), "loud_spread_db": float(loud_all.std()),
            "centroid_hz": float(2 ** np.concatenate(bright).mean()), "onset_rate": float(np.mean(onsets)),
            "prompt_agreement": float(np.mean(agree)) if agree else float("nan"), "_emb": np.stack(emb)}


def evaluate_drift(lmdm, codec, corpus: Path, codec_path: Path, judges: Judges, embed, *, minutes: float = 10.0,
                   prompts: int = 4, seed: int = 0, steps: int = 4, guidance: float = 2.0, split: str = "test",
                   progress=None) -> dict:
    folder = store_dir(corpus, codec_path)
    build_store(corpus, codec_path, splits=("heldout",))
    held = LatentSplit(folder, "heldout")
    members = indices_in(held.clips, split)
    prompt_clips = [held.clips[i] for i in members[:prompts]]
    clips = [c for c in prompt_clips if c.get("unseen_caption") is not None] or prompt_clips
    texts = [held.caption_texts[c["unseen_caption"] if c.get("unseen_caption") is not None else c["captions"][0]]
             for c in clips]
    styles = torch.cat([embed(t) for t in texts])
    fams = [judges.classifier.families.index(c["family"]) if c["family"] in judges.classifier.families else -1
            for c in clips]
    others = members[prompts:] or members        # real windows from other pieces than the prompts'
    picks = spread_windows([held.frames(i) for i in others], 200, WINDOW, np.random.default_rng(seed))
    with torch.no_grad():
        real = np.stack([judges.encoder(held.clip(others[k], s, WINDOW)[0][None])[0].numpy() for k, s in picks])
    rows = []
    for minute, audio in rollout_minutes(lmdm, codec, styles, minutes * 60.0, seed, steps, guidance, progress):
        st = minute_stats(audio, codec, judges, fams)
        emb = st.pop("_emb")
        st["fd"] = frechet(emb, real) if len(emb) > 2 else float("nan")
        st["minute"] = minute + 1
        rows.append(st)
    first, last = rows[0], rows[-1]
    return {"minutes": rows, "drift": last["fd"] / first["fd"] if first["fd"] > 0 else float("nan"),
            "loud_change_db": last["loud_mean_db"] - first["loud_mean_db"], "prompts": texts,
            "steps": steps, "guidance": guidance, "seed": seed, "split": split}


def plot_drift(results: dict[str, dict], path: str) -> None:
    """Per-minute FD, loudness and centroid of each model, side by side."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), dpi=120)
    for name, r in results.items():
        m = [row["minute"] for row in r["minutes"]]
        axes[0].plot(m, [row["fd"] for row in r["minutes"]], "o-", label=name)
        axes[1].plot(m, [row["loud_mean_db"] for row in r["minutes"]], "o-", label=name)
        axes[2].plot(m, [row["centroid_hz"] for row in r["minutes"]], "o-", label=name)
    for ax, title in zip(axes, ("Fréchet distance to real audio", "loudness (dB)", "spectral centroid (Hz)")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("minute")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
