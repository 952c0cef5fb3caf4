"""Every shipped patch is heard through its effects, played the way a performer plays them:
`lmdmlive PATCH.py --audio jack` on `jackd -d dummy`, the file edited in place (each patch
saved over the last, reloaded at the next bar), and a listener in a second process
recording lmdmlive's output ports while it plays a melody into lmdmlive:input_1."""
import json
import shutil
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.audio.jack_child import ROOT, Child
from tests.audio.test_set_on_jack import bursts

SR = 48000
PATCHES = sorted((Path(ROOT) / "patches").glob("*.py"))
SETTLE, HEARD = 3.0, 1.5         # the reload at the next bar (1.3 s at 180 BPM) and the first block; then listen


def test_each_shipped_patch_is_heard_through_its_effects_on_jack(jack_logged, tmp_path):
    env, _ = jack_logged
    assert len(PATCHES) >= 6
    bursts(tmp_path / "melody.wav", 6.0, seed=5)
    current = tmp_path / "set.py"
    shutil.copy(PATCHES[0], current)
    live = Child(["lmdmlive", str(current), "--audio", "jack", "--bpm", "180"], dict(env, LMDMLIVE_ADAPTERS=str(tmp_path)))
    peer = None
    try:
        wait_err(live, "playing", 120)
        seconds = 30.0 + len(PATCHES) * (SETTLE + HEARD + 1.0)
        peer = Child(["lmdmlive.audio.jack_peer", "--record-from", "lmdmlive:output_1,lmdmlive:output_2",
                      "--play-to", "lmdmlive:input_1", "--play-file", str(tmp_path / "melody.wav"), "--loop",
                      "--amp", "1.0", "--seconds", str(seconds), "--out", str(tmp_path / "heard.wav")], env)
        peer.wait_for("recording", timeout=60)
        t0 = time.perf_counter()
        wait_sound(live, 150)                     # the engine process loads the model and the text encoder
        windows = {}
        for i, patch in enumerate(PATCHES):
            if i:
                loads = count_err(live, "loaded")
                current.write_text(patch.read_text())
                wait_err(live, "loaded", 30, after=loads)
            start = time.perf_counter() - t0 + SETTLE
            time.sleep(SETTLE + HEARD)
            windows[patch.name] = (start, start + HEARD)
        peer.send("stop")                         # heard what it needed: the rest of the margin is not waited out
        json.loads(peer.wait_for("{", timeout=seconds + 60))
    finally:
        live.close()
        if peer is not None:
            peer.close()
    heard, _ = sf.read(str(tmp_path / "heard.wav"), dtype="float32", always_2d=True)
    levels = {name: float(np.sqrt(np.mean(heard[int(a * SR):int(b * SR)] ** 2))) for name, (a, b) in windows.items()}
    print("rms per patch:", {k: round(v, 4) for k, v in levels.items()}, "peak", float(np.abs(heard).max()))
    failures = [line for line in live.err if "Error" in line or "keeping the last good version" in line]
    assert not failures, failures
    assert all(v > 3e-3 for v in levels.values()), levels
    assert np.abs(heard).max() <= 1.0


def count_err(child, text) -> int:
    return sum(text in line for line in list(child.err))


def wait_err(child, text, timeout, after=0) -> None:
    end = time.perf_counter() + timeout
    while count_err(child, text) <= after:
        if child.proc.poll() is not None or time.perf_counter() > end:
            raise AssertionError(f"no {text!r} from lmdmlive within {timeout} s: " + "\n".join(child.err[-20:]))
        time.sleep(0.1)


def wait_sound(child, timeout) -> None:
    """Until the engine process says it is ready (its metrics begin), then a block more."""
    wait_err(child, "engine ready", timeout)
    time.sleep(2.0)
