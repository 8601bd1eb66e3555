"""Shared fixtures: golden files, fixed-width CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/* from current output")


@pytest.fixture(autouse=True, scope="session")
def cache_of_the_test_run(tmp_path_factory: pytest.TempPathFactory):
    """cnnstat's cache folder (measured peaks) for the whole run in a temporary folder, not the user's own: peaks
    measured while the tests load the machine must not stand for it later. Subprocesses inherit it."""
    import os

    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """Compare text with tests/golden/NAME, or rewrite it under --update-golden."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if request.config.getoption("--update-golden"):
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            return
        assert path.exists(), f"{path} missing: run pytest --update-golden"
        assert text == path.read_text(), f"output differs from {path.name}; if intended, run pytest --update-golden"

    return check


@pytest.fixture
def cli():
    """Invoke the CLI in-process with a fixed 120-column terminal; returns the Result."""
    from typer.testing import CliRunner

    from cnnstat.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        # CI unset: where the suite runs in CI, a snapshot the test writes first must still be written
        return runner.invoke(app, list(args), env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb", "CI": None})

    return invoke
