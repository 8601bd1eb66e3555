"""An ONNX graph as a torch module: each node a submodule that calls the torch function of its operator.

Run under cnnstat's tracer, an ONNX file is then counted by the same specs, conventions and
receptive-field rules as any torch model: a Conv node is an ``aten.convolution``, a Gemm an
``aten.addmm``. Float initializers are the nodes' parameters (a BatchNormalization's mean and variance
its buffers); integer ones (shapes, axes) stay constants with their values.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelLoadError

Handler = Callable[[list[Any], dict[str, Any]], Any]
BUFFER_SLOTS = {"BatchNormalization": (3, 4)}  # running mean and variance: state, not parameters


def _pads(attrs: dict[str, Any], spatial: int) -> tuple[list[int] | None, list[int]]:
    """Explicit padding to apply first where ONNX pads unevenly, and the symmetric padding torch takes."""
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ModelLoadError(f"auto_pad={attrs['auto_pad']} is not supported; export with explicit pads")
    pads = list(attrs.get("pads", [0] * 2 * spatial))
    begins, ends = pads[:spatial], pads[spatial:]
    if begins == ends:
        return None, begins
    # F.pad lists the last dimension first, begin then end
    return [p for b, e in reversed(list(zip(begins, ends, strict=True))) for p in (b, e)], [0] * spatial


def _conv(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x, weight, bias = (inputs + [None])[:3]
    spatial = weight.dim() - 2
    uneven, padding = _pads(attrs, spatial)
    if uneven:
        x = F.pad(x, uneven)
    conv = (F.conv1d, F.conv2d, F.conv3d)[spatial - 1]
    return conv(x, weight, bias, list(attrs.get("strides", [1] * spatial)), padding,
                list(attrs.get("dilations", [1] * spatial)), attrs.get("group", 1))  # fmt: skip


def _conv_transpose(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x, weight, bias = (inputs + [None])[:3]
    spatial = weight.dim() - 2
    uneven, padding = _pads(attrs, spatial)
    if uneven or "output_shape" in attrs:
        raise ModelLoadError("ConvTranspose with uneven pads or output_shape is not supported")
    conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[spatial - 1]
    return conv(x, weight, bias, list(attrs.get("strides", [1] * spatial)), padding,
                list(attrs.get("output_padding", [0] * spatial)), attrs.get("group", 1),
                list(attrs.get("dilations", [1] * spatial)))  # fmt: skip


def _gemm(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    a, b, c = (inputs + [None])[:3]
    if attrs.get("transA", 0):
        a = a.t()
    if attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0 and attrs.get("transB", 0):
        return F.linear(a, b, c)  # the common case, counted as torch counts nn.Linear
    product = a @ (b.t() if attrs.get("transB", 0) else b)
    product = product * attrs["alpha"] if attrs.get("alpha", 1.0) != 1.0 else product
    if c is None:
        return product
    return product + (c * attrs["beta"] if attrs.get("beta", 1.0) != 1.0 else c)


def _pool(inputs: list[Any], attrs: dict[str, Any], maximum: bool) -> Any:
    x = inputs[0]
    kernel = list(attrs["kernel_shape"])
    spatial = len(kernel)
    uneven, padding = _pads(attrs, spatial)
    if uneven:
        x = F.pad(x, uneven, value=-math.inf if maximum else 0.0)
    strides = list(attrs.get("strides", [1] * spatial))
    ceil = bool(attrs.get("ceil_mode", 0))
    if maximum:
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[spatial - 1]
        return pool(x, kernel, strides, padding, list(attrs.get("dilations", [1] * spatial)), ceil)
    pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[spatial - 1]
    return pool(x, kernel, strides, padding, ceil, bool(attrs.get("count_include_pad", 0)))


def _global_pool(inputs: list[Any], maximum: bool) -> Any:
    x = inputs[0]
    spatial = x.dim() - 2
    if maximum:
        return (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d)[spatial - 1](x, 1)
    return (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[spatial - 1](x, 1)


def _ints(value: Any) -> list[int]:
    """The integers of a constant input (shapes, axes): values held on the CPU."""
    return [int(v) for v in value.reshape(-1).tolist()]


def _axes(inputs: list[Any], attrs: dict[str, Any]) -> list[int] | None:
    """Axes from an opset-13 input or an older attribute."""
    if len(inputs) > 1 and inputs[1] is not None:
        return _ints(inputs[1])
    return list(attrs["axes"]) if "axes" in attrs else None


def _reshape(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x, shape = inputs[0], _ints(inputs[1])
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if size == 0 else size for i, size in enumerate(shape)]
    return x.reshape(shape)


def _flatten(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x = inputs[0]
    axis = attrs.get("axis", 1)
    axis = axis + x.dim() if axis < 0 else axis  # ONNX allows axis == rank: (N, 1), not (1, N)
    return x.reshape(math.prod(x.shape[:axis]), -1)


def _reduce_mean(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    axes = _axes(inputs, attrs)
    keep = bool(attrs.get("keepdims", 1))
    return inputs[0].mean(dim=axes, keepdim=keep) if axes else inputs[0].mean()


def _squeeze(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    axes = _axes(inputs, attrs)
    return inputs[0].squeeze(tuple(axes)) if axes else inputs[0].squeeze()


def _unsqueeze(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x = inputs[0]
    for axis in sorted(a % (x.dim() + len(_axes(inputs, attrs) or [])) for a in _axes(inputs, attrs) or []):
        x = x.unsqueeze(axis)
    return x


def _clip(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    low = inputs[1] if len(inputs) > 1 and inputs[1] is not None else attrs.get("min")
    high = inputs[2] if len(inputs) > 2 and inputs[2] is not None else attrs.get("max")
    low = float(low) if isinstance(low, torch.Tensor) else low
    high = float(high) if isinstance(high, torch.Tensor) else high
    if low == 0.0 and high is None:
        return F.relu(inputs[0])
    if low == 0.0 and high == 6.0:
        return F.relu6(inputs[0])
    return torch.clamp(inputs[0], low, high)


def _batch_norm(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    x, scale, bias, mean, var = inputs[:5]
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, attrs.get("epsilon", 1e-5))


def _elementwise(function: Callable[..., Any]) -> Handler:
    return lambda inputs, attrs: function(*inputs)


OPS: dict[str, Handler] = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Gemm": _gemm,
    "MatMul": _elementwise(torch.matmul),
    "Add": _elementwise(torch.add),
    "Sub": _elementwise(torch.sub),
    "Mul": _elementwise(torch.mul),
    "Div": _elementwise(torch.div),
    "Pow": _elementwise(torch.pow),
    "Sqrt": _elementwise(torch.sqrt),
    "Exp": _elementwise(torch.exp),
    "Erf": _elementwise(torch.erf),
    "Neg": _elementwise(torch.neg),
    "Relu": _elementwise(F.relu),
    "Sigmoid": _elementwise(torch.sigmoid),
    "Tanh": _elementwise(torch.tanh),
    "HardSigmoid": lambda i, a: torch.clamp(i[0] * a.get("alpha", 0.2) + a.get("beta", 0.5), 0, 1),
    "HardSwish": _elementwise(F.hardswish),
    "LeakyRelu": lambda i, a: F.leaky_relu(i[0], a.get("alpha", 0.01)),
    "Gelu": lambda i, a: F.gelu(i[0], approximate="tanh" if a.get("approximate") == "tanh" else "none"),
    "Clip": _clip,
    "Softmax": lambda i, a: torch.softmax(i[0], a.get("axis", -1)),
    "MaxPool": lambda i, a: _pool(i, a, maximum=True),
    "AveragePool": lambda i, a: _pool(i, a, maximum=False),
    "GlobalAveragePool": lambda i, a: _global_pool(i, maximum=False),
    "GlobalMaxPool": lambda i, a: _global_pool(i, maximum=True),
    "BatchNormalization": _batch_norm,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": lambda i, a: i[0].permute(*a["perm"]) if "perm" in a else i[0].permute(*reversed(range(i[0].dim()))),
    "Concat": lambda i, a: torch.cat(list(i), a["axis"]),
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "ReduceMean": _reduce_mean,
    "Identity": _elementwise(lambda x: x),
    "Dropout": lambda i, a: i[0],  # inference: the identity
    "Shape": lambda i, a: torch.tensor(list(i[0].shape), dtype=torch.int64),  # values on the CPU, for Reshape
}


def unsupported_ops(op_types: Sequence[str]) -> list[str]:
    """The operators of a graph no handler counts, in first-seen order."""
    return [op for op in dict.fromkeys(op_types) if op not in OPS]


def module_name(text: str, taken: Counter[str]) -> str:
    """A submodule name from an ONNX node's name: dots and other marks become underscores; repeats numbered."""
    name = re.sub(r"\W", "_", text).strip("_") or "node"
    taken[name] += 1
    return name if taken[name] == 1 else f"{name}_{taken[name]}"


