"""`control_acc`: whether generated audio obeys each arrangement control, set low and high."""
from __future__ import annotations

import numpy as np
import torch

from ..model.conditioning import arrangement_units
from ..model.config import ARRANGEMENT_CONTROLS
from ..model.features import sketch_features
from .audio_models import GROUPS
from .eval_gen import block_conditions, generate, judge


def evaluate_controls(lmdm, codec, judges, held, chosen, embed, blocks, steps, guidance, control_guidance,
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
                audio = generate(lmdm, codec, block_conditions(cfg, blocks, style, arrangement=arr,
                                                                 arrangement_mask=mask),
                                 seed=2000 + n, steps=steps, guidance=guidance, control_guidance=control_guidance)
                out, emb = judge(judges, codec, audio)
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
