"""Stream players: sample-exact pyo objects that fade, never click, when the engine is late."""
import numpy as np
import pyo
import pytest

from lmdmlive.audio.player import StreamPlayer
from lmdmlive.audio.ring import AudioRing

BS = 256


def record(server, obj, buffers):
    table = pyo.NewTable(length=buffers * BS / 48000.0)
    rec = pyo.TableRec(obj, table, fadetime=0).play()
    for _ in range(buffers):
        server.process()
    rec.stop()
    return np.asarray(table.getBuffer()).copy()


def test_the_player_plays_exactly_what_was_written(manual_server):
    player = StreamPlayer()
    x = (0.5 * np.sin(np.arange(BS * 10) / 17.0)).astype(np.float32)
    player.ring.write(x)
    out = record(manual_server, player, 10)
    assert np.array_equal(out, x)
    assert player.underruns == 0


def test_a_late_engine_gives_one_counted_underrun_a_fade_and_a_clean_return(manual_server):
    player = StreamPlayer(fade_ms=5)
    x = np.full(BS * 4, 0.5, dtype=np.float32)
    player.ring.write(x)
    out = record(manual_server, player, 8)             # four buffers of audio, then four of nothing
    assert player.underruns == 1
    assert np.abs(np.diff(out)).max() < 0.5 / 200      # a 5 ms ramp, not a step
    assert out[-BS:].max() == 0.0
    player.ring.write(np.full(BS * 8, 0.5, dtype=np.float32))    # its first four buffers were due already
    back = record(manual_server, player, 4)
    assert np.abs(np.diff(back)).max() < 0.5 / 200 and back[-1] == pytest.approx(0.5)
    assert player.underruns == 1, "recovering is not a second underrun"


def test_nothing_before_the_first_block_is_an_underrun(manual_server):
    player = StreamPlayer()
    out = record(manual_server, player, 4)
    assert player.underruns == 0 and not out.any()


def test_the_player_is_a_pyo_object_effects_and_arithmetic_apply(manual_server):
    player = StreamPlayer()
    x = (0.3 * np.sin(np.arange(BS * 40) * 2 * np.pi * 440 / 48000)).astype(np.float32)
    player.ring.write(x)
    louder = player * 2
    wet = pyo.Freeverb(player, size=0.9, bal=1.0)
    both = pyo.Mix([louder, wet], voices=1)
    out = record(manual_server, both, 40)
    assert np.abs(out).max() > np.abs(x).max() * 1.5        # the doubled copy is in there
    player.mul = 0.0
    assert not record(manual_server, player, 2).any()


def test_the_ring_refuses_to_overwrite_unplayed_audio():
    ring = AudioRing(4096, fade=64)
    ring.write(np.zeros(4000, dtype=np.float32))
    with pytest.raises(OverflowError, match="ring full"):
        ring.write(np.zeros(200, dtype=np.float32))


def test_late_audio_keeps_its_time_its_late_head_is_dropped():
    ring = AudioRing(48000, fade=64)
    out = np.zeros(256, dtype=np.float32)
    ring.write(np.ones(256, dtype=np.float32))
    for _ in range(4):
        ring.pull(out)                   # three buffers late
    block = np.arange(1024, dtype=np.float32)
    assert ring.write(block) == 256, "a write says where its first sample belongs"
    assert ring.written == 256 + 1024 and ring.lookahead() == 256 + 1024 - 1024
    ring.pull(out)
    assert np.array_equal(out[64:], block[768 + 64:]), "what plays now is what was meant for now"
    assert ring.underruns == 1
    ring.pull(out)
    ring.pull(out)                                       # late again: the play head is at 1792
    ring.write(np.ones(100, dtype=np.float32))           # entirely in the past ...
    assert ring.write(np.full(4096, 2.0, np.float32)) == 1380
    ring.pull(out)
    assert np.all(out[64:] == 2.0), "... is dropped, and the next block plays on time"


def test_a_ring_can_start_on_its_grid_after_playing_silence():
    ring = AudioRing(48000, fade=64)
    out = np.ones(256, dtype=np.float32)
    for _ in range(10):
        ring.pull(out)
    assert ring.underruns == 0 and not out.any(), "nothing written yet: silence, not an underrun"
    ring.start_at(4096)
    ring.write(np.full(512, 5.0, np.float32))
    played = []
    for _ in range(6):
        ring.pull(out)
        played.append(out.copy())
    played = np.concatenate(played)                      # absolute 2560 .. 4096
    assert not played[:4096 - 2560].any() and np.all(played[4096 - 2560:] == 5.0)
    with pytest.raises(ValueError, match="ahead"):
        AudioRing(4096, fade=64).start_at(10000)


def test_a_splice_crossfades_into_new_audio_ahead_of_the_play_head_and_nowhere_else():
    ring = AudioRing(48000, fade=64)
    out = np.zeros(256, dtype=np.float32)
    assert ring.write(np.ones(4096, dtype=np.float32)) == 0
    ring.pull(out)                                            # play head at 256
    assert not ring.splice(256 + 100, np.full(1000, 3.0, np.float32), fade=200, guard=512), "too near the head"
    assert not ring.splice(5000, np.full(1000, 3.0, np.float32), fade=200, guard=512), "past the queued audio"
    assert ring.written == 4096
    assert ring.splice(1024, np.full(4000, 3.0, np.float32), fade=200, guard=512)
    assert ring.written == 1024 + 4000
    played = []
    while ring.lookahead() >= 256:
        ring.pull(out)
        played.append(out.copy())
    played = np.concatenate(played)                           # from absolute 256 on
    assert np.all(played[:1024 - 256] == 1.0), "what was before the splice point is untouched"
    fade = played[1024 - 256:1024 - 256 + 200]
    assert np.all(np.diff(fade) > 0) and 1.0 < fade[0] < 1.1 and 2.9 < fade[-1] < 3.0
    assert np.all(played[1024 - 256 + 200:] == 3.0)
    assert ring.underruns == 0
