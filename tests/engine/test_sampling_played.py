"""The engine, `render` and the engine process play a model at its card's sampling defaults."""
import dataclasses

import numpy as np
import torch

from lmdmlive.engine.controls import BlockControls
from lmdmlive.engine.process import ModelShape
from lmdmlive.engine.render import render_offline
from lmdmlive.engine.worker import Engine
from lmdmlive.model.checkpoint import save_checkpoint
from lmdmlive.model.default import load_default
from lmdmlive.model.sampling import Sampling, write_sampling

from .test_engine import small_bundle


def _checkpoints(tmp_path):
    bundle = small_bundle()
    save_checkpoint(bundle.lmdm, bundle.lmdm.cfg, tmp_path / "lmdm", "lmdm")
    save_checkpoint(bundle.codec, bundle.codec.cfg, tmp_path / "codec", "codec")
    return tmp_path / "lmdm", tmp_path / "codec"


def test_a_render_plays_at_the_steps_and_sketch_scale_the_card_names(tmp_path):
    lmdm, codec = _checkpoints(tmp_path)
    plain = load_default(lmdm, codec, float32=True)
    assert plain.sampling == Sampling()
    write_sampling(lmdm, steps=1, sketch_guidance=2.0)
    chosen = load_default(lmdm, codec, float32=True)
    assert chosen.sampling == Sampling(steps=1, guidance=2.0, sketch_guidance=2.0)
    style = torch.ones(1, 384) * 0.1
    seconds = 2 * plain.lmdm.cfg.block_seconds
    bf = plain.lmdm.cfg.block_frames

    def sketched(times):
        return BlockControls(style=style, loud_db=np.linspace(-30, -6, bf))

    by_card = render_offline(chosen, None, seconds, controls=sketched)
    told = render_offline(dataclasses.replace(plain, sampling=Sampling(sketch_guidance=2.0)), None, seconds,
                          steps=1, controls=sketched)
    assert np.array_equal(by_card, told)
    assert not np.array_equal(by_card, render_offline(plain, None, seconds, steps=1, controls=sketched)), \
        "the sketch scale is the card's"
    assert not np.array_equal(by_card, render_offline(chosen, None, seconds, steps=2, controls=sketched)), \
        "a step count given is played instead of the card's"


def test_the_engine_and_the_engine_process_start_from_the_card(tmp_path):
    lmdm, codec = _checkpoints(tmp_path)
    write_sampling(lmdm, steps=3, guidance=2.5, sketch_guidance=1.5)
    bundle = load_default(lmdm, codec, float32=True)
    engine = Engine(bundle, 48000, warm=False)
    assert (engine.steps, engine.guidance, engine.sketch_guidance) == (3, 2.5, 1.5)
    told = Engine(bundle, 48000, steps=2, guidance=1.0, warm=False)
    assert (told.steps, told.guidance, told.sketch_guidance) == (2, 1.0, 1.5)
    # the performer's process reads them from the card too: its streams' steps and cfg start there
    assert ModelShape.of(lmdm, codec).sampling == Sampling(steps=3, guidance=2.5, sketch_guidance=1.5)
