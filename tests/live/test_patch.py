"""A patch edited and saved is reloaded at the next bar; a broken save keeps the last good version."""
import os

import numpy as np
import pyo
import pytest

from lmdmlive.audio.jack import dummy_jack
from lmdmlive.audio.melody import practice_melody
from lmdmlive.live import prelude
from lmdmlive.live.patch import PatchRunner

BS = 256




def namespace(session):
    return prelude.namespace(session)


def save(path, text):
    path.write_text(text)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))    # a distinct mtime on fast file systems


def run(session, runner, buffers, rec_into=None):
    for _ in range(buffers):
        runner.tick()
        while session.engine.step():
            pass
        session.server.process()


def test_a_saved_edit_reloads_at_the_next_bar_without_a_gap(session, tmp_path):
    patch = tmp_path / "set.py"
    save(patch, 'a = stream(seed=1, name="a")\na.loud = "-20"\n')
    messages = []
    runner = PatchRunner(patch, session, namespace(session), write=messages.append)
    assert runner.load()
    a = runner.namespace["a"]
    table = pyo.NewTable(length=3.0)
    rec = pyo.TableRec(a.player, table, fadetime=0).play()
    run(session, runner, int(0.5 * 48000 / BS))
    save(patch, 'a = stream(seed=1, name="a")\na.loud = "-10 -30"\n')
    run(session, runner, 2)
    assert runner.pending_at == session.clock.sample_at(1), "the reload waits for the next bar"
    assert runner.loads == 1
    run(session, runner, int(2.4 * 48000 / BS))
    rec.stop()
    assert runner.loads == 2 and runner.namespace["a"] is a, "the same stream, updated"
    played = (int(0.5 * 48000 / BS) + 2 + int(2.4 * 48000 / BS)) * BS
    out = np.asarray(table.getBuffer()).copy()[:played]
    body = out[24000:]
    assert np.convolve(np.abs(body) < 1e-7, np.ones(480), "valid").max() < 480, "no gap at the reload"
    assert a.underruns == 0


def test_a_broken_save_keeps_the_last_good_version_playing(session, tmp_path):
    patch = tmp_path / "set.py"
    save(patch, 'a = stream(seed=2, name="a")\na.pitch = "c4 e4"\n')
    messages = []
    runner = PatchRunner(patch, session, namespace(session), write=messages.append)
    runner.load()
    a = runner.namespace["a"]
    good = a.pitch
    save(patch, 'a = stream(seed=2, name="a")\na.pitch = "c4 [e4"\n')
    assert not runner.load()
    assert "MiniNotationError" in messages[-1] and "line 2" in messages[-1] and "keeping the last good" in messages[-1]
    assert a.pitch is good and len(session.engine.streams) == 1
    save(patch, "a = stream(seed=2, name='a'\n")
    assert not runner.load() and "SyntaxError" in messages[-1]
    assert len(session.engine.streams) == 1


def test_a_stream_removed_from_the_patch_stops(session, tmp_path):
    patch = tmp_path / "set.py"
    save(patch, 'a = stream(seed=1, name="a")\nb = stream(seed=2, name="b")\n')
    runner = PatchRunner(patch, session, namespace(session), write=lambda m: None)
    runner.load()
    assert len(session.engine.streams) == 2
    save(patch, 'a = stream(seed=1, name="a")\n')
    runner.load()
    assert len(session.engine.streams) == 1


@pytest.mark.parametrize("path", sorted(p for p in os.listdir(os.path.join(os.path.dirname(__file__), "..", "..",
                                                                              "patches")) if p.endswith(".py")))
def test_each_shipped_patch_loads_and_renders_offline(session, path, monkeypatch):
    full = os.path.join(os.path.dirname(__file__), "..", "..", "patches", path)
    messages = []
    with dummy_jack(f"lmdm-patch-{os.getpid()}") as env:          # MIDI patches open JACK MIDI ports
        monkeypatch.setenv("JACK_DEFAULT_SERVER", env["JACK_DEFAULT_SERVER"])
        runner = PatchRunner(full, session, namespace(session), write=messages.append)
        # No sound card here: a played melody stands in for the live input.
        runner.namespace["live_input"] = practice_melody((262, 330, 392), rate=4, swell=0.5)
        assert runner.load(), messages
        streams = list(session.engine.streams)
        assert streams
        table = pyo.NewTable(length=4.0)
        rec = pyo.TableRec(pyo.Mix([s.player for s in streams], voices=1), table, fadetime=0).play()
        run(session, runner, int(4.0 * 48000 / BS))
        rec.stop()
        for _, m in session._midi:
            m.close()
    out = np.asarray(table.getBuffer()).copy()
    assert np.sqrt(np.mean(out[24000:] ** 2)) > 1e-6 and not np.isnan(out).any()
    assert all(s.player.underruns == 0 for s in streams)
    assert session.engine.errors == 0
