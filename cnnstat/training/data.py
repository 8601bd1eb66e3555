"""Fashion-MNIST, MNIST and KMNIST: find them, read IDX (.gz or raw) or CSV files, validate them, hold them in memory.

The three sets share one format (60,000 training and 10,000 test images, 28×28 grey, ten classes),
so one loader reads them all; each set brings its class names and pixel statistics.
"""

from __future__ import annotations

import csv
import gzip
import os
import reprlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..cache import cache_folder
from ..errors import DataError
from .datasets import DATASETS, ENV_VAR, FASHION, DatasetInfo, dataset_info

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FULL_TRAINING_SET = 60_000  # images in the training set of each of the three
VAL_SEED = 20_170_825  # the validation split never changes with --seed: runs of every seed are judged on the same images


@dataclass(frozen=True)
class Split:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: torch.Tensor | slice) -> Split:
        return Split(self.images[index], self.labels[index])

    def to(self, device: torch.device) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


@dataclass(frozen=True)
class ImageData:
    """Both splits of a data set and where they were read from."""

    train: Split
    test: Split
    source: str
    info: DatasetInfo = FASHION


def validation_split(train: Split, size: int, seed: int = VAL_SEED) -> tuple[Split, Split]:
    """(training, validation): ``size`` images drawn without replacement by a fixed seed; the rest, in their order, train.

    The draw depends only on the seed and the number of images, never on --seed, --limit or the device.
    """
    if size == 0:
        return train, Split(train.images[:0], train.labels[:0])
    if not 0 < size < len(train):
        raise DataError(f"--val {size}: the training set has {len(train):,} images; a validation split needs fewer than that")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    held_out = torch.zeros(len(train), dtype=torch.bool)
    held_out[order[:size]] = True
    return train.take(~held_out), train.take(order[:size].sort().values)


def _open_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot be read ({error}); the file is truncated or not gzip") from None
    except zlib.error as error:  # a valid gzip header over a damaged deflate stream
        raise DataError(f"{path}: the compressed data are corrupt ({error})") from None


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
    if len(data) < header:
        raise DataError(f"{path}: {len(data)} bytes is too short for an IDX header of {dims} dimensions")
    shape = struct.unpack(f">{dims}I", data[4:header])
    expected_bytes = header + int(np.prod(shape))
    if len(data) != expected_bytes:
        raise DataError(
            f"{path}: {len(data):,} bytes, but its header {shape} needs {expected_bytes:,}; the file is truncated or corrupt"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _check_split(images: np.ndarray, labels: np.ndarray, where: str) -> Split:
    if len(images) == 0:  # nothing to train on or to judge by: every later step would divide by zero
        raise DataError(f"{where}: holds no images; a split needs at least one")
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{where}: images of shape {tuple(images.shape[1:])}, expected 28×28")
    if len(images) != len(labels):
        raise DataError(f"{where}: {len(images):,} images but {len(labels):,} labels")
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{where}: labels range {labels.min()}–{labels.max()}, expected 0–9")
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx_folder(folder: Path, info: DatasetInfo = FASHION) -> ImageData | None:
    """The four IDX files in ``folder`` (or its torchvision layout ``NAME/raw``), or None."""
    for candidate in (folder / info.torchvision / "raw", folder):
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
            raise DataError(f"{candidate}: {info.title} is incomplete, missing {', '.join(missing)}")
        splits = {
            split: _check_split(read_idx(images, IMAGE_MAGIC), read_idx(labels, LABEL_MAGIC), str(images))
            for split, (images, labels) in paths.items()
        }
        return ImageData(splits["train"], splits["test"], str(candidate), info)
    return None


def read_csv_split(path: Path) -> Split:
    """A label, then 784 pixels per row; a header row (Kaggle's layout) or none (the plain MNIST CSV files)."""
    import pandas as pd

    try:
        with path.open() as stream:
            has_header = not stream.readline().split(",")[0].strip().isdigit()  # Kaggle's files have one, the plain ones none
        frame = pd.read_csv(path, header=0 if has_header else None)
    except pd.errors.ParserError as error:  # a row longer than the first
        raise DataError(f"{path}: {_first_bad_row(path, has_header) or f'cannot be read as CSV ({error})'}") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"{path}: cannot be read as CSV ({error})") from None
    if frame.shape[1] != 785:
        raise DataError(f"{path}: {frame.shape[1]} columns, expected label + 784 pixels")
    values = frame.to_numpy()
    # a header alone reads as no rows of type object: _check_split names that as empty
    if len(values) and (values.dtype.kind not in "iu" or values[:, 1:].min() < 0 or values[:, 1:].max() > 255):
        raise DataError(f"{path}: {_first_bad_row(path, has_header) or 'pixels must be integers 0–255'}")
    return _check_split(values[:, 1:].astype(np.uint8).reshape(-1, 28, 28), values[:, 0], str(path))


