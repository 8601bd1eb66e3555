"""A lower part never imports a higher one (docs/architecture.md), read from the source with ``ast``: every import
statement, at the top, inside a function or under ``TYPE_CHECKING``, and every ``import_module("cnnstat....")``.

    cli/  ->  check/ training/ benchmark/ profile/ report/  ->  api  ->  zoo/  ->  counting/
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cnnstat

PACKAGE = Path(cnnstat.__file__).parent

#: Each part's rank: a module may import its own rank or below. Beside the layers: the shared helpers at the bottom,
#: the start-up shortcut (it patches counting, zoo enters it) just above counting, the entry points on top.
RANK = {
    **dict.fromkeys(("errors", "atomic", "cache", "formats", "device_choices", "devices"), 0),
    "counting": 1,
    "fast_start": 2,
    "zoo": 3,
    "api": 4,
    **dict.fromkeys(("check", "training", "benchmark", "profile", "report"), 5),
    **dict.fromkeys(("cli", "pytest_plugin"), 6),
    **dict.fromkeys(("__init__", "__main__"), 7),  # the package root wires the layers
}
#: What every part may read from the package root.
FROM_THE_ROOT = {"__version__"}


def part_of(path: Path) -> str:
    """The part a source file belongs to: its sub-package, or its own name beside them (``__init__`` for the root)."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_parts(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, part of cnnstat) of each import in ``source`` that names one; a name taken from the root is its own part."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            base_name = ".".join([*base, *([node.module] if node.module else [])])
            names = [f"{base_name}.{alias.name}" for alias in node.names]  # `from cnnstat import api` names api
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")):  # fmt: skip
            names = [node.args[0].value]
        else:
            continue
        found += [(node.lineno, name.split(".")[1] if "." in name else "__init__")  # `import cnnstat`: the root
                  for name in names if name == "cnnstat" or name.startswith("cnnstat.")]  # fmt: skip
    return found


def upward_imports(path: Path) -> list[str]:
    """Each import in ``path`` of a part ranked above its own, as ``file:line imports part``."""
    own = RANK[part_of(path)]
    return [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {part}"
        for line, part in imported_parts(path.read_text(), module_name(path), path.name == "__init__.py")
        if part not in FROM_THE_ROOT and RANK.get(part, RANK["__init__"]) > own  # any other root name: the top
    ]


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_counting_imports_no_renderer_and_report_no_cli():
    """The two that used to reach up: a report printed itself, and the HTML report wrote its totals, through cli/."""
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {part}"
        for path in SOURCES
        if part_of(path) in ("counting", "report")
        for line, part in imported_parts(path.read_text(), module_name(path), path.name == "__init__.py")
        if part == "cli" or (part == "report" and part_of(path) == "counting")
    ]
    assert found == []


def test_every_part_imports_only_its_own_rank_or_below():
    assert {part_of(path) for path in SOURCES} <= RANK.keys(), "a new part: give it its place in RANK"
    assert [found for path in SOURCES for found in upward_imports(path)] == []


@pytest.mark.parametrize("source, module, expected", [
    ("def f():\n    from ..cli.output import emit\n", "cnnstat.counting.report", [(2, "cli")]),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cnnstat.report import tables\n", "cnnstat.counting.x", [(3, "report")]),
    ("from .. import report\n", "cnnstat.counting.x", [(1, "report")]),
    ("from . import tables\n", "cnnstat.counting", [(1, "counting")]),  # a package's __init__: `.` is the package itself
    ("import importlib\nimportlib.import_module('cnnstat.report.tables')\n", "cnnstat.counting.x", [(2, "report")]),
    ("import cnnstat.api as api\nimport torch\nfrom .columns import COLUMN\n", "cnnstat.counting.x", [(1, "api"), (3, "counting")]),
    ("from .. import __version__\n", "cnnstat.cli.app", [(1, "__version__")]),
    ("import cnnstat\nimport cnnstatx\n", "cnnstat.counting.x", [(1, "__init__")]),
])  # fmt: skip
def test_the_reader_sees_every_kind_of_import(source, module, expected):
    assert imported_parts(source, module, is_package=module == "cnnstat.counting") == expected


def test_an_upward_import_is_found(tmp_path, monkeypatch):
    """A module of counting/ that imports the renderer lazily fails the rule; one that imports errors does not."""
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "cnnstat")
    (tmp_path / "cnnstat" / "counting").mkdir(parents=True)
    bad, fine = tmp_path / "cnnstat" / "counting" / "bad.py", tmp_path / "cnnstat" / "counting" / "fine.py"
    bad.write_text(textwrap.dedent("""
        def __str__(self):
            from ..report.tables import summary_text
            return summary_text(self)
    """))
    fine.write_text("from ..errors import CnnstatError\n")
    assert upward_imports(bad) == ["cnnstat/counting/bad.py:3 imports report"]
    assert upward_imports(fine) == []


def test_importing_cnnstat_loads_no_renderer_until_a_report_is_shown():
    """The root names the renderer by its path: ``import cnnstat`` loads neither it nor rich; printing a report does."""
    code = textwrap.dedent("""
        import sys, cnnstat
        before = sorted(m for m in sys.modules if m == "rich" or m.startswith(("cnnstat.report", "cnnstat.cli")))
        str(cnnstat.analyze("lenet5"))
        print(before, "cnnstat.report.tables" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert result.stdout.strip() == "[] True"
