"""The user track says what lmdmlive does now, and leads somewhere.

No page of it names a date, a UTC time, a run number or untrained weights (that history
lives in docs/dev/); its relative links lead to files that exist; the module paths it
names (`lmdmlive.live.stream.Stream`) import; README.md stays under 120 lines and keeps
the two commands a newcomer and `.ci/run` start from.
"""
from __future__ import annotations

import re

import pytest

from tests.docs.pages import ROOT, USER_TRACK, check_command, page_id


STALE = [(re.compile(r"\b20\d\d-\d\d-\d\d\b"), "a date"), (re.compile(r"\bUTC\b"), "a UTC time"),
         (re.compile(r"\b[Rr]un \d+\b|\bruns? \d+ (?:and|to) \d+\b"), "a run number"),
         (re.compile(r"untrained|structured noise|not shipped yet|no trained", re.I), "untrained weights")]


@pytest.mark.parametrize("page", USER_TRACK, ids=page_id)
def test_a_user_page_names_no_date_run_or_untrained_weights(page):
    found = [f"{page.relative_to(ROOT)}:{n}: {what}: {line.strip()[:100]}"
             for n, line in enumerate(page.read_text().splitlines(), 1)
             for pattern, what in STALE if pattern.search(line)]
    assert not found, "history belongs in docs/dev/:\n" + "\n".join(found)


@pytest.mark.parametrize("page", USER_TRACK, ids=page_id)
def test_relative_links_of_a_user_page_lead_somewhere(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    missing = [target for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
               if "://" not in target and not (page.parent / target).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to files that do not exist: {missing}"


@pytest.mark.parametrize("page", USER_TRACK, ids=page_id)
def test_every_module_path_a_user_page_names_exists(page):
    """`lmdmlive.live.stream.Stream` and the like: a module moved or a class renamed fails here."""
    import importlib
    missing = []
    for dotted in sorted(set(re.findall(r"`(lmdmlive(?:\.\w+)+)", page.read_text()))):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):        # the longest importable module, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ModuleNotFoundError:
                continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            missing.append(dotted)
    assert not missing, f"{page.relative_to(ROOT)} names what does not exist: {missing}"


def test_the_readme_stays_short_and_keeps_its_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 120, f"README.md has {len(lines)} lines; the user track's front page stays under 120"
    run_tests = [line for line in lines if re.match(r"^Run the tests: *`.*`", line)]
    assert run_tests, "README.md lost its `Run the tests: ...` line, which .ci/run reads"
    assert run_tests[0] == "Run the tests: `.ci/deps && pip install -e '.[test]' && python -m pytest -q`"
    instrument = [line for line in lines[:5] if line.startswith("Run the instrument: `")]
    assert instrument, "README.md's first lines lost `Run the instrument: ...`"
    commands = [part.strip() for part in instrument[0].split("`")[1].split("&&")]
    assert any(c.startswith("lmdmlive ") for c in commands)
    for command in commands:
        if command.startswith("lmdmlive "):
            check_command(command, "README.md:1")
