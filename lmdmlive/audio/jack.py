"""A private JACK server on the dummy driver: real-time audio without a sound card.

The bench's soak and latency runs and the tests use it: JACK's dummy driver keeps
real time like a sound card would, so underruns and latencies are the real thing.
Each server gets its own name, so it never disturbs a performer's JACK.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import time


class JackError(RuntimeError):
    pass


_COUNTER = itertools.count()


@contextlib.contextmanager
def dummy_jack(name: str | None = None, rate: int = 48000, period: int = 256):
    """Start `jackd -d dummy`; yields the environment a client needs to reach it."""
    if shutil.which("jackd") is None:
        raise JackError("jackd is not installed (Debian package jackd2)")
    name = name or f"lmdmlive-{os.getpid()}-{next(_COUNTER)}"   # never a name a server just used
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    proc = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", str(rate), "-p", str(period)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if proc.poll() is not None:
                raise JackError(f"jackd -d dummy exited at once (code {proc.returncode})")
            if subprocess.run(["jack_lsp"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise JackError("jackd -d dummy did not answer within 10 s")
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
