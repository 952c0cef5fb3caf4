"""The dependency rules of DESIGN.md section 2, read from the source: a room that starts importing
another it must not is caught here, not by a newcomer months later."""
import ast
from functools import lru_cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lmdmlive"


@lru_cache(maxsize=1)
def imports():
    """(file, line, imported module, imported names) for every import inside lmdmlive/, resolved to absolute names."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = list(path.relative_to(PACKAGE.parent).parts[:-1])       # the package a relative import starts from
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = here[:len(here) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                out.append((path, node.lineno, module, [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                out.extend((path, node.lineno, a.name, []) for a in node.names)
    return out


def room(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def room_of_module(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "lmdmlive" and len(parts) > 1 else None


def crossings(rule):
    return [f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}" for path, line, module, _ in imports()
            if rule(room(path), room_of_module(module), module)]


@pytest.mark.parametrize("what, rule", [
    ("only the command line imports live/",
     lambda src, dst, _: dst == "live" and src not in ("live", "cli")),
    ("pattern/ imports nothing of ours",
     lambda src, dst, _: src == "pattern" and dst not in (None, "pattern")),
    ("model/ imports neither pyo nor the rooms above it",
     lambda src, dst, module: src == "model" and (module.split(".")[0] == "pyo"
                                                  or dst in ("live", "engine", "bench", "cli", "audio", "train"))),
    ("the engine never imports the bench (the bench measures the engine)",
     lambda src, dst, _: src == "engine" and dst == "bench"),
    ("training and evaluation never import the performer's room",
     lambda src, dst, _: src == "train" and dst in ("live", "cli")),
    ("nothing but the command line imports the command line",
     lambda src, dst, _: dst == "cli" and src not in ("cli", "__main__")),
])
def test_dependencies_point_one_way(what, rule):
    assert crossings(rule) == [], what


def test_no_module_imports_another_modules_private_names():
    private = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {name} from {module}"
               for path, line, module, names in imports() for name in names
               if name.startswith("_") and not name.startswith("__")]
    assert private == []
