"""Ableton Link with a second peer in another process: tempo set on either side is followed by
the other, bars land on the Link bar, and `session.nudge` moves them.

Link finds peers by multicast on every interface, so the two peers run in a network
namespace of their own (`unshare -rn`) whose only interface is loopback.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.audio.jack_child import ROOT

PHASE_TOLERANCE_MS = 5.0       # the bar agreement docs/link.md states


def test_link_tempo_goes_both_ways_and_bars_land_on_the_link_bar_moved_by_nudge():
    pytest.importorskip("link", reason="the optional extra: pip install 'lmdmlive[link]'")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("the Link test needs `unshare` (util-linux) and `ip` (iproute2) for a private network")
    command = f"ip link set lo up && exec {sys.executable} -m tests.live.link_scene"
    run = subprocess.run(["unshare", "-rn", "sh", "-c", command], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env=dict(os.environ))
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert run.returncode == 0 and lines, run.stderr[-3000:]
    out = json.loads(lines[-1])
    print(out)
    assert out["met_s"] is not None and out["agreed_s"] is not None, out
    assert out["followed_s"] is not None and out["bpm_after_peer"] == pytest.approx(133, abs=0.02), \
        "a tempo set by the peer is followed here"
    assert out["led_s"] is not None and out["peer_after_here"] == pytest.approx(97, abs=0.02), \
        "a tempo set here reaches the peer"
    assert max(abs(d) for d in out["phase_ms"]) < PHASE_TOLERANCE_MS, out["phase_ms"]
    # nudge 50 ms: our bars land 50 ms after Link's
    assert all(abs(d - 50.0) < PHASE_TOLERANCE_MS for d in out["nudged_phase_ms"]), out["nudged_phase_ms"]
