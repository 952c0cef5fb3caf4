"""`prompt_acc_signal`: prompt adherence judged from the signal, beside the learned classifier.

The attribute classifier is the project's own model and can share the generator's
blind spots, so the attributes the signal itself can tell are judged again without it:
tempo by beat tracking (right within 4 %, or at double or half tempo, the usual
octave ambiguity of beat trackers), drums by the share of percussive energy, and
brightness by the spectral centroid falling in the same third (of the real reference
windows' centroids) as the prompting clip's own audio.
"""
from __future__ import annotations

import math

import numpy as np

from .signal_judges import centroid_hz, drums_present, tempo_bpm

TEMPO_TOLERANCE = 0.04


def tempo_matches(measured: float, wanted: float) -> bool:
    if measured <= 0 or not wanted:
        return False
    return any(abs(measured - wanted * k) <= TEMPO_TOLERANCE * wanted * k for k in (0.5, 1.0, 2.0))


class SignalJudge:
    """Hits per attribute, accumulated over clips."""

    ATTRIBUTES = ("tempo", "drums", "brightness")

    def __init__(self, bright_edges: np.ndarray, rate: int):
        self.edges, self.rate = np.asarray(bright_edges), rate
        self.hits: dict[str, list[bool]] = {a: [] for a in self.ATTRIBUTES}

    def third(self, centroid: float) -> int:
        return int(np.searchsorted(self.edges, math.log(max(centroid, 20.0))))

    def judge(self, audio: np.ndarray, clip: dict, target_centroid: float) -> None:
        """Judge `audio` against the attributes of the clip whose caption prompted it."""
        if clip.get("tempo"):
            self.hits["tempo"].append(tempo_matches(tempo_bpm(audio, self.rate), float(clip["tempo"])))
        groups = clip.get("groups") or {}
        if "drums" in groups:
            self.hits["drums"].append(drums_present(audio, self.rate) == bool(groups["drums"]))
        self.hits["brightness"].append(self.third(centroid_hz(audio, self.rate)) == self.third(target_centroid))

    def by_attribute(self) -> dict[str, float]:
        return {a: float(np.mean(h)) if h else float("nan") for a, h in self.hits.items()}

    def accuracy(self, attributes=ATTRIBUTES) -> float:
        pooled = [x for a in attributes for x in self.hits[a]]
        return float(np.mean(pooled)) if pooled else float("nan")
