"""`lmdmlive eval model`: how well the model obeys, measured on held-out pieces.

Everything is generated the way a live stream is (KV cache, block by block, seeded
noise per block) from conditions taken from held-out clips, then listened to by
models trained on real corpus audio:

- prompt_acc: each held-out clip's caption in a phrasing never used in training is
  the prompt; the attribute classifier (style family, tempo bucket, lead instrument
  family) labels the generated audio; the share of attributes that match the clip's,
  next to prompt_acc_real, the classifier's accuracy on the real clips.
- control_acc: per arrangement control, how often generated audio obeys it. Presence
  controls (drums, bass, harmony, lead) are asked of the classifier's presence heads
  with the control at 0 and at 1; density, brightness and tempo are set low and high
  and the measured onset rate, spectral centroid and tempo bucket must order the same.
- loud_corr, bright_corr: Pearson correlation of the generated audio's loudness and
  centroid curves with the requested ones (a held-out clip's); pitch_acc: the share of
  requested voiced frames whose generated pitch is within 50 cents. Measured on what a
  stream plays, after the loudness follower (model/loudness_follow.py); the model's
  own loudness curve, before it, is loud_corr_unfollowed.
- fad: Fréchet distance between audio-prompt-encoder embeddings of generated and real
  held-out windows; fad_floor: the same between two disjoint halves of the real ones,
  with as many windows as the generated side.
- control_fad: the same distance for as many of the control generations, spread over
  every control and setting: the controls' own guidance scale must not cost the sound.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..model.conditioning import sketch_from_features
from ..model.config import ARRANGEMENT_CONTROLS, SKETCH_CURVES
from ..model.features import sketch_features
from ..model.generate import CONTROL_GUIDANCE, PITCH_GUIDANCE, SKETCH_GUIDANCE
from ..model.loudness_follow import follow_blocks, lag_frames
from .audio_models import WINDOW, Windows
from .corpus.shards import load_audio, read_records
from .eval_controls import evaluate_controls
from .eval_gen import Judges, block_conditions, generate, judge
from .fad import RealSet, distances, frechet, frechet_diagonal, mel_stats, spread_windows
from .following import I, Following, follow
from .latents import LatentSplit, build_store, store_dir
from .prompt_signal import SignalJudge
from .signal_judges import centroid_hz
from .splits import indices_in, piece_of, source_matches

SKETCHED = ("loud", "bright", "pitch", "voiced")


def evaluate_model(lmdm, codec, corpus: Path, codec_path: Path, judges: Judges, embed, *, split: str = "test",
                   clips: int = 16, seconds: float = 10.0, steps: int = 4, guidance: float = 2.0,
                   control_guidance: float | None = CONTROL_GUIDANCE, control_clips: int = 8,
                   sketch_guidance: float | None = SKETCH_GUIDANCE, pitch_guidance: float | None = PITCH_GUIDANCE,
                   seed: int = 0, source: str = "all",
                   progress=None) -> dict:
    """`source`: "recorded" or "rendered" measures prompts, reference and floor of that kind alone
    (codec_eval.SOURCES), so a model's figures on recordings are not hidden in a mean with renderings."""
    cfg = lmdm.cfg
    folder = store_dir(corpus, codec_path)
    build_store(corpus, codec_path, splits=("heldout",))
    held = LatentSplit(folder, "heldout")
    families = judges.classifier.families
    windows = Windows(held, families, 0)
    blocks = max(1, int(round(seconds * cfg.frame_rate / cfg.block_frames)))
    frames = blocks * cfg.block_frames
    records = {r["id"]: r for r in read_records(corpus, "heldout")}
    roles = EvalRoles.of(held, split, max(frames, 25 + WINDOW), clips, seed,
                         keep=lambda clip: source_matches(records.get(clip["id"], {}), source), kind=source)
    chosen = roles.prompts
    total = 2 * len(chosen) + min(control_clips, len(chosen)) * 2 * len(ARRANGEMENT_CONTROLS) + 1
    done = 0

    def tick():
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    hop, rate = codec.cfg.hop, codec.cfg.sample_rate
    reference = real_set(judges, held, corpus, records, roles.reference, len(chosen), hop, rate, seed + 1)
    floor = real_set(judges, held, corpus, records, roles.floor, len(chosen), hop, rate, seed + 2, codec)
    tick()
    bright_edges = np.quantile(np.log(np.maximum(reference.centroids, 20.0)), [1 / 3, 2 / 3])
    signal, signal_real = SignalJudge(bright_edges, rate), SignalJudge(bright_edges, rate)

    prompt_hits, real_hits, gen_enc, gen_mel = [], [], [], []
    model_follow, codec_follow, unfollowed = Following(), Following(), Following()
    for n, i in enumerate(chosen):
        clip = held.clips[i]
        text = held.caption_texts[clip["unseen_caption"]] if clip.get("unseen_caption") is not None \
            else held.caption_texts[clip["captions"][0]]
        style = embed(text)
        want = windows.labels(i)
        # prompt only
        audio = generate(lmdm, codec, block_conditions(cfg, blocks, style), seed=n, steps=steps, guidance=guidance)
        out, emb = judge(judges, codec, audio)
        gen_enc.append(emb)
        gen_mel.append(mel_stats(audio[25 * hop:(25 + WINDOW) * hop], rate))
        for k, j in (("family", 0), ("tempo", 1), ("lead", 2)):
            if want[j] >= 0:
                prompt_hits.append(int(out[k].argmax()) == want[j])
        z_real = held.clip(i, 25, WINDOW)[0][None]
        real = judges.classifier(z_real)
        for k, j in (("family", 0), ("tempo", 1), ("lead", 2)):
            if want[j] >= 0:
                real_hits.append(int(real[k][0].argmax()) == want[j])
        original = load_audio(corpus, records[clip["id"]])[: frames * hop]
        target_bright = centroid_hz(original[25 * hop:(25 + WINDOW) * hop], rate)
        signal.judge(audio[25 * hop:], clip, target_bright)
        signal_real.judge(original[25 * hop:], clip, target_bright)
        tick()
        # prompt + sketch of the real clip
        z_clip, curves = held.clip(i, 0, frames)
        sketch, mask = sketch_from_features(curves[None])
        keep = torch.zeros(len(SKETCH_CURVES))
        keep[[I[c] for c in SKETCHED]] = 1.0
        mask = mask * keep
        conds = block_conditions(cfg, blocks, style, sketch, mask)
        audio = generate(lmdm, codec, conds, seed=1000 + n, steps=steps, guidance=guidance,
                         sketch_guidance=sketch_guidance, pitch_guidance=pitch_guidance)
        delay = codec.cfg.delay_samples        # curves are in latent time; a delayed decoder's audio trails it
        followed = follow_blocks(audio, curves[:, I["loud"]].numpy(), hop, cfg.block_frames, lag_frames(codec.cfg))
        follow(sketch_features(followed[delay:], rate, hop), curves, frames, model_follow)
        follow(sketch_features(audio[delay:], rate, hop), curves, frames, unfollowed)
        # the same clip through the codec alone: how much any model on this codec can follow
        with torch.no_grad():
            real_audio = codec.decode(z_clip[None])[0].numpy()
        follow(sketch_features(real_audio[delay:], rate, hop), curves, frames, codec_follow)
        tick()

    control, control_emb = evaluate_controls(lmdm, codec, judges, held, chosen[:control_clips], embed, blocks, steps,
                                     guidance, control_guidance, tick)
    gen = RealSet(np.stack(gen_enc), np.stack(gen_mel))
    # as many control generations as `fad` takes, spread over every control and setting
    picked = np.stack(control_emb)[np.linspace(0, len(control_emb) - 1, min(len(gen), len(control_emb))).astype(int)] \
        if control_emb else None
    return {
        "split": split, "source": source,
        # NaN (said, not warned) when the judge knows no label of the chosen prompts: a recording's
        # tempo and lead are unknown, and a classifier trained before recordings knows no family of theirs
        "prompt_acc": float(np.mean(prompt_hits)) if prompt_hits else float("nan"),
        "prompt_acc_real": float(np.mean(real_hits)) if real_hits else float("nan"),
        "prompt_judged": len(prompt_hits),
        "prompt_acc_signal": signal.accuracy(), "prompt_acc_signal_real": signal_real.accuracy(("tempo", "drums")),
        "prompt_acc_signal_by": signal.by_attribute(), "prompt_acc_signal_real_by": signal_real.by_attribute(),
        "control_acc": control, **model_follow.result(""), **codec_follow.result("_codec"),
        "loud_corr_unfollowed": unfollowed.result("")["loud_corr"],
        **distances(gen, reference, floor),
        "fad_mel_codec": frechet_diagonal(floor.mel_codec[:len(gen)], reference.mel[:len(gen)]),
        "control_fad": frechet(picked, reference.enc[:len(picked)]) if picked is not None else float("nan"),
        "clips": len(chosen), "reference_clips": len(roles.reference), "floor_clips": len(roles.floor),
        "seconds": blocks * cfg.block_seconds, "steps": steps, "guidance": guidance,
        "control_guidance": control_guidance, "sketch_guidance": sketch_guidance,
        "pitch_guidance": pitch_guidance, "seed": seed,
    }


