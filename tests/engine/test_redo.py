"""A change made while a block plays is heard within that block: the block is generated
again under the new conditions and spliced in ahead of the play head."""
import time

import numpy as np
import pyo
import torch

from lmdmlive.engine.controls import BlockControls
from lmdmlive.engine.worker import Engine

from .test_engine import BS, SR, small_bundle

N = 3                   # the block during which the performer changes the prompt
SECONDS = 4.0


def play(server, mode: str):
    """Record one stream; its prompt changes for block N: after N was generated ('late', the
    performer's case), or before ('early', the reference), or late without redo."""
    engine = Engine(small_bundle(), SR, steps=2, guidance=1.0, lookahead_seconds=0.2, redo=mode != "no-redo")
    stream = engine.add_stream(seed=5)
    old, new = torch.ones(1, 384) * 0.3, -torch.ones(1, 384) * 0.3
    switched = {"now": False}
    if mode == "early":
        stream.provider = lambda times: BlockControls(style=new if times.block >= N else old)
    else:
        stream.provider = lambda times: BlockControls(style=new if switched["now"] else old)
    table = pyo.NewTable(length=SECONDS)
    rec = pyo.TableRec(stream.player, table, fadetime=0).play()
    change_at = None
    for i in range(int(SECONDS * SR / BS)):
        while engine.step():
            pass
        playing_n = stream.blocks == N + 1 and stream.player.ring.read >= stream.rewind.ring_pos + SR // 10
        if mode != "early" and not switched["now"] and playing_n:
            switched["now"] = True                     # block N has played 0.1 s: the performer types now
            stream.changed_at = time.perf_counter()
            # The engine weighs a redo against measured round times; offline on a shared
            # machine those are noise, so it is told rounds take 20 ms (an idle laptop's).
            engine.compute_seconds.clear()
            engine.compute_seconds.extend([0.02] * 8)
            change_at = stream.player.ring.read
        server.process()
    rec.stop()
    engine.remove_stream(stream)        # its player stops pulling while the next run plays
    return engine, stream, np.asarray(table.getBuffer()).copy(), change_at


def test_a_change_is_spliced_into_the_playing_block_and_the_rest_is_as_if_made_in_time(manual_server):
    late_engine, late, heard, change_at = play(manual_server, "late")
    _, _, reference, _ = play(manual_server, "early")
    no_engine, slow, unchanged, _ = play(manual_server, "no-redo")

    assert late_engine.redos == 1 and no_engine.redos == 0
    assert late.player.ring.underruns == 0 and late_engine.errors == 0
    rp = late.rewind
    block = int(late_engine.bundle.lmdm.cfg.block_seconds * SR)
    assert len(late.latencies) == 1 and len(slow.latencies) == 1
    # Before the change, the old block plays untouched; after the splice and its fade,
    # the audio is exactly what a change made in time would have given, block N included.
    assert np.array_equal(heard[:change_at], unchanged[:change_at])
    splice_end = change_at + late_engine._guard() + int(0.02 * SR) + 4 * BS
    assert splice_end < rp.ring_pos + block - SR // 10, "the splice replaced most of block N"
    assert np.abs(heard[splice_end:] - reference[splice_end:]).max() < 1e-4
    assert np.abs(heard[change_at:splice_end] - reference[change_at:splice_end]).max() > 1e-3, \
        "the old version played until the splice"
    assert np.abs(unchanged[splice_end:rp.ring_pos + block] - reference[splice_end:rp.ring_pos + block]).max() > 1e-3
    assert np.abs(np.diff(heard)).max() < 0.5, "no click at the splice"


def test_a_redo_that_fails_leaves_the_stream_as_it_was(manual_server):
    import pytest
    engine = Engine(small_bundle(), SR, steps=1, guidance=1.0, lookahead_seconds=0.2)
    stream = engine.add_stream(seed=2)
    stream.provider = lambda times: BlockControls(style=torch.ones(1, 384) * (0.3 if stream.changed_at is None else -0.3))
    while stream.blocks < 2:
        while engine.step():
            pass
        manual_server.process()
    blocks, pending, state = stream.blocks, stream.cache.pending, stream.decoder.state
    stream.changed_at = time.perf_counter()
    engine.compute_seconds.extend([0.02] * 8)

    def broken(planned):
        raise RuntimeError("injected")
    engine._generate = broken
    assert engine.due() == [] and engine.redo_candidates() == [stream], "the step below is a redo"
    with pytest.raises(RuntimeError, match="injected"):
        engine.step()
    assert stream.blocks == blocks and stream.cache.pending is pending
    assert stream.decoder.decoder.state is state[0] and stream.decoder.follower.gain_db == state[1]
    engine.remove_stream(stream)
