"""valid and test divide the held-out pieces, by piece, and neither touches training."""
import collections

import pytest

from lmdmlive.train.corpus import build as corpus_build
from lmdmlive.train.corpus.shards import read_records
from lmdmlive.train.splits import EVAL_SPLITS, eval_split_of, indices_in


def test_the_division_is_by_piece_about_half_each_and_stable():
    pieces = [f"essenFolksong/x.abc#{i}" for i in range(2000)]
    counts = collections.Counter(eval_split_of(p) for p in pieces)
    assert set(counts) == set(EVAL_SPLITS) and abs(counts["valid"] - 1000) < 100, counts
    clips = [{"id": f"c{i}", "piece": pieces[i // 3]} for i in range(300)]      # three clips per piece
    valid, test = indices_in(clips, "valid"), indices_in(clips, "test")
    assert sorted(valid + test) == list(range(300))
    assert not ({clips[i]["piece"] for i in valid} & {clips[i]["piece"] for i in test})
    assert [eval_split_of(p) for p in pieces[:50]] == [eval_split_of(p) for p in pieces[:50]]


def test_an_evaluation_corpus_renders_only_the_pieces_a_full_build_holds_out(monkeypatch, tmp_path):
    monkeypatch.setattr(corpus_build, "HELDOUT_FRACTION", 0.3)
    corpus_build.build(tmp_path, hours=0.02, seed=5, workers=2, log=lambda m: None, only="heldout")
    held = read_records(tmp_path, "heldout")
    assert held and not read_records(tmp_path, "train")          # (the training split's disjointness: test_corpus.py)
    assert all(corpus_build.split_of(r["piece"], 5) == "heldout" for r in held)
    assert sum(r["seconds"] for r in held) >= 0.02 * 3600


def test_sources_split_recordings_from_renderings_and_a_wrong_name_is_named():
    from lmdmlive.train.splits import source_matches
    recorded, score, groove = {"source": "recorded"}, {"source": "music21"}, {"source": "groove"}
    assert [source_matches(r, "recorded") for r in (recorded, score, groove)] == [True, False, False]
    assert [source_matches(r, "rendered") for r in (recorded, score, groove)] == [False, True, True]
    assert all(source_matches(r, "all") for r in (recorded, score, groove, {}))
    with pytest.raises(ValueError, match="unknown source 'recordings'; choose one of all, recorded, rendered"):
        source_matches(recorded, "recordings")


def test_eval_roles_of_one_source_hold_only_its_clips():
    from lmdmlive.train.eval_model import WINDOW, EvalRoles
    from lmdmlive.train.splits import eval_split_of, source_matches

    class Held:
        clips = [{"id": f"c{i}", "piece": f"p{i}", "source": "recorded" if i % 3 == 0 else "music21"}
                 for i in range(240)]

        def frames(self, i):
            return 4 * WINDOW

    held = Held()
    roles = EvalRoles.of(held, "valid", WINDOW, 50, keep=lambda c: source_matches(c, "recorded"))
    chosen = roles.prompts + roles.reference + roles.floor
    assert chosen and all(held.clips[i]["source"] == "recorded" for i in chosen)
    assert all(eval_split_of(held.clips[i]["piece"]) == "valid" for i in chosen)
    everything = EvalRoles.of(held, "valid", WINDOW, 50)
    assert any(held.clips[i]["source"] == "music21" for i in everything.prompts)
    with pytest.raises(ValueError, match="no valid clips of source 'recorded' in this corpus"):
        EvalRoles.of(held, "valid", WINDOW, 50, keep=lambda c: False, kind="recorded")
