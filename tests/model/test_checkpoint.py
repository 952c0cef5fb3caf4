"""A damaged or mismatched checkpoint is refused with an error naming the file and the problem."""
import json

import pytest
import torch

from lmdmlive.model import CheckpointError, LMDM, LMDMConfig, load_checkpoint, save_checkpoint
from lmdmlive.model.checkpoint import file_sha256

from .helpers import SMALL_LMDM, small_lmdm


def _load(path):
    return load_checkpoint(path, "lmdm", LMDMConfig, LMDM)[0]


@pytest.fixture
def saved(tmp_path):
    model = small_lmdm()
    save_checkpoint(model, model.cfg, tmp_path / "m", "lmdm", extra={"note": "test"})
    return model, tmp_path / "m"


def test_round_trip_gives_the_same_model(saved):
    model, path = saved
    loaded = _load(str(path) + ".json")
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert loaded.cfg == model.cfg


def test_a_flipped_byte_is_caught_by_the_hash(saved):
    _, path = saved
    weights = path.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x40
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"m\.safetensors: content hash .* does not match"):
        _load(path)


def test_a_truncated_file_with_a_matching_hash_is_unreadable(saved):
    _, path = saved
    weights, card = path.with_suffix(".safetensors"), path.with_suffix(".json")
    weights.write_bytes(weights.read_bytes()[:200])
    meta = json.loads(card.read_text())
    meta["sha256"] = file_sha256(weights)
    card.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        _load(path)


def test_a_config_that_does_not_fit_the_tensors_names_the_tensor(saved):
    _, path = saved
    card = path.with_suffix(".json")
    meta = json.loads(card.read_text())
    meta["config"]["d_model"] = 128
    meta["config"]["n_heads"] = 4
    card.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"tensor '.*' has shape \(.*\), the config needs"):
        _load(path)


def test_a_different_layer_count_names_missing_tensors(saved):
    _, path = saved
    card = path.with_suffix(".json")
    meta = json.loads(card.read_text())
    meta["config"]["n_layers"] = SMALL_LMDM.n_layers + 1
    card.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"missing \['blocks\.3\."):
        _load(path)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(version=99), "format version 99"),
    (lambda m: m.update(kind="codec"), "holds a 'codec' checkpoint, expected 'lmdm'"),
    (lambda m: m["config"].update(wobble=3), r"unknown field\(s\) \['wobble'\]"),
    (lambda m: m["config"].update(n_heads=5), "not divisible by n_heads 5"),
    (lambda m: m.pop("sha256"), "field 'sha256' is missing"),
])
def test_card_problems_are_named(saved, edit, message):
    _, path = saved
    card = path.with_suffix(".json")
    meta = json.loads(card.read_text())
    edit(meta)
    card.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=message):
        _load(path)


def test_missing_files_and_broken_json_are_named(saved, tmp_path):
    _, path = saved
    with pytest.raises(CheckpointError, match=r"nothere\.json: checkpoint card not found"):
        _load(tmp_path / "nothere")
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"m\.json: not valid JSON"):
        _load(path)


def test_weights_file_missing_is_named(saved):
    _, path = saved
    path.with_suffix(".safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"m\.safetensors: weights file not found"):
        _load(path)


def test_pickles_are_never_loaded(tmp_path):
    evil = tmp_path / "model.pt"
    torch.save({"x": torch.zeros(1)}, evil)
    with pytest.raises(CheckpointError, match="pickled checkpoints are never loaded"):
        _load(evil)


def test_non_finite_weights_are_refused(tmp_path):
    model = small_lmdm()
    with torch.no_grad():
        model.out_proj.weight[0, 0] = float("nan")
    save_checkpoint(model, model.cfg, tmp_path / "nan", "lmdm")
    with pytest.raises(CheckpointError, match="out_proj.weight' holds NaN"):
        _load(tmp_path / "nan")


def test_packing_halves_the_file_and_keeps_the_model_within_float16_rounding(saved, tmp_path):
    from lmdmlive.cli import main
    model, path = saved
    assert main(["train", "pack", str(path), "--out", str(tmp_path / "packed")]) == 0
    full, packed = path.with_suffix(".safetensors"), tmp_path / "packed.safetensors"
    assert packed.stat().st_size < 0.6 * full.stat().st_size
    card = json.loads((tmp_path / "packed.json").read_text())
    assert card["stored_as"] == "float16" and card["extra"]["packed_from"] == "m" and card["extra"]["note"] == "test"
    loaded = _load(tmp_path / "packed")
    assert next(loaded.parameters()).dtype == torch.float32
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        if k in ("latent_mean", "latent_std"):
            assert torch.equal(a, b), k          # buffers are kept exactly
        else:
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), k
    changed = sum(not torch.equal(a, b) for a, b in zip(model.parameters(), loaded.parameters()))
    assert changed > 0                            # it really was stored at lower precision


def test_packing_something_that_is_not_a_checkpoint_names_it(tmp_path, capsys):
    from lmdmlive.cli import main
    assert main(["train", "pack", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) != 0
    assert "nothing.json: checkpoint card not found" in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()
