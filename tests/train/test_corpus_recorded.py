"""Opt-in corpus sources on the smallest Debian packages (asc-music, hydrogen-data, sonic-pi-samples,
musescore-general-soundfont-small): licences recorded, tracks held out whole, bounded decodes,
recorded kits in the grooves, and today's default plan left exactly as it was."""
import hashlib
import itertools
import json
import random
import subprocess
import sys

import numpy as np
import pytest

from lmdmlive.train.corpus import build as corpus_build
from lmdmlive.train.corpus import debian, kits, recorded, sources
from lmdmlive.train.corpus.grooves import make_groove
from lmdmlive.train.corpus.midi_tools import arrange
from lmdmlive.train.corpus.shards import read_records
from lmdmlive.train.signal_judges import drums_present

needs = lambda *pkgs: pytest.mark.skipif(not all(debian.installed(p) for p in pkgs),
                                         reason=f"needs Debian packages {' '.join(pkgs)} (.ci/deps installs them)")

# The first plan items of seed 0, as the shipped model's corpus was built: sha1 of their piece ids in order.
# Recomputed here from build.plan, and compared against the opt-in plan's default-source items.
SEED0_FIRST = 12


def test_the_default_plan_is_untouched_and_opt_in_plans_keep_its_items_in_order():
    default = list(itertools.islice(corpus_build.plan(0), SEED0_FIRST))
    assert all(it.variant == "" and it.span == () for it in default)
    assert [it.clip_id for it in default] == [hashlib.sha1(it.piece_id.encode()).hexdigest()[:16] for it in default]
    mixed = sources.extended_plan(0, ("gm", "grooves", "kits", "musescore"), corpus_build.plan, corpus_build.PlanItem)
    base = [it for it in itertools.islice(mixed, 4 * SEED0_FIRST) if it.variant == ""][:SEED0_FIRST]
    assert [it.clip_id for it in base] == [it.clip_id for it in default]
    extra = list(itertools.islice(sources.extended_plan(0, ("kits", "musescore"), corpus_build.plan,
                                                        corpus_build.PlanItem), 8))
    assert {it.variant for it in extra} == {"kits", "musescore"}
    assert not {it.clip_id for it in extra} & {it.clip_id for it in default}


def test_unknown_sources_are_named_and_the_default_is_todays():
    assert sources.parse_sources("gm,grooves") == sources.DEFAULT_SOURCES
    with pytest.raises(ValueError, match="'fretsonfire'"):
        sources.parse_sources("gm,fretsonfire")


def test_the_reserved_fretsonfire_songs_are_never_read():
    with pytest.raises(ValueError, match="external check"):
        recorded.track_paths("fretsonfire-songs-muldjord")
    assert not any(s.package.startswith("fretsonfire") for s in recorded.SOUNDTRACKS)


def test_a_track_is_cut_into_clips_of_30_to_60_seconds():
    for seconds in (61.0, 95.5, 290.8, 441.1):
        spans = recorded.clip_spans(seconds)
        assert spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(seconds, abs=0.01)
        assert all(30.0 <= b - a <= 60.0 for a, b in spans)
    assert recorded.clip_spans(42.0) == [(0.0, 42.0)]


def test_dep5_stanzas_give_the_last_matching_licence():
    text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nCopyright: 2010 A Person\nLicense: GPL-2+\n\n"
            "Files: data/music/*.ogg\nCopyright: 2012 A Composer\nLicense: CC-BY-SA-3.0\n text of it\n\n"
            "Files: debian/*\nCopyright: 2013 A Packager\nLicense: GPL-2+\n")
    stanzas = debian.parse_dep5(text)
    assert [s.licence for s in stanzas] == ["GPL-2+", "CC-BY-SA-3.0", "GPL-2+"]
    music = [s for s in stanzas if any(debian._pattern_matches(p, "/usr/share/games/x/data/music/a.ogg")
                                       for p in s.patterns)]
    assert [s.copyright for s in music] == ["2010 A Person", "2012 A Composer"]


