"""The default model: the checkpoints shipped in `lmdmlive/assets/`, or seeded untrained weights.

Until the training issues ship trained checkpoints, the instrument runs on untrained
weights built from a fixed seed, and says so every time it loads them: the sound is
noise shaped by random weights, which is enough to measure speed and exercise every
path, and nothing more.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import checkpoint_paths, load_checkpoint
from .codec import Codec
from .config import CodecConfig, LMDMConfig
from .bf16 import enable_bf16
from .int8 import enable_int8
from .lmdm import LMDM

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_LMDM = ASSETS / "lmdm"
DEFAULT_CODEC = ASSETS / "codec"
DEFAULT_AUDIO_PROMPT = ASSETS / "audio_prompt"
DEFAULT_CLASSIFIER = ASSETS / "classifier"
"""The attribute classifier every `eval` reads by default: shipped, so that numbers from
different sessions come from the same judge (`lmdmlive train classifier` rebuilds it)."""
UNTRAINED_SEED = 20261124
UNTRAINED_NOTE = ("no trained default model is shipped yet: running on untrained, seeded weights "
                  "(the output is structured noise, not music)")

DEFAULT_STEPS = 4
DEFAULT_GUIDANCE = 2.0


@dataclass
class ModelBundle:
    lmdm: LMDM
    codec: Codec
    trained: bool
    source: str

    @property
    def sample_rate(self) -> int:
        return self.codec.cfg.sample_rate


def untrained_lmdm(cfg: LMDMConfig = LMDMConfig(), seed: int = UNTRAINED_SEED) -> LMDM:
    """Seeded random weights, with the zero-initialised output layers perturbed so that the
    untrained model's output depends on its inputs (otherwise it predicts zero everywhere)."""
    torch.manual_seed(seed)
    model = LMDM(cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    return model.eval()


def untrained_codec(cfg: CodecConfig = CodecConfig(), seed: int = UNTRAINED_SEED) -> Codec:
    torch.manual_seed(seed)
    return Codec(cfg).eval()


def load_default(lmdm_path=None, codec_path=None, warn: bool = True, float32: bool = False) -> ModelBundle:
    """The shipped checkpoints when present (or the given ones), else untrained weights.

    Played as the instrument plays them: the transformer with int8 copies of its weights
    (`model/int8.py`, about twice as fast on a CPU) and the codec decoder with bf16 MLP
    products where the CPU has them (`model/bf16.py`). `float32` keeps float32
    throughout, for comparisons.
    """
    bundle = _load(lmdm_path, codec_path, warn)
    if not float32:
        enable_int8(bundle.lmdm)
        enable_bf16(bundle.codec)
    return bundle


def _load(lmdm_path, codec_path, warn: bool) -> ModelBundle:
    lmdm_path = Path(lmdm_path) if lmdm_path else DEFAULT_LMDM
    codec_path = Path(codec_path) if codec_path else DEFAULT_CODEC
    have = all(p.exists() for p in checkpoint_paths(lmdm_path)) and all(p.exists() for p in checkpoint_paths(codec_path))
    if have:
        lmdm = load_checkpoint(lmdm_path, "lmdm", LMDMConfig, LMDM)[0]
        codec = load_checkpoint(codec_path, "codec", CodecConfig, Codec)[0]
        return ModelBundle(lmdm, codec, True, f"{lmdm_path.name} + {codec_path.name}")
    if warn:
        warnings.warn(UNTRAINED_NOTE, stacklevel=2)
    return ModelBundle(untrained_lmdm(), untrained_codec(), False, "untrained (seeded)")


def load_audio_prompt_encoder(path=None):
    """The shipped audio-prompt encoder (clips -> the text-prompt space), or a clear error."""
    from .audio_prompt import AudioPromptEncoder, SmallModelConfig
    from .checkpoint import CheckpointError

    path = Path(path) if path else DEFAULT_AUDIO_PROMPT
    if not all(p.exists() for p in checkpoint_paths(path)):
        raise CheckpointError(f"{path}: no audio-prompt encoder here; train one with "
                              "`lmdmlive train audio-prompt --export NAME`")
    return load_checkpoint(path, "audio-prompt", SmallModelConfig,
                           lambda cfg: AudioPromptEncoder(cfg.fields["latent_dim"]))[0].eval()
