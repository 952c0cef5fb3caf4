"""The Link test's two peers, run inside a private network namespace (see test_link.py).

A Session on the manual pyo server, paced in real time, joins Link; a second process
(`link_peer.py`) is the other peer. Link finds its peers by multicast on every network
interface, so both live in a namespace whose only interface is loopback: the test's
traffic never leaves the machine. Prints one JSON line of what it measured.
"""
import json
import time

from lmdmlive.audio.server import boot_server
from lmdmlive.live.session import Session
from tests.audio.jack_child import Child
from tests.engine.test_engine import small_bundle
from tests.live.paced import Paced

QUANTUM = 4


def until(check, seconds=5.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if check():
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def main():
    server = boot_server("manual", nchnls=1, sr=48000, buffersize=256)
    server.start()
    session = Session(server=server, bundle=small_bundle(), bpm=120, engine="thread", steps=1, guidance=1.0)
    out = {}
    peer = Child(["tests.live.link_peer", "100"], None)
    peer.wait_for("ready", timeout=60)

    def ask(line):
        peer.send(line)
        return json.loads(peer.wait_for("{", timeout=10))

    def phase_ms(n=10):
        """(peer's beat - ours) at the same moments, in ms; ours from the paced schedule."""
        diffs = []
        for _ in range(n):
            t = time.monotonic() + 0.05
            theirs = ask(f"beat {t!r}")["beat"]
            ours = float(session.clock.cycle_at(round(paced.sample_of(t)))) * QUANTUM
            beats = (theirs - ours + QUANTUM / 2) % QUANTUM - QUANTUM / 2
            diffs.append(beats * 60 / session.bpm * 1000)
            time.sleep(0.05)
        return diffs

    try:
        with Paced(session) as paced:
            time.sleep(0.3)
            sync = session.link()
            out["met_s"] = until(lambda: sync.peers >= 1 and ask("get")["peers"] >= 1, 10)
            out["agreed_s"] = until(lambda: abs(session.bpm - ask("get")["tempo"]) < 0.02, 5)
            ask("tempo 133")
            out["followed_s"] = until(lambda: abs(session.bpm - 133) < 0.02)
            out["bpm_after_peer"] = session.bpm
            session.clock.set_bpm(97, session.now(), quantize="now")
            out["led_s"] = until(lambda: abs(ask("get")["tempo"] - 97) < 0.02)
            out["peer_after_here"] = ask("get")["tempo"]
            time.sleep(1.0)
            out["phase_ms"] = phase_ms()
            session.nudge = 0.05
            time.sleep(1.0)
            out["nudged_phase_ms"] = phase_ms()
            out["jumps"] = sync.jumps
            out["late_buffers"] = paced.late
    finally:
        session.stop()
        peer.close()
    print(json.dumps(out), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
