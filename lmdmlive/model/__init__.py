"""The model layer: codec, LMDM transformer with its KV cache, sampler, checkpoints.

Imports neither pyo nor the clock: everything here runs offline on tensors.
"""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .codec import Codec
from .conditioning import Conditions, sketch_units
from .config import ARRANGEMENT_CONTROLS, SKETCH_CURVES, CodecConfig, ConfigError, LMDMConfig
from .generate import generate_block
from .kv_cache import AttentionPrefix, BlockCache
from .lmdm import LMDM


def load_codec(path) -> Codec:
    return load_checkpoint(path, "codec", CodecConfig, Codec)[0]


def load_lmdm(path) -> LMDM:
    return load_checkpoint(path, "lmdm", LMDMConfig, LMDM)[0]


__all__ = [
    "ARRANGEMENT_CONTROLS", "SKETCH_CURVES", "AttentionPrefix", "BlockCache", "CheckpointError", "Codec",
    "CodecConfig", "Conditions", "ConfigError", "LMDM", "LMDMConfig", "generate_block", "load_checkpoint",
    "load_codec", "load_lmdm", "save_checkpoint", "sketch_units",
]
