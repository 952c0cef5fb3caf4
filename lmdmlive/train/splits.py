"""`valid` and `test`: the held-out pieces divided once more, by piece.

The corpus keeps whole pieces out of training (`heldout`, corpus/build.py). A figure is
only worth reporting if nothing was tuned on the clips it was measured on, so the
held-out pieces are divided again: every default, checkpoint and codec is chosen on
`valid`; figures are reported on `test`. The division hashes the piece id alone (not
the corpus seed or the clip), so every clip of a piece (or of a recorded track) lands
on the same side, the same piece is on the same side in any corpus, and a corpus built
later with more pieces leaves the earlier pieces where they were.
"""
from __future__ import annotations

import hashlib

EVAL_SPLITS = ("valid", "test")
SALT = "lmdmlive-eval-split"


def eval_split_of(piece: str) -> str:
    """`valid` or `test` for a held-out piece id (half each, by a hash of the id)."""
    h = int(hashlib.sha256(f"{SALT}:{piece}".encode()).hexdigest()[:8], 16)
    return "valid" if h % 2 == 0 else "test"


def check_split(split: str) -> str:
    if split not in EVAL_SPLITS:
        raise ValueError(f"unknown evaluation split {split!r}; choose one of {', '.join(EVAL_SPLITS)}")
    return split


def piece_of(clip: dict) -> str:
    """A clip's piece id (the clip id for user clips that have none)."""
    return clip.get("piece") or clip["id"]


def indices_in(clips: list[dict], split: str) -> list[int]:
    """Positions of the held-out clips (records or latent-store entries) that belong to `split`."""
    check_split(split)
    return [i for i, c in enumerate(clips) if eval_split_of(piece_of(c)) == split]


SOURCES = {
    "all": None,
    "recorded": ("recorded",),               # recordings: game soundtracks (corpus/recorded.py)
    "rendered": ("music21", "groove", "gm"),  # scores through a General MIDI soundfont, and generated grooves
}
"""Which held-out clips `eval codec --source` and `eval model --source` measure: a codec or a model
that has heard recordings is judged on recordings and on renderings separately, since one can hide
the other in a mean."""


def source_matches(rec: dict, source: str) -> bool:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    wanted = SOURCES[source]
    return wanted is None or rec.get("source") in wanted
