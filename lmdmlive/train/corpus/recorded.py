"""Recorded music from game soundtracks packaged in Debian main, cut into clips by track.

Every track is found through `dpkg -L` of its package and read where it was
installed; its licence and attribution come from the package's copyright file and
travel with every clip. A track is cut into equal clips of 30 to 60 s (a track
under a minute is one clip), and all clips of a track share one piece id, so the
held-out split (by piece) holds tracks out whole. Decoding reads only the clip's
own span, so a long or damaged file costs a bounded time and memory.

The `fretsonfire-songs-*` packages are never read: they are kept for an external
check of a model trained on this corpus. `boswars-data` is not a source: its only
long audio file is the intro video (Theora), it ships no music.
"""
from __future__ import annotations

import functools
import io
import math
import os
import random
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile as sf
import soxr

from . import captions as cap
from . import debian


@dataclass(frozen=True)
class Soundtrack:
    package: str
    game: str
    family: str               # coarse style family (the package's music as a whole, not per track)
    sound: str                # what plays, in caption words
    folder: str = r"/music"   # regex (case-insensitive) a track's path must contain
    # (licence, attribution, file stating them) where the copyright file gives the game's licence but
    # the music's own is stated in a file the package installs beside the tracks
    music_licence: tuple[str, str, str] = ()


SOUNDTRACKS = (
    Soundtrack("wesnoth-1.16-music", "Battle for Wesnoth", "orchestral soundtrack", "orchestra"),
    Soundtrack("megaglest-data", "MegaGlest", "orchestral soundtrack", "orchestra"),
    Soundtrack("0ad-data", "0 A.D.", "orchestral soundtrack", "orchestra and world instruments"),
    Soundtrack("supertuxkart-data", "SuperTuxKart", "electronic game music", "synths and band"),
    Soundtrack("supertux-data", "SuperTux", "electronic game music", "synths"),
    Soundtrack("hedgewars-data", "Hedgewars", "game soundtrack", "mixed instruments"),
    Soundtrack("openclonk-data", "OpenClonk", "game soundtrack", "mixed instruments",
               music_licence=("CC-BY-3.0", "K-Pone", "/usr/share/games/openclonk/Music.ocg/authors.txt")),
    Soundtrack("asc-music", "Advanced Strategic Command", "game soundtrack", "synths"),
    Soundtrack("drascula-music", "Drascula: The Vampire Strikes Back", "game soundtrack", "band",
               folder=r"/drascula/audio/"),        # the language folders hold copies of the same tracks
)
RESERVED_PREFIX = "fretsonfire-songs-"
AUDIO_SUFFIXES = (".ogg", ".oga", ".mp3", ".flac", ".wav", ".opus")
CLIP_MAX_SECONDS = 60.0
MIN_TRACK_SECONDS = 10.0        # shorter files are jingles and stings, not music to learn from
MAX_TRACK_SECONDS = 900.0       # past 15 minutes a file is read no further
MAX_MEMBER_BYTES = 64 << 20     # a track inside an archive is read into memory: bounded


@dataclass(frozen=True)
class Track:
    package: str
    path: str                   # install path, or "archive.zip!member"
    seconds: float

    @property
    def piece_id(self) -> str:
        return f"recorded/{self.package}:{self.path}"


def soundtrack(package: str) -> Soundtrack:
    return next(s for s in SOUNDTRACKS if s.package == package)


def _is_track(path: str, folder: str) -> bool:
    return path.lower().endswith(AUDIO_SUFFIXES) and re.search(folder, path, re.IGNORECASE) is not None


@functools.lru_cache(maxsize=8)
def _archive(archive: str, pid: int) -> zipfile.ZipFile:
    """An open archive, once per process: reading the directory of 0ad's 36,000-entry archive takes
    a quarter of a second, paid per track otherwise. Keyed by process id, so a forked worker
    opens its own handle and never shares a file offset with its parent."""
    return zipfile.ZipFile(archive)


def _open(path: str):
    """A file object for a plain path or an `archive.zip!member` path."""
    if "!" in path:
        archive, member = path.split("!", 1)
        z = _archive(archive, os.getpid())
        info = z.getinfo(member)
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(f"{path}: {info.file_size} bytes, over the {MAX_MEMBER_BYTES} byte limit")
        return io.BytesIO(z.read(member))
    return open(path, "rb")


def _zip_members(archive: str, folder: str) -> list[str]:
    try:
        z = _archive(archive, os.getpid())
        return [f"{archive}!{n}" for n in z.namelist() if _is_track("/" + n, folder)]
    except (OSError, zipfile.BadZipFile):
        return []


def track_paths(package: str) -> list[str]:
    """Audio files of the package's music folders (and inside its zip archives), sorted."""
    if package.startswith(RESERVED_PREFIX):
        raise ValueError(f"{package} is reserved as an external check and never enters the corpus")
    folder = soundtrack(package).folder
    paths = []
    for path in debian.files_of(package):
        if _is_track(path, folder):
            paths.append(path)
        elif path.lower().endswith(".zip"):
            paths.extend(_zip_members(path, folder))
    return sorted(paths)


@functools.lru_cache(maxsize=None)
def tracks(package: str) -> tuple[Track, ...]:
    """The package's tracks long enough to learn from; unreadable files are left out here and never planned."""
    out = []
    for path in track_paths(package):
        try:
            with _open(path) as f:
                seconds = sf.info(f).duration
        except Exception:          # soundfile raises several kinds on odd files; such a file is simply not a track
            continue
        if seconds >= MIN_TRACK_SECONDS:
            out.append(Track(package, path, min(seconds, MAX_TRACK_SECONDS)))
    return tuple(out)


