"""Any module torch runs on the CPU is counted exactly, or refused in one line that names the real cause.

Each kind is a model of the sort other tools' test suites keep. Every test first runs it on the CPU with
torch, then holds cnnstat's MACs to ``FlopCounterMode`` (FLOPs / 2 for convolutions and matrix products)
and its parameters to ``sum(p.numel())`` over the real module's unique parameters. The reference is
taken on meta, where torch can put the module there; a scripted module or a forward that mixes CPU
data with its inputs cannot be moved there by ``.to("meta")``, and is counted on the CPU instead
(these models hold no attention or fused recurrent kernel, the CPU's known faults).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
import threading
from collections import namedtuple
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.fx
import torch.nn.utils.prune
import torch.utils.checkpoint
from torch import nn
from torch.nn.parameter import is_lazy
from torch.nn.utils import parametrizations
from torch.utils.flop_counter import FlopCounterMode

import cnnstat
from cnnstat.errors import CnnstatError

Pair = namedtuple("Pair", "value missing")


@dataclasses.dataclass
class Result:
    scores: torch.Tensor
    extra: Any


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x):
        return self.layer(self.layer(x))


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.head = nn.Linear(8, 20, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids):
        return self.head(self.embed(ids))


class ParameterList(nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(8, 8)) for _ in range(3)])

    def forward(self, x):
        for weight in self.weights:
            x = x @ weight
        return x


class LooseParameters(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 4))
        self.bias = nn.Parameter(torch.zeros(4))
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(x @ self.weight + self.bias)


class OddOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 4)

    def forward(self, x):
        y = self.layer(x)
        return {"pair": Pair(y, None), "result": Result(y * 2, None), "nested": (y, [y + 1, None]), "none": None}


class DictInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 4)

    def forward(self, batch):
        out = self.layer(batch["x"])
        return out if batch.get("mask") is None else out * batch["mask"]


class GRULoop(nn.Module):
    """The issue's case: a hidden state made in ``forward`` without a device."""

    def __init__(self):
        super().__init__()
        self.cell = nn.GRUCell(6, 10)
        self.head = nn.Linear(10, 3)

    def forward(self, x):
        h = torch.zeros(x.shape[0], 10)
        for step in range(x.shape[1]):
            h = self.cell(x[:, step], h)
        return self.head(h)


class LSTMWithState(nn.Module):
    """nn.LSTM checks that its state is on its input's device before any op runs."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(6, 10, batch_first=True)
        self.head = nn.Linear(10, 3)

    def forward(self, x):
        state = (torch.zeros(1, x.shape[0], 10), torch.zeros(1, x.shape[0], 10))
        out, _ = self.rnn(x, state)
        return self.head(out[:, -1])


class Pruned(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 2)
        torch.nn.utils.prune.l1_unstructured(self.conv, "weight", amount=0.5)

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


def linear_with(wrap: Callable[[nn.Module], nn.Module]) -> nn.Module:
    return nn.Sequential(wrap(nn.Linear(8, 8)), nn.ReLU(), nn.Linear(8, 2))


class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x):
        y = self.layer(x)
        y.add_(1)
        y.relu_()
        y *= 2
        return y


class UpdatesBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)
        self.register_buffer("calls", torch.zeros(()))
        self.register_buffer("average", torch.zeros(8))

    def forward(self, x):
        self.calls += 1
        self.average.mul_(0.9).add_(x.mean(0) * 0.1)
        return self.layer(x - self.average)


class Factories(nn.Module):
    """Tensors made in ``forward`` from sizes, without a device."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x):
        positions = torch.arange(x.shape[1]).float()
        ones = torch.ones(x.shape[0], 8) + torch.full((8,), 2.0) + torch.eye(8)[0] + torch.linspace(0, 1, 8)
        noise = torch.randn(x.shape[0], 8) + torch.empty(8).fill_(0.5)
        return self.layer(x + positions + x.new_zeros(x.shape) + ones) + 0 * noise


