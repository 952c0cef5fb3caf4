"""The `lmdmlive` command as a performer runs it: real processes, real files."""
import hashlib
import json
import subprocess
import sys

import pytest
import soundfile as sf


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "lmdmlive", *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_the_commands():
    out = run("--help")
    assert out.returncode == 0
    assert "render" in out.stdout and "bench" in out.stdout


def test_render_writes_audio_and_the_same_seed_gives_the_same_file(tmp_path):
    a, b, c = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    for path, seed in ((a, 3), (b, 3), (c, 4)):
        out = run("render", "warm ambient pads", "--seconds", "1.5", "--out", str(path), "--seed", str(seed))
        assert out.returncode == 0, out.stderr
    audio, rate = sf.read(a)
    assert rate == 24000 and len(audio) == 36000
    assert abs(audio).max() > 0.01
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b, c)]
    assert digest[0] == digest[1] != digest[2]


def test_render_says_plainly_whether_weights_are_trained(tmp_path):
    from lmdmlive.model.default import load_default
    trained = load_default(warn=False).trained
    out = run("render", "", "--seconds", "0.5", "--out", str(tmp_path / "x.wav"), "--plot", str(tmp_path / "x.png"))
    assert out.returncode == 0
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert " s of compute" in out.stdout
    assert ("untrained" in out.stderr) == (not trained)
    assert ("untrained" in out.stdout) == (not trained)


def test_bad_arguments_get_one_clear_line_and_exit_2(tmp_path):
    out = run("render", "x", "--seconds", "-3", "--out", str(tmp_path / "x.wav"))
    assert out.returncode == 2 and "expected a number above 0 (seconds, at most 6 hours), got '-3'" in out.stderr
    out = run("render", "x", "--steps", "nine", "--out", str(tmp_path / "x.wav"))
    assert out.returncode == 2 and "steps" in out.stderr
    out = run("render", "x", "--seconds", "1", "--out", str(tmp_path / "x.mp4"))
    assert out.returncode == 2 and "must end in .wav or .flac" in out.stderr
    out = run("render", "x", "--seconds", "1", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "x.wav"))
    assert out.returncode == 2, "a checkpoint named but missing is an error, never the untrained default"
    assert len(out.stderr.strip().splitlines()) == 1 and f"--model {tmp_path / 'missing'}:" in out.stderr
    assert not (tmp_path / "x.wav").exists()


CHECKPOINT_OPTIONS = [(["render", "x", "--seconds", "0.5"], "--model"), (["render", "x"], "--codec"),
                      (["bench", "--quick", "--no-realtime"], "--model"), (["bench"], "--codec"),
                      (["eval", "codec"], "--codec"), (["eval", "model", "--quick"], "--model"),
                      (["eval", "model"], "--codec"), (["eval", "style", "folder"], "--model"),
                      (["eval", "style", "folder"], "--codec"), (["eval", "drift"], "--model"),
                      (["eval", "drift"], "--after"), (["eval", "drift"], "--codec"), (["train", "lmdm"], "--codec"),
                      (["train", "arc", "--init", "runs/x"], "--codec"), (["train", "classifier"], "--codec"),
                      (["finetune", "folder", "-o", "a"], "--model"), (["finetune", "folder", "-o", "a"], "--codec")]


