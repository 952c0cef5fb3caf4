"""Fixtures of the JACK tests: private dummy JACK servers, started and stopped by each test."""
import os
import shutil

import pytest

from lmdmlive.audio.jack import dummy_jack


@pytest.fixture
def jack_server():
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed: .ci/run installs the Debian package jackd2")
    with dummy_jack(f"lmdm-live-{os.getpid()}") as env:
        yield env


@pytest.fixture
def jack_logged(tmp_path):
    """A dummy JACK server whose log counts each client's xruns: (environment, log path)."""
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed: .ci/run installs the Debian package jackd2")
    log = tmp_path / "jackd.log"
    with dummy_jack(f"lmdm-set-{os.getpid()}", log=log) as env:
        yield env, log