@dataclass
class EvalRoles:
    """Three disjoint sets of one split's clips, by piece: the clips whose captions and curves prompt
    the generations, the real reference the distances are measured to, and the real floor set."""
    prompts: list[int]
    reference: list[int]
    floor: list[int]

    @classmethod
    def of(cls, held: LatentSplit, split: str, prompt_frames: int, clips: int, seed: int = 0,
           keep=None, kind: str = "all") -> "EvalRoles":
        """`keep(clip)`: which clips may take part; `kind` names them for the error when none may."""
        members = [i for i in indices_in(held.clips, split) if keep is None or keep(held.clips[i])]
        if not members:
            raise ValueError(f"no {split} clips of source {kind!r} in this corpus; build one with that source "
                             "(`lmdmlive corpus build --sources ...`) or use --source all")
        pieces = sorted({piece_of(held.clips[i]) for i in members})
        rng = np.random.default_rng(seed)
        role = {p: k % 3 for k, p in enumerate(rng.permutation(pieces))}
        by_role = [[i for i in members if role[piece_of(held.clips[i])] == r] for r in range(3)]
        prompts = [i for i in by_role[0] if held.frames(i) >= prompt_frames][:clips]
        reference = [i for i in by_role[1] if held.frames(i) >= WINDOW]
        floor = [i for i in by_role[2] if held.frames(i) >= WINDOW]
        if not prompts:
            raise ValueError(f"no {split} clip holds {prompt_frames} latent frames; build a larger corpus "
                             "(`lmdmlive corpus build --only heldout`)")
        if not reference or not floor:
            raise ValueError(f"the {split} split has too few pieces for disjoint reference and floor sets")
        return cls(prompts, reference, floor)


