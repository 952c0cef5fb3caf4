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

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..model import Conditions, generate_block, load_checkpoint
from ..model.generate import CONTROL_GUIDANCE, SKETCH_GUIDANCE
from ..model.audio_prompt import AudioPromptEncoder, SmallModelConfig
from ..model.conditioning import arrangement_units, sketch_from_features
from ..model.config import ARRANGEMENT_CONTROLS, SKETCH_CURVES
from ..model.features import sketch_features
from ..model.loudness_follow import follow_blocks, lag_frames
from .audio_models import GROUPS, WINDOW, AttributeClassifier, Windows
from .codec_eval import pitch_kept
from .latents import LatentSplit, build_store, store_dir

I = {n: i for i, n in enumerate(SKETCH_CURVES)}
SKETCHED = ("loud", "bright", "pitch", "voiced")


@dataclass
class Judges:
    classifier: AttributeClassifier
    encoder: AudioPromptEncoder


def load_judges(classifier_path: Path, encoder_path: Path) -> Judges:
    def build_classifier(cfg):
        return AttributeClassifier(cfg.fields["families"], cfg.fields["latent_dim"])

    def build_encoder(cfg):
        return AudioPromptEncoder(cfg.fields["latent_dim"])

    cls = load_checkpoint(classifier_path, "classifier", SmallModelConfig, build_classifier)[0].eval()
    enc = load_checkpoint(encoder_path, "audio-prompt", SmallModelConfig, build_encoder)[0].eval()
    return Judges(cls, enc)


@torch.no_grad()
def generate(lmdm, codec, conds: list[Conditions], seed: int, steps: int, guidance: float,
             control_guidance: float | None = CONTROL_GUIDANCE,
             sketch_guidance: float | None = SKETCH_GUIDANCE) -> np.ndarray:
    """Audio (codec rate) of one stream generated under one Conditions per block, as the model
    decodes it (without the loudness follower: `follow_blocks` adds it)."""
    cache, decoder = lmdm.new_cache(1), codec.stream_decoder()
    out = []
    for cond in conds:
        z = generate_block(lmdm, [cache], cond, [seed], steps=steps, guidance=guidance,
                           control_guidance=control_guidance, sketch_guidance=sketch_guidance)
        out.append(decoder(lmdm.to_codec(z))[0].numpy())
    return np.concatenate(out)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    d = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / d) if d > 0 else 0.0


