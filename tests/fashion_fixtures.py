"""Small synthetic Fashion-MNIST files the tests write themselves."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from cnnstat.training.data import IMAGE_MAGIC, LABEL_MAGIC


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an IDX file as the original Fashion-MNIST files are written (gzip if the name ends in .gz)."""
    magic = IMAGE_MAGIC if array.ndim == 3 else LABEL_MAGIC
    payload = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as stream:
            stream.write(payload)
    else:
        path.write_bytes(payload)


def synthetic_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable images: class k is noise plus a bright bar at rows 2k..2k+3."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for index, label in enumerate(labels):
        images[index, 2 * label + 2 : 2 * label + 6, 4:24] = 220
    return images, labels


def write_idx_set(folder: Path, n_train: int, n_test: int, gz: bool = True) -> None:
    suffix = ".gz" if gz else ""
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = synthetic_split(n, seed)
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels)


def write_csv_set(folder: Path, n_train: int, n_test: int) -> None:
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = synthetic_split(n, seed)
        header = "label," + ",".join(f"pixel{i}" for i in range(1, 785))
        rows = [f"{label}," + ",".join(map(str, image.reshape(-1))) for image, label in zip(images, labels, strict=True)]
        (folder / f"fashion-mnist_{split}.csv").write_text("\n".join([header, *rows]) + "\n")
