"""The shape of the code, checked: the core imports nothing of ours outside itself and no
library, the store never reaches up into the services or the handlers, and no module
outside the tests grows past what a reader takes in."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT


def imports(path: Path) -> Iterator[str]:
    """Every module a file imports, absolute (its relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                yield f"{base}.{node.module}" if node.module else base
            elif node.module is not None:
                yield node.module


def modules(folder: str) -> list[Path]:
    found = sorted((ROOT / folder).rglob("*.py"))
    assert found, f"no modules under {folder}"
    return found


def test_the_core_imports_only_itself_and_the_standard_library() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules("bot/core")
        for name in imports(path)
        if not (name == "bot.core" or name.startswith("bot.core."))
        and name.split(".")[0] not in sys.stdlib_module_names
    ]
    assert wrong == []


def test_only_the_entry_module_imports_the_handlers() -> None:
    """bot/app.py assembles the application; no service, store or core module reaches
    the handlers, and no handler reaches back into the assembly."""
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for folder in ("bot", "storage")
        for path in modules(folder)
        if path != ROOT / "bot" / "app.py"
        for name in imports(path)
        if name.split(".")[0] == "handlers"
    ]
    wrong += [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules("handlers")
        for name in imports(path)
        if name in ("bot.app", "bot.cli", "bot.__main__")
    ]
    assert wrong == []
    assert "handlers" in set(imports(ROOT / "bot" / "app.py"))


@pytest.mark.parametrize("folder", ["handlers", "bot/webapp"])
def test_handlers_reach_the_store_only_through_services(folder: str) -> None:
    """A handler (a bot command's, or a console view's) reads the request, calls a
    service and answers: it imports no storage and touches no `.store`."""
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(folder)
        for name in imports(path)
        if name.split(".")[0] == "storage"
    ]
    wrong += [
        f"{path.relative_to(ROOT)}:{node.lineno} reads .store"
        for path in modules(folder)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "store"
    ]
    assert wrong == []


def test_the_store_never_imports_services_or_handlers() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules("storage")
        for name in imports(path)
        if name.split(".")[0] in ("bot", "handlers")
        and not (name == "bot.core" or name.startswith("bot.core."))
    ]
    assert wrong == []


MAX_LINES = 600  # a module longer than this is split along a seam a reader can name


def test_no_module_outside_the_tests_is_over_600_lines() -> None:
    long = [
        f"{path.relative_to(ROOT)}: {count} lines"
        for folder in ("bot", "handlers", "storage", "bench")
        for path in modules(folder)
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert long == [], f"modules over {MAX_LINES} lines: {long}"


def test_the_checks_would_see_an_import_from_outside(tmp_path: Path) -> None:
    sample = ROOT / "bot" / "core" / "forms.py"
    names = set(imports(sample))
    assert "bot.core.errors" in names, names  # what the checks read is what is there
