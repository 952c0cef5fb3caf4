"""The corpus: deterministic, resumable, split by piece, bounded renders, and `corpus add` that survives bad files."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from lmdmlive.train.corpus import build as corpus_build
from lmdmlive.train.corpus.grooves import STYLES, make_groove
from lmdmlive.train.corpus.midi_tools import arrange
from lmdmlive.train.corpus.render import TAIL_SECONDS, render_midi
from lmdmlive.train.corpus.shards import read_records
from lmdmlive.train.splits import indices_in


def test_the_same_groove_seed_gives_the_same_midi_and_its_groups_are_exact(tmp_path):
    for style in STYLES:
        a, b = make_groove(style, 5), make_groove(style, 5)
        a.midi.save(tmp_path / "a.mid")
        b.midi.save(tmp_path / "b.mid")
        assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
        channels = {m.channel for m in a.midi if m.type == "note_on"}
        assert (9 in channels) == a.groups["drums"], style
        assert (1 in channels) == a.groups["bass"], style
        assert (3 in channels) == a.groups["lead"], style


def test_a_cut_releases_every_note_and_a_render_has_exactly_the_bounded_length():
    groove = make_groove("house", 0, bars=16)
    cut = arrange(groove.midi, max_seconds=3.0)
    on, off = 0, 0
    for msg in cut.midi:
        on += msg.type == "note_on" and msg.velocity > 0
        off += msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0)
    assert on == off and cut.seconds <= 3.0
    audio = render_midi(cut.midi, 2.0, 24000)       # told 2 s: the render stops there, whatever the file says
    assert len(audio) == int((2.0 + TAIL_SECONDS) * 24000)
    assert np.abs(audio).max() > 0.01


@pytest.fixture(scope="module")
def tiny_corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    out = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        corpus_build.build(root / name, hours=0.03, seed=seed, workers=2, log=lambda m: None)
        out[name] = root / name
    return out


def test_the_same_seed_gives_the_same_captions_and_audio(tiny_corpora):
    a = read_records(tiny_corpora["a"], "train") + read_records(tiny_corpora["a"], "heldout")
    b = read_records(tiny_corpora["b"], "train") + read_records(tiny_corpora["b"], "heldout")
    c = read_records(tiny_corpora["c"], "train") + read_records(tiny_corpora["c"], "heldout")
    assert len(a) >= 2
    key = lambda r: (r["id"], tuple(r["captions"]), r["unseen_caption"], r["audio_sha256"])
    assert [key(r) for r in a] == [key(r) for r in b]
    assert [key(r) for r in a] != [key(r) for r in c]


def test_records_point_at_real_audio_and_features_of_the_right_length(tiny_corpora):
    root = tiny_corpora["a"]
    for rec in read_records(root, "train"):
        audio, rate = sf.read(root / rec["audio"])
        assert rate == 24000 and len(audio) / rate == pytest.approx(rec["seconds"], abs=1e-3)
        with np.load(root / rec["features"]) as z:
            assert len(z["loud"]) == round(rec["seconds"] * 25)
        assert rec["captions"] and all(isinstance(t, str) and t for t in rec["captions"])
        assert set(rec["groups"]) == {"drums", "bass", "harmony", "lead"}


def test_an_interrupted_build_resumes_without_redoing_or_duplicating(tiny_corpora, tmp_path):
    import shutil
    src = tiny_corpora["a"]
    dst = tmp_path / "resumed"
    shutil.copytree(src, dst)
    shard = sorted((dst / "train").glob("shard-*.jsonl"))[0]
    lines = shard.read_text().splitlines()
    shard.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])     # the last record was cut mid-write
    corpus_build.build(dst, hours=0.03, seed=7, workers=1, log=lambda m: None)
    again = [r["id"] for r in read_records(dst, "train")]
    assert again == [r["id"] for r in read_records(src, "train")]


def test_held_out_pieces_never_appear_in_training_shards_and_valid_and_test_share_none(monkeypatch, tmp_path):
    monkeypatch.setattr(corpus_build, "HELDOUT_FRACTION", 0.5)
    # seed 6's plan opens with pieces of all three kinds (valid, test, test, test, train, valid)
    corpus_build.build(tmp_path, hours=0.1, seed=6, workers=2, log=lambda m: None)
    train = {r["piece"] for r in read_records(tmp_path, "train")}
    records = read_records(tmp_path, "heldout")
    held = {r["piece"] for r in records}
    assert train and held and not (train & held)
    for piece in train | held:
        assert corpus_build.split_of(piece, 6) == ("heldout" if piece in held else "train")
    valid = {records[i]["piece"] for i in indices_in(records, "valid")}
    test = {records[i]["piece"] for i in indices_in(records, "test")}
    assert valid and test and not (valid & test) and valid | test == held


def test_corpus_add_names_a_broken_file_and_carries_on(tmp_path):
    folder = tmp_path / "my loops" / "dub techno"
    folder.mkdir(parents=True)
    t = np.arange(48000) / 48000
    sf.write(folder / "chord_stab_01.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 48000)
    sf.write(folder / "pad.flac", (0.2 * np.sin(2 * np.pi * 110 * t)).astype(np.float32), 48000)
    (folder / "pad.txt").write_text("deep dub chord pad with tape echo\n")
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00not really a wave file")
    out = tmp_path / "corpus"
    res = subprocess.run([sys.executable, "-m", "lmdmlive", "corpus", "add", str(tmp_path / "my loops"),
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "broken.wav" in res.stdout and "added 2 of 3 files" in res.stdout
    records = {r["title"]: r for r in read_records(out, "user")}
    assert records["pad"]["captions"] == ["deep dub chord pad with tape echo"]
    assert records["chord_stab_01"]["captions"] == ["dub techno, chord stab 01"]
    assert records["pad"]["seconds"] == pytest.approx(1.0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["user"]["clips"] == 2
