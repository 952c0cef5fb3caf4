"""Real compositions from the music21 corpus, as MIDI with metadata.

music21 ships its corpus inside its wheel (Bach chorales, Palestrina, Monteverdi,
folk tunes of the Essen, O'Neill, Aird and Ryan collections, classical movements), so
nothing is fetched. A piece is one score: an opus file of folk tunes holds many.
"""
from __future__ import annotations

import functools
import io
import random
from collections import defaultdict
from dataclasses import dataclass

import mido

MAX_MEASURES = 96          # over a minute at any tempo and metre the corpus holds

FAMILIES = {
    "baroque chorale": ("bach",),
    "renaissance polyphony": ("palestrina", "josquin", "trecento", "monteverdi"),
    "celtic folk": ("oneills1850", "ryansMammoth", "airdsAirs"),
    "european folk song": ("essenFolksong", "miscFolk"),
    "classical": ("mozart", "haydn", "beethoven"),
}

# GM programs per family: (lead, harmony, bass) palettes.
PALETTES = {
    "baroque chorale": ((52, 19, 73, 68, 40, 48), (52, 19, 48, 49, 20, 71), (42, 70, 19, 58, 32)),
    "renaissance polyphony": ((52, 53, 74, 68, 40), (52, 53, 74, 6, 41, 46), (42, 70, 52, 58)),
    "celtic folk": ((110, 73, 75, 21, 78, 40, 22), (24, 46, 0, 21, 105), (32, 42, 24)),
    "european folk song": ((0, 21, 73, 40, 71, 24, 68), (24, 0, 21, 46), (32, 42)),
    "classical": ((0, 40, 73, 68, 71), (0, 48, 41, 49, 60), (42, 43, 0, 70)),
}


@dataclass
class Piece:
    piece_id: str                     # "collection/file#number"
    family: str
    collection: str
    title: str
    composer: str
    midi: mido.MidiFile
    key: str                          # e.g. "D minor"
    tempo: float
    roles: dict[int, str]             # channel -> lead / harmony / bass


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, list[tuple[str, int | None]]]:
    """family -> [(source path, number in opus)], in music21's own order (read once per process)."""
    from music21 import corpus
    bundle = corpus.corpora.CoreCorpus().metadataBundle
    folders = {folder: fam for fam, fs in FAMILIES.items() for folder in fs}
    out: dict[str, list] = defaultdict(list)
    # The bundle's own iteration indexes it entry by entry (half a minute for its 15,000 entries);
    # its table of entries holds the same ones in the same order.
    entries = getattr(bundle, "_metadataEntries", None)
    for entry in (entries.values() if isinstance(entries, dict) else bundle):
        folder = str(entry.sourcePath).split("/")[0]
        if folder in folders:
            out[folders[folder]].append((str(entry.sourcePath), entry.number))
    return dict(out)


def load_piece(source_path: str, number: int | None) -> Piece:
    from music21 import corpus
    from music21.midi import translate
    score = corpus.parse(source_path, number=number)
    if hasattr(score, "scores") and not hasattr(score, "parts"):       # an opus
        score = score.scores[0]
    folder = source_path.split("/")[0]
    family = next(f for f, fs in FAMILIES.items() if folder in fs)
    try:
        key = score.analyze("key")
        key_name = f"{key.tonic.name.replace('-', 'b')} {key.mode}"
    except Exception:          # music21 raises many kinds on odd scores; a piece without a key is fine
        key_name = ""
    md = score.metadata
    title = (md.title if md is not None and md.title else "") or source_path.split("/")[-1]
    composer = (md.composer if md is not None and md.composer else "") or ""
    midi = _parts_to_midi(score, translate)
    tempo = 120.0
    for msg in midi:
        if msg.type == "set_tempo":
            tempo = mido.tempo2bpm(msg.tempo)
            break
    return Piece(f"{folder}/{source_path.split('/', 1)[1]}#{number or 0}", family, folder, str(title),
                 str(composer), midi, key_name, float(tempo), _roles(midi))


def _parts_to_midi(score, translate) -> mido.MidiFile:
    """One channel per part: music21 merges parts that share an instrument into one channel."""
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    # Only the first minute is rendered, and music21's export is quadratic in a part's
    # length (stripTies), so long movements are cut to their first measures before it.
    parts = [_first_measures(p, MAX_MEASURES) for p in parts]
    out = mido.MidiFile(type=1, ticks_per_beat=480)
    channels = [c for c in range(16) if c != 9]
    for i, part in enumerate(parts[:len(channels)]):
        try:
            exported = translate.streamToMidiFile(part)
        except Exception:      # music21's ExpanderException on badly formed repeats: play it once through
            for el in list(part.recurse().getElementsByClass(("Repeat", "RepeatExpression", "RepeatBracket"))):
                el.activeSite.remove(el)
            exported = translate.streamToMidiFile(part)
        one = mido.MidiFile(file=io.BytesIO(exported.writestr()))
        if i == 0:
            out.ticks_per_beat = one.ticks_per_beat
        for track in one.tracks:
            new = mido.MidiTrack()
            for msg in track:
                if msg.is_meta and msg.type == "set_tempo" and i > 0:
                    msg = mido.MetaMessage("text", text="", time=msg.time)   # one tempo map, the first part's
                elif not msg.is_meta and hasattr(msg, "channel"):
                    msg = msg.copy(channel=channels[i])
                new.append(msg)
            out.tracks.append(new)
    return out


def _first_measures(part, count: int):
    try:
        if len(part.getElementsByClass("Measure")) > count:
            return part.measures(1, count)
    except Exception:          # a part music21 cannot slice is exported whole (bounded by the item timeout)
        pass
    return part


def _roles(midi: mido.MidiFile) -> dict[int, str]:
    pitches: dict[int, list[int]] = defaultdict(list)
    for msg in midi:
        if msg.type == "note_on" and msg.velocity > 0 and msg.channel != 9:
            pitches[msg.channel].append(msg.note)
    ranked = sorted(pitches, key=lambda c: -sum(pitches[c]) / len(pitches[c]))
    roles = {}
    for i, ch in enumerate(ranked):
        if i == 0:
            roles[ch] = "lead"
        elif i == len(ranked) - 1 and len(ranked) >= 3:
            roles[ch] = "bass"
        else:
            roles[ch] = "harmony"
    return roles


def choose_programs(piece: Piece, rng: random.Random) -> dict[int, int]:
    """An instrument per channel from the family's palette (one program shared by all harmony parts)."""
    lead, harmony, bass = PALETTES[piece.family]
    pick = {"lead": rng.choice(lead), "harmony": rng.choice(harmony), "bass": rng.choice(bass)}
    return {ch: pick[role] for ch, role in piece.roles.items()}
