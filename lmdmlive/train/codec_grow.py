"""A trained codec grown into a wider one that, at its first step, sounds the same.

Why grow rather than start over: the shipped codec took 75,000 steps to match Opus on
rendered music, most of that spent learning what every codec must (an STFT envelope, a
phase that does not smear onsets). A codec that must also carry real recordings' pitch
needs latents that carry more (more channels) and an encoder that reads phase
(`encoder_phase`); both can be added as inputs and outputs that start silent, so the
grown codec begins where the trained one stands and only learns what is new.

- New encoder inputs (the phase advances) start with zero weights.
- New latent channels start as the prior: log-variance 0 and a mean that reads the
  encoder only faintly (small random weights, so gradients reach them at all), and the
  decoder starts deaf to them (zero weights).
"""
from __future__ import annotations

import dataclasses

import torch

from ..model import Codec, CodecConfig

GROWABLE = ("latent_dim", "encoder_phase")
"""Config fields a codec can be grown in (the decoder-only fields change without growing)."""
NEW_MEAN_SCALE = 0.1


def check_growth(start: CodecConfig, config: CodecConfig, where: str) -> None:
    """An error unless `config` is `start` grown: latents at least as wide, phase read if it was."""
    if config.latent_dim < start.latent_dim:
        raise ValueError(f"{where}: a codec cannot shrink from {start.latent_dim} to {config.latent_dim} "
                         "latent channels; train a new one without --init")
    if start.encoder_phase and not config.encoder_phase:
        raise ValueError(f"{where}: its encoder reads phase, and a grown codec cannot stop reading it")


def grown(cfg: CodecConfig, start: Codec) -> dict[str, torch.Tensor]:
    """A state dict for Codec(cfg) holding `start`'s weights, its new parts silent (module docstring)."""
    check_growth(start.cfg, cfg, "grown codec")
    fresh = Codec(cfg).state_dict()
    old = start.state_dict()
    was, now = start.cfg.latent_dim, cfg.latent_dim
    out = {}
    for name, target in fresh.items():
        if name not in old:                        # a carried phase head grown on an absolute one
            out[name] = target
            continue
        t = old[name]
        if t.shape == target.shape:
            out[name] = t.clone()
        elif name == "enc_in.weight":              # log-magnitudes first in both; phase columns start at zero
            w = torch.zeros_like(target)
            w[:, :t.shape[1]] = t
            out[name] = w
        elif name.startswith("enc_out."):          # rows: means, then log-variances
            w = torch.zeros_like(target)
            w[:was] = t[:was]
            w[now:now + was] = t[was:]
            if name.endswith("weight"):
                w[was:now] = NEW_MEAN_SCALE * target[was:now]
            out[name] = w
        elif name == "dec_in.weight":
            w = torch.zeros_like(target)
            w[:, :was] = t
            out[name] = w
        else:
            raise ValueError(f"grown codec: {name} changes shape {tuple(t.shape)} -> {tuple(target.shape)} "
                             "in a way growing does not cover")
    return out


def differs_only_in_growth(start: CodecConfig, config: CodecConfig, decoder_fields: tuple[str, ...]) -> bool:
    kept = {k: getattr(config, k) for k in decoder_fields + GROWABLE}
    return dataclasses.replace(start, **kept) == config
