"""Training and prediction end to end on small synthetic data; recipes per model, resume, Ctrl-C, DDP, GPU paths."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fashion_fixtures import synthetic_split, write_csv_set, write_idx_set

from cnnstat.devices import select_device
from cnnstat.training.checkpoint import load_checkpoint
from cnnstat.training.config import TrainConfig
from cnnstat.training.data import DATASETS, load_fashion_mnist
from cnnstat.training.events import EpochStarted
from cnnstat.training.images import Pixels, prepare_batch
from cnnstat.training.loop import TrainingInterrupted, train
from cnnstat.training.recipes import RECIPES, build_recipe, default_recipe

QUICK = ("--epochs", "2", "--batch-size", "64", "--device", "cpu", "--val", "64")


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_idx_set(folder, n_train=512, n_test=200)
    return folder


def test_classic_recipe_is_the_classic_sigmoid_lenet_recipe():
    classic = RECIPES["classic"]
    assert (classic.epochs, classic.batch_size, classic.lr, classic.optimizer) == (20, 256, 0.9, "sgd")
    assert classic.init == "xavier" and classic.amp is False and classic.pixels == "unit"
    assert classic.val == 0 and classic.time_budget is None  # the classic setup: the test set every epoch
    assert build_recipe("fast", lr=0.5).lr == 0.5


def test_recipes_suit_the_model():
    assert default_recipe("lenet5-1998") == "lecun1998" and default_recipe("fashion-vgg") == "fast"
    paper = build_recipe("lecun1998", "lenet5-1998")
    assert (paper.optimizer, paper.epochs, paper.schedule, paper.pixels) == ("sgd", 20, "lecun1998", "lecun1998")
    sigmoid = build_recipe("fast", "lenet-fashion")
    assert sigmoid.epochs < RECIPES["classic"].epochs and sigmoid.epochs > RECIPES["fast"].epochs
    assert build_recipe("fast", "lenet-fashion", epochs=3).epochs == 3  # the command line still wins
    best = build_recipe("best")
    assert best.time_budget == 600 and best.val == 5000
    assert build_recipe("best", epochs=4).time_budget is None  # --epochs alone: exactly that long
    assert build_recipe("best", epochs=4, time_budget=60).time_budget == 60  # both: the epochs cap the plan


def test_the_paper_schedule_steps_as_the_1998_paper_does():
    from cnnstat.training.schedules import PaperSteps

    factors = [PaperSteps(10)(epoch * 10) for epoch in range(20)]
    # 0.0005 for 2 passes, 0.0002 for 3, 0.0001 for 3, 0.00005 for 4, then 0.00001 (§III.A), as factors of the first
    assert factors == [1.0] * 2 + [0.4] * 3 + [0.2] * 3 + [0.1] * 4 + [0.02] * 8

@pytest.mark.parametrize(
    "input_size, shape", [((1, 28, 28), (4, 1, 28, 28)), ((1, 32, 32), (4, 1, 32, 32)), ((3, 64, 64), (4, 3, 64, 64))]
)
def test_images_are_adapted_to_the_model_input(input_size, shape):
    images = torch.from_numpy(synthetic_split(4, 0)[0])
    x = prepare_batch(images, Pixels.for_run(input_size, RECIPES["classic"], DATASETS["fashion-mnist"]), None)
    assert x.shape == shape
    if input_size[1] == 32:  # zero-padded by 2, as in the 1998 paper
        assert x[:, :, :2].abs().sum() == 0 and torch.equal(x[:, :, 2:30, 2:30], images.unsqueeze(1) / 255)


@pytest.mark.parametrize(
    "dataset, pixels, background, ink",
    [("mnist", "standard", -0.1307 / 0.3081, (1 - 0.1307) / 0.3081), ("kmnist", "standard", -0.1918 / 0.3483, (1 - 0.1918) / 0.3483),
     ("fashion-mnist", "standard", -0.2860 / 0.3530, (1 - 0.2860) / 0.3530), ("mnist", "lecun1998", -0.1, 1.175)],
)  # fmt: skip
def test_each_data_set_is_scaled_by_its_own_statistics(dataset, pixels, background, ink):
    images = torch.tensor([[[0] * 28] * 28, [[255] * 28] * 28], dtype=torch.uint8)
    recipe = build_recipe("fast", pixels=pixels)
    x = prepare_batch(images, Pixels.for_run((1, 28, 28), recipe, DATASETS[dataset]), None)
    assert x[0].unique().item() == pytest.approx(background, abs=1e-5) and x[1].unique().item() == pytest.approx(ink, abs=1e-5)


def test_digits_and_characters_are_never_mirrored():
    images = torch.zeros(64, 28, 28, dtype=torch.uint8)
    images[:, 10:18, 14:] = 255  # ink only on the right half
    for dataset, mirrored in (("mnist", False), ("kmnist", False), ("fashion-mnist", True)):
        pixels = Pixels.for_run((1, 28, 28), build_recipe("best", pixels="unit"), DATASETS[dataset])
        x = prepare_batch(images, pixels, torch.Generator().manual_seed(0))
        left_ink = x[:, 0, :, :10].sum(dim=(1, 2)) > 0
        assert bool(left_ink.any()) == mirrored


def test_train_writes_every_artifact_and_learns(cli, data_dir, tmp_path):
    out = tmp_path / "run"
    result = cli("train", "fashion-fast", *QUICK, "--data", str(data_dir), "--out", str(out), "--epochs", "3")
    assert result.exit_code == 0, result.output
    for name in ("metrics.csv", "metrics.json", "curves.png", "last.pt", "best.pt"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())["epochs"]
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert json.loads((out / "metrics.json").read_text())["final"]["test_acc"] > 0.5  # the synthetic classes are easy
    assert "Ankle boot" in result.output and "Confusion matrix" in result.output
    state = torch.load(out / "last.pt", weights_only=True)
    assert set(state) >= {"model", "optimizer", "scheduler", "rng", "config", "metrics"}
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_reads_csv_and_respects_limit(cli, tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    write_csv_set(folder, n_train=300, n_test=50)
    out = tmp_path / "run"
    result = cli("train", "lenet5", *QUICK, "--data", str(folder), "--out", str(out), "--limit", "128")
    assert result.exit_code == 0, result.output
    assert "2 steps" in result.output  # 128 images after the validation split, batch 64, padded to 32×32 for LeNet-5


def test_lenet5_1998_on_mnist_trains_with_the_paper_recipe_and_digit_names(cli, tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    write_idx_set(folder, n_train=256, n_test=64)
    out = tmp_path / "run"
    result = cli("train", "lenet5-1998", "--dataset", "mnist", "--epochs", "1", "--device", "cpu", "--data", str(tmp_path),
                 "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "MNIST from" in result.output and "no validation split" in result.output
    assert re.search(r"│\s+3 │ 3\s+│", result.output) and "Dress" not in result.output  # the classes are digits
    config = load_checkpoint(out / "last.pt")["config"]
    assert (config["recipe"], config["dataset"], config["hyper"]["optimizer"]) == ("lecun1998", "mnist", "sgd")


def test_imagenet_sized_models_train_smaller_and_say_what_it_costs(cli, data_dir, tmp_path):
    model_file = tmp_path / "big.py"
    model_file.write_text(
        "import torch.nn as nn\n"
        "class Big(nn.Sequential):\n"
        "    input_size = (3, 224, 224)\n"
        "    def __init__(self):\n"
        "        super().__init__(nn.Conv2d(3, 4, 3, stride=4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))\n"
    )
    out = tmp_path / "run"
    result = cli("train", f"{model_file}:Big", *QUICK, "--epochs", "1", "--limit", "64", "--data", str(data_dir), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "trains here at 3×64×64" in result.output and "an epoch of" in result.output
    assert load_checkpoint(out / "last.pt")["input_size"] == [3, 64, 64]
    native = cli("train", f"{model_file}:Big", *QUICK, "--epochs", "1", "--limit", "64", "--input-size", "3x96x96",
                 "--data", str(data_dir), "--out", str(tmp_path / "native"))  # fmt: skip
    assert native.exit_code == 0 and load_checkpoint(tmp_path / "native" / "last.pt")["input_size"] == [3, 96, 96]


def _run(config: TrainConfig, data, out: Path, **kwargs):
    return train(config, data, out, **kwargs)


def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(data_dir, tmp_path):
    data = load_fashion_mnist(data_dir)
    config = TrainConfig("fashion-vgg", "best", build_recipe("best", epochs=3, batch_size=64, val=64), device="cpu", seed=3)
    straight = _run(config, data, tmp_path / "straight")

    def interrupt_in_epoch_2(event):
        if isinstance(event, EpochStarted) and event.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="--resume --out"):
        _run(config, data, tmp_path / "resumed", progress=interrupt_in_epoch_2)
    assert load_checkpoint(tmp_path / "resumed" / "last.pt")["epoch"] == 1
    resumed = _run(config, data, tmp_path / "resumed", resume=True)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")["model"]
    assert all(torch.equal(a[key], b[key]) for key in a)
    for x, y in zip(straight.metrics, resumed.metrics, strict=True):
        assert (x.train_loss, x.val_acc, x.test_acc, x.lr) == (y.train_loss, y.val_acc, y.test_acc, y.lr)
    assert straight.final == resumed.final


def test_ctrl_c_exits_130_and_says_how_to_resume(cli, data_dir, tmp_path, monkeypatch):
    import cnnstat.training.evaluation as evaluation

    def interrupted_evaluate(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "evaluate", interrupted_evaluate)
    result = cli("train", "fashion-fast", *QUICK, "--data", str(data_dir), "--out", str(tmp_path / "run"))
    assert result.exit_code == 130
    assert "Resume with: cnnstat train fashion-fast --resume --out" in result.output


def test_resume_needs_a_run_folder(cli):
    assert "--resume needs --out" in cli("train", "fashion-fast", "--resume").output


def test_missing_data_is_one_line(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run folder is under runs/ here
    result = cli("train", "fashion-fast", "--data", str(tmp_path))
    assert result.exit_code == 1 and "apt-get install dataset-fashion-mnist" in result.output


def test_predict_images_and_test_set(cli, data_dir, tmp_path):
    from PIL import Image

    out = tmp_path / "run"
    assert cli("train", "fashion-fast", *QUICK, "--data", str(data_dir), "--out", str(out)).exit_code == 0
    images, labels = synthetic_split(3, seed=1)
    paths = []
    for index, image in enumerate(images):
        path = tmp_path / f"item{index}.png"
        Image.fromarray(image).resize((56, 56)).save(path)  # any size is accepted
        paths.append(str(path))
    result = cli("predict", str(out), *paths)
    assert result.exit_code == 0, result.output
    assert all(Path(p).name in result.output for p in paths) and "%" in result.output
    csv_path = tmp_path / "predictions.csv"
    result = cli("predict", str(out / "best.pt"), "--test", "--data", str(data_dir), "--out", str(csv_path))
    assert "test accuracy" in result.output
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "id,label" and len(lines) == 201
    # the written labels, in test-set order, give exactly the accuracy printed
    predicted = [int(line.split(",")[1]) for line in lines[1:]]
    truth = load_fashion_mnist(data_dir).test.labels.tolist()
    accuracy = sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)
    assert f"test accuracy {100 * accuracy:.2f}%" in result.output
    assert cli("predict", str(out), str(tmp_path / "absent.png")).exit_code == 1
    not_a_checkpoint = cli("predict", str(csv_path))
    assert not_a_checkpoint.exit_code == 1
    assert "is not a cnnstat checkpoint: it is not a file torch.save writes" in not_a_checkpoint.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_ddp_processes_finish_with_identical_weights(data_dir, tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
        "--master-port", str(_free_port()), "-m", "cnnstat", "train", "fashion-fast", *QUICK,
        "--time-budget", "10m", "--data", str(data_dir), "--out", str(out),  # the plan is shared: each epoch re-plans
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads((out / "metrics.json").read_text())
    checksums = document["weight_checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1]
    assert document["plan"]["total_steps"] == sum(epoch["steps"] for epoch in document["epochs"])


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@requires_cuda
def test_auto_device_picks_cuda_with_amp_and_channels_last():
    setup = select_device("auto")
    assert setup.device.type == "cuda" and setup.amp_dtype is not None and setup.channels_last


@requires_cuda
@pytest.mark.parametrize("recipe", ["fast", "best"])
def test_training_on_cuda_uses_amp_channels_last_and_compile(data_dir, tmp_path, recipe):
    import torch._dynamo

    torch._dynamo.reset()
    data = load_fashion_mnist(data_dir)
    config = TrainConfig("fashion-vgg", recipe, build_recipe(recipe, epochs=1, batch_size=64, val=64), device="cuda")
    result = train(config, data, tmp_path / "gpu")
    assert "AMP" in result.device and "channels_last" in result.device and result.final.test_acc > 0.1
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # torch.compile ran


@requires_cuda
def test_fp16_amp_scales_the_loss(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("cnnstat.devices.cuda_amp_dtype", lambda: torch.float16)
    data = load_fashion_mnist(data_dir)
    config = TrainConfig("fashion-fast", "fast", build_recipe("fast", epochs=1, batch_size=64, val=64), device="cuda")
    result = train(config, data, tmp_path / "gpu")
    assert "float16" in result.device
    assert load_checkpoint(tmp_path / "gpu" / "last.pt")["scaler"]["scale"] > 0  # a disabled scaler's state is empty


def test_cpu_device_and_unavailable_gpu():
    setup = select_device("cpu")
    assert setup.device.type == "cpu" and setup.amp_dtype is None and not setup.channels_last
    if not torch.cuda.is_available():
        from cnnstat.errors import CnnstatError

        with pytest.raises(CnnstatError, match="no CUDA GPU"):
            select_device("cuda")


def test_models_with_too_few_outputs_are_refused_and_wider_ones_warned(cli, data_dir, tmp_path):
    model_file = tmp_path / "heads.py"
    model_file.write_text(
        "import torch.nn as nn\n"
        "class Narrow(nn.Sequential):\n"
        "    input_size = (1, 28, 28)\n"
        "    def __init__(self):\n"
        "        super().__init__(nn.Flatten(), nn.Linear(784, 5))\n"
        "class Wide(nn.Sequential):\n"
        "    input_size = (1, 28, 28)\n"
        "    def __init__(self):\n"
        "        super().__init__(nn.Flatten(), nn.Linear(784, 12))\n"
    )
    narrow = cli("train", f"{model_file}:Narrow", *QUICK, "--data", str(data_dir), "--out", str(tmp_path / "n"))
    assert narrow.exit_code == 1 and "has 5 outputs; Fashion-MNIST has 10 classes" in narrow.output
    wide = cli("train", f"{model_file}:Wide", *QUICK, "--data", str(data_dir), "--out", str(tmp_path / "w"))
    assert wide.exit_code == 0 and "has 12 outputs; only the first 10" in wide.output
