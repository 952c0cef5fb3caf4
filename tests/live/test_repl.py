"""The REPL driven through prompt_toolkit's pipe input: typing, errors, completion."""
import pytest
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from lmdmlive.live.repl import LiveCompleter, is_complete, repl, run_source
from lmdmlive.pattern import mini


def drive(keys: str, namespace: dict) -> list[str]:
    printed = []
    with create_pipe_input() as inp:
        inp.send_text(keys + "\x04")       # Ctrl-D ends the session
        repl(namespace, write=printed.append, input=inp, output=DummyOutput())
    return printed


def test_typed_code_runs_in_the_namespace_and_multiline_input_waits_for_the_end():
    ns = {"mini": mini}
    drive("x = 2\rdef f(a):\r    return a * 3\r\ry = f(x)\r", ns)
    assert ns["y"] == 6


def test_an_error_prints_one_line_and_the_repl_goes_on():
    ns = {"mini": mini}
    printed = drive('p = mini("c4 [e4")\r1/0\rz = 5\r', ns)
    assert printed[0] == "MiniNotationError: pattern \"c4 [e4\" at column 4: '[' is never closed (line 1)"
    assert printed[1].startswith("ZeroDivisionError: division by zero")
    assert ns["z"] == 5


def test_a_syntax_error_names_the_column():
    out = []
    assert not run_source("a = (1 +* 2)", {}, out.append)
    assert out[0].startswith("SyntaxError:") and "column" in out[0]


def test_completion_of_names_attributes_and_prompt_words():
    ns = {"stream_a": 1, "session": None, "mini": mini}
    comp = LiveCompleter(ns)
    names = [c.text for c in comp.get_completions(Document("str"), None)]
    assert names == ["stream_a"]
    ns["p"] = mini("a b")
    assert "fast" in [c.text for c in comp.get_completions(Document("p.fa"), None)]
    words = [c.text for c in comp.get_completions(Document('a.prompt = "dusty hip'), None)]
    assert words == ["hip hop"]


@pytest.mark.parametrize("source, complete", [("x = 1\n", True), ("def f():\n", False), ("(1,\n", False),
                                              ("for i in range(3):\n    pass\n\n", True), ("1 +* 2\n", True)])
def test_enter_runs_complete_input_and_continues_incomplete_input(source, complete):
    assert is_complete(source) == complete


def test_the_status_bar_redraws_with_no_key_pressed(session, monkeypatch):
    import threading

    from lmdmlive.live import repl as repl_module
    drawn = []
    real = repl_module.status_line
    monkeypatch.setattr(repl_module, "status_line", lambda ns: drawn.append(1) or real(ns))
    with create_pipe_input() as inp:
        def quit_after_redraws():
            for _ in range(600):                 # up to a minute; a redraw comes every 0.05 s
                if len(drawn) >= 5:
                    break
                threading.Event().wait(0.1)
            inp.send_text("\x04")
        t = threading.Thread(target=quit_after_redraws)
        t.start()
        repl({"session": session}, write=lambda s: None, input=inp, output=DummyOutput(), refresh_interval=0.05)
        t.join()
    assert len(drawn) >= 5, "the bar was drawn again and again with no key pressed"


def test_the_status_bar_shows_tempo_bar_rtf_underruns_and_xruns_and_peak_when_measured(session):
    from lmdmlive.live.repl import status_line
    session.stream(seed=1)
    line = status_line({"session": session})
    for part in ("120 BPM", "bar 1.1", "rtf ", "underruns 0", "streams 1"):
        assert part in line, part
    assert "xruns" not in line, "a manual server keeps no real time: no xruns to show"
    assert "peak -inf dB" in line or "peak -" in line, "the master bus's peak"
    session._counter.period, session._counter.missed = 256 / 48000, 3     # as on a real-time server
    line = status_line({"session": session})
    assert "xruns 3" in line
