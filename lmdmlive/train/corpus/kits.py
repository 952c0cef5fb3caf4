"""Recorded drum kits for the generated grooves, mixed in numpy in place of the GM kit.

Kits come from Hydrogen's drumkits (`hydrogen-data` ships GMRockKit and
TR808EmulationKit, `hydrogen-drumkits` dozens more; each `drumkit.xml` names its
instruments, their velocity layers and often their GM note) and from sonic-pi's CC0
one-shots (`sonic-pi-samples`), grouped into kits here. A groove's drum notes are
played from the kit's samples, velocity choosing the layer, and sonic-pi's drum
loops can be laid under them, stretched to the groove's tempo as measured by the
tempo judge. So the same groove no longer always sounds like FluidR3's one kit.
"""
from __future__ import annotations

import functools
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np
import soundfile as sf
import soxr

from . import debian

KIT_PACKAGES = ("hydrogen-data", "hydrogen-drumkits", "sonic-pi-samples")
SONIC_PI = "sonic-pi-samples"
SAMPLE_MAX_SECONDS = 4.0          # a one-shot is cut here (cymbals ring for long): bounded memory per hit

# GM drum notes the grooves play, the words that find them in a kit, and what stands in when a kit lacks one.
ROLES = {
    36: ("kick", ("kick", "bass drum", "bd")),
    37: ("rim", ("stick", "rim", "side")),
    38: ("snare", ("snare",)),
    39: ("clap", ("clap", "snap")),
    42: ("closed hat", ("closed", "hat c", "hh c", "hihat", "hi-hat", "hat")),
    44: ("pedal hat", ("pedal",)),
    45: ("low tom", ("tom low", "low tom", "floor", "tom 3", "tom")),
    46: ("open hat", ("open",)),
    51: ("ride", ("ride", "cymbal")),
    70: ("shaker", ("shaker", "maraca", "cabasa", "tamb")),
}
FALLBACK = {37: 38, 39: 38, 44: 42, 46: 42, 51: 46, 70: 42, 45: 38}

# sonic-pi one-shots grouped into kits: GM note -> candidate sample names (one drawn per groove).
SONIC_PI_KITS = {
    "sonic pi acoustic": {36: ("drum_bass_hard", "drum_heavy_kick"), 38: ("drum_snare_hard",),
                          37: ("drum_snare_soft",), 42: ("drum_cymbal_closed",), 44: ("drum_cymbal_pedal",),
                          46: ("drum_cymbal_open",), 51: ("drum_cymbal_soft", "drum_splash_soft"),
                          45: ("drum_tom_lo_hard", "drum_tom_mid_hard"), 39: ("perc_snap", "perc_snap2")},
    "sonic pi electronic": {36: ("bd_808", "bd_haus", "bd_tek", "bd_klub", "bd_fat", "bd_zum", "bd_ada"),
                            38: ("sn_dolf", "sn_dub", "sn_generic", "elec_snare", "elec_hi_snare"),
                            37: ("elec_wood", "elec_tick"), 39: ("perc_snap", "elec_filt_snare"),
                            42: ("drum_cymbal_closed", "elec_tick"), 46: ("drum_cymbal_open", "elec_cymbal"),
                            51: ("elec_cymbal", "drum_cymbal_soft"), 45: ("elec_fuzz_tom", "drum_tom_lo_soft"),
                            70: ("elec_tick", "elec_triangle")},
}
LOOPS = ("loop_amen", "loop_amen_full", "loop_breakbeat", "loop_compus", "loop_garzul", "loop_mika",
         "loop_safari", "loop_tabla", "loop_perc1", "loop_perc2", "loop_electric")
LOOP_STYLES = {"hip hop": 0.5, "drum and bass": 0.6, "funk": 0.4, "reggae": 0.3, "ambient": 0.3}


@dataclass(frozen=True)
class Layer:
    path: str
    low: float                     # velocity range 0..1 this layer answers
    high: float


@dataclass(frozen=True)
class Kit:
    name: str
    package: str
    author: str
    licence: str
    instruments: dict = field(hash=False)     # GM note -> tuple of Layers

    def layers_for(self, note: int) -> tuple:
        for _ in range(3):
            if note in self.instruments:
                return self.instruments[note]
            note = FALLBACK.get(note, 38)
        return ()


def _strip(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(el, name: str, default: str = "") -> str:
    for c in el:
        if _strip(c.tag) == name:
            return (c.text or "").strip()
    return default


def read_hydrogen_kit(xml_path: str, package: str) -> Kit | None:
    """A Kit from a Hydrogen drumkit.xml (old and new layouts), or None when it lacks a kick or a snare."""
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError):
        return None
    folder = Path(xml_path).parent
    named: list[tuple[str, int, tuple]] = []
    for inst in root.iter():
        if _strip(inst.tag) != "instrument":
            continue
        layers = []
        for el in inst.iter():
            if _strip(el.tag) == "layer":
                fname = _child_text(el, "filename")
                if fname and (folder / fname).exists():
                    layers.append(Layer(str(folder / fname), float(_child_text(el, "min", "0") or 0),
                                        float(_child_text(el, "max", "1") or 1)))
        direct = _child_text(inst, "filename")
        if not layers and direct and (folder / direct).exists():
            layers.append(Layer(str(folder / direct), 0.0, 1.0))
        if layers:
            note = _child_text(inst, "midiOutNote", "-1")
            named.append((_child_text(inst, "name").lower(), int(note) if note.lstrip("-").isdigit() else -1,
                          tuple(layers)))
    instruments = {}
    for note, (_, words) in ROLES.items():
        exact = [layers for name, n, layers in named if n == note]
        if exact:
            instruments[note] = exact[0]
            continue
        for word in words:
            hit = [layers for name, _, layers in named if word in name and not
                   (note == 42 and "open" in name) and not (note == 45 and "hi" in name.split())]
            if hit:
                instruments[note] = hit[0]
                break
    if 36 not in instruments or 38 not in instruments:
        return None
    found = debian.licence_by_name(package, folder.name)
    licence = (found.licence if found else "") or " ".join(_child_text(root, "license").split())[:200]
    author = (found.attribution if found else "") or _child_text(root, "author")
    return Kit(_child_text(root, "name") or folder.name, package, author, licence or "see copyright file",
               instruments)


