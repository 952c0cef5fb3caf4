"""Generated grooves: drums on the GM kit, bass lines, chords, arpeggios and leads, per style.

Each groove is written as General MIDI with its instrument groups known exactly
(drums, bass, harmony, lead), which is what the arrangement controls are trained on.
Everything is drawn from one `random.Random(seed)`, so a groove id always gives the
same MIDI.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import mido

TICKS = 480                      # per quarter note
DRUM_CHANNEL = 9
KICK, SNARE, CLAP, CLOSED_HAT, OPEN_HAT, RIDE, RIM, LOW_TOM, SHAKER = 36, 38, 39, 42, 46, 51, 37, 45, 70

MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]
DORIAN = [0, 2, 3, 5, 7, 9, 10]
KEY_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]


@dataclass(frozen=True)
class Style:
    name: str
    tempo: tuple[int, int]
    modes: tuple[str, ...]
    progressions: tuple[tuple[int, ...], ...]       # scale degrees, one chord per bar
    bass: tuple[int, ...]                           # GM programs
    harmony: tuple[int, ...]
    lead: tuple[int, ...]
    presence: dict = field(default_factory=dict)    # probability of each group
    swing: float = 0.0
    mood: tuple[str, ...] = ()


STYLES: dict[str, Style] = {s.name: s for s in [
    Style("house", (118, 128), ("minor", "major"), ((0, 5, 3, 4), (0, 3, 5, 4), (0, 0, 5, 5)),
          bass=(38, 39, 87), harmony=(16, 4, 89, 81), lead=(80, 81, 11),
          presence={"drums": 0.95, "bass": 0.9, "harmony": 0.85, "lead": 0.4}, mood=("uplifting", "driving", "warm")),
    Style("techno", (124, 140), ("minor",), ((0, 0, 0, 0), (0, 0, 5, 5), (0, 6, 0, 6)),
          bass=(38, 39, 87), harmony=(90, 95, 81), lead=(80, 84, 81),
          presence={"drums": 1.0, "bass": 0.9, "harmony": 0.5, "lead": 0.6}, mood=("dark", "hypnotic", "driving")),
    Style("hip hop", (80, 96), ("minor", "dorian"), ((0, 5, 3, 4), (0, 3, 0, 4), (1, 4, 0, 0)),
          bass=(33, 38, 34), harmony=(4, 5, 0, 48), lead=(11, 73, 56),
          presence={"drums": 1.0, "bass": 0.9, "harmony": 0.85, "lead": 0.35}, swing=0.18,
          mood=("laid-back", "mellow", "gritty")),
    Style("drum and bass", (165, 178), ("minor",), ((0, 5, 6, 4), (0, 3, 5, 6), (0, 0, 3, 3)),
          bass=(38, 87, 39), harmony=(89, 91, 48), lead=(81, 88, 11),
          presence={"drums": 1.0, "bass": 0.95, "harmony": 0.7, "lead": 0.4}, mood=("energetic", "dark", "rolling")),
    Style("ambient", (60, 90), ("major", "minor"), ((0, 3, 5, 4), (0, 5, 3, 0), (0, 4, 5, 3)),
          bass=(89, 32, 95), harmony=(89, 88, 91, 49), lead=(11, 8, 98, 75),
          presence={"drums": 0.15, "bass": 0.5, "harmony": 1.0, "lead": 0.6}, mood=("calm", "dreamy", "spacious")),
    Style("funk", (96, 112), ("dorian", "minor"), ((0, 3, 0, 3), (0, 0, 3, 4), (0, 6, 5, 4)),
          bass=(36, 37, 33), harmony=(7, 27, 4), lead=(61, 56, 65),
          presence={"drums": 1.0, "bass": 0.95, "harmony": 0.8, "lead": 0.5}, swing=0.1, mood=("groovy", "tight", "bright")),
    Style("reggae", (70, 84), ("major", "minor"), ((0, 3, 4, 3), (0, 5, 3, 4), (0, 4, 0, 4)),
          bass=(33, 34, 38), harmony=(16, 27, 17), lead=(56, 65, 22),
          presence={"drums": 1.0, "bass": 0.95, "harmony": 0.9, "lead": 0.35}, mood=("relaxed", "sunny", "steady")),
    Style("jazz", (110, 180), ("major", "dorian"), ((1, 4, 0, 0), (1, 4, 0, 5), (0, 5, 1, 4)),
          bass=(32, 33), harmony=(0, 4, 11), lead=(65, 66, 56, 73),
          presence={"drums": 0.9, "bass": 0.95, "harmony": 0.9, "lead": 0.6}, swing=0.3, mood=("smoky", "swinging", "late-night")),
]}

HELD_OUT_STYLES: dict[str, Style] = {s.name: s for s in [
    Style("bossa nova", (120, 142), ("major", "dorian"), ((1, 4, 0, 0), (0, 5, 1, 4), (0, 3, 1, 4)),
          bass=(32, 33), harmony=(24, 25), lead=(73, 65, 71),
          presence={"drums": 0.9, "bass": 0.95, "harmony": 1.0, "lead": 0.6}, mood=("breezy", "gentle", "sunlit")),
]}
"""Styles the corpus never renders (`plan` walks STYLES only): the default model has not heard
them, so fine-tuning on one of them (`corpus style`, `finetune`, `eval style`) measures a gain."""

MODES = {"major": MAJOR, "minor": MINOR, "dorian": DORIAN}


@dataclass
class Groove:
    midi: mido.MidiFile
    style: str
    tempo: float
    key: str
    mode: str
    bars: int
    groups: dict[str, bool]          # drums / bass / harmony / lead present
    programs: dict[str, int]         # GM program per pitched group
    density: float                   # notes per second over all parts
    mood: str


class _Track:
    """Absolute-time note list for one channel, turned into delta-time MIDI at the end."""

    def __init__(self, channel: int, program: int | None):
        self.channel, self.program = channel, program
        self.events: list[tuple[int, int, int, int]] = []   # (tick, order, note, velocity)

    def note(self, start: float, length: float, pitch: int, velocity: int) -> None:
        pitch = max(0, min(127, int(pitch)))
        velocity = max(1, min(127, int(velocity)))
        on = int(round(start * TICKS))
        off = max(on + 1, int(round((start + length) * TICKS)))
        self.events.append((on, 1, pitch, velocity))
        self.events.append((off, 0, pitch, 0))

    def to_midi(self) -> mido.MidiTrack:
        track = mido.MidiTrack()
        if self.program is not None:
            track.append(mido.Message("program_change", program=self.program, channel=self.channel, time=0))
        now = 0
        for tick, _, pitch, vel in sorted(self.events):
            kind = "note_on" if vel else "note_off"
            track.append(mido.Message(kind, note=pitch, velocity=vel, channel=self.channel, time=tick - now))
            now = tick
        return track


def _swing(beat: float, amount: float) -> float:
    """Delay off-beat eighths by `amount` of an eighth."""
    frac = beat % 1.0
    return beat + (amount * 0.5 if abs(frac - 0.5) < 1e-6 else 0.0)


def _drums(style: str, rng: random.Random, bars: int, swing: float, vel: float) -> _Track:
    t = _Track(DRUM_CHANNEL, None)
    for bar in range(bars):
        b0 = bar * 4
        fill = bar % 4 == 3 and rng.random() < 0.5
        if style in ("house", "techno"):
            for q in range(4):
                t.note(b0 + q, 0.25, KICK, 110 * vel)
                t.note(b0 + q + 0.5, 0.25, OPEN_HAT if style == "house" else CLOSED_HAT, 80 * vel)
            for q in (1, 3):
                t.note(b0 + q, 0.25, CLAP, 95 * vel)
            if style == "techno":
                for s in range(16):
                    t.note(b0 + s / 4, 0.1, CLOSED_HAT, (60 + 25 * (s % 2 == 0)) * vel)
        elif style == "hip hop":
            for pos in (0, 1.75 if rng.random() < 0.5 else 2.5, 2.25):
                t.note(b0 + pos, 0.25, KICK, 110 * vel)
            for q in (1, 3):
                t.note(b0 + q, 0.25, SNARE, 100 * vel)
            for e in range(8):
                t.note(b0 + _swing(e / 2, swing), 0.2, CLOSED_HAT, (70 + 15 * (e % 2 == 0)) * vel)
        elif style == "drum and bass":
            for pos in (0, 2.5):
                t.note(b0 + pos, 0.25, KICK, 115 * vel)
            for pos in (1, 3):
                t.note(b0 + pos, 0.25, SNARE, 110 * vel)
            for s in range(8):
                t.note(b0 + s / 2, 0.2, CLOSED_HAT if s % 2 else RIDE, 70 * vel)
        elif style == "ambient":
            if bar % 2 == 0:
                t.note(b0, 1.0, LOW_TOM, 60 * vel)
            for q in range(4):
                t.note(b0 + q + 0.5, 0.3, SHAKER, 45 * vel)
        elif style == "funk":
            for pos in (0, 0.75, 2.5):
                t.note(b0 + pos, 0.25, KICK, 110 * vel)
            for pos in (1, 3):
                t.note(b0 + pos, 0.25, SNARE, 105 * vel)
            for s in range(16):
                t.note(b0 + _swing(s / 4, swing), 0.1, CLOSED_HAT, (55 + 30 * (s % 4 == 0)) * vel)
        elif style == "reggae":
            t.note(b0 + 2, 0.25, KICK, 110 * vel)
            t.note(b0 + 2, 0.25, RIM, 100 * vel)
            for e in range(8):
                t.note(b0 + e / 2, 0.2, CLOSED_HAT, 65 * vel)
        elif style == "bossa nova":           # surdo-like kick on 1 and 3, the clave on the rim, shaker eighths
            for pos in (0, 1.5, 2, 3.5):
                t.note(b0 + pos, 0.25, KICK, (100 if pos in (0, 2) else 75) * vel)
            for pos in ((0, 1, 2.5) if bar % 2 == 0 else (1, 2.5, 3.5)):
                t.note(b0 + pos, 0.2, RIM, 85 * vel)
            for e in range(8):
                t.note(b0 + e / 2, 0.2, SHAKER, (50 + 15 * (e % 2 == 0)) * vel)
        elif style == "jazz":
            for q in range(4):
                t.note(b0 + q, 0.5, RIDE, 80 * vel)
                if q in (1, 3):
                    t.note(b0 + _swing(q + 0.5, swing), 0.3, RIDE, 65 * vel)
                    t.note(b0 + q, 0.2, CLOSED_HAT + 2, 60 * vel)   # pedal hat
            if rng.random() < 0.4:
                t.note(b0 + rng.choice([1.5, 2.5, 3.5]), 0.2, SNARE, 55 * vel)
        if fill:
            for s in range(4):
                t.note(b0 + 3 + s / 4, 0.2, SNARE if s % 2 else LOW_TOM, 90 * vel)
    return t


def _chord(root_degree: int, scale: list[int], tonic: int, seventh: bool) -> list[int]:
    degrees = [root_degree, root_degree + 2, root_degree + 4] + ([root_degree + 6] if seventh else [])
    return [tonic + scale[d % 7] + 12 * (d // 7) for d in degrees]


def make_groove(style_name: str, seed: int, bars: int | None = None) -> Groove:
    """A groove of one style; the same (style, seed) always gives the same MIDI."""
    known = {**STYLES, **HELD_OUT_STYLES}
    if style_name not in known:
        raise KeyError(f"unknown groove style {style_name!r}; styles are {sorted(known)}")
    style = known[style_name]
    rng = random.Random(f"{style_name}:{seed}")
    tempo = rng.randint(*style.tempo)
    mode = rng.choice(style.modes)
    scale = MODES[mode]
    key = rng.randrange(12)
    bars = bars or rng.choice([8, 12, 16])
    progression = rng.choice(style.progressions)
    groups = {g: rng.random() < p for g, p in style.presence.items()}
    if sum(groups.values()) < 2:
        groups["harmony"] = True
        groups["bass" if style_name != "ambient" else "lead"] = True
    programs = {g: rng.choice(getattr(style, g)) for g in ("bass", "harmony", "lead")}
    vel = rng.uniform(0.75, 1.05)
    tonic = 48 + key
    tracks: list[_Track] = []
    if groups["drums"]:
        tracks.append(_drums(style_name, rng, bars, style.swing, vel))
    chords = [_chord(progression[b % len(progression)], scale, tonic,
                     style_name in ("jazz", "hip hop", "funk", "bossa nova"))
              for b in range(bars)]
    if groups["bass"]:
        bass = _Track(1, programs["bass"])
        for bar, ch in enumerate(chords):
            root = ch[0] - 12 if ch[0] >= 48 else ch[0]
            b0 = bar * 4
            if style_name == "jazz":            # walking quarters through chord tones and passing notes
                walk = [root, ch[1] - 12, ch[2] - 12, root + rng.choice([-1, 1, 2])]
                for q, p in enumerate(walk):
                    bass.note(b0 + q, 0.9, p, 90 * vel)
            elif style_name in ("house",):
                for q in range(4):
                    bass.note(b0 + q + 0.5, 0.4, root, 95 * vel)
            elif style_name == "techno":
                for s in range(16):
                    if s % 4 != 0:
                        bass.note(b0 + s / 4, 0.2, root, 85 * vel)
            elif style_name in ("drum and bass", "ambient"):
                bass.note(b0, 3.8, root, 90 * vel)
            elif style_name == "bossa nova":    # root and fifth in the dotted bossa figure
                for pos, p in ((0, root), (1.5, root + 7), (2, root), (3.5, root + 7)):
                    bass.note(b0 + pos, 0.45 if pos % 1 else 1.4, p, 90 * vel)
            elif style_name == "reggae":
                for pos, p in ((0, root), (1.5, root + 7), (2, root + scale[2]), (3, root + 5)):
                    bass.note(b0 + pos, 0.45, p, 95 * vel)
            else:                               # funk and hip hop: syncopated
                for pos in (0, 0.75, 1.5, 2.5, 3.25):
                    if rng.random() < 0.8:
                        bass.note(b0 + _swing(pos, style.swing), 0.3, root + rng.choice([0, 0, 12, 7]), 95 * vel)
        tracks.append(bass)
    if groups["harmony"]:
        harm = _Track(2, programs["harmony"])
        for bar, ch in enumerate(chords):
            b0 = bar * 4
            voiced = [p + 12 for p in ch]
            if style_name in ("ambient", "drum and bass"):
                for p in voiced:
                    harm.note(b0, 4.0, p, 70 * vel)
            elif style_name == "bossa nova":    # the guitar's syncopated comping, bass note apart
                for pos in ((0, 1.5, 2.5, 3.5) if bar % 2 == 0 else (0.5, 1.5, 2.5)):
                    for p in voiced[1:]:
                        harm.note(b0 + pos, 0.4, p, 70 * vel)
            elif style_name == "reggae":
                for q in range(4):
                    for p in voiced:
                        harm.note(b0 + q + 0.5, 0.3, p, 80 * vel)
            elif style_name == "techno" or (style_name == "house" and rng.random() < 0.5):
                for pos in (0.5, 1.75, 3.0):    # stabs
                    for p in voiced:
                        harm.note(b0 + pos, 0.25, p, 85 * vel)
            elif rng.random() < 0.5:            # arpeggio
                step = 0.5 if style_name != "ambient" else 1.0
                n = int(4 / step)
                for i in range(n):
                    harm.note(b0 + i * step, step * 0.9, voiced[i % len(voiced)] + 12 * (i // len(voiced) % 2), 75 * vel)
            else:                               # comping
                for pos in (0, 1.5, 2.5):
                    for p in voiced:
                        harm.note(b0 + _swing(pos, style.swing), 0.8, p, 75 * vel)
        tracks.append(harm)
    if groups["lead"]:
        lead = _Track(3, programs["lead"])
        degree = rng.randrange(7)
        step = {"ambient": 2.0, "jazz": 0.5, "funk": 0.5, "techno": 0.25, "drum and bass": 0.5}.get(style_name, 1.0)
        for bar in range(bars):
            if bar % 4 == 0 and rng.random() < 0.25:
                continue                        # a rest bar, so the lead breathes
            pos = 0.0
            while pos < 4:
                length = step * rng.choice([1, 1, 2])
                degree = max(0, min(13, degree + rng.choice([-2, -1, -1, 0, 1, 1, 2])))
                if rng.random() < 0.85:
                    pitch = tonic + 24 + scale[degree % 7] + 12 * (degree // 7)
                    lead.note(bar * 4 + _swing(pos, style.swing), min(length, 4 - pos) * 0.9, pitch, 90 * vel)
                pos += length
        tracks.append(lead)

    midi = mido.MidiFile(ticks_per_beat=TICKS)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo), time=0))
    midi.tracks.append(meta)
    notes = 0
    for t in tracks:
        midi.tracks.append(t.to_midi())
        notes += len(t.events) // 2
    seconds = bars * 4 * 60.0 / tempo
    return Groove(midi, style_name, float(tempo), KEY_NAMES[key], mode, bars, groups,
                  {g: programs[g] for g in ("bass", "harmony", "lead") if groups[g]},
                  notes / seconds, rng.choice(style.mood))
