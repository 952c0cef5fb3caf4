"""The bench's real-time runs: two streams and a generative delay on a real JACK server (dummy driver)."""
import json
import subprocess
import sys


from lmdmlive.audio.jack import dummy_jack
from lmdmlive.model import save_checkpoint

from tests.engine.test_engine import small_bundle


def test_two_streams_and_a_delay_run_in_real_time_with_prompt_changes_measured(tmp_path):
    bundle = small_bundle()
    save_checkpoint(bundle.lmdm, bundle.lmdm.cfg, tmp_path / "lmdm", "lmdm")
    save_checkpoint(bundle.codec, bundle.codec.cfg, tmp_path / "codec", "codec")
    opts = {"seconds": 12, "streams": 2, "delay": True, "changes": True, "model": str(tmp_path / "lmdm"),
            "codec": str(tmp_path / "codec"), "steps": 2, "guidance": 2.0}
    with dummy_jack(f"lmdm-rt-{id(opts)}") as env:
        out = subprocess.run([sys.executable, "-m", "lmdmlive.bench.realtime_run", json.dumps(opts)], env=env,
                             capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["errors"] == 0 and r["underruns"] == 0, r
    assert r["blocks"] >= 3 * 20                       # three streams kept up for 12 s of 0.48 s blocks
    assert r["changes"] >= 8                          # prompt changes every 0.4-1.2 s after 1.5 s
    # Each change is heard after at most the rest of the current block plus the lookahead queued.
    assert 0 < r["latency_p50_ms"] <= r["latency_p95_ms"] < 1000 * (r["block_seconds"] + 1.0)
    assert 0.9 < r["rss_growth"] < 1.5
    assert r["steps"] == 2


def test_the_latency_pair_is_measured_at_the_steps_asked_and_named_for_them(tmp_path):
    from lmdmlive.bench.realtime import default_block_latency, smallest_block_latency
    bundle = small_bundle()
    save_checkpoint(bundle.lmdm, bundle.lmdm.cfg, tmp_path / "lmdm", "lmdm")
    save_checkpoint(bundle.codec, bundle.codec.cfg, tmp_path / "codec", "codec")
    base = {"threads": 1, "model": str(tmp_path / "lmdm"), "codec": str(tmp_path / "codec"), "steps": 2,
            "guidance": 2.0, "float32": True}
    out = {**default_block_latency(base, 4, 6.0, "_4steps", progress=print),
           **smallest_block_latency(bundle.lmdm, bundle.codec, base, 4, 6.0, "_4steps", progress=print)}
    assert all(k.endswith("_4steps") for k in out), out          # the four-step side of the trade, kept apart
    assert out["latency_changes_4steps"] >= 4 and out["latency_underruns_4steps"] == 0, out
    assert 0 < out["latency_p95_ms_4steps"] < 1000 * (bundle.lmdm.cfg.block_seconds + 1.0), out
    assert 0 < out["block_seconds_low_4steps"] <= bundle.lmdm.cfg.block_seconds, out
    assert out["rtf_low_4steps"] >= 1.5, out


def test_an_unknown_option_is_named():
    out = subprocess.run([sys.executable, "-m", "lmdmlive.bench.realtime_run", json.dumps({"sekonds": 3})],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "sekonds" in out.stderr
