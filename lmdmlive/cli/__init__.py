"""Every `lmdmlive` command: playing (REPL, patches), render, bench, doctor, corpus, train, finetune, eval.

The only package that imports `live/` (DESIGN.md section 2); `main` is the console entry point.
"""
from .main import main

__all__ = ["main"]
