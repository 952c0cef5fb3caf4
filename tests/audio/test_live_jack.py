"""A live set as it is played on JACK (`jackd -d dummy`): the instrument plugged into
lmdmlive:input_1 and a listener on lmdmlive:output_1/2, both a second process."""
import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from tests.audio.jack_child import Child

SR, FRAME = 48000, 2400          # 50 ms frames: 20 Hz bins, every test tone on a bin


def tone(frames: np.ndarray, hz: float) -> np.ndarray:
    """Amplitude of `hz` in each frame (rows of FRAME samples)."""
    spec = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1)) / (np.hanning(FRAME).sum() / 2)
    return spec[:, int(round(hz * FRAME / SR))]


def blocks_found(mine: np.ndarray, theirs: np.ndarray, block: int = 480, reach: int = 2048) -> float:
    """Share of `mine`'s blocks that `theirs` holds sample for sample within `reach` samples of
    the same place. A missed period in either JACK client shifts all that follows it, so a
    block is looked for at every lag rather than only where the first sample put it."""
    n = len(mine) // block * block
    mine = mine[:n]
    padded = np.pad(theirs, ((reach, reach), (0, 0)))
    best = np.full(n // block, np.inf, dtype=np.float32)
    for lag in range(2 * reach + 1):
        seg = padded[lag:lag + n]
        if len(seg) < n:
            break
        best = np.minimum(best, np.abs(mine - seg).reshape(-1, block, mine.shape[1]).max(axis=(1, 2)))
    return float(np.mean(best < 1e-5))


def test_the_input_is_heard_loud_sources_stay_under_full_scale_and_the_recording_is_what_was_heard(
        jack_server, tmp_path):
    live = Child(["tests.audio.jack_live", str(tmp_path / "set.wav")], jack_server)
    peer = None
    try:
        ready = json.loads(live.wait_for("{", timeout=120))
        assert ready["inputs"] >= 1
        ports = subprocess.run(["jack_lsp"], env=jack_server, capture_output=True, text=True).stdout.split()
        assert "lmdmlive:input_1" in ports and "lmdmlive:output_2" in ports
        peer = Child(["lmdmlive.audio.jack_peer", "--play-to", "lmdmlive:input_1", "--freq", "1000", "--amp", "0.3",
                      "--record-from", "lmdmlive:output_1,lmdmlive:output_2", "--seconds", "6",
                      "--out", str(tmp_path / "heard.wav")], jack_server)
        peer.wait_for("recording")
        live.send("go")
        played = json.loads(live.wait_for("{"))
        json.loads(peer.wait_for("{"))
        live.send("quit")
        live.proc.wait(timeout=30)
    finally:
        live.close()
        if peer is not None:
            peer.close()
    heard, rate = sf.read(tmp_path / "heard.wav", dtype="float32")
    assert rate == SR and heard.shape[1] == 2
    assert np.abs(heard).max() <= 1.0, "the limiter and clip hold full scale"
    assert played["min_reduction_db"] < -3, played

    n = len(heard) // FRAME
    left, right = (heard[:n * FRAME, c].reshape(n, FRAME) for c in (0, 1))
    input_only = (tone(left, 1000) > 0.25) & (tone(left, 220) < 1e-3)
    loud = tone(left, 220) > 0.05
    assert input_only.sum() >= 15 and loud.sum() >= 15, (input_only.sum(), loud.sum())
    # the live input, routed with .out(), is the played sine at unity gain, on the left only
    mid = np.flatnonzero(input_only)[2:-2]
    assert np.sqrt(np.mean(left[mid] ** 2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.03)
    assert np.abs(right[mid]).max() < 1e-4
    # four loud sources: loud and limited; the unnamed reverb sounds on the right
    body = np.flatnonzero(loud)[4:]
    assert np.sqrt(np.mean(left[body] ** 2)) > 0.25
    assert np.median(tone(right[body], 3000)) > 0.02 > 20 * np.median(tone(left[body], 3000))

    # the recorder: stereo float, from when it was called, and sample for sample what the listener heard
    info = sf.info(str(tmp_path / "set.wav"))
    assert info.channels == 2 and info.subtype == "FLOAT" and info.frames == played["frames"]
    rec, _ = sf.read(tmp_path / "set.wav", dtype="float32")
    a, b = (int(np.argmax(np.abs(x[:, 0]) > 0.01)) for x in (rec, heard))
    assert a > SR // 2, "the recording starts when record() is called, before the input plays"
    # the input alone: the same samples (JACK carries float32 as it is), found near their place (an xrun shifts them)
    found = blocks_found(rec[a:a + SR], heard[b:b + SR + 2048])
    assert found > 0.8, f"{found:.3f} of 10 ms blocks found in what was heard"
    # all of it: the same level in each channel, frame by frame (an xrun under load shifts samples)
    span = min(len(rec) - a, len(heard) - b) // FRAME * FRAME
    assert span > 2.5 * SR

    def levels(x):
        return np.sqrt(np.mean(x[:span].reshape(-1, FRAME, 2) ** 2, axis=1))
    mine, theirs = levels(rec[a:]), levels(heard[b:])
    sounding = theirs > 1e-3
    assert np.all(mine[~sounding] < 1e-3), "silent where the listener heard silence"
    assert np.mean(np.abs(mine[sounding] / theirs[sounding] - 1) < 0.1) > 0.8, mine / np.maximum(theirs, 1e-6)
