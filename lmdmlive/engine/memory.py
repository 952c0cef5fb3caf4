"""Resident memory of a process, for the memory budgets of the bench and the soak."""
from __future__ import annotations

import os
import resource


def rss_bytes(pid: int | str = "self") -> int:
    """Resident bytes of process `pid` (this one by default), from /proc; where /proc is
    missing, this process's peak resident size (the only figure the OS gives then)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 if pid == "self" else 0
