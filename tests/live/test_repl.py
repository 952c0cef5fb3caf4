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
