"""`lmdmlive eval drift`: what half an hour of a model feeding on its own output does to the sound,
measured against real music.

A set is long and its prompts change. So several streams are rolled out together
through the KV cache for M minutes (default 30), all batched into one model call per
block as the engine runs them, and every `change` minutes each stream moves on to the
next prompt of a sequence of held-out captions (in phrasings never used in training);
the cache is kept across a change, as in a set.

Each minute is compared with real music of the split, from pieces none of the prompts
came from, by both judges of `eval model`: the Fréchet distance of 5 s windows in the
audio-prompt encoder's embedding (`fd`) and the diagonal Fréchet distance of their
log-mel statistics (`fd_mel`, no trained part). Their floors are the same distances
between two disjoint real sets of one minute's size, so a minute can be read against
what real music itself scores. Beside them: loudness, centroid, onset rate, spectral
flatness, and the classifier's agreement with the prompt then playing. A minute
*collapses* when it is near silence (mean loudness within 1 dB of the -60 dB floor the
loudness curve is clipped at) or noise-like
(flatness above 0.5, where white noise is 1 and the real windows are far below).

In the last minute every stream comes back to the prompt it opened with, so the
summary compares like with like: the last minute's distances over the first's
(`fd_ratio`, `fd_mel_ratio`), the loudness change from the first minute to the last,
the widest loudness swing of any minute from the first, and the collapsed minutes. As one
pair of minutes is a noisy reading, every minute of a later pass through the prompts is also
set against the same minute one pass earlier (`repeat_summary`): the geometric mean of those
ratios and the sd of their logs say whether the sound moved away from real music, and by how
much against the noise.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..model import Conditions, generate_block
from ..model.conditioning import stack_conditions
from ..model.features import SILENCE_DB, sketch_features
from .audio_models import WINDOW
from .corpus.shards import read_records
from .eval_gen import Judges
from .eval_model import EvalRoles, real_set
from .fad import frechet, frechet_diagonal, mel_stats
from .latents import LatentSplit, build_store, store_dir

NOISE_FLATNESS = 0.5


@torch.no_grad()
def rollout_minutes(lmdm, codec, styles_at, streams: int, seconds: float, seed: int = 0, steps: int = 4,
                    guidance: float = 2.0, progress=None):
    """Yield (minute index, audio (streams, samples)) for each full minute of a batched rollout.

    styles_at(minute) -> (streams, style_dim): the prompt each stream plays in that minute.
    """
    cfg = lmdm.cfg
    caches = [lmdm.new_cache(1) for _ in range(streams)]
    decoders = [codec.stream_decoder() for _ in range(streams)]
    per_minute = int(round(60.0 / cfg.block_seconds))
    blocks = int(round(seconds / cfg.block_seconds))
    pieces = [[] for _ in range(streams)]
    cond, cond_minute = None, None
    for b in range(blocks):
        minute = b // per_minute
        if minute != cond_minute:
            styles = styles_at(minute)
            cond = stack_conditions([Conditions(style=styles[i:i + 1]) for i in range(streams)], cfg,
                                    cfg.block_frames)
            cond_minute = minute
        z = generate_block(lmdm, caches, cond, [seed + i for i in range(streams)], steps=steps, guidance=guidance)
        for i in range(streams):
            pieces[i].append(decoders[i](lmdm.to_codec(z[i:i + 1]))[0].numpy())
        if progress is not None:
            progress(b + 1, blocks)
        if (b + 1) % per_minute == 0 or b + 1 == blocks:
            yield minute, np.stack([np.concatenate(p) for p in pieces])
            pieces = [[] for _ in range(streams)]


def flatness(audio: np.ndarray, n_fft: int = 1024) -> float:
    """Mean spectral flatness (geometric over arithmetic mean of the power spectrum) of 1024-sample frames."""
    n = len(audio) // n_fft
    if n == 0:
        return float("nan")
    frames = audio[: n * n_fft].reshape(n, n_fft) * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-12
    return float(np.mean(np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)))


@torch.no_grad()
def minute_stats(audio: np.ndarray, codec, judges: Judges, families: list[int]) -> dict:
    """Statistics of one minute of every stream's audio (streams, samples); families: the prompt's, per stream."""
    rate, hop = codec.cfg.sample_rate, codec.cfg.hop
    loud, bright, onsets, agree, enc, mel, flat = [], [], [], [], [], [], []
    for i, a in enumerate(audio):
        f = sketch_features(a, rate, hop)
        loud.append(f["loud"])
        bright.append(np.log2(np.maximum(f["bright"], 20.0)))
        o = f["onset"]
        peaks = (o[1:-1] > 0.25) & (o[1:-1] >= o[:-2]) & (o[1:-1] > o[2:])
        onsets.append(peaks.sum() / (len(a) / rate))
        flat.append(flatness(a))
        z = codec.encode(torch.from_numpy(np.ascontiguousarray(a[: len(a) // hop * hop]))[None])
        for s in range(0, z.shape[1] - WINDOW + 1, WINDOW):
            w = z[:, s:s + WINDOW]
            enc.append(judges.encoder(w)[0].numpy())
            mel.append(mel_stats(a[s * hop:(s + WINDOW) * hop], rate))
            if families[i] >= 0:
                agree.append(int(judges.classifier(w)["family"][0].argmax()) == families[i])
    loud_all = np.concatenate(loud)
    loud_mean = float(loud_all.mean())
    flat_mean = float(np.mean(flat))
    return {"loud_mean_db": loud_mean, "loud_spread_db": float(loud_all.std()),
            "centroid_hz": float(2 ** np.concatenate(bright).mean()), "onset_rate": float(np.mean(onsets)),
            "flatness": flat_mean, "prompt_agreement": float(np.mean(agree)) if agree else float("nan"),
            "collapsed": "silence" if loud_mean < SILENCE_DB + 1.0 else "noise" if flat_mean > NOISE_FLATNESS else "",
            "_enc": np.stack(enc), "_mel": np.stack(mel)}


def prompt_sequence(held: LatentSplit, clips: list[int]) -> list[str]:
    return [held.caption_texts[held.clips[i]["unseen_caption"]] if held.clips[i].get("unseen_caption") is not None
            else held.caption_texts[held.clips[i]["captions"][0]] for i in clips]


def prompt_plan(minutes: float, streams: int, prompts: int, change: float) -> list[list[int]]:
    """The prompts each stream plays in each minute: stream i starts at prompt i and moves
    on every `change` minutes. The last minute comes home to the first minute's prompts, so
    that last over first compares like with like: a change of style is not counted as drift."""
    last = int(np.ceil(minutes)) - 1
    return [[(i + (0 if minute == last else int(minute // change))) % prompts for i in range(streams)]
            for minute in range(last + 1)]


def repeat_pairs(rows: list[dict], cycle_minutes: float) -> list[tuple[dict, dict]]:
    """(earlier, later) minutes one pass of the prompt sequence apart that play the same prompts.

    One minute against one other is a noisy reading: each minute's distances come from a few
    dozen windows, and over three half hours the log of such a ratio spread with an sd of
    0.04 to 0.12 (encoder) and 0.3 to 1.7 (log-mel) between pairs of the same prompts
    (docs/dev/training.md, session 24). Every minute of the second pass set against the same
    minute of the first averages that down, and still compares like with like."""
    c = round(cycle_minutes)
    if c < 1 or abs(c - cycle_minutes) > 1e-9:
        return []
    return [(rows[k - c], rows[k]) for k in range(c, len(rows)) if rows[k - c]["prompts"] == rows[k]["prompts"]]


def repeat_summary(rows: list[dict], cycle_minutes: float) -> dict:
    """Over `repeat_pairs`: the geometric mean of the later minute's distances over the earlier's,
    with the sd of their logs, and the mean loudness change with its sd.

    Geometric, because a ratio is read both ways: a quiet minute's log-mel distance can be ten
    times a loud one's, and an arithmetic mean would let one such pair outweigh the rest."""
    pairs = repeat_pairs(rows, cycle_minutes)
    out: dict = {"repeat_pairs": len(pairs), "repeat_minutes": round(cycle_minutes)}
    for key in ("fd", "fd_mel"):
        logs = [np.log(b[key] / a[key]) for a, b in pairs if a[key] > 0 and b[key] > 0]
        out[f"{key}_repeat_ratio"] = float(np.exp(np.mean(logs))) if logs else float("nan")
        out[f"{key}_repeat_log_sd"] = float(np.std(logs, ddof=1)) if len(logs) > 1 else float("nan")
    change = [b["loud_mean_db"] - a["loud_mean_db"] for a, b in pairs]
    out["loud_repeat_change_db"] = float(np.mean(change)) if change else float("nan")
    out["loud_repeat_change_db_sd"] = float(np.std(change, ddof=1)) if len(change) > 1 else float("nan")
    return out


