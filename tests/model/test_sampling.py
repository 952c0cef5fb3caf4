"""A checkpoint's card carries how it plays by default, and a damaged entry is named."""
import json

import pytest

from lmdmlive.model import CheckpointError, load_checkpoint
from lmdmlive.model.checkpoint import save_checkpoint
from lmdmlive.model.config import LMDMConfig
from lmdmlive.model.lmdm import LMDM
from lmdmlive.model.sampling import Sampling, read_sampling, write_sampling

from .helpers import small_lmdm


def _saved(tmp_path):
    model = small_lmdm()
    save_checkpoint(model, model.cfg, tmp_path / "m", "lmdm")
    return tmp_path / "m"


def test_a_card_without_sampling_plays_at_the_first_models_defaults(tmp_path):
    assert read_sampling(_saved(tmp_path)) == Sampling(steps=4, guidance=2.0, sketch_guidance=4.0)


def test_written_defaults_are_read_back_and_the_weights_stay_whole(tmp_path):
    path = _saved(tmp_path)
    assert write_sampling(path, steps=2, sketch_guidance=2.0) == Sampling(steps=2, guidance=2.0, sketch_guidance=2.0)
    assert write_sampling(path, guidance=3.0) == Sampling(steps=2, guidance=3.0, sketch_guidance=2.0)   # others kept
    assert read_sampling(str(path) + ".json") == Sampling(steps=2, guidance=3.0, sketch_guidance=2.0)
    load_checkpoint(path, "lmdm", LMDMConfig, LMDM)          # the hash still matches: only the card changed


@pytest.mark.parametrize("entry, says", [
    ({"steps": 0}, "steps must be a whole number from 1"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"guidance": "high"}, "guidance must be a number"),
    ({"sketch_guidance": 99}, "sketch_guidance must be a number from 0 to 40"),
    ({"stpes": 2}, "names \\['stpes'\\], which no sampler option is"),
    ([2, 2.0], "must be an object"),
])
def test_a_damaged_sampling_entry_is_an_error_naming_the_card(tmp_path, entry, says):
    path = _saved(tmp_path)
    card = json.loads((tmp_path / "m.json").read_text())
    card["sampling"] = entry
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=says) as e:
        read_sampling(path)
    assert "m.json" in str(e.value)


def test_an_option_out_of_range_is_refused_before_the_card_is_written(tmp_path):
    path = _saved(tmp_path)
    before = (tmp_path / "m.json").read_text()
    with pytest.raises(ValueError, match="steps must be a whole number"):      # the option's fault, not the card's
        write_sampling(path, steps=100)
    assert (tmp_path / "m.json").read_text() == before
