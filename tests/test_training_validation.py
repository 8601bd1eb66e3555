"""Honest selection: a seeded validation split carved from the training set chooses best.pt; the test set is read once."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from fashion_fixtures import write_idx, write_idx_set

from cnnstat.errors import DataError
from cnnstat.training.checkpoint import load_checkpoint
from cnnstat.training.data import Split, load_fashion_mnist, validation_split
from cnnstat.training.loop import TrainConfig, train
from cnnstat.training.recipes import build_recipe

QUICK = ("--batch-size", "64", "--device", "cpu")


def _numbered(n: int) -> Split:
    """Images that carry their own index in their first pixels, so that any image can be traced to its place."""
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    images[:, 0, 0], images[:, 0, 1] = torch.arange(n) // 256, torch.arange(n) % 256
    return Split(images, torch.arange(n) % 10)


def _indices(split: Split) -> list[int]:
    return (split.images[:, 0, 0].long() * 256 + split.images[:, 0, 1].long()).tolist()


def test_the_validation_split_is_disjoint_complete_and_seeded():
    full = _numbered(3000)
    train_part, val_part = validation_split(full, 500)
    train_ids, val_ids = _indices(train_part), _indices(val_part)
    assert len(val_ids) == 500 and len(train_ids) == 2500
    assert not set(train_ids) & set(val_ids) and set(train_ids) | set(val_ids) == set(range(3000))
    assert train_ids == sorted(train_ids)  # the training images keep their order
    assert torch.equal(train_part.labels, torch.tensor(train_ids) % 10)  # labels travel with their images
    again_train, again_val = validation_split(full, 500)
    assert _indices(again_val) == val_ids and _indices(again_train) == train_ids
    assert _indices(validation_split(full, 500, seed=1)[1]) != val_ids
    assert len(validation_split(full, 0)[1]) == 0


def test_a_validation_split_must_leave_training_images():
    with pytest.raises(DataError, match="--val 3000"):
        validation_split(_numbered(3000), 3000)


@pytest.fixture
def noisy_dir(tmp_path):
    """Learnable images, but a third of the training labels shuffled, so that validation accuracy wobbles between epochs."""
    folder = tmp_path / "data"
    folder.mkdir()
    write_idx_set(folder, n_train=768, n_test=200)
    data = load_fashion_mnist(folder)
    labels = data.train.labels.clone()
    generator = torch.Generator().manual_seed(0)
    noisy = torch.randperm(len(labels), generator=generator)[: len(labels) // 3]
    labels[noisy] = torch.randint(0, 10, (len(noisy),), generator=generator)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels.numpy())
    return folder


def test_best_pt_holds_the_epoch_of_highest_validation_accuracy(noisy_dir, tmp_path):
    data = load_fashion_mnist(noisy_dir)
    hyper = build_recipe("fast", "fashion-fast", epochs=6, batch_size=32, val=256, lr=0.05)
    result = train(TrainConfig("fashion-fast", "fast", hyper, device="cpu"), data, tmp_path / "run")
    val_accs = [m.val_acc for m in result.metrics]
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["best_val"] == max(val_accs) and best["epoch"] == 1 + val_accs.index(max(val_accs))
    assert best["final"]["epoch"] == best["epoch"] and result.final.val_acc == max(val_accs)
    # the test set was evaluated once: on the chosen epoch, and on no other
    assert [m.epoch for m in result.metrics if m.test_acc is not None] == [best["epoch"]]


def test_metrics_have_validation_and_test_columns_and_predict_uses_the_chosen_checkpoint(cli, noisy_dir, tmp_path):
    out = tmp_path / "run"
    result = cli("train", "fashion-fast", *QUICK, "--epochs", "3", "--val", "128", "--data", str(noisy_dir), "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert {"val_loss", "val_acc", "test_loss", "test_acc"} <= set(rows[0])
    assert all(row["val_acc"] for row in rows) and sum(bool(row["test_acc"]) for row in rows) == 1
    final = json.loads((out / "metrics.json").read_text())["final"]
    assert "chosen on the validation split" in result.output and f"test accuracy {100 * final['test_acc']:.2f}%" in result.output
    predicted = cli("predict", str(out), "--test", "--data", str(noisy_dir))
    assert f"test accuracy {100 * final['test_acc']:.2f}%" in predicted.output


def test_the_classic_recipe_has_no_validation_split_and_says_so(cli, noisy_dir, tmp_path):
    out = tmp_path / "run"
    result = cli("train", "lenet-fashion", "--recipe", "classic", *QUICK, "--epochs", "2", "--data", str(noisy_dir),
                 "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "no validation split" in result.output and "as the classic recipe does" in result.output
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert all(row["test_acc"] and not row["val_acc"] for row in rows)
    assert not (out / "best.pt").exists() and (out / "last.pt").is_file()
    assert "test accuracy" in cli("predict", str(out), "--test", "--data", str(noisy_dir)).output  # from last.pt


@pytest.mark.parametrize("mirrored_val_acc, kept", [(1.0, True), (0.0, False)])
def test_mirrored_averaging_is_kept_only_when_validation_says_so(noisy_dir, tmp_path, monkeypatch, mirrored_val_acc, kept):
    """The mirrored validation figure decides: better than the chosen epoch's, and the test set is averaged too."""
    import dataclasses

    import cnnstat.training.loop as loop

    real_evaluate = loop.evaluate
    calls = []

    def evaluate(model, split, *args, flip_tta=False, **kwargs):
        result = real_evaluate(model, split, *args, flip_tta=flip_tta, **kwargs)
        calls.append((len(split), flip_tta))
        if flip_tta and len(split) == 128:  # the validation split, mirrored: as good or as bad as the test says
            return dataclasses.replace(result, accuracy=mirrored_val_acc)
        return result

    monkeypatch.setattr(loop, "evaluate", evaluate)
    data = load_fashion_mnist(noisy_dir)
    hyper = build_recipe("best", "fashion-fast", epochs=2, batch_size=64, val=128)
    result = train(TrainConfig("fashion-fast", "best", hyper, device="cpu"), data, tmp_path / "run")
    assert result.final.flip_tta is kept and load_checkpoint(tmp_path / "run" / "best.pt")["flip_tta"] is kept
    assert calls[-1] == (len(data.test), kept)  # the test set, once, averaged with mirrors only where validation kept it
