"""Time budgets: read a duration, measure a run's pace on its first steps, plan the steps that fit.

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
    """How long a run trains: its epochs, of which the last may be cut short, and the steps its schedule spans."""

    epochs: int
    total_steps: int
    seconds_per_epoch: float | None = None  # predicted, evaluation included; None without a budget

    @staticmethod
    def of_steps(total_steps: int, steps_per_epoch: int, seconds_per_epoch: float | None = None) -> Plan:
        """The plan of ``total_steps``, in as many epochs as they take."""
        return Plan(math.ceil(total_steps / steps_per_epoch), total_steps, seconds_per_epoch)

    def steps_in_epoch(self, epoch: int, steps_per_epoch: int) -> int:
        """The steps of epoch ``epoch`` (counted from 0): a whole epoch's, or what is left of the plan in the last."""
        return max(0, min(steps_per_epoch, self.total_steps - epoch * steps_per_epoch))


def plan_steps(pace: Pace, steps_per_epoch: int, budget_s: float, *, max_steps: int | None = None) -> Plan:
    """The most steps, at least one, that fit in ``budget_s`` with an evaluation after every epoch, a cut-short last one too.

    Whole epochs first; then as many steps of one more epoch as leave time for its evaluation. A plan in
    whole epochs would leave up to an epoch of the budget unused.
    """
    if pace.step_s <= 0 or steps_per_epoch < 1:
        raise ValueError("a plan needs a positive time per step and at least one step per epoch")
    epoch_s = pace.step_s * steps_per_epoch + pace.eval_s
    whole = max(0, math.floor(budget_s / epoch_s + 1e-9))
    rest = budget_s - whole * epoch_s - pace.eval_s
    extra = min(steps_per_epoch - 1, math.floor(rest / pace.step_s + 1e-9)) if rest > 0 else 0
    steps = whole * steps_per_epoch + extra
    if max_steps is not None:
        steps = min(steps, max_steps)
    return Plan.of_steps(max(1, steps), steps_per_epoch, epoch_s)


def replan(
    plan: Plan, done: int, pace: Pace, seconds_left: float, steps_per_epoch: int, *, ceiling: int, tolerance_s: float = 0.0
) -> Plan:
    """The plan after ``done`` whole epochs at ``pace``, with ``seconds_left`` for the rest.

    It shrinks when the plan would overrun, and grows to at most ``ceiling`` steps (the caller's choice:
    the recipe's most while the schedule is still warming up, later only back to the most it planned,
    which one slow epoch may have cut). It stays as it is where the change would be worth no more than
    ``tolerance_s``: one epoch's pace differs from the next by a percent or two, and a plan that followed
    each would change its schedule after every epoch. A plan with steps still to come keeps at least one.
    A pace the clock could not resolve (no time at all) tells nothing, and the plan stays.
    """
    trained = done * steps_per_epoch
    if trained >= plan.total_steps or pace.step_s <= 0:
        return plan
    rest = plan_steps(pace, steps_per_epoch, seconds_left)
    new = Plan.of_steps(max(trained + 1, min(trained + rest.total_steps, ceiling)), steps_per_epoch, rest.seconds_per_epoch)
    change_s = (new.total_steps - plan.total_steps) * pace.step_s + (new.epochs - plan.epochs) * pace.eval_s
    return plan if abs(change_s) <= tolerance_s else new


NOISE_SHARE = 0.02  # of a budget, kept back for the noise in a machine's pace


def reserve_seconds(final_eval_s: float, budget_s: float) -> float:
    """Time kept back for the end of a run: its final evaluations, 3 s to write its files, and 2% of the budget for noise."""
    return final_eval_s + 3.0 + NOISE_SHARE * budget_s


def replan_tolerance(budget_s: float) -> float:
    """How far a plan may be off before it is changed: half the time kept back for noise, so a plan kept ends on time."""
    return NOISE_SHARE / 2 * budget_s
