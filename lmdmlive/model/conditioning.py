"""The conditions a target block is generated under, and their guidance-dropout form.

Every condition is optional, per item and (for per-frame curves) per frame and
curve: a mask of 0 means "not given", which is also what classifier-free guidance
uses as the unconditional branch. The model never sees a condition on context
tokens, so changing a prompt never invalidates the KV cache.

Sketch curves are fed to the model in normalised units so that one scale fits
all of them; `sketch_units` converts from the units performers and feature
extractors speak (dB, Hz, MIDI note numbers).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from .config import ARRANGEMENT_CONTROLS, LMDMConfig, SKETCH_CURVES


ONSET_SCALE = 0.5   # the corpus's onset strength is ~0.15 between onsets (median) and ~0.4 at strong ones


def sketch_units(curve: str, value):
    """Map a curve value from performer units to model units (roughly unit scale)."""
    if curve == "loud":      # dB full scale, -60 (near silence) .. 0
        return (value + 30.0) / 15.0
    if curve == "bright":    # spectral centroid in Hz, in octaves around 1 kHz
        if torch.is_tensor(value):
            return torch.log2(value.float().clamp_min(20.0) / 1000.0)
        return math.log2(max(float(value), 20.0) / 1000.0)
    if curve == "pitch":     # MIDI note number (60 = middle C)
        return (value - 60.0) / 12.0
    if curve == "voiced":    # 0 or 1
        return value
    if curve == "onset":     # spectral-flux onset strength; a rhythm lane's 1 means a clear onset
        if torch.is_tensor(value):
            return (value.float() / ONSET_SCALE).clamp(max=3.0)
        return min(float(value) / ONSET_SCALE, 3.0)
    raise KeyError(f"unknown sketch curve {curve!r}; known curves are {list(SKETCH_CURVES)}")


def sketch_from_features(curves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature-unit curves (..., 5) -> model units and a mask where each value is meaningful.

    Pitch means something only on voiced frames, so its mask follows voicing.
    """
    out = torch.empty_like(curves)
    mask = torch.ones_like(curves)
    for i, name in enumerate(SKETCH_CURVES):
        out[..., i] = sketch_units(name, curves[..., i])
    voiced = curves[..., SKETCH_CURVES.index("voiced")] > 0.5
    p = SKETCH_CURVES.index("pitch")
    mask[..., p] = voiced.float()
    out[..., p] = torch.where(voiced, out[..., p], torch.zeros_like(out[..., p]))
    return torch.nan_to_num(out), mask


def arrangement_units(control: str, value) -> float:
    """An arrangement knob from performer units to [0, 1].

    drums, bass, harmony, lead: presence, 0 (out) .. 1 (in)
    density:    notes per second, on a log scale from 1 (0) to 16 (1)
    brightness: mean spectral centroid in Hz, on a log scale from 250 Hz (0) to 4 kHz (1)
    tempo:      BPM, from 60 (0) to 180 (1)
    """
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"arrangement {control!r} must be a finite number, got {value!r}")
    if control in ("drums", "bass", "harmony", "lead"):
        out = v
    elif control == "density":
        out = math.log2(max(v, 1e-3)) / 4.0
    elif control == "brightness":
        out = math.log2(max(v, 1.0) / 250.0) / 4.0
    elif control == "tempo":
        out = (v - 60.0) / 120.0
    else:
        raise KeyError(f"unknown arrangement control {control!r}; known controls are {list(ARRANGEMENT_CONTROLS)}")
    return min(1.0, max(0.0, out))


def arrangement_from_record(record: dict, mean_centroid_hz: float) -> list[float]:
    """The arrangement a corpus clip was made with (exact for the groups: they come from its MIDI).

    NaN marks a control the record does not know; training leaves it out (mask 0).
    """
    groups = record.get("groups") or {}
    out = []
    for control in ARRANGEMENT_CONTROLS:
        if control in ("drums", "bass", "harmony", "lead"):
            out.append(float(groups[control]) if control in groups else float("nan"))
        elif control == "density":
            out.append(arrangement_units("density", record["density"]) if record.get("density") else float("nan"))
        elif control == "brightness":
            out.append(arrangement_units("brightness", mean_centroid_hz))
        else:
            out.append(arrangement_units("tempo", record["tempo"]) if record.get("tempo") else float("nan"))
    return out


