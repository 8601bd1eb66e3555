"""Optimizers, initialisations and schedules by name: the one-cycle schedule rate for rate against torch's OneCycleLR,
one optimizer vocabulary for counting and training, and command-line choices that come from the registries."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest
import torch
from torch import nn

from cnnstat.counting.memory import OPTIMIZER_STATES
from cnnstat.errors import CnnstatError, DuplicateNameError
from cnnstat.training.initialisation import INITIALISATIONS, initialise
from cnnstat.training.optimizers import OPTIMIZERS, build_optimizer
from cnnstat.training.recipes import RECIPES, build_recipe, compile_mode_for, recipe_from_dict
from cnnstat.training.schedules import SCHEDULES, OneCycle, build_schedule


def _torch_one_cycle(optimizer: torch.optim.Optimizer, max_lr: float, total_steps: int):
    """torch's own schedule with the arguments cnnstat's has always used: a quarter of the steps (at least two) to warm up."""
    warm_up = max(2, round(total_steps / 4))
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=warm_up / total_steps)


def _optimizer(kind: str) -> torch.optim.Optimizer:
    parameter = nn.Parameter(torch.zeros(3))
    return {"adam": torch.optim.Adam([parameter], lr=0.1), "adamw": torch.optim.AdamW([parameter], lr=0.1, weight_decay=0.05),
            "sgd": torch.optim.SGD([parameter], lr=0.1)}[kind]  # fmt: skip


def _rates(optimizer: torch.optim.Optimizer) -> tuple[float, float]:
    group = optimizer.param_groups[0]
    return group["lr"], group["betas"][0] if "betas" in group else group["momentum"]


def _walk(optimizer: torch.optim.Optimizer, schedule, steps: int) -> list[tuple[float, float]]:
    """The (learning rate, momentum) each of ``steps`` optimiser steps uses, the schedule stepped after each."""
    seen = []
    for _ in range(steps):
        seen.append(_rates(optimizer))
        optimizer.step()
        schedule.step()
    return [*seen, _rates(optimizer)]


@pytest.mark.parametrize("kind", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("total_steps", [4, 5, 7, 12, 97, 430])
def test_one_cycle_gives_torchs_one_cycle_rates_step_by_step(kind, total_steps):
    torch_optimizer, ours = _optimizer(kind), _optimizer(kind)
    expected = _walk(torch_optimizer, _torch_one_cycle(torch_optimizer, 0.02, total_steps), total_steps)
    assert _walk(ours, OneCycle(ours, 0.02, total_steps), total_steps) == expected  # exactly: the same float operations


def test_a_re_planned_one_cycle_follows_torchs_schedule_of_the_new_length():
    """Stretched after 30 of 100 steps to 160: from then on, the rates of torch's schedule planned for 160 from the start."""
    reference, ours = _optimizer("adamw"), _optimizer("adamw")
    expected = _walk(reference, _torch_one_cycle(reference, 0.004, 160), 160)
    schedule = OneCycle(ours, 0.004, 100)
    _walk(ours, schedule, 30)
    schedule.replan(160)
    after = _walk(ours, schedule, 130)
    assert after == expected[30:]


def test_a_checkpoint_of_torchs_one_cycle_lr_resumes_with_the_same_rates():
    """Checkpoints written before cnnstat had its own schedule hold torch's OneCycleLR state; they go on where they were."""
    old, resumed = _optimizer("adam"), _optimizer("adam")
    torch_schedule = _torch_one_cycle(old, 0.02, 50)
    _walk(old, torch_schedule, 20)
    schedule = OneCycle(resumed, 0.02, 50)  # as a resumed run builds it, then loads both states
    resumed.load_state_dict(old.state_dict())
    schedule.load_state_dict(torch_schedule.state_dict())
    assert _walk(resumed, schedule, 30) == _walk(old, torch_schedule, 30)


def test_too_short_a_run_for_a_cycle_keeps_its_rate():
    optimizer = _optimizer("adam")
    schedule = build_schedule("onecycle", optimizer, 0.1, 3, 3)
    assert [rate for rate, _ in _walk(optimizer, schedule, 3)] == [0.1] * 4


