"""The step planner: fix a run's steps and schedule before it trains, and re-plan a budgeted run after each epoch.

The arithmetic is in :mod:`.budget`; here it meets a run: its probe, its final evaluations, its processes.
"""

from __future__ import annotations

import copy

import torch

from ..counting.records import format_shape
from . import evaluation
from .budget import Clock, Pace, Plan, measure_pace, plan_steps, replan, replan_tolerance, reserve_seconds
from .distributed import main_value, slowest_pace
from .evaluation import TTA_VIEWS, distinct_views, tta_candidates
from .events import Notice, ProgressHook
from .images import prepare_batch
from .optimizers import build_optimizer
from .run import Run, train_step
from .schedules import OneCycle, build_schedule, warm_up_steps

NATIVE_SIZES = ((28, 28), (32, 32))  # 28×28 images at most padded to these: epochs of seconds, which need no warning


def measure_run_pace(run: Run, clock: Clock, *, quick: bool = False) -> Pace:
    """Seconds per step and per evaluation, measured on a throwaway copy of the model: the run itself is untouched."""
    hyper = run.config.hyper
    scaler_state = run.scaler.state_dict()
    model = copy.deepcopy(run.model)  # eager even where the run compiles: a second compilation would cost more than it tells
    optimizer = build_optimizer(model, hyper)
    generator = torch.Generator(device=run.setup.device).manual_seed(run.config.seed)
    eval_split = run.val if run.has_val else run.test

    def train_steps(count: int) -> None:
        model.train()
        for _ in range(count):
            index = torch.randint(0, len(run.train), (run.per_rank_batch,), generator=generator, device=run.setup.device)
            x = prepare_batch(run.train.images[index], run.pixels, generator if hyper.augment else None)
            loss, _ = train_step(run, model, optimizer, x, run.train.labels[index])
        loss.item()  # wait for the device

    def evaluate_slice() -> float:
        size = min(len(eval_split), hyper.eval_batch_size)
        evaluation.evaluate(model, eval_split.take(slice(0, size)), run.pixels, run.setup, hyper.eval_batch_size)
        return size / max(1, len(eval_split))

    # every random state the probe draws from (dropout on the CPU or the GPU) is put back after it
    devices = [run.setup.device] if run.setup.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            if quick:
                return measure_pace(train_steps, evaluate_slice, clock, warm_up=1, min_steps=2, min_seconds=0.0)
            return measure_pace(train_steps, evaluate_slice, clock)
    finally:
        run.scaler.load_state_dict(scaler_state)


def final_eval_passes(run: Run) -> float:
    """The end of a run in evaluations of the per-epoch split: the chosen weights on validation in every view test-time
    augmentation may use, then the test set in as many views as the choice can need."""
    if not run.has_val:
        return 0.0
    test_share = len(run.test) / len(run.val)
    if not run.config.hyper.tta:
        return test_share
    modes = tta_candidates(run.pixels.mirror)
    return len(distinct_views(modes)) + max(len(TTA_VIEWS[mode]) for mode in modes) * test_share


def _seconds_for_training(run: Run, deadline: float, clock: Clock, pace: Pace) -> float:
    """What the budget leaves for epochs from now: the time to the deadline less what the run's end is kept."""
    assert run.config.hyper.time_budget is not None
    return deadline - clock() - reserve_seconds(final_eval_passes(run) * pace.eval_s, run.config.hyper.time_budget)


def plan_run(run: Run, clock: Clock, deadline: float | None, report: ProgressHook) -> Pace | None:
    """Fix the epochs and the schedule: the recipe's, or as many as fit the time budget at the pace measured now."""
    hyper = run.config.hyper
    pace = None
    if deadline is not None or run.pixels.input_size[1:] not in NATIVE_SIZES:
        pace = slowest_pace(run.dist, run.setup.device, measure_run_pace(run, clock, quick=deadline is None))
    if deadline is not None:
        assert pace is not None
        left = _seconds_for_training(run, deadline, clock, pace)
        run.plan = plan_steps(pace, run.steps_per_epoch, left, max_steps=hyper.epochs * run.steps_per_epoch)
        if run.plan.total_steps < run.steps_per_epoch:
            report(Notice(f"one epoch takes about {run.plan.seconds_per_epoch:.0f} s at the pace measured, more than the "
                          f"{max(0.0, left):.0f} s the budget leaves for training: the run trains {run.plan.total_steps:,} "
                          f"of an epoch's {run.steps_per_epoch:,} steps"))  # fmt: skip
        steps = int(main_value(run.dist, run.setup.device, run.plan.total_steps))  # every process trains the main one's plan
        run.plan = Plan.of_steps(steps, run.steps_per_epoch, run.plan.seconds_per_epoch)
    else:
        run.plan = Plan(hyper.epochs, hyper.epochs * run.steps_per_epoch)
        if pace is not None:
            minutes = pace.seconds_per_step(run.steps_per_epoch) * run.steps_per_epoch / 60
            report(Notice(f"an epoch of {run.config.model} at {format_shape(run.pixels.input_size)} takes about "
                          f"{minutes:,.1f} minutes here ({minutes * hyper.epochs:,.0f} minutes for {hyper.epochs} epochs); "
                          "--time-budget fits a run to the time you have"))  # fmt: skip
    run.scheduler = build_schedule(hyper.schedule, run.optimizer, hyper.lr, run.plan.total_steps, run.steps_per_epoch)
    return pace


def replan_run(run: Run, done: int, deadline: float, clock: Clock, pace: Pace) -> None:
    """After an epoch of a budgeted run: keep the plan, or stretch or shrink it to end on time at the pace just measured.

    After the first epoch, the first correction of the probe's estimate, and while the one-cycle schedule still
    warms up (its first quarter of steps: stretching it only delays its peak), the plan may grow to the
    recipe's most; later a stretch would raise a rate already annealing, so it grows only back to the most
    it planned. Schedules that do not anneal to a planned end (constant, the 1998 paper's steps per pass)
    may always grow.
    """
    hyper, steps_per_epoch = run.config.hyper, run.steps_per_epoch
    pace = slowest_pace(run.dist, run.setup.device, pace)
    # every process plans on the main one's clock
    seconds_left = main_value(run.dist, run.setup.device, _seconds_for_training(run, deadline, clock, pace))
    run.most_steps_planned = max(run.most_steps_planned, run.plan.total_steps)
    annealing = isinstance(run.scheduler, OneCycle) and done * steps_per_epoch >= warm_up_steps(run.plan.total_steps)
    ceiling = run.most_steps_planned if annealing and done > 1 else hyper.epochs * steps_per_epoch
    assert hyper.time_budget is not None
    new = replan(
        run.plan, done, pace, seconds_left, steps_per_epoch, ceiling=ceiling, tolerance_s=replan_tolerance(hyper.time_budget)
    )
    if new.total_steps == run.plan.total_steps:
        return
    if isinstance(run.scheduler, OneCycle):
        if new.total_steps < OneCycle.MIN_STEPS:  # too few steps to re-shape: keep the plan
            return
        run.scheduler.replan(new.total_steps)
    run.plan = new
