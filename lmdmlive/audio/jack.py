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


def xruns(log: str | os.PathLike, client: str) -> int:
    """How many periods `client` missed, from a JACK server's log: jackd reports each one as
    `JackEngine::XRun: client = NAME was not finished` (what a listener hears as a dropout)."""
    try:
        text = open(log, errors="replace").read()
    except OSError:
        return 0
    return text.count(f"client = {client} was not finished")


@contextlib.contextmanager
def dummy_jack(name: str | None = None, rate: int = 48000, period: int = 256, log: str | os.PathLike | None = None):
    """Start `jackd -d dummy`; yields the environment a client needs to reach it. With `log`,
    jackd's messages go to that file, where `xruns` counts each client's missed periods."""
    if shutil.which("jackd") is None:
        raise JackError("jackd is not installed (Debian package jackd2)")
    name = name or f"lmdmlive-{os.getpid()}-{next(_COUNTER)}"   # never a name a server just used
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    sink = open(log, "w") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", str(rate), "-p", str(period)], env=env,
                            stdout=sink, stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL)
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
        if log is not None:
            sink.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