@dataclass
class RealWindows(RealSet):
    centroids: np.ndarray = None
    mel_codec: np.ndarray = None


@torch.no_grad()
def real_set(judges: Judges, held: LatentSplit, corpus: Path, records: dict, members: list[int], n: int,
             hop: int, rate: int, seed: int, codec=None) -> RealWindows:
    """n real windows spread over `members` (one random window per clip in turn), as both judges see
    them, with each window's centroid and the log-mel statistics of the window through the codec."""
    picks = spread_windows([held.frames(i) for i in members], n, WINDOW, np.random.default_rng(seed))
    enc, mel, cent, coded = [], [], [], []
    audio_of = {}
    for k, start in picks:
        i = members[k]
        z = held.clip(i, start, WINDOW)[0][None]
        enc.append(judges.encoder(z)[0].numpy())
        if i not in audio_of:
            audio_of[i] = load_audio(corpus, records[held.clips[i]["id"]])
        window = audio_of[i][start * hop:(start + WINDOW) * hop]
        mel.append(mel_stats(window, rate))
        cent.append(centroid_hz(window, rate))
        if codec is not None:
            coded.append(mel_stats(codec.decode(z)[0].numpy(), rate))
    return RealWindows(np.stack(enc), np.stack(mel), np.array(cent), np.stack(coded) if coded else None)
