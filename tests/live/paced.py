"""The manual pyo server played in real time: a thread computes one buffer every 256/48000 s.

What OSC timetags, Link and MIDI clock out are placed against is when samples are
computed; on the manual server that is whenever a test calls `process()`. Paced, the
server keeps time as a sound card does, and the schedule it keeps (`time_of`) is an
account of when each sample was computed that does not come from the session's own
estimate (`session.wallclock`), so a test can check that estimate against it.
"""
import threading
import time


class Paced:
    def __init__(self, session):
        self.session = session
        self.rate = session.sample_rate
        self.step = int(session.server.getBufferSize())
        self._alive = False
        self.late = 0

    def __enter__(self) -> "Paced":
        self.s0 = self.session.now()
        self.t0 = time.monotonic() + 0.01
        self._alive = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        j = 0
        while self._alive:
            due = self.t0 + j * self.step / self.rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.02:
                self.late += 1
            self.session.server.process()
            j += 1

    def time_of(self, sample) -> float:
        """When `sample` was (or will be) computed on this schedule, in monotonic seconds."""
        return self.t0 + (sample - self.s0) / self.rate

    def sample_of(self, t: float) -> float:
        return self.s0 + (t - self.t0) * self.rate

    def __exit__(self, *exc):
        self._alive = False
        self._thread.join(timeout=2)
