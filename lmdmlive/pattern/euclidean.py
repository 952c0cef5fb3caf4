"""Euclidean rhythms: k onsets spread as evenly as possible over n steps, rotated; each argument
may be a pattern (mini-notation "x(<3 5>,8,<0 2>)")."""
from __future__ import annotations

from .core import Pattern, fastcat, patterned, reify, silence


def bjorklund(k: int, n: int) -> list[bool]:
    """k onsets spread as evenly as possible over n steps (Toussaint's Euclidean rhythms)."""
    if n <= 0 or k <= 0:
        return [False] * max(n, 0)
    k = min(k, n)
    groups = [[True] for _ in range(k)] + [[False] for _ in range(n - k)]
    while True:
        ones = sum(1 for g in groups if g == groups[0])
        rest = len(groups) - ones
        if rest <= 1 or ones <= 1:
            break
        pairs = min(ones, rest)
        merged = [groups[i] + groups[ones + i] for i in range(pairs)]
        groups = merged + groups[pairs:ones] + groups[ones + pairs:]
    return [x for g in groups for x in g]


def euclid(pat, k, n, rotation=0) -> Pattern:
    """`pat` on the onsets of a Euclidean rhythm (k of n steps, rotated left), each step holding a
    whole cycle of `pat` (as Tidal's `euclid`). `k`, `n` and `rotation` are whole numbers or
    patterns of them: each combination of their values picks the rhythm that plays under it.

        >>> [str(h.whole.begin) for h in euclid("x", 3, 8).onsets(0, 1)]
        ['0', '3/8', '3/4']
    """
    if any(isinstance(a, Pattern) for a in (k, n, rotation)):
        return patterned(lambda k_, n_, r_: euclid(pat, k_, n_, r_), k, n, rotation)
    for name, v in (("k", k), ("n", n), ("rotation", rotation)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValueError(f"euclid: {name} must be a whole number, got {v!r}")
    if n < 1:
        raise ValueError(f"euclid: n must be at least 1, got {n}")
    bits = bjorklund(k, n)
    r = rotation % n
    bits = bits[r:] + bits[:r]
    pat = reify(pat)
    return fastcat(*[pat if b else silence() for b in bits])
