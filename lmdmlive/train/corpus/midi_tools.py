"""MIDI clean-up before rendering: one track, absolute timing, bounded length, the arrangement applied.

Every source (music21 exports, generated grooves) goes through `arrange`, which
flattens tempo changes into a fixed grid, stops at `max_seconds` with notes released,
and applies transposition, a tempo factor, a velocity factor and instrument choices.
Its `seconds` is what bounds the render (DESIGN.md: some exports never stop).
"""
from __future__ import annotations

from dataclasses import dataclass

import mido

TICKS_PER_SECOND = 960          # 480 ticks per beat at 120 BPM
DRUM_CHANNEL = 9

GM_NAMES = [
    "acoustic grand piano", "bright piano", "electric grand piano", "honky-tonk piano", "electric piano",
    "electric piano", "harpsichord", "clavinet", "celesta", "glockenspiel", "music box", "vibraphone", "marimba",
    "xylophone", "tubular bells", "dulcimer", "drawbar organ", "percussive organ", "rock organ", "church organ",
    "reed organ", "accordion", "harmonica", "tango accordion", "nylon guitar", "steel guitar", "jazz guitar",
    "clean electric guitar", "muted guitar", "overdriven guitar", "distortion guitar", "guitar harmonics",
    "acoustic bass", "fingered bass", "picked bass", "fretless bass", "slap bass", "slap bass", "synth bass",
    "synth bass", "violin", "viola", "cello", "contrabass", "tremolo strings", "pizzicato strings", "harp",
    "timpani", "string ensemble", "slow strings", "synth strings", "synth strings", "choir", "voice oohs",
    "synth voice", "orchestra hit", "trumpet", "trombone", "tuba", "muted trumpet", "french horn", "brass section",
    "synth brass", "synth brass", "soprano sax", "alto sax", "tenor sax", "baritone sax", "oboe", "english horn",
    "bassoon", "clarinet", "piccolo", "flute", "recorder", "pan flute", "blown bottle", "shakuhachi", "whistle",
    "ocarina", "square lead", "saw lead", "calliope lead", "chiff lead", "charang lead", "voice lead",
    "fifths lead", "bass and lead", "new age pad", "warm pad", "polysynth pad", "choir pad", "bowed pad",
    "metallic pad", "halo pad", "sweep pad", "rain", "soundtrack", "crystal", "atmosphere", "brightness",
    "goblins", "echoes", "sci-fi", "sitar", "banjo", "shamisen", "koto", "kalimba", "bagpipe", "fiddle", "shanai",
    "tinkle bell", "agogo", "steel drums", "woodblock", "taiko drum", "melodic tom", "synth drum",
    "reverse cymbal", "guitar fret noise", "breath noise", "seashore", "bird tweet", "telephone", "helicopter",
    "applause", "gunshot",
]


@dataclass
class Arranged:
    midi: mido.MidiFile
    seconds: float                  # time of the last note-off
    notes: int
    channels: list[int]             # channels that play notes


def arrange(source: mido.MidiFile, *, max_seconds: float, transpose: int = 0, tempo_factor: float = 1.0,
            velocity_factor: float = 1.0, programs: dict[int, int] | None = None) -> Arranged:
    """A type-0 MIDI file at a fixed tempo, cut at `max_seconds` (sounding notes released there).

    programs: channel -> GM program; replaces the source's program changes on those channels.
    """
    programs = programs or {}
    events: list[tuple[float, int, mido.Message]] = []
    sounding: dict[tuple[int, int], float] = {}
    now, notes, last_off = 0.0, 0, 0.0
    channels: set[int] = set()
    for msg in source:                               # merged tracks, time in seconds, tempo map applied
        now += msg.time / tempo_factor
        if now > max_seconds:
            break
        if msg.is_meta or msg.type == "sysex":
            continue
        if msg.type == "program_change" and msg.channel in programs:
            continue
        if msg.type in ("note_on", "note_off"):
            key = (msg.channel, msg.note)
            pitch = msg.note if msg.channel == DRUM_CHANNEL else min(127, max(0, msg.note + transpose))
            if msg.type == "note_on" and msg.velocity > 0:
                vel = max(1, min(127, round(msg.velocity * velocity_factor)))
                msg = msg.copy(note=pitch, velocity=vel)
                sounding[key] = now
                notes += 1
                channels.add(msg.channel)
            else:
                msg = mido.Message("note_off", channel=msg.channel, note=pitch, velocity=0)
                sounding.pop(key, None)
                last_off = now
        events.append((now, 1 if msg.type == "note_on" else 0, msg))
    for (channel, note), _ in sounding.items():      # release what the cut left sounding
        pitch = note if channel == DRUM_CHANNEL else min(127, max(0, note + transpose))
        events.append((min(now, max_seconds), 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
        last_off = max(last_off, min(now, max_seconds))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    for channel, program in sorted(programs.items()):
        track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    tick = 0
    for t, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        at = int(round(t * TICKS_PER_SECOND))
        track.append(msg.copy(time=at - tick))
        tick = at
    track.append(mido.MetaMessage("end_of_track", time=0))
    out = mido.MidiFile(type=0, ticks_per_beat=480)
    out.tracks.append(track)
    return Arranged(out, last_off, notes, sorted(channels))
