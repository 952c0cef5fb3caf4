import pytest

from lmdmlive.live.session import Session
from tests.engine.test_engine import small_bundle


@pytest.fixture
def session(manual_server):
    """A Session on the shared manual pyo server with a small model; its streams are removed after."""
    s = Session(server=manual_server, bundle=small_bundle(), bpm=120, steps=1, guidance=1.0)
    yield s
    s.stop()                    # what the test opened (MIDI, OSC, Link, recorders) lets go
    for st in list(s.engine.streams):
        s.engine.remove_stream(st)
