"""The bare torch.compile loop that bench's harness is measured against: it runs the steps it reports; on CUDA, the CLI
prints the harness's share of it (skipped without a GPU)."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from cnnstat.benchmark.compiled_baseline import WARM_UP, against_bare, bare_compiled_loop
from cnnstat.benchmark.timing import BenchOptions, BenchReport
from cnnstat.devices import select_device
from cnnstat.errors import CnnstatError


def test_the_bare_loop_trains_exactly_the_steps_it_counts():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 10))
    reference = nn.Sequential(nn.Flatten(), nn.Linear(16, 10))
    reference.load_state_dict(model.state_dict())
    x = torch.randn(8, 1, 4, 4)
    torch.manual_seed(1)
    # dynamo's eager backend: the loop is what is tested, and inductor takes half a minute to compile on two cores
    loop = bare_compiled_loop(model, x, "train", select_device("cpu"), min_time=0.1, backend="eager")
    assert loop.seconds >= 0.1 and loop.images_per_s == pytest.approx(loop.calls * 8 / loop.seconds)
    torch.manual_seed(1)
    target = torch.randint(0, 10, (8,))
    optimizer = torch.optim.SGD(reference.parameters(), lr=1e-3, momentum=0.9)
    for _ in range(WARM_UP + loop.calls):  # plain eager steps: as many as the loop says it ran, and its warm-up
        loss = nn.functional.cross_entropy(reference(x), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    for ours, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bench_prints_the_harness_against_a_bare_compiled_loop_on_cuda(cli):
    result = cli("bench", "lenet5", "--device", "cuda", "--compile", "--batch-size", "64", "--min-time", "0.2",
                 "--against-compiled")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    title = next(i for i, line in enumerate(lines) if "Against a bare torch.compile loop" in line)
    row = next(line for line in lines[title:] if "lenet5" in line.lower())
    ratio = float(re.findall(r"\d+\.\d{3}", row)[-1])  # the last column: harness img/s over bare img/s
    assert 0 < ratio <= 1.2, row


def test_against_compiled_without_compile_is_refused_before_timing(cli):
    result = cli("bench", "lenet5", "--device", "cpu", "--against-compiled", "--batch-size", "1")
    assert result.exit_code != 0
    assert "add --compile" in result.output and "Traceback" not in result.output


def test_against_compiled_is_refused_when_the_harness_fell_back_to_eager():
    # what run_bench records when torch.compile failed and the harness timed the eager model
    eager = BenchReport([], {"compile": False, "threads": 1})
    with pytest.raises(CnnstatError, match="compiled harness"):
        against_bare(["lenet5"], BenchOptions(device="cpu", batch_sizes=(1,)), eager)