def _sonic_pi_path(name: str) -> Path:
    return Path("/usr/share/sonic-pi/samples") / f"{name}.flac"


@functools.lru_cache(maxsize=None)
def available_kits() -> tuple[Kit, ...]:
    """Every kit of the installed packages, in a fixed order (Hydrogen's by path, then sonic-pi's)."""
    kits = []
    for package in ("hydrogen-data", "hydrogen-drumkits"):
        for path in sorted(p for p in debian.files_of(package) if p.endswith("/drumkit.xml")):
            kit = read_hydrogen_kit(path, package)
            if kit is not None:
                kits.append(kit)
    if debian.installed(SONIC_PI):
        for name, roles in SONIC_PI_KITS.items():
            found = {n: tuple(Layer(str(_sonic_pi_path(s)), 0.0, 1.0) for s in names if _sonic_pi_path(s).exists())
                     for n, names in roles.items()}
            found = {n: v for n, v in found.items() if v}
            if 36 in found and 38 in found:
                kits.append(Kit(name, SONIC_PI, "Sonic Pi sample contributors (freesound.org)", "CC0", found))
    return tuple(kits)


@functools.lru_cache(maxsize=512)
def load_sample(path: str, rate: int) -> np.ndarray:
    """Mono float32 at `rate`, at most SAMPLE_MAX_SECONDS, peak-normalised (levels come from the kit's velocity)."""
    with sf.SoundFile(path) as snd:
        audio = snd.read(int(SAMPLE_MAX_SECONDS * snd.samplerate), dtype="float32", always_2d=True).mean(axis=1)
        if snd.samplerate != rate:
            audio = soxr.resample(audio, snd.samplerate, rate).astype(np.float32)
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    audio = audio / peak if peak > 1e-6 else audio
    fade = min(len(audio), int(0.01 * rate))         # the cut end of a long sample must not click
    if fade:
        audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return audio


def drum_hits(midi: mido.MidiFile, channel: int = 9) -> list[tuple[float, int, int]]:
    """(seconds, note, velocity) of the drum channel's note-ons."""
    now, hits = 0.0, []
    for msg in midi:
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0 and msg.channel == channel:
            hits.append((now, msg.note, msg.velocity))
    return hits


def without_channel(midi: mido.MidiFile, channel: int = 9) -> mido.MidiFile:
    """A copy with every message of `channel` removed (their time kept), so FluidSynth plays no GM drums."""
    out = mido.MidiFile(type=midi.type, ticks_per_beat=midi.ticks_per_beat)
    for track in midi.tracks:
        new, carry = mido.MidiTrack(), 0
        for msg in track:
            if not msg.is_meta and getattr(msg, "channel", None) == channel:
                carry += msg.time
                continue
            new.append(msg.copy(time=msg.time + carry))
            carry = 0
        out.tracks.append(new)
    return out


def render_drums(hits, kit: Kit, n_samples: int, rate: int, rng: random.Random) -> np.ndarray:
    """The hits played from the kit's samples into `n_samples` of mono audio."""
    out = np.zeros(n_samples, dtype=np.float32)
    for t, note, velocity in hits:
        layers = kit.layers_for(note)
        if not layers:
            continue
        v = velocity / 127.0
        fitting = [l for l in layers if l.low <= v <= l.high] or list(layers)
        sample = load_sample(rng.choice(fitting).path, rate)
        start = int(round((t + rng.gauss(0.0, 0.004)) * rate))      # a few ms of human timing
        start = max(0, start)
        if start >= n_samples:
            continue
        n = min(len(sample), n_samples - start)
        out[start:start + n] += sample[:n] * (v ** 1.5)
    return out


def loop_layer(tempo: float, n_samples: int, rate: int, rng: random.Random) -> tuple[np.ndarray, str]:
    """A sonic-pi drum loop resampled to `tempo` (its own tempo measured) and tiled to `n_samples`."""
    from ..signal_judges import tempo_bpm

    names = [n for n in LOOPS if _sonic_pi_path(n).exists()]
    if not names:
        return np.zeros(n_samples, dtype=np.float32), ""
    name = rng.choice(names)
    audio = load_sample_full(str(_sonic_pi_path(name)), rate)
    own = tempo_bpm(audio, rate) or tempo
    while own < tempo / 1.41:                       # fold the loop's tempo to the groove's octave
        own *= 2
    while own > tempo * 1.41:
        own /= 2
    stretched = soxr.resample(audio, rate, int(round(rate * own / tempo))).astype(np.float32)
    reps = int(np.ceil(n_samples / max(1, len(stretched))))
    return np.tile(stretched, reps)[:n_samples], name


@functools.lru_cache(maxsize=32)
def load_sample_full(path: str, rate: int) -> np.ndarray:
    with sf.SoundFile(path) as snd:
        audio = snd.read(int(30 * snd.samplerate), dtype="float32", always_2d=True).mean(axis=1)
        if snd.samplerate != rate:
            audio = soxr.resample(audio, snd.samplerate, rate).astype(np.float32)
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    return audio / peak if peak > 1e-6 else audio


def kit_name_slug(kit: Kit) -> str:
    return re.sub(r"[^a-z0-9]+", "-", kit.name.lower()).strip("-")
