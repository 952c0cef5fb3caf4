"""The bench's figures: medians of equal repetition counts, sides taken in turn, and a memory figure that can fail."""
import json

import pytest
import torch

from lmdmlive.bench import timing
from lmdmlive.bench.long_run import measure_stream_churn
from lmdmlive.bench.report import to_json_line
from lmdmlive.bench.runners import measure_kv
from lmdmlive.bench.timing import interleaved, ratio_figure, spread

from ..model.helpers import small_codec, small_lmdm


def test_the_sides_of_a_ratio_are_timed_in_turn_and_equally_often():
    calls = []
    times = interleaved({"cached": lambda i: calls.append(("cached", i)), "naive": lambda i: calls.append(("naive", i))},
                        4)
    assert calls == [("cached", 0), ("naive", 0)] + [(side, i) for i in range(1, 5) for side in ("cached", "naive")]
    assert len(times["cached"]) == len(times["naive"]) == 4, "the untimed first call of each is not counted"


def test_figures_are_medians_not_minima_and_the_spread_is_reported(monkeypatch):
    ticks = iter([0.0, 1.0, 1.0, 1.5, 1.5, 4.5, 4.5, 5.5, 5.5, 9.5, 9.5, 10.5])   # start and end of each timed call
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(ticks))
    times = interleaved({"a": lambda i: None, "b": lambda i: None}, 3)
    assert times == {"a": [1.0, 3.0, 4.0], "b": [0.5, 1.0, 1.0]}
    ratio, pairs = ratio_figure(times, "a", "b")
    assert ratio == 3.0                                     # median 3.0 over median 1.0; the minima would say 2.0
    assert pairs == {"median": 3.0, "q1": 2.5, "q3": 3.5, "min": 2.0, "max": 4.0}
    assert spread([5.0]) == {"median": 5.0, "q1": 5.0, "q3": 5.0, "min": 5.0, "max": 5.0}


def test_kv_speedup_is_the_ratio_of_the_medians_with_the_repetitions_in_the_json(one_thread):
    model = small_lmdm()
    r = measure_kv(model, model.cfg.context_frames, steps=2, guidance=2.0, repeats=3)
    assert r["kv_speedup"] == r["naive_block_s"] / r["cached_block_s"]
    for key in ("cached_block_s", "naive_block_s"):
        t = r["timings"][key]
        assert t["min"] <= t["q1"] <= t["median"] == r[key] <= t["q3"] <= t["max"]
    line = json.loads(to_json_line({**r, "repeats": 3}))
    assert line["repeats"] == 3 and set(line["timings"]) == {"cached_block_s", "naive_block_s"}
    assert set(line["ratio_spread"]["kv_speedup"]) == {"median", "q1", "q3", "min", "max"}


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)            # tiny products: a second thread only waits for a busy core
    yield
    torch.set_num_threads(before)


def test_stream_memory_growth_catches_a_stream_that_leaves_memory_behind(one_thread):
    model, codec = small_lmdm(), small_codec()
    clean = measure_stream_churn(model, codec, rounds=20, warm_rounds=5)
    leaked = []
    new_cache = model.new_cache

    def leaky(batch=1):
        leaked.append(torch.ones(4 * 2 ** 20))              # 16 MB that outlive the stream
        return new_cache(batch)
    model.new_cache = leaky
    leaking = measure_stream_churn(model, codec, rounds=20, warm_rounds=5)
    assert leaking["stream_rss_growth"] > 1.1 > clean["stream_rss_growth"]
    assert clean["stream_rounds"] == 20