@pytest.mark.parametrize("command,option", CHECKPOINT_OPTIONS)
def test_every_command_refuses_a_missing_checkpoint_path_in_one_line_naming_it(tmp_path, command, option):
    out = run(*command, option, str(tmp_path / "gone"), timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and f"{option} {tmp_path / 'gone'}:" in out.stderr


def test_eval_drift_takes_a_guidance_of_its_own_for_the_after_model():
    help_text = run("eval", "drift", "--help").stdout
    assert "--after-guidance" in help_text
    out = run("eval", "drift", "--after-guidance", "25")
    assert out.returncode == 2 and "--after-guidance" in out.stderr and "from 0 to 20" in out.stderr, out.stderr


def test_a_damaged_checkpoint_stops_render_with_its_name(tmp_path):
    from lmdmlive.model import save_checkpoint
    from lmdmlive.model.default import untrained_codec, untrained_lmdm
    lmdm, codec = untrained_lmdm(), untrained_codec()
    save_checkpoint(lmdm, lmdm.cfg, tmp_path / "lmdm", "lmdm")
    save_checkpoint(codec, codec.cfg, tmp_path / "codec", "codec")
    weights = tmp_path / "lmdm.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 1
    weights.write_bytes(bytes(data))
    out = run("render", "x", "--seconds", "0.5", "--model", str(tmp_path / "lmdm"), "--codec", str(tmp_path / "codec"),
              "--out", str(tmp_path / "x.wav"))
    assert out.returncode == 2
    assert "lmdm.safetensors: content hash" in out.stderr


def test_bench_quick_prints_a_table_and_one_json_object_on_the_last_line(tmp_path):
    # The real-time runs have their own test (tests/bench/test_realtime.py); here the offline figures, on a small
    # model with the default block length: what is tested is the command (options, table, JSON), and the same
    # measurements on the shipped model cost a minute that tests/bench/test_bench.py already spends on its parts.
    import dataclasses
    from lmdmlive.model.checkpoint import save_checkpoint
    from tests.model.helpers import SMALL_CODEC, SMALL_LMDM, small_codec, small_lmdm
    cfg = dataclasses.replace(SMALL_LMDM, block_frames=12, context_blocks=2)
    model = small_lmdm(block_frames=12, context_blocks=2)
    save_checkpoint(model, cfg, tmp_path / "lmdm", "lmdm")
    save_checkpoint(small_codec(), SMALL_CODEC, tmp_path / "codec", "codec")
    out = run("bench", "--quick", "--json", "--no-realtime", "--model", str(tmp_path / "lmdm"),
              "--codec", str(tmp_path / "codec"), "--threads", "1", timeout=900)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    results = json.loads(lines[-1])
    assert results["params_lmdm"] == model.num_params()       # the checkpoint named is the one timed
    assert results["hour_seconds"] == 600 and results["hour_blocks"] == 1250
    for key in ("kv_speedup", "flat_ratio", "rtf", "rtf_sketch", "stream_rss_growth", "matmul_fraction",
                "hour_block_time_ratio"):
        assert key in results and results[key] > 0, key
    assert results["repeats"] == 5 and "cache_growth" not in results
    assert results["timings"]["naive_block_s"]["median"] == results["naive_block_s"]
    assert any(line.startswith("kv_speedup") for line in lines)


def test_python_dash_m_and_the_console_script_are_the_same_program():
    import shutil
    exe = shutil.which("lmdmlive")
    assert exe is not None, "the console script is missing: install the package with `pip install -e .`"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "render" in out.stdout


def test_doctor_reports_each_check_and_what_to_fix():
    out = run("doctor")
    assert out.returncode in (0, 1)
    for name in ("pyo", "JACK", "portaudio", "MIDI", "default model", "text encoder", "corpus renderer"):
        assert name in out.stdout, name
    assert ("problem(s) to fix" in out.stdout) == (out.returncode == 1)


def test_the_repl_without_an_audio_server_says_what_to_start(monkeypatch):
    import os
    env = dict(os.environ, JACK_DEFAULT_SERVER="lmdm-no-such-server")
    out = subprocess.run([sys.executable, "-m", "lmdmlive", "--audio", "jack"], capture_output=True, text=True,
                         timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    assert "no JACK server answers" in out.stderr and "lmdmlive doctor" in out.stderr


def test_render_takes_sketch_lanes_and_names_a_bad_one(tmp_path):
    import soundfile as sf
    out = run("render", "", "--seconds", "1.5", "--steps", "1", "--sketch", "pitch=c4 [e4 g4]", "--sketch",
              "loud=-12 -20", "--out", str(tmp_path / "s.wav"))
    assert out.returncode == 0, out.stderr
    audio, rate = sf.read(tmp_path / "s.wav")
    assert len(audio) == int(1.5 * rate) and abs(audio).max() > 0
    out = run("render", "", "--seconds", "1", "--sketch", "pitch=c4 [e4", "--out", str(tmp_path / "t.wav"))
    assert out.returncode == 2 and "column" in out.stderr and "never closed" in out.stderr
    out = run("render", "", "--seconds", "1", "--sketch", "pitch", "--out", str(tmp_path / "t.wav"))
    assert out.returncode == 2 and "LANE=PATTERN" in out.stderr


def test_a_rendered_sketch_asks_each_frame_for_the_moment_it_sounds_in_the_file():
    import dataclasses
    from lmdmlive.cli.render import sketch_provider
    from lmdmlive.engine.controls import frame_times
    from lmdmlive.model import Codec
    from tests.engine.test_engine import small_bundle
    bundle = small_bundle()
    bundle.codec = Codec(dataclasses.replace(bundle.codec.cfg, decoder_delay=3))    # plays 720 samples late
    lane = ["pitch=c4 e4 g4"]                                     # 120 BPM: e4 from 0.667 s
    rate = bundle.codec.cfg.sample_rate
    frame = sketch_provider(lane, 120, bundle, None)(frame_times(1, bundle, rate)).pitch_note[4]   # from 0.64 s
    assert frame == 64                                                # and sounds from 0.67 s: e4
    bundle.codec = Codec(dataclasses.replace(bundle.codec.cfg, decoder_delay=0))
    assert sketch_provider(lane, 120, bundle, None)(frame_times(1, bundle, rate)).pitch_note[4] == 60


def test_train_codec_grows_a_decoder_from_init_by_the_shape_flags(tmp_path):
    import torch
    from lmdmlive.model import Codec, CodecConfig, load_codec, save_checkpoint
    from tests.train.test_codec_training import _tone_corpus
    corpus = _tone_corpus(tmp_path / "corpus")
    start_cfg = CodecConfig(channels=32, encoder_layers=1, decoder_layers=2, latent_dim=8)
    torch.manual_seed(0)
    save_checkpoint(Codec(start_cfg), start_cfg, tmp_path / "start", "codec", extra={"steps": 10})
    out = run("train", "codec", "--corpus", str(corpus), "--run", str(tmp_path / "run"), "--init",
              str(tmp_path / "start"), "--steps", "12", "--batch", "2", "--freeze-encoder", "--decoder-delay", "3",
              "--phase-head", "carried", "--export", str(tmp_path / "grown"))
    assert out.returncode == 0, out.stderr
    cfg = load_codec(tmp_path / "grown").cfg
    assert (cfg.decoder_delay, cfg.phase_head, cfg.channels, cfg.latent_dim) == (3, "carried", 32, 8)
    again = run("train", "codec", "--corpus", str(corpus), "--run", str(tmp_path / "run"), "--init",
                str(tmp_path / "start"), "--steps", "14", "--batch", "2", "--freeze-encoder", "--decoder-delay", "3",
                "--phase-head", "carried")          # the command that started it, asked for two steps more
    assert again.returncode == 0 and "at step 14" in again.stdout, again.stderr
    other = run("train", "codec", "--corpus", str(corpus), "--run", str(tmp_path / "run"), "--steps", "16",
                "--batch", "2", "--decoder-delay", "2")
    assert other.returncode != 0 and "different codec config" in other.stderr, other.stderr
    for flags, message in ((("--decoder-delay", "4"), "expected a number of STFT hops"),
                           (("--phase-head", "free"), "invalid choice: 'free'")):
        bad = run("train", "codec", "--corpus", str(corpus), "--run", str(tmp_path / "bad"), *flags)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr


def _as_in_a_terminal():
    """Ctrl-C reaches a set played in a terminal's foreground. A suite started in the background of a
    script (`pytest ... &`) inherits SIGINT ignored, as POSIX has it for background jobs, and so would
    the patch process, which then plays on through the test's Ctrl-C."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_patch_takes_record_bpm_and_audio_and_the_recording_is_complete_after_ctrl_c(tmp_path):
    import signal
    import time

    from lmdmlive.audio.jack import dummy_jack
    patch, wav, seen = tmp_path / "set.py", tmp_path / "set.wav", tmp_path / "bpm.txt"
    patch.write_text(f'a = stream("warm pads", seed=1, name="a").out()\n'
                     f'open({str(seen)!r}, "w").write(str(session.bpm))\n')
    with dummy_jack() as env:
        proc = subprocess.Popen([sys.executable, "-m", "lmdmlive", str(patch), "--record", str(wav), "--bpm", "93",
                                 "--audio", "jack"], env=env, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, preexec_fn=_as_in_a_terminal)
        try:
            deadline = time.monotonic() + 300     # a timeout for a broken build, not a speed figure
            while proc.poll() is None and time.monotonic() < deadline:
                try:                                  # the last second only: the file grows all the while
                    frames = sf.info(wav).frames
                    if abs(sf.read(wav, start=max(0, frames - 48000))[0]).max() > 0:   # the stream sounds
                        break
                except (RuntimeError, ValueError):     # not there yet, or its header is being written
                    pass
                time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGUSR1)          # the stacks of a process that did not stop
                time.sleep(2)
                proc.kill()
                _, err = proc.communicate()
                pytest.fail(f"still running 60 s after Ctrl-C; its threads:\n{err[-6000:]}")
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert seen.read_text() == "93.0"
    assert "at 93 BPM" in err and f"recording to {wav}" in err
    audio, rate = sf.read(wav)
    assert rate == 48000 and abs(audio).max() > 0


def test_a_patch_with_an_unknown_or_bad_option_says_which_in_one_line(tmp_path):
    patch = tmp_path / "set.py"
    patch.write_text("x = 1\n")
    out = run(str(patch), "--recrod", "x.wav")
    assert out.returncode == 2 and "unknown option '--recrod'" in out.stderr and len(out.stderr.splitlines()) == 1
    out = run(str(patch), "--bpm", "fast")
    assert out.returncode == 2 and "a tempo from 10 to 999 BPM" in out.stderr and len(out.stderr.splitlines()) == 1
    out = run(str(patch), "--record", str(tmp_path / "set.mp3"))
    assert out.returncode == 2 and "must end in .wav" in out.stderr
    out = run(str(patch), "--audio", "alsa")
    assert out.returncode == 2 and "'alsa'" in out.stderr
    out = run(str(tmp_path / "missing.py"), "--bpm", "90")
    assert out.returncode == 2 and "no such patch file" in out.stderr


def test_doctor_advice_follows_whether_jack_runs():
    import os

    from lmdmlive.audio.jack import dummy_jack
    env = dict(os.environ, JACK_DEFAULT_SERVER="lmdm-no-such-server")
    down = subprocess.run([sys.executable, "-m", "lmdmlive", "doctor"], capture_output=True, text=True, env=env,
                          timeout=300)
    jack_line = next(line for line in down.stdout.splitlines() if "] JACK" in line)
    assert "not running" in jack_line and "start it: jackd" in down.stdout
    with dummy_jack() as env:
        up = subprocess.run([sys.executable, "-m", "lmdmlive", "doctor"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert "a JACK server is running" in up.stdout
    assert "start JACK" not in up.stdout and "start it" not in up.stdout, up.stdout


def test_sampling_sets_how_a_checkpoint_plays_and_render_then_plays_it_so(tmp_path):
    from lmdmlive.model.checkpoint import save_checkpoint
    from lmdmlive.model.default import load_default
    shipped = load_default(warn=False, float32=True)
    save_checkpoint(shipped.lmdm, shipped.lmdm.cfg, tmp_path / "m", "lmdm")
    save_checkpoint(shipped.codec, shipped.codec.cfg, tmp_path / "c", "codec")
    out = run("sampling", str(tmp_path / "m"))
    assert out.returncode == 0 and "plays at steps 4, guidance 2, sketch_guidance 4" in out.stdout, out.stderr
    out = run("sampling", str(tmp_path / "m"), "--steps", "2", "--sketch-guidance", "2.5")
    assert out.returncode == 0 and "now plays at steps 2, guidance 2, sketch_guidance 2.5" in out.stdout, out.stderr
    out = run("render", "x", "--seconds", "0.5", "--model", str(tmp_path / "m"), "--codec", str(tmp_path / "c"),
              "--out", str(tmp_path / "x.wav"))
    assert out.returncode == 0 and "2 steps, guidance 2.0" in out.stdout, out.stdout + out.stderr
    out = run("sampling", str(tmp_path / "c"), "--steps", "2")
    assert out.returncode == 2 and "holds a 'codec' checkpoint" in out.stderr, out.stderr
    out = run("sampling", str(tmp_path / "m"), "--steps", "0")
    assert out.returncode == 2 and "--steps" in out.stderr
