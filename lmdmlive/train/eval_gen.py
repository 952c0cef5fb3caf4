"""Generation as a stream plays it, and the learned judges that listen to it, for every `eval` command."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..model import Conditions, generate_block, load_checkpoint
from ..model.audio_prompt import AudioPromptEncoder, SmallModelConfig
from ..model.generate import CONTROL_GUIDANCE, PITCH_GUIDANCE, SKETCH_GUIDANCE
from .audio_models import WINDOW, AttributeClassifier


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
             sketch_guidance: float | None = SKETCH_GUIDANCE,
             pitch_guidance: float | None = PITCH_GUIDANCE) -> np.ndarray:
    """Audio (codec rate) of one stream generated under one Conditions per block, as the model
    decodes it (without the loudness follower: `follow_blocks` adds it)."""
    cache, decoder = lmdm.new_cache(1), codec.stream_decoder()
    out = []
    for cond in conds:
        z = generate_block(lmdm, [cache], cond, [seed], steps=steps, guidance=guidance,
                           control_guidance=control_guidance, sketch_guidance=sketch_guidance,
                           pitch_guidance=pitch_guidance)
        out.append(decoder(lmdm.to_codec(z))[0].numpy())
    return np.concatenate(out)


def block_conditions(cfg, blocks: int, style, sketch=None, mask=None, arrangement=None, arrangement_mask=None):
    bf = cfg.block_frames
    out = []
    for b in range(blocks):
        sl = slice(b * bf, (b + 1) * bf)
        out.append(Conditions(style=style, sketch=None if sketch is None else sketch[:, sl],
                              sketch_mask=None if mask is None else mask[:, sl],
                              arrangement=arrangement, arrangement_mask=arrangement_mask))
    return out


@torch.no_grad()
def judge(judges: Judges, codec, audio: np.ndarray):
    """Classifier outputs and encoder embedding of the window after the first second."""
    z = codec.encode(torch.from_numpy(audio[: len(audio) // codec.cfg.hop * codec.cfg.hop])[None])
    w = z[:, 25:25 + WINDOW] if z.shape[1] >= 25 + WINDOW else z[:, -WINDOW:]
    return {k: v[0] for k, v in judges.classifier(w).items()}, judges.encoder(w)[0].numpy()
