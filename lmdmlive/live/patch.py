"""Patch files: run once, then re-run at the next bar whenever the file is saved.

A patch is plain Python run in the prelude's namespace with `session` and `stream`.
Streams made with `stream(..., name="a")` are found again on the next run and updated,
and named streams a new version no longer mentions are stopped. When the new version
raises, the error is printed and the last good version keeps playing.
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path


class PatchRunner:
    def __init__(self, path: str | Path, session, namespace: dict, write=None):
        self.path = Path(path)
        self.session, self.namespace = session, namespace
        self.write = write or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._mtime = None
        self.pending_at: int | None = None
        self.loads = 0
        self.failures = 0

    def load(self) -> bool:
        """Run the file now; on failure keep what is playing."""
        try:
            source = self.path.read_text()
            code = compile(source, str(self.path), "exec")
        except (OSError, SyntaxError, ValueError) as e:
            self.failures += 1
            where = f" (line {e.lineno})" if isinstance(e, SyntaxError) else ""
            self.write(f"{self.path.name}: {type(e).__name__}: {e}{where} — keeping the last good version")
            return False
        self.session.begin_run()
        try:
            exec(code, self.namespace)
        except Exception as e:   # the patch may raise anything; the set goes on
            self.failures += 1
            line = next((f.lineno for f in reversed(traceback.extract_tb(e.__traceback__))
                         if f.filename == str(self.path)), None)
            self.write(f"{self.path.name}: {type(e).__name__}: {e}" + (f" (line {line})" if line else "") +
                       " — keeping the last good version")
            self.session.keep_all()
            return False
        gone = self.session.end_run()
        self.loads += 1
        self.write(f"{self.path.name}: loaded" + (f", stopped {', '.join(gone)}" if gone else ""))
        return True

    def poll(self) -> None:
        """Notice a save and schedule the reload for the next bar."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            return
        if self._mtime is None:
            self._mtime = mtime
        elif mtime != self._mtime:
            self._mtime = mtime
            now = self.session.now()
            self.pending_at = self.session.clock.next_bar(now + 1)

    def tick(self) -> None:
        self.poll()
        if self.pending_at is not None and self.session.now() >= self.pending_at:
            self.pending_at = None
            self.load()
