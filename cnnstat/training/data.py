"""Fashion-MNIST: find it, read IDX (.gz or raw) or Kaggle CSV files, validate them, hold them in memory."""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # where `apt-get install dataset-fashion-mnist` puts it
ENV_VAR = "CNNSTAT_DATA"
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CSV_FILES = {"train": "fashion-mnist_train.csv", "test": "fashion-mnist_test.csv"}
HOW_TO_GET = (
    "get Fashion-MNIST with `apt-get install dataset-fashion-mnist`, name a folder with its IDX or CSV "
    f"files with --data DIR (or ${ENV_VAR}), or pass --download to fetch it through torchvision"
)


@dataclass(frozen=True)
class Split:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class FashionMNIST:
    """Both splits and where they were read from."""

    train: Split
    test: Split
    source: str


def _open_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot be read ({error}); the file is truncated or not gzip") from None


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """An IDX file's array, after checking its magic number, dimensions and length."""
    data = _open_bytes(path)
    if len(data) < 8:
        raise DataError(f"{path}: {len(data)} bytes is too short for an IDX header")
    magic = struct.unpack(">I", data[:4])[0]
    if magic != expected_magic:
        kind = "images" if expected_magic == IMAGE_MAGIC else "labels"
        raise DataError(f"{path}: magic number {magic}, expected {expected_magic} for an IDX {kind} file")
    dims = magic & 0xFF
    header = 4 + 4 * dims
    shape = struct.unpack(f">{dims}I", data[4:header])
    expected_bytes = header + int(np.prod(shape))
    if len(data) != expected_bytes:
        raise DataError(
            f"{path}: {len(data):,} bytes, but its header {shape} needs {expected_bytes:,}; the file is truncated or corrupt"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _check_split(images: np.ndarray, labels: np.ndarray, where: str) -> Split:
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{where}: images of shape {tuple(images.shape[1:])}, expected 28×28")
    if len(images) != len(labels):
        raise DataError(f"{where}: {len(images):,} images but {len(labels):,} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where}: labels range {labels.min()}–{labels.max()}, expected 0–9")
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx_folder(folder: Path) -> FashionMNIST | None:
    """The four IDX files in ``folder`` (or its torchvision layout ``FashionMNIST/raw``), or None."""
    for candidate in (folder, folder / "FashionMNIST" / "raw"):
        paths = {split: (_find(candidate, images), _find(candidate, labels)) for split, (images, labels) in SPLIT_FILES.items()}
        found = [p for pair in paths.values() for p in pair if p is not None]
        if not found:
            continue
        missing = [
            name
            for split, (images, labels) in SPLIT_FILES.items()
            for name, p in zip((images, labels), paths[split], strict=True)
            if p is None
        ]
        if missing:
            raise DataError(f"{candidate}: Fashion-MNIST is incomplete, missing {', '.join(missing)}")
        splits = {
            split: _check_split(read_idx(images, IMAGE_MAGIC), read_idx(labels, LABEL_MAGIC), str(images))
            for split, (images, labels) in paths.items()
        }
        return FashionMNIST(splits["train"], splits["test"], str(candidate))
    return None


def read_csv_split(path: Path) -> Split:
    """Kaggle's layout: a header, then label and 784 pixels per row."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DataError(f"{path}: cannot be read as CSV ({error})") from None
    if frame.shape[1] != 785:
        raise DataError(f"{path}: {frame.shape[1]} columns, expected label + 784 pixels")
    values = frame.to_numpy()
    if values.dtype.kind not in "iu" or values[:, 1:].min(initial=0) < 0 or values[:, 1:].max(initial=0) > 255:
        raise DataError(f"{path}: pixels must be integers 0–255")
    return _check_split(values[:, 1:].astype(np.uint8).reshape(-1, 28, 28), values[:, 0], str(path))


def read_csv_folder(folder: Path) -> FashionMNIST | None:
    paths = {split: folder / name for split, name in CSV_FILES.items()}
    if not any(p.is_file() for p in paths.values()):
        return None
    for path in paths.values():
        if not path.is_file():
            raise DataError(f"{folder}: Fashion-MNIST CSV is incomplete, missing {path.name}")
    return FashionMNIST(read_csv_split(paths["train"]), read_csv_split(paths["test"]), str(folder))


def read_folder(folder: Path) -> FashionMNIST | None:
    """IDX or CSV files in ``folder``; None if it holds neither."""
    return read_idx_folder(folder) or read_csv_folder(folder)


def download(root: Path) -> FashionMNIST:
    """Fetch through torchvision (needs internet), into torchvision's layout under ``root``."""
    from torchvision.datasets import FashionMNIST as TorchvisionFashion

    try:
        for train in (True, False):
            TorchvisionFashion(str(root), train=train, download=True)
    except Exception as error:  # network failures come in many types
        raise DataError(f"download through torchvision failed: {error}") from None
    found = read_folder(root)
    assert found is not None
    return found


def load_fashion_mnist(
    data_dir: Path | None = None, *, allow_download: bool = False, download_root: Path | None = None
) -> FashionMNIST:
    """Fashion-MNIST from, in order: ``data_dir``, $CNNSTAT_DATA, the Debian package, torchvision's layout, a download."""
    if data_dir is not None:
        if not data_dir.is_dir():
            raise DataError(f"--data {data_dir}: no such folder")
        found = read_folder(data_dir)
        if found is None:
            raise DataError(f"{data_dir} holds no Fashion-MNIST IDX or CSV files; {HOW_TO_GET}")
        return found
    candidates = []
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    candidates += [DEBIAN_DIR, download_root or default_download_root()]
    for folder in candidates:
        if folder.is_dir():
            found = read_folder(folder)
            if found is not None:
                return found
    if allow_download:
        return download(download_root or default_download_root())
    raise DataError(f"Fashion-MNIST not found; {HOW_TO_GET}")


def default_download_root() -> Path:
    """Where --download puts the files: ~/.cache/cnnstat (torchvision's folder layout)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cnnstat"
