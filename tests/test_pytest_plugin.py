"""The pytest plugin, run by pytester on a copy of tests/sample_project: budgets, snapshots, --cnnstat-update, CI.

Expected figures are worked by hand from the layer formulas, as in test_ci_guard.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import cnnstat.check.run  # noqa: F401  loaded before pytester's runs, which drop the modules a run imports
from cnnstat.api import analyze

pytest_plugins = ["pytester"]

SAMPLE = Path(__file__).parent / "sample_project"
SNAPSHOT = "models_nets.py_build@3x32x32.json"
CONV1_PARAMS, CONV1_PARAMS_K5 = 16 * 3 * 9 + 16, 16 * 3 * 25 + 16  # 448, 1,216
MACS_K5 = 32 * 32 * 16 * 3 * 25 + 16 * 16 * 32 * 16 * 25 + 32 * 10  # 4,505,920 once both kernels are 5×5


@pytest.fixture(scope="module", autouse=True)
def _loaded() -> None:
    """One count before any run, so that what it imports (torch's C extension cannot be imported twice) stays loaded."""
    from torch import nn

    analyze(nn.Conv2d(1, 1, 1), (1, 2, 2))


@pytest.fixture
def sample(pytester: pytest.Pytester, monkeypatch) -> pytest.Pytester:
    """The sample project copied into pytester's folder, CI unset."""
    monkeypatch.delenv("CI", raising=False)
    shutil.copytree(SAMPLE, pytester.path, dirs_exist_ok=True)
    return pytester


def _edit_kernel(path: Path, size: int) -> None:
    nets = path / "models" / "nets.py"
    nets.write_text(nets.read_text().replace("KERNEL = 3", f"KERNEL = {size}"))


def test_the_sample_projects_tests_pass_against_its_committed_snapshot(sample):
    before = (sample.path / "snapshots" / SNAPSHOT).read_text()
    result = sample.runpytest("nets_checks.py")
    result.assert_outcomes(passed=2)
    assert (sample.path / "snapshots" / SNAPSHOT).read_text() == before  # the CLI's snapshot, found and unchanged


def test_an_edited_kernel_fails_inside_pytest_with_the_per_layer_diff_and_the_budget(sample):
    _edit_kernel(sample.path, 5)
    result = sample.runpytest("nets_checks.py")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        f"*macs = {MACS_K5:,} (4.51 M) breaks the budget macs<=3M; costliest layers: conv2*",
        f"cnnstat: snapshot snapshots/{SNAPSHOT} differs*",
        f"*layer conv1: params {CONV1_PARAMS:,} → {CONV1_PARAMS_K5:,}*",
    ], consecutive=False)  # fmt: skip
    assert "Traceback" not in result.stdout.str()  # pytest's own report, not the plugin's stack


def test_cnnstat_update_rewrites_the_snapshot(sample):
    _edit_kernel(sample.path, 5)
    sample.runpytest("nets_checks.py", "--cnnstat-update", "-k", "snapshot").assert_outcomes(passed=1)
    sample.runpytest("nets_checks.py", "-k", "snapshot").assert_outcomes(passed=1)


def test_a_missing_snapshot_fails_in_ci_and_is_written_with_cnnstat_update(sample, monkeypatch):
    (sample.path / "snapshots" / SNAPSHOT).unlink()
    monkeypatch.setenv("CI", "true")
    result = sample.runpytest("nets_checks.py", "-k", "snapshot")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*no snapshot *{SNAPSHOT}*--cnnstat-update*"])
    assert not (sample.path / "snapshots" / SNAPSHOT).exists()
    sample.runpytest("nets_checks.py", "-k", "snapshot", "--cnnstat-update").assert_outcomes(passed=1)
    assert (sample.path / "snapshots" / SNAPSHOT).exists()


def test_the_plugin_loads_by_its_entry_point_and_imports_no_torch_until_used(pytester):
    assert "--cnnstat-update" in pytester.runpytest_subprocess("--help").stdout.str()
    probe = pytester.makepyfile(probe="import sys\ndef test_probe():\n    assert 'torch' not in sys.modules\n")
    pytester.runpytest_subprocess(str(probe)).assert_outcomes(passed=1)


TWO_MODULES = """
from torch import nn


def test_two(cnnstat):
    cnnstat.assert_snapshot(nn.Sequential(nn.Conv2d(3, 4, 3)), input_size=(3, 8, 8))
    cnnstat.assert_snapshot(nn.Sequential(nn.Conv2d(3, 8, 1)), input_size=(3, 8, 8))
"""


def test_two_unnamed_modules_in_one_test_keep_a_snapshot_each(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(test_two=TWO_MODULES)
    pytester.runpytest("test_two.py").assert_outcomes(passed=1)  # writes both
    assert len(list((pytester.path / "snapshots").glob("*.json"))) == 2
    pytester.runpytest("test_two.py").assert_outcomes(passed=1)  # each compared with its own


def test_a_broken_snapshot_fails_in_one_line_naming_the_plugins_option(sample):
    (sample.path / "snapshots" / SNAPSHOT).write_text("{")
    result = sample.runpytest("nets_checks.py", "-k", "snapshot")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"cnnstat: snapshot *{SNAPSHOT} is not valid JSON*; delete it or run pytest --cnnstat-update"])
    assert "Traceback" not in result.stdout.str() and "--update-snapshot" not in result.stdout.str()


BAD_BUDGETS = """
from torch import nn


def test_a_number(cnnstat):
    cnnstat.assert_budget(nn.Conv2d(3, 4, 3), input_size=(3, 8, 8), macs=4_200_000_000)


def test_a_misspelt_column(cnnstat):
    cnnstat.assert_budget(nn.Conv2d(3, 4, 3), input_size=(3, 8, 8), mac="<=1M")
"""


def test_a_budget_written_wrong_fails_in_one_line(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(test_bad=BAD_BUDGETS)
    result = pytester.runpytest("test_bad.py")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*cnnstat: budget macs=4200000000: write the bound as text with its operator, e.g. macs='<=4.2G'",
                                 "*cnnstat: budget 'mac<=1M': 'mac' is not a summed figure; choose from *"])
    assert "Traceback" not in result.stdout.str() and "BudgetError" not in result.stdout.str()
