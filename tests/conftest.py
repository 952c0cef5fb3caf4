import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def _pyo_manual_server():
    from lmdmlive.audio.server import boot_server
    server = boot_server("manual", nchnls=1, sr=48000, buffersize=256)
    server.start()
    yield server
    # Not shut down: pyo frees its C server on shutdown while tables and players made by
    # the tests may still be collected later, which corrupts memory at exit.
    server.stop()


@pytest.fixture
def manual_server(_pyo_manual_server):
    """A real pyo server in manual mode: the test advances audio time one buffer per `process()`.

    Garbage is collected between tests: a pyo object freed by the cycle collector in
    the middle of another pyo call (the collector runs on any allocation) crashes pyo.
    """
    import gc
    gc.collect()
    yield _pyo_manual_server
    gc.collect()