@dataclass
class Conditions:
    """Conditions for a batch of target blocks.

    style:            (B, style_dim) prompt embedding (text or audio prompt)
    style_mask:       (B,) 1 where a prompt is given
    sketch:           (B, T, n_curves) curves in model units (`sketch_units`)
    sketch_mask:      (B, T, n_curves) 1 where that curve is given at that frame
    audio:            (B, T, latent_dim) input-audio latents (generative delay)
    audio_mask:       (B, T) 1 where input audio is given
    arrangement:      (B, n_controls) arrangement knobs in [0, 1]
    arrangement_mask: (B, n_controls)
    Any field left None is "not given" for the whole batch.
    """

    style: torch.Tensor | None = None
    style_mask: torch.Tensor | None = None
    sketch: torch.Tensor | None = None
    sketch_mask: torch.Tensor | None = None
    audio: torch.Tensor | None = None
    audio_mask: torch.Tensor | None = None
    arrangement: torch.Tensor | None = None
    arrangement_mask: torch.Tensor | None = None

    def filled(self, cfg: LMDMConfig, batch: int, frames: int, dtype=torch.float32) -> "Conditions":
        """Every field as a tensor of the right shape and dtype, zeros (= not given) where None."""
        device = next((v.device for v in vars(self).values() if isinstance(v, torch.Tensor)), None)

        def zeros(*shape):
            return torch.zeros(*shape, dtype=dtype, device=device)

        def ones_like_leading(x, *shape):
            return torch.ones(*shape, dtype=dtype, device=device) if x is not None else zeros(*shape)

        n_sk, n_arr = len(cfg.sketch_curves), len(cfg.arrangement)
        out = Conditions(
            style=self.style if self.style is not None else zeros(batch, cfg.style_dim),
            style_mask=self.style_mask if self.style_mask is not None else ones_like_leading(self.style, batch),
            sketch=self.sketch if self.sketch is not None else zeros(batch, frames, n_sk),
            sketch_mask=self.sketch_mask if self.sketch_mask is not None else ones_like_leading(self.sketch, batch, frames, n_sk),
            audio=self.audio if self.audio is not None else zeros(batch, frames, cfg.latent_dim),
            audio_mask=self.audio_mask if self.audio_mask is not None else ones_like_leading(self.audio, batch, frames),
            arrangement=self.arrangement if self.arrangement is not None else zeros(batch, n_arr),
            arrangement_mask=self.arrangement_mask if self.arrangement_mask is not None
            else ones_like_leading(self.arrangement, batch, n_arr),
        )
        out.check(cfg, batch, frames, finite=False)   # values are checked once per block, not per step
        for name, value in vars(out).items():
            if value.dtype != dtype:
                setattr(out, name, value.to(dtype))
        return out

    def check(self, cfg: LMDMConfig, batch: int, frames: int, finite: bool = True) -> None:
        n_sk, n_arr = len(cfg.sketch_curves), len(cfg.arrangement)
        expected = {
            "style": (batch, cfg.style_dim), "style_mask": (batch,),
            "sketch": (batch, frames, n_sk), "sketch_mask": (batch, frames, n_sk),
            "audio": (batch, frames, cfg.latent_dim), "audio_mask": (batch, frames),
            "arrangement": (batch, n_arr), "arrangement_mask": (batch, n_arr),
        }
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != shape:
                raise ValueError(f"condition {name!r} has shape {tuple(value.shape)}, expected {shape} "
                                 f"(batch {batch}, {frames} frames)")
            if finite and value is not None and not torch.isfinite(value).all():
                raise ValueError(f"condition {name!r} holds NaN or infinite values")

    def dropped(self) -> "Conditions":
        """The unconditional branch of classifier-free guidance: nothing given."""
        return Conditions()

    def repeat(self, n: int) -> "Conditions":
        """Each item repeated n times along the batch (for several guidance branches)."""
        return Conditions(**{k: (None if v is None else v.repeat_interleave(n, dim=0)) for k, v in vars(self).items()})

    def drop_randomly(self, p: float, generator: torch.Generator | None = None) -> "Conditions":
        """Guidance dropout for training: each condition of each item dropped with probability p."""
        out = replace(self)
        for value_name in ("style", "audio", "arrangement"):
            mask_name = value_name + "_mask"
            mask = getattr(self, mask_name)
            if mask is None:
                continue
            b = mask.shape[0]
            keep = (torch.rand(b, generator=generator) >= p).to(mask.dtype)
            setattr(out, mask_name, mask * keep.view(b, *([1] * (mask.dim() - 1))))
        if self.sketch_mask is not None:
            b, _, n = self.sketch_mask.shape
            keep = (torch.rand(b, 1, n, generator=generator) >= p).to(self.sketch_mask.dtype)
            out.sketch_mask = self.sketch_mask * keep
        return out


def stack_conditions(items: list[Conditions], cfg: LMDMConfig, frames: int) -> Conditions:
    """Per-stream conditions (one item each) as one batch: the engine's one model call per block."""
    filled = [c.filled(cfg, 1, frames) for c in items]
    return Conditions(**{k: torch.cat([getattr(f, k) for f in filled], dim=0) for k in vars(filled[0])})
