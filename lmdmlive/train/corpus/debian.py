"""Debian packages as corpus sources: which are installed, what files they hold, under which licence.

Recorded music, drum kits and soundfonts are read where their Debian packages put
them (`dpkg -L`), so no path is guessed and nothing is downloaded. Each file's
licence and attribution come from the package's machine-readable copyright file
(DEP-5): the last `Files:` stanza whose pattern matches the file wins, as the format
says. Install paths differ from the source-tree paths the patterns name, so a pattern
matches when its file name glob matches and its last folder (if any) is one of the
file's folders (`data/music/*.ogg` matches `/usr/share/games/x/data/music/a.ogg`).
Some packages still ship a free-text copyright file (wesnoth, openclonk): then the
licence is the first one the text names and the attribution its first copyright
lines, marked as read from free text so the manifest says how it was found.
"""
from __future__ import annotations

import fnmatch
import functools
import gzip
import re
import subprocess
from dataclasses import dataclass
from pathlib import PurePosixPath


class MissingPackages(RuntimeError):
    """Raised with the exact install command when a requested source has no package installed."""


def install_command(packages) -> str:
    return "sudo apt-get install " + " ".join(sorted(packages))


@functools.lru_cache(maxsize=None)
def installed(package: str) -> bool:
    try:
        res = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and res.stdout.strip().endswith("installed") and "not-installed" not in res.stdout


@functools.lru_cache(maxsize=None)
def files_of(package: str) -> tuple[str, ...]:
    """Paths the installed package owns (files and folders), as `dpkg -L` lists them; () if not installed."""
    try:
        res = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(line for line in res.stdout.splitlines() if line.startswith("/")) if res.returncode == 0 else ()


@dataclass(frozen=True)
class Stanza:
    patterns: tuple[str, ...]
    copyright: str
    licence: str


@dataclass(frozen=True)
class Licence:
    package: str
    licence: str          # short name of the DEP-5 License field, e.g. "GPL-2+", "CC-BY-SA-3.0"
    attribution: str      # the Copyright field, one line
    files: str            # the Files patterns of the stanza that applied
    copyright_file: str

    def as_record(self) -> dict:
        return {"package": self.package, "licence": self.licence, "attribution": self.attribution,
                "licence_files": self.files, "copyright_file": self.copyright_file}


def copyright_path(package: str) -> str:
    return f"/usr/share/doc/{package}/copyright"


def _read_text(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read(4_000_000)                 # the biggest copyright files are a few hundred kB
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def parse_dep5(text: str) -> list[Stanza]:
    """The `Files:` stanzas of a DEP-5 copyright file, in order ([] when it is free text)."""
    stanzas, fields, key = [], {}, None

    def flush():
        if "files" in fields:
            stanzas.append(Stanza(tuple(fields["files"].split()), " ".join(fields.get("copyright", "").split()),
                                  fields.get("license", "").strip().splitlines()[0].strip()
                                  if fields.get("license", "").strip() else ""))

    for line in text.splitlines():
        if not line.strip():
            flush()
            fields, key = {}, None
        elif line[0] in " \t":
            if key is not None:
                fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
    flush()
    return stanzas


def _pattern_matches(pattern: str, path: str) -> bool:
    p, x = PurePosixPath(pattern), PurePosixPath(path)
    if not fnmatch.fnmatchcase(x.name, p.name):
        return False
    folder = p.parent.name
    return folder in ("", ".", "*") or any(fnmatch.fnmatchcase(part, folder) for part in x.parent.parts)


@functools.lru_cache(maxsize=None)
def _stanzas(package: str) -> tuple[tuple[Stanza, ...], str]:
    path = copyright_path(package)
    try:
        text = _read_text(path)
    except OSError:
        return (), ""
    return tuple(parse_dep5(text)), text


FREE_TEXT = "(free-text copyright file)"

# Phrases that name a licence in prose, checked on lower-cased text with its whitespace collapsed.
_LICENCE_PHRASES = (
    ("gnu lesser general public license", "LGPL"),
    ("gnu library general public license", "LGPL"),
    ("gnu general public license", "GPL"),
    ("permission to use, copy, modify, and/or distribute", "ISC"),
    ("permission is hereby granted, free of charge", "MIT"),
    ("creative commons attribution-sharealike", "CC-BY-SA"),
    ("creative commons attribution", "CC-BY"),
    ("public domain", "public-domain"),
)


def free_text_licence(text: str) -> tuple[str, str]:
    """(licence, attribution) of a copyright file written as prose: the licence named first (the
    package's main one, with its version and "or later" when the next sentences give them) and the
    first two copyright holders, e.g. ("GPL-2+", "2003 - 2009 by David White and 23 others")."""
    flat = " ".join(text.lower().split())
    found = [(flat.find(phrase), name) for phrase, name in _LICENCE_PHRASES if phrase in flat]
    licence = ""
    if found:
        at, licence = min(found)
        window = flat[at:at + 400]
        version = re.search(r"(?:version|v)\s*(\d(?:\.\d)?)|(\d\.\d) (?:unported|international|license)", window)
        if version and licence not in ("ISC", "MIT", "public-domain"):
            licence += "-" + (version.group(1) or version.group(2))
            if licence.startswith(("GPL", "LGPL")) and re.search(r"any later|or later", window):
                licence += "+"
    holders = []
    for line in text.splitlines():
        if holders and line.lower().startswith("license"):
            break                                   # what follows is the licence text and its sub-parts
        m = re.match(r"\s*(?:copyright\s*(?:\(c\)|©)?|©)\s*(.+)", line, re.IGNORECASE)
        if m and re.search(r"\d{4}", m.group(1)):
            holders.append(" ".join(re.sub(r"<[^>]*>|https?://\S+", "", m.group(1)).split()).rstrip(",."))
    attribution = ", ".join(holders[:2]) + (f" and {len(holders) - 2} others" if len(holders) > 2 else "")
    return licence, attribution


def licence_of(package: str, path: str) -> Licence:
    """The licence and attribution of one installed file, from its package's copyright file."""
    stanzas, text = _stanzas(package)
    chosen = None
    for st in stanzas:
        if any(_pattern_matches(p, path) for p in st.patterns) and not any(p.startswith("debian/") for p in st.patterns):
            chosen = st                             # DEP-5: the last matching stanza wins
    if chosen is None:
        where = copyright_path(package)
        licence, attribution = free_text_licence(text) if text and not stanzas else ("", "")
        if licence and attribution:
            return Licence(package, licence, attribution, FREE_TEXT, where)
        return Licence(package, "see copyright file" if text else "unknown", "", "", where)
    return Licence(package, chosen.licence, chosen.copyright, " ".join(chosen.patterns), copyright_path(package))


def licence_by_name(package: str, name: str) -> Licence | None:
    """The stanza naming `name` as a file stem (`drumkits/Audiophob.h2drumkit` for the kit folder
    `Audiophob`): source archives are unpacked under another name than the one the copyright file gives."""
    stanzas, _ = _stanzas(package)
    for st in reversed(stanzas):
        if any(PurePosixPath(p).stem.lower() == name.lower() for p in st.patterns):
            return Licence(package, st.licence, st.copyright, " ".join(st.patterns), copyright_path(package))
    return None
