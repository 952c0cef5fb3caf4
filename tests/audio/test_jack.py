"""A stream played in real time through a real JACK server (`jackd -d dummy`)."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest


@pytest.fixture
def jack_server():
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed: .ci/run installs the Debian package jackd2")
    name = f"lmdm-test-{os.getpid()}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")
    proc = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", "48000", "-p", "256"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if subprocess.run(["jack_lsp"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail("jackd -d dummy did not start within 5 s")
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_twenty_seconds_in_real_time_are_continuous_and_a_stall_is_counted(jack_server):
    out = subprocess.run([sys.executable, "-m", "tests.audio.jack_play"], env=jack_server, capture_output=True,
                         text=True, timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["errors"] == 0
    assert r["underruns_before_stall"] == 0, r
    assert r["zero_run_ms_before_stall"] < 10, r
    assert r["underruns"] >= 1, "the 2 s stall must be counted"
    assert r["max_jump"] < 0.5, r
    assert r["rms_last_second"] > 0, "the stream recovers after the stall"
