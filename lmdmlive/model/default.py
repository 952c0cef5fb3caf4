"""The default model: the trained checkpoints shipped in `lmdmlive/assets/`.

An install whose assets are missing (a checkout without them, a packaging mistake)
still starts, on untrained weights built from a fixed seed, and says so every time it
loads them: enough to measure speed and exercise every path, not to make music. A
checkpoint path the caller names is never replaced by them: a missing or damaged one
is a `CheckpointError` naming it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoint import CheckpointError, checkpoint_paths, load_checkpoint
from .codec import Codec
from .config import CodecConfig, LMDMConfig
from .bf16 import enable_bf16
from .int8 import enable_int8
from .lmdm import LMDM
from .sampling import Sampling, sampling_from_card

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_LMDM = ASSETS / "lmdm"
DEFAULT_CODEC = ASSETS / "codec"
DEFAULT_AUDIO_PROMPT = ASSETS / "audio_prompt"
DEFAULT_CLASSIFIER = ASSETS / "classifier"
"""The attribute classifier every `eval` reads by default: shipped, so that numbers from
different sessions come from the same judge (`lmdmlive train classifier` rebuilds it)."""
UNTRAINED_SEED = 20261124
UNTRAINED_NOTE = ("the shipped default model is missing from lmdmlive/assets: running on untrained, seeded "
                  "weights, which do not make music (reinstall lmdmlive to restore the checkpoints)")


@dataclass
class ModelBundle:
    lmdm: LMDM
    codec: Codec
    trained: bool
    source: str
    sampling: Sampling = field(default_factory=Sampling)
    """How this model plays unless told otherwise: from its card (`model/sampling.py`)."""

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
    """The given checkpoints, the shipped ones for those not given, or untrained weights.

    Untrained weights stand in only when no path is given and the shipped checkpoints are
    absent; a given path that is missing or damaged raises `CheckpointError` naming it.

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


def shipped() -> bool:
    """Whether the trained default checkpoints are in `lmdmlive/assets/`."""
    return all(p.exists() for path in (DEFAULT_LMDM, DEFAULT_CODEC) for p in checkpoint_paths(path))


def require_checkpoint(path, what: str) -> Path:
    """`path` as a Path when its card and weights exist, else a CheckpointError naming it."""
    weights, card = checkpoint_paths(path)
    missing = [p.name for p in (card, weights) if not p.exists()]
    if missing:
        raise CheckpointError(f"{path}: no {what} checkpoint there ({' and '.join(missing)} not found in "
                              f"{card.parent}; a checkpoint is NAME.safetensors beside NAME.json)")
    return Path(path)


def _load(lmdm_path, codec_path, warn: bool) -> ModelBundle:
    if lmdm_path is None and codec_path is None and not shipped():
        if warn:
            warnings.warn(UNTRAINED_NOTE, stacklevel=3)
        return ModelBundle(untrained_lmdm(), untrained_codec(), False, "untrained (seeded)")
    lmdm_path = require_checkpoint(DEFAULT_LMDM if lmdm_path is None else lmdm_path, "LMDM")
    codec_path = require_checkpoint(DEFAULT_CODEC if codec_path is None else codec_path, "codec")
    lmdm, _, card = load_checkpoint(lmdm_path, "lmdm", LMDMConfig, LMDM)
    sampling = sampling_from_card(card, str(checkpoint_paths(lmdm_path)[1]))
    codec = load_checkpoint(codec_path, "codec", CodecConfig, Codec)[0]
    return ModelBundle(lmdm, codec, True, f"{lmdm_path.name} + {codec_path.name}", sampling)


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
