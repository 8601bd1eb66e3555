"""The layers of LeNet-5 that torch does not have: trainable subsampling, a sparse C3, RBF outputs.

Their ops do not show their structure (a subsampling unit is an average pool, a multiply and an
add; C3 runs as one dense convolution), so each registers a layer counter with the core that
gives its connections, neurons and closed form as the paper counts them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..counting.layers import layer_counter, param_shapes
from ..counting.measures import Measures
from ..counting.ops import batch_prefix, square
from ..counting.records import LayerRecord

#: LeCun et al. 1998, Table I: the S2 maps each C3 map reads.
C3_CONNECTION_TABLE: tuple[tuple[int, ...], ...] = (
    *(tuple((i + j) % 6 for j in range(3)) for i in range(6)),
    *(tuple((i + j) % 6 for j in range(4)) for i in range(6)),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def scaled_tanh(x: torch.Tensor) -> torch.Tensor:
    """The 1998 paper's squashing function A·tanh(S·a), A = 1.7159, S = 2/3."""
    return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class ScaledTanh(nn.Module):
    """Module form of :func:`scaled_tanh`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return scaled_tanh(x)


class Subsampling(nn.Module):
    """LeNet's S-layer: each map sums a k×k window, multiplies by one weight, adds one bias, squashes.

    The squashing function is a plain callable, not a child module, so the layer stays one row.
    """

    def __init__(self, channels: int, kernel_size: int = 2, squash: Callable[[torch.Tensor], torch.Tensor] = torch.sigmoid):
        super().__init__()
        self.channels = channels
        self.kernel_size = kernel_size
        self.squash = squash
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window_sum = F.avg_pool2d(x, self.kernel_size) * (self.kernel_size**2)
        return self.squash(window_sum * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1))

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size={self.kernel_size}"


class ConnectionTableConv2d(nn.Module):
    """A convolution in which output map j reads only the input maps ``table[j]``.

    Only the kernels of real links are parameters (C3 of the 1998 paper: 60 links, 1,516 parameters);
    the forward pass scatters them into a dense weight and runs one ordinary convolution.
    """

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel_size: int):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = len(table)
        self.kernel_size = kernel_size
        self.table = table
        out_index = [out for out, inputs in enumerate(table) for _ in inputs]
        in_index = [inp for inputs in table for inp in inputs]
        # Plain tuple too: buffers may live on meta, where .tolist() has no data.
        self.link_outputs = tuple(out_index)
        self.register_buffer("out_index", torch.tensor(out_index), persistent=False)
        self.register_buffer("in_index", torch.tensor(in_index), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(in_index), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The paper draws weights uniformly in ±2.4/F_i, F_i the fan-in of the unit the link feeds.
        fan_in = torch.tensor([len(self.table[out]) for out in self.link_outputs]) * self.kernel_size**2
        bound = (2.4 / fan_in).view(-1, 1, 1).to(self.weight.device)
        with torch.no_grad():
            self.weight.uniform_(-1.0, 1.0).mul_(bound)
        nn.init.uniform_(self.bias, -0.1, 0.1)

    def dense_weight(self) -> torch.Tensor:
        """The (out, in, k, k) weight with zeros where the table has no link."""
        dense = self.weight.new_zeros(self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)
        return dense.index_put((self.out_index, self.in_index), self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, links={len(self.in_index)}"


class EuclideanRBF(nn.Module):
    """Output layer of Euclidean radial basis units with fixed ±1 centres.

    Returns the negated squared distances, so that, as with logits, larger means more likely.
    The paper's centres are stylised 7×12 bitmaps of the characters; these are fixed random ±1 codes
    drawn from a seeded generator, which keeps them far apart in the same way.
    """

    def __init__(self, in_features: int = 84, out_features: int = 10, seed: int = 1998):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        codes = torch.randint(0, 2, (out_features, in_features), generator=generator).float() * 2 - 1
        self.in_features = in_features
        self.out_features = out_features
        self.centres = nn.Parameter(codes, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -((x.unsqueeze(1) - self.centres) ** 2).sum(dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def fan_in_uniform_(module: nn.Module) -> None:
    """The paper's initialisation for a conv or linear layer: U(±2.4/F_i)."""
    weight = getattr(module, "weight", None)
    if isinstance(module, (nn.Conv2d, nn.Linear)) and weight is not None and weight.device.type != "meta":
        fan_in = math.prod(weight.shape[1:])
        nn.init.uniform_(weight, -2.4 / fan_in, 2.4 / fan_in)


# ---------------------------------------------------------------------------------------------
# Their counters
# ---------------------------------------------------------------------------------------------


def _structure(links: int, neurons: int, formula: str) -> dict[str, Any]:
    """The figures these counters own: the paper's connections (all of them in its closed form), neurons and formula."""
    return {"connections": links, "formula_connections": links, "neurons": neurons, "formula": formula}


@layer_counter(Subsampling)
def count_subsampling(layer: LayerRecord, ops: Measures) -> dict[str, Any]:
    """k² inputs, times one weight, plus one bias per output unit: (k²+1)·m²·a."""
    batch, channels, *spatial = layer.output_shape or ()
    k = layer.settings.get("kernel_size")
    if k is None:  # a record that does not say its window: the ops' own figures
        return {}
    units = batch * channels * math.prod(spatial)
    return _structure((k * k + 1) * units, units, f"{batch_prefix(batch)}({k}²+1)·{square(tuple(spatial))}·{channels}")


@layer_counter(ConnectionTableConv2d)
def count_connection_table(layer: LayerRecord, ops: Measures) -> dict[str, Any]:
    """Σ over output maps of (|inputs|·k²+1)·m²: only Table I's links are connections (one k×k kernel each)."""
    batch, channels, *spatial = layer.output_shape or ()
    weight = param_shapes(layer).get("weight")
    if weight is None:  # its kernels were counted in another row that shares them: the ops' own figures
        return {}
    links, k, _ = weight
    positions = batch * math.prod(spatial)
    formula = f"{batch_prefix(batch)}({links}·{k}²+{channels})·{square(tuple(spatial))}"
    return _structure((links * k * k + channels) * positions, batch * channels * math.prod(spatial), formula)


@layer_counter(EuclideanRBF)
def count_rbf(layer: LayerRecord, ops: Measures) -> dict[str, Any]:
    """Each RBF unit reads every input; it has no bias: in·out."""
    shape = layer.output_shape or ()
    inputs, outputs = (layer.input_shape or ())[-1], shape[-1]
    rows = math.prod(shape[:-1])
    units = math.prod(shape)
    return _structure(inputs * units, units, f"{batch_prefix(rows)}{inputs}·{outputs}")
