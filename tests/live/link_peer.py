"""A second Ableton Link peer, in its own process, for the Link test.

    python -m tests.live.link_peer BPM

Joins Link at BPM and answers lines on stdin with one JSON line each:
"tempo X" sets the session's tempo, "get" gives the tempo and the number of peers,
"beat T" gives Link's beat (quantum 4) at `time.monotonic()` time T.
"""
import json
import sys
import time

import link


def main():
    peer = link.Link(float(sys.argv[1]))
    peer.enabled = True
    clock = peer.clock()
    print("ready", flush=True)
    for line in sys.stdin:
        word, *rest = line.split()
        state = peer.captureAppSessionState()
        if word == "tempo":
            state.setTempo(float(rest[0]), clock.micros())
            peer.commitAppSessionState(state)
            print(json.dumps({"tempo": float(rest[0])}), flush=True)
        elif word == "get":
            print(json.dumps({"tempo": state.tempo(), "peers": peer.numPeers()}), flush=True)
        elif word == "beat":
            micros = clock.micros() + (float(rest[0]) - time.monotonic()) * 1e6
            print(json.dumps({"beat": state.beatAtTime(int(micros), 4)}), flush=True)
    peer.enabled = False


if __name__ == "__main__":
    main()
