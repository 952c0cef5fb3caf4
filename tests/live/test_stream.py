"""Streams: prompt and lanes set like attributes, played by the engine, pyo objects themselves."""
import dataclasses
import math

import numpy as np
import pyo
import pytest
import torch

from lmdmlive.engine.controls import frame_times, to_conditions
from lmdmlive.live.session import Session
from lmdmlive.model import Codec
from tests.engine.test_engine import small_bundle

from .helpers import controls, play


def test_a_stream_plays_through_an_effect_and_follows_its_pitch_lane(session):
    a = session.stream(torch.ones(384) * 0.1, seed=2)
    a.pitch = "c4 e4"
    verb = pyo.Freeverb(a, size=0.7)
    table = pyo.NewTable(length=1.0)
    rec = pyo.TableRec(verb, table, fadetime=0).play()
    play(session, 1.0)
    rec.stop()
    out = np.asarray(table.getBuffer()).copy()
    assert np.sqrt(np.mean(out[24000:] ** 2)) > 1e-5 and a.underruns == 0
    c = controls(session, a, 0)                   # block 0 covers the first 0.48 s: c4 only
    assert (c.pitch_note == 60).all() and (c.voiced == 1).all() and c.loud_db is None
    c = controls(session, a, 2)                   # 0.96 s..1.44 s of a 2 s bar: one frame of c4, then e4
    assert c.pitch_note[0] == 60 and (c.pitch_note[1:] == 64).all()
    assert torch.equal(c.style, torch.ones(1, 384) * 0.1)
    assert (c.steps, c.guidance, c.seed) == (1, 1.0, 2), "the stream's Params, for the engine to read"


def test_a_delayed_decoder_asks_each_frame_for_the_moment_it_sounds(manual_server):
    bundle = small_bundle()
    bundle.codec = Codec(dataclasses.replace(bundle.codec.cfg, decoder_delay=3)).eval()   # plays 30 ms late
    session = Session(server=manual_server, bundle=bundle, bpm=120, steps=1, guidance=1.0)
    notes = [60, 62, 64, 65, 67, 69, 71, 72]             # eight a bar: a new note every 250 ms
    a = session.stream(seed=1)
    try:
        a.pitch = "c4 d4 e4 f4 g4 a4 b4 c5"
        frame, late = 48000 // 25, 48000 * 30 // 1000

        def note_at(sample):
            cycle = session.clock.cycle_at(sample)
            return notes[math.floor((cycle - math.floor(cycle)) * 8)]

        moved = 0
        for block in range(10):
            got = controls(session, a, block).pitch_note
            for k in range(12):
                at = a._start_sample + (block * 12 + k) * frame
                assert got[k] == note_at(at + late), (block, k)
                moved += note_at(at + late) != note_at(at)
        assert moved > 0          # some frames sound after a note change that their start is before
    finally:
        a.close()


def test_a_typo_raises_at_the_line_and_the_stream_keeps_its_lane_and_its_sound(session):
    a = session.stream(seed=1)
    a.loud = "-20 -10"
    good = a.loud
    with pytest.raises(ValueError, match="is never closed"):
        a.loud = "-20 [-10"
    assert a.loud is good
    with pytest.raises(ValueError, match="unknown sketch lane|not a note name"):
        a.pitch = "c4 x9"
    play(session, 0.6)
    assert a.underruns == 0 and session.engine.errors == 0


def test_a_prompt_of_the_wrong_kind_is_refused(session):
    a = session.stream(seed=1)
    with pytest.raises(TypeError, match="a prompt is text, a Prompt or a style vector"):
        a.prompt = 42
    with pytest.raises(ValueError, match=r"must have shape \(384,\)"):
        a.prompt = torch.zeros(10)


def test_a_stream_started_late_plays_each_block_where_its_lanes_were_asked_for(session):
    """The engine comes to a new stream a quarter second late (busy, or still loading): the
    stream starts on the next block of its grid instead of shifting, so block b's audio
    sounds at the session time its lanes were computed for, and quantised stops land on
    the bar the lanes play."""
    a = session.stream("x", seed=1)
    asked = []
    provider = a._engine_stream.provider
    a._engine_stream.provider = lambda times: (asked.append(times.block), provider(times))[1]
    for _ in range(50):                       # 50 buffers of silence before the engine looks
        session.server.process()
    play(session, 3.0)
    es, ring = a._engine_stream, a.player.ring
    cfg, codec = session.bundle.lmdm.cfg, session.bundle.codec.cfg
    block = cfg.block_frames * codec.hop * session.sample_rate // codec.sample_rate
    assert es.first_block >= 1 and asked[0] == es.first_block, "it starts on its grid, not at once"
    # the resampler's output sample i is input time i: the ring holds output i at the block grid's start + i
    assert es.rewind.ring_pos - es.rewind.ideal == es.first_block * block, "block b sounds b blocks from the start"
    # the ring's start is the stream's start on the session clock (the lanes' time origin)
    assert abs((session.now() - a._start_sample) - ring.read) <= session.server.getBufferSize()
    assert ring.underruns == 0


def test_a_stream_and_the_render_command_ask_a_lane_the_same_way(session):
    """Live (a Stream on the session's 48 kHz clock) and offline (the render command's provider on
    a clock at the codec's rate) answer the same frame times with the same conditions."""
    from lmdmlive.cli.render import sketch_provider
    a = session.stream(seed=1)
    a.pitch = "c4 [e4 g4] ~ b3"
    a.loud = "-12 -20 ~"
    offline = sketch_provider(["pitch=c4 [e4 g4] ~ b3", "loud=-12 -20 ~"], 120, session.bundle, None)
    cfg, codec_rate = session.bundle.lmdm.cfg, session.bundle.codec.cfg.sample_rate
    assert a._start_sample == 0, "the stream started with the session: both clocks start together"
    for block in range(9):
        live = to_conditions(controls(session, a, block), cfg)
        rendered = to_conditions(offline(frame_times(block, session.bundle, codec_rate)), cfg)
        assert torch.equal(live.sketch, rendered.sketch) and torch.equal(live.sketch_mask, rendered.sketch_mask)
    assert live.sketch_mask.sum() > 0
