"""Booting the pyo server: JACK when a JACK server runs, else portaudio; offline and manual for tests.

The server opens input ports where the backend has them (JACK: `lmdmlive:input_1` and
`_2`; portaudio: when the default device records; manual: one silent input; offline:
none) and notes how many on `server.lmdm_inputs`; `open_input` refuses, with what to do,
when there is none.

One callback per server runs at the start of every buffer; the stream players and
the input capture register into it here, so any number of them share pyo's single
callback slot.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys

import pyo

MODES = ("auto", "jack", "portaudio", "offline", "manual")


class AudioServerError(RuntimeError):
    pass


class NoAudioInputError(AudioServerError):
    """The server has no input channel to listen to."""


class MissingInput:
    """What `live_input` is on a server with no input: using it raises why, where it is used."""

    def __init__(self, error: NoAudioInputError):
        self.error = error

    def __getattr__(self, name):
        raise NoAudioInputError(str(self.error))

    def __repr__(self) -> str:
        return f"<no live input: {self.error}>"


@contextlib.contextmanager
def quiet_c_stderr():
    """ALSA and portaudio print pages of probing noise from C; our own messages say what matters."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def portaudio_outputs() -> int:
    """How many portaudio devices there are (pyo's portaudio boot crashes the process when there is none)."""
    try:
        with quiet_c_stderr():
            return int(pyo.pa_count_devices()) if pyo.pa_get_default_output() >= 0 else 0
    except Exception:      # portaudio raises various errors when no host API answers
        return 0


def portaudio_inputs() -> int:
    """Input channels of portaudio's default input device (0 when there is none)."""
    try:
        with quiet_c_stderr():
            dev = pyo.pa_get_default_input()
            return max(0, int(pyo.pa_get_input_max_channels(dev))) if dev >= 0 else 0
    except Exception:      # as above: no host API, no device
        return 0


def jack_running() -> bool:
    exe = shutil.which("jack_lsp")
    if exe is None:
        return False
    try:
        return subprocess.run([exe], capture_output=True, timeout=3).returncode == 0
    except (subprocess.TimeoutExpired, OSError):
        return False


def boot_server(mode: str = "auto", sr: int = 48000, nchnls: int = 2, buffersize: int = 256,
                inputs: int | None = None, jack_name: str = "lmdmlive") -> pyo.Server:
    """A booted (not started) pyo server; errors say which backend failed and what to try.

    `inputs`: input channels to open; None opens up to 2 where the backend has them (JACK
    always, as ports `<jack_name>:input_N`; portaudio when the default device records;
    manual one, silent; offline none); 0 opens none. `server.lmdm_inputs` says how many opened.
    """
    if mode not in MODES:
        raise AudioServerError(f"unknown audio mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "auto":
        mode = "jack" if jack_running() else "portaudio"
    if mode == "jack" and not jack_running():
        raise AudioServerError("no JACK server answers (jack_lsp failed): start one, e.g. `jackd -d alsa` "
                               "or `jackd -d dummy`")
    if mode == "portaudio" and portaudio_outputs() == 0:
        raise AudioServerError("portaudio finds no audio output device: start JACK (`jackd -d alsa`, or "
                               "`jackd -d dummy` on a machine without a sound card), or render offline with "
                               "`lmdmlive render`")
    available = {"jack": 2, "portaudio": None, "offline": 0, "manual": 1}[mode]
    if available is None:
        available = min(2, portaudio_inputs())
    ichnls = available if inputs is None else (min(int(inputs), available) if mode == "portaudio" else int(inputs))
    if mode == "offline":
        ichnls = 0
    if ichnls < 0:
        raise AudioServerError(f"inputs={inputs}: the number of input channels is 0 or more")
    kwargs = dict(sr=sr, nchnls=nchnls, buffersize=buffersize, duplex=int(ichnls > 0), ichnls=max(1, ichnls))
    if mode == "jack":
        server = pyo.Server(audio="jack", jackname=jack_name, **kwargs)
    else:
        server = pyo.Server(audio=mode, **kwargs)
    server.setVerbosity(1)
    server.boot()
    if not server.getIsBooted():
        hint = "is jackd running?" if mode == "jack" else "is an audio device present? `lmdmlive doctor` checks"
        raise AudioServerError(f"the pyo server did not boot with audio={mode!r}: {hint}")
    server.lmdm_mode = mode
    server.lmdm_inputs = ichnls
    return server


def open_input(server, chnl: int = 0) -> pyo.Input:
    """Input channel `chnl` (0 is the first) of a server from `boot_server`, as a pyo object.

    Raises NoAudioInputError, saying what to do, when the server opened no such input
    (instead of a pyo.Input that plays silence forever)."""
    have = getattr(server, "lmdm_inputs", None)       # None: a server booted elsewhere; trust it
    if have is not None and chnl >= have:
        mode = getattr(server, "lmdm_mode", "?")
        why = {"offline": "it renders offline, with no audio device",
               "portaudio": "portaudio's default device has no input channel"}.get(
            mode, f"it was booted with {have} input channel(s)")
        raise NoAudioInputError(
            f"the audio server has no input {chnl + 1} ({why}): plug in or choose a device that records, or "
            "run on JACK (`jackd -d alsa`, then `lmdmlive --audio jack`; connect a source to lmdmlive:input_1), "
            "or play a file instead: source=SfPlayer('take.wav', loop=True)")
    return pyo.Input(chnl=chnl)


class CallbackHub:
    """Per-buffer hooks of one server, called in registration order from pyo's audio thread.

    Keyed by the id of pyo's C-level server (what `PyoObject.getServer()` returns), of
    which a process has one at a time.
    """

    _hubs: dict[int, "CallbackHub"] = {}

    def __init__(self, server):
        self.hooks: list = []
        self.errors = 0
        self.server = server
        server.setCallback(self._run)

    @classmethod
    def of(cls, server) -> "CallbackHub":
        hub = cls._hubs.get(id(server))
        if hub is None or hub.server is not server:
            hub = cls._hubs[id(server)] = cls(server)
        return hub

    def add(self, hook) -> None:
        """Register a callable; it is held strongly (with whatever buffers it writes) until `remove`."""
        self.hooks = self.hooks + [hook]

    def remove(self, hook) -> None:
        self.hooks = [h for h in self.hooks if h is not hook]

    def _run(self) -> None:
        for hook in self.hooks:           # a snapshot: add/remove from other threads swap the list
            try:
                hook()
            except Exception as e:      # the audio thread must survive anything a hook does
                self.errors += 1
                if self.errors <= 3:
                    print(f"lmdmlive audio callback: {type(e).__name__}: {e}", file=sys.stderr)
