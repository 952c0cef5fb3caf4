"""The master bus, one buffer at a time on the manual server (one channel here; stereo is
checked on JACK in test_live_jack.py)."""
import gc
import math
import os
import subprocess
import sys

import numpy as np
import pyo
import pytest
import soundfile as sf

from lmdmlive.audio.master import MasterBus, installed
from lmdmlive.audio.recorder import Recorder
from lmdmlive.audio.server import open_input

BS, SR = 256, 48000
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def master(manual_server):
    bus = MasterBus().install()
    yield bus
    bus.uninstall()


def play(server, seconds):
    for _ in range(int(seconds * SR / BS)):
        server.process()


def listen(server, bus, seconds):
    """What the bus plays over the next `seconds`."""
    table = pyo.NewTable(length=seconds)
    rec = pyo.TableRec(bus.output, table, fadetime=0).play()
    play(server, seconds)
    rec.stop()
    return np.asarray(table.getBuffer()).copy()


def ids(objects):
    return [id(o) for o in objects]          # pyo's == makes a Compare object, always true


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def test_out_goes_through_the_bus_and_a_quiet_source_comes_out_unchanged(manual_server, master):
    src = pyo.Sine(440, mul=0.3)
    direct = pyo.NewTable(length=1.0)
    tap = pyo.TableRec(src, direct, fadetime=0).play()
    assert src.out() is src and installed() is master and ids(master.playing()) == ids([src])
    heard = listen(manual_server, master, 1.0)
    tap.stop()
    n = int(1.0 * SR / BS) * BS
    dry, heard = np.asarray(direct.getBuffer()).copy()[:n], heard[:n]      # a copy: a view must not outlive the table
    # late by the limiter's look-ahead, and a buffer more: pyo runs objects in the order they
    # were made, and the bus was made before the source
    errors = {lag: np.abs(heard[SR // 10:] - dry[SR // 10 - lag:n - lag]).max() for lag in range(2 * BS + 300)}
    lag = min(errors, key=errors.get)
    assert errors[lag] < 1e-4 and lag <= int(0.005 * SR) + BS
    assert master.reduction == 0.0


def test_four_loud_sources_stay_under_full_scale(manual_server, master):
    sources = [pyo.Sine(f, mul=0.9).out() for f in (220, 330, 550, 770)]
    heard = listen(manual_server, master, 1.5)
    assert np.abs(heard).max() <= 1.0
    assert rms(heard[SR // 2:]) > 0.3, "limited, not silenced"
    assert master.reduction < -3.0
    for s in sources:
        s.stop()


def test_an_effect_without_a_name_keeps_playing(manual_server, master):
    pyo.Freeverb(pyo.Sine(3000, mul=0.3), size=0.8, bal=1.0).out()
    gc.collect()
    heard = listen(manual_server, master, 1.0)
    assert rms(heard[SR // 2:]) > 0.02
    assert [type(o).__name__ for o in master.playing()] == ["Freeverb"]


def test_stop_silences_and_out_again_does_not_double(manual_server, master):
    src = pyo.Sine(440, mul=0.3).out()
    before = rms(listen(manual_server, master, 0.5)[SR // 10:])
    src.stop()
    assert np.abs(listen(manual_server, master, 0.2)[BS * 2:]).max() == 0.0
    src.out()
    src.out()
    again = rms(listen(manual_server, master, 0.5)[SR // 10:])
    assert again == pytest.approx(before, rel=0.01)


def test_gain_is_in_db_and_bad_values_are_refused(manual_server, master):
    pyo.Sine(440, mul=0.2).out()
    unity = rms(listen(manual_server, master, 0.3)[SR // 10:])
    master.gain = -12
    low = rms(listen(manual_server, master, 0.3)[SR // 10:])
    assert low / unity == pytest.approx(10 ** (-12 / 20), rel=0.01)
    master.gain = -math.inf
    assert rms(listen(manual_server, master, 0.3)[SR // 10:]) == 0.0
    for bad in ("loud", float("nan"), 40):
        with pytest.raises(ValueError, match="master gain"):
            master.gain = bad
    assert master.gain == -math.inf


def test_a_patch_run_again_replaces_what_the_last_run_sent(manual_server, master):
    src = pyo.Sine(500, mul=0.2)
    repl = pyo.Sine(900, mul=0.01).out()              # sent from the REPL: no run takes it off
    levels = []
    for _ in range(3):
        master.begin_run()
        verb = pyo.Freeverb(src, size=0.5, bal=1.0).out()
        src.out()
        assert master.end_run() <= 2
        del verb
        levels.append(rms(listen(manual_server, master, 0.5)[SR // 4:]))
    master.collect()
    assert sorted(type(o).__name__ for o in master.playing()) == ["Freeverb", "Sine", "Sine"]
    assert {id(repl), id(src)} <= set(ids(master.playing()))
    assert levels[2] == pytest.approx(levels[0], rel=0.1), "no pile of reverbs"


def test_a_failed_run_takes_off_only_what_it_added(manual_server, master):
    a, b, c = pyo.Sine(300, mul=0.1), pyo.Sine(400, mul=0.1), pyo.Sine(500, mul=0.1)
    master.begin_run()
    a.out()
    b.out()
    master.end_run()
    master.begin_run()
    a.out()
    c.out()
    assert master.abort_run() == 1
    play(manual_server, 0.1)
    master.collect()
    assert ids(master.playing()) == ids([a, b])
    master.begin_run()                                # the next good run no longer sends b
    a.out()
    master.end_run()
    play(manual_server, 0.1)
    master.collect()
    assert ids(master.playing()) == ids([a])


def test_the_recorder_hears_the_bus_from_when_it_starts_and_later_sources_too(manual_server, master, tmp_path):
    rec = Recorder(master.output, tmp_path / "set.wav")
    play(manual_server, 0.2)
    src = pyo.Sine(440, mul=0.3).out()
    play(manual_server, 0.5)
    rec.flush()
    info = sf.info(str(tmp_path / "set.wav"))
    assert info.subtype == "FLOAT" and info.frames == rec.frames == (int(0.2 * SR / BS) + int(0.5 * SR / BS)) * BS
    rec.stop()
    audio, rate = sf.read(tmp_path / "set.wav", dtype="float32")
    assert rate == SR and np.abs(audio[:int(0.2 * SR / BS) * BS]).max() == 0.0
    assert rms(audio[-SR // 4:]) == pytest.approx(0.3 / math.sqrt(2), rel=0.02)
    src.stop()


def test_the_manual_server_has_a_silent_input(manual_server):
    assert isinstance(open_input(manual_server), pyo.Input)


CHILD = """
import json, os, sys
import numpy as np, pyo
from lmdmlive.audio.server import boot_server, NoAudioInputError
from lmdmlive.audio.master import MasterBus
from lmdmlive.audio.recorder import Recorder
s = boot_server("offline", nchnls=2, sr=48000, buffersize=256)
try:
    from lmdmlive.audio.server import open_input
    open_input(s)
    print("no error")
except NoAudioInputError as e:
    print("ERROR", e)
bus = MasterBus().install()
pyo.Sine(440, mul=0.3).out(1)
rec = Recorder(bus.output, sys.argv[1])
s.recordOptions(dur=0.5, filename=sys.argv[2])
s.start()                                        # offline: renders 0.5 s at once
rec.flush()
print("FRAMES", rec.frames)
sys.stdout.flush()
os._exit(1)                                      # dies without stopping the recorder
"""


def test_offline_has_no_input_and_a_recording_survives_a_crash(tmp_path):
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "crash.wav"), str(tmp_path / "server.wav")],
                         capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    lines = out.stdout.splitlines()
    error = next(line for line in lines if line.startswith(("ERROR", "no error")))
    assert error.startswith("ERROR") and "no input" in error and "offline" in error and "JACK" in error
    frames = int(next(line for line in lines if line.startswith("FRAMES")).split()[1])
    audio, rate = sf.read(tmp_path / "crash.wav", dtype="float32")
    assert frames > 0 and audio.shape == (frames, 2) and rate == 48000
    assert np.abs(audio[:, 0]).max() == 0.0 and rms(audio[-4800:, 1]) == pytest.approx(0.3 / math.sqrt(2), rel=0.05)
