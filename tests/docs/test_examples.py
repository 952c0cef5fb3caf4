"""Every example of the user track runs, so the docs cannot go stale without a failing test.

- A ```python block runs in the namespace a performer has in the REPL and in patches
  (`lmdmlive.live.prelude.namespace`), on a Session over the manual pyo server with the
  small test model, one session per page, the page's blocks in order (a later block
  may use an earlier block's names). After each block the session plays half a second
  of audio, so that every lane, Param, prompt and morph typed is read by the engine;
  the engine must report no error.
- A block written as a REPL session (`>>> ` lines) runs line by line as the REPL runs
  it (`lmdmlive.live.repl.run_source`). A line after a statement is what the REPL
  printed: an error line (`MiniNotationError: ...`) must be exactly the one printed, and
  a statement with none shown must raise nothing.
- In any other block, each `lmdmlive ...` command line (also after `python -m` or
  `torchrun ... -m`) is parsed by the real command line: a flag that no longer exists,
  or a patch file that is not there, fails. The commands are not run here (renders and
  training are long); tests/cli runs them.
- A block is left out only under `<!-- not run: WHY -->` (tests/docs/pages.py).
- The class docstrings of Session, Stream, Delay, Param, Prompt and Midi each carry a
  `>>>` example, run the same way.
"""
from __future__ import annotations

import contextlib
import io
import os
import traceback

import numpy as np
import pytest
import soundfile as sf
import torch

from lmdmlive.audio.jack import dummy_jack
from lmdmlive.live import prelude
from lmdmlive.live.midi import Midi
from lmdmlive.live.param import Param
from lmdmlive.live.prompt import Prompt
from lmdmlive.live.repl import run_source
from lmdmlive.live.session import Session
from lmdmlive.live.delay import Delay
from lmdmlive.live.stream import Stream
from lmdmlive.model import Codec, CodecConfig, LMDM, LMDMConfig
from lmdmlive.model.default import ModelBundle
from tests.docs.pages import (FENCE, NOT_RUN, ROOT, USER_TRACK, Block, blocks, check_command, command_lines,
                              is_repl, page_id, repl_steps)
from tests.live.helpers import play

DOCSTRING_CLASSES = [Session, Stream, Delay, Param, Prompt, Midi]
AUDIO_PROMPT_LATENT_DIM = 32      # the latents the shipped audio-prompt encoder reads


def docs_bundle() -> ModelBundle:
    """The small test model: a few layers with every weight non-zero, and a small codec with
    the shipped codec's latent width, so that audio prompts go through the real shipped
    audio-prompt encoder. Fast enough to play every example; what it plays is noise."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    lmdm = LMDM(LMDMConfig(d_model=64, n_layers=2, n_heads=2, latent_dim=AUDIO_PROMPT_LATENT_DIM)).eval()
    codec = Codec(CodecConfig(latent_dim=AUDIO_PROMPT_LATENT_DIM, channels=32, encoder_layers=1,
                              decoder_layers=2)).eval()
    with torch.no_grad():
        for p in lmdm.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return ModelBundle(lmdm, codec, trained=False, source="docs test")


@pytest.fixture(scope="module")
def bundle():
    return docs_bundle()


@pytest.fixture(scope="module")
def jack_env():
    """A private dummy JACK server for the examples' MIDI ports (`midi(virtual=...)`)."""
    with dummy_jack(f"lmdm-docs-{os.getpid()}") as env:
        before = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = env["JACK_DEFAULT_SERVER"]
        try:
            yield env
        finally:
            if before is None:
                os.environ.pop("JACK_DEFAULT_SERVER", None)
            else:
                os.environ["JACK_DEFAULT_SERVER"] = before


@pytest.fixture
def namespace(manual_server, bundle, jack_env, tmp_path, monkeypatch):
    """The REPL's names on a fresh session, in a folder holding the files the examples name."""
    monkeypatch.chdir(tmp_path)
    t = np.arange(48000 * 2) / 48000
    sf.write("my_loop.wav", 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2, 48000)
    session = Session(server=manual_server, bundle=bundle, bpm=120, steps=1, guidance=1.0)
    ns = prelude.namespace(session)
    yield ns
    # Off the bus first: a bus that is replaced sends what it still plays straight to the
    # server, where effects on removed streams would go on reading them (and crash pyo).
    for obj in session.master.playing():
        session.master.remove(obj)
    session.master.uninstall()
    session.stop()
    for st in list(session.engine.streams):
        session.engine.remove_stream(st)


def run_python(block: Block, ns: dict, where: str | None = None) -> None:
    where = where or block.where
    session = ns["session"]
    if is_repl(block.text):
        for source, expected in repl_steps(block.text):
            errors, shown = [], io.StringIO()
            with contextlib.redirect_stdout(shown):
                ok = run_source(source, ns, errors.append)       # as the REPL runs a line
            if not ok:
                assert expected is not None, f"{where}: `{source}` printed {errors[0]}"
                assert errors[0] == expected, f"{where}: `{source}` printed {errors[0]!r}, the docs show {expected!r}"
            elif expected is not None:
                assert expected in shown.getvalue().splitlines(), \
                    f"{where}: `{source}` showed {shown.getvalue()!r}, the docs show {expected!r}"
    else:
        try:
            exec(compile(block.text, where, "exec"), ns)
        except Exception as e:
            pytest.fail(f"{where}: the example raised {type(e).__name__}: {e}\n{traceback.format_exc()}")
    errors = session.engine.errors
    play(session, 0.5)
    assert session.engine.errors == errors, f"{where}: the engine failed on a block after this example"


PAGES = [p for p in USER_TRACK if any(b.lang == "python" and not b.skip for b in blocks(p))]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_python_example_of_a_user_page_runs(page, namespace):
    for block in blocks(page):
        if block.lang == "python" and not block.skip:
            run_python(block, namespace)


@pytest.mark.parametrize("page", USER_TRACK, ids=page_id)
def test_every_command_line_of_a_user_page_parses(page, capsys):
    for block in blocks(page):
        if block.lang != "python" and not block.skip:
            for line in command_lines(block.text):
                check_command(line, block.where)


@pytest.mark.parametrize("cls", DOCSTRING_CLASSES, ids=lambda c: c.__name__)
def test_each_class_docstring_has_an_example_that_runs(cls, namespace):
    doc = cls.__doc__ or ""
    assert is_repl(doc), f"{cls.__name__}: its class docstring has no `>>>` example"
    run_python(Block(ROOT, 0, "python", doc, None), namespace, where=f"{cls.__name__} docstring")


def test_a_block_left_out_says_why():
    for page in USER_TRACK:
        lines = page.read_text().splitlines()
        for n, line in enumerate(lines, 1):
            if "not run" in line and line.strip().startswith("<!--"):
                m = NOT_RUN.match(line.strip())
                assert m and m.group(1), f"{page.relative_to(ROOT)}:{n}: write `<!-- not run: WHY -->`"
                assert n < len(lines) and FENCE.match(lines[n]), \
                    f"{page.relative_to(ROOT)}:{n}: a not-run marker goes on the line before a code block"