def evaluate_drift(lmdm, codec, corpus: Path, codec_path: Path, judges: Judges, embed, *, minutes: float = 30.0,
                   streams: int = 4, prompts: int = 8, change: float = 2.0, seed: int = 0, steps: int = 4,
                   guidance: float = 2.0, split: str = "test", progress=None) -> dict:
    """Roll `streams` streams out for `minutes`, each stepping through `prompts` captions every `change` minutes."""
    if change <= 0:
        raise ValueError(f"change must be a number of minutes above 0, got {change!r}")
    folder = store_dir(corpus, codec_path)
    build_store(corpus, codec_path, splits=("heldout",))
    held = LatentSplit(folder, "heldout")
    roles = EvalRoles.of(held, split, WINDOW, prompts, seed)
    clips = roles.prompts
    texts = prompt_sequence(held, clips)
    styles = torch.cat([embed(t) for t in texts])
    names = judges.classifier.families
    fams = [names.index(held.clips[i]["family"]) if held.clips[i]["family"] in names else -1 for i in clips]

    playing = prompt_plan(minutes, streams, len(texts), change)      # per minute, per stream

    records = {r["id"]: r for r in read_records(corpus, "heldout")}
    hop, rate = codec.cfg.hop, codec.cfg.sample_rate
    per_minute = streams * int(60 // (WINDOW / lmdm.cfg.frame_rate))
    reference = real_set(judges, held, corpus, records, roles.reference, 4 * per_minute, hop, rate, seed + 1)
    floor = real_set(judges, held, corpus, records, roles.floor, per_minute, hop, rate, seed + 2)
    floors = {"fd_floor": frechet(floor.enc, reference.enc), "fd_mel_floor": frechet_diagonal(floor.mel, reference.mel)}
    rows = []
    for minute, audio in rollout_minutes(lmdm, codec, lambda m: styles[playing[m]], streams, minutes * 60.0, seed,
                                         steps, guidance, progress):
        st = minute_stats(audio, codec, judges, [fams[k] for k in playing[minute]])
        enc, mel = st.pop("_enc"), st.pop("_mel")
        st["fd"] = frechet(enc, reference.enc) if len(enc) > 2 else float("nan")
        st["fd_mel"] = frechet_diagonal(mel, reference.mel) if len(mel) > 2 else float("nan")
        st["minute"] = minute + 1
        st["prompts"] = playing[minute]
        rows.append(st)
    first, last = rows[0], rows[-1]
    louds = [r["loud_mean_db"] for r in rows]
    return {"minutes": rows, "fd_ratio": last["fd"] / first["fd"] if first["fd"] > 0 else float("nan"),
            "fd_mel_ratio": last["fd_mel"] / first["fd_mel"] if first["fd_mel"] > 0 else float("nan"),
            "loud_change_db": last["loud_mean_db"] - first["loud_mean_db"],
            "loud_swing_db": float(max(abs(v - louds[0]) for v in louds)),
            "collapsed": [r["minute"] for r in rows if r["collapsed"]],
            **repeat_summary(rows, len(texts) * change),
            "fd_floor": floors["fd_floor"], "fd_mel_floor": floors["fd_mel_floor"],
            "prompt_texts": texts, "streams": streams, "change_minutes": change,
            "windows_per_minute": per_minute, "steps": steps, "guidance": guidance, "seed": seed, "split": split}


def plot_drift(results: dict[str, dict], path: str) -> None:
    """Per-minute distances to real music (with their floors), loudness and centroid of each model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.3), dpi=120)
    for name, r in results.items():
        m = [row["minute"] for row in r["minutes"]]
        line = axes[0].plot(m, [row["fd"] for row in r["minutes"]], "o-", ms=3, label=name)[0]
        axes[0].axhline(r["fd_floor"], color=line.get_color(), ls=":", lw=0.8)
        axes[1].plot(m, [row["fd_mel"] for row in r["minutes"]], "o-", ms=3, label=name, color=line.get_color())
        axes[1].axhline(r["fd_mel_floor"], color=line.get_color(), ls=":", lw=0.8)
        axes[2].plot(m, [row["loud_mean_db"] for row in r["minutes"]], "o-", ms=3, label=name)
        axes[3].plot(m, [row["centroid_hz"] for row in r["minutes"]], "o-", ms=3, label=name)
    titles = ("encoder Fréchet distance to real (dotted: real floor)", "log-mel Fréchet distance (dotted: floor)",
              "loudness (dB)", "spectral centroid (Hz)")
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("minute")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