class Constants(nn.Module):
    """Tensors made in ``forward`` from data: a list, numpy, a Python number read back with ``int``."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x):
        scale = torch.tensor([1.0, 2.0, 3.0, 4.0] * 2) * torch.from_numpy(np.ones(8, dtype="float32"))
        keep = int(torch.tensor(4))
        return (self.layer(x) * scale + torch.as_tensor(2.0))[:, :keep]


class DeviceMoves(nn.Module):
    """Moves that are no-ops on the CPU: ``cpu()``, ``to("cpu")``, ``device="cpu"``, ``to(x.device)``."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x):
        y = self.layer(x.cpu()).to("cpu") + torch.zeros(8, device="cpu")
        return y + torch.ones(8).to(x.device) + torch.ones(8).to(self.layer.weight)


class PlainAttribute(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)
        self.mask = torch.ones(8)

    def forward(self, x):
        return self.layer(x) * self.mask


class WithGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)
        self.generator = torch.Generator().manual_seed(0)

    def forward(self, x):
        return self.layer(x) + torch.randn(x.shape, generator=self.generator)


class Checkpointed(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(8, 8)
        self.second = nn.Linear(8, 8)

    def forward(self, x):
        return self.second(torch.utils.checkpoint.checkpoint(self.first, x, use_reentrant=False))


class ClassToken(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x):
        token = torch.zeros(x.shape[0], 1, 8)
        return self.layer(torch.cat([token, x], 1))


class ScriptedChild(nn.Module):
    def __init__(self):
        super().__init__()
        self.scripted = torch.jit.script(nn.Linear(8, 4))
        self.traced = torch.jit.trace(nn.Linear(4, 4), torch.randn(2, 4))
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.traced(self.scripted(x)))


class CausalAttention(nn.Module):
    """A mask made in ``forward`` from sizes, as language models make theirs."""

    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x):
        mask = torch.triu(torch.ones(x.shape[1], x.shape[1]), 1).bool()
        return self.attention(x, x, x, attn_mask=mask, need_weights=False)[0]


class RelativePosition(nn.Module):
    """A Swin-style relative-position index made in ``forward`` from ``arange`` and used to index a parameter table."""

    def __init__(self, window: int = 4):
        super().__init__()
        self.window = window
        self.table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, 2))
        self.qkv = nn.Linear(8, 24)

    def forward(self, x):
        w = self.window
        coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (w - 1)
        index = relative[:, :, 0] * (2 * w - 1) + relative[:, :, 1]
        bias = self.table[index.reshape(-1)].view(w * w, w * w, 2).permute(2, 0, 1)
        q, k, v = self.qkv(x).chunk(3, -1)
        return ((q @ k.transpose(-2, -1)).unsqueeze(1) + bias).softmax(-1).mean(1) @ v


