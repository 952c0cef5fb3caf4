"""The other end of the MIDI clock out test, in its own process: what a drum machine hears.

    python -m tests.live.midi_clock_reader (--connect PORT | --virtual NAME)

Reads MIDI over JACK (python-rtmidi): `--connect` opens an output of lmdmlive's by (part
of) its name, `--virtual` makes an input of its own for lmdmlive to open by name. Prints
"ready", then every message with the `time.monotonic()` it arrived at (the same clock in
every process here), as one JSON line when "quit" comes on stdin.
"""
import argparse
import json
import sys
import time

import rtmidi


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connect")
    parser.add_argument("--virtual")
    args = parser.parse_args()
    heard = []
    midi = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="reader")
    midi.ignore_types(sysex=True, timing=False, active_sense=True)
    midi.set_callback(lambda event, _: heard.append((time.monotonic(), event[0])))
    if args.virtual:
        midi.open_virtual_port(args.virtual)
    else:
        for _ in range(100):
            names = midi.get_ports()
            match = [i for i, n in enumerate(names) if args.connect in n]
            if match:
                midi.open_port(match[0])
                break
            time.sleep(0.05)
        else:
            sys.exit(f"no MIDI output matches {args.connect!r}: {names}")
    print("ready", flush=True)
    sys.stdin.readline()
    midi.cancel_callback()
    print(json.dumps(heard), flush=True)


if __name__ == "__main__":
    main()
