"""Faults during training: SIGKILL and Ctrl-C at random moments, a kill between two checkpoint writes,
damaged checkpoints, and checkpoints that name code to run."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fashion_fixtures import write_idx_set

import cnnstat.training.checkpoint_policy as checkpoint_policy
import cnnstat.training.loop as loop
from cnnstat.errors import CheckpointError
from cnnstat.training.checkpoint import FORMAT, load_checkpoint
from cnnstat.training.config import TrainConfig
from cnnstat.training.data import load_fashion_mnist
from cnnstat.training.events import EpochStarted
from cnnstat.training.loop import TrainingInterrupted, train
from cnnstat.training.metrics import COLUMNS
from cnnstat.training.recipes import build_recipe

EPOCHS = 5
RUN = ("train", "fashion-fast", "--epochs", str(EPOCHS), "--batch-size", "32", "--val", "64", "--device", "cpu")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    write_idx_set(folder, n_train=1600, n_test=200)
    return folder


def _command(data_dir: Path, out: Path, resume: bool) -> list[str]:
    return [sys.executable, "-m", "cnnstat", *RUN, "--data", str(data_dir), "--out", str(out), *(["--resume"] if resume else [])]


def _check_run_folder(out: Path) -> int:
    """What a reader sees after any fault: last.pt loads, metrics.csv has one whole row per epoch last.pt holds."""
    last = out / "last.pt"
    if not last.exists():
        assert not (out / "metrics.csv").exists()
        return -1
    state = load_checkpoint(last)
    epochs = state["epoch"]
    if (out / "metrics.csv").exists():
        with (out / "metrics.csv").open(newline="") as stream:
            rows = list(csv.DictReader(stream))
        assert [int(row["epoch"]) for row in rows] == list(range(1, len(rows) + 1))
        # written after last.pt: a stop between the two leaves it one epoch behind, which the resumed run rewrites
        assert len(rows) in (epochs - 1, epochs)
        assert all(set(row) == set(COLUMNS) and row["train_loss"] and row["lr"] for row in rows)  # no torn row
    else:
        assert epochs == 0  # stopped before the metrics of the first checkpoint were written
    if state.get("best_epoch"):
        assert load_checkpoint(out / "best.pt")["epoch"] >= state["best_epoch"]
    return epochs


def _wait_until(ready, process: subprocess.Popen) -> None:
    """Until ``ready()`` or the process has ended."""
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.02)


def _stop_at_random_moments(data_dir: Path, out: Path, sig: signal.Signals, rounds: int, seed: int) -> list[int]:
    """Start (or resume) the run and send ``sig`` at a random moment, ``rounds`` times; the epochs each stop left.

    The first stop comes during start-up, once the command has begun (it creates the run folder before it
    reads the data); the others at a random moment after the run has written a checkpoint, so they land
    inside epochs, between them, or inside a checkpoint's write.
    """
    rng = random.Random(seed)
    left = []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for round_ in range(rounds):
        after = (out / "last.pt").stat().st_mtime if (out / "last.pt").exists() else 0.0
        # A shell without job control starts background jobs with SIGINT ignored, and a child inherits that: Python
        # then never turns Ctrl-C into KeyboardInterrupt. Give the run the SIGINT a terminal's foreground job gets.
        process = subprocess.Popen(_command(data_dir, out, (out / "last.pt").exists()), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
        if round_ == 0:
            _wait_until(out.is_dir, process)
            time.sleep(rng.uniform(0.0, 0.5))  # reading the data and building the model take longer than this
        else:
            _wait_until(lambda last=out / "last.pt", after=after: last.exists() and last.stat().st_mtime > after, process)
            time.sleep(rng.uniform(0.0, 2.0))  # an epoch here takes about a second
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=120)
        assert "Traceback" not in stderr, stderr[-2000:]
        if sig is signal.SIGINT and process.returncode not in (0, -signal.SIGINT):
            assert process.returncode == 130 and "interrupted" in stderr, stderr[-2000:]
        left.append(_check_run_folder(out))
    return left


def _finish_and_check(data_dir: Path, out: Path) -> None:
    finished = subprocess.run(_command(data_dir, out, (out / "last.pt").exists()), capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert _check_run_folder(out) == EPOCHS
    assert load_checkpoint(out / "best.pt")["final"]["test_acc"] > 0.5  # the synthetic classes are easy


@pytest.mark.slow
def test_sigkill_at_random_moments_never_costs_the_run(data_dir, tmp_path):
    out = tmp_path / "run"
    left = _stop_at_random_moments(data_dir, out, signal.SIGKILL, rounds=5, seed=7)
    assert left[0] <= 0 and max(left) >= 1  # a kill in start-up, and kills inside training
    _finish_and_check(data_dir, out)


@pytest.mark.slow
def test_ctrl_c_at_random_moments_leaves_the_same_guarantees(data_dir, tmp_path):
    out = tmp_path / "run"
    left = _stop_at_random_moments(data_dir, out, signal.SIGINT, rounds=4, seed=11)
    assert left[0] <= 0 and max(left) >= 1
    _finish_and_check(data_dir, out)


# -- a kill between best.pt and last.pt, Ctrl-C in the final evaluation ------------------------------------


def _config() -> TrainConfig:
    """Four epochs whose validation accuracy improves after the first (0.86, then 1.0 on these images)."""
    return TrainConfig("fashion-fast", "fast", build_recipe("fast", epochs=4, batch_size=256, val=64), device="cpu", seed=0)


def test_a_kill_between_best_pt_and_last_pt_is_resumed_to_the_same_end(data_dir, tmp_path, monkeypatch):
    data = load_fashion_mnist(data_dir)
    straight = train(_config(), data, tmp_path / "straight")
    real_save = checkpoint_policy.save_checkpoint
    writes = []

    def dies_between_best_pt_and_last_pt(path, state):
        writes.append((path.name, state["epoch"]))
        if path.name == "last.pt" and state["epoch"] >= 2 and writes[-2] == ("best.pt", state["epoch"]):
            raise SystemExit("killed")  # best.pt of this epoch is on disk, last.pt still holds the one before
        real_save(path, state)

    monkeypatch.setattr(checkpoint_policy, "save_checkpoint", dies_between_best_pt_and_last_pt)
    with pytest.raises(SystemExit):
        train(_config(), data, tmp_path / "killed")
    monkeypatch.setattr(checkpoint_policy, "save_checkpoint", real_save)
    killed_in = writes[-1][1]
    assert load_checkpoint(tmp_path / "killed" / "last.pt")["epoch"] == killed_in - 1
    assert load_checkpoint(tmp_path / "killed" / "best.pt")["epoch"] == killed_in
    resumed = train(_config(), data, tmp_path / "killed", resume=True)
    assert resumed.final == straight.final
    a, b = (load_checkpoint(tmp_path / name / "best.pt")["model"] for name in ("straight", "killed"))
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_ctrl_c_in_the_final_evaluation_says_so_and_resume_finishes(data_dir, tmp_path, monkeypatch):
    data = load_fashion_mnist(data_dir)
    straight = train(_config(), data, tmp_path / "straight")
    real_finish = loop._finish

    def interrupted(run):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_finish", interrupted)
    with pytest.raises(TrainingInterrupted, match="during the final evaluation.*after epoch 4.*--resume"):
        train(_config(), data, tmp_path / "run")
    monkeypatch.setattr(loop, "_finish", real_finish)
    assert train(_config(), data, tmp_path / "run", resume=True).final == straight.final


def test_a_resumed_run_refuses_a_best_pt_changed_by_hand(data_dir, tmp_path):
    data = load_fashion_mnist(data_dir)

    def stop_in_epoch_3(event):
        if isinstance(event, EpochStarted) and event.epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train(_config(), data, tmp_path / "run", progress=stop_in_epoch_3)
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert (last["epoch"], last["best_epoch"]) == (2, 2)
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    torch.save({**best, "epoch": 1, "format": FORMAT}, tmp_path / "run" / "best.pt")
    with pytest.raises(CheckpointError, match="best.pt holds epoch 1, but last.pt chose epoch 2: the run folder was changed"):
        train(_config(), data, tmp_path / "run", resume=True)


def test_a_last_pt_holding_torchs_one_cycle_lr_resumes_to_the_same_end(data_dir, tmp_path):
    """cnnstat once kept torch's OneCycleLR, and its last.pt files hold that class's state and the keys it adds to the
    optimizer's groups: such a file, made here by torch's own class stepped as far, resumes to the uninterrupted end."""
    data = load_fashion_mnist(data_dir)
    straight = train(_config(), data, tmp_path / "straight")

    def stop_in_epoch_3(event):
        if isinstance(event, EpochStarted) and event.epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train(_config(), data, tmp_path / "old", progress=stop_in_epoch_3)
    last = tmp_path / "old" / "last.pt"
    state = load_checkpoint(last)
    total, steps_taken = state["plan"]["total_steps"], state["scheduler"]["last_epoch"]
    hyper = _config().hyper
    stand_in = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=hyper.lr)
    old_schedule = torch.optim.lr_scheduler.OneCycleLR(
        stand_in, max_lr=hyper.lr, total_steps=total, pct_start=max(2, round(total / 4)) / total
    )
    for _ in range(steps_taken):
        stand_in.step()
        old_schedule.step()
    added = {key: stand_in.param_groups[0][key] for key in ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")}
    groups = [{**group, **added} for group in state["optimizer"]["param_groups"]]
    assert groups[0]["lr"] == stand_in.param_groups[0]["lr"]  # the rate the interrupted run left is torch's
    state = {**state, "scheduler": old_schedule.state_dict(), "optimizer": {**state["optimizer"], "param_groups": groups}}
    torch.save({**state, "format": FORMAT}, last)
    resumed = train(_config(), data, tmp_path / "old", resume=True)
    assert resumed.final == straight.final
    a, b = (load_checkpoint(tmp_path / name / "last.pt")["model"] for name in ("straight", "old"))
    assert all(torch.equal(a[key], b[key]) for key in a)


# -- checkpoints that are damaged, or name code -------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained") / "run"
    train(TrainConfig("fashion-fast", "fast", build_recipe("fast", epochs=1, batch_size=64, val=64), device="cpu"),
          load_fashion_mnist(data_dir), out)  # fmt: skip
    return out


def _altered(trained_run: Path, tmp_path: Path, **changes) -> Path:
    state = load_checkpoint(trained_run / "best.pt")
    path = tmp_path / "altered.pt"
    torch.save({**state, **changes, "format": FORMAT}, path)
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"config": "fashion-fast"}, "damaged: its configuration is not the one cnnstat writes"),
        ({"config": {"model": "fashion-fast", "recipe": "fast"}}, "damaged: its configuration is not the one"),
        ({"config": {"model": "fashion-fast", "recipe": "fast", "hyper": {}}}, "damaged: its configuration cannot be read"),
        ({"input_size": "abc"}, "damaged: its input size 'abc' is not channels, height, width"),
        ({"input_size": [1, 3, 3]}, "says the model takes input 1×3×3, which fashion-fast cannot take"),
        ({"model": {"weight": torch.zeros(3)}}, "holds weights that do not fit fashion-fast"),
        ({"model": [1, 2]}, "damaged: its model weights are not a dict of tensors"),
        ({"epoch": "one"}, "damaged: its epoch 'one' is not a count of epochs"),
    ],
)
def test_damaged_checkpoints_are_named_with_what_is_wrong(cli, trained_run, tmp_path, changes, message, data_dir):
    path = _altered(trained_run, tmp_path, **changes)
    result = cli("predict", str(path), "--test", "--data", str(data_dir))
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output


def _code_model(tmp_path: Path) -> tuple[Path, Path]:
    """A model file that leaves a mark when it is imported: the architecture of fashion-fast."""
    marker = tmp_path / "imported"
    source = tmp_path / "mine.py"
    source.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
                      "import cnnstat\nnet = cnnstat.get_model('fashion-fast')\n")  # fmt: skip
    return source, marker


def test_a_checkpoint_never_makes_cnnstat_run_the_code_it_names(cli, trained_run, tmp_path, data_dir):
    source, marker = _code_model(tmp_path)
    config = load_checkpoint(trained_run / "best.pt")["config"]
    path = _altered(trained_run, tmp_path, config={**config, "model": f"{source}:net"})
    refused = cli("predict", str(path), "--test", "--data", str(data_dir))
    assert refused.exit_code == 1 and f"pass --model {source}:net if you trust" in refused.output
    assert not marker.exists()
    trusted = cli("predict", str(path), "--test", "--data", str(data_dir), "--model", f"{source}:net")
    assert trusted.exit_code == 0 and "test accuracy" in trusted.output and marker.exists()


def test_resume_runs_a_checkpoints_code_only_when_the_user_names_it(cli, trained_run, tmp_path, data_dir):
    source, marker = _code_model(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    state = load_checkpoint(trained_run / "last.pt")
    torch.save({**state, "config": {**state["config"], "model": f"{source}:net"}, "format": FORMAT}, run / "last.pt")
    refused = cli("train", "fashion-fast", "--resume", "--out", str(run), "--data", str(data_dir))
    assert refused.exit_code == 1 and "code that cnnstat would import and run" in refused.output and not marker.exists()
