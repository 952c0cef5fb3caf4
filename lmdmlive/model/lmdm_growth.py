"""How an LMDM state from an older or narrower model starts a newer or wider one.

Three ways a trained model meets a config it was not made for, all of which keep what it
computes: inputs added after it was trained (the pitch encoding) start at zero, a codec
with more latent channels widens its latent-channel tensors, and a deeper config stacks
new blocks on top that add nothing until trained.
"""
from __future__ import annotations

import re

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


SILENT_OUTPUTS = ("attn.proj.", "mlp.2.")
"""A block's parameters that write into the residual stream; at zero the block passes its input on."""


def state_depth(state: dict) -> int:
    """How many transformer blocks a state holds."""
    return 1 + max((int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))), default=-1)


def deepened(state: dict, fresh: dict) -> dict:
    """`state` with the blocks `fresh` has beyond its own depth taken from `fresh`, their
    residual outputs set to zero.

    Why: a deeper model measured against the one it grew from should start where that one
    is, not from scratch (two cores cannot train a model twice). A new block on top whose
    attention and MLP outputs are zero leaves the stream as it was, so the grown model plays
    exactly what the shallower one did; its inner weights keep `fresh`'s random start, so the
    outputs' gradients are not zero and the block starts learning at the first step."""
    old, new = state_depth(state), state_depth(fresh)
    if new <= old or old == 0:
        return state
    out = dict(state)
    for key, value in fresh.items():
        m = re.match(r"blocks\.(\d+)\.(.*)", key)
        if m and int(m.group(1)) >= old:
            out[key] = torch.zeros_like(value) if m.group(2).startswith(SILENT_OUTPUTS) else value.clone()
    return out


def grown_state(fresh: dict, state: dict) -> tuple[dict, list[str]]:
    """(`state` made loadable into a model whose own state is `fresh`, the names started at zero).

    Inputs added later start at zero, so the grown model computes exactly what the older
    one did until training teaches it to use them; a state made for fewer latent channels
    is widened (widened_latents); a state with fewer blocks gets silent ones on top (deepened),
    which learn at the rate of the rest. Anything else that differs is an error."""
    state = deepened(widened_latents(state, fresh), fresh)
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
