"""How the bench takes a figure: medians of equal repetition counts, the sides of a ratio timed in turn.

The machines are shared and absolute times are noise, so every figure is a ratio of
two timings taken in the same run, each the median of `repeats` calls, taken a, b, a,
b, ... so that a slow minute of the machine slows both sides alike; the spread of the
timings and of the paired ratios goes into the JSON, so a reader sees how much a
figure moved within the run.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable


def median(xs) -> float:
    return statistics.median(xs)


def spread(xs) -> dict:
    """Median, quartiles and range of repeated timings (or ratios)."""
    xs = sorted(xs)
    q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else (xs[0], xs[0], xs[0])
    return {"median": statistics.median(xs), "q1": q1, "q3": q3, "min": xs[0], "max": xs[-1]}


def interleaved(runners: dict[str, Callable[[int], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds of `repeats` calls of each runner, taken in turn: a(1), b(1), a(2), b(2), ...

    Each runner is called once first, untimed (the first call pays for kernels and
    buffers). Taking the sides of a ratio in turn means the shared machine's drift,
    which is slow next to one call, lands on both of them alike.
    """
    for run in runners.values():
        run(0)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for i in range(1, repeats + 1):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run(i)
            times[name].append(time.perf_counter() - t0)
    return times


def ratio_figure(times: dict[str, list[float]], over: str, under: str) -> tuple[float, dict]:
    """median(over) / median(under), and the spread of the ratios of the pairs taken side by side."""
    pairs = [a / b for a, b in zip(times[over], times[under])]
    return median(times[over]) / median(times[under]), spread(pairs)