def test_a_free_text_copyright_file_gives_its_first_licence_and_holders():
    prose = ("This package was debianized by A Packager.\n\nUpstream Author: A Person\n\n"
             "Copyright (C) 2003 - 2009 by A Person <a@example.org>\nCopyright (C) 2004 by B Person\n"
             "Copyright (C) 2005 by C Person\n\nLicense:\n  This program is free software; you can "
             "redistribute it under the terms of the GNU General Public License version 2\n  or at your "
             "option any later version.\n\n  fonts/ is Copyright (c) 2003 by Someone Else.\n  Permission "
             "is hereby granted, free of charge, to any person\n")
    assert debian.free_text_licence(prose) == ("GPL-2+", "2003 - 2009 by A Person, 2004 by B Person and 1 others")
    isc = "Copyright:\n   Copyright (c) 2001-2009, A Firm\n\nLicense:\n   Permission to use, copy, modify, and/or " \
          "distribute this software for any purpose\n"
    assert debian.free_text_licence(isc) == ("ISC", "2001-2009, A Firm")
    assert debian.free_text_licence("Nothing about rights here.\n") == ("", "")


def test_every_installed_soundtrack_names_a_licence_and_an_attribution_for_its_tracks():
    have = [s.package for s in recorded.SOUNDTRACKS if debian.installed(s.package)]
    if not have:
        pytest.skip("no soundtrack package installed (.ci/deps installs asc-music)")
    for package in have:
        paths = recorded.track_paths(package)
        assert paths, f"{package} is installed but no track was found in it"
        for path in (paths[0], paths[-1]):
            lic = recorded.licence_of(package, path)
            assert lic.licence and lic.licence != "see copyright file" and lic.attribution, (package, path, lic)


@needs("asc-music")
def test_recorded_tracks_come_from_dpkg_with_their_licence_and_decode_only_their_span():
    tracks = recorded.tracks("asc-music")
    assert len(tracks) == 3 and all(t.path.startswith("/usr/share/") for t in tracks)
    lic = debian.licence_of("asc-music", tracks[0].path)
    assert lic.licence == "GPL-2+" and "Kievernagel" in lic.attribution
    audio = recorded.decode(tracks[0].path, 30.0, 33.0, 24000)
    assert len(audio) == pytest.approx(3 * 24000, abs=2) and np.abs(audio).max() > 0.01


@needs("hydrogen-data", "sonic-pi-samples")
def test_grooves_on_recorded_kits_keep_their_drums_and_name_the_kit():
    found = {k.name: k for k in kits.available_kits()}
    assert {"GMRockKit", "sonic pi acoustic"} <= set(found)
    assert found["GMRockKit"].licence and found["sonic pi acoustic"].licence == "CC0"
    groove = make_groove("funk", 4)
    arranged = arrange(groove.midi, max_seconds=6.0)
    assert not kits.drum_hits(kits.without_channel(arranged.midi))
    audio, info = sources.render_with_kit(arranged, arranged.seconds, 24000, corpus_build.Mix(gain=0.5), "funk",
                                          groove.tempo, random.Random(1))
    assert info["kit"] in found and np.abs(audio).max() <= 0.99
    assert drums_present(audio, 24000)
    bare = corpus_build.render_midi(kits.without_channel(arranged.midi), arranged.seconds, 24000,
                                    corpus_build.Mix(gain=0.5))
    assert len(bare) == len(audio) and not np.allclose(bare, audio)      # the kit was mixed in


