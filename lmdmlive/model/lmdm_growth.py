"""How an LMDM state from an older or narrower model starts a newer or wider one.

Two ways a trained model meets a config it was not made for, both of which keep what it
computes: inputs added after it was trained (the pitch encoding) start at zero, and a
codec with more latent channels widens its latent-channel tensors.
"""
from __future__ import annotations

import torch

GROWN_INPUTS = ("pitch_proj.",)
"""Parameters of inputs added after the first checkpoints; they start at zero when an older state grows."""

WIDENED_LATENTS = {"in_proj.weight": "in", "audio_proj.weight": "in", "out_proj.weight": "out", "out_proj.bias": "out",
                   "latent_mean": "out", "latent_std": "out"}
"""Tensors with a latent-channel axis, and which axis ("in": columns, "out": rows) a wider codec widens."""


def widened_latents(state: dict, fresh: dict) -> dict:
    """`state` with its latent-channel tensors widened to `fresh`'s shapes: its channels kept in
    place, the new ones at zero in and out (the audio input's mask column stays last).

    Why: a codec grown to more latent channels keeps its first ones nearly as they were (on
    recorded valid audio each correlates 0.82 to 0.98 with the narrower codec's, docs/dev/codec.md),
    so a model trained on the narrow latents starts on the wide ones knowing most of what
    it needs: it reads the new channels as silence and predicts none of them until trained."""
    out = dict(state)
    for key, axis in WIDENED_LATENTS.items():
        if key not in state or key not in fresh or state[key].shape == fresh[key].shape:
            continue
        old, new = state[key], torch.zeros_like(fresh[key])
        if (old.shape[1:] != new.shape[1:]) if axis == "out" else (old.shape[0] != new.shape[0]):
            continue                          # another model size, not another width: grown_state says so
        if key == "latent_std":
            new.fill_(1.0)
        if axis == "out":
            if old.shape[0] > new.shape[0]:
                raise ValueError(f"{key}: {tuple(old.shape)} cannot widen to {tuple(new.shape)}")
            new[:old.shape[0]] = old
        else:
            if old.shape[1] > new.shape[1]:
                raise ValueError(f"{key}: {tuple(old.shape)} cannot widen to {tuple(new.shape)}")
            masked = key == "audio_proj.weight"           # (latents..., mask): the mask column stays last
            width = old.shape[1] - masked
            new[:, :width] = old[:, :width]
            if masked:
                new[:, -1] = old[:, -1]
        out[key] = new
    return out


def grown_state(fresh: dict, state: dict) -> tuple[dict, list[str]]:
    """(`state` made loadable into a model whose own state is `fresh`, the names started at zero).

    Inputs added later start at zero, so the grown model computes exactly what the older
    one did until training teaches it to use them; a state made for fewer latent channels
    is widened (widened_latents). Anything else that differs is an error."""
    state = widened_latents(state, fresh)
    for key in sorted(set(state) & set(fresh)):
        if state[key].shape != fresh[key].shape:
            raise ValueError(f"{key}: the state's {tuple(state[key].shape)} does not fit the model's "
                             f"{tuple(fresh[key].shape)}")
    grown = sorted(k for k in fresh if k not in state)
    missing = [k for k in grown if not k.startswith(GROWN_INPUTS)]
    unexpected = sorted(set(state) - set(fresh))
    if missing or unexpected:
        raise ValueError(f"states differ beyond the inputs added later ({', '.join(GROWN_INPUTS)}): "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    return {**{k: torch.zeros_like(fresh[k]) for k in grown}, **state}, grown
