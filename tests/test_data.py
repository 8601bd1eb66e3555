"""Fashion-MNIST, MNIST and KMNIST loading: IDX (.gz and raw), CSV, torchvision's layout, download; validation errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from fashion_fixtures import synthetic_split, write_csv_set, write_idx, write_idx_set

import cnnstat.training.data as data_module
from cnnstat.errors import DataError
from cnnstat.training.data import DATASETS, load_dataset, load_fashion_mnist, read_folder

FASHION = DATASETS["fashion-mnist"]


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


@pytest.mark.skipif(not FASHION.debian_dir.is_dir(), reason="Debian package dataset-fashion-mnist not installed (CI installs it)")
def test_real_fashion_mnist_from_the_debian_package():
    data = load_fashion_mnist(FASHION.debian_dir)
    assert data.train.images.shape == (60_000, 28, 28) and len(data.test) == 10_000
    assert data.train.labels.bincount().tolist() == [6_000] * 10
    assert len(FASHION.classes) == 10


def test_each_data_set_names_its_classes_and_statistics():
    assert DATASETS["mnist"].classes == tuple("0123456789")
    assert DATASETS["kmnist"].classes == ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
    assert FASHION.classes[0] == "T-shirt/top" and FASHION.classes[9] == "Ankle boot"
    stats = {name: (info.mean, info.std) for name, info in DATASETS.items()}
    assert stats == {"fashion-mnist": (0.2860, 0.3530), "mnist": (0.1307, 0.3081), "kmnist": (0.1918, 0.3483)}


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("kmnist", "KMNIST"), ("fashion-mnist", "FashionMNIST")])
def test_every_data_set_reads_the_same_idx_files_in_its_torchvision_folder(tmp_path, name, folder):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    write_idx_set(raw, n_train=16, n_test=8)
    data = load_dataset(name, tmp_path)
    assert data.info is DATASETS[name] and len(data.train) == 16 and data.source == str(raw)


def test_mnist_csv_without_a_header(tmp_path):
    write_csv_set(tmp_path, n_train=20, n_test=10)
    for split in ("train", "test"):
        lines = (tmp_path / f"fashion-mnist_{split}.csv").read_text().splitlines()
        (tmp_path / f"mnist_{split}.csv").write_text("\n".join(lines[1:]) + "\n")  # the plain MNIST CSV files have none
    data = load_dataset("mnist", tmp_path)
    images, labels = synthetic_split(20, seed=0)
    assert np.array_equal(data.train.images.numpy(), images) and np.array_equal(data.train.labels.numpy(), labels)


def test_one_data_set_is_not_taken_for_another(tmp_path, monkeypatch):
    """The three sets share file names; a full training set's mean pixel tells which one a folder holds."""
    monkeypatch.setattr(data_module, "FULL_TRAINING_SET", 64)
    write_idx_set(tmp_path, n_train=64, n_test=8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.full((64, 28, 28), 73, dtype=np.uint8))  # mean 0.286
    assert load_dataset("fashion-mnist", tmp_path).info.name == "fashion-mnist"
    with pytest.raises(DataError, match="holds Fashion-MNIST, not MNIST.*--dataset fashion-mnist"):
        load_dataset("mnist", tmp_path)


def test_mnist_is_not_searched_in_the_fashion_mnist_package(tmp_path, monkeypatch):
    monkeypatch.delenv("CNNSTAT_DATA", raising=False)
    with pytest.raises(DataError, match="MNIST not found; name a folder"):
        load_dataset("mnist", download_root=tmp_path)


def test_download_goes_through_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets

    fetched = []

    class FakeKMNIST:  # what torchvision's KMNIST leaves on disk: the IDX files under KMNIST/raw
        def __init__(self, root, train, download):
            raw = tmp_path / "root" / "KMNIST" / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            write_idx_set(raw, n_train=32, n_test=16)
            fetched.append((root, train, download))

    monkeypatch.setattr(torchvision.datasets, "KMNIST", FakeKMNIST)
    monkeypatch.delenv("CNNSTAT_DATA", raising=False)
    data = load_dataset("kmnist", allow_download=True, download_root=tmp_path / "root")
    assert fetched == [(str(tmp_path / "root"), True, True), (str(tmp_path / "root"), False, True)]
    assert len(data.train) == 32 and data.info.classes[0] == "o"
