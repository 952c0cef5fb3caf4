"""The shipped model still meets the figures recorded beside it, and its judges' distances mean what they say.

The handful of test pieces named in lmdmlive/assets/quick_figures.json is rendered here
by the corpus code (FluidSynth), so the suite needs no corpus build. `lmdmlive eval quick
--write` records new figures when a new model ships.
"""
import warnings

import numpy as np
import pytest
import torch

from lmdmlive.model.default import DEFAULT_AUDIO_PROMPT, DEFAULT_CLASSIFIER, DEFAULT_CODEC, load_default
from lmdmlive.model.text_encoder import shared_text_encoder
from lmdmlive.train import quick_figures as qf
from lmdmlive.train.audio_models import WINDOW
from lmdmlive.train.corpus.shards import read_records
from lmdmlive.train.eval_gen import load_judges
from lmdmlive.train.eval_model import EvalRoles, real_set
from lmdmlive.train.fad import RealSet, distances, mel_stats
from lmdmlive.train.latents import LatentSplit, build_store


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the untrained fall-back warns: here it is a failure
        bundle = load_default()
    assert bundle.trained, "load_default() fell back to untrained weights: lmdmlive/assets/ is incomplete"
    judges = load_judges(DEFAULT_CLASSIFIER, DEFAULT_AUDIO_PROMPT)
    recorded = qf.read_recorded()
    corpus = qf.render_pieces(recorded["pieces"], tmp_path_factory.mktemp("quick") / "corpus")
    return bundle, judges, corpus, recorded


def test_the_assets_are_those_the_figures_were_recorded_with(shipped):
    recorded = shipped[3]
    now = qf.asset_hashes()
    assert set(now) == set(recorded["assets"]), f"assets missing or added: {sorted(set(now) ^ set(recorded['assets']))}"
    changed = [name for name, h in now.items() if recorded["assets"][name] != h]
    assert not changed, f"{changed} changed since the quick figures were recorded (`lmdmlive eval quick --write`)"


def test_the_shipped_model_meets_its_recorded_quick_figures(shipped):
    bundle, judges, corpus, recorded = shipped
    embed = shared_text_encoder().embed
    figures = qf.measure(bundle, judges, corpus, DEFAULT_CODEC, lambda t: embed([t]))
    assert qf.compare(figures, recorded["figures"]) == [], figures


@torch.no_grad()
def test_the_distances_grow_for_noise_and_for_one_repeated_clip(shipped):
    bundle, judges, corpus, _ = shipped
    codec = bundle.codec
    held = LatentSplit(build_store(corpus, DEFAULT_CODEC, splits=("heldout",)), "heldout")
    roles = EvalRoles.of(held, "test", WINDOW, 4)
    records = {r["id"]: r for r in read_records(corpus, "heldout")}
    hop, rate, n = codec.cfg.hop, codec.cfg.sample_rate, 12
    reference = real_set(judges, held, corpus, records, roles.reference, n, hop, rate, seed=1)
    floor = real_set(judges, held, corpus, records, roles.floor, n, hop, rate, seed=2)

    def judged(windows):
        enc = [judges.encoder(codec.encode(torch.from_numpy(w)[None])[:, :WINDOW])[0].numpy() for w in windows]
        return RealSet(np.stack(enc), np.stack([mel_stats(w, rate) for w in windows]))

    rng = np.random.default_rng(0)
    noise = judged([(0.1 * rng.standard_normal(WINDOW * hop)).astype(np.float32) for _ in range(n)])
    one = held.clip(roles.prompts[0], 0, WINDOW)[0]
    repeated = RealSet(np.repeat(judges.encoder(one[None]).numpy(), n, axis=0),
                       np.repeat(mel_stats(codec.decode(one[None])[0].numpy(), rate)[None], n, axis=0))
    for name, fake in (("noise", noise), ("one repeated clip", repeated)):
        d = distances(fake, reference, floor)
        print(name, {k: round(v, 3) for k, v in d.items()})
        assert d["fad_ratio"] > 1.1 and d["fad_mel_ratio"] > 1.5, (name, d)
