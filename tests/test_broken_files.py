"""Broken files cnnstat reads, each written here: one line naming the file and what is wrong; files written keep ordinary modes."""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path

import pytest
from fashion_fixtures import write_csv_set, write_idx_set

from cnnstat.atomic import atomic_path, write_atomically
from cnnstat.check.snapshot import FORMAT
from cnnstat.errors import DataError

SNAPSHOT_ARGS = ("check", "lenet5", "--against", "none", "--snapshot")
TRAIN_ARGS = ("train", "fashion-fast", "--epochs", "1", "--batch-size", "64", "--device", "cpu", "--val", "0")


def _one_clean_line(result, path: Path, message: str) -> None:
    """Exit code 1 and one line that names ``path`` and says ``message``; no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert str(path) in result.output and message in result.output, result.output


# -- snapshots ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lenet5_snapshot(tmp_path_factory) -> tuple[str, dict]:
    """(file name, document) of lenet5's snapshot, as ``check --snapshot`` writes it."""
    from cnnstat.check import check_model
    from cnnstat.check.snapshot import compare_snapshot

    result = compare_snapshot(check_model("lenet5", (), ()).report, tmp_path_factory.mktemp("snapshots"))
    return result.path.name, json.loads(result.path.read_text())


def _write_snapshot(tmp_path: Path, name: str, content: str | dict) -> Path:
    path = tmp_path / "snapshots" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("flops", [1, 2], "flops is [1, 2], not an object of integers by convention"),
        ("flops", "x", "flops is 'x', not an object of integers by convention"),
        ("flops", {"lenet": "x"}, "flops of convention 'lenet' is 'x', not an integer"),
        ("macs", "many", "macs is 'many', not a number"),
        ("params", True, "params is True, not a number"),
        ("output_shape", "1x6x28x28", "output_shape is '1x6x28x28', not a list of integers"),
        ("receptive_field", [5, "5"], "receptive_field is [5, '5'], not a list of integers"),
    ],
)
def test_a_snapshot_field_of_the_wrong_type_is_named(cli, tmp_path, lenet5_snapshot, field, value, message):
    name, document = lenet5_snapshot
    layers = [{**document["layers"][0], field: value}, *document["layers"][1:]]
    path = _write_snapshot(tmp_path, name, {**document, "layers": layers})
    result = cli(*SNAPSHOT_ARGS, str(path.parent))
    _one_clean_line(result, path, f"layer 0 ({layers[0]['name']}): {message}")


def test_a_snapshot_nested_too_deeply_is_not_a_snapshot(cli, tmp_path, lenet5_snapshot):
    path = _write_snapshot(tmp_path, lenet5_snapshot[0], "[" * 100_000)
    result = cli(*SNAPSHOT_ARGS, str(path.parent))
    _one_clean_line(result, path, "is not a cnnstat snapshot: its JSON is nested too deeply to read")


def test_a_snapshot_of_a_newer_format_is_named_as_newer_even_without_layers(cli, tmp_path, lenet5_snapshot):
    path = _write_snapshot(tmp_path, lenet5_snapshot[0], {"format": FORMAT + 1, "model": "lenet5", "graph": {}})
    result = cli(*SNAPSHOT_ARGS, str(path.parent))
    _one_clean_line(result, path, f"was written by a newer cnnstat (snapshot format {FORMAT + 1}")


@pytest.mark.parametrize("content", ["{truncated", "[" * 100_000, "layer"])
def test_update_snapshot_replaces_a_broken_file(cli, tmp_path, lenet5_snapshot, content):
    name, document = lenet5_snapshot
    if content == "layer":
        content = json.dumps({**document, "layers": [{**document["layers"][0], "flops": [1, 2]}]})
    path = _write_snapshot(tmp_path, name, content)
    path.chmod(0o664)
    assert cli(*SNAPSHOT_ARGS, str(path.parent)).exit_code == 1  # refused, as the tests above show
    result = cli(*SNAPSHOT_ARGS, str(path.parent), "--update-snapshot")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "updated" in result.output and "replaced a file that could not be read as a snapshot" in result.output
    assert json.loads(path.read_text()) == document and os.stat(path).st_mode & 0o777 == 0o664
    again = cli(*SNAPSHOT_ARGS, str(path.parent))
    assert again.exit_code == 0 and "unchanged" in again.output


# -- IDX and CSV data sets -----------------------------------------------------------------------------


def _train_on(cli, folder: Path, tmp_path: Path):
    return cli(*TRAIN_ARGS, "--data", str(folder), "--out", str(tmp_path / "run"))


