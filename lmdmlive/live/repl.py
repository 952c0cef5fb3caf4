"""The REPL: Python with lmdmlive's namespace, where a mistake never stops the music.

Enter runs the input when it is a complete statement and opens a new line when it is
not (an open bracket, a `def`, a trailing colon). An exception prints one line
(`ValueError: pattern "c4 [e4" at column 4: '[' is never closed`) and the streams play
on. Tab completes names, attributes (a stream's lanes, Params and methods) and common
prompt words; the bottom bar, redrawn twice a second, shows tempo, bar, real-time factor,
lookahead, underruns, and xruns and peak where the session measures them.
"""
from __future__ import annotations

import ast
import codeop
import traceback
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.lexers import PygmentsLexer
from pygments.lexers.python import PythonLexer

PROMPT_WORDS = (
    "ambient", "acid", "bass", "bells", "bright", "calm", "choir", "chorale", "dark", "deep", "dreamy", "drums",
    "driving", "dub", "dusty", "energetic", "folk", "funk", "groovy", "guitar", "hip hop", "house", "hypnotic",
    "jazz", "laid-back", "lead", "mellow", "minimal", "organ", "pad", "piano", "reggae", "rhodes", "slow",
    "sparse", "strings", "synth", "techno", "warm", "whistle",
)


class LiveCompleter(Completer):
    """Names of the namespace, attributes after a dot, and prompt words inside a string."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def get_completions(self, document, complete_event):
        text = document.text_before_cursor
        if text.count('"') % 2 == 1 or text.count("'") % 2 == 1:      # inside a string: prompt words
            word = text.split()[-1].lstrip("\"'") if text.split() else ""
            for w in PROMPT_WORDS:
                if w.startswith(word) and word:
                    yield Completion(w, start_position=-len(word))
            return
        token = ""
        for ch in reversed(text):
            if ch.isalnum() or ch in "_.":
                token = ch + token
            else:
                break
        if "." in token:
            base, _, part = token.rpartition(".")
            try:
                obj = eval(base, self.namespace)          # only names and attributes: no calls
            except Exception:      # an unfinished expression has nothing to complete
                return
            names = [n for n in dir(obj) if not n.startswith("_")]
        else:
            part = token
            names = [n for n in self.namespace if not n.startswith("_")]
        for n in sorted(names):
            if n.startswith(part) and part:
                yield Completion(n, start_position=-len(part))


def is_complete(source: str) -> bool:
    """True when Enter should run the input (a complete statement, or one with a syntax error to report)."""
    if not source.strip():
        return True
    if source.endswith("\n\n"):
        return True
    try:
        return codeop.compile_command(source, "<live>", "single") is not None
    except (SyntaxError, ValueError, OverflowError):
        return True


def run_source(source: str, namespace: dict, write=print) -> bool:
    """Run one input; returns False (after one clear line) when it raised."""
    try:
        # Pasted blocks hold several statements: each runs in turn, and an expression on
        # its own shows its value, as at Python's prompt.
        tree = ast.parse(source, "<live>", "exec")
        for node in tree.body:
            if isinstance(node, ast.Expr):
                code = compile(ast.Interactive(body=[node]), "<live>", "single")
            else:
                code = compile(ast.Module(body=[node], type_ignores=[]), "<live>", "exec")
            exec(code, namespace)
        return True
    except SystemExit:
        raise
    except BaseException as e:     # the performer's code may raise anything; the set goes on
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f" (line {f.lineno})" for f in reversed(tb) if f.filename == "<live>"), "")
        if isinstance(e, SyntaxError):
            where = f" (line {e.lineno}, column {e.offset})"
            write(f"SyntaxError: {e.msg}{where}")
        else:
            write(f"{type(e).__name__}: {e}{where}")
        return False


def status_line(namespace: dict) -> str:
    """The bottom bar: tempo, bar.beat, real-time factor, lookahead, underruns, and the server's
    xruns and output peak where the session measures them."""
    session = namespace.get("session")
    if session is None:
        return " lmdmlive (no audio session)"
    try:
        m = session.engine.metrics()
        bar = float(session.clock.cycle_at(session.now()))
        look = min(m["lookahead_ms"].values()) if m["lookahead_ms"] else 0.0
        rtf = f"{m['rtf']:.1f}" if m["rtf"] == m["rtf"] else "-"       # NaN before the first block
        parts = [f"{session.bpm:.0f} BPM", f"bar {int(bar) + 1}.{int((bar % 1) * 4) + 1}", f"rtf {rtf}",
                 f"lookahead {look:.0f} ms", f"underruns {m['underruns']}"]
        xruns, peak = _measured(session, "xruns"), _measured(session, "peak")
        if xruns is not None:
            parts.append(f"xruns {xruns}")
        if peak is not None:
            parts.append(f"peak {peak:.1f} dB")
        parts.append(f"streams {len(session.engine.streams)}")
        return " " + " | ".join(parts)
    except Exception as e:      # redrawn on a timer: a failing read must not take the REPL down
        return f" lmdmlive (status unavailable: {type(e).__name__})"


def _measured(session, name):
    """A figure the session may provide (an attribute or a method), or None."""
    value = getattr(session, name, None)
    if callable(value):
        value = value()
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


STATUS_REFRESH_SECONDS = 0.5


def make_prompt_session(namespace: dict, history: Path | None = None,
                        refresh_interval: float = STATUS_REFRESH_SECONDS, **kwargs) -> PromptSession:
    """The prompt_toolkit session of the REPL; the bottom bar redraws every `refresh_interval`
    seconds on its own, not only on a key press."""
    bindings = KeyBindings()

    @bindings.add("enter")
    def _(event):
        buf = event.current_buffer
        if is_complete(buf.text + "\n"):
            buf.validate_and_handle()
        else:
            buf.insert_text("\n")

    return PromptSession(
        lexer=PygmentsLexer(PythonLexer), completer=LiveCompleter(namespace), multiline=True,
        key_bindings=bindings, history=FileHistory(str(history)) if history else InMemoryHistory(),
        bottom_toolbar=lambda: status_line(namespace), prompt_continuation="... ",
        refresh_interval=refresh_interval, **kwargs)


def repl(namespace: dict, history: Path | None = None, write=print, **kwargs) -> None:
    """Read, run, repeat, until EOF (Ctrl-D); Ctrl-C clears the line and keeps going."""
    session = make_prompt_session(namespace, history, **kwargs)
    while True:
        try:
            text = session.prompt(">>> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if text.strip():
            run_source(text, namespace, write)
