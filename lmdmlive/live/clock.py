"""Musical time against audio time: cycles (one cycle = one bar) at a tempo that can change.

The clock is a list of segments, each starting at a sample with a known cycle position
and a tempo. A tempo change starts a new segment at the sample where it takes effect
(by default the next bar), so cycle positions stay continuous and exact (Fractions)
however often the tempo moves. The session asks it where blocks and bars fall; patterns
are queried with the cycle spans it returns.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction

MIN_BPM, MAX_BPM = 10, 999


@dataclass(frozen=True)
class _Segment:
    sample: int
    cycle: Fraction
    bpm: Fraction


class Clock:
    def __init__(self, bpm: float = 120, beats_per_cycle: int = 4, sample_rate: int = 48000):
        if not isinstance(beats_per_cycle, int) or beats_per_cycle < 1:
            raise ValueError(f"beats per cycle must be a whole number of at least 1, got {beats_per_cycle!r}")
        self.beats_per_cycle, self.sample_rate = beats_per_cycle, int(sample_rate)
        self._segments = [_Segment(0, Fraction(0), self._check_bpm(bpm))]

    @staticmethod
    def _check_bpm(bpm) -> Fraction:
        try:
            value = Fraction(repr(bpm)) if isinstance(bpm, float) else Fraction(bpm)
        except (TypeError, ValueError):
            raise ValueError(f"tempo must be a number of beats per minute, got {bpm!r}") from None
        if not MIN_BPM <= value <= MAX_BPM:
            raise ValueError(f"tempo {float(value):g} BPM is outside {MIN_BPM}..{MAX_BPM}")
        return value

    def _cycles_per_sample(self, bpm: Fraction) -> Fraction:
        return bpm / (60 * self.sample_rate * self.beats_per_cycle)

    def _segment_at_sample(self, sample: int) -> _Segment:
        i = bisect_right([s.sample for s in self._segments], sample) - 1
        return self._segments[max(0, i)]

    @property
    def bpm(self) -> float:
        return float(self._segments[-1].bpm)

    def cycle_at(self, sample: int) -> Fraction:
        seg = self._segment_at_sample(sample)
        return seg.cycle + (sample - seg.sample) * self._cycles_per_sample(seg.bpm)

    def sample_at(self, cycle) -> int:
        """The first sample at or after `cycle`."""
        cycle = Fraction(cycle)
        i = bisect_right([s.cycle for s in self._segments], cycle) - 1
        seg = self._segments[max(0, i)]
        return seg.sample + math.ceil((cycle - seg.cycle) / self._cycles_per_sample(seg.bpm))

    def next_bar(self, sample: int) -> int:
        """The sample where the next whole cycle starts (this one, if `sample` is on a bar line)."""
        return self.sample_at(math.ceil(self.cycle_at(sample)))

    def next_boundary(self, sample: int, block_samples: int) -> int:
        """The next block boundary at or after `sample` (blocks count from sample 0)."""
        return -(-sample // block_samples) * block_samples

    def set_bpm(self, bpm, now: int, quantize: str = "bar") -> int:
        """Change the tempo at the next bar ("bar") or at `now` ("now"); returns the sample it takes effect."""
        value = self._check_bpm(bpm)
        if quantize not in ("bar", "now"):
            raise ValueError(f"quantize must be 'bar' or 'now', got {quantize!r}")
        at = self.next_bar(now) if quantize == "bar" else now
        cycle = self.cycle_at(at)               # before any segment is dropped
        # One new list, swapped in whole: the audio and engine threads read segments unlocked.
        self._segments = [s for s in self._segments if s.sample < at] + [_Segment(at, cycle, value)]
        return at

    def bpm_at(self, sample: int) -> float:
        """The tempo playing at `sample` (`bpm` is the newest, which may start at a later bar)."""
        return float(self._segment_at_sample(sample).bpm)

    def align(self, sample: int, cycle, bpm) -> None:
        """From `sample` on, be at `cycle` and play `bpm`: how an outside clock (Ableton Link)
        sets our phase. Segments from `sample` on are dropped, and so are earlier ones at or past
        `cycle` (a step back), so that cycles still grow with samples for `sample_at`."""
        value = self._check_bpm(bpm)
        cycle, sample = Fraction(cycle), int(sample)
        self._segments = [s for s in self._segments if s.sample < sample and s.cycle < cycle] + \
            [_Segment(sample, cycle, value)]

    def span(self, sample: int, samples: int) -> tuple[Fraction, Fraction]:
        """The cycle span covered by [sample, sample + samples): what a pattern is queried with."""
        return self.cycle_at(sample), self.cycle_at(sample + samples)