@pytest.mark.parametrize("name", sorted(OPTIMIZER_STATES))
def test_every_optimizer_counted_trains_and_keeps_the_state_counted(name):
    """One vocabulary: each name memory counts builds a torch optimizer that, after a real step, holds exactly that many
    parameter-sized state tensors per parameter."""
    assert set(OPTIMIZERS) == set(OPTIMIZER_STATES)
    model = nn.Linear(4, 3)
    optimizer = build_optimizer(model, build_recipe("fast", optimizer=name))
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    for parameter in model.parameters():
        sized = [t for t in optimizer.state[parameter].values() if isinstance(t, torch.Tensor) and t.shape == parameter.shape]
        assert len(sized) == OPTIMIZER_STATES[name]
    expected = {"sgd": torch.optim.SGD, "momentum": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    assert type(optimizer) is expected[name]


def test_a_recipe_names_only_registered_parts():
    for recipe in RECIPES.values():
        assert recipe.optimizer in OPTIMIZERS and recipe.schedule in SCHEDULES and recipe.init in INITIALISATIONS
    with pytest.raises(CnnstatError, match="unknown optimizer 'lion'; choose one of sgd, momentum, adam, adamw"):
        build_recipe("fast", optimizer="lion")
    with pytest.raises(CnnstatError, match="unknown initialisation 'orthogonal'"):
        initialise(nn.Linear(2, 2), "orthogonal")


def test_xavier_initialises_every_weight_within_glorots_bound():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.Flatten(), nn.Linear(6 * 24 * 24, 10))
    initialise(model, "xavier")
    conv, linear = model[0].weight, model[2].weight
    for weight, fan_in, fan_out in ((conv, 1 * 25, 6 * 25), (linear, 6 * 24 * 24, 10)):
        bound = (6 / (fan_in + fan_out)) ** 0.5  # Glorot & Bengio 2010, eq. 16
        assert weight.abs().max() <= bound and weight.abs().max() > 0.9 * bound


def test_a_second_entry_under_a_name_is_refused():
    with pytest.raises(DuplicateNameError):
        OPTIMIZERS.register("adam", lambda parameters, hyper: torch.optim.Adam(parameters))
    with pytest.raises(DuplicateNameError):
        SCHEDULES.register("onecycle", lambda *args: None)


def test_the_command_line_offers_what_the_registries_hold():
    from cnnstat.cli.app import OptimizerName
    from cnnstat.cli.train import DatasetName, Device, RecipeName

    # literal lists: comparing the enums with the registries they are built from could not fail
    assert [member.value for member in RecipeName] == ["classic", "fast", "best", "lecun1998"]
    assert [member.value for member in DatasetName] == ["fashion-mnist", "mnist", "kmnist"]
    assert [member.value for member in OptimizerName] == ["sgd", "momentum", "adam", "adamw"]
    assert [member.value for member in Device] == ["auto", "cpu", "cuda", "mps"]


def test_a_stored_sgd_with_momentum_resumes_with_momentum():
    """Before sgd and momentum were two optimizers, sgd used the recipe's momentum: such a checkpoint must keep it."""
    stored = {**asdict(RECIPES["classic"]), "optimizer": "sgd", "momentum": 0.9}
    assert recipe_from_dict(stored).optimizer == "momentum"
    plain = {**stored, "momentum": 0.0}
    assert recipe_from_dict(plain).optimizer == "sgd"
    model = nn.Linear(2, 2)
    optimizer = build_optimizer(model, recipe_from_dict(stored))
    assert optimizer.param_groups[0]["momentum"] == 0.9


def test_cuda_graphs_are_not_used_with_several_processes():
    tuned = build_recipe("fast", on_gpu=True)
    assert tuned.compile_mode == "reduce-overhead"
    assert compile_mode_for(tuned, world=1) == "reduce-overhead"
    assert compile_mode_for(tuned, world=2) == "default"
    assert compile_mode_for(replace(tuned, compile_mode="max-autotune"), world=2) == "max-autotune"


def test_train_refuses_an_optimizer_nothing_registers(cli):
    refused = cli("train", "fashion-fast", "--optimizer", "lion")
    assert refused.exit_code == 2 and "'sgd', 'momentum', 'adam', 'adamw'" in refused.output


def test_the_choices_cost_the_command_line_no_torch_import():
    """The registries the choices come from are read while the command line is built, so they must not import torch."""
    import subprocess
    import sys

    code = "import sys, cnnstat.cli; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
