"""Helpers of the JACK tests: child processes whose output is read line by line."""
import os
import queue
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Child:
    """A process whose stdout lines arrive on a queue, so a hung child fails the test instead of hanging it."""

    def __init__(self, args, env):
        self.proc = subprocess.Popen([sys.executable, "-m", *args], env=env, cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue = queue.Queue()
        self.err: list = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err.append), daemon=True).start()

    @staticmethod
    def _pump(stream, put):
        for line in stream:
            put(line.strip())

    def wait_for(self, start: str, timeout: float = 60) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line starting {start!r} within {timeout} s; "
                                     + self.why()) from None
            if line.startswith(start):
                return line

    def send(self, text: str) -> None:
        """A child that has already exited fails the test with its exit status and stderr,
        not with a bare BrokenPipeError that hides why it went."""
        try:
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise AssertionError(f"could not send {text!r}: " + self.why()) from None

    def why(self) -> str:
        """The child's state for a failure message: running, or how it exited, and its stderr."""
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        state = "still running" if code is None else f"exited with status {code}"
        return f"the child ({' '.join(self.proc.args[2:])}) is {state}; stderr: " + "\n".join(self.err[-20:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