def _first_bad_row(path: Path, has_header: bool) -> str | None:
    """Where a CSV file first strays from a label 0–9 and 784 pixels 0–255: its line number and how; None if nowhere."""
    with path.open(encoding="utf-8", errors="replace", newline="") as stream:
        rows = csv.reader(stream)
        try:
            for row in rows:
                if (has_header and rows.line_num == 1) or not row:  # pandas skips blank lines too
                    continue
                if len(row) != 785:
                    return f"line {rows.line_num} has {len(row)} columns, expected 785 (a label and 784 pixels)"
                for column, cell in enumerate(row):
                    digits, largest = cell.strip(), 9 if column == 0 else 255
                    # at most three digits before int(): Python refuses to convert over 4,300 of them
                    if not (digits.isascii() and digits.isdigit()) or len(digits) > 3 or int(digits) > largest:
                        what = "the label" if column == 0 else f"pixel {column}"
                        return f"line {rows.line_num}: {what} is {reprlib.repr(cell)}, expected an integer 0–{largest}"
        except csv.Error as error:  # a cell past the csv module's size limit, which pandas reads
            return f"line {rows.line_num}: {error}"
    return None


def read_csv_folder(folder: Path, info: DatasetInfo = FASHION) -> ImageData | None:
    paths = {split: folder / f"{info.csv_prefix}_{split}.csv" for split in ("train", "test")}
    if not any(p.is_file() for p in paths.values()):
        return None
    for path in paths.values():
        if not path.is_file():
            raise DataError(f"{folder}: {info.title} CSV is incomplete, missing {path.name}")
    return ImageData(read_csv_split(paths["train"]), read_csv_split(paths["test"]), str(folder), info)


def read_folder(folder: Path, info: DatasetInfo = FASHION) -> ImageData | None:
    """IDX or CSV files of ``info``'s set in ``folder``; None if it holds neither."""
    found = read_idx_folder(folder, info) or read_csv_folder(folder, info)
    if found is not None:
        _check_identity(found)
    return found


class OtherDataSetError(DataError):
    """A folder holds another of the three sets, which share file names."""


def _check_identity(data: ImageData) -> None:
    """The three sets share file names; a full training set's mean pixel tells them apart (0.286, 0.131, 0.192)."""
    if len(data.train) != FULL_TRAINING_SET:
        return  # a subset or a test's own files: nothing to compare with
    mean = data.train.images.double().mean().item() / 255
    nearest = min(DATASETS.values(), key=lambda info: abs(info.mean - mean))
    if nearest is not data.info:
        raise OtherDataSetError(
            f"{data.source} holds {nearest.title}, not {data.info.title} (mean pixel {mean:.4f}; {nearest.title}'s is "
            f"{nearest.mean}, {data.info.title}'s {data.info.mean}): pass --dataset {nearest.name}, or name {data.info.title}'s "
            "folder with --data"
        )


def download(root: Path, info: DatasetInfo = FASHION) -> ImageData:
    """Fetch through torchvision (needs internet), into torchvision's layout under ``root``."""
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, info.torchvision)
    try:
        for train in (True, False):
            dataset_class(str(root), train=train, download=True)
    except Exception as error:  # network failures come in many types
        raise DataError(f"download of {info.title} through torchvision failed: {error}") from None
    found = read_idx_folder(root, info)
    assert found is not None
    return found


def load_dataset(
    name: str = "fashion-mnist", data_dir: Path | None = None, *, allow_download: bool = False, download_root: Path | None = None
) -> ImageData:
    """A data set from, in order: ``data_dir``, $CNNSTAT_DATA, its Debian package, torchvision's layout, a download."""
    info = dataset_info(name)
    if data_dir is not None:
        if not data_dir.is_dir():
            raise DataError(f"--data {data_dir}: no such folder")
        found = read_folder(data_dir, info)
        if found is None:
            raise DataError(f"{data_dir} holds no {info.title} IDX or CSV files; {info.how_to_get()}")
        return found
    candidates = []
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    if info.debian_dir is not None:
        candidates.append(info.debian_dir)
    candidates.append(download_root or cache_folder())
    mismatch = None
    for folder in candidates:  # a folder of another of the three sets is passed over, and named if nothing else is found
        if folder.is_dir():
            try:
                found = read_folder(folder, info)
            except OtherDataSetError as error:
                mismatch = mismatch or error
                continue
            if found is not None:
                return found
    if allow_download:
        return download(download_root or cache_folder(), info)
    if mismatch is not None:
        raise mismatch
    raise DataError(f"{info.title} not found; {info.how_to_get()}")


def load_fashion_mnist(
    data_dir: Path | None = None, *, allow_download: bool = False, download_root: Path | None = None
) -> ImageData:
    """Fashion-MNIST, searched for as :func:`load_dataset` does."""
    return load_dataset("fashion-mnist", data_dir, allow_download=allow_download, download_root=download_root)

