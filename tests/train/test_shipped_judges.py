"""The judges every `eval` reads by default ship with the package and know the corpus's styles."""
import numpy as np
import torch

from lmdmlive.model import load_codec
from lmdmlive.model.default import ASSETS, DEFAULT_AUDIO_PROMPT, DEFAULT_CLASSIFIER, DEFAULT_CODEC
from lmdmlive.train.audio_models import WINDOW
from lmdmlive.train.corpus.grooves import make_groove
from lmdmlive.train.corpus.render import render_midi
from lmdmlive.train.eval_gen import load_judges

ASSET_BUDGET_MB = 60


def test_the_shipped_assets_stay_within_their_budget():
    total = sum(p.stat().st_size for p in ASSETS.iterdir() if p.is_file())
    assert total <= ASSET_BUDGET_MB * 2 ** 20, f"assets hold {total / 2 ** 20:.1f} MB"


@torch.no_grad()
def test_the_shipped_classifier_names_the_family_of_grooves_it_never_heard():
    judges = load_judges(DEFAULT_CLASSIFIER, DEFAULT_AUDIO_PROMPT)
    codec = load_codec(DEFAULT_CODEC).eval()
    families = judges.classifier.families
    hits = []
    for style in ("techno", "ambient", "reggae"):
        groove = make_groove(style, 90_001, bars=8)            # a groove number the corpus never drew
        audio = render_midi(groove.midi, 12.0, codec.cfg.sample_rate).astype(np.float32)
        audio = audio[: len(audio) // codec.cfg.hop * codec.cfg.hop]
        z = codec.encode(torch.from_numpy(audio)[None])
        votes = [families[int(judges.classifier(z[:, s:s + WINDOW])["family"][0].argmax())]
                 for s in range(0, z.shape[1] - WINDOW + 1, WINDOW)]
        hits.append(max(set(votes), key=votes.count) == style)
    assert sum(hits) >= 2, hits
