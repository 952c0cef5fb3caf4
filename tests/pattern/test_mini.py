"""Mini-notation, as TidalCycles and Strudel define it: each test reads as a line of the docs."""
import random
from fractions import Fraction as Fr

import pytest

from lmdmlive.pattern import MiniNotationError, mini


def events(text, begin=0, end=1):
    """(start, stop, value) of every event whose start lies in [begin, end), sorted."""
    return sorted((h.whole.begin, h.whole.end, h.value) for h in mini(text).onsets(begin, end))


def values(text, begin=0, end=1):
    return [v for _, _, v in events(text, begin, end)]


def test_a_sequence_divides_the_cycle_equally():
    assert events("c4 e4 g4") == [(0, Fr(1, 3), "c4"), (Fr(1, 3), Fr(2, 3), "e4"), (Fr(2, 3), 1, "g4")]


def test_numbers_become_numbers_and_names_stay_names():
    assert values("0 1.5 -2 eb3") == [0, 1.5, -2, "eb3"]


def test_rests_take_their_step():
    assert events("a ~ b -") == [(0, Fr(1, 4), "a"), (Fr(1, 2), Fr(3, 4), "b")]


def test_brackets_squeeze_a_sequence_into_one_step():
    assert events("a [b c]") == [(0, Fr(1, 2), "a"), (Fr(1, 2), Fr(3, 4), "b"), (Fr(3, 4), 1, "c")]


def test_angle_brackets_play_one_per_cycle():
    assert [values("<a b c>", c, c + 1) for c in range(4)] == [["a"], ["b"], ["c"], ["a"]]


def test_alternation_inside_a_sequence():
    assert [values("x <a b>", c, c + 1) for c in range(2)] == [["x", "a"], ["x", "b"]]


def test_star_speeds_up_and_slash_slows_down():
    assert values("a*3") == ["a", "a", "a"]
    assert events("a/2", 0, 2) == [(0, 2, "a")]
    assert events("[a b]/2", 0, 2) == [(0, 1, "a"), (1, 2, "b")]


def test_a_patterned_factor_changes_per_cycle():
    assert [len(values("a*<2 3>", c, c + 1)) for c in range(3)] == [2, 3, 2]


def test_bang_repeats_and_underscore_and_at_elongate():
    assert values("a!3 b") == ["a", "a", "a", "b"]
    assert values("a ! b") == ["a", "a", "b"]
    assert events("a@3 b") == [(0, Fr(3, 4), "a"), (Fr(3, 4), 1, "b")]
    assert events("a _ _ b") == events("a@3 b")


def test_commas_stack_layers():
    assert events("a, b c") == [(0, Fr(1, 2), "b"), (0, 1, "a"), (Fr(1, 2), 1, "c")]


def test_euclidean_rhythms_follow_bjorklund():
    starts = [s for s, _, _ in events("x(3,8)")]
    assert starts == [0, Fr(3, 8), Fr(6, 8)]
    rotated = [s for s, _, _ in events("x(3,8,2)")]
    assert rotated == [Fr(1, 8), Fr(4, 8), Fr(6, 8)]
    assert len(events("x(5,8)")) == 5 and len(events("x(0,8)")) == 0


def test_braces_make_polymeters_with_the_first_layer_setting_the_steps():
    assert [values("{a b c, d e}", c, c + 1) for c in range(2)] == [["a", "d", "b", "e", "c", "d"],
                                                                    ["a", "e", "b", "d", "c", "e"]]
    assert values("{a b c}%4") == ["a", "b", "c", "a"]


def test_dots_group_without_brackets():
    assert events("a . b c") == events("[a] [b c]")


def test_ranges_expand_to_steps():
    assert values("0 .. 3") == [0, 1, 2, 3]
    assert values("3 .. 1") == [3, 2, 1]


def test_question_mark_drops_about_half_the_events_the_same_way_every_time():
    kept = [len(mini("x*8?").onsets(c, c + 1)) for c in range(50)]
    assert 120 < sum(kept) < 280
    assert kept == [len(mini("x*8?").onsets(c, c + 1)) for c in range(50)]
    assert sum(len(mini("x*8?0.9").onsets(c, c + 1)) for c in range(50)) < 100


def test_bar_chooses_one_option_per_cycle():
    seen = {tuple(values("a | b | c", c, c + 1)) for c in range(40)}
    assert seen == {("a",), ("b",), ("c",)}


def test_time_is_exact_after_many_cycles():
    h = mini("a b c").onsets(10 ** 6, 10 ** 6 + 1)
    assert [x.whole.begin for x in h] == [10 ** 6, 10 ** 6 + Fr(1, 3), 10 ** 6 + Fr(2, 3)]


def test_query_returns_fragments_with_whole_and_part():
    (h,) = mini("a/2").query(Fr(1, 2), 1)
    assert h.whole == (0, 2) and h.part == (Fr(1, 2), 1) and not h.has_onset()


@pytest.mark.parametrize("text, column, message", [
    ("c4 [e4", 4, "'[' is never closed"),
    ("c4 ]", 4, "']' closes a bracket that was never opened"),
    ("<a b", 1, "'<' is never closed"),
    ("[a <b c]", 8, "expected '>' but found ']'"),
    ("a*", 3, "the factor after '*' must be a number"),
    ("a*0", 3, "must be above 0"),
    ("a@0", 3, "the weight after '@' must be above 0"),
    ("x(3,8", 3, "a Euclidean rhythm is written"),
    ("x(3.5,8)", 3, "takes whole numbers"),
    ("a , | b", 5, "cannot be mixed"),
    ("_ a", 1, "'_' extends a step"),
    ("a?2", 3, "between 0 and 1"),
    ("a*99999999", 3, "too large"),
    ("0 .. 99999", 3, "too long"),
])
def test_mistakes_name_the_column_and_the_problem(text, column, message):
    with pytest.raises(MiniNotationError) as info:
        mini(text)
    assert info.value.column == column
    assert message in str(info.value)
    assert str(info.value).startswith(f'pattern "{text}" at column {column}:')


def test_random_junk_gives_a_mini_notation_error_or_a_pattern_never_a_crash():
    rng = random.Random(0)
    alphabet = "ab0129 ~-[]<>{}(),|*/!@_?%.:"
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        try:
            pat = mini(text)
        except MiniNotationError:
            continue
        pat.query(0, 2)          # a pattern that parses must also play


def test_non_text_is_a_type_error():
    with pytest.raises(TypeError, match="mini-notation must be a string"):
        mini(42)


def test_euclidean_arguments_can_be_patterns():
    p = mini("x(<3 5>,8,<0 2>)")
    assert [h.whole.begin for h in p.query(0, 1)] == [Fr(0), Fr(3, 8), Fr(3, 4)]
    # 5 of 8 rotated left by 2: x x . x x . x .
    assert [h.whole.begin - 1 for h in p.query(1, 2)] == [Fr(k, 8) for k in (0, 1, 3, 4, 6)]
