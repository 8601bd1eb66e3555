"""Time budgets: durations, the pace probe and the planner against a fake clock, and budgeted runs end to end.

No test here measures real time: a fake clock advances by what each step and evaluation is said to cost.
"""

from __future__ import annotations

import re

import pytest
import torch
from fashion_fixtures import write_idx_set

import cnnstat.training.evaluation as evaluation
import cnnstat.training.planner as planner
from cnnstat.errors import CnnstatError
from cnnstat.training.budget import (
    Pace,
    Plan,
    format_duration,
    measure_pace,
    parse_duration,
    plan_steps,
    replan,
    replan_tolerance,
    reserve_seconds,
)
from cnnstat.training.checkpoint import load_checkpoint
from cnnstat.training.config import TrainConfig
from cnnstat.training.data import load_fashion_mnist
from cnnstat.training.evaluation import PLAIN
from cnnstat.training.events import EpochDone, EpochStarted, RunStarted, StepDone
from cnnstat.training.loop import TrainingInterrupted, train
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


def most_steps_that_fit(available_s: float, steps_per_epoch: int, eval_s: float, step_s, cap: int = 10_000) -> int:
    """By enumeration: the most steps whose time, with an evaluation after every epoch begun, fits ``available_s``.

    ``step_s(i)`` is the time of step ``i`` (counted from 0); at least one step, as a plan always has.
    """
    best, elapsed = 1, 0.0
    for steps in range(1, cap + 1):
        elapsed += step_s(steps - 1) + (eval_s if (steps - 1) % steps_per_epoch == 0 else 0.0)
        if elapsed <= available_s + 1e-9:
            best = steps
    return best


