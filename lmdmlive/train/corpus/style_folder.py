"""`lmdmlive corpus style STYLE`: a folder of one groove style's audio with a caption beside each file.

A style the corpus never renders (`grooves.HELD_OUT_STYLES`) is the honest test of
`finetune`: the default model has not heard it, so what an adapter adds can be
measured. The folder is what a performer would bring -- WAV files and `NAME.txt`
captions -- and goes through `corpus add` like theirs. Grooves are numbered from
`first` on, so two folders with disjoint ranges (one to fine-tune on, one to evaluate
on) never share a groove; the same arguments give the same files.
"""
from __future__ import annotations

import random
from pathlib import Path

import soundfile as sf

from .build import SAMPLE_RATE
from .captions import instrument_list
from .grooves import HELD_OUT_STYLES, STYLES, make_groove
from .midi_tools import arrange
from .render import Mix, render_midi

GROOVE_SECONDS = 30.0


def caption_of(groove) -> str:
    """The caption a performer might write: mood, style, tempo, key and instruments."""
    instruments = instrument_list(sorted(groove.programs.values()), groove.groups.get("drums", False))
    return f"{groove.mood} {groove.style} at {int(round(groove.tempo))} BPM in {groove.key} {groove.mode}, " \
           f"with {instruments}"


def write_style_folder(style: str, out: str | Path, minutes: float, first: int = 0, progress=None,
                       log=print) -> list[Path]:
    """Render grooves `first`, `first + 1`, ... of `style` into `out` until `minutes` of audio are there.

    Each file depends only on (style, number), so a stopped or extended run reuses what is on disk.
    """
    if style not in STYLES and style not in HELD_OUT_STYLES:
        raise ValueError(f"unknown groove style {style!r}; styles are {sorted({**STYLES, **HELD_OUT_STYLES})}")
    if not minutes > 0:
        raise ValueError(f"minutes must be above 0, got {minutes!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target, total, files = minutes * 60.0, 0.0, []
    number = first
    while total < target:
        stem = f"{style.replace(' ', '_')}_{number:04d}"
        wav = out / f"{stem}.wav"
        groove = make_groove(style, number)
        rng = random.Random(f"style-folder:{style}:{number}")
        mix = Mix(gain=round(rng.uniform(0.35, 0.6), 3), reverb=rng.choice([0.0, 0.2, 0.4]))
        if wav.exists():
            seconds = sf.info(str(wav)).duration
        else:
            arranged = arrange(groove.midi, max_seconds=GROOVE_SECONDS)
            audio = render_midi(arranged.midi, arranged.seconds, SAMPLE_RATE, mix)
            sf.write(str(wav), audio, SAMPLE_RATE, subtype="PCM_16")
            seconds = len(audio) / SAMPLE_RATE
        wav.with_suffix(".txt").write_text(caption_of(groove) + "\n")
        files.append(wav)
        total += seconds
        number += 1
        if progress is not None:
            progress(min(int(total), int(target)), int(target))
    log(f"{out}: {len(files)} {style} grooves, {total / 60:.1f} min")
    return files