@pytest.fixture(scope="module")
def recorded_corpus(tmp_path_factory):
    if not debian.installed("asc-music"):
        pytest.skip("needs the Debian package asc-music (.ci/deps installs it)")
    out = tmp_path_factory.mktemp("recorded")
    res = subprocess.run([sys.executable, "-m", "lmdmlive", "corpus", "build", "--sources", "recorded",
                          "--hours", "0.03", "--out", str(out), "--workers", "2"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return out


def test_recorded_clips_carry_captions_signal_attributes_and_licences(recorded_corpus):
    recs = read_records(recorded_corpus, "train") + read_records(recorded_corpus, "heldout")
    assert len(recs) >= 2
    for r in recs:
        assert r["source"] == "recorded" and r["licence"] and r["copyright_file"].endswith("/copyright")
        assert 10.0 <= r["seconds"] <= 60.0 and r["piece"].startswith("recorded/")
        assert set(r["signal"]) >= {"tempo", "key", "centroid_hz", "percussive_ratio", "drums"}
        assert r["groups"] == {"drums": r["signal"]["drums"]}
        assert len(r["captions"]) == 3 and r["unseen_caption"] not in r["captions"]
        assert any(r["collection"] in c for c in r["captions"]) and r["collection"] in r["unseen_caption"]
    manifest = json.loads((recorded_corpus / "manifest.json").read_text())
    assert manifest["sources"] == ["recorded"]
    listed = {e["file"]: e for e in manifest["attribution"] if "track" in e}
    assert {r["origin"] for r in recs} == set(listed)
    assert all(e["licence"] and e["attribution"] for e in listed.values())


def test_every_clip_of_a_track_lies_on_the_side_its_track_was_hashed_to(recorded_corpus):
    for split in ("train", "heldout"):
        for r in read_records(recorded_corpus, split):
            assert corpus_build.split_of(r["piece"], 0) == split


def test_a_recorded_build_resumes_without_redoing(recorded_corpus, tmp_path):
    import shutil
    dst = tmp_path / "again"
    shutil.copytree(recorded_corpus, dst)
    before = sorted((dst / "train").rglob("*.flac"))
    stamps = {p: p.stat().st_mtime_ns for p in before}
    corpus_build.build(dst, hours=0.03, seed=0, workers=1, log=lambda m: None, sources_used=("recorded",))
    assert sorted((dst / "train").rglob("*.flac")) == before
    assert all(p.stat().st_mtime_ns == stamps[p] for p in before)


def test_an_item_that_only_ran_out_of_time_is_tried_again_and_a_broken_one_is_not(tmp_path):
    path = tmp_path / "skipped.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (
        {"id": "a", "piece": "p/a", "error": "ItemTimeout: took over 90 s"},
        {"id": "b", "piece": "p/b", "error": "StreamException: already found in this Stream"},
        {"id": "c", "piece": "p/c", "error": "ValueError: decoded samples hold NaN"},
        {"id": "c", "piece": "p/c", "error": "ItemTimeout: took over 90 s"})) + "\n")
    assert set(corpus_build.read_skipped(path)) == {"b"}
    assert corpus_build.read_skipped(tmp_path / "none.jsonl") == {}


def test_a_missing_source_package_stops_the_command_with_the_install_line(tmp_path, monkeypatch):
    # As on a machine without them, whatever this one has installed.
    monkeypatch.setattr(debian, "installed", lambda package: False)
    with pytest.raises(debian.MissingPackages, match="sudo apt-get install .*asc-music"):
        corpus_build.build(tmp_path, hours=0.01, sources_used=("recorded",), log=lambda m: None)


@needs("musescore-general-soundfont-small")
def test_a_score_renders_on_musescore_general_with_its_own_arrangement_and_is_attributed():
    item = corpus_build.PlanItem("piece", "bach/bwv396.mxl", 0, "baroque chorale", variant="musescore")
    meta, audio, _ = corpus_build.process(item, 0)
    assert meta["soundfont"].startswith("MuseScore_General") and meta["soundfont_package"].startswith("musescore")
    assert meta["piece"] == "bach/bwv396.mxl#0" and meta["id"] != hashlib.sha1(b"bach/bwv396.mxl#0").hexdigest()[:16]
    assert np.abs(audio).max() > 0.01 and meta["seconds"] > 5
    entries = sources.attribution([meta])
    assert entries == [{"soundfont": meta["soundfont"], "package": meta["soundfont_package"],
                        "licence": "MIT (parts public domain or CC0)",
                        "copyright_file": f"/usr/share/doc/{meta['soundfont_package']}/copyright"}]
