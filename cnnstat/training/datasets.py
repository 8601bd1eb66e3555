"""The data sets cnnstat trains on, by name: what it knows of each (classes, pixel statistics, where to find it).

Plain data, no torch: the command line builds its ``--dataset`` choices from :data:`DATASETS` without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

ENV_VAR = "CNNSTAT_DATA"
DEFAULT_DATASET = "fashion-mnist"


@dataclass(frozen=True)
class DatasetInfo:
    """What cnnstat knows about one data set: names, where it lives, its training-set pixel statistics."""

    name: str  # as --dataset takes it
    title: str  # as people write it
    classes: tuple[str, ...]
    mean: float  # of the training pixels, scaled to [0, 1]
    std: float
    torchvision: str  # torchvision's class, and its folder under a download root (NAME/raw)
    csv_prefix: str  # NAME_train.csv, NAME_test.csv
    mirror_symmetric: bool  # a mirrored image is still an image of its class (garments yes; digits, characters no)
    debian_dir: Path | None = None
    debian_package: str | None = None

    def how_to_get(self) -> str:
        debian = f"get {self.title} with `apt-get install {self.debian_package}`, " if self.debian_package else ""
        return (
            f"{debian}name a folder with its IDX or CSV files with --data DIR (or ${ENV_VAR}), "
            "or pass --download to fetch it through torchvision"
        )


DATASETS: dict[str, DatasetInfo] = {
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", "Fashion-MNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        0.2860, 0.3530, "FashionMNIST", "fashion-mnist", mirror_symmetric=True,
        debian_dir=Path("/usr/share/datasets/fashion-mnist"), debian_package="dataset-fashion-mnist",
    ),
    "mnist": DatasetInfo(
        "mnist", "MNIST", tuple(str(digit) for digit in range(10)), 0.1307, 0.3081, "MNIST", "mnist", mirror_symmetric=False
    ),
    # Kuzushiji-MNIST: ten cursive hiragana, romanised: お き す つ な は ま や れ を
    "kmnist": DatasetInfo(
        "kmnist", "Kuzushiji-MNIST", ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"), 0.1918, 0.3483,
        "KMNIST", "kmnist", mirror_symmetric=False,
    ),
}  # fmt: skip
FASHION = DATASETS[DEFAULT_DATASET]


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]
