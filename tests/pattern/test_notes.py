"""Note names, scales and degrees."""
import pytest

from lmdmlive.pattern import mini
from lmdmlive.pattern.notes import NoteError, note, scale_degrees, to_scale


@pytest.mark.parametrize("name, midi", [("c4", 60), ("C4", 60), ("eb3", 51), ("f#5", 78), ("a", 69), ("c-1", 0),
                                        ("bb2", 46), ("cs4", 61), ("g9", 127), (64, 64), (60.5, 60.5)])
def test_note_names(name, midi):
    assert note(name) == midi


@pytest.mark.parametrize("bad, message", [("h4", "not a note name"), ("c4x", "not a note name"),
                                          ("g#9", "outside 0..127"), (None, "a note is a name"),
                                          (True, "a note is a name")])
def test_bad_note_names_are_explained(bad, message):
    with pytest.raises(NoteError, match=message):
        note(bad)


def test_scale_degrees_wrap_into_octaves():
    assert scale_degrees("c4:minor", [0, 2, 4, 7, -1]) == [60, 63, 67, 72, 58]
    assert scale_degrees("d3:dorian", [0, 1, 2]) == [50, 52, 53]


def test_degrees_in_a_pattern():
    notes = [h.value for h in mini("0 2 4").fmap(to_scale("a3:minor pentatonic")).onsets(0, 1)]
    assert notes == [57, 62, 67]


def test_an_unknown_scale_fails_when_typed():
    with pytest.raises(NoteError, match="unknown scale 'lydianish'"):
        to_scale("c:lydianish")
