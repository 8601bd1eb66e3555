"""Time budgets: durations, the pace probe and the planner against a fake clock, and budgeted runs end to end.

No test here measures real time: a fake clock advances by what each step and evaluation is said to cost.
"""

from __future__ import annotations

import pytest
import torch
from fashion_fixtures import write_idx_set

import cnnstat.training.loop as loop
from cnnstat.errors import CnnstatError
from cnnstat.training.budget import (
    Pace,
    Plan,
    format_duration,
    measure_pace,
    parse_duration,
    plan_epochs,
    replan,
    reserve_seconds,
)
from cnnstat.training.checkpoint import load_checkpoint
from cnnstat.training.data import load_fashion_mnist
from cnnstat.training.loop import EpochStarted, StepDone, TrainConfig, TrainingInterrupted, train
from cnnstat.training.recipes import build_recipe


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    "text, seconds", [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("2.5m", 150), ("45", 45), (" 10 min ", 600)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "10x", "0s", "m10"])
def test_bad_durations_are_refused(text):
    with pytest.raises(CnnstatError, match="duration"):
        parse_duration(text)


def test_format_duration():
    assert (format_duration(581.4), format_duration(3723), format_duration(-3)) == ("9:41", "1:02:03", "0:00")


def test_the_pace_is_the_time_of_the_timed_steps_and_the_scaled_evaluation():
    clock = FakeClock()
    calls = []

    def train_steps(count: int) -> None:
        calls.append(count)
        clock.advance(0.25 * count + (5.0 if len(calls) == 1 else 0.0))  # the warm-up also pays a one-off 5 s

    def evaluate_slice() -> float:
        clock.advance(0.5)
        return 0.2  # a fifth of the evaluation

    pace = measure_pace(train_steps, evaluate_slice, clock, warm_up=3, min_steps=5, min_seconds=2.0)
    assert calls[0] == 3  # the warm-up, untimed
    assert pace.steps_measured == sum(calls[1:]) >= 8  # 2 s at 0.25 s a step
    assert pace.step_s == pytest.approx(0.25) and pace.eval_s == pytest.approx(2.5)
    assert pace.seconds_per_step(100) == pytest.approx(0.25 + 2.5 / 100)


def test_the_plan_is_the_most_whole_epochs_that_fit():
    plan = plan_epochs(0.1, 100, 95.0)  # 10 s an epoch
    assert plan == Plan(9, 900, pytest.approx(10.0))
    assert plan_epochs(0.1, 100, 100.0).epochs == 10  # exactly ten fit
    assert plan_epochs(0.1, 100, 95.0, max_epochs=4).epochs == 4
    assert plan_epochs(0.1, 100, 3.0).epochs == 1  # never less than one epoch
    with pytest.raises(ValueError):
        plan_epochs(0.0, 100, 10.0)


def test_replanning_shrinks_to_end_on_time_and_grows_only_to_its_ceiling():
    plan = Plan(10, 1000, 10.0)
    assert replan(plan, 1, 10.0, 90.0, ceiling=60).epochs == 10  # on pace
    assert replan(plan, 1, 8.0, 90.0, ceiling=60).epochs == 12  # faster than measured: 11 more fit
    assert replan(plan, 1, 8.0, 90.0, ceiling=11).epochs == 11
    assert replan(plan, 5, 8.0, 90.0, ceiling=10).epochs == 10  # later, never past what was planned
    assert replan(plan, 5, 20.0, 50.0, ceiling=10) == Plan(7, 700, 20.0)  # slower: two more fit
    assert replan(Plan(7, 700, 20.0), 6, 10.0, 40.0, ceiling=10).epochs == 10  # the slowness passed: back to 10
    assert replan(plan, 5, 20.0, 1.0, ceiling=10).epochs == 6  # out of time: the next epoch ends it
    assert replan(plan, 10, 20.0, 0.0, ceiling=10).epochs == 10  # done


def test_the_reserve_covers_the_final_evaluation_files_and_noise():
    assert reserve_seconds(10.0, 600.0) == pytest.approx(10.0 + 3.0 + 12.0)


# -- budgeted runs on a fake clock ----------------------------------------------------------------

STEP_S, EVAL_S = 0.1, 1.0  # a step, and an evaluation of VAL images, on the fake clock
VAL = 128


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_idx_set(folder, n_train=1024, n_test=256)
    return load_fashion_mnist(folder)