class OnnxNode(nn.Module):
    """One ONNX node: its operator's torch function, its attributes, and the initializers only it reads."""

    def __init__(self, op_type: str, attrs: dict[str, Any], slots: list[str | None]) -> None:
        super().__init__()
        self.op_type = op_type
        self.attrs = attrs
        self.slots = slots  # per input: its own parameter or buffer, "" for an absent optional input, None for a value

    def forward(self, *values: Any) -> Any:
        given = iter(values)
        inputs = [next(given) if slot is None else getattr(self, slot) if slot else None for slot in self.slots]
        return OPS[self.op_type](inputs, self.attrs)

    def extra_repr(self) -> str:
        return self.op_type


@functools.cache
def node_class(op_type: str) -> type[OnnxNode]:
    """A subclass of OnnxNode named after the operator, so that layers of one operator are one layer type."""
    return type(op_type, (OnnxNode,), {"__doc__": f"The ONNX operator {op_type}."})


class OnnxGraph(nn.Module):
    """The nodes of an ONNX graph run in order; the graph's inputs are the positional inputs of ``forward``.

    A node that reads initializers alone (a weight reshaped for a broadcast) is weight preparation, not a
    layer: it runs inline, as a torch module's ``self.weight.view(...)`` does, and its initializers belong to the graph.
    """

    def __init__(self, nodes: list[tuple[str, OnnxNode, list[str], list[str]]], inputs: list[str], outputs: list[str],
                 shared: dict[str, torch.Tensor], constants: dict[str, torch.Tensor]) -> None:  # fmt: skip
        super().__init__()
        self.order = []
        for name, node, node_inputs, node_outputs in nodes:
            if node.slots:  # a layer
                self.add_module(name, node)
            self.order.append((name, node, node_inputs, node_outputs))
        self.input_names, self.output_names = inputs, outputs
        self.shared_names = {}
        for index, (value, tensor) in enumerate(shared.items()):
            self.register_parameter(f"shared_{index}", nn.Parameter(tensor))
            self.shared_names[value] = f"shared_{index}"
        self.constants = constants  # integer tensors whose values shape the graph: kept off meta, never counted

    def forward(self, *inputs: Any) -> Any:
        device = inputs[0].device if inputs else torch.device("cpu")
        # float constants join the inputs' device (meta, under the tracer); integer ones keep their values on the CPU
        values: dict[str, Any] = {name: tensor.to(device) if tensor.is_floating_point() and tensor.dim() else tensor
                                  for name, tensor in self.constants.items()}  # fmt: skip
        values.update(zip(self.input_names, inputs, strict=True))
        values.update({value: getattr(self, attr) for value, attr in self.shared_names.items()})
        for name, node, node_inputs, node_outputs in self.order:
            if node.slots:
                result = getattr(self, name)(*[values[value] for value in node_inputs])
            else:  # with autograd on, as a layer's own `weight.view(...)` would be: a view made under no_grad is
                # one autograd cannot follow, and torch's module tracker refuses it as a layer's input
                with torch.enable_grad():
                    result = OPS[node.op_type]([values[value] if value else None for value in node_inputs], node.attrs)
            results = result if isinstance(result, tuple) else (result,)
            values.update(zip(node_outputs, results, strict=False))
        outputs = [values[name] for name in self.output_names]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _attributes(node: Any) -> dict[str, Any]:
    """A node's attributes as Python values: strings decoded, tensors as torch tensors."""
    from onnx import helper, numpy_helper

    attrs = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode()
        elif hasattr(value, "raw_data") or hasattr(value, "dims"):
            value = torch.from_numpy(numpy_helper.to_array(value).copy())
        attrs[attribute.name] = value
    return attrs