@pytest.mark.parametrize("budget", [3.0, 9.9, 10.0, 10.5, 11.09, 11.1, 95.0, 100.0, 104.2])
def test_the_plan_is_the_most_steps_that_fit_with_an_evaluation_after_each_epoch(budget):
    pace = Pace(0.1, 1.0, 10)  # 100 steps of 0.1 s and an evaluation of 1 s: 11 s an epoch
    plan = plan_steps(pace, 100, budget)
    assert plan.total_steps == most_steps_that_fit(budget, 100, 1.0, lambda _: 0.1)
    assert plan.epochs == -(-plan.total_steps // 100) and plan.seconds_per_epoch == pytest.approx(11.0)
    assert sum(plan.steps_in_epoch(epoch, 100) for epoch in range(plan.epochs)) == plan.total_steps
    assert all(plan.steps_in_epoch(epoch, 100) == 100 for epoch in range(plan.epochs - 1))  # only the last is cut short


def test_a_plan_keeps_to_its_cap_and_has_at_least_one_step():
    pace = Pace(0.1, 1.0, 10)
    assert plan_steps(pace, 100, 95.0, max_steps=400) == Plan(4, 400, pytest.approx(11.0))
    assert plan_steps(pace, 100, 0.5).total_steps == 1  # not even the evaluation fits: one step
    assert plan_steps(pace, 100, 1.25).total_steps == 2  # two steps and the evaluation
    with pytest.raises(ValueError):
        plan_steps(Pace(0.0, 1.0, 10), 100, 10.0)


def test_replanning_shrinks_to_end_on_time_and_grows_only_to_its_ceiling():
    plan, on_pace, faster, slower = Plan(10, 1000, 11.0), Pace(0.1, 1.0, 90), Pace(0.08, 1.0, 90), Pace(0.2, 1.0, 90)
    assert replan(plan, 1, on_pace, 99.0, 100, ceiling=6000) == plan  # on pace: nine more epochs fit exactly
    grown = replan(plan, 1, faster, 99.0, 100, ceiling=6000)  # faster than measured: more steps fit
    assert grown.total_steps == 100 + most_steps_that_fit(99.0, 100, 1.0, lambda _: 0.08) == 1200
    assert replan(plan, 1, faster, 99.0, 100, ceiling=1150).total_steps == 1150  # the ceiling caps it
    shrunk = replan(plan, 5, slower, 50.0, 100, ceiling=1000)  # slower: what fits the time left
    assert shrunk == Plan(8, 500 + most_steps_that_fit(50.0, 100, 1.0, lambda _: 0.2), 21.0) and shrunk.total_steps == 735
    assert replan(plan, 5, slower, 0.5, 100, ceiling=1000).total_steps == 501  # out of time: one more step ends it
    assert replan(Plan(8, 735, 21.0), 8, slower, 0.0, 100, ceiling=1000) == Plan(8, 735, 21.0)  # done


def test_a_plan_off_by_less_than_the_tolerance_stays_as_it_is():
    plan = Plan(10, 1000, 11.0)
    slightly_slower = Pace(0.101, 1.0, 90)  # nine more epochs would take 99.9 s of the 99 left: 991 steps fit, 9 fewer
    assert replan(plan, 1, slightly_slower, 99.0, 100, ceiling=6000, tolerance_s=1.0) == plan  # 0.9 s: kept
    assert replan(plan, 1, slightly_slower, 99.0, 100, ceiling=6000, tolerance_s=0.5).total_steps == 991
    # one more step begins an eleventh epoch and its evaluation: worth 0.1 + 1 s, more than a tolerance of 1.05 s
    assert replan(plan, 1, Pace(0.1, 1.0, 90), 100.1, 100, ceiling=6000, tolerance_s=1.05).total_steps == 1001
    assert replan(plan, 1, Pace(0.0, 1.0, 90), 10.0, 100, ceiling=6000) == plan  # a pace the clock did not resolve
    assert replan_tolerance(600.0) == pytest.approx(6.0)  # half the 2% kept back for noise


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
    real_evaluate = evaluation.evaluate

    def timed_evaluate(model, split, *args, views=PLAIN, **kwargs):
        clock.advance(EVAL_S * len(split) / VAL * len(views))
        return real_evaluate(model, split, *args, views=views, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", timed_evaluate)
    monkeypatch.setattr(planner, "measure_run_pace", lambda run, clock, quick=False: Pace(costs["step"], EVAL_S, 10))

    def hook(event):
        if isinstance(event, StepDone):
            clock.advance(costs["step"])

    return clock, hook, costs


STEPS = 896 // 64  # an epoch: 1024 images less the validation split, in batches of 64
# validation in the ten views test-time averaging may use, then the test set (twice its size) in as many
FINAL_EVALUATIONS = 10 * EVAL_S + 10 * EVAL_S * 256 / VAL


def _for_training(budget: float) -> float:
    """What a budget leaves for epochs: all but the final evaluations, the files and the noise."""
    return budget - reserve_seconds(FINAL_EVALUATIONS, budget)


def _ran_its_schedule_to_the_end(out) -> None:
    state = load_checkpoint(out / "last.pt")
    assert state["scheduler"]["last_epoch"] == state["scheduler"]["total_steps"] == state["plan"]["total_steps"]


def _run_at_paces(fake_time, data, out, budget, step_s_of_epoch, probe_step_s=STEP_S):
    """A budgeted run whose steps cost ``step_s_of_epoch(epoch)`` on the fake clock (epochs counted from 1); the
    run's result and the total steps it planned after each epoch. It must end within its budget, its schedule run."""
    clock, hook, costs = fake_time
    costs["step"] = probe_step_s  # what the probe measures
    planned = []

    def paced(event):
        if isinstance(event, EpochStarted):
            costs["step"] = step_s_of_epoch(event.epoch)
        hook(event)
        if isinstance(event, EpochDone):
            planned.append(event.total_steps)

    result = train(_budgeted(budget), data, out, progress=paced, clock=clock, started=clock())
    assert clock() - 1000.0 <= budget
    _ran_its_schedule_to_the_end(out)
    return result, planned


def test_a_budgeted_run_trains_the_steps_that_fit_and_ends_within_its_budget(data, tmp_path, fake_time):
    budget = 65.0
    result, _ = _run_at_paces(fake_time, data, tmp_path / "run", budget, lambda epoch: STEP_S)
    expected = most_steps_that_fit(_for_training(budget), STEPS, EVAL_S, lambda _: STEP_S)
    assert result.plan.total_steps == expected == 12 * STEPS + 9  # twelve epochs, and nine steps of a thirteenth
    assert len(result.metrics) == result.plan.epochs == 13 and result.metrics[-1].steps == 9
    assert result.metrics[-1].lr < build_recipe("best").lr * 1e-3  # annealed to the end


def test_a_run_that_slows_down_replans_and_still_completes_its_schedule(data, tmp_path, fake_time):
    budget = 64.0
    result, _ = _run_at_paces(fake_time, data, tmp_path / "run", budget, lambda epoch: STEP_S if epoch < 3 else 3 * STEP_S)
    pace = lambda step: STEP_S if step < 2 * STEPS else 3 * STEP_S  # noqa: E731
    assert result.plan.total_steps == most_steps_that_fit(_for_training(budget), STEPS, EVAL_S, pace) == 6 * STEPS + 10
    assert result.metrics[-1].lr < build_recipe("best").lr * 1e-3


def test_a_plan_cut_by_one_slow_epoch_grows_back_when_the_pace_returns(data, tmp_path, fake_time):
    budget = 64.0
    result, planned = _run_at_paces(fake_time, data, tmp_path / "run", budget, lambda e: 3 * STEP_S if e == 2 else STEP_S)
    pace = lambda step: 3 * STEP_S if STEPS <= step < 2 * STEPS else STEP_S  # noqa: E731
    # cut to what fits at the slow pace after epoch 2, then grown back to all that fits once it returned
    assert min(planned) < planned[0]
    assert result.plan.total_steps == most_steps_that_fit(_for_training(budget), STEPS, EVAL_S, pace) == 11 * STEPS


def test_a_plan_grows_past_its_first_estimate_while_the_schedule_warms_up(data, tmp_path, fake_time):
    """The probe and the first epoch run at half the later pace (as a CPU's first steps do): the plan grows at epoch 2,
    when the schedule is still warming up, past anything it planned before."""
    budget = 104.0
    slow_start = lambda epoch: 2 * STEP_S if epoch == 1 else STEP_S  # noqa: E731
    result, planned = _run_at_paces(fake_time, data, tmp_path / "run", budget, slow_start, probe_step_s=2 * STEP_S)
    first_estimate = most_steps_that_fit(_for_training(budget), STEPS, EVAL_S, lambda _: 2 * STEP_S)
    pace = lambda step: 2 * STEP_S if step < STEPS else STEP_S  # noqa: E731
    assert planned[0] == first_estimate < planned[1]
    assert result.plan.total_steps == most_steps_that_fit(_for_training(budget), STEPS, EVAL_S, pace) == 28 * STEPS


def test_a_pace_that_wobbles_by_a_few_percent_leaves_the_plan_alone(data, tmp_path, fake_time):
    budget = 65.0  # twelve epochs and nine steps: a few steps more or less begin or end no epoch
    wobble = lambda epoch: STEP_S * (1.03 if epoch % 2 else 0.97)  # noqa: E731
    result, planned = _run_at_paces(fake_time, data, tmp_path / "run", budget, wobble)
    assert len(set(planned)) == 1 and result.plan.total_steps == planned[0]  # never re-planned


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

    budget = 64.0
    result = train(_budgeted(budget), data, tmp_path / "run", progress=compile_on_the_first_step, clock=clock, started=clock())
    pace = lambda step: STEP_S + (5.0 if step == 0 else 0.0)  # noqa: E731
    assert result.plan.total_steps == most_steps_that_fit(_for_training(budget), STEPS, EVAL_S, pace) == 10 * STEPS
    assert clock() - 1000.0 <= budget


@pytest.mark.parametrize("interrupted_epoch", [3, 13])  # a whole epoch, and the last one, which the budget cut short
def test_a_resumed_budgeted_run_keeps_its_plan_and_ends_with_the_same_weights(data, tmp_path, fake_time, interrupted_epoch):
    clock, hook, costs = fake_time
    config = _budgeted(65.0)
    straight = train(config, data, tmp_path / "straight", progress=hook, clock=clock, started=clock())
    assert straight.plan.total_steps == 12 * STEPS + 9

    def interrupt(event):
        hook(event)
        if isinstance(event, EpochStarted) and event.epoch == interrupted_epoch:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train(config, data, tmp_path / "resumed", progress=interrupt, clock=clock, started=clock())
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
    output = " ".join(result.output.split())  # lines wrap at the terminal's width
    assert "time budget 10:00" in output and "of a 10:00 budget" in output
    assert re.search(r"epoch 1/3 train loss .* lr \S+ \d+:\d\d left", output)  # the countdown after epoch 1
    assert load_checkpoint(out / "last.pt")["plan"]["epochs"] == 3  # the cap: without --epochs, the fast recipe's 3
    refused = cli("train", "fashion-fast", "--time-budget", "ten minutes", "--data", str(folder))
    assert refused.exit_code == 1 and "cannot read the duration" in refused.output


@pytest.mark.parametrize("start_epoch, lefts", [(0, ["0:20 left", "0:10 left", ""]), (1, ["0:10 left", ""])])
def test_the_progress_line_counts_down_what_is_left(monkeypatch, start_epoch, lefts):
    """Three epochs of ten steps at one second a step: after each epoch, the steps still to come at that pace."""
    import io

    from rich.console import Console

    import cnnstat.cli.train as cli_train
    from cnnstat.training.metrics import EpochMetrics

    clock = FakeClock()
    monkeypatch.setattr(cli_train.time, "perf_counter", clock)
    output = io.StringIO()
    printer = cli_train.ProgressPrinter(Console(file=output, width=200))
    printer(RunStarted("cpu", epochs=3, steps_per_epoch=10, start_epoch=start_epoch, total_steps=30))
    for epoch in range(start_epoch + 1, 4):
        printer(EpochStarted(epoch, 3, 10))
        clock.advance(10.0)
        metrics = EpochMetrics(epoch, 0.5, 0.8, val_loss=0.4, val_acc=0.85, seconds=10.0, images_per_s=1.0, lr=0.1)
        printer(EpochDone(metrics, 3, 30))
    printer.stop()
    lines = [line for line in output.getvalue().splitlines() if line.startswith("epoch")]
    assert [line.rsplit("lr 0.1", 1)[1].strip() for line in lines] == lefts


def test_a_plan_is_told_in_epochs_and_the_steps_of_the_last_where_it_is_cut_short():
    from cnnstat.cli.train import _span

    assert [_span(steps, 429) for steps in (429, 858, 2525, 380, 1)] == [
        "1 epoch", "2 epochs", "6 epochs, the last cut to 380 of 429 steps", "1 epoch, the last cut to 380 of 429 steps",
        "1 epoch, the last cut to 1 of 429 steps",
    ]  # fmt: skip


def test_the_progress_lines_say_which_epoch_was_cut_short_and_when_the_plan_changed(monkeypatch):
    import io

    from rich.console import Console

    import cnnstat.cli.train as cli_train
    from cnnstat.training.metrics import EpochMetrics

    clock = FakeClock()
    monkeypatch.setattr(cli_train.time, "perf_counter", clock)
    output = io.StringIO()
    printer = cli_train.ProgressPrinter(Console(file=output, width=200))
    printer(RunStarted("cpu", epochs=3, steps_per_epoch=10, start_epoch=0, total_steps=25))
    for epoch, steps, total in ((1, 10, 27), (2, 10, 27), (3, 7, 27)):
        printer(EpochStarted(epoch, 3, steps))
        clock.advance(steps)
        metrics = EpochMetrics(epoch, 0.5, 0.8, val_loss=0.4, val_acc=0.85, seconds=steps, images_per_s=1.0, lr=0.1, steps=steps)
        printer(EpochDone(metrics, 3, total))
    printer.stop()
    text = output.getvalue()
    assert "training on cpu: 3 epochs, the last cut to 5 of 10 steps, 10 steps an epoch" in text
    lines = [line for line in text.splitlines() if line.startswith("epoch")]
    assert "re-planned to end within the budget: 3 epochs, the last cut to 7 of 10 steps" in lines[0]
    assert "re-planned" not in lines[1] + lines[2] and "0:07 left" in lines[1]  # the 7 steps still to come, at 1 s each
    assert lines[2].startswith("epoch   3/3 (7 of 10 steps)") and "(7 of 10" not in lines[0] + lines[1]
