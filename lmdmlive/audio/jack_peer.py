"""A JACK client of its own (a second process): plays a sine into one port and records others.

    python -m lmdmlive.audio.jack_peer --play-to lmdmlive:input_1 --freq 1000 --amp 0.3 \\
        --record-from lmdmlive:output_1,lmdmlive:output_2 --seconds 6 --out heard.wav

It boots pyo on JACK under its own client name (no automatic connections), connects
with `jack_connect`, prints "recording" when it listens, records `--seconds` into a
float WAV (one channel per recorded port) and prints one JSON line. A line "stop" on its
standard input ends the recording early, keeping what was heard until then, so a test
that cannot know beforehand how long it will listen need not wait out its margin. The
tests use it as the far end of a live set: the instrument plugged in, and the listener.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pyo
import soundfile as sf


def run_peer(play_to: str | None, record_from: list[str], seconds: float, out: str, freq: float = 1000.0,
             amp: float = 0.3, name: str | None = None, sr: int = 48000, buffersize: int = 256,
             play_file: str | None = None, loop: bool = False) -> dict:
    name = name or f"peer{os.getpid()}"
    server = pyo.Server(sr=sr, nchnls=1, ichnls=max(1, len(record_from)), buffersize=buffersize, duplex=1,
                        audio="jack", jackname=name)
    server.setJackAuto(False, False)
    server.setVerbosity(1)
    server.boot()
    if not server.getIsBooted():
        raise RuntimeError("the peer's pyo server did not boot on JACK")
    server.start()
    if not play_to:
        sine = None
    elif play_file:                                  # a recording, from its start when the peer listens
        sine = pyo.SfPlayer(play_file, loop=loop, mul=amp).stop()
    else:
        sine = pyo.Sine(freq, mul=amp).out()
    inputs = pyo.Input(chnl=list(range(len(record_from))))
    table = pyo.NewTable(length=seconds, chnls=len(record_from))
    pairs = ([(f"{name}:output_1", play_to)] if play_to else []) + \
        [(port, f"{name}:input_{i + 1}") for i, port in enumerate(record_from)]
    for a, b in pairs:
        done = subprocess.run(["jack_connect", a, b], capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            raise RuntimeError(f"jack_connect {a} {b}: {done.stderr.strip() or done.stdout.strip()}")
    rec = pyo.TableRec(inputs, table, fadetime=0).play()
    if play_file and sine is not None:
        sine.out()
    stop = threading.Event()
    threading.Thread(target=_stop_on_request, args=(stop,), daemon=True).start()
    print("recording", flush=True)
    t0 = time.perf_counter()
    stop.wait(seconds + 0.3)           # TableRec stops by itself at the table's end
    wall = time.perf_counter() - t0
    rec.stop()
    audio = np.stack([np.asarray(table.getBuffer(c)).copy() for c in range(len(record_from))], axis=1)
    audio = audio[:min(len(audio), int(wall * sr))]
    sf.write(out, audio, sr, subtype="FLOAT")
    del sine
    server.stop()
    return {"frames": len(audio), "wall": wall, "peak": float(np.abs(audio).max())}


def _stop_on_request(stop: threading.Event) -> None:
    for line in sys.stdin:             # an empty or closed input never stops the recording
        if line.strip() == "stop":
            stop.set()
            return


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--play-to", default=None, help="the JACK port the sine goes to")
    p.add_argument("--freq", type=float, default=1000.0)
    p.add_argument("--play-file", default=None, help="a sound file to play instead of the sine")
    p.add_argument("--loop", action="store_true", help="play --play-file over and over")
    p.add_argument("--amp", type=float, default=0.3)
    p.add_argument("--record-from", default="", help="JACK ports to record, comma-separated")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--out", required=True)
    p.add_argument("--name", default=None, help="the peer's JACK client name")
    a = p.parse_args(argv)
    ports = [x for x in a.record_from.split(",") if x]
    print(json.dumps(run_peer(a.play_to, ports, a.seconds, a.out, a.freq, a.amp, a.name,
                                play_file=a.play_file, loop=a.loop)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
