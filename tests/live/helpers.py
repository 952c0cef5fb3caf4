"""Driving a session on the manual pyo server: generate whatever is due, then one buffer, repeated."""
BS = 256


def play(session, seconds):
    for _ in range(int(seconds * 48000 / BS)):
        while session.engine.step():
            pass
        session.server.process()


def controls(session, stream, block):
    """A stream's controls for its block `block`, asked as the engine asks (engine/controls.py)."""
    from lmdmlive.engine.controls import frame_times
    return stream.controls_at(frame_times(block, session.bundle, session.sample_rate))