def graph_module(model: Any, location: str) -> OnnxGraph:
    """The torch module that runs ``model``'s graph, or a one-line refusal naming an operator no handler counts."""
    from onnx import numpy_helper

    graph = model.graph
    missing = unsupported_ops([node.op_type for node in graph.node if node.op_type != "Constant"])
    domains = [node.domain for node in graph.node if node.domain not in ("", "ai.onnx")]
    if domains:
        raise ModelLoadError(f"{location} uses operators of the domain {domains[0]}, which cnnstat cannot count")
    if missing:
        raise ModelLoadError(f"{location} uses the ONNX operator {missing[0]}, which cnnstat cannot count")
    tensors = {init.name: torch.from_numpy(numpy_helper.to_array(init).copy()) for init in graph.initializer}
    constants: dict[str, torch.Tensor] = {}
    kept = []
    for node in graph.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = next(iter(_attributes(node).values()))
        elif node.op_type == "Identity" and node.input[0] in tensors:
            # an exporter that stores equal tensors once names each use by an Identity: each was a tensor of its own
            tensors[node.output[0]] = tensors[node.input[0]]
        else:
            kept.append(node)
    constants.update({name: t for name, t in tensors.items() if not t.is_floating_point()})
    weights = {name: t for name, t in tensors.items() if t.is_floating_point()}
    static = set(tensors) | set(constants)
    preparing = []  # nodes that read initializers and constants alone
    for node in kept:
        if all(value in static for value in node.input if value):
            preparing.append(node)
            static.update(node.output)
    readers = Counter(value for node in kept for value in node.input if value in weights)
    read_by_preparation = {value for node in preparing for value in node.input if value in weights}
    shared = {name: weights[name] for name, count in readers.items() if count > 1 or name in read_by_preparation}
    taken: Counter[str] = Counter()
    nodes = []
    for index, node in enumerate(kept):
        module = node_class(node.op_type)(node.op_type, _attributes(node), [])
        if node in preparing:
            nodes.append(("", module, list(node.input), list(node.output)))
            continue
        passed = []
        for slot, value in enumerate(node.input):
            if not value:
                module.slots.append("")
            elif value in weights and value not in shared:
                own = f"input{slot}"
                if slot in BUFFER_SLOTS.get(node.op_type, ()):
                    module.register_buffer(own, weights[value])
                else:
                    module.register_parameter(own, nn.Parameter(weights[value]))
                module.slots.append(own)
            else:
                module.slots.append(None)
                passed.append(value)
        name = module_name(node.name or f"{node.op_type}_{index}", taken)
        nodes.append((name, module, passed, list(node.output)))
    initialized = set(tensors)
    inputs = [value.name for value in graph.input if value.name not in initialized]
    return OnnxGraph(nodes, inputs, [value.name for value in graph.output], shared, constants)
