"""A stream played in real time through a real JACK server (`jackd -d dummy`)."""
import json
import os
import subprocess
import sys




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
