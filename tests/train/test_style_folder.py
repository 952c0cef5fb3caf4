"""A held-out style: never in the corpus plan, rendered the same every time, and measured against an adapter."""
import hashlib
import itertools

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file

from lmdmlive.model import LMDM, LMDMConfig, adapters, load_codec
from lmdmlive.model.lora import adapter_state, add_adapters, strip_adapters
from lmdmlive.train.corpus import build as corpus_build
from lmdmlive.train.corpus.grooves import HELD_OUT_STYLES, STYLES, make_groove
from lmdmlive.train.corpus.style_folder import write_style_folder
from lmdmlive.train.eval_style import evaluate_style, nearest_centroid

from .test_eval_model import embed_text, judged  # noqa: F401  (the module fixture)


def test_held_out_styles_never_enter_the_corpus_plan():
    assert not set(HELD_OUT_STYLES) & set(STYLES)
    plan = list(itertools.islice(corpus_build.plan(0), 400))
    grooves = {item.source for item in plan if item.kind == "groove"}
    assert grooves == set(STYLES)
    g = make_groove("bossa nova", 3)
    assert g.style == "bossa nova" and g.groups["harmony"] and g.programs["harmony"] in HELD_OUT_STYLES["bossa nova"].harmony


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_style_folder_is_the_same_every_time_and_captions_each_file(tmp_path):
    a = write_style_folder("bossa nova", tmp_path / "a", minutes=0.4, first=7, log=lambda m: None)
    b = write_style_folder("bossa nova", tmp_path / "b", minutes=0.4, first=7, log=lambda m: None)
    assert [p.name for p in a] == [p.name for p in b] and a[0].name == "bossa_nova_0007.wav"
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    seconds = sum(sf.info(str(p)).duration for p in a)
    assert seconds >= 24.0
    caption = a[0].with_suffix(".txt").read_text()
    assert "bossa nova" in caption and "BPM" in caption
    with pytest.raises(ValueError, match="unknown groove style 'bosa'.*bossa nova"):
        write_style_folder("bosa", tmp_path / "c", minutes=1)


def test_nearest_centroid_goes_by_direction():
    cents = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    emb = np.array([[5.0, 0.1], [0.2, 0.3], [-0.1, -3.0], [0.01, 9.0]])
    assert list(nearest_centroid(emb, cents)) == [0, 1, 2, 1]


def _tones(folder, n=4, seconds=11.0):
    """A 'style' the judges never heard: square waves with their captions."""
    folder.mkdir()
    t = np.arange(int(24000 * seconds)) / 24000
    for i in range(n):
        audio = 0.3 * np.sign(np.sin(2 * np.pi * (300 + 40 * i) * t))
        sf.write(str(folder / f"square_{i}.wav"), audio.astype(np.float32), 24000)
        (folder / f"square_{i}.txt").write_text("buzzy square wave tones\n")


def test_eval_style_measures_both_models_and_leaves_the_weights_as_they_were(judged, tmp_path, monkeypatch):
    corpus, codec_path, judges = judged
    _tones(tmp_path / "style")
    torch.manual_seed(0)
    lmdm = LMDM(LMDMConfig(d_model=64, n_layers=2, n_heads=2, latent_dim=8, block_frames=4, context_blocks=3)).eval()
    with torch.no_grad():                                     # untrained outputs start at zero, whatever the trunk
        for p in lmdm.parameters():
            p.add_(torch.randn(p.shape) * 0.05)
    monkeypatch.setenv("LMDMLIVE_ADAPTERS", str(tmp_path / "adapters"))
    (tmp_path / "adapters").mkdir()
    add_adapters(lmdm, rank=2, alpha=4.0)
    with torch.no_grad():
        for name, p in lmdm.named_parameters():
            if name.endswith("lora_b"):
                p.normal_(0, 0.5)
    state = adapter_state(lmdm)
    strip_adapters(lmdm)
    save_file(state, str(tmp_path / "adapters" / "sq.safetensors"))
    adapters.write_card(tmp_path / "adapters" / "sq.safetensors", rank=2, alpha=4.0)
    before = {k: v.clone() for k, v in lmdm.state_dict().items()}
    r = evaluate_style(lmdm, load_codec(codec_path), tmp_path / "style", tmp_path / "work", judges, embed_text,
                       corpus, codec_path, adapter="sq", clips=2, seeds=2, seconds=4.8, steps=1, guidance=1.0,
                       log=lambda m: None)
    assert all(torch.allclose(before[k], v, atol=1e-6) for k, v in lmdm.state_dict().items())
    assert r["real_windows"] == 8 and r["clips"] == 2 and r["seeds"] == 2
    for side in ("default", "adapter"):
        assert 0.0 <= r[side]["prompt_acc"] <= 1.0 and sum(r[side]["nearest"].values()) == 4
    assert r["default"]["fad"] != r["adapter"]["fad"]          # the adapter changed what was generated
    assert 0.0 <= r["prompt_acc_real"] <= 1.0
