"""A text progress bar with an ETA for long commands, on stderr so stdout stays parseable.

A leaf module (imports nothing of lmdmlive) so every layer may use it.
"""
from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, label: str, total: int, stream=None, width: int = 30, min_interval: float = 0.1):
        self.label, self.total, self.width = label, max(1, int(total)), width
        self.first: int | None = None        # where this run started (a resumed job starts part-way)
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.min_interval = min_interval
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = max(1, int(total))
        now = time.monotonic()
        if done < self.total and now - self._last < self.min_interval:
            return
        self._last = now
        if self.first is None:
            self.first = max(0, done - 1)
        frac = min(1.0, done / self.total)
        filled = int(frac * self.width)
        elapsed = now - self.start
        rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {elapsed:5.1f}s elapsed, ETA {eta:5.1f}s")
        if done >= self.total:
            self.stream.write("\n")
        self.stream.flush()
