"""Adapters by name: where they live, their cards, and applying one to a model.

    ~/.lmdmlive/adapters/NAME.safetensors    the low-rank tensors (no pickles)
    ~/.lmdmlive/adapters/NAME.json           rank, alpha, the base model it was trained on, hash

`$LMDMLIVE_ADAPTERS` moves the folder. Applying merges the update into the weights;
`remove` subtracts it again.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors.torch import load_file

from .checkpoint import CheckpointError, file_sha256
from .lora import merge


def adapters_dir() -> Path:
    return Path(os.environ.get("LMDMLIVE_ADAPTERS", Path.home() / ".lmdmlive" / "adapters"))


def write_card(weights: Path, **fields) -> Path:
    card = weights.with_suffix(".json")
    card.write_text(json.dumps(dict(fields, kind="adapter", sha256=file_sha256(weights)), indent=1) + "\n")
    return card


def find(name_or_path) -> tuple[Path, dict]:
    """(weights, card) of an adapter given by name (in the adapters folder) or by path."""
    p = Path(name_or_path)
    if p.suffix not in (".safetensors", ".json") and not p.parent.name:
        p = adapters_dir() / p.name
    weights, card = p.with_suffix(".safetensors"), p.with_suffix(".json")
    if not weights.exists() or not card.exists():
        known = sorted(q.stem for q in adapters_dir().glob("*.safetensors")) if adapters_dir().exists() else []
        raise CheckpointError(f"no adapter {str(name_or_path)!r} (looked for {weights}); adapters here: "
                              f"{known or 'none'} (make one with `lmdmlive finetune FOLDER -o NAME`)")
    meta = json.loads(card.read_text())
    if meta.get("kind") != "adapter" or file_sha256(weights) != meta.get("sha256"):
        raise CheckpointError(f"{weights}: not an adapter, or damaged (hash does not match {card.name})")
    return weights, meta


def apply(model, name_or_path, sign: float = 1.0) -> dict:
    weights, meta = find(name_or_path)
    merge(model, load_file(str(weights)), float(meta["alpha"]), sign)
    return meta


def switch(model, current, name):
    """Take `current` off the model (if any) and put `name` on (None: the plain model); returns
    what is on now. A name that cannot be found changes nothing: it is looked up first."""
    if name is not None:
        find(name)
    if current is not None:
        apply(model, current, sign=-1.0)
    if name is not None:
        apply(model, name)
    return name
