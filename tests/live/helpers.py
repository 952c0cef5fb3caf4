"""Driving a session on the manual pyo server: generate whatever is due, then one buffer, repeated."""
BS = 256


def play(session, seconds):
    for _ in range(int(seconds * 48000 / BS)):
        while session.engine.step():
            pass
        session.server.process()
