"""Helpers of the JACK tests: a private dummy JACK server, and child processes read line by line."""
import os
import queue
import shutil
import subprocess
import sys
import threading

import pytest

from lmdmlive.audio.jack import dummy_jack

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def jack_server():
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed: .ci/run installs the Debian package jackd2")
    with dummy_jack(f"lmdm-live-{os.getpid()}") as env:
        yield env


class Child:
    """A process whose stdout lines arrive on a queue, so a hung child fails the test instead of hanging it."""

    def __init__(self, args, env):
        self.proc = subprocess.Popen([sys.executable, "-m", *args], env=env, cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue = queue.Queue()
        self.err: list = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err.append), daemon=True).start()

    @staticmethod
    def _pump(stream, put):
        for line in stream:
            put(line.strip())

    def wait_for(self, start: str, timeout: float = 60) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line starting {start!r} within {timeout} s; stderr: "
                                     + "\n".join(self.err[-20:])) from None
            if line.startswith(start):
                return line

    def send(self, text: str) -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)




@pytest.fixture
def jack_logged(tmp_path):
    """A dummy JACK server whose log counts each client's xruns: (environment, log path)."""
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed: .ci/run installs the Debian package jackd2")
    log = tmp_path / "jackd.log"
    with dummy_jack(f"lmdm-set-{os.getpid()}", log=log) as env:
        yield env, log