def clip_spans(seconds: float) -> list[tuple[float, float]]:
    """Equal clips of 30-60 s covering the track (one clip when it is under a minute)."""
    n = max(1, math.ceil(seconds / CLIP_MAX_SECONDS - 1e-9))
    step = seconds / n
    return [(round(i * step, 3), round((i + 1) * step, 3)) for i in range(n)]


def decode(path: str, start: float, stop: float, rate: int) -> np.ndarray:
    """Mono float32 audio of [start, stop) seconds at `rate`; only that span is decoded."""
    with _open(path) as f, sf.SoundFile(f) as snd:
        first = int(start * snd.samplerate)
        count = max(0, int(stop * snd.samplerate) - first)
        snd.seek(min(first, max(0, snd.frames - 1)))
        audio = snd.read(count, dtype="float32", always_2d=True).mean(axis=1)
        if snd.samplerate != rate:
            audio = soxr.resample(audio, snd.samplerate, rate).astype(np.float32)
    if not np.isfinite(audio).all():
        raise ValueError(f"{path}: decoded samples hold NaN or infinity")
    return audio


@functools.lru_cache(maxsize=None)
def tags(path: str) -> dict:
    """Title and artist from the file's own tags, or from a SuperTuxKart-style `.music` XML beside it."""
    out = {}
    try:
        with _open(path) as f, sf.SoundFile(f) as snd:
            meta = snd.copy_metadata()
        out = {k: " ".join(str(meta[k]).split()) for k in ("title", "artist", "album") if meta.get(k)}
    except Exception:              # tags are a nicety: a file without them is titled from its name
        pass
    if "!" not in path:
        name = PurePosixPath(path).name
        for xml_path in _music_xml(str(PurePosixPath(path).parent)):
            try:
                root = ET.parse(xml_path).getroot()
            except (ET.ParseError, OSError):
                continue
            if root.get("file") == name:
                out.setdefault("title", root.get("title", "").strip())
                if root.get("composer"):
                    out.setdefault("artist", root.get("composer").strip())
    return {k: v for k, v in out.items() if v}


@functools.lru_cache(maxsize=None)
def _music_xml(folder: str) -> tuple[str, ...]:
    try:
        return tuple(str(p) for p in sorted(Path(folder).glob("*.music")))
    except OSError:
        return ()


def title_from_name(path: str) -> str:
    stem = PurePosixPath(path.split("!")[-1]).stem
    words = re.sub(r"[_\-.]+", " ", stem)
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", words)
    return " ".join(words.split()) or stem


def plan_clips(packages, seed: int):
    """(track, clip number, start, stop) of every installed package, tracks shuffled by the seed and
    packages taken in turn, so any prefix of the plan mixes every soundtrack."""
    rng = random.Random(f"{seed}:recorded")
    per_package = []
    for package in packages:
        order = list(tracks(package))
        rng.shuffle(order)
        per_package.append([(t, i, a, b) for t in order for i, (a, b) in enumerate(clip_spans(t.seconds))])
    yield from round_robin(per_package)


def round_robin(lists):
    """One item of each list in turn, dropping lists as they run out (the corpus plan's interleave)."""
    iters = [iter(x) for x in lists]
    while iters:
        alive = []
        for it in iters:
            item = next(it, None)
            if item is not None:
                yield item
                alive.append(it)
        iters = alive


def mood_for(key: str, tempo: float, rng: random.Random) -> str:
    minor = key.endswith("minor")
    fast = tempo >= 110
    if minor:
        return rng.choice(["dark", "tense", "driving"] if fast else ["melancholic", "solemn", "wistful"])
    return rng.choice(["joyful", "bright", "uplifting"] if fast else ["serene", "warm", "calm"])


def tone_word(centroid_hz: float) -> str:
    return "dark-toned" if centroid_hz < 1200 else "bright" if centroid_hz > 3500 else ""


def licence_of(package: str, path: str) -> debian.Licence:
    """The licence and attribution of one track: the soundtrack's own statement where the package
    makes one beside the music, otherwise the package's copyright file."""
    stated = next((s.music_licence for s in SOUNDTRACKS if s.package == package), ())
    if stated:
        return debian.Licence(package, stated[0], stated[1], stated[2], debian.copyright_path(package))
    return debian.licence_of(package, path.split("!")[0])


def describe_clip(track: Track, number: int, start: float, stop: float, audio: np.ndarray, rate: int,
                  rng: random.Random) -> dict:
    """The record fields of one recorded clip: metadata, licence, signal-derived attributes and captions."""
    from ..signal_judges import describe

    st = soundtrack(track.package)
    judged = describe(audio, rate)
    tag = tags(track.path)
    title = tag.get("title") or title_from_name(track.path)
    licence = licence_of(track.package, track.path)
    sound = " ".join(f"{tone_word(judged['centroid_hz'])} {st.sound}".split())
    meta = {"source": "recorded", "style": st.family, "title": title, "composer": tag.get("artist", ""),
            "collection": st.game, "tempo": judged["tempo"], "key": judged["key"], "transpose": 0,
            "programs": [], "groups": {"drums": judged["drums"]},
            "mood": mood_for(judged["key"], judged["tempo"], rng), "density": judged["onset_rate"],
            "instruments": [sound] + (["drums"] if judged["drums"] else []),
            "signal": judged, "clip": [start, stop], "track_seconds": round(track.seconds, 3),
            "origin": track.path, **licence.as_record()}
    meta["captions"], meta["unseen_caption"] = cap.recording_captions(meta, rng)
    return meta
