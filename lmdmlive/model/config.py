"""Configurations of the codec and the LMDM transformer.

The defaults are sized for a 2-core laptop CPU (measured with `lmdmlive bench`):
larger models are just other configs. Configs travel inside checkpoints as JSON,
so every field is a plain number, string or list.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

SKETCH_CURVES = ("loud", "bright", "pitch", "voiced", "onset")
"""Per-frame control curves, in the order of the sketch tensor's last axis."""

ARRANGEMENT_CONTROLS = ("drums", "bass", "harmony", "lead", "density", "brightness", "tempo")
"""Global arrangement knobs, in the order of the arrangement tensor's last axis."""


PHASE_HEADS = ("absolute", "carried")
"""How the codec's decoder sets each STFT bin's phase (see model/codec.py)."""


class ConfigError(ValueError):
    """A config that cannot describe a working model; the message names the field."""


def _from_dict(cls, data: dict, where: str):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; known fields are {sorted(known)}")
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
    cfg = cls(**kwargs)
    cfg.validate(where)
    return cfg


@dataclass(frozen=True)
class CodecConfig:
    sample_rate: int = 24000
    frame_rate: int = 25          # latent frames per second
    latent_dim: int = 32
    stft_hop: int = 240           # decoder works at sample_rate / stft_hop frames per second
    channels: int = 256
    encoder_layers: int = 4
    decoder_layers: int = 8
    kernel: int = 7
    mlp_ratio: int = 3
    phase_head: str = "absolute"  # "absolute": a phase per frame; "carried": each bin's phase runs on (codec.py)
    decoder_delay: int = 0        # STFT hops the decoded audio trails its input (codec.py, "Delay")
    encoder_phase: bool = False   # the encoder also reads each bin's phase advance (codec.py, "Encoder")
    harmonics: int = 0            # partials of a harmonic branch beside the decoder (codec_harmonic.py); 0: none
    phase_lock: bool = False      # a carried head's advances played by peak-tracked locking (codec_lock.py)

    @property
    def hop(self) -> int:
        """Audio samples per latent frame."""
        return self.sample_rate // self.frame_rate

    @property
    def upsample(self) -> int:
        """Decoder (STFT) frames per latent frame."""
        return self.hop // self.stft_hop

    @property
    def n_fft(self) -> int:
        # Four-fold overlap keeps a Hann window's squared overlap-add flat.
        return 4 * self.stft_hop

    @property
    def delay_samples(self) -> int:
        """Samples by which decoded audio trails the audio its latents were made from."""
        return self.decoder_delay * self.stft_hop

    def validate(self, where: str = "codec config") -> None:
        if self.sample_rate % self.frame_rate:
            raise ConfigError(f"{where}: sample_rate {self.sample_rate} is not a multiple of frame_rate {self.frame_rate}")
        if self.hop % self.stft_hop:
            raise ConfigError(f"{where}: samples per frame {self.hop} is not a multiple of stft_hop {self.stft_hop}")
        for name in ("latent_dim", "channels", "encoder_layers", "decoder_layers", "kernel", "mlp_ratio"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{where}: {name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.decoder_delay < self.n_fft // self.stft_hop:
            raise ConfigError(f"{where}: decoder_delay must be 0 to {self.n_fft // self.stft_hop - 1} STFT hops, "
                              f"got {self.decoder_delay}")
        if self.phase_head not in PHASE_HEADS:
            raise ConfigError(f"{where}: phase_head must be one of {PHASE_HEADS}, got {self.phase_head!r}")
        if self.phase_lock and self.phase_head != "carried":
            raise ConfigError(f"{where}: phase_lock plays a carried head's advances; this phase_head is "
                              f"{self.phase_head!r}")
        if not 0 <= self.harmonics <= 64:
            raise ConfigError(f"{where}: harmonics must be 0 (no harmonic branch) to 64, got {self.harmonics}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "codec config") -> "CodecConfig":
        return _from_dict(cls, data, where)


@dataclass(frozen=True)
class LMDMConfig:
    latent_dim: int = 32
    frame_rate: int = 25
    d_model: int = 384
    n_layers: int = 8
    n_heads: int = 6
    mlp_ratio: int = 4
    block_frames: int = 12        # 0.48 s per block at 25 frames/s
    context_blocks: int = 21      # 252 frames, about 10 s of clean context
    style_dim: int = 384          # all-MiniLM-L6-v2 embedding size
    sketch_curves: tuple = field(default=SKETCH_CURVES)
    arrangement: tuple = field(default=ARRANGEMENT_CONTROLS)
    rope_base: float = 10000.0
    pitch_features: int = 8       # sin/cos pairs encoding the sketch's pitch (0: pitch only as a number)

    @property
    def context_frames(self) -> int:
        return self.block_frames * self.context_blocks

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def block_seconds(self) -> float:
        return self.block_frames / self.frame_rate

    def validate(self, where: str = "LMDM config") -> None:
        if self.d_model % self.n_heads:
            raise ConfigError(f"{where}: d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.head_dim % 2:
            raise ConfigError(f"{where}: head size {self.head_dim} must be even for rotary positions")
        for name in ("latent_dim", "frame_rate", "n_layers", "block_frames", "context_blocks", "style_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{where}: {name} must be at least 1, got {getattr(self, name)}")
        if self.pitch_features < 0:
            raise ConfigError(f"{where}: pitch_features must be 0 or more, got {self.pitch_features}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["sketch_curves"] = list(self.sketch_curves)
        d["arrangement"] = list(self.arrangement)
        return d

    @classmethod
    def from_dict(cls, data: dict, where: str = "LMDM config") -> "LMDMConfig":
        return _from_dict(cls, {**LMDM_FIELDS_ADDED, **data}, where)


LMDM_FIELDS_ADDED = {"pitch_features": 0}
"""Fields added after checkpoints were written, with the value that describes those older checkpoints."""
