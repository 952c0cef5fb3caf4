"""The engine keeps streams ahead of the play head, batches them, and survives its own lateness."""
import time

import numpy as np
import pyo
import torch

from lmdmlive.engine.controls import BlockControls
from lmdmlive.engine.worker import Engine
from lmdmlive.model import Codec, CodecConfig, LMDM, LMDMConfig
from lmdmlive.model.default import ModelBundle

BS, SR = 256, 48000


def small_bundle() -> ModelBundle:
    torch.manual_seed(0)
    lmdm = LMDM(LMDMConfig(d_model=64, n_layers=2, n_heads=2, latent_dim=8)).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in lmdm.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    codec = Codec(CodecConfig(latent_dim=8, channels=32, encoder_layers=1, decoder_layers=2)).eval()
    return ModelBundle(lmdm, codec, trained=False, source="test")


def render_two_streams(server, seconds=3.0, warm=True):
    engine = Engine(small_bundle(), SR, steps=2, guidance=1.0, warm=warm)
    a, b = engine.add_stream(seed=1), engine.add_stream(seed=2, style=None)
    b.set_controls(BlockControls(style=torch.ones(1, 384) * 0.2))
    table = pyo.NewTable(length=seconds)
    rec = pyo.TableRec(pyo.Mix([a.player, pyo.Freeverb(b.player)], voices=1), table, fadetime=0).play()
    for _ in range(int(seconds * SR / BS)):
        while engine.step():
            pass
        server.process()
    rec.stop()
    return engine, np.asarray(table.getBuffer()).copy()


def test_two_streams_render_continuously_and_reproducibly(manual_server):
    engine, out = render_two_streams(manual_server)
    m = engine.metrics()
    assert m["underruns"] == 0 and m["errors"] == 0
    assert m["blocks"] >= 2 * 6
    body = out[SR // 2:]
    assert np.sqrt(np.mean(body ** 2)) > 1e-4
    silent_runs = np.convolve(np.abs(body) < 1e-7, np.ones(480), "valid").max()
    assert silent_runs < 480, "no 10 ms of digital silence inside the stream"
    assert not np.isnan(out).any()
    _, again = render_two_streams(manual_server, warm=False)
    assert np.array_equal(out, again), "same seeds, same conditions, same audio; the warm-up block leaves no trace"


def test_streams_share_one_model_call_per_block(manual_server):
    engine = Engine(small_bundle(), SR, steps=1, guidance=1.0)
    for seed in range(3):
        engine.add_stream(seed=seed)
    engine.step()
    assert len(engine.compute_seconds) == 1
    assert [s.blocks for s in engine.streams] == [1, 1, 1]


def test_a_two_second_stall_degrades_gracefully_and_recovers(manual_server):
    engine = Engine(small_bundle(), SR, steps=1, guidance=1.0, lookahead_seconds=0.5)
    stream = engine.add_stream(seed=3)
    table = pyo.NewTable(length=6.0)
    rec = pyo.TableRec(stream.player, table, fadetime=0).play()
    engine.start()
    try:
        t0 = time.perf_counter()
        buffers = int(6.0 * SR / BS)
        for i in range(buffers):
            if i == int(1.5 * SR / BS):
                engine.stall_seconds = 2.0            # the worker freezes mid-performance
            while time.perf_counter() - t0 < i * BS / SR:   # pace the server at real time
                time.sleep(0.0005)
            manual_server.process()
    finally:
        engine.stop()
        rec.stop()
    out = np.asarray(table.getBuffer()).copy()
    assert engine.errors == 0
    assert stream.player.underruns >= 1
    assert np.abs(out[-SR // 2:]).max() > 0, "sound is back after the stall"
    assert np.abs(np.diff(out)).max() < 0.5, "no click where the stream faded out and back"


def test_the_engine_plays_on_its_own_thread_count_and_gives_the_process_its_count_back(manual_server):
    import pytest
    from lmdmlive.engine.worker import default_threads

    assert default_threads() == max(1, __import__("os").cpu_count() - 1)
    with pytest.raises(ValueError, match="threads must be a whole number of at least 1, got 0"):
        Engine(small_bundle(), SR, threads=0)
    before = torch.get_num_threads()
    engine = Engine(small_bundle(), SR, steps=1, guidance=1.0, threads=before + 1)
    engine.add_stream(seed=0)
    seen = []
    engine.stall_seconds = 0.0
    original = engine.step

    def step():
        seen.append(torch.get_num_threads())
        return original()
    engine.step = step
    engine.start()
    try:
        t0 = time.perf_counter()
        while not seen and time.perf_counter() - t0 < 5:
            time.sleep(0.01)
    finally:
        engine.stop()
    assert seen and seen[0] == before + 1
    assert torch.get_num_threads() == before
