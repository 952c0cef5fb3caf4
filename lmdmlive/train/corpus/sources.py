"""Which sources a corpus build draws on, and the plan and renders of the opt-in ones.

`gm` (music21 scores on FluidR3) and `grooves` (generated grooves on FluidR3) are the
sources the shipped model was trained on; with only them the plan is build.plan's,
item for item. The opt-in sources join that same plan, taken in turn with it:

- `recorded`: game soundtracks from Debian packages, clips of 30-60 s by track;
- `kits`:     generated grooves (numbered apart from the GM ones) whose drums are
              played from Hydrogen kits and sonic-pi one-shots and loops;
- `musescore`: the music21 scores again, on the MuseScore General soundfont, in
              another order, with their own arrangement and mix.

A source whose packages are missing stops the build before it starts, naming the
exact `apt-get install` line; a missing soundtrack package among installed ones is
only logged.
"""
from __future__ import annotations

import functools
import glob
import hashlib
import itertools
import random
import subprocess
from pathlib import Path

from . import debian, kits, recorded

SOURCES = ("gm", "grooves", "recorded", "kits", "musescore")
DEFAULT_SOURCES = ("gm", "grooves")
KIT_GROOVE_FIRST = 1_000_000       # kit grooves are numbered from here: no GM groove shares their MIDI
MUSESCORE_PACKAGES = ("musescore-general-soundfont-lossless", "musescore-general-soundfont",
                      "musescore-general-soundfont-small")
SMALLEST = {"recorded": ("asc-music", "drascula-music"), "kits": ("hydrogen-data", "sonic-pi-samples"),
            "musescore": ("musescore-general-soundfont-small",)}


