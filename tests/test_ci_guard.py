"""The CI guard end to end on tests/sample_project: snapshots keyed by identity, CI freezing, budgets, diff, CI files.

Expected figures are worked by hand from the layer formulas (a k×k convolution from C to C' channels has
C'·C·k² + C' parameters and H·W·C'·C·k² MACs), never taken from cnnstat's own output.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cnnstat.cli import app

REPO = Path(__file__).parent.parent
SAMPLE = Path(__file__).parent / "sample_project"
SNAPSHOT = "models_nets.py_build@3x32x32.json"
BUILD = ("models/nets.py:build", "--input", "3x32x32", "--against", "none")

# sample_project's build() at 3×32×32, by hand: conv1 3→16 3×3 at 32×32, pool, conv2 16→32 3×3 at 16×16, fc 32→10
CONV1_PARAMS = 16 * 3 * 9 + 16  # 448
CONV1_PARAMS_K5 = 16 * 3 * 25 + 16  # 1,216 once the kernel is 5×5
MACS = 32 * 32 * 16 * 3 * 9 + 16 * 16 * 32 * 16 * 9 + 32 * 10  # 1,622,336


def run(*args: str, ci: bool = False):
    """The CLI in-process, with CI set or unset as asked (the machine's own CI variable must not leak in)."""
    env = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "CI": "1" if ci else None}
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A copy of the sample project (its parent folder a plain one), as the working folder."""
    copy = tmp_path / "work" / "sample_project"
    shutil.copytree(SAMPLE, copy)
    monkeypatch.chdir(copy)
    return copy


def _edit_kernel(project: Path, size: int) -> None:
    nets = project / "models" / "nets.py"
    nets.write_text(nets.read_text().replace("KERNEL = 3", f"KERNEL = {size}"))


def test_the_committed_snapshot_passes_in_ci_from_the_table(project):
    result = run("check", ci=True)
    assert result.exit_code == 0, result.output
    assert f"snapshot snapshots/{SNAPSHOT}: unchanged" in result.output


def test_an_edited_kernel_fails_check_with_a_per_layer_diff(project):
    _edit_kernel(project, 5)
    result = run("check", ci=True)
    assert result.exit_code == 1
    assert "differs" in result.output
    assert f"layer conv1: params {CONV1_PARAMS:,} → {CONV1_PARAMS_K5:,}" in result.output
    assert "layer conv1: receptive_field 3×3 → 5×5" in result.output


def test_the_parent_folder_finds_the_same_snapshot(project, monkeypatch):
    before = sorted(p.name for p in (project / "snapshots").iterdir())
    inside = run("check", *BUILD, "--snapshot", "snapshots", ci=True)
    assert inside.exit_code == 0 and f"snapshots/{SNAPSHOT}: unchanged" in inside.output, inside.output
    monkeypatch.chdir(project.parent)
    spec = "sample_project/models/nets.py:build"
    outside = run("check", spec, "--input", "3x32x32", "--against", "none", "--snapshot", "sample_project/snapshots", ci=True)
    assert outside.exit_code == 0, outside.output
    assert f"sample_project/snapshots/{SNAPSHOT}: unchanged" in outside.output
    _edit_kernel(project, 5)  # and from there a change is still caught
    changed = run("check", spec, "--input", "3x32x32", "--against", "none", "--snapshot", "sample_project/snapshots", ci=True)
    assert changed.exit_code == 1 and f"layer conv1: params {CONV1_PARAMS:,} → {CONV1_PARAMS_K5:,}" in changed.output
    assert sorted(p.name for p in (project / "snapshots").iterdir()) == before  # nothing written under another name


def test_a_new_model_without_a_snapshot_fails_in_ci_until_written(project):
    args = ("check", "models/nets.py:wide", "--input", "3x32x32", "--against", "none", "--snapshot", "snapshots")
    expected = project / "snapshots" / "models_nets.py_wide@3x32x32.json"
    missing = run(*args, ci=True)
    assert missing.exit_code == 1
    assert "no snapshot snapshots/models_nets.py_wide@3x32x32.json" in missing.output
    assert "--update-snapshot" in missing.output and not expected.exists()
    assert run(*args, "--frozen").exit_code == 1 and not expected.exists()  # --frozen without CI does the same
    assert run(*args, "--update-snapshot", ci=True).exit_code == 0 and expected.exists()
    again = run(*args, ci=True)
    assert again.exit_code == 0 and "unchanged" in again.output


@pytest.mark.parametrize("elsewhere", [("--out", "report.txt"), ("--format", "json")])
def test_a_failure_whose_report_goes_elsewhere_still_says_why_on_stderr(project, elsewhere):
    args = ("check", "models/nets.py:wide", "--input", "3x32x32", "--against", "none", "--snapshot", "snapshots", *elsewhere)
    missing = run(*args, ci=True)
    assert missing.exit_code == 1
    assert "error: models/nets.py:wide: its snapshot is missing (snapshots/models_nets.py_wide@3x32x32.json)" in missing.stderr


def test_a_budget_breach_names_the_figure_its_budget_and_the_costliest_layers(project):
    result = run("check", *BUILD, "--budget", "macs<=1M", "--budget", "params<=50k")
    assert result.exit_code == 1
    assert f"macs = {MACS:,} (1.62 M) breaks the budget macs<=1M; costliest layers: conv2" in result.output
    params = CONV1_PARAMS + (16 * 9 * 32 + 32) + (32 * 10 + 10)  # conv1, conv2, fc: 5,418
    assert f"budget: params = {params:,} (5.42 k) keeps the budget params<=50k (11% of it)" in result.output
    assert "breaks the budget params" not in result.output
    assert run("check", *BUILD, "--budget", f"macs<={MACS}").exit_code == 0  # <= holds at the figure, < does not
    assert run("check", *BUILD, "--budget", f"macs<{MACS}").exit_code == 1
    assert run("check", *BUILD, "--budget", "activation_bytes<=1MiB", "--budget", "macs>=1.6M").exit_code == 0


@pytest.mark.parametrize(("column", "condition", "value", "kept", "share"), [
    ("macs", "==1.5M", 1_500_000, True, None),  # an exact figure is no ceiling: no share of it
    ("macs", "==1.5M", 1_500_001, False, None),
    ("params", ">1k", 1_000, False, None),
    ("params", ">=1k", 1_000, True, None),
    ("params", "<=0", 0, True, None),  # a bound of 0 has no share
    ("activation_bytes", "<1KiB", 512, True, 0.5),  # binary: 1 KiB is 1,024 bytes
    ("activation_bytes", "<1KiB", 1_024, False, 1.0),
])  # fmt: skip
def test_a_budget_check_keeps_or_breaks_at_its_bound(column, condition, value, kept, share):
    from cnnstat.check.budgets import BudgetCheck, budget

    check = BudgetCheck(budget(column, condition), value)
    assert (check.kept, check.share) == (kept, share)


def test_json_gives_each_budget_its_figure_and_verdict(project):
    result = run("check", *BUILD, "--budget", "macs<=2M", "--budget", "params>=10k", "-f", "json")
    assert result.exit_code == 1
    [document] = json.loads(result.stdout)
    macs, params = document["budgets"]
    assert (macs["value"], macs["limit"], macs["kept"], macs["share"]) == (MACS, 2e6, True, MACS / 2e6)
    params_by_hand = CONV1_PARAMS + (16 * 9 * 32 + 32) + (32 * 10 + 10)
    assert (params["value"], params["kept"], params["share"]) == (params_by_hand, False, None)  # a floor has no share
    assert [line.split(";")[0] for line in document["budget_breaches"]] == [
        f"params = {params_by_hand:,} (5.42 k) breaks the budget params>=10k"]


def test_a_budget_against_the_snapshot_names_the_layers_that_grew_most(project):
    _edit_kernel(project, 5)
    result = run("check")  # the table's budget macs<=3M, now broken
    conv2 = 16 * 16 * 32 * 16 * (25 - 9)  # H·W·C'·C·(k² − 9): 2,097,152 more MACs
    conv1 = 32 * 32 * 16 * 3 * (25 - 9)  # 786,432 more
    assert result.exit_code == 1
    assert f"grew most against the snapshot: conv2 +{conv2 / 1e6:.3g} M, conv1 +{conv1 / 1e3:.3g} k" in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mac<=1M", "'mac' is not a summed figure"),
        ("macs<=1Q", "cannot read '1Q' as a number with a suffix"),
        ("macs=1M", "expected COLUMN OP NUMBER[SUFFIX]"),
    ],
)
def test_a_bad_budget_is_one_line(project, text, message):
    result = run("check", *BUILD, "--budget", text)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('snapshot = "snapshots"', "unknown key 'snapshot' (the table calls --snapshot 'snapshots')"),
        ('against = ["torch"]', "unknown key 'against' (the table calls --against 'references')"),
        ('refrences = ["torch"]', "unknown key 'refrences' (did you mean 'references'?)"),
        ('[[tool.cnnstat.models]]\nmodel = "models/nets.py:build"\ninputs = ["3x32x32"]',
         "unknown key 'models[0].inputs' (did you mean 'input'?)"),
        ('references = "torch"', "references must be a list of strings"),
        ('[[tool.cnnstat.models]]\nmodel = "models/nets.py:build"\ninput = "3x32x32"', "models[0].input must be a list of strings"),
        ('budgets = ["flops<=many"]', "budgets: budget 'flops<=many'"),
    ],
)
def test_a_bad_table_gets_one_line_naming_the_key(project, table, message):
    (project / "pyproject.toml").write_text(f"[tool.cnnstat]\n{table}\n")
    result = run("check")
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(("references", "expected"), [('["torch"]', {"torch"}), ('["fvcore", "torch"]', {"fvcore", "torch"}), ("[]", set())])
def test_the_tables_references_are_the_ones_checked(project, references, expected):
    config = project / "pyproject.toml"
    config.write_text(config.read_text().replace('references = ["torch"]', f"references = {references}"))
    result = run("check", "-f", "json")
    assert result.exit_code == 0, result.output
    [document] = json.loads(result.stdout)
    assert {comparison["reference"] for comparison in document["comparisons"]} == expected


def test_check_of_several_models_ends_with_one_summary_line(project):
    result = run("check", "models/nets.py:build", "models/nets.py:wide", "--input", "3x32x32", "--against", "torch")
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("2 models: 0 failed · ") and "mismatches" in last and "snapshot changes" in last


def test_diff_of_two_snapshots_is_a_markdown_comment(project):
    old = project.parent / "old.json"
    shutil.copy(project / "snapshots" / SNAPSHOT, old)
    _edit_kernel(project, 5)
    run("check", *BUILD, "--snapshot", "snapshots", "--update-snapshot")
    result = run("diff", str(old), f"snapshots/{SNAPSHOT}", "-f", "markdown")
    assert result.exit_code == 0, result.output
    text = result.output
    params_after = CONV1_PARAMS_K5 + (32 * 16 * 25 + 32) + (32 * 10 + 10)
    params_before = CONV1_PARAMS + (32 * 16 * 9 + 32) + (32 * 10 + 10)
    assert text.startswith(f"### cnnstat diff: old.json → {SNAPSHOT}")
    change = 100 * (params_after - params_before) / params_before
    assert f"| Params | {params_before:,} | {params_after:,} | {change:+.1f}% |" in text
    assert text.index("| Total |") < text.index("| Layer |")  # totals first
    assert "| fc | Linear |" in text and "Params" not in text.split("| fc | Linear |")[1].split("\n")[0]  # fc: only its RF
    same = run("diff", str(old), str(old), "-f", "markdown")
    assert "No change." in same.output


def test_diff_of_a_broken_snapshot_is_one_line_without_checks_option(project):
    (project / "bad.json").write_text("{")
    result = run("diff", "bad.json", f"snapshots/{SNAPSHOT}")
    assert result.exit_code != 0 and "bad.json is not valid JSON" in result.output, result.output
    assert "--update-snapshot" not in result.output  # an option of check, not of diff
    assert "Traceback" not in result.output
    (project / "bad_snapshots").mkdir()  # check still names its own way out
    (project / "bad_snapshots" / SNAPSHOT).write_text("{")
    broken = run("check", *BUILD, "--snapshot", "bad_snapshots")
    assert broken.exit_code != 0 and "delete it or pass --update-snapshot" in broken.output, broken.output


def _commands() -> list[str]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    workflow = yaml.safe_load((REPO / "docs" / "examples" / "cnnstat-check.yml").read_text())
    steps = [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "cnnstat" in step.get("run", "")]
    return [hook["entry"] for hook in hooks] + [step for step in steps if not step.startswith("pip ")]


def test_the_ci_files_commands_pass_on_the_sample_project_and_fail_on_a_change(project):
    commands = _commands()
    assert len(commands) == 2 and all(shlex.split(command)[0] == "cnnstat" for command in commands)
    env = {"PATH": str(Path(sys.executable).parent), "CI": "true", "COLUMNS": "200",
           "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]}  # the test run's own cache (conftest.py), not the user's

    def start(command: str) -> subprocess.Popen:
        argv = [sys.executable, "-m", "cnnstat", *shlex.split(command)[1:]]
        return subprocess.Popen(argv, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    for command, running in [(command, start(command)) for command in commands]:  # both at once
        output = running.communicate(timeout=300)[0]
        assert running.returncode == 0, (command, output)
    _edit_kernel(project, 5)
    failed = start(commands[0])
    output = failed.communicate(timeout=300)[0]
    assert failed.returncode == 1 and "layer conv1: params" in output


# -- outputs for review: Markdown and CSV as the table reads, --top K ---------------------------------------------------


def test_markdown_has_the_tables_columns_a_title_formatted_shares_and_a_total_row():
    rows = json.loads(run("flops", "lenet5", "-f", "json").stdout)["layers"]
    lines = run("flops", "lenet5", "-f", "markdown").stdout.splitlines()
    assert lines[0] == "### lenet5 · FLOPs (lenet) · input 1×1×32×32"
    assert lines[2] == "| Layer | Type | Output | MACs | FLOPs | Share |"
    total = sum(row["flops"] for row in rows)
    c3 = next(row for row in rows if row["name"] == "C3")
    assert f"| C3 | Conv2d | 1×16×10×10 | {c3['macs']:,} | {c3['flops']:,} | {100 * c3['flops'] / total:.1f}% |" in lines
    assert lines[-1].startswith("| **Total** |") and f"**{total:,}**" in lines[-1]
    assert len(lines) == 4 + len(rows) + 1



def test_intensity_is_a_ratio_rounded_in_csv_as_share_is_and_to_two_decimals_in_tables():
    import csv

    columns = ("--columns", "name,flops,bytes,intensity,share")
    title, *lines = run("summary", "lenet5", *columns, "-f", "csv").stdout.splitlines()
    assert title.startswith("# lenet5")
    rows = list(csv.DictReader(lines))
    c1 = next(row for row in rows if row["name"] == "C1")
    # C1, by hand (lenet convention: a connection per kernel weight and the bias): 6 maps of 28×28 from 5×5 kernels
    assert int(c1["flops"]) == 6 * 28 * 28 * (25 + 1)
    assert c1["intensity"] == str(round(int(c1["flops"]) / int(c1["bytes"]), 6))  # not a float's 17 digits
    assert all(len(row[name].partition(".")[2]) <= 6 for row in rows for name in ("intensity", "share"))
    table = run("summary", "lenet5", *columns).stdout
    assert f"{int(c1['flops']) / int(c1['bytes']):.2f}" in next(line for line in table.splitlines() if "C1 " in line)

def test_csv_by_type_keeps_the_type_and_its_calls_in_columns_of_their_own():
    import pandas as pd

    layers = json.loads(run("summary", "resnet18", "-f", "json").stdout)["layers"]
    frame = pd.read_csv(io.StringIO(run("summary", "resnet18", "--by", "type", "-f", "csv").stdout), comment="#")
    assert frame.iloc[-1]["name"] == "Total" and pd.isna(frame.iloc[-1]["calls"])  # calls of all types add up to nothing
    frame = frame.iloc[:-1]
    assert list(frame.columns[:3]) == ["name", "type", "calls"]
    convs = [layer for layer in layers if layer["type"] == "Conv2d"]
    conv = frame[frame["type"] == "Conv2d"].iloc[0]
    assert conv["calls"] == len(convs) == 20 and conv["macs"] == sum(layer["macs"] for layer in convs)
    assert frame["calls"].sum() == len(layers) and not frame["type"].str.contains("call").any()


def test_top_alone_shows_the_costliest_rows_and_says_how_many_are_hidden():
    layers = json.loads(run("flops", "resnet18", "-f", "json").stdout)["layers"]
    result = run("flops", "resnet18", "--top", "3", "-f", "json")
    shown = json.loads(result.stdout)["layers"]
    assert [row["flops"] for row in shown] == sorted((row["flops"] for row in layers), reverse=True)[:3]
    assert f"showing the costliest 3 of {len(layers)} rows by flops; {len(layers) - 3} hidden" in result.stderr


# -- also mended: flags shown as flags, --version, shorter and misordered shapes -----------------------------------------


def test_flags_show_no_value_and_version_is_the_installed_one():
    from importlib.metadata import version

    import typer.core
    import typer.main

    commands = typer.main.get_command(app).commands
    for args in (("--help",), *((name, "--help") for name in commands)):
        assert "<bool>" not in run(*args).output, args
    assert "--all  " in run("check", "--help").output  # a flag with nothing after it but its help
    assert "[tool.cnnstat] table" in run("check", "--help").output  # not read as rich markup and dropped
    assert typer.core.TyperOption.display_type_rich.__module__ == "typer.core"  # Typer itself left as it is
    assert run("--version").output.strip() == f"cnnstat {version('cnnstat')}"


def test_a_shorter_shape_says_how_it_was_read_and_a_misordered_one_gets_a_hint():
    shorter = run("summary", "resnet18", "--input", "3x64", "-f", "json")
    assert json.loads(shorter.stdout)["layers"][0]["input_shape"] == [1, 3, 3, 64]
    assert "--input 3x64 was read as 3×3×64" in shorter.stderr
    batch = run("summary", "resnet18", "--input", "1x3x64x64")
    assert batch.exit_code == 1 and "looks batch-included" in batch.output and "(3x64x64)" in batch.output
    last = run("summary", "resnet18", "--input", "64x64x3")
    assert last.exit_code == 1 and "looks channels-last: give channels first (3x64x64)" in last.output


def test_diff_of_one_model_at_two_inputs():
    document = json.loads(run("diff", "resnet18", "--input", "3x64x64", "--input-b", "3x96x96", "-f", "json").stdout)
    conv1 = next(layer for layer in document["layers"] if layer["layer"] == "conv1")
    fields = {field["name"]: (field["old"], field["new"]) for field in conv1["fields"]}
    # a 7×7 stride-2 convolution padded by 3: (64 + 6 − 7) // 2 + 1 = 32, (96 + 6 − 7) // 2 + 1 = 48
    assert fields["output_shape"] == ([1, 64, 32, 32], [1, 64, 48, 48])
    assert fields["macs"] == (32 * 32 * 64 * 3 * 49, 48 * 48 * 64 * 3 * 49) and "params" not in fields
