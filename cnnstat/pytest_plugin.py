"""cnnstat's pytest plugin: a ``cnnstat`` fixture that holds a model to its budgets and its snapshot.

Registered as a ``pytest11`` entry point, it does nothing until a test asks for the fixture: this module
imports only pytest, and torch loads on the first assertion.

    def test_small_net(cnnstat):
        cnnstat.assert_budget(build(), input_size=(3, 32, 32), macs="<=3M", params="<50k")
        cnnstat.assert_snapshot(build(), input_size=(3, 32, 32))

``pytest --cnnstat-update`` rewrites the snapshots; where ``CI`` is set a missing one fails the test.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

DEFAULT_FOLDER = "snapshots"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cnnstat", "cnnstat budgets and architecture snapshots")
    group.addoption("--cnnstat-update", action="store_true", help="Rewrite the cnnstat snapshots the tests compare with.")
    parser.addini("cnnstat_snapshots", f"Folder of cnnstat snapshots, relative to the rootdir (default: [tool.cnnstat] "
                  f"snapshots, else {DEFAULT_FOLDER})")  # fmt: skip


class Cnnstat:
    """What the ``cnnstat`` fixture gives a test: budget and snapshot assertions on a model."""

    def __init__(self, folder: Path, update: bool, frozen: bool, test_key: str) -> None:
        self.folder = folder
        self.update = update
        self.frozen = frozen
        self.test_key = test_key
        self._unnamed: dict[Path, int] = {}  # snapshot file -> calls that keyed it by the test's id

    def report(self, model: Any, input_size: Any = None, **options: Any) -> Any:
        """``cnnstat.analyze(model, input_size, **options)``: a module, a zoo or torchvision name, or a file/import path."""
        from cnnstat.api import analyze

        return analyze(model, input_size, **options)

    def assert_budget(self, model: Any, input_size: Any = None, **bounds: str) -> Any:
        """Fail unless every total keeps its bound, given by column: ``macs="<=4.2G"``, ``activation_bytes="<300MiB"``."""
        from cnnstat.check.budgets import breaches, budget
        from cnnstat.errors import CnnstatError

        try:
            budgets = [budget(column, condition) for column, condition in bounds.items()]
        except CnnstatError as error:  # a budget the test wrote wrong: one line, not the plugin's stack
            pytest.fail(f"cnnstat: {error}", pytrace=False)
        report = self.report(model, input_size)
        broken = breaches(report, budgets)
        if broken:
            pytest.fail("cnnstat budget:\n" + "\n".join(f"  {line}" for line in broken), pytrace=False)
        return report

    def assert_snapshot(self, model: Any, input_size: Any = None, name: str | None = None) -> Any:
        """Fail when the model's layers differ from its snapshot, with the per-layer diff; write it the first time.

        ``name`` keys the snapshot; by default a named model's identity, else the test's id (``-2``, ``-3``, ... for a
        further module at the same input in the same test).
        """
        from cnnstat.check.identity import model_identity
        from cnnstat.check.snapshot import SnapshotError, compare_snapshot

        report = self.report(model, input_size)
        key = name or (model_identity(model, report.model) if isinstance(model, str) else self._unnamed_key(report))
        try:
            result = compare_snapshot(report, self.folder, self.update, key=key, frozen=self.frozen,
                                      remedy="delete it or run pytest --cnnstat-update")  # fmt: skip
        except SnapshotError as error:  # a broken file is the user's to fix: one line, not the plugin's stack
            pytest.fail(f"cnnstat: {error}", pytrace=False)
        path = os.path.relpath(result.path)  # as the user would type it from where pytest runs
        if result.status == "missing":
            pytest.fail(f"cnnstat: no snapshot {path} (CI is set: none is written); create it with "
                        f"pytest --cnnstat-update and commit it", pytrace=False)  # fmt: skip
        if result.status == "changed":
            lines = "\n".join(f"  {line}" for line in result.differences)
            pytest.fail(f"cnnstat: snapshot {path} differs (pytest --cnnstat-update if intended):\n{lines}", pytrace=False)
        return result

    def _unnamed_key(self, report: Any) -> str:
        """The test's id; a further module snapshotted at the same input in this test gets ``-2``, ``-3``, ... after it.

        Two modules under one key would compare the second with the first's snapshot and fail as changed.
        """
        from cnnstat.check.snapshot import snapshot_path

        path = snapshot_path(self.folder, report, self.test_key)
        self._unnamed[path] = calls = self._unnamed.get(path, 0) + 1
        return self.test_key if calls == 1 else f"{self.test_key}-{calls}"


def _folder(config: pytest.Config) -> Path:
    """The ini option, else ``[tool.cnnstat] snapshots`` of the rootdir's pyproject.toml, else ``snapshots``."""
    root = Path(config.rootpath)
    if config.getini("cnnstat_snapshots"):
        return root / str(config.getini("cnnstat_snapshots"))
    from cnnstat.check.project_config import read_config

    pyproject = root / "pyproject.toml"
    table = read_config(pyproject) if pyproject.is_file() else None
    return table.snapshots if table is not None and table.snapshots is not None else root / DEFAULT_FOLDER


@pytest.fixture
def cnnstat(request: pytest.FixtureRequest) -> Cnnstat:
    """Budget and snapshot assertions on a model; snapshots in ``[tool.cnnstat] snapshots`` (or ``snapshots/``)."""
    from cnnstat.check.run import ci_frozen

    config = request.config
    key = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")
    return Cnnstat(_folder(config), bool(config.getoption("--cnnstat-update")), ci_frozen(os.environ), key)
