"""The recorder writes a valid WAV as it goes, and what it wrote is what played."""
import numpy as np
import pyo
import soundfile as sf

from lmdmlive.audio.player import StreamPlayer
from lmdmlive.audio.recorder import Recorder

BS = 256


def test_a_stream_through_an_effect_into_the_recorder(manual_server, tmp_path):
    player = StreamPlayer()
    x = (0.3 * np.sin(np.arange(BS * 100) * 2 * np.pi * 330 / 48000)).astype(np.float32)
    player.ring.write(x)
    verb = pyo.Freeverb(player, size=0.5, bal=0.3)
    rec = Recorder(verb, tmp_path / "set.wav")
    dry = Recorder(player, tmp_path / "dry.wav")
    for i in range(100):
        manual_server.process()
        if i % 10 == 9:
            rec.flush()
            dry.flush()
    # Before stop, the file on disk is already a valid WAV with everything flushed so far.
    assert sf.info(str(tmp_path / "set.wav")).frames == rec.frames >= BS * 90
    rec.stop()
    dry.stop()
    wet_audio, rate = sf.read(tmp_path / "set.wav", dtype="float32")
    dry_audio, _ = sf.read(tmp_path / "dry.wav", dtype="float32")
    assert rate == 48000 and len(dry_audio) == BS * 100
    assert np.abs(dry_audio - x).max() < 1e-6                       # 32-bit float: nothing rounded
    assert np.abs(wet_audio - dry_audio).max() > 0.01                # the reverb is in the recording
