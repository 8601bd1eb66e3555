"""When a run writes its checkpoints and what they hold, and how a resumed run takes its state back from them.

After every epoch: best.pt where the validation accuracy improved, then last.pt, then metrics.csv. last.pt is
written last: it is what a resumed run starts from, and the files it names are already there.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from ..errors import CheckpointError
from .budget import Plan
from .checkpoint import load_checkpoint, load_weights, save_checkpoint
from .config import stored_config
from .metrics import EpochMetrics, write_metrics_csv
from .run import Run
from .schedules import build_schedule


def checkpoint_state(run: Run, epoch: int) -> dict[str, Any]:
    """What a checkpoint holds after ``epoch`` epochs."""
    assert run.scheduler is not None
    return {
        "config": run.config.to_dict(), "epoch": epoch, "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict(), "rng": torch.get_rng_state(), "metrics": [asdict(m) for m in run.metrics],
        "cuda_rng": torch.cuda.get_rng_state_all() if run.setup.device.type == "cuda" else None,
        "plan": asdict(run.plan), "best_val": run.best_val, "best_epoch": run.best_epoch,
        "input_size": list(run.pixels.input_size), "dataset": run.config.dataset,
    }  # fmt: skip


def start_folder(run: Run) -> None:
    """A fresh run's folder: nothing of an earlier run there may outlive this one's start, and last.pt holds epoch 0."""
    if run.dist.main:
        (run.out / "best.pt").unlink(missing_ok=True)
        save_checkpoint(run.out / "last.pt", checkpoint_state(run, 0))
        write_metrics_csv(run.out, [])


def keep_epoch(run: Run, metrics: EpochMetrics) -> None:
    """Record the epoch; write best.pt when the validation accuracy improved, then last.pt, then metrics.csv."""
    run.metrics.append(metrics)
    improved = run.has_val and metrics.val_acc is not None and metrics.val_acc > run.best_val
    if improved:
        assert metrics.val_acc is not None
        run.best_val, run.best_epoch = metrics.val_acc, metrics.epoch
        run.best_weights = {key: value.detach().clone() for key, value in run.model.state_dict().items()}
    if run.dist.main:
        state = checkpoint_state(run, metrics.epoch)
        if improved:
            save_checkpoint(run.out / "best.pt", state)
        save_checkpoint(run.out / "last.pt", state)
        write_metrics_csv(run.out, run.metrics)


def keep_choice(run: Run, final: dict[str, Any], tta: str) -> None:
    """best.pt records what was chosen and its test figure, for `cnnstat predict`."""
    if run.dist.main:
        best = load_checkpoint(run.out / "best.pt")
        best.pop("flip_tta", None)  # what a checkpoint of an earlier cnnstat said instead of "tta"
        save_checkpoint(run.out / "best.pt", {**best, "final": final, "tta": tta})


def restore(run: Run, state: dict[str, Any]) -> None:
    """Take a run's state back from its last.pt, after checking it was written by the same configuration."""
    if stored_config(state, run.out / "last.pt") != run.config:
        raise CheckpointError(f"{run.out}/last.pt was written by another configuration; resume with the same options")
    load_weights(run.model, state["model"], run.out / "last.pt", run.config.model)
    try:
        _restore_state(run, state)
    except (TypeError, ValueError, KeyError, RuntimeError) as error:  # a field of another type or shape than cnnstat writes
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{run.out / 'last.pt'} is damaged: its training state cannot be restored ({reason})") from None
    if run.has_val and run.best_epoch:
        run.best_weights = _chosen_weights(run)


def _restore_state(run: Run, state: dict[str, Any]) -> None:
    """Plan, schedule, optimizer, scaler, random state and metrics, as last.pt holds them (the weights are in already)."""
    hyper = run.config.hyper
    stored = state.get("plan") or {"epochs": hyper.epochs, "total_steps": hyper.epochs * run.steps_per_epoch}
    run.plan = Plan(**stored)
    # before the optimizer's state: it sets the rates
    run.scheduler = build_schedule(hyper.schedule, run.optimizer, hyper.lr, run.plan.total_steps, run.steps_per_epoch)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if "scaler" in state:
        run.scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    run.metrics = [EpochMetrics(**m) for m in state["metrics"]]
    run.start_epoch = state["epoch"]
    run.best_val, run.best_epoch = float(state.get("best_val", -1.0)), int(state.get("best_epoch", 0))


def _chosen_weights(run: Run) -> dict[str, torch.Tensor] | None:
    """The weights of the epoch last.pt chose, from best.pt; None where best.pt is one epoch ahead of last.pt.

    best.pt is written before last.pt, so a kill between the two leaves best.pt from the epoch the
    resumed run trains again; that epoch, trained again identically, writes it again.
    """
    path = run.out / "best.pt"
    best = load_checkpoint(path) if path.is_file() else None
    if best is not None and best["epoch"] == run.best_epoch:
        return best["model"]
    if best is not None and best["epoch"] > run.start_epoch:
        return None
    found = f"holds epoch {best['epoch']}" if best is not None else "is missing"
    raise CheckpointError(f"{path} {found}, but last.pt chose epoch {run.best_epoch}: the run folder was changed by hand")
