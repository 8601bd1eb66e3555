"""What a run tells its listener as it goes: typed events, which the command line turns into progress on stderr."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .budget import Pace
from .metrics import EpochMetrics


@dataclass(frozen=True)
class Notice:
    """Something the user should know before training starts."""

    message: str


@dataclass(frozen=True)
class Compiled:
    """The step was compiled before training (torch.compile on CUDA), in this many seconds."""

    seconds: float
    mode: str  # torch.compile's mode


@dataclass(frozen=True)
class RunStarted:
    device: str
    epochs: int
    steps_per_epoch: int
    start_epoch: int
    total_steps: int  # of the whole run, as planned: the last epoch may be cut short
    budget_s: float | None = None  # the time budget, when the steps were planned to fit one
    seconds_left: float | None = None  # of the budget, now
    pace: Pace | None = None  # measured on the first steps, when it was


@dataclass(frozen=True)
class EpochStarted:
    epoch: int  # counted from 1
    epochs: int  # as planned now
    steps: int  # in this epoch: fewer than a whole epoch's where a budget cut the last one short


@dataclass(frozen=True)
class StepDone:
    step: int  # counted from 1 within the epoch
    loss_sum: torch.Tensor  # on the device: reading it synchronises, so a listener decides when
    correct: torch.Tensor
    seen: int


@dataclass(frozen=True)
class EpochDone:
    metrics: EpochMetrics
    epochs: int  # as planned after this epoch: a budgeted run may have re-planned
    total_steps: int  # likewise


ProgressEvent = Notice | Compiled | RunStarted | EpochStarted | StepDone | EpochDone
ProgressHook = Callable[[ProgressEvent], None]
