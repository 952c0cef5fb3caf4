"""The other end of the OSC tests, run in its own process: a python-osc client.

Each line on stdin is JSON: {"address": ..., "args": [...]} sends a message at once;
with "at" (a `time.monotonic()` time: the same clock in every process here) it goes in a
bundle stamped with that time, as TidalCycles sends events ahead of when they sound.
Every message that comes back (`/lmdm/error`) is printed as one JSON line.
"""
import json
import socket
import sys
import threading
import time

from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder


def message(address, args):
    m = OscMessageBuilder(address)
    for a in args:
        m.add_arg(a)
    return m.build()


def main():
    target = ("127.0.0.1", int(sys.argv[1]))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))             # replies come back to this port

    def replies():
        while True:
            data, _ = sock.recvfrom(65536)
            m = OscMessage(data)
            print(json.dumps({"address": m.address, "args": list(m.params)}), flush=True)

    threading.Thread(target=replies, daemon=True).start()
    print("ready", flush=True)
    for line in sys.stdin:
        item = json.loads(line)
        m = message(item["address"], item["args"])
        if "at" in item:
            bundle = OscBundleBuilder(item["at"] + (time.time() - time.monotonic()))
            bundle.add_content(m)
            sock.sendto(bundle.build().dgram, target)
        else:
            sock.sendto(m.dgram, target)


if __name__ == "__main__":
    main()
