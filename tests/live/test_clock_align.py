"""Clock.align, how Ableton Link sets the clock's phase: a step either way, cycles still in order."""
from fractions import Fraction

from lmdmlive.live.clock import Clock


def test_align_steps_the_phase_forward_or_back_and_sample_at_still_inverts_cycle_at():
    clock = Clock(120, 4, 48000)                  # a bar is 2 s, 96000 samples
    clock.set_bpm(100, 1, quantize="bar")        # from the next bar, sample 96000
    assert clock.bpm_at(95999) == 120 and clock.bpm_at(96000) == 100 and clock.bpm == 100
    clock.align(48000, Fraction(1, 2) + Fraction(1, 100), 133)       # 1/100 bar ahead, a new tempo
    assert clock.bpm_at(47999) == 120 and clock.bpm_at(48000) == clock.bpm == 133, "later segments dropped"
    assert clock.cycle_at(48000) == Fraction(51, 100)
    clock.align(96000, clock.cycle_at(96000) - Fraction(1, 50), 133)   # a step back
    assert clock.cycle_at(96000) < clock.cycle_at(95999), "stepped back"
    cycles = [clock.cycle_at(s) for s in range(96000, 200000, 1000)]
    assert cycles == sorted(cycles)
    for s in (0, 47999, 48000, 96000, 150000):
        assert clock.sample_at(clock.cycle_at(s)) == s
