"""Bouncing a patch: its whole output through the master bus, stereo at 48 kHz, offline.

Each bounce runs in a process of its own: it boots pyo's manual server in stereo, and a
process has one pyo server (the tests' shared one is mono).
"""
import subprocess
import sys

import numpy as np
import soundfile as sf

BOUNCE_WITH_SMALL_MODEL = """
import sys
from lmdmlive.live.bounce import bounce
from tests.engine.test_engine import small_bundle
r = bounce(sys.argv[1], float(sys.argv[2]), sys.argv[3], seed=int(sys.argv[4]), bundle=small_bundle(), steps=1,
           guidance=1.0)
print(f"midi_skipped={r.midi_skipped} seconds={r.seconds}")
"""


def bounce_small(patch, seconds, out, seed=0):
    return subprocess.run([sys.executable, "-c", BOUNCE_WITH_SMALL_MODEL, str(patch), str(seconds), str(out), str(seed)],
                          capture_output=True, text=True, timeout=300)


def test_the_same_seed_gives_the_same_stereo_bounce_through_the_effects(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    for path in (a, b):
        out = bounce_small("patches/03_prompt_morph.py", 2, path, seed=3)
        assert out.returncode == 0, out.stderr
        assert "03_prompt_morph.py: loaded" in out.stderr
    x, rate = sf.read(a, dtype="float32", always_2d=True)
    y, _ = sf.read(b, dtype="float32", always_2d=True)
    assert rate == 48000 and x.shape == (96000, 2)
    assert sf.info(str(a)).subtype == "FLOAT"
    np.testing.assert_array_equal(x, y)
    assert np.sqrt(np.mean(x[48000:] ** 2)) > 1e-3                 # sound, once the stream has started
    assert np.abs(x).max() <= 1.0                                  # the master bus's limiter and clip


def test_a_patch_with_midi_bounces_with_its_port_left_closed(tmp_path):
    out = bounce_small("patches/06_midi_setup.py", 1, tmp_path / "m.wav")
    assert out.returncode == 0, out.stderr
    assert "midi_skipped=1" in out.stdout
    assert "is not opened offline" in out.stderr
    x, rate = sf.read(tmp_path / "m.wav", always_2d=True)
    assert rate == 48000 and x.shape == (48000, 2) and np.abs(x).max() > 0


def test_render_bounces_a_shipped_patch_from_the_command_line(tmp_path):
    path = tmp_path / "set.wav"
    out = subprocess.run([sys.executable, "-m", "lmdmlive", "render", "patches/01_first_sound.py", "--seconds", "4",
                          "--out", str(path), "--seed", "1"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "s of compute" in out.stdout and "stereo" in out.stdout
    x, rate = sf.read(path, always_2d=True)
    assert rate == 48000 and x.shape == (4 * 48000, 2)
    assert np.sqrt(np.mean(x[48000:] ** 2)) > 1e-3


def test_a_patch_that_fails_writes_nothing_and_says_so_in_a_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("a = stream('x', name='a').out()\nundefined_name\n")
    out = bounce_small(bad, 1, tmp_path / "bad.wav")
    assert out.returncode != 0
    assert "NameError" in out.stderr and "(line 2)" in out.stderr
    assert not (tmp_path / "bad.wav").exists()