class Autocast(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.layer(x)


class InferenceMode(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4 * 6 * 6, 2)

    def forward(self, x):
        with torch.inference_mode():
            return self.head(torch.matmul(self.conv(x), torch.ones(6, 6)).flatten(1))


class ReentrantCheckpoint(Checkpointed):
    def forward(self, x):
        return self.second(torch.utils.checkpoint.checkpoint(self.first, x, use_reentrant=True))


class ShapeConstants(nn.Module):
    """Tensors made from shapes' numbers and legacy CPU type casts."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x):
        scale = torch.tensor(x.shape[-1], dtype=torch.float32).sqrt() * torch.tensor(x.shape).prod()
        y = self.layer(x.type(torch.FloatTensor)).type("torch.FloatTensor") / scale
        return y.clamp(min=torch.tensor(0.0), max=torch.tensor(1.0)) + torch.maximum(x, torch.zeros(()))


class MaskedRows(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 2)

    def forward(self, x, keep):
        return self.head(x[keep])


class Bags(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.EmbeddingBag(20, 8, mode="sum")
        self.head = nn.Linear(8, 2)

    def forward(self, ids, offsets):
        return self.head(self.embed(ids, offsets))


class PackedGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(6, 10, batch_first=True)
        self.head = nn.Linear(10, 3)

    def forward(self, x, lengths):
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        return self.head(self.rnn(packed)[1][-1])


def lazy() -> nn.Module:
    return nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))


def linear_in(dtype: torch.dtype) -> tuple[nn.Module, tuple]:
    return nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 2)).to(dtype), (torch.randn(2, 8, dtype=dtype),)


# name: (model, inputs, where the reference is taken)
KINDS: dict[str, Callable[[], tuple[nn.Module, tuple, str]]] = {
    "shared layer": lambda: (Shared(), (torch.randn(2, 8),), "meta"),
    "tied parameters": lambda: (Tied(), (torch.randint(0, 20, (2, 5)),), "meta"),
    "parameter list": lambda: (ParameterList(), (torch.randn(2, 8),), "meta"),
    "loose parameters": lambda: (LooseParameters(), (torch.randn(2, 8),), "meta"),
    "dict, namedtuple, dataclass and None outputs": lambda: (OddOutputs(), (torch.randn(2, 8),), "meta"),
    "dict input with a None value": lambda: (DictInput(), ({"x": torch.randn(2, 8), "mask": None},), "cpu"),
    "GRUCell loop, state made without a device": lambda: (GRULoop(), (torch.randn(1, 4, 6),), "meta"),
    "LSTM, state made without a device": lambda: (LSTMWithState(), (torch.randn(2, 5, 6),), "meta"),
    "pruned": lambda: (Pruned(), (torch.randn(1, 3, 8, 8),), "meta"),
    "half precision": lambda: (*linear_in(torch.float16), "meta"),
    "bfloat16": lambda: (*linear_in(torch.bfloat16), "meta"),
    "weight norm parametrization": lambda: (linear_with(parametrizations.weight_norm), (torch.randn(2, 8),), "meta"),
    "weight norm hook": lambda: (linear_with(torch.nn.utils.weight_norm), (torch.randn(2, 8),), "meta"),
    "spectral norm": lambda: (linear_with(parametrizations.spectral_norm), (torch.randn(2, 8),), "meta"),
    "orthogonal": lambda: (linear_with(parametrizations.orthogonal), (torch.randn(2, 8),), "meta"),
    "lazy modules": lambda: (lazy(), (torch.randn(1, 3, 8, 8),), "meta"),
    "lazy batch norm and transposed convolution": lambda: (
        nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.LazyConvTranspose2d(2, 3), nn.Flatten(), nn.LazyLinear(3)),
        (torch.randn(1, 3, 8, 8),),
        "meta",
    ),
    "in-place ops": lambda: (InPlace(), (torch.randn(2, 8),), "meta"),
    "buffers updated in forward": lambda: (UpdatesBuffers(), (torch.randn(2, 8),), "meta"),
    "batch norm in training": lambda: (nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train(), (torch.randn(2, 3, 8, 8),), "meta"),
    "tensors made from sizes in forward": lambda: (Factories(), (torch.randn(2, 8),), "meta"),
    "tensors made from data in forward": lambda: (Constants(), (torch.randn(2, 8),), "cpu"),
    "moves to the CPU": lambda: (DeviceMoves(), (torch.randn(2, 8),), "cpu"),
    "plain tensor attribute": lambda: (PlainAttribute(), (torch.randn(2, 8),), "cpu"),
    "random numbers from a generator": lambda: (WithGenerator(), (torch.randn(2, 8),), "cpu"),
    "activation checkpointing": lambda: (Checkpointed(), (torch.randn(2, 8),), "meta"),
    "class token made in forward": lambda: (ClassToken(), (torch.randn(2, 3, 8),), "meta"),
    "scripted and traced children": lambda: (ScriptedChild(), (torch.randn(2, 8),), "cpu"),
    "causal mask made in forward": lambda: (CausalAttention(), (torch.randn(2, 5, 16),), "meta"),
    "relative-position index made in forward": lambda: (RelativePosition(), (torch.randn(2, 16, 8),), "meta"),
    "autocast": lambda: (Autocast(), (torch.randn(2, 8),), "meta"),
    "inference mode": lambda: (InferenceMode(), (torch.randn(2, 3, 8, 8),), "meta"),
    "reentrant checkpointing": lambda: (ReentrantCheckpoint(), (torch.randn(2, 8),), "meta"),
    "tensors made from shapes and legacy type casts": lambda: (ShapeConstants(), (torch.randn(2, 8),), "cpu"),
    "DataParallel on the CPU": lambda: (nn.DataParallel(linear_with(lambda layer: layer)), (torch.randn(2, 8),), "meta"),
    "torch.fx GraphModule": lambda: (torch.fx.symbolic_trace(linear_with(lambda layer: layer)), (torch.randn(2, 8),), "meta"),
    "transformer encoder": lambda: (
        nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), 2).eval(), (torch.randn(2, 5, 16),), "meta"
    ),
    "a boolean mask given as an input": lambda: (MaskedRows(), (torch.randn(5, 8), torch.tensor([True, False, True, True, False])), "cpu"),
    "embedding bags with offsets given": lambda: (Bags(), (torch.randint(0, 20, (7,)), torch.tensor([0, 3])), "cpu"),
    "scripted root": lambda: (torch.jit.script(nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))), (torch.randn(2, 8),), "cpu"),
}


def flop_counter_macs(model: nn.Module, inputs: tuple, where: str) -> int:
    """torch's own count of the products, on a meta copy of the model and inputs or on the real ones."""
    if where == "meta":
        model = copy.deepcopy(model).to("meta")
        inputs = torch.utils._pytree.tree_map(lambda t: t.to("meta") if isinstance(t, torch.Tensor) else t, inputs)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad(), torch.device(where):
        model(*inputs)
    return counter.get_total_flops() // 2


def unique_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def state_of(model: nn.Module) -> list[tuple[str, Any]]:
    """Every tensor and flag of the module, as values that a change would show."""
    tensors = [(name, None if is_lazy(t) else t.detach().clone()) for name, t in model.state_dict(keep_vars=True).items()]
    return [*tensors, *((f"{name}.training", m.training) for name, m in model.named_modules())]


def same_state(before: list[tuple[str, Any]], after: list[tuple[str, Any]]) -> bool:
    return len(before) == len(after) and all(
        a[0] == b[0] and (torch.equal(a[1], b[1]) if isinstance(a[1], torch.Tensor) else a[1] == b[1]) for a, b in zip(before, after, strict=True)
    )


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
@pytest.mark.parametrize("kind", KINDS)
def test_a_module_torch_runs_is_counted_exactly(kind):
    model, inputs, where = KINDS[kind]()
    before = state_of(model)
    report = cnnstat.analyze(model, input_data=inputs)
    assert same_state(before, state_of(model)), "cnnstat changed the module"
    with torch.no_grad():
        model(*copy.deepcopy(inputs))  # torch runs it on the CPU (and shapes lazy parameters)
    assert report.totals["params"] == unique_params(model)
    assert report.totals["macs"] == flop_counter_macs(model, copy.deepcopy(inputs), where) > 0


def test_a_lazy_module_is_left_lazy():
    model = lazy()
    report = cnnstat.analyze(model, (3, 8, 8))
    assert type(model[3]) is nn.LazyLinear and is_lazy(model[3].weight)
    assert [layer.params for layer in report.layers if layer.params] == [4 * 3 * 3 * 3 + 4, 4 * 6 * 6 * 2 + 2]


def test_the_issue_gru_loop_counts_its_cell_and_head_by_hand():
    report = cnnstat.analyze(GRULoop(), (4, 6))
    # four steps of a GRU cell: three gates, each 6 inputs and 10 hidden to 10 units; then a 10 -> 3 head
    assert report.totals["macs"] == 4 * 3 * (6 * 10 + 10 * 10) + 10 * 3


def test_a_packed_sequence_counts_the_steps_its_given_lengths_hold():
    x, lengths = torch.randn(3, 5, 6), torch.tensor([5, 3, 2])
    PackedGRU()(x, lengths)  # torch runs it on the CPU
    report = cnnstat.analyze(PackedGRU(), input_data=(x, lengths))
    # 5 + 3 + 2 steps of a GRU: three gates, each 6 inputs and 10 hidden to 10 units; then a 10 -> 3 head per sequence
    assert report.totals["macs"] == (5 + 3 + 2) * 3 * (6 * 10 + 10 * 10) + 3 * 10 * 3
    assert torch.equal(lengths, torch.tensor([5, 3, 2])) and x.device.type == "cpu"


class BranchesOnValue(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x):
        y = self.layer(x)
        return y if y.sum() > 0 else -y


class MasksByValue(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x):
        y = self.layer(x)
        return y[y > 0]


class Nonzero(nn.Module):
    def forward(self, x):
        return torch.nonzero(x)


class ToList(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)

    def forward(self, x):
        return self.layer(x) * len(x.tolist())


class WhereIndices(nn.Module):
    def forward(self, x):
        return torch.where(x > 0)[0]


class ReadsBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(8, 8)
        self.register_buffer("steps", torch.tensor(2))

    def forward(self, x):
        for _ in range(int(self.steps.item())):
            x = self.layer(x)
        return x


@pytest.mark.parametrize(
    ("model", "cause"),
    [
        (BranchesOnValue(), "reads a tensor's values (__bool__())"),
        (MasksByValue(), "makes a tensor whose shape depends on tensor values (__getitem__(), aten.index)"),
        (Nonzero(), "makes a tensor whose shape depends on tensor values (nonzero(), aten.nonzero)"),
        (ToList(), "reads a tensor's values (tolist())"),
        (WhereIndices(), "makes a tensor whose shape depends on tensor values (where(), aten.nonzero)"),
        (ReadsBuffer(), "reads a tensor's values (item())"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, nn.Module) else "",
)
def test_a_forward_decided_by_values_is_refused_with_that_reason(model, cause):
    model(torch.randn(2, 8))  # torch runs it on the CPU
    with pytest.raises(CnnstatError) as refused:
        cnnstat.analyze(model, (8,))
    message = str(refused.value)
    lines, first = inspect.getsourcelines(type(model).forward)
    found = re.fullmatch(rf"{type(model).__name__} cannot be counted from shapes alone: its forward {re.escape(cause)} "
                         r"at test_module_kinds\.py:(\d+), and cnnstat runs it on meta tensors, which have shapes but no values",
                         message)  # fmt: skip
    assert found and first < int(found[1]) < first + len(lines)  # the line of the forward that needed values
    assert refused.value.__cause__ is not None and "\n" not in message


def test_tensors_made_in_another_thread_during_a_trace_stay_on_the_cpu():
    made_elsewhere: list[torch.Tensor] = []
    made_inside: list[torch.Tensor] = []
    started, done = threading.Event(), threading.Event()

    def other_thread():
        started.wait(30)
        made_elsewhere.append(torch.zeros(3))
        done.set()

    class Waits(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(8, 8)

        def forward(self, x):
            started.set()
            done.wait(30)
            made_inside.append(torch.zeros(x.shape[0], 8))
            return self.layer(x + made_inside[-1])

    thread = threading.Thread(target=other_thread)
    thread.start()
    cnnstat.analyze(Waits(), (8,))
    thread.join()
    assert [t.device.type for t in made_elsewhere] == ["cpu"] and [t.device.type for t in made_inside] == ["meta"]
    assert torch.zeros(1).device.type == "cpu"  # and nothing is left behind in this thread


def test_an_op_meta_cannot_run_is_refused_with_its_name():
    quantized = torch.ao.quantization.quantize_dynamic(linear_with(lambda layer: layer), {nn.Linear}, dtype=torch.qint8)
    quantized(torch.randn(2, 8))  # torch runs it on the CPU
    with pytest.raises(CnnstatError) as refused:
        cnnstat.analyze(quantized, (8,))
    assert str(refused.value) == (
        "Sequential cannot be counted: its forward runs quantized.linear_dynamic in module 0 (Linear), "
        "which torch cannot run on meta tensors, where cnnstat runs every model"
    )


def test_a_lazy_module_that_cannot_be_copied_is_refused_with_that_reason():
    class Locked(nn.Module):
        def __init__(self):
            super().__init__()
            self.lock = threading.Lock()
            self.head = nn.LazyLinear(2)

        def forward(self, x):
            return self.head(x)

    Locked()(torch.randn(1, 8))  # torch runs it on the CPU
    with pytest.raises(CnnstatError, match="^Locked has lazy parameters, .* cannot be copied: cannot pickle '_thread.lock' object$"):
        cnnstat.analyze(Locked(), (8,))


def test_a_lazy_layer_the_forward_never_calls_is_refused_naming_it():
    class Spare(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(8, 2)
            self.spare = nn.LazyLinear(3)

        def forward(self, x):
            return self.used(x)

    Spare()(torch.randn(1, 8))  # torch runs it on the CPU, and the spare layer stays without a size
    with pytest.raises(CnnstatError) as refused:
        cnnstat.analyze(Spare(), (8,))
    assert str(refused.value) == "parameter spare.weight has no size: it is lazy, and the forward pass never calls its module to shape it"