def parse_sources(text: str) -> tuple[str, ...]:
    """`gm,grooves,recorded` -> ('gm', 'grooves', 'recorded'); unknown names are an error naming them."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in SOURCES]
    if unknown or not names:
        raise ValueError(f"unknown corpus source {', '.join(map(repr, unknown)) or 'list (empty)'}; "
                         f"choose from {','.join(SOURCES)} (default {','.join(DEFAULT_SOURCES)})")
    return names


def is_default(sources) -> bool:
    return tuple(sources) == DEFAULT_SOURCES


@functools.lru_cache(maxsize=1)
def musescore_soundfont() -> tuple[Path, str] | None:
    """(path, package) of the best installed MuseScore General: lossless sf2, then full sf3, then Lite."""
    found = []
    for package in MUSESCORE_PACKAGES:
        for path in debian.files_of(package):
            if path.lower().endswith((".sf2", ".sf3")) and Path(path).is_file():
                found.append((Path(path), package))
    for path in glob.glob("/usr/share/sounds/sf[23]/MuseScore_General*.sf[23]"):
        real = Path(path).resolve()
        if real.is_file() and all(real != p.resolve() for p, _ in found):
            found.append((real, _owner(str(real))))
    if not found:
        return None
    found.sort(key=lambda f: (f[0].suffix != ".sf2", "lite" in f[0].name.lower()))
    return found[0]


def _owner(path: str) -> str:
    try:
        res = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, timeout=30)
        return res.stdout.split(":", 1)[0].strip() if res.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        return ""


def check(sources, log=print) -> dict:
    """What the requested sources can use; MissingPackages when one of them has nothing installed."""
    out = {}
    if "recorded" in sources:
        have = [s.package for s in recorded.SOUNDTRACKS if debian.installed(s.package)]
        missing = [s.package for s in recorded.SOUNDTRACKS if s.package not in have]
        if not have:
            raise debian.MissingPackages(
                "source 'recorded' needs game soundtracks from Debian; install them with: "
                f"{debian.install_command(missing)} (the smallest: {debian.install_command(SMALLEST['recorded'])})")
        if missing:
            log(f"recorded music: {len(missing)} soundtrack packages not installed, their music is left out "
                f"(to add it: {debian.install_command(missing)})")
        out["recorded"] = have
    if "kits" in sources:
        found = kits.available_kits()
        if not found:
            raise debian.MissingPackages("source 'kits' needs drum kits from Debian; install them with: "
                                         f"{debian.install_command(kits.KIT_PACKAGES)}")
        out["kits"] = [k.name for k in found]
    if "musescore" in sources:
        sf = musescore_soundfont()
        if sf is None:
            raise debian.MissingPackages("source 'musescore' needs the MuseScore General soundfont; install it with: "
                                         f"{debian.install_command(['musescore-general-soundfont'])}")
        out["musescore"] = str(sf[0])
    return out


def extended_plan(seed: int, sources, base_plan, item_type):
    """The default plan's items of the enabled default sources, with each opt-in source's items taken in turn."""
    from .grooves import STYLES
    from .pieces import catalogue

    kinds = {"gm": "piece", "grooves": "groove"}
    streams = []
    if any(s in sources for s in kinds):
        wanted = {kinds[s] for s in sources if s in kinds}
        streams.append(it for it in base_plan(seed) if it.kind in wanted)
    if "recorded" in sources:
        packages = [s.package for s in recorded.SOUNDTRACKS if debian.installed(s.package)]
        streams.append(item_type("recording", f"{t.package}:{t.path}", i, recorded.soundtrack(t.package).family,
                                 span=(a, b, t.seconds))
                       for t, i, a, b in recorded.plan_clips(packages, seed))
    if "kits" in sources:
        styles = sorted(STYLES)
        streams.append(item_type("groove", styles[i % len(styles)], KIT_GROOVE_FIRST + i // len(styles),
                                 styles[i % len(styles)], variant="kits") for i in itertools.count())
    if "musescore" in sources:
        rng = random.Random(f"{seed}:musescore")
        cat = catalogue()
        per_family = []
        for family in sorted(cat):
            items = list(cat[family])
            rng.shuffle(items)
            per_family.append([item_type("piece", src, num or 0, family, variant="musescore") for src, num in items])
        streams.append(recorded.round_robin(per_family))
    return recorded.round_robin(streams)


def variant_clip_id(piece_id: str, variant: str) -> str:
    return hashlib.sha1(f"{piece_id}|{variant}".encode()).hexdigest()[:16]


def recording_clip_id(piece_id: str, number: int) -> str:
    return hashlib.sha1(f"{piece_id}#clip{number}".encode()).hexdigest()[:16]


def process_recording(item, seed: int, sample_rate: int, frame_rate: int):
    """(record, audio, features) of one recorded clip: decoded span, judged, captioned, licensed."""
    from ...model.features import sketch_features

    package, path = item.source.split(":", 1)
    start, stop, track_seconds = item.span
    track = recorded.Track(package, path, track_seconds)
    audio = recorded.decode(path, start, stop, sample_rate)
    hop = sample_rate // frame_rate
    audio = audio[: len(audio) // hop * hop]
    if len(audio) < recorded.MIN_TRACK_SECONDS / 2 * sample_rate:
        raise ValueError(f"{path} [{start}, {stop}) s decoded to {len(audio) / sample_rate:.1f} s")
    rng = random.Random(f"{seed}:{item.piece_id}#{item.number}")
    meta = recorded.describe_clip(track, item.number, start, stop, audio, sample_rate, rng)
    seconds = len(audio) / sample_rate
    meta.update(id=item.clip_id, piece=item.piece_id, family=item.family, seconds=round(seconds, 3),
                sample_rate=sample_rate, frame_rate=frame_rate, mix={})
    return meta, audio, sketch_features(audio, sample_rate, hop)


def render_with_kit(arranged, seconds: float, sample_rate: int, mix, style: str, tempo: float, rng: random.Random):
    """A groove rendered by FluidSynth without its GM drums, with a recorded kit (and maybe a loop) mixed in.

    Returns (audio, description for the record)."""
    import numpy as np

    from .render import render_midi

    hits = kits.drum_hits(arranged.midi)
    audio = render_midi(kits.without_channel(arranged.midi), seconds, sample_rate, mix)
    kit = rng.choice(kits.available_kits())
    drums = kits.render_drums(hits, kit, len(audio), sample_rate, rng)
    loop_name = ""
    if hits and rng.random() < kits.LOOP_STYLES.get(style, 0.15):
        loop, loop_name = kits.loop_layer(tempo, len(audio), sample_rate, rng)
        if loop_name:
            last = int(min(len(audio), (max(t for t, _, _ in hits) + 0.5) * sample_rate))
            loop[last:] = 0.0                      # the loop stops with the groove's drums
            drums = drums + 0.6 * loop
    out = audio + mix.gain * 0.25 * drums          # about the GM kit's level under FluidR3 (measured)
    peak = float(np.abs(out).max()) if len(out) else 0.0
    if peak > 0.99:                                # a loud kit must not clip the 16-bit store
        out = out * (0.99 / peak)
    return out.astype(np.float32), {"kit": kit.name, "kit_package": kit.package, "kit_author": kit.author,
                                    "kit_licence": kit.licence, "loop": loop_name}


def attribution(records) -> list[dict]:
    """One entry per recorded track, kit and soundfont the records use, with licence and attribution."""
    tracks, kits_used, fonts = {}, {}, {}
    for r in records:
        if r.get("source") == "recorded":
            lic = {"licence": r.get("licence", ""), "attribution": r.get("attribution", "")}
            if r["piece"] not in tracks and debian.installed(r.get("package", "")):
                # read again, so a manifest rewritten after a licence-reading fix carries the fix
                lic = recorded.licence_of(r["package"], r.get("origin", "")).as_record()
            entry = tracks.setdefault(r["piece"], {
                "track": r["title"], "game": r["collection"], "artist": r.get("composer", ""),
                "file": r.get("origin", ""), "package": r.get("package", ""), "licence": lic["licence"],
                "attribution": lic["attribution"], "copyright_file": r.get("copyright_file", ""),
                "split": r.get("split", ""), "clips": 0, "seconds": 0.0})
            entry["clips"] += 1
            entry["seconds"] = round(entry["seconds"] + r["seconds"], 3)
        if r.get("kit"):
            kits_used.setdefault(r["kit"], {"kit": r["kit"], "package": r.get("kit_package", ""),
                                            "author": r.get("kit_author", ""), "licence": r.get("kit_licence", ""),
                                            "copyright_file": debian.copyright_path(r.get("kit_package", ""))})
        if r.get("loop"):
            kits_used.setdefault(r["loop"], {"kit": r["loop"], "package": kits.SONIC_PI, "author":
                                             "Sonic Pi sample contributors (freesound.org)", "licence": "CC0",
                                             "copyright_file": debian.copyright_path(kits.SONIC_PI)})
        if r.get("soundfont"):
            fonts.setdefault(r["soundfont"], {"soundfont": r["soundfont"], "package": r.get("soundfont_package", ""),
                                              "licence": "MIT (parts public domain or CC0)",
                                              "copyright_file": debian.copyright_path(r.get("soundfont_package", ""))})
    return sorted(tracks.values(), key=lambda e: (e["package"], e["file"])) + \
        sorted(kits_used.values(), key=lambda e: e["kit"]) + list(fonts.values())
