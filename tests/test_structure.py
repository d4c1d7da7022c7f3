"""The package's shape, checked: small modules, short functions, one settings reader.

These are the rules a reviewer would otherwise check by hand on every change
(see CHANGELOG 0.2.0): they fail with the offending ``file:line``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_grd"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
#: Declaration lists: one statement per option or subcommand, nothing to split.
DECLARATION_LISTS = {"add_options", "pytest_addoption", "build_parser"}
#: The only module that reads option and ini values.
SETTINGS_MODULE = PACKAGE / "settings.py"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_over_500_lines() -> None:
    long = [
        f"{p.relative_to(PACKAGE.parent)}: {n} lines"
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []


def test_no_function_over_80_lines() -> None:
    long = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if node.name in DECLARATION_LISTS:
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                long.append(f"{where} {node.name}: {length} lines")
    assert long == []


def test_settings_are_read_in_one_place() -> None:
    # Every option, ini key and grd-relevant environment variable is read by
    # pytest_grd.settings; concern plugins read the frozen Settings object.
    reader = re.compile(r"\.(getini|getoption)\(")
    found = [
        f"{p.relative_to(PACKAGE.parent)}:{i}: {line.strip()}"
        for p in _modules()
        if p != SETTINGS_MODULE
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if reader.search(line)
    ]
    assert found == []


def test_plugins_do_not_decide_the_worker_role_themselves() -> None:
    # The role (xdist worker or not) is resolved once, in the settings.
    pattern = re.compile(r"hasattr\(\s*(self\.)?config,\s*\"workerinput\"\)")
    found = [
        f"{p.relative_to(PACKAGE.parent)}:{i}"
        for p in _modules()
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
