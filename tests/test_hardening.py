"""Broken files named with what is wrong, misbehaving user models with a clear line, outputs never half-written."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cnnstat.atomic import atomic_path, check_writable, write_atomically
from cnnstat.errors import OutputError

SNAPSHOT_ARGS = ("check", "lenet5", "--against", "none", "--snapshot")


def _snapshot(tmp_path: Path, cli) -> Path:
    folder = tmp_path / "snapshots"
    assert cli(*SNAPSHOT_ARGS, str(folder)).exit_code == 0
    return next(folder.iterdir())


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is not valid JSON"),
        ("{truncated", "is not valid JSON"),
        ('{"version": 1}', "is not a cnnstat snapshot: it has no list of layers"),
        ("[1, 2, 3]", "is not a cnnstat snapshot: it has no list of layers"),
        ('{"format": 99, "layers": []}', "was written by a newer cnnstat (snapshot format 99; this one reads up to 2)"),
        ('{"format": "two", "layers": []}', "has an unknown snapshot format 'two'"),
        ('{"format": 2, "layers": [{"name": 3}]}', "layer 0 is not an object with a name and a type"),
        (b"\xff\xfe\x00binary", "cannot be read"),
    ],
)
def test_broken_snapshots_are_named_with_what_is_wrong(cli, tmp_path, content, message):
    path = _snapshot(tmp_path, cli)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    result = cli(*SNAPSHOT_ARGS, str(path.parent))
    assert result.exit_code == 1 and message in result.output and str(path) in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_a_snapshot_of_the_first_format_is_still_read(cli, tmp_path):
    path = _snapshot(tmp_path, cli)
    document = json.loads(path.read_text())
    for layer in document["layers"]:  # as cnnstat 0.1 wrote them
        flops = layer.pop("flops")
        layer["lenet"], layer["fvcore"] = flops["lenet"], flops["fvcore"]
        for field in ("backward_macs", "activation_bytes", "formula_connections", "receptive_field"):
            layer.pop(field)
    del document["format"]
    path.write_text(json.dumps(document))
    result = cli(*SNAPSHOT_ARGS, str(path.parent))
    assert result.exit_code == 0 and "unchanged" in result.output
    assert "not in the snapshot, not compared: activation_bytes, backward_macs" in result.output


def test_a_broken_baseline_fails_before_any_timing(cli, tmp_path):
    baseline = tmp_path / "baseline.json"
    baseline.write_text('{"results": [{"model": "lenet5"}]}')
    result = cli("bench", "lenet5", "--device", "cpu", "--baseline", str(baseline))
    assert result.exit_code == 1 and "not a cnnstat bench JSON (KeyError" in result.output
    assert "Images/s" not in result.output  # nothing was timed


def test_a_damaged_peak_cache_is_measured_again(tmp_path, monkeypatch):
    from cnnstat.devices import select_device
    from cnnstat.profile.peaks import cache_path, machine_peaks

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("cnnstat.profile.peaks.BUSY_SHARE", 0.0)  # rewritten even on a loaded CI box (test_busy_peaks.py)
    path = cache_path(select_device("cpu"), 1)
    path.parent.mkdir(parents=True)
    path.write_text("{half a json")
    assert machine_peaks(select_device("cpu"), 1).compute_gflops("float32") > 0
    assert json.loads(path.read_text())["threads"] == 1


@pytest.mark.parametrize("name, content", [("notes.txt", b"plain text"), ("fake.png", b"\x89PNG\r\n\x1a\ntruncated"), ("folder", None)])
def test_unreadable_images_are_named(tmp_path, name, content):
    from cnnstat.errors import DataError
    from cnnstat.training.predict import load_image

    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=str(path)):
        load_image(path)


# -- user models that misbehave --------------------------------------------------------------------

MODELS = textwrap.dedent("""
    import torch, torch.nn as nn
    class Loops(nn.Module):
        input_size = (3,)
        def forward(self, x):
            while True:
                x = x + 1
    class Raises(nn.Module):
        input_size = (3,)
        def forward(self, x):
            raise KeyError("no such feature")
    class ReturnsNothing(nn.Module):
        input_size = (3,)
        def forward(self, x):
            print(x.shape)
    class NoParameters(nn.Module):
        input_size = (3, 8, 8)
        def forward(self, x):
            return torch.nn.functional.max_pool2d(x, 2)
    class UnknownOp(nn.Module):
        input_size = (4, 4)
        def forward(self, x):
            return torch.cumsum(x, 1)
    class NeedsTwo(nn.Module):
        input_size = (3,)
        def forward(self, x, mask):
            return x * mask
    class Huge(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(100_000, 100_000)  # 40 GB of weights, as a real model
        def forward(self, x):
            return self.layer(x)
    def fails_to_build():
        raise ValueError("bad config")
""")


@pytest.fixture
def models(tmp_path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


@pytest.mark.parametrize(
    "name, args, message",
    [
        ("Loops", ("--timeout", "1"), "did not finish within 1 s (--timeout)"),
        ("Raises", (), "raised KeyError in layer Raises (Raises): 'no such feature'"),
        ("NeedsTwo", (), "needs an input for mask"),
        ("fails_to_build", (), "building {path}:fails_to_build failed: ValueError: bad config"),
        ("Missing", (), "has no attribute 'Missing'"),
    ],
)
def test_misbehaving_models_get_one_line_naming_the_model_and_the_reason(cli, models, name, args, message):
    result = cli("summary", f"{models}:{name}", *args)
    assert result.exit_code == 1, result.output
    assert message.format(path=models) in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_models_that_count_little_are_still_reported(cli, models):
    nothing = cli("summary", f"{models}:ReturnsNothing")
    assert nothing.exit_code == 0 and "the model returned no tensor" in nothing.output
    pooling = json.loads(cli("summary", f"{models}:NoParameters", "-f", "json").stdout)
    assert pooling["totals"]["params"] == 0 and pooling["totals"]["connections"] == 3 * 4 * 4 * 4
    unknown = cli("summary", f"{models}:UnknownOp")
    assert unknown.exit_code == 0 and "Uncounted ops (1 calls, not in the totals): cumsum" in unknown.output


def test_a_huge_model_is_counted_on_meta_and_not_built_for_the_references(cli, models):
    counted = json.loads(cli("summary", f"{models}:Huge", "-i", "100000", "-f", "json").stdout)
    assert counted["totals"]["params"] == 100_000 * 100_000 + 100_000
    checked = json.loads(cli("check", f"{models}:Huge", "-i", "100000", "--against", "fvcore,torch", "-f", "json").stdout)
    assert "GiB of weights need a real copy" in checked[0]["unavailable"]["torch"]


def test_a_forward_that_loops_forever_is_stopped_only_when_asked(models):
    code = f"import cnnstat; cnnstat.analyze({str(models) + ':Loops'!r})"
    with pytest.raises(subprocess.TimeoutExpired):  # off by default: it would run forever
        subprocess.run([sys.executable, "-c", code], timeout=3, capture_output=True)


# -- outputs never half-written -----------------------------------------------------------------------


def test_out_writes_the_whole_file_or_nothing(cli, tmp_path):
    target = tmp_path / "new" / "report.json"  # a missing folder is created
    assert cli("summary", "lenet", "-f", "json", "--out", str(target)).exit_code == 0
    assert json.loads(target.read_text())["model"] == "lenet5"
    # refused while the command line is read, before any counting: a usage error, its message in Typer's box
    def said(result) -> str:
        return " ".join(result.output.replace("│", " ").split())

    into_folder = cli("summary", "lenet", "-f", "json", "--out", str(tmp_path))
    assert into_folder.exit_code == 2 and "is a folder: name a file to write" in said(into_folder)
    blocked = tmp_path / "file"
    blocked.write_text("x")
    for command in (("summary", "lenet"), ("check", "lenet"), ("bench", "lenet", "--device", "cpu"), ("compare", "lenet")):
        under_a_file = cli(*command, "-f", "csv" if command[0] != "check" else "json", "--out", str(blocked / "report.csv"))
        assert under_a_file.exit_code == 2 and "is a file, not a folder to write into" in said(under_a_file), command
    snapshots = cli("check", "lenet", "--snapshot", str(blocked / "snapshots"))
    assert snapshots.exit_code == 2 and "cannot write into" in said(snapshots)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "new"]  # no temporary left behind


def test_writability_is_checked_by_writing_even_as_root(tmp_path):
    check_writable(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_writable(blocker)
    with pytest.raises(OutputError, match="cannot write into"):
        check_writable(blocker / "below")  # no permission bit lets anyone, root included, create this


def test_train_checks_its_run_folder_before_reading_any_data(cli, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    missing_data = tmp_path / "no-data-here"  # were the data read first, this would be the error
    result = cli("train", "fashion-fast", "--device", "cpu", "--data", str(missing_data), "--out", str(blocker / "run"))
    assert result.exit_code == 1 and "cannot write into" in result.output and "no-data-here" not in result.output
    fresh = tmp_path / "a" / "new" / "run"
    result = cli("train", "fashion-fast", "--device", "cpu", "--data", str(missing_data), "--out", str(fresh))
    assert fresh.is_dir() and "no-data-here" in result.output  # a missing folder is created, then the data are looked for


def test_a_write_interrupted_midway_leaves_the_old_file(tmp_path):
    target = tmp_path / "metrics.csv"
    write_atomically(target, "old\n")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]


def _import_interrupted_by_ctrl_c() -> None:
    """What pybind11 raises when Ctrl-C lands inside an extension's initialisation (matplotlib's ``_image``): an
    ImportError whose cause is the KeyboardInterrupt."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as interrupt:
        raise ImportError("initialization failed") from interrupt


def test_ctrl_c_inside_an_extensions_import_exits_as_an_interruption(capsys):
    import typer

    from cnnstat.cli.app import user_errors

    with pytest.raises(typer.Exit) as stopped:
        user_errors(_import_interrupted_by_ctrl_c)()
    assert stopped.value.exit_code == 130 and "interrupted" in capsys.readouterr().err


def test_any_other_failure_of_an_import_is_not_taken_for_ctrl_c():
    from cnnstat.cli.app import user_errors

    def broken_import() -> None:
        raise ImportError("libfoo.so: cannot open shared object file")

    with pytest.raises(ImportError, match="libfoo"):
        user_errors(broken_import)()