def test_a_corrupt_deflate_stream_is_named(cli, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_idx_set(folder, n_train=64, n_test=32)
    path = folder / "train-images-idx3-ubyte.gz"
    header = gzip.compress(path.read_bytes())[:10]  # gzip's own header is valid; the deflate body after it is not
    path.write_bytes(header + b"\xff" * 512)
    _one_clean_line(_train_on(cli, folder, tmp_path), path, "the compressed data are corrupt")


def test_an_idx_header_cut_short_is_named(cli, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_idx_set(folder, n_train=64, n_test=32, gz=False)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(struct.pack(">III", 2051, 32, 28))  # the images magic, then two of its three dimensions
    _one_clean_line(_train_on(cli, folder, tmp_path), path, "12 bytes is too short for an IDX header of 3 dimensions")


@pytest.mark.parametrize("split, n_train, n_test", [("train", 0, 32), ("t10k", 64, 0)])
def test_an_empty_idx_split_is_refused_when_read(cli, tmp_path, split, n_train, n_test):
    folder = tmp_path / "data"
    folder.mkdir()
    write_idx_set(folder, n_train=n_train, n_test=n_test)
    path = folder / f"{split}-images-idx3-ubyte.gz"
    _one_clean_line(_train_on(cli, folder, tmp_path), path, "holds no images; a split needs at least one")


def test_an_empty_csv_split_is_refused_when_read(cli, tmp_path):
    write_csv_set(tmp_path, n_train=8, n_test=4)
    path = tmp_path / "fashion-mnist_test.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")  # the header alone
    _one_clean_line(_train_on(cli, tmp_path, tmp_path), path, "holds no images; a split needs at least one")


BAD_CELLS = {"float": (10, "3.5"), "text": (784, "abc"), "large": (1, "256"), "label": (0, "x"), "huge": (5, "a" * 200_000)}


def _damage_row(cells: list[str], damage: str) -> list[str]:
    if damage == "short":
        return cells[:700]
    if damage == "long":
        return [*cells, "0"]
    column, value = BAD_CELLS[damage]
    return [*cells[:column], value, *cells[column + 1 :]]


@pytest.mark.parametrize(
    "damage, header, message",
    [
        ("short", True, "line 4 has 700 columns, expected 785 (a label and 784 pixels)"),
        ("long", True, "line 4 has 786 columns, expected 785 (a label and 784 pixels)"),
        ("float", True, "line 4: pixel 10 is '3.5', expected an integer 0–255"),
        ("text", True, "line 4: pixel 784 is 'abc', expected an integer 0–255"),
        ("large", True, "line 4: pixel 1 is '256', expected an integer 0–255"),
        ("label", True, "line 4: the label is 'x', expected an integer 0–9"),
        ("huge", True, "line 4: field larger than field limit"),  # past the csv module's limit, within pandas'
        ("float", False, "line 3: pixel 10 is '3.5', expected an integer 0–255"),  # plain MNIST CSV: no header line
    ],
)
def test_the_first_bad_csv_row_is_named_with_what_is_wrong(cli, tmp_path, damage, header, message):
    write_csv_set(tmp_path, n_train=8, n_test=4)
    path = tmp_path / "fashion-mnist_train.csv"
    lines = path.read_text().splitlines()[(0 if header else 1) :]
    bad = 3 if header else 2  # the third data row
    lines[bad] = ",".join(_damage_row(lines[bad].split(","), damage))
    path.write_text("\n".join(lines) + "\n")
    _one_clean_line(_train_on(cli, tmp_path, tmp_path), path, f"{path}: {message}")


# -- images --------------------------------------------------------------------------------------------


def _huge_png(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "huge.png"
    Image.new("1", (20_000, 20_000)).save(path)  # 400 million pixels in a few kilobytes
    return path


def test_an_image_too_large_to_decode_safely_is_named(tmp_path):
    from cnnstat.training.predict import load_image

    path = _huge_png(tmp_path)
    with pytest.raises(DataError, match=f"{path}: the image is too large to read safely"):
        load_image(path)


def test_predict_refuses_a_huge_image_and_an_empty_test_set(cli, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_idx_set(data, n_train=64, n_test=32)
    assert _train_on(cli, data, tmp_path).exit_code == 0
    run = tmp_path / "run"
    huge = _huge_png(tmp_path)
    _one_clean_line(cli("predict", str(run), str(huge)), huge, "the image is too large to read safely")
    empty = tmp_path / "empty"
    empty.mkdir()
    write_idx_set(empty, n_train=64, n_test=0)
    result = cli("predict", str(run), "--test", "--data", str(empty))
    _one_clean_line(result, empty / "t10k-images-idx3-ubyte.gz", "holds no images")
    assert "test accuracy" not in result.output


# -- file modes of what cnnstat writes ---------------------------------------------------------------------


def _with_umask(umask: int, action):
    previous = os.umask(umask)
    try:
        return action()
    finally:
        os.umask(previous)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=oct)
def test_a_new_file_gets_the_mode_an_ordinary_open_gives(tmp_path, umask):
    ordinary = tmp_path / "ordinary.txt"
    _with_umask(umask, lambda: ordinary.write_text("x"))
    written = tmp_path / "written.txt"
    _with_umask(umask, lambda: write_atomically(written, "x"))
    assert os.stat(written).st_mode & 0o777 == os.stat(ordinary).st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o444], ids=oct)
def test_a_rewrite_keeps_the_mode_of_the_file_it_replaces(tmp_path, mode):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    target.chmod(mode)
    _with_umask(0o077, lambda: write_atomically(target, "new"))
    with atomic_path(target) as temporary:  # as checkpoints are written: by a path, not by text
        temporary.write_bytes(b"newer")
    assert target.read_text() == "newer" and os.stat(target).st_mode & 0o777 == mode
    assert list(tmp_path.iterdir()) == [target]
