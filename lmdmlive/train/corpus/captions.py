"""Captions from metadata, phrased several ways.

Four phrasings are used for training; a fifth is kept out of training altogether, so
that the model's prompt adherence can be measured on wording it never saw.
"""
from __future__ import annotations

import random

from .midi_tools import GM_NAMES


def tempo_word(bpm: float) -> str:
    return "slow" if bpm < 80 else "moderate" if bpm < 110 else "fast" if bpm < 150 else "very fast"


def density_word(notes_per_second: float) -> str:
    return "sparse" if notes_per_second < 2 else "flowing" if notes_per_second < 6 else "busy"


def instrument_list(programs: list[int], drums: bool) -> str:
    names = list(dict.fromkeys(GM_NAMES[p] for p in programs))
    if drums:
        names.append("drums")
    if not names:
        return "instruments"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


TRAIN_TEMPLATES = (
    "{mood} {style} at {bpm} BPM in {key}, with {instruments}",
    "{style}, {instruments}, {tempo} tempo, {density}",
    "a {density} {style} piece played on {instruments}, {mood}, in {key}",
    "{instruments} playing {style} in {key}, {bpm} bpm",
)
UNSEEN_TEMPLATE = "{tempo} and {mood}: {style} for {instruments}"


def captions(meta: dict, rng: random.Random, n: int = 3) -> tuple[list[str], str]:
    """(n training captions in distinct phrasings, one caption in the held-out phrasing)."""
    fields = {
        "style": meta["style"], "mood": meta["mood"], "key": meta["key"] or "an unknown key",
        "bpm": int(round(meta["tempo"])), "tempo": tempo_word(meta["tempo"]),
        "density": density_word(meta["density"]),
        "instruments": instrument_list(meta["programs"], meta["groups"].get("drums", False)),
    }
    chosen = rng.sample(TRAIN_TEMPLATES, k=min(n, len(TRAIN_TEMPLATES)))
    clean = [" ".join(t.format(**fields).split()) for t in chosen]
    return clean, " ".join(UNSEEN_TEMPLATE.format(**fields).split())


def recording_captions(meta: dict, rng: random.Random, n: int = 3) -> tuple[list[str], str]:
    """Captions of a recorded clip, in the same templates: the style is named plainly, with its game,
    or with its track title and game (one each), and a clip without a pulse has no BPM to state."""
    names = [meta["style"], f"{meta['collection']} {meta['style']}",
             f"{meta['style']} '{meta['title']}' from {meta['collection']}"]
    fields = {
        "mood": meta["mood"], "key": meta["key"] or "an unknown key",
        "bpm": int(round(meta["tempo"])), "tempo": tempo_word(meta["tempo"]) if meta["tempo"] > 0 else "free",
        "density": density_word(meta["density"]),
        "instruments": " and ".join(meta["instruments"]) or "instruments",
    }
    templates = [t for t in TRAIN_TEMPLATES if meta["tempo"] > 0 or "{bpm}" not in t]
    chosen = rng.sample(templates, k=min(n, len(templates)))
    clean = [" ".join(t.format(style=names[i % len(names)], **fields).split()) for i, t in enumerate(chosen)]
    return clean, " ".join(UNSEEN_TEMPLATE.format(style=names[1], **fields).split())
