"""The soak as a listener hears it: gaps found in a recording, and one short soak on JACK."""
import numpy as np

from lmdmlive.bench.soak_live import gaps, soak

SR = 48000


def test_gaps_are_runs_of_digital_silence_after_the_music_started():
    x = np.full((5 * SR, 2), 0.1, dtype=np.float32)
    x[:SR] = 0.0                                         # before the first sound: not a gap
    x[2 * SR:2 * SR + 480] = 0.0                         # 10 ms: too short to count
    x[3 * SR:3 * SR + 1440] = 0.0                        # 30 ms: a gap
    x[3 * SR + 5000:3 * SR + 7000, 0] = 0.0              # one channel only: still sound
    g = gaps(x, SR, start_after=0.5)
    assert g["gaps"] == 1 and abs(g["gap_ms_max"] - 30.0) < 0.1 and g["gap_at"] == [3.0]
    assert gaps(np.zeros((SR, 2), np.float32), SR)["gaps"] is None, "nothing heard is not 'no gaps'"


def test_a_short_soak_counts_xruns_of_both_clients_and_hears_the_output():
    r = soak(12.0, progress=lambda *_: None)
    for key in ("soak_xruns", "soak_xruns_floor", "soak_underruns", "soak_errors"):
        assert isinstance(r[key], int) and r[key] >= 0, key
    assert r["soak_heard_seconds"] > 6.0, r
    assert 0.01 < r["soak_peak"] <= 1.0, r
    assert r["soak_errors"] == 0 and r["soak_blocks"] >= 3 * 12, r
    print(r)
