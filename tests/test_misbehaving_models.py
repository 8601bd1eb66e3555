"""User models that fight back: swallow the timeout, call sys.exit, recurse forever; and limits a user can overflow."""

from __future__ import annotations

import signal
import sys
import textwrap
from pathlib import Path

import pytest

MODELS = textwrap.dedent("""
    import sys
    import torch.nn as nn

    class Swallows(nn.Module):
        input_size = (4,)
        def forward(self, x):
            while True:  # a retry loop that catches everything a forward usually raises
                try:
                    x = x + 1
                except Exception:
                    pass

    class LeavesStateBehind(nn.Module):
        input_size = (4,)
        def forward(self, x):
            import torch
            torch.no_grad().__enter__()  # blocks entered and never left, as a signal inside __enter__ leaves them
            torch.device("cpu").__enter__()
            torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t).__enter__()
            while True:
                x = x + 1

    class BuildsForever(nn.Module):
        input_size = (4,)
        def __init__(self):
            super().__init__()
            while True:
                try:
                    self.layer = nn.Linear(4, 4)
                except Exception:
                    pass

    class ExitsInForward(nn.Module):
        input_size = (4,)
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(4, 2)
        def forward(self, x):
            sys.exit(5)

    class ExitsInLayer(nn.Module):
        input_size = (4,)
        def __init__(self):
            super().__init__()
            self.inner = ExitsInForward()
        def forward(self, x):
            return self.inner(x)

    class ExitsInInit(nn.Module):
        input_size = (4,)
        def __init__(self):
            super().__init__()
            sys.exit(5)

    def exits_quietly():
        sys.exit()

    class Recurses(nn.Module):
        input_size = (4,)
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(4, 4)
        def forward(self, x):
            return self(self.layer(x))
""")


