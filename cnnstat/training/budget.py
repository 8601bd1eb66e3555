"""Time budgets: read a duration, measure a run's pace on its first steps, plan the epochs that fit.

Everything here is arithmetic on a clock that is passed in, so tests drive it with a fake one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import CnnstatError

Clock = Callable[[], float]
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(h|min|m|s)?", re.IGNORECASE)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0, None: 1.0}


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``10m``, ``1h``, ``1h30m`` or a bare number of seconds."""
    compact = text.strip().replace(" ", "")
    parts = list(_DURATION.finditer(compact))
    if not compact or "".join(part.group(0) for part in parts) != compact:
        raise CnnstatError(f"cannot read the duration {text!r}; write it as 90s, 10m, 1h or 1h30m")
    seconds = sum(float(part.group(1)) * _UNIT_SECONDS[(part.group(2) or "").lower() or None] for part in parts)
    if seconds <= 0:
        raise CnnstatError(f"the duration {text!r} must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """``9:41`` or ``1:02:03``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


@dataclass(frozen=True)
class Pace:
    """Seconds per training step, and per evaluation pass, measured on the first steps of a run."""

    step_s: float
    eval_s: float  # one evaluation of the split the run evaluates after every epoch
    steps_measured: int

    def seconds_per_step(self, steps_per_epoch: int) -> float:
        """A step's share of an epoch, its evaluation included."""
        return self.step_s + self.eval_s / steps_per_epoch


def measure_pace(
    train_steps: Callable[[int], None],
    evaluate: Callable[[], float],
    clock: Clock,
    *,
    warm_up: int = 3,
    min_steps: int = 5,
    min_seconds: float = 2.0,
    max_steps: int = 200,
) -> Pace:
    """Time ``train_steps(n)`` after ``warm_up`` untimed steps, in growing chunks until ``min_seconds`` and ``min_steps``.

    ``evaluate()`` runs a slice of the evaluation and returns the share of the whole pass it was,
    so the evaluation's time is the slice's, scaled.
    """
    train_steps(warm_up)
    steps, began = 0, clock()
    chunk = 1
    while steps < min_steps or (clock() - began < min_seconds and steps < max_steps):
        train_steps(chunk)
        steps += chunk
        chunk = min(2 * chunk, max_steps - steps) or 1
    step_s = (clock() - began) / steps
    began = clock()
    share = evaluate()
    return Pace(step_s, (clock() - began) / share, steps)


@dataclass(frozen=True)
class Plan:
    """How many epochs a run trains, and the steps its learning-rate schedule spans."""

    epochs: int
    total_steps: int
    seconds_per_epoch: float | None = None  # predicted, evaluation included; None without a budget


def plan_epochs(
    seconds_per_step: float, steps_per_epoch: int, budget_s: float, *, max_epochs: int | None = None, min_epochs: int = 1
) -> Plan:
    """The most whole epochs, at least ``min_epochs``, whose steps (each with its share of evaluation) fit in ``budget_s``."""
    if seconds_per_step <= 0 or steps_per_epoch < 1:
        raise ValueError("a plan needs a positive time per step and at least one step per epoch")
    epoch_s = seconds_per_step * steps_per_epoch
    fits = math.floor(budget_s / epoch_s + 1e-9)
    epochs = max(min_epochs, fits if max_epochs is None else min(fits, max_epochs))
    return Plan(epochs, epochs * steps_per_epoch, epoch_s)


def replan(plan: Plan, done: int, epoch_s: float, seconds_left: float, *, ceiling: int) -> Plan:
    """The plan after ``done`` epochs that took ``epoch_s`` each, with ``seconds_left`` for the rest.

    It shrinks whenever the planned epochs would overrun, and grows to at most ``ceiling`` epochs (the
    caller's choice: the recipe's most after the first epoch, when the schedule has barely begun; later,
    only back to the most it planned, which one slow epoch may have cut). It never ends before the next epoch.
    """
    steps_per_epoch = plan.total_steps // plan.epochs
    remaining = plan_epochs(epoch_s / steps_per_epoch, steps_per_epoch, seconds_left, max_epochs=None, min_epochs=1)
    epochs = min(done + remaining.epochs, ceiling)
    epochs = max(epochs, done + 1) if done < plan.epochs else plan.epochs
    return Plan(epochs, epochs * steps_per_epoch, epoch_s)


def reserve_seconds(final_eval_s: float, budget_s: float) -> float:
    """Time kept back for the end of a run: its final evaluations, 3 s to write its files, and 2% of the budget for noise."""
    return final_eval_s + 3.0 + 0.02 * budget_s
