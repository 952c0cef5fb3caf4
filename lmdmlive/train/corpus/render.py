"""FluidSynth rendering, bounded in time and size.

FluidSynth's fast render of some MIDI exports never stops with some soundfonts
(DESIGN.md: 444 MB in 20 s). Every render here is given the length the MIDI says it
has plus a release tail, and both a wall-clock limit and a file-size limit, so one
bad file costs a few seconds and a bounded amount of disk, never the corpus.
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)
TAIL_SECONDS = 1.5


class RenderError(RuntimeError):
    pass


def find_soundfont() -> Path:
    for p in SOUNDFONT_CANDIDATES:
        if Path(p).exists():
            return Path(p)
    raise RenderError("no General MIDI soundfont found; install the Debian package fluid-soundfont-gm "
                      f"(looked for {', '.join(SOUNDFONT_CANDIDATES)})")


def find_fluidsynth() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise RenderError("fluidsynth is not installed; install the Debian package fluidsynth")
    return exe


@dataclass(frozen=True)
class Mix:
    gain: float = 0.5
    reverb: float = 0.3          # room size 0..1, 0 = off
    chorus: bool = False


def render_midi(midi: mido.MidiFile, seconds: float, sample_rate: int, mix: Mix = Mix(),
                soundfont: Path | None = None) -> np.ndarray:
    """Mono float32 audio of exactly round((seconds + tail) * sample_rate) samples."""
    soundfont = soundfont or find_soundfont()
    n_out = int(round((seconds + TAIL_SECONDS) * sample_rate))
    # Stereo s16 output, doubled, plus room for the soundfont: FluidSynth is killed by the size
    # limit below the soundfont's own size (148 MB for FluidR3_GM), whatever it writes.
    byte_cap = (n_out + sample_rate) * 4 * 2 + 2 * soundfont.stat().st_size
    with tempfile.TemporaryDirectory(prefix="lmdm-render-") as tmp:
        mid_path, raw_path = os.path.join(tmp, "in.mid"), os.path.join(tmp, "out.raw")
        midi.save(mid_path)
        cmd = [find_fluidsynth(), "-ni", "-q", "-g", f"{mix.gain:.3f}", "-r", str(sample_rate),
               "-R", "1" if mix.reverb > 0 else "0", "-C", "1" if mix.chorus else "0",
               "-o", f"synth.reverb.room-size={mix.reverb:.3f}", "-o", "synth.reverb.level=0.7",
               "-F", raw_path, "-T", "raw", "-O", "s16", str(soundfont), mid_path]

        def limit_size():
            resource.setrlimit(resource.RLIMIT_FSIZE, (byte_cap, byte_cap))

        try:
            # An .sf3 soundfont's Ogg-compressed samples are all decoded when it loads (about 10 s for
            # MuseScore_General_Lite): that time is given on top of the render's own.
            load = 90 if soundfont.suffix.lower() == ".sf3" else 0
            subprocess.run(cmd, capture_output=True, timeout=30 + load + seconds / 4, preexec_fn=limit_size,
                           check=False)
        except subprocess.TimeoutExpired:
            pass                                            # what it wrote so far is kept and cut below
        if not os.path.exists(raw_path):
            raise RenderError(f"fluidsynth wrote nothing for a {seconds:.1f} s MIDI file")
        with open(raw_path, "rb") as f:
            raw = np.frombuffer(f.read(n_out * 4), dtype="<i2")
    stereo = raw[: len(raw) // 2 * 2].reshape(-1, 2).astype(np.float32) / 32768.0
    mono = stereo.mean(axis=1)
    out = np.zeros(n_out, dtype=np.float32)
    out[: min(n_out, len(mono))] = mono[:n_out]
    return out
