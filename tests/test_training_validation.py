"""Honest selection: a seeded validation split carved from the training set chooses best.pt; the test set is read once."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from fashion_fixtures import write_idx, write_idx_set

from cnnstat.errors import DataError
from cnnstat.training.checkpoint import load_checkpoint
from cnnstat.training.config import TrainConfig
from cnnstat.training.data import Split, load_fashion_mnist, validation_split
from cnnstat.training.evaluation import PLAIN, TTA_VIEWS, tta_candidates
from cnnstat.training.images import View
from cnnstat.training.loop import train
from cnnstat.training.recipes import build_recipe

QUICK = ("--batch-size", "64", "--device", "cpu")
VAL = 128


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


@pytest.mark.parametrize("helpful_view, kept", [(View(mirrored=True), "mirror"), (View(right=1), "shift"), (None, "none")])
def test_test_time_averaging_is_kept_only_where_validation_says_so(noisy_dir, tmp_path, monkeypatch, helpful_view, kept):
    """On the validation images one view is made certain of every right class (or none is) and the other views say
    nothing (equal odds): validation keeps the fewest views that include the helpful one, and the test set is
    evaluated once, averaged over exactly those views."""
    import dataclasses

    import cnnstat.training.evaluation as evaluation

    real_evaluate = evaluation.evaluate
    calls = []

    def evaluate(model, split, *args, views=PLAIN, **kwargs):
        result = real_evaluate(model, split, *args, views=views, **kwargs)
        calls.append((len(split), tuple(views)))
        if len(split) != VAL or tuple(views) == PLAIN:
            return result
        if tuple(views) == (helpful_view,):
            log_probs = torch.nn.functional.one_hot(split.labels, 10).float().log()
        else:
            log_probs = torch.full((len(split), 10), 0.1).log()
        return dataclasses.replace(result, log_probs=log_probs)

    monkeypatch.setattr(evaluation, "evaluate", evaluate)
    data = load_fashion_mnist(noisy_dir)
    hyper = build_recipe("best", "fashion-fast", epochs=2, batch_size=64, val=VAL)
    result = train(TrainConfig("fashion-fast", "best", hyper, device="cpu"), data, tmp_path / "run")
    assert result.final.tta == kept and load_checkpoint(tmp_path / "run" / "best.pt")["tta"] == kept
    views_tried = [views for size, views in calls[-11:-1]]
    assert all(size == VAL for size, _ in calls[-11:-1]) and len(set(views_tried)) == 10  # each view of validation once
    assert calls[-1] == (len(data.test), TTA_VIEWS[kept])  # the test set, once, in the views validation kept


def test_digits_are_never_averaged_with_mirror_images():
    assert tta_candidates(mirror_allowed=False) == ("none", "shift")
    assert tta_candidates(mirror_allowed=True) == ("none", "mirror", "shift", "mirror+shift")


def test_predict_averages_the_views_the_run_chose_and_reads_older_checkpoints(cli, noisy_dir, tmp_path, monkeypatch):
    import cnnstat.training.tta as tta
    from cnnstat.errors import CheckpointError
    from cnnstat.training.checkpoint import save_checkpoint
    from cnnstat.training.predict import evaluate_test_set, load_trained

    monkeypatch.setattr(tta, "tta_accuracies", lambda run: {"none": 0.5, "mirror+shift": 0.6})  # for this test
    out = tmp_path / "run"
    args = ("--recipe", "best", "--epochs", "2", "--val", "128", "--data", str(noisy_dir), "--out", str(out))
    result = cli("train", "fashion-fast", *QUICK, *args)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "(best.pt); averaged over views: mirror+shift 60.00%" in output
    assert "each image averaged with its mirror image and the one-pixel shifts of both (validation chose it)" in output
    final = json.loads((out / "metrics.json").read_text())["final"]
    assert final["tta"] == "mirror+shift" and final["tta_val_acc"] == {"none": 0.5, "mirror+shift": 0.6}
    trained = load_trained(out)
    assert trained.tta == "mirror+shift"
    evaluation, _ = evaluate_test_set(trained, noisy_dir)
    assert evaluation.accuracy == final["test_acc"]
    _predict_images_averages_the_views(trained, tmp_path)
    best = load_checkpoint(out / "best.pt")
    older = {key: value for key, value in best.items() if key != "tta"}
    save_checkpoint(tmp_path / "older.pt", {**older, "flip_tta": True})  # written before shifts were tried
    assert load_trained(tmp_path / "older.pt").tta == "mirror"
    save_checkpoint(tmp_path / "damaged.pt", {**best, "tta": "sideways"})
    with pytest.raises(CheckpointError, match="sideways"):
        load_trained(tmp_path / "damaged.pt")


def _predict_images_averages_the_views(trained, folder):
    """Images given to predict are averaged over the run's views: the mean of each view's softmax, by plain forward passes."""
    from PIL import Image

    from cnnstat.training.images import prepare_batch
    from cnnstat.training.predict import predict_images

    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (2, 28, 28), dtype=torch.uint8, generator=generator)
    paths = [folder / f"image{i}.png" for i in range(2)]
    for image, path in zip(images, paths, strict=True):
        Image.fromarray(image.numpy(), mode="L").save(path)
    with torch.no_grad():
        probabilities = torch.stack(
            [trained.model(prepare_batch(view.apply(images), trained.pixels, None))[:, :10].softmax(1)
             for view in TTA_VIEWS["mirror+shift"]]
        ).mean(0)  # fmt: skip
    predicted = predict_images(trained, paths, invert=False)
    assert [index for _, index, _, _ in predicted] == probabilities.argmax(1).tolist()
    assert [p for _, _, _, p in predicted] == pytest.approx(probabilities.max(1).values.tolist(), rel=1e-5)


def test_digits_are_averaged_over_shifts_only(tmp_path, monkeypatch):
    """MNIST: validation tries the five unmirrored views, and a mirror image is never shown."""
    import cnnstat.training.evaluation as evaluation
    from cnnstat.training.data import load_dataset

    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    write_idx_set(folder, n_train=512, n_test=64)
    real_evaluate = evaluation.evaluate
    views_tried = []

    def evaluate(model, split, *args, views=PLAIN, **kwargs):
        views_tried.append(tuple(views))
        return real_evaluate(model, split, *args, views=views, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", evaluate)
    data = load_dataset("mnist", tmp_path)
    hyper = build_recipe("best", "fashion-fast", epochs=1, batch_size=64, val=VAL)
    result = train(TrainConfig("fashion-fast", "best", hyper, device="cpu", dataset="mnist"), data, tmp_path / "run")
    single = {views[0] for views in views_tried[1:-1]}  # after the epoch's evaluation, before the test set's
    assert single == set(TTA_VIEWS["shift"]) and not any(view.mirrored for views in views_tried for view in views)
    assert set(result.final.tta_val_acc) == {"none", "shift"} and result.final.tta in ("none", "shift")
