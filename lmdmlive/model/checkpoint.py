"""Checkpoints: safetensors weights beside a JSON card (format version, kind, config, hash).

`NAME.safetensors` holds only tensors, so loading never runs code. `NAME.json` says
what the tensors are: which kind of module, built from which config, and the SHA-256
of the weights file, so a truncated download or a flipped bit is caught before the
weights reach a model. Every failure raises `CheckpointError` naming the file and
what exactly is wrong.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ConfigError

FORMAT = "lmdmlive-checkpoint"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle"}


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded; the message names the file and the problem."""


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, card) for a checkpoint given as NAME, NAME.json or NAME.safetensors."""
    p = Path(path)
    if p.suffix in PICKLE_SUFFIXES:
        raise CheckpointError(f"{p}: pickled checkpoints are never loaded (they can run code); "
                              "lmdmlive checkpoints are NAME.safetensors with NAME.json")
    if p.suffix in (".json", ".safetensors"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(module: torch.nn.Module, config, path: str | Path, kind: str, extra: dict | None = None,
                    half: bool = False) -> Path:
    """Write NAME.safetensors and NAME.json; returns the card's path.

    With `half`, float parameters are stored as float16, which halves a shipped file:
    loading copies them into the model's float32 parameters, so only storage changes.
    Buffers (the latent statistics) stay float32: they scale every generated latent.
    """
    weights, card = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    params = {name for name, _ in module.named_parameters()}
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    if half:
        state = {k: (v.half() if k in params and v.is_floating_point() else v) for k, v in state.items()}
    tmp = weights.with_name(weights.name + ".tmp")
    save_file(state, str(tmp), metadata={"format": FORMAT, "kind": kind})
    tmp.replace(weights)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "config": config.to_dict(),
        "weights": weights.name,
        "sha256": file_sha256(weights),
        "tensors": {k: list(v.shape) for k, v in state.items()},
        "stored_as": "float16" if half else "float32",
        "extra": extra or {},
    }
    card.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return card


def read_card(path: str | Path) -> dict:
    """The checked JSON card of a checkpoint (format, version), without touching the weights."""
    _, card = checkpoint_paths(path)
    if not card.exists():
        raise CheckpointError(f"{card}: checkpoint card not found (a checkpoint is NAME.safetensors with NAME.json)")
    try:
        meta = json.loads(card.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{card}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{card}: not an lmdmlive checkpoint card (format is {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{card}: format version {meta.get('version')!r}, this lmdmlive reads version {FORMAT_VERSION}")
    for key in ("kind", "config", "sha256"):
        if key not in meta:
            raise CheckpointError(f"{card}: field {key!r} is missing")
    return meta


def load_checkpoint(path: str | Path, kind: str, config_cls, build: Callable[[object], torch.nn.Module]):
    """(module, config, card) from a checkpoint of the given kind, every part checked."""
    weights, card = checkpoint_paths(path)
    meta = read_card(path)
    if meta["kind"] != kind:
        raise CheckpointError(f"{card}: holds a {meta['kind']!r} checkpoint, expected {kind!r}")
    try:
        config = config_cls.from_dict(meta["config"], where=f"{card}: config")
    except (ConfigError, TypeError) as e:
        raise CheckpointError(str(e)) from None
    if not weights.exists():
        raise CheckpointError(f"{weights}: weights file not found (named by {card})")
    digest = file_sha256(weights)
    if digest != meta["sha256"]:
        raise CheckpointError(f"{weights}: content hash {digest[:12]}… does not match {meta['sha256'][:12]}… "
                              f"recorded in {card.name}; the file is damaged or was replaced")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({e})") from None
    module = build(config)
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{weights}: tensors do not match a {kind} of this config: "
                              f"missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
                              f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(f"{weights}: tensor {name!r} has shape {tuple(tensor.shape)}, "
                                  f"the config needs {tuple(expected[name].shape)}")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{weights}: tensor {name!r} holds NaN or infinite values")
    module.load_state_dict(state, strict=True)
    module.eval()
    return module, config, meta
