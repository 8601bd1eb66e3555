"""Learning-rate schedules by name: constant, one-cycle, and the 1998 paper's steps per pass; a registry, as conventions are.

A schedule is stepped once per training step and saved in checkpoints: ``step``, ``state_dict`` and ``load_state_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch

from ..counting.registry import Registry
from ..errors import CnnstatError


class Schedule(Protocol):
    """What the training loop asks of a schedule."""

    def step(self) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


#: (optimizer, peak learning rate, steps the run plans, steps per epoch) -> schedule
ScheduleBuilder = Callable[[torch.optim.Optimizer, float, int, int], Schedule]
SCHEDULES: Registry[str, ScheduleBuilder] = Registry("learning-rate schedule")


def build_schedule(name: str, optimizer: torch.optim.Optimizer, lr: float, total_steps: int, steps_per_epoch: int) -> Schedule:
    """The schedule ``name`` for a run of ``total_steps`` steps; it sets the optimizer's rate for the first step at once."""
    builder = SCHEDULES.get(name)
    if builder is None:
        raise CnnstatError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return builder(optimizer, lr, total_steps, steps_per_epoch)


def warm_up_steps(total: int) -> int:
    """A quarter of the steps to warm up, and at least two: the one-cycle schedule divides by the warm-up length."""
    return max(2, round(0.25 * total))


def _cosine(start: float, end: float, share: float) -> float:
    """From ``start`` to ``end`` along half a cosine as ``share`` goes from 0 to 1 (torch's annealing, operation for operation)."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * share) + 1)


class OneCycle:
    """The one-cycle policy as torch's ``OneCycleLR`` computes it, rate for rate: the learning rate rises along a cosine from
    a 25th of its peak for a quarter of the steps, then falls to a 10,000th of that; momentum (Adam's beta1) goes the
    other way between 0.95 and 0.85.

    Its phases follow from ``total_steps`` at every step, so a budgeted run can stretch or shrink it between epochs
    (:meth:`replan`) and it still anneals to the end; torch's class would need its private attributes rewritten.
    The state of torch's class, which earlier cnnstat checkpoints hold, loads: it has the same two fields.
    """

    DIV_FACTOR, FINAL_DIV_FACTOR = 25.0, 1e4
    MIN_STEPS = 4  # it divides by its warm-up and by what follows: fewer steps make no cycle
    BASE_MOMENTUM, MAX_MOMENTUM = 0.85, 0.95

    def __init__(self, optimizer: torch.optim.Optimizer, max_lr: float, total_steps: int):
        self.optimizer, self.max_lr, self.total_steps = optimizer, max_lr, total_steps
        self.last_epoch = 0  # steps taken, as torch names it
        self._apply()

    def rates(self, step: int) -> tuple[float, float]:
        """(learning rate, momentum) for step ``step``, counted from 0."""
        if step > self.total_steps:
            raise ValueError(f"the one-cycle schedule was stepped {step} times; it plans {self.total_steps}")
        initial = self.max_lr / self.DIV_FACTOR
        total = self.total_steps
        peak_step = float(warm_up_steps(total) / total * total) - 1  # as torch computes it from pct_start
        if step <= peak_step:
            share = step / peak_step
            return _cosine(initial, self.max_lr, share), _cosine(self.MAX_MOMENTUM, self.BASE_MOMENTUM, share)
        share = (step - peak_step) / (self.total_steps - 1 - peak_step)
        lowest = initial / self.FINAL_DIV_FACTOR
        return _cosine(self.max_lr, lowest, share), _cosine(self.BASE_MOMENTUM, self.MAX_MOMENTUM, share)

    def _apply(self) -> None:
        """Give every parameter group this step's rate and momentum (beta1 for optimizers with betas, as torch does)."""
        lr, momentum = self.rates(self.last_epoch)
        uses_betas = "betas" in self.optimizer.defaults
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            if uses_betas:
                group["betas"] = (momentum, *group["betas"][1:])
            else:
                group["momentum"] = momentum

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def replan(self, total_steps: int) -> None:
        """Span ``total_steps`` from now on; the optimizer's learning rate and momentum follow at once."""
        self.total_steps = total_steps
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "total_steps": self.total_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The step and plan; the rates themselves are in the optimizer's state, loaded beside it."""
        self.last_epoch, self.total_steps = int(state["last_epoch"]), int(state["total_steps"])


class PaperSteps:
    """LeCun et al. 1998's learning rates, as factors of the first: 0.0005 for 2 passes, 0.0002 for 3, 0.0001 for 3,
    0.00005 for 4, then 0.00001."""

    FACTORS = ((2, 1.0), (5, 0.4), (8, 0.2), (12, 0.1))  # (passes ending, factor); after them 0.02

    def __init__(self, steps_per_epoch: int):
        self.steps_per_epoch = steps_per_epoch

    def __call__(self, step: int) -> float:
        epoch = step // self.steps_per_epoch
        return next((factor for end, factor in self.FACTORS if epoch < end), 0.02)


def _constant(optimizer: torch.optim.Optimizer, lr: float, total_steps: int, steps_per_epoch: int) -> Schedule:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def _one_cycle(optimizer: torch.optim.Optimizer, lr: float, total_steps: int, steps_per_epoch: int) -> Schedule:
    if total_steps < OneCycle.MIN_STEPS:  # too few steps for a cycle: keep the rate
        return _constant(optimizer, lr, total_steps, steps_per_epoch)
    return OneCycle(optimizer, lr, total_steps)


def _paper_steps(optimizer: torch.optim.Optimizer, lr: float, total_steps: int, steps_per_epoch: int) -> Schedule:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, PaperSteps(steps_per_epoch))


SCHEDULES.register("constant", _constant)
SCHEDULES.register("onecycle", _one_cycle)
SCHEDULES.register("lecun1998", _paper_steps)