def frechet(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of embeddings (rows)."""
    mu1, mu2 = x.mean(0), y.mean(0)
    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    # trace of sqrt(c1 c2) from the eigenvalues of sqrt(c1) c2 sqrt(c1), which is symmetric
    w, v = np.linalg.eigh(c1)
    s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = s1 @ c2 @ s1
    tr = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * tr)


def _block_conditions(cfg, blocks: int, style, sketch=None, mask=None, arrangement=None, arrangement_mask=None):
    bf = cfg.block_frames
    out = []
    for b in range(blocks):
        sl = slice(b * bf, (b + 1) * bf)
        out.append(Conditions(style=style, sketch=None if sketch is None else sketch[:, sl],
                              sketch_mask=None if mask is None else mask[:, sl],
                              arrangement=arrangement, arrangement_mask=arrangement_mask))
    return out


@torch.no_grad()
def _judge(judges: Judges, codec, audio: np.ndarray):
    """Classifier outputs and encoder embedding of the window after the first second."""
    z = codec.encode(torch.from_numpy(audio[: len(audio) // codec.cfg.hop * codec.cfg.hop])[None])
    w = z[:, 25:25 + WINDOW] if z.shape[1] >= 25 + WINDOW else z[:, -WINDOW:]
    return {k: v[0] for k, v in judges.classifier(w).items()}, judges.encoder(w)[0].numpy()


def evaluate_model(lmdm, codec, corpus: Path, codec_path: Path, judges: Judges, embed, *, clips: int = 32,
                   seconds: float = 10.0, steps: int = 4, guidance: float = 2.0,
                   control_guidance: float | None = CONTROL_GUIDANCE, control_clips: int = 8,
                   sketch_guidance: float | None = SKETCH_GUIDANCE, progress=None) -> dict:
    cfg = lmdm.cfg
    folder = store_dir(corpus, codec_path)
    build_store(corpus, codec_path)
    held = LatentSplit(folder, "heldout")
    families = judges.classifier.families
    windows = Windows(held, families, 0)
    blocks = max(1, int(round(seconds * cfg.frame_rate / cfg.block_frames)))
    frames = blocks * cfg.block_frames
    chosen = [i for i in range(len(held)) if held.frames(i) >= max(frames, 25 + WINDOW)][:clips]
    if not chosen:
        raise ValueError(f"no held-out clip holds {seconds:g} s")
    total = 2 * len(chosen) + control_clips * 2 * len(ARRANGEMENT_CONTROLS)
    done = 0

    def tick():
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    prompt_hits, real_hits, gen_emb = [], [], []
    model_follow, codec_follow, unfollowed = _Following(), _Following(), _Following()
    hop, rate = codec.cfg.hop, codec.cfg.sample_rate
    for n, i in enumerate(chosen):
        clip = held.clips[i]
        text = held.caption_texts[clip["unseen_caption"]] if clip.get("unseen_caption") is not None \
            else held.caption_texts[clip["captions"][0]]
        style = embed(text)
        want = windows.labels(i)
        # prompt only
        audio = generate(lmdm, codec, _block_conditions(cfg, blocks, style), seed=n, steps=steps, guidance=guidance)
        out, emb = _judge(judges, codec, audio)
        gen_emb.append(emb)
        for k, j in (("family", 0), ("tempo", 1), ("lead", 2)):
            if want[j] >= 0:
                prompt_hits.append(int(out[k].argmax()) == want[j])
        z_real = held.clip(i, 25, WINDOW)[0][None]
        real = judges.classifier(z_real)
        for k, j in (("family", 0), ("tempo", 1), ("lead", 2)):
            if want[j] >= 0:
                real_hits.append(int(real[k][0].argmax()) == want[j])
        tick()
        # prompt + sketch of the real clip
        z_clip, curves = held.clip(i, 0, frames)
        sketch, mask = sketch_from_features(curves[None])
        keep = torch.zeros(len(SKETCH_CURVES))
        keep[[I[c] for c in SKETCHED]] = 1.0
        mask = mask * keep
        conds = _block_conditions(cfg, blocks, style, sketch, mask)
        audio = generate(lmdm, codec, conds, seed=1000 + n, steps=steps, guidance=guidance,
                         sketch_guidance=sketch_guidance)
        delay = codec.cfg.delay_samples        # curves are in latent time; a delayed decoder's audio trails it
        followed = follow_blocks(audio, conds, hop, cfg.block_frames, lag_frames(codec.cfg))
        _follow(sketch_features(followed[delay:], rate, hop), curves, frames, model_follow)
        _follow(sketch_features(audio[delay:], rate, hop), curves, frames, unfollowed)
        # the same clip through the codec alone: how much any model on this codec can follow
        with torch.no_grad():
            real_audio = codec.decode(z_clip[None])[0].numpy()
        _follow(sketch_features(real_audio[delay:], rate, hop), curves, frames, codec_follow)
        tick()

    control, control_emb = _controls(lmdm, codec, judges, held, chosen[:control_clips], embed, blocks, steps,
                                     guidance, control_guidance, tick)
    real_emb = _real_embeddings(judges, held, len(chosen) * 2)
    half = len(real_emb) // 2
    gen = np.stack(gen_emb)
    n = min(len(gen), half)
    # as many control generations as `fad` takes, spread over every control and setting
    picked = np.stack(control_emb)[np.linspace(0, len(control_emb) - 1, min(n, len(control_emb))).astype(int)]
    return {
        "prompt_acc": float(np.mean(prompt_hits)), "prompt_acc_real": float(np.mean(real_hits)),
        "control_acc": control, **model_follow.result(""), **codec_follow.result("_codec"),
        "loud_corr_unfollowed": unfollowed.result("")["loud_corr"],
        "fad": frechet(gen[:n], real_emb[:half]), "fad_floor": frechet(real_emb[half:half + n], real_emb[:half]),
        "control_fad": frechet(picked, real_emb[:half]),
        "clips": len(chosen), "seconds": blocks * cfg.block_seconds, "steps": steps, "guidance": guidance,
        "control_guidance": control_guidance, "sketch_guidance": sketch_guidance,
    }


@dataclass
class _Following:
    """How closely audio's curves follow the requested ones, accumulated over clips."""
    loud: list = field(default_factory=list)
    bright: list = field(default_factory=list)
    pitch_ok: int = 0
    pitch_n: int = 0

    def result(self, suffix: str) -> dict:
        return {f"loud_corr{suffix}": float(np.mean(self.loud)), f"bright_corr{suffix}": float(np.mean(self.bright)),
                f"pitch_acc{suffix}": self.pitch_ok / self.pitch_n if self.pitch_n else float("nan")}


def _follow(got: dict, curves: torch.Tensor, frames: int, into: _Following) -> None:
    m = min(len(got["loud"]), frames)
    want = curves[:m].numpy()
    into.loud.append(pearson(got["loud"][:m], want[:, I["loud"]]))
    into.bright.append(pearson(np.log(np.maximum(got["bright"][:m], 20)), np.log(np.maximum(want[:, I["bright"]], 20))))
    right, voiced = pitch_kept({"pitch": want[:, I["pitch"]], "voiced": want[:, I["voiced"]]}, got)
    into.pitch_ok += right
    into.pitch_n += voiced


@torch.no_grad()
def _real_embeddings(judges: Judges, held: LatentSplit, n: int) -> np.ndarray:
    """Encoder embeddings of real held-out windows, clip after clip (halves are disjoint by clip)."""
    out = []
    for i in range(len(held)):
        for start in range(0, held.frames(i) - WINDOW + 1, WINDOW):
            out.append(judges.encoder(held.clip(i, start, WINDOW)[0][None])[0].numpy())
            if len(out) >= 2 * n:
                return np.stack(out)
    return np.stack(out)


def _controls(lmdm, codec, judges, held, chosen, embed, blocks, steps, guidance, control_guidance,
              tick) -> tuple[dict, list]:
    """control_acc per control, and the encoder embeddings of every generation (for control_fad)."""
    cfg = lmdm.cfg
    embeddings = []
    settings = {"drums": (0.0, 1.0), "bass": (0.0, 1.0), "harmony": (0.0, 1.0), "lead": (0.0, 1.0),
                "density": (2.0, 12.0), "brightness": (400.0, 3000.0), "tempo": (80.0, 160.0)}
    hop, rate = codec.cfg.hop, codec.cfg.sample_rate
    result = {}
    for control in ARRANGEMENT_CONTROLS:
        hits = []
        for n, i in enumerate(chosen):
            clip = held.clips[i]
            style = embed(held.caption_texts[clip["captions"][0]])
            measured = []
            for value in settings[control]:
                arr = torch.zeros(1, len(ARRANGEMENT_CONTROLS))
                mask = torch.zeros(1, len(ARRANGEMENT_CONTROLS))
                k = ARRANGEMENT_CONTROLS.index(control)
                arr[0, k], mask[0, k] = arrangement_units(control, value), 1.0
                audio = generate(lmdm, codec, _block_conditions(cfg, blocks, style, arrangement=arr,
                                                                 arrangement_mask=mask),
                                 seed=2000 + n, steps=steps, guidance=guidance, control_guidance=control_guidance)
                out, emb = _judge(judges, codec, audio)
                embeddings.append(emb)
                if control in ("drums", "bass", "harmony", "lead"):
                    head = GROUPS[("drums", "bass", "harmony", "lead").index(control)]
                    hits.append(int(out[head].argmax()) == int(value))
                elif control == "density":      # onsets per second: clear local peaks of onset strength
                    onset = sketch_features(audio, rate, hop)["onset"]
                    peaks = (onset[1:-1] > 0.25) & (onset[1:-1] >= onset[:-2]) & (onset[1:-1] > onset[2:])
                    measured.append(float(peaks.sum()) / (len(audio) / rate))
                elif control == "brightness":
                    measured.append(float(np.mean(np.log(np.maximum(sketch_features(audio, rate, hop)["bright"], 20)))))
                else:
                    measured.append(float((torch.softmax(out["tempo"], 0) * torch.arange(len(out["tempo"]))).sum()))
                tick()
            if measured:
                hits.append(measured[1] > measured[0])
        result[control] = float(np.mean(hits)) if hits else float("nan")
    return result, embeddings