def _budgeted(budget: float, epochs_cap: int = 60) -> TrainConfig:
    hyper = build_recipe("best", "fashion-fast", batch_size=64, val=VAL, time_budget=budget, epochs=epochs_cap)
    return TrainConfig("fashion-fast", "best", hyper, device="cpu", seed=1)


@pytest.fixture
def fake_time(monkeypatch):
    """A fake clock, a probe that measures STEP_S and EVAL_S, and evaluations that cost EVAL_S per VAL images."""
    clock = FakeClock()
    costs = {"step": STEP_S}
    real_evaluate = loop.evaluate

    def timed_evaluate(model, split, *args, flip_tta=False, **kwargs):
        clock.advance(EVAL_S * len(split) / VAL * (2 if flip_tta else 1))
        return real_evaluate(model, split, *args, flip_tta=flip_tta, **kwargs)

    monkeypatch.setattr(loop, "evaluate", timed_evaluate)
    monkeypatch.setattr(loop, "_measure_pace", lambda run, clock, quick=False: Pace(costs["step"], EVAL_S, 10))

    def hook(event):
        if isinstance(event, StepDone):
            clock.advance(costs["step"])

    return clock, hook, costs


def test_a_budgeted_run_trains_the_planned_epochs_and_ends_within_its_budget(data, tmp_path, fake_time):
    clock, hook, _ = fake_time
    budget = 40.0
    result = train(_budgeted(budget), data, tmp_path / "run", progress=hook, clock=clock, started=clock())
    steps = 896 // 64  # 1024 images less the validation split, in batches of 64
    epoch_s = steps * STEP_S + EVAL_S
    final_evaluations = 2 * EVAL_S + 2 * EVAL_S * 256 / VAL  # validation and test, each with mirrored images
    expected = int((budget - reserve_seconds(final_evaluations, budget)) // epoch_s)
    assert result.plan.epochs == expected == len(result.metrics) == 12
    assert clock() - 1000.0 <= budget
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["plan"]["epochs"] == expected and state["scheduler"]["total_steps"] == expected * steps
    assert state["scheduler"]["last_epoch"] == expected * steps  # the one-cycle schedule ran to its end


def test_a_run_that_slows_down_replans_and_still_completes_its_schedule(data, tmp_path, fake_time):
    clock, hook, costs = fake_time

    def slow_down_after_two_epochs(event):
        hook(event)
        if isinstance(event, EpochStarted) and event.epoch == 3:
            costs["step"] = 3 * STEP_S

    budget = 40.0
    result = train(_budgeted(budget), data, tmp_path / "run", progress=slow_down_after_two_epochs, clock=clock, started=clock())
    assert len(result.metrics) == result.plan.epochs == 6  # two epochs at the old pace, then what fits at the new one
    assert clock() - 1000.0 <= budget
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["scheduler"]["last_epoch"] == state["scheduler"]["total_steps"]
    assert result.metrics[-1].lr < build_recipe("best").lr * 1e-3  # annealed to the end


def test_a_plan_cut_by_one_slow_epoch_grows_back_when_the_pace_returns(data, tmp_path, fake_time):
    clock, hook, costs = fake_time

    def slow_second_epoch(event):
        hook(event)
        if isinstance(event, EpochStarted):
            costs["step"] = 3 * STEP_S if event.epoch == 2 else STEP_S

    budget = 40.0
    result = train(_budgeted(budget), data, tmp_path / "run", progress=slow_second_epoch, clock=clock, started=clock())
    epoch_s, slow_epoch_s = 896 // 64 * STEP_S + EVAL_S, 896 // 64 * 3 * STEP_S + EVAL_S
    left_after_epoch_3 = budget - reserve_seconds(2 * EVAL_S + 2 * EVAL_S * 256 / VAL, budget) - 2 * epoch_s - slow_epoch_s
    assert len(result.metrics) == result.plan.epochs == 3 + int(left_after_epoch_3 // epoch_s) == 11  # cut to 6, then back
    assert clock() - 1000.0 <= budget
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["scheduler"]["last_epoch"] == state["scheduler"]["total_steps"]


def test_a_one_off_cost_at_the_first_step_is_not_taken_for_the_pace(data, tmp_path, fake_time):
    """torch.compile makes the first step of a run slow; the plan after epoch 1 follows the steps after it."""
    clock, hook, _ = fake_time
    epochs_started = []

    def compile_on_the_first_step(event):
        hook(event)
        if isinstance(event, EpochStarted):
            epochs_started.append(event.epoch)
        if isinstance(event, StepDone) and event.step == 1 and epochs_started == [1]:
            clock.advance(5.0)

    budget = 40.0
    result = train(_budgeted(budget), data, tmp_path / "run", progress=compile_on_the_first_step, clock=clock, started=clock())
    epoch_s = 896 // 64 * STEP_S + EVAL_S
    left_after_epoch_1 = budget - reserve_seconds(2 * EVAL_S + 2 * EVAL_S * 256 / VAL, budget) - epoch_s - 5.0
    assert len(result.metrics) == result.plan.epochs == 1 + int(left_after_epoch_1 // epoch_s) == 10
    assert clock() - 1000.0 <= budget


def test_a_resumed_budgeted_run_keeps_its_plan_and_ends_with_the_same_weights(data, tmp_path, fake_time):
    clock, hook, costs = fake_time
    config = _budgeted(30.0)
    straight = train(config, data, tmp_path / "straight", progress=hook, clock=clock, started=clock())

    def interrupt_in_epoch_3(event):
        hook(event)
        if isinstance(event, EpochStarted) and event.epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train(config, data, tmp_path / "resumed", progress=interrupt_in_epoch_3, clock=clock, started=clock())
    costs["step"] = 100.0  # a budget planned now would allow one epoch: the stored plan must win
    resumed = train(config, data, tmp_path / "resumed", resume=True, progress=hook, clock=clock, started=clock())
    assert resumed.plan == straight.plan and len(resumed.metrics) == len(straight.metrics)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")["model"]
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert resumed.final == straight.final


def test_the_pace_probe_leaves_the_run_untouched(data, tmp_path):
    """A budgeted run measures on a copy: its weights equal those of a run told the planned epochs outright."""
    budgeted = _budgeted(10_000.0, epochs_cap=2)  # the cap, not the budget, decides: two epochs
    planned = train(budgeted, data, tmp_path / "budgeted")
    fixed = TrainConfig("fashion-fast", "best", build_recipe("best", "fashion-fast", batch_size=64, val=VAL, epochs=2),
                        device="cpu", seed=1)  # fmt: skip
    plain = train(fixed, data, tmp_path / "fixed")
    assert planned.plan.epochs == plain.plan.epochs == 2
    a = load_checkpoint(tmp_path / "budgeted" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "fixed" / "last.pt")["model"]
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_cli_time_budget_reports_the_plan_and_the_time_left(cli, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_idx_set(folder, n_train=512, n_test=64)
    out = tmp_path / "run"
    result = cli("train", "fashion-fast", "--time-budget", "10m", "--val", "64", "--batch-size", "64", "--device", "cpu",
                 "--data", str(folder), "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "time budget 10:00" in result.output and "of a 10:00 budget" in result.output
    assert "left" in result.output
    assert load_checkpoint(out / "last.pt")["plan"]["epochs"] == 3  # the cap: without --epochs, the fast recipe's 3
    refused = cli("train", "fashion-fast", "--time-budget", "ten minutes", "--data", str(folder))
    assert refused.exit_code == 1 and "cannot read the duration" in refused.output


@pytest.mark.parametrize("start_epoch, lefts", [(0, ["0:20 left", "0:10 left", ""]), (1, ["0:10 left", ""])])
def test_the_progress_line_counts_down_what_is_left(monkeypatch, start_epoch, lefts):
    """Three epochs of ten steps at one second a step: after each epoch, the steps still to come at that pace."""
    import io

    from rich.console import Console

    import cnnstat.cli.train as cli_train
    from cnnstat.training.loop import EpochDone, EpochStarted, RunStarted
    from cnnstat.training.metrics import EpochMetrics

    clock = FakeClock()
    monkeypatch.setattr(cli_train.time, "perf_counter", clock)
    output = io.StringIO()
    printer = cli_train.ProgressPrinter(Console(file=output, width=200))
    printer(RunStarted("cpu", epochs=3, steps=10, start_epoch=start_epoch))
    for epoch in range(start_epoch + 1, 4):
        printer(EpochStarted(epoch, 3))
        clock.advance(10.0)
        metrics = EpochMetrics(epoch, 0.5, 0.8, val_loss=0.4, val_acc=0.85, seconds=10.0, images_per_s=1.0, lr=0.1)
        printer(EpochDone(metrics, 3))
    printer.stop()
    lines = [line for line in output.getvalue().splitlines() if line.startswith("epoch")]
    assert [line.rsplit("lr 0.1", 1)[1].strip() for line in lines] == lefts
