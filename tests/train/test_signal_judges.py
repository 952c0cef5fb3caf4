"""Signal judges on synthetic signals whose answer is known: clicks at a tempo, drums against a chord, a key."""
import numpy as np
import pytest

from lmdmlive.train import signal_judges as sj

RATE = 22050


def click_track(bpm: float, seconds: float = 12.0, rate: int = RATE) -> np.ndarray:
    audio = np.zeros(int(rate * seconds), dtype=np.float32)
    t = np.arange(int(0.01 * rate)) / rate
    click = (np.sin(2 * np.pi * 1500 * t) * np.exp(-t * 400)).astype(np.float32)
    for k in range(int(seconds * bpm / 60)):
        i = int(round(k * 60 / bpm * rate))
        audio[i:i + len(click)] += click[: len(audio) - i]
    return audio


def drum_pattern(bpm: float = 110.0, seconds: float = 8.0, rate: int = RATE) -> np.ndarray:
    """Kick on the beats, a noise snare on the off-beats, a hi-hat on every eighth."""
    rng = np.random.default_rng(0)
    audio = np.zeros(int(rate * seconds), dtype=np.float32)
    eighth = 30.0 / bpm
    for k in range(int(seconds / eighth)):
        i, n = int(k * eighth * rate), int(0.15 * rate)
        t = np.arange(min(n, len(audio) - i)) / rate
        hit = 0.1 * rng.standard_normal(len(t)) * np.exp(-t * 80)                  # hat
        if k % 4 == 0:
            hit += 0.8 * np.sin(2 * np.pi * (50 + 80 * np.exp(-t * 30)) * t) * np.exp(-t * 20)   # kick
        elif k % 4 == 2:
            hit += 0.4 * rng.standard_normal(len(t)) * np.exp(-t * 30)            # snare
        audio[i:i + len(t)] += hit
    return audio


def chord(freqs, seconds: float = 8.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    # Partials make it sound like an instrument rather than sines; the level is steady (a held chord).
    return sum(0.15 / h * np.sin(2 * np.pi * f * h * t) for f in freqs for h in (1, 2, 3)).astype(np.float32)


C_MAJOR = (261.63, 329.63, 392.00)


def midi_hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def cadence(chords, seconds_each: float = 2.0) -> np.ndarray:
    """Chords of MIDI notes one after another: a cadence names its key where one triad cannot."""
    return np.concatenate([chord([midi_hz(n) for n in notes], seconds_each) for notes in chords])


@pytest.mark.parametrize("bpm", [72, 90, 120, 128, 140, 174])
@pytest.mark.parametrize("rate", [22050, 48000])
def test_a_click_track_reads_its_tempo_within_4_percent_or_at_double_or_half(bpm, rate):
    got = sj.tempo_bpm(click_track(bpm, rate=rate), rate)
    assert any(abs(got - bpm * f) <= 0.04 * bpm * f for f in (1.0, 2.0, 0.5)), got


def test_a_steady_tempo_in_the_usual_range_is_not_read_at_another_octave():
    for bpm in (80, 100, 120, 135):
        assert sj.tempo_bpm(click_track(bpm), RATE) == pytest.approx(bpm, rel=0.04)


def test_silence_and_a_held_chord_have_no_tempo():
    assert sj.tempo_bpm(np.zeros(RATE * 4, dtype=np.float32), RATE) == 0.0
    assert sj.tempo_bpm(chord(C_MAJOR), RATE) == 0.0


def test_drums_are_heard_alone_and_under_a_louder_chord_but_a_chord_is_not_drums():
    drums, held = drum_pattern(), chord(C_MAJOR)
    assert sj.drums_present(drums, RATE)
    assert sj.drums_present(0.5 * drums + held, RATE)
    assert not sj.drums_present(held, RATE)
    assert not sj.drums_present(0.1 * np.random.default_rng(3).standard_normal(RATE * 5), RATE)   # steady noise
    assert sj.percussive_ratio(drums, RATE) > 3 * sj.percussive_ratio(held, RATE)


def test_the_drum_pattern_reads_its_tempo():
    got = sj.tempo_bpm(drum_pattern(110.0), RATE)
    assert got == pytest.approx(110.0, rel=0.04) or got == pytest.approx(220.0, rel=0.04)


def test_the_key_of_a_cadence_in_c_major_and_in_a_minor():
    c_major = cadence([(48, 64, 67, 72), (53, 65, 69, 72), (55, 62, 67, 71), (48, 64, 67, 72)])    # I IV V I
    a_minor = cadence([(45, 64, 69, 72), (50, 62, 65, 69), (52, 64, 68, 71), (45, 64, 69, 72)])    # i iv V i
    assert sj.key_estimate(c_major, RATE)[0] == "C major"
    assert sj.key_estimate(a_minor, RATE)[0] == "A minor"
    assert sj.key_estimate(cadence([(n + 2, ) for n in (48, 52, 55, 60)] * 2), RATE)[0] == "D major"  # an arpeggio
    assert sj.key_estimate(np.zeros(RATE, dtype=np.float32), RATE) == ("", 0.0)


def test_brightness_rises_with_the_pitch_and_onsets_count_the_notes():
    low, high = chord((110.0,)), chord((1760.0,))
    assert sj.centroid_hz(low, RATE) < 400 < 2000 < sj.centroid_hz(high, RATE)
    assert sj.onset_rate(click_track(120, seconds=10), RATE) == pytest.approx(2.0, rel=0.15)
    assert sj.onset_rate(click_track(240, seconds=10), RATE) == pytest.approx(4.0, rel=0.15)


def test_describe_gives_every_field_and_stereo_is_accepted():
    stereo = np.stack([drum_pattern(), drum_pattern()], axis=1)
    d = sj.describe(stereo, RATE)
    assert set(d) == {"tempo", "key", "key_strength", "centroid_hz", "onset_rate", "percussive_ratio", "drums"}
    assert d["drums"] is True and d["tempo"] > 0