@pytest.fixture
def models(tmp_path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    return path


def one_error_line(result) -> str:
    """The single ``error:`` line a failed command prints; asserts exit 1 and nothing else."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


@pytest.mark.parametrize("command", ["summary", "check"])
def test_a_forward_that_swallows_exceptions_is_still_stopped_by_timeout(cli, models, command):
    line = one_error_line(cli(command, f"{models}:Swallows", "--timeout", "0.5"))
    assert f"{models}:Swallows did not finish within 0.5 s (--timeout)" in line
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no timer left armed
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL


def test_a_timeout_puts_back_the_torch_state_the_cut_block_changed(cli, models):
    import torch

    before = (torch.is_grad_enabled(), torch._C._len_torch_function_stack(), torch._C._len_torch_dispatch_stack())
    one_error_line(cli("summary", f"{models}:LeavesStateBehind", "--timeout", "0.5"))
    after = (torch.is_grad_enabled(), torch._C._len_torch_function_stack(), torch._C._len_torch_dispatch_stack())
    assert after == before and torch._C._autograd._top_saved_tensors_default_hooks(False) is None
    assert torch.ones(2, requires_grad=True).sum().requires_grad  # a training step in the same process still works


def test_a_build_that_swallows_exceptions_is_stopped_by_timeout(cli, models):
    line = one_error_line(cli("summary", f"{models}:BuildsForever", "--timeout", "0.5"))
    assert "BuildsForever did not finish within 0.5 s" in line


def test_the_python_api_stops_a_module_and_leaves_it_as_it_was(models):
    import importlib.util

    import cnnstat
    from cnnstat.counting.time_limit import TraceTimeout

    spec = importlib.util.spec_from_file_location("swallowing_models", models)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Swallows()
    with pytest.raises(TraceTimeout, match=r"Swallows did not finish within 0\.2 s"):
        cnnstat.analyze(model, timeout=0.2)
    assert not model._forward_hooks and not model._forward_pre_hooks and model.training


def test_a_timeout_lets_an_import_under_way_finish_so_the_process_stays_usable(cli, tmp_path, monkeypatch):
    (tmp_path / "slow_to_import_helper.py").write_text("import time\ntime.sleep(1.0)\nfinished = True\n")
    model = tmp_path / "imports_slowly.py"
    model.write_text(textwrap.dedent("""
        import torch.nn as nn
        class Net(nn.Module):
            input_size = (4,)
            def forward(self, x):
                import slow_to_import_helper  # as torch imports sympy on a first meta op
                while True:
                    x = x + 1
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    line = one_error_line(cli("summary", f"{model}:Net", "--timeout", "0.2"))
    assert "did not finish within 0.2 s" in line
    assert sys.modules["slow_to_import_helper"].finished  # imported whole, not cut off half-way


@pytest.mark.parametrize(
    "name, message",
    [
        ("ExitsInForward", "the forward pass of ExitsInForward on input 1×4 called sys.exit(5)"),
        ("ExitsInLayer", "the forward pass of ExitsInLayer on input 1×4 called sys.exit(5) in module inner (ExitsInForward)"),
        ("ExitsInInit", "building {path}:ExitsInInit failed: it called sys.exit(5)"),
        ("exits_quietly", "building {path}:exits_quietly failed: it called sys.exit()"),
    ],
)
@pytest.mark.parametrize("command", ["summary", "check"])
def test_sys_exit_in_user_code_is_one_line_and_exit_1(cli, models, name, message, command):
    extra = ("--against", "none") if command == "check" else ()
    line = one_error_line(cli(command, f"{models}:{name}", *extra))
    assert message.format(path=models) in line


def test_sys_exit_at_import_is_one_line_and_exit_1(cli, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import sys\nsys.exit(5)\n")
    line = one_error_line(cli("summary", f"{script}:net"))
    assert f"importing {script} failed: it called sys.exit(5)" in line


def test_sys_exit_at_import_of_a_package_module_is_one_line(cli, tmp_path, monkeypatch):
    (tmp_path / "exiting_package_module.py").write_text("import sys\nsys.exit('bye')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    line = one_error_line(cli("flops", "exiting_package_module:net"))
    assert "importing exiting_package_module failed: it called sys.exit('bye')" in line


def test_endless_recursion_is_named_as_recursion_not_as_a_shape_mismatch(cli, models):
    line = one_error_line(cli("summary", f"{models}:Recurses"))
    assert "the forward pass of Recurses on input 1×4 recursed too deep" in line
    assert "does not fit" not in line


@pytest.mark.parametrize("value", ["1e308", "inf", "nan", "86401", "0", "-1"])
def test_a_timeout_out_of_range_is_a_usage_error(cli, value):
    result = cli("summary", "lenet5", f"--timeout={value}")
    assert result.exit_code == 2 and "Traceback" not in result.output and "--timeout" in result.output


def test_the_api_refuses_a_timeout_out_of_range_in_one_line():
    import cnnstat
    from cnnstat.errors import TraceError

    for seconds in (1e308, float("inf"), float("nan"), 0.0):
        with pytest.raises(TraceError, match="--timeout must be more than 0 and at most 86400 s"):
            cnnstat.analyze("lenet5", timeout=seconds)


def test_check_takes_a_timeout_and_a_model_in_time_passes(cli):
    assert cli("check", "lenet5", "--against", "none", "--timeout", "600").exit_code == 0


@pytest.mark.parametrize("threads", ["100000", "1025"])
def test_bench_refuses_more_threads_than_are_sane_before_any_work(cli, threads):
    result = cli("bench", "lenet5", "--device", "cpu", "--threads", threads, "--min-time", "0.01", "--batch-size", "1")
    line = one_error_line(result)
    assert f"--threads {threads}: choose 1 to" in line


def _signal_at(monkeypatch, seconds: float) -> None:
    """Deliver SIGALRM right when ``time_limit`` sets the timer to ``seconds``: the moment a real signal can land at."""
    import os

    from cnnstat.counting import time_limit as module

    real = signal.setitimer
    calls = []

    def setitimer(which, value, interval=0.0):
        result = real(which, value, interval)
        if value == seconds and not calls:
            calls.append(value)
            os.kill(os.getpid(), signal.SIGALRM)
        return result

    monkeypatch.setattr(module.signal, "setitimer", setitimer)


def test_a_signal_landing_while_the_timer_is_disarmed_lets_the_block_s_own_error_through(monkeypatch):
    from cnnstat.counting.time_limit import time_limit

    _signal_at(monkeypatch, 0)  # as the block ends with an error, just before the timer is off
    with pytest.raises(KeyError, match="the block's own"), time_limit(30, "Net"):
        raise KeyError("the block's own")
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_signal_landing_while_the_timer_is_armed_still_stops_the_block(monkeypatch):
    from cnnstat.counting.time_limit import TraceTimeout, time_limit

    _signal_at(monkeypatch, 0.5)  # inside the entry, right after arming: passed over, the timer itself still fires
    with pytest.raises(TraceTimeout, match=r"Net did not finish within 0\.5 s"), time_limit(0.5, "Net"):
        while True:
            pass
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
