"""What a training run shows: curves, per-class tables, the confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from ..atomic import atomic_path
from .metrics import EpochMetrics


def plot_curves(out: Path, metrics: list[EpochMetrics], title: str) -> Path:
    """Loss and accuracy per epoch, train and validation (or test, without a validation split), as curves.png."""
    import matplotlib.pyplot as plt

    figure = curves_figure(metrics, title)
    path = out / "curves.png"
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
    return path


def curves_figure(metrics: list[EpochMetrics], title: str) -> Any:
    """The matplotlib figure of ``plot_curves``: epochs on whole-number ticks, however few there are."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [m.epoch for m in metrics]
    held_out = "val" if any(m.val_acc is not None for m in metrics) else "test"
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axis.plot(epochs, [m.train_loss for m in metrics], marker="o", label="train")
    loss_axis.plot(epochs, [getattr(m, f"{held_out}_loss") for m in metrics], marker="o", label=held_out)
    loss_axis.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    acc_axis.plot(epochs, [100 * m.train_acc for m in metrics], marker="o", label="train")
    acc_axis.plot(epochs, [100 * getattr(m, f"{held_out}_acc") for m in metrics], marker="o", label=held_out)
    if held_out == "val":
        tested = [m for m in metrics if m.test_acc is not None]
        acc_axis.plot([m.epoch for m in tested], [100 * (m.test_acc or 0) for m in tested], "k*", markersize=12,
                      label="test (once, chosen epoch)")  # fmt: skip
    acc_axis.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for axis in (loss_axis, acc_axis):
        # min_n_ticks=1: by default one or two epochs have too few whole numbers in view and get ticks 0.95 … 1.05
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def per_class_table(confusion: torch.Tensor, classes: tuple[str, ...]) -> Table:
    """Test accuracy of each class, with its name."""
    table = Table(title="Test accuracy per class", title_justify="left")
    for column, justify in (
        ("Class", "right"),
        ("Name", "left"),
        ("Correct", "right"),
        ("Total", "right"),
        ("Accuracy", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for index, name in enumerate(classes):
        total = int(confusion[index].sum())
        correct = int(confusion[index, index])
        table.add_row(str(index), name, f"{correct:,}", f"{total:,}", f"{100 * correct / total:.1f}%" if total else "—")
    return table


def confusion_table(confusion: torch.Tensor, classes: tuple[str, ...]) -> Table:
    """Rows: true class; columns: predicted class."""
    table = Table(title="Confusion matrix on the test set (rows: true, columns: predicted)", title_justify="left")
    table.add_column("true \\ pred", justify="left")
    for index in range(len(classes)):
        table.add_column(str(index), justify="right")
    for index, name in enumerate(classes):
        cells = [f"[bold]{int(v)}[/bold]" if i == index else str(int(v)) for i, v in enumerate(confusion[index])]
        table.add_row(f"{index} {name}", *cells)
    return table
