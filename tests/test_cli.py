"""The command line, run in-process with a fixed terminal width; tables against golden files."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest


def test_help_lists_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("summary", "flops", "models"):
        assert command in result.output


def test_help_does_not_import_torch():
    code = "import sys; from cnnstat.cli import app; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_summary_lenet_table(cli, golden):
    result = cli("summary", "lenet")
    assert result.exit_code == 0, result.output
    golden("summary_lenet.txt", result.output)


def test_flops_resnet50_table(cli, golden):
    result = cli("flops", "resnet50", "--input", "3x224x224")
    assert result.exit_code == 0, result.output
    golden("flops_resnet50.txt", result.output)


def test_explain_fills_in_the_formula(cli):
    result = cli("summary", "lenet", "--explain")
    assert "C1: (1·5²+1)·6·28² = 122,304" in result.output
    padded = cli("summary", "lenet-fashion", "--explain")
    assert "0: (1·5²+1)·6·28² = 122,304  (true connections 112,440" in padded.output


def test_json_is_one_object_with_the_documented_fields(cli):
    result = cli("summary", "lenet5-1998", "--format", "json")
    document = json.loads(result.output)
    assert document["model"] == "lenet5-1998"
    assert document["input"] == [1, 1, 32, 32]
    assert document["output_shape"] == [1, 10]
    assert document["convention"] == "lenet"
    assert document["totals"]["trainable_params"] == 60_000
    assert document["totals"]["connections"] == 340_908
    figures = {"params", "trainable_params", "param_bytes", "macs", "elementwise", "connections", "formula_connections",
               "neurons", "backward_macs", "activation_bytes", "bytes", "flops", "training_bytes"}  # fmt: skip
    assert set(document["totals"]) == figures
    first = document["layers"][0]
    assert set(first) >= figures | {"name", "type", "input_shape", "output_shape", "receptive_field", "effective_stride"}


def test_csv_rows_equal_json_rows(cli, tmp_path):
    rows = json.loads(cli("flops", "fashion-cnn", "--format", "json", "-c", "flops").output)["layers"]
    path = tmp_path / "rows.csv"
    path.write_text(cli("flops", "fashion-cnn", "--format", "csv", "-c", "flops").output)
    frame = pd.read_csv(path, comment="#")
    assert frame["flops"].tolist()[:-1] == [row["flops"] for row in rows]
    assert frame["name"].tolist()[:-1] == [row["name"] for row in rows]


def test_csv_has_a_title_and_the_whole_models_totals(cli, tmp_path):
    document = json.loads(cli("summary", "resnet18", "--format", "json").output)
    path = tmp_path / "rows.csv"
    cli("summary", "resnet18", "--format", "csv", "--top", "3", "--columns", "name,params,macs,bytes", "--out", str(path))
    assert path.read_text().splitlines()[0] == "# resnet18 · input 1×3×224×224"
    frame = pd.read_csv(path, comment="#")
    assert list(frame.columns) == ["name", "params", "macs", "bytes"]
    assert len(frame) == 4  # the costliest three, then the total of all 69 rows, not of the three shown
    total = frame.iloc[-1]
    assert total["name"] == "Total"
    assert [total[c] for c in ("params", "macs", "bytes")] == [document["totals"][c] for c in ("params", "macs", "bytes")]
    cli("summary", "resnet18", "--format", "csv", "--by", "type", "--columns", "params", "--out", str(path))
    frame = pd.read_csv(path, comment="#")
    assert list(frame.columns) == ["name", "calls", "params"]  # a label for each type and the total, though not asked
    assert frame["name"].tolist()[-1] == "Total" and frame["params"].iloc[-1] == frame["params"].iloc[:-1].sum()
    cli("summary", "resnet18", "--format", "csv", "--by", "type", "--columns", "type,params", "--out", str(path))
    frame = pd.read_csv(path, comment="#")
    assert list(frame.columns) == ["type", "calls", "params"]  # the type labels its row: no name column repeating it
    assert frame["type"].tolist()[-1] == "Total" and frame["calls"].iloc[:-1].sum() == len(document["layers"])


def test_markdown_is_a_table(cli):
    lines = cli("summary", "lenet", "--format", "markdown").output.splitlines()
    assert lines[0].startswith("### ") and lines[2].startswith("| Layer") and set(lines[3]) <= {"|", "-", ":", " "}


def test_conventions_give_different_totals(cli):
    totals = {
        convention: json.loads(cli("flops", "resnet50", "-c", convention, "-f", "json").output)["totals"]["flops"]
        for convention in ("lenet", "macs", "flops", "fvcore")
    }
    assert totals["macs"] == 4_089_184_256
    assert totals["fvcore"] == 4_111_512_576  # fvcore's published-by-everyone 4.11 G
    assert totals["flops"] > 2 * totals["macs"]


def test_models_lists_and_filters(cli):
    assert "resnet50" in cli("models").output
    listed = json.loads(cli("models", "lenet*", "--format", "json").output)
    assert [row["name"] for row in listed] == ["lenet5", "lenet5-1998", "lenet-fashion"]
    assert listed[0]["params"] == 61_750
    assert cli("models", "nothing*").exit_code == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (("summary", "resnet5"), "did you mean resnet50"),
        (("summary", "lenet", "--input", "3by3"), "cannot read --input '3by3': expected SHAPE"),
        (("flops", "alexnet", "--input", "3x32x32"), "layer features.12 (MaxPool2d) got input 1×256×1×1"),
        (("summary", "lenet", "--input", "3x32x32"), "takes 1 input channel, not 3"),
        (("summary", "no_such_pkg.models:build"), "cannot import no_such_pkg.models"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_1(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_usage_errors_exit_2(cli):
    assert cli("summary", "lenet", "--convention", "bogus").exit_code == 2
    assert cli("summary", "lenet", "--batch", "0").exit_code == 2


def test_python_dash_m_runs():
    result = subprocess.run([sys.executable, "-m", "cnnstat", "summary", "lenet", "-f", "json"], capture_output=True, text=True)
    assert result.returncode == 0 and json.loads(result.stdout)["totals"]["params"] == 61_750
