"""How a model plays by default: its step count, prompt guidance and sketch guidance.

These belong to the checkpoint, not to the code. A model post-trained for two steps plays
best at two steps with a gentler sketch scale (a firm one overshoots the lanes in so few
steps); a model trained by flow matching alone plays best at more steps and a firmer
scale. Each is chosen on `valid` and written into the checkpoint's card
(`lmdmlive sampling NAME --steps 2`), so the instrument, `render`, `bench` and every
`eval` play each model as it was chosen to be played. A card that names none plays at
the defaults the first shipped model was chosen with.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace

from .checkpoint import CheckpointError, checkpoint_paths, read_card
from .generate import SKETCH_GUIDANCE
from .sampler import MAX_STEPS

DEFAULT_STEPS = 4
DEFAULT_GUIDANCE = 2.0
CARD_KEY = "sampling"
MAX_GUIDANCE = {"guidance": 20.0, "sketch_guidance": 40.0}     # as the commands' options allow


@dataclass(frozen=True)
class Sampling:
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    sketch_guidance: float = SKETCH_GUIDANCE

    def __post_init__(self):
        check_sampling(self)

    def changed(self, **given) -> Sampling:
        """These defaults with the options a command or a stream gives (None: keep the default)."""
        return replace(self, **{k: v for k, v in given.items() if v is not None})


def check_sampling(s: Sampling) -> None:
    if isinstance(s.steps, bool) or not isinstance(s.steps, int) or not 1 <= s.steps <= MAX_STEPS:
        raise ValueError(f"steps must be a whole number from 1 to {MAX_STEPS}, got {s.steps!r}")
    for name, high in MAX_GUIDANCE.items():
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= high:
            raise ValueError(f"{name} must be a number from 0 to {high:g}, got {value!r}")


def sampling_from_card(card: dict, where: str) -> Sampling:
    """The card's sampling defaults; those it does not name are the first shipped model's."""
    given = card.get(CARD_KEY, {})
    if not isinstance(given, dict):
        raise CheckpointError(f"{where}: field {CARD_KEY!r} must be an object, got {given!r}")
    unknown = sorted(set(given) - {"steps", "guidance", "sketch_guidance"})
    if unknown:
        raise CheckpointError(f"{where}: field {CARD_KEY!r} names {unknown}, which no sampler option is "
                              "(it knows steps, guidance and sketch_guidance)")
    try:
        return Sampling(**given)
    except ValueError as e:
        raise CheckpointError(f"{where}: field {CARD_KEY!r}: {e}") from None


def read_sampling(path) -> Sampling:
    """The sampling defaults written in a checkpoint's card."""
    return sampling_from_card(read_card(path), str(checkpoint_paths(path)[1]))


def write_sampling(path, **given) -> Sampling:
    """Write these defaults into the checkpoint's card, keeping those not given; the weights
    and their hash are untouched, so the checkpoint stays whole."""
    _, card_path = checkpoint_paths(path)
    card = read_card(path)
    chosen = sampling_from_card(card, str(card_path)).changed(**given)
    card[CARD_KEY] = asdict(chosen)
    tmp = card_path.with_name(card_path.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=1, sort_keys=True) + "\n")
    tmp.replace(card_path)
    return chosen
