"""`lmdmlive corpus build`: the deterministic, resumable plan from sources to shards.

The plan is a fixed sequence (music21 pieces of every family and generated grooves of
every style, interleaved, in an order drawn from the seed); the build walks it in
order, renders what is not on disk yet, and stops once the requested hours are
reached. Two builds with the same seed hold the same clips with the same captions and
the same audio; a build that was stopped continues where it stopped.

Held-out data is chosen by piece (a hash of the piece id and seed), never by clip.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing as mp
import random
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import captions as cap
from . import sources
from ...model.features import sketch_features
from .grooves import KEY_NAMES, STYLES, make_groove
from .midi_tools import GM_NAMES, arrange
from .pieces import FAMILIES, catalogue, choose_programs, load_piece
from .render import Mix, render_midi
from .shards import ShardWriter, read_records

SAMPLE_RATE = 24000
FRAME_RATE = 25
PIECE_MAX_SECONDS = 60.0
HELDOUT_FRACTION = 0.05
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class PlanItem:
    kind: str          # "piece", "groove" or "recording"
    source: str        # music21 source path, groove style, or "package:track path"
    number: int        # number in opus, groove index, or clip number in the track
    family: str
    variant: str = ""  # "" (FluidR3, GM kit: the default corpus), "musescore" or "kits" (sources.py)
    span: tuple = ()   # recordings: (start, stop, track length) in seconds

    @property
    def piece_id(self) -> str:
        if self.kind == "recording":
            return f"recorded/{self.source}"
        return f"{self.source}#{self.number}" if self.kind == "piece" else f"groove/{self.source}/{self.number}"

    @property
    def clip_id(self) -> str:
        if self.kind == "recording":
            return sources.recording_clip_id(self.piece_id, self.number)
        if self.variant:
            return sources.variant_clip_id(self.piece_id, self.variant)
        return hashlib.sha1(self.piece_id.encode()).hexdigest()[:16]


def split_of(piece_id: str, seed: int) -> str:
    h = int(hashlib.sha256(f"{seed}:{piece_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "heldout" if h < HELDOUT_FRACTION else "train"


def plan(seed: int) -> Iterator[PlanItem]:
    """Pieces (families round-robin) and grooves (styles round-robin), alternating."""
    rng = random.Random(seed)
    cat = catalogue()
    per_family = []
    for family in sorted(cat):
        items = list(cat[family])
        rng.shuffle(items)
        per_family.append([PlanItem("piece", src, num or 0, family) for src, num in items])
    pieces = (it for group in itertools.zip_longest(*per_family) for it in group if it is not None)
    styles = sorted(STYLES)
    grooves = (PlanItem("groove", styles[i % len(styles)], i // len(styles), styles[i % len(styles)])
               for i in itertools.count())
    for p, g in zip(itertools.chain(pieces, itertools.repeat(None)), grooves):
        if p is not None:
            yield p
        yield g


def _transpose_key(key: str, semitones: int) -> str:
    if not key:
        return ""
    tonic, _, mode = key.partition(" ")
    names = {n: i for i, n in enumerate(KEY_NAMES)}
    alias = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb", "Cb": "B", "Fb": "E", "E#": "F", "B#": "C"}
    tonic = alias.get(tonic, tonic)
    if tonic not in names:
        return key
    return f"{KEY_NAMES[(names[tonic] + semitones) % 12]} {mode}".strip()


def process(item: PlanItem, seed: int) -> tuple[dict, "object", dict]:
    """Render one plan item: (metadata record, audio, features). Deterministic in (item, seed)."""
    if item.kind == "recording":
        return sources.process_recording(item, seed, SAMPLE_RATE, FRAME_RATE)
    rng = random.Random(f"{seed}:{item.piece_id}" + (f"|{item.variant}" if item.variant else ""))
    mix = Mix(gain=round(rng.uniform(0.35, 0.6), 3), reverb=rng.choice([0.0, 0.2, 0.4, 0.6, 0.8]),
              chorus=rng.random() < 0.3)
    velocity = rng.uniform(0.8, 1.1)
    if item.kind == "piece":
        piece = load_piece(item.source, item.number or None)
        transpose = rng.randint(-5, 5)
        tempo_factor = rng.uniform(0.85, 1.15)
        programs = choose_programs(piece, rng)
        arranged = arrange(piece.midi, max_seconds=PIECE_MAX_SECONDS, transpose=transpose, tempo_factor=tempo_factor,
                           velocity_factor=velocity, programs=programs)
        roles = set(piece.roles.values())
        groups = {"drums": False, "bass": "bass" in roles, "harmony": "harmony" in roles, "lead": "lead" in roles}
        key = _transpose_key(piece.key, transpose)
        minor = key.endswith("minor")
        meta = {"source": "music21", "style": item.family, "title": piece.title, "composer": piece.composer,
                "collection": piece.collection, "tempo": round(piece.tempo * tempo_factor, 2), "key": key,
                "transpose": transpose, "programs": sorted(set(programs.values())), "groups": groups,
                "mood": rng.choice(["melancholic", "solemn", "wistful"] if minor else ["bright", "joyful", "serene"])}
    else:
        groove = make_groove(item.source, item.number)
        arranged = arrange(groove.midi, max_seconds=120.0, velocity_factor=velocity)
        meta = {"source": "groove", "style": item.source, "title": f"{item.source} groove {item.number}",
                "composer": "", "collection": "grooves", "tempo": groove.tempo, "key": f"{groove.key} {groove.mode}",
                "transpose": 0, "programs": sorted(groove.programs.values()), "groups": groove.groups,
                "mood": groove.mood}
    if arranged.notes == 0 or arranged.seconds <= 0.5:
        raise ValueError(f"{item.piece_id}: no notes to render")
    extra = {}
    if item.variant == "kits" and meta["groups"]["drums"]:
        audio, extra = sources.render_with_kit(arranged, arranged.seconds, SAMPLE_RATE, mix, item.source,
                                               meta["tempo"], random.Random(f"{seed}:{item.piece_id}|kit"))
    elif item.variant == "musescore":
        soundfont, package = sources.musescore_soundfont()
        audio = render_midi(arranged.midi, arranged.seconds, SAMPLE_RATE, mix, soundfont=soundfont)
        extra = {"soundfont": soundfont.name, "soundfont_package": package}
    else:
        audio = render_midi(arranged.midi, arranged.seconds, SAMPLE_RATE, mix)
    audio = audio[: len(audio) // (SAMPLE_RATE // FRAME_RATE) * (SAMPLE_RATE // FRAME_RATE)]
    seconds = len(audio) / SAMPLE_RATE
    meta.update(id=item.clip_id, piece=item.piece_id, family=item.family, seconds=round(seconds, 3),
                sample_rate=SAMPLE_RATE, frame_rate=FRAME_RATE, density=round(arranged.notes / seconds, 3),
                instruments=[GM_NAMES[p] for p in meta["programs"]] + (["drums"] if meta["groups"]["drums"] else []),
                mix={"gain": mix.gain, "reverb": mix.reverb, "chorus": mix.chorus, "velocity": round(velocity, 3)})
    meta["captions"], meta["unseen_caption"] = cap.captions(meta, rng)
    meta.update(extra)
    features = sketch_features(audio, SAMPLE_RATE, SAMPLE_RATE // FRAME_RATE)
    return meta, audio, features


ITEM_TIMEOUT_SECONDS = 90
SF3_ITEM_TIMEOUT_SECONDS = 240     # an .sf3 soundfont is decoded at every load (render.py)


class ItemTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise ItemTimeout(f"took over {ITEM_TIMEOUT_SECONDS} s")


def _work(args):
    item, seed = args
    signal.signal(signal.SIGALRM, _alarm)
    # a pathological score must not stall the build
    signal.alarm(SF3_ITEM_TIMEOUT_SECONDS if item.variant == "musescore" else ITEM_TIMEOUT_SECONDS)
    try:
        return item, process(item, seed), None
    except Exception as e:     # one bad source never stops the corpus; it is logged and skipped
        return item, None, f"{type(e).__name__}: {e}"
    finally:
        signal.alarm(0)


def read_skipped(path: Path) -> dict:
    """Items an earlier run skipped, by id, that stay skipped. An item that only ran out of time
    is tried again: on a machine busy with other work a wall-clock limit is no verdict on the item
    (the last line about an item decides, so one that times out again is skipped again)."""
    skipped = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                skipped[rec["id"]] = rec
    return {k: r for k, r in skipped.items() if not r.get("error", "").startswith("ItemTimeout")}


def build(out: str | Path, hours: float, seed: int = 0, workers: int = 2, progress=None, log=print,
          only: str | None = None, sources_used=sources.DEFAULT_SOURCES) -> dict:
    """Render the plan until `hours` of audio are on disk. With `only="heldout"` the plan's
    training items are passed over unrendered and `hours` counts held-out audio alone: an
    evaluation corpus of the very pieces a full build holds out, in a twentieth of the time."""
    if only not in (None, "train", "heldout"):
        raise ValueError(f"only must be 'train' or 'heldout', not {only!r}")
    # Sources other than the default add the opt-in ones (sources.py); their packages are checked first.
    sources_used = tuple(sources_used)
    if not sources.is_default(sources_used):
        sources.check(sources_used, log=log)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    writers = {s: ShardWriter(out, s, SAMPLE_RATE) for s in ("train", "heldout")}
    done = {r["id"]: r for w in writers.values() for r in w.records}
    skipped_path = out / "skipped.jsonl"
    skipped = read_skipped(skipped_path)
    target = hours * 3600.0
    total = 0.0

    def todo():
        nonlocal total
        items = plan(seed) if sources.is_default(sources_used) else \
            sources.extended_plan(seed, sources_used, plan, PlanItem)
        for item in items:
            if total >= target:
                return
            if item.clip_id in done:
                total += done[item.clip_id]["seconds"]
                continue
            if item.clip_id in skipped or (only is not None and split_of(item.piece_id, seed) != only):
                continue
            yield item, seed

    ctx = mp.get_context("fork")
    with ctx.Pool(workers) as pool:
        for item, result, error in pool.imap(_work, todo(), chunksize=1):
            if total >= target:
                break
            if error is not None:
                rec = {"id": item.clip_id, "piece": item.piece_id, "error": error}
                with open(skipped_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                skipped[item.clip_id] = rec
                log(f"skipped {item.piece_id}: {error}")
                continue
            meta, audio, features = result
            writers[split_of(item.piece_id, seed)].add(meta, audio, features)
            total += meta["seconds"]
            if progress is not None:
                progress(min(int(total), int(target)), int(target))
        pool.terminate()
    manifest = write_manifest(out, seed, hours, only, sources_used=sources_used)
    return manifest


def write_manifest(out: Path, seed: int, hours: float, only: str | None = None, sources_used=None) -> dict:
    stats = {}
    for split in ("train", "heldout", "user"):
        recs = read_records(out, split)
        stats[split] = {"clips": len(recs), "hours": round(sum(r["seconds"] for r in recs) / 3600, 3),
                        "pieces": len({r["piece"] for r in recs}),
                        "families": sorted({r["family"] for r in recs})}
    manifest = {"version": MANIFEST_VERSION, "seed": seed, "hours_requested": hours, "sample_rate": SAMPLE_RATE,
                "frame_rate": FRAME_RATE, "families_known": sorted(FAMILIES) + sorted(STYLES), "splits": stats,
                "only": only}
    old = out / "manifest.json"
    if sources_used is None and old.exists():        # `corpus add` rewrites the manifest: keep the sources
        sources_used = json.loads(old.read_text()).get("sources")
    if sources_used is not None and not sources.is_default(sources_used):
        # Only a corpus with opt-in sources says so, so the default corpus's manifest stays as it was.
        manifest["sources"] = list(sources_used)
        manifest["families_known"] = sorted(set(manifest["families_known"]) | {
            s.family for s in sources.recorded.SOUNDTRACKS})
        manifest["attribution"] = sources.attribution(
            [r for split in ("train", "heldout", "user") for r in read_records(out, split)])
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
