"""200 generated bad inputs at the REPL: each gets one clear line, and the audio never stops."""
import random

import numpy as np
import pyo
import torch

from lmdmlive.live import prelude
from lmdmlive.live.repl import run_source

BS = 256

GOOD_PATTERNS = ["c4 e4 g4", "<c4 [e4 g4]>", "c4*2 ~ e4", "[c4, e4] g4", "c4(3,8)", "{c4 e4, g4 a4 b4}",
                 "c4 . e4 g4", "c4? e4", "c4@3 e4", "c4!2 e4", "c4 _ e4", "<c4 e4>/2", "c4 | e4"]
BREAKERS = [lambda p: p + " [", lambda p: p.replace("[", "", 1) + "]" if "[" in p else "(" + p,
            lambda p: p + " <", lambda p: p + "*0", lambda p: p + "/0", lambda p: p + "(3,)",
            lambda p: p + "@-1", lambda p: p + " c4!0", lambda p: p + "?2", lambda p: p + " %0",
            lambda p: p + " x9", lambda p: p + "*", lambda p: "{" + p + "}%", lambda p: p + " ..",
            lambda p: p + "(3,8,x)", lambda p: p + " ]", lambda p: p + " c4(3,100000)"]
NUMBERS = ["float('nan')", "float('inf')", "-float('inf')", "1e308", "-1e308", "10**400", "1e9", "-500"]
TYPES = ["[1, 2]", "{}", "None and 1/0", "object()", "b'c4'", "(1,)", "True", "len"]


def bad_inputs(n=200, seed=0):
    rng = random.Random(seed)
    out = []
    makers = [
        lambda: f'a.pitch = "{rng.choice(BREAKERS)(rng.choice(GOOD_PATTERNS))}"',
        lambda: f'a.{rng.choice(["loud", "bright"])} = "-10 {rng.choice(["[", "x", "-5 a", "<-5", "~~[", "(3,8"])}"',
        lambda: f"a.{rng.choice(['loud', 'bright', 'pitch', 'cfg', 'steps', 'seed', 'pan'])} = {rng.choice(NUMBERS)}",
        lambda: f"a.{rng.choice(['loud', 'pitch', 'cfg', 'steps', 'pan', 'prompt', 'rhythm'])} = {rng.choice(TYPES)}",
        lambda: rng.choice(['a.loud = "-10', 'a.pitch = c4 e4"', "stream(", "a.cfg =", "a..loud = 1",
                            "for i in range(3) print(i)", "a.cfg.ramp(", "def f(:", "a.pitch = 'c4' 'e4",
                            "1 +* 2", "a.loud = -10 -", "import", "a.cfg = = 2"])
        + rng.choice(["", " ", "  # typo"]),
        lambda: rng.choice([f"a.cfg.ramp({rng.choice(NUMBERS)}, bars=2)", f"a.cfg.ramp(3, bars={rng.choice(NUMBERS)})",
                            f"a.cfg.lfo('{rng.choice(['wobble', 'SINE', ''])}')",
                            f"a.morph('dark techno', bars={rng.choice(NUMBERS + ['0', '-1'])})",
                            f"a.stop_at(quant='{rng.choice(['soon', 'bars', ''])}')",
                            f"a.stop_at(fade={rng.choice(NUMBERS)})", f"stream(seed={rng.choice(TYPES)})",
                            f"session.clock.set_bpm({rng.choice(NUMBERS + ['0', '5000'])}, session.now())",
                            f"a.steps = {rng.choice(['0', '65', '2.5', '-3'])}", f"a.pan = {rng.choice(['2', '-0.5'])}",
                            "a.prompt = Prompt('') ", "a.prompt = Prompt('x') * -1", "a.cfg.set('<1 a>')",
                            "mini('c4 [e4')", "note('h4')", "delay(blocks=1)", "delay(route='reverse')",
                            "undefined_name + 1", "a.nothing_here", "Freeverb(a, size='big')"]),
    ]
    while len(out) < n:
        out.append(rng.choice(makers)())
    return out


def test_two_hundred_bad_inputs_each_get_a_clear_line_and_the_audio_goes_on(session):
    ns = prelude.namespace(session)
    run_source('a = stream(seed=1, name="a")\na.loud = "-14"\na.pitch = "c4 e4"\n', ns)
    a = ns["a"]
    before = {k: getattr(a, k) for k in ("loud", "pitch")}
    seconds = 12.0
    table = pyo.NewTable(length=seconds)
    rec = pyo.TableRec(a, table, fadetime=0).play()
    inputs = bad_inputs()
    buffers_per_input = int(seconds * 48000 / BS) // len(inputs)
    failures = []
    for text in inputs:
        printed = []
        ok = run_source(text, ns, printed.append)
        if ok or len(printed) != 1 or "Error" not in printed[0].split(":")[0] or "\n" in printed[0] or len(printed[0]) < 12 or ":" not in printed[0]:
            failures.append((text, ok, printed))
        for _ in range(buffers_per_input):
            while session.engine.step():
                pass
            session.server.process()
    rec.stop()
    assert not failures, failures[:10]
    out = np.asarray(table.getBuffer()).copy()[:len(inputs) * buffers_per_input * BS]
    assert not np.isnan(out).any() and np.abs(out).max() < 10
    body = out[24000:]
    windows = body[:len(body) // 4800 * 4800].reshape(-1, 4800)               # 0.1 s windows
    assert (np.sqrt((windows ** 2).mean(axis=1)) > 1e-6).all(), "the audio never stopped"
    assert a.underruns == 0 and session.engine.errors == 0
    assert ns["a"] is a and a.loud is before["loud"] and a.pitch is before["pitch"]
    from lmdmlive.engine.controls import frame_times, to_conditions
    c = a.controls_at(frame_times(0, session.bundle, session.sample_rate))
    assert torch.isfinite(to_conditions(c, session.bundle.lmdm.cfg).sketch).all()
