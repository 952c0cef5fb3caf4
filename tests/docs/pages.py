"""Reading the user track: its pages, their fenced blocks, REPL transcripts and command lines.

The user track is README.md and the pages directly in docs/; docs/dev/ is history and
is neither run nor checked for dates. A block is left out of the runs only when the
line before its fence is `<!-- not run: WHY -->`, WHY saying why (a device of the
performer's own, one pyo server per process, ...).
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USER_TRACK = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.*?)\s*-->$")
FENCE = re.compile(r"^```(\S*)")


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


class Block:
    def __init__(self, page: Path, line: int, lang: str, text: str, skip: str | None):
        self.page, self.line, self.lang, self.text, self.skip = page, line, lang, text, skip

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, each with its language and its not-run reason (or None)."""
    lines = page.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        before = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        skip = NOT_RUN.match(before)
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        assert j < len(lines), f"{page.relative_to(ROOT)}:{i + 1}: a code block that is never closed"
        out.append(Block(page, i + 1, m.group(1).lower(), "\n".join(lines[i + 1:j]),
                         skip.group(1) if skip else None))
        i = j + 1
    return out


def repl_steps(text: str) -> list[tuple[str, str | None]]:
    """(source, expected error line or None) for each `>>>` statement of a REPL transcript."""
    steps: list[tuple[str, str | None]] = []
    for raw in text.splitlines():
        if raw.strip().startswith(">>>"):
            steps.append((raw.strip()[4:], None))
        elif raw.strip().startswith("...") and steps:
            steps[-1] = (steps[-1][0] + "\n" + raw.strip()[4:], None)
        elif raw.strip() and steps:
            assert steps[-1][1] is None, f"two output lines after {steps[-1][0]!r}"
            steps[-1] = (steps[-1][0], raw.strip())
    return steps


def is_repl(text: str) -> bool:
    return any(line.strip().startswith(">>>") for line in text.splitlines())


def command_lines(text: str) -> list[str]:
    """The `lmdmlive ...` invocations of a shell block, continuation lines joined, comments cut."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip().removeprefix("$ ")
        m = re.match(r"^(?:python -m |torchrun .*?-m )?lmdmlive(\s.*)?$", line)
        if m:
            out.append(line[line.index("lmdmlive"):])
    return out


def check_command(line: str, where: str) -> None:
    from lmdmlive.cli.main import build_parser
    from lmdmlive.cli.play import parse_patch_args, patch_argument

    argv = shlex.split(line, comments=True)[1:]
    patch = patch_argument(argv)
    if patch is not None:
        assert (ROOT / patch).is_file(), f"{where}: `{line}`: there is no patch {patch}"
        parse_patch_args(argv)
        return
    try:
        build_parser().parse_args(argv)
    except SystemExit as e:
        assert e.code == 0, f"{where}: `{line}` is refused by the command line (exit {e.code})"
