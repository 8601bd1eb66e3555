"""Fashion-MNIST loading: IDX (.gz and raw), Kaggle CSV, torchvision's layout; validation errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from fashion_fixtures import synthetic_split, write_csv_set, write_idx, write_idx_set

from cnnstat.errors import DataError
from cnnstat.training.data import CLASSES, DEBIAN_DIR, load_fashion_mnist, read_folder


def test_reads_gzipped_idx(tmp_path):
    write_idx_set(tmp_path, n_train=64, n_test=32)
    data = load_fashion_mnist(tmp_path)
    assert data.train.images.shape == (64, 28, 28) and data.test.labels.shape == (32,)
    images, labels = synthetic_split(64, seed=0)
    assert np.array_equal(data.train.images.numpy(), images) and np.array_equal(data.train.labels.numpy(), labels)


def test_reads_raw_idx_and_torchvision_layout(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx_set(raw, n_train=16, n_test=8, gz=False)
    assert len(load_fashion_mnist(tmp_path).train) == 16


def test_reads_kaggle_csv(tmp_path):
    write_csv_set(tmp_path, n_train=20, n_test=10)
    data = load_fashion_mnist(tmp_path)
    images, labels = synthetic_split(20, seed=0)
    assert np.array_equal(data.train.images.numpy(), images) and np.array_equal(data.train.labels.numpy(), labels)


def test_environment_variable_is_searched(tmp_path, monkeypatch):
    write_idx_set(tmp_path, n_train=8, n_test=8)
    monkeypatch.setenv("CNNSTAT_DATA", str(tmp_path))
    assert load_fashion_mnist().source == str(tmp_path)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("magic", "magic number 2049, expected 2051"),
        ("truncate", "truncated or corrupt"),
        ("labels", "labels range 12–12, expected 0–9"),
        ("count", "64 images but 63 labels"),
        ("missing", "missing t10k-labels-idx1-ubyte"),
        ("notgzip", "not gzip"),
    ],
)
def test_damaged_files_are_named(tmp_path, damage, message):
    write_idx_set(tmp_path, n_train=64, n_test=32)
    images_path, labels_path = tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz"
    if damage == "magic":
        write_idx(images_path, np.zeros(64, dtype=np.uint8))  # a labels file where images belong
    elif damage == "truncate":
        with gzip.open(images_path) as stream:
            payload = stream.read()
        with gzip.open(images_path, "wb") as stream:
            stream.write(payload[:-100])
    elif damage == "labels":
        write_idx(labels_path, np.full(64, 12, dtype=np.uint8))
    elif damage == "count":
        write_idx(labels_path, np.zeros(63, dtype=np.uint8))
    elif damage == "missing":
        (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    elif damage == "notgzip":
        images_path.write_bytes(b"this is not gzip data at all")
    with pytest.raises(DataError, match=message):
        load_fashion_mnist(tmp_path)


def test_missing_data_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        load_fashion_mnist(tmp_path / "nowhere")


def test_bad_csv_is_named(tmp_path):
    write_csv_set(tmp_path, n_train=4, n_test=4)
    (tmp_path / "fashion-mnist_test.csv").write_text("label,pixel1\n3,7\n")
    with pytest.raises(DataError, match="fashion-mnist_test.csv: 2 columns"):
        read_folder(tmp_path)


@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="Debian package dataset-fashion-mnist not installed (CI installs it)")
def test_real_fashion_mnist_from_the_debian_package():
    data = load_fashion_mnist(DEBIAN_DIR)
    assert data.train.images.shape == (60_000, 28, 28) and len(data.test) == 10_000
    assert data.train.labels.bincount().tolist() == [6_000] * 10
    assert len(CLASSES) == 10
