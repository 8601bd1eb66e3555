"""Receptive fields, backward MACs and activation memory, each proven against a real pass of torch itself."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnstat

# -- receptive fields: the gradient footprint of one centre output unit --------------------------------


def _footprintable(model: nn.Module) -> nn.Module:
    """All weights one and biases zero, max pooling swapped for average pooling of the same geometry."""
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.MaxPool2d):
                pool = nn.AvgPool2d(child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode)
                setattr(module, child_name, pool)
    with torch.no_grad():
        for parameter_name, parameter in model.named_parameters():
            parameter.fill_(0.0 if parameter_name.endswith("bias") else 1.0)
    return model.eval()


def gradient_footprint(model: nn.Module, layer: nn.Module, size: int, channels: int = 1) -> tuple[int, int]:
    """Height and width of the input pixels whose gradient reaches one centre unit of ``layer``'s last output."""
    captured = {}
    hook = layer.register_forward_hook(lambda module, inputs, output: captured.update(out=output))  # its last call
    x = torch.ones(1, channels, size, size, requires_grad=True)
    model(x)
    hook.remove()
    out = captured["out"]
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows, cols = (x.grad[0].abs().sum(0) > 0).nonzero(as_tuple=True)
    assert rows.min() > 0 and cols.min() > 0 and rows.max() < size - 1 and cols.max() < size - 1, "footprint touches the border"
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@st.composite
def chains(draw):
    layers, channels = [], draw(st.integers(1, 2))
    first = channels
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "maxpool", "avgpool", "relu"]))
        if kind == "conv":
            kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
            layers.append(nn.Conv2d(channels, 2, kernel, stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 2)),
                                    dilation=draw(st.integers(1, 2))))  # fmt: skip
            channels = 2
        elif kind in ("maxpool", "avgpool"):
            kernel = draw(st.integers(2, 3))
            pool = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
            layers.append(pool(kernel, stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, kernel // 2))))
        else:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers), first


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_receptive_field_of_chains_is_the_gradient_footprint(chain_and_channels):
    model, channels = chain_and_channels
    probe = cnnstat.analyze(model, (channels, 128, 128))
    field = probe.layers[-1].receptive_field
    jump = probe.layers[-1].effective_stride
    size = 2 * max(field) + 4 * max(jump) + 9  # wide enough that the centre unit's footprint stays inside
    assert cnnstat.analyze(model, (channels, size, size)).layers[-1].receptive_field == field  # independent of size
    assert gradient_footprint(_footprintable(model), model[-1], size, channels) == field


class Residual(nn.Module):
    """A ResNet basic block with a strided projection shortcut, as branching as ResNet gets."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 2, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(2, 2, 5, padding=4, dilation=2)
        self.shortcut = nn.Conv2d(channels, 2, 1, stride=2)

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x))) + self.shortcut(x))


@pytest.mark.parametrize(
    "build, layer_name",
    [
        (lambda: nn.Sequential(Residual(1), Residual(2)), "1.relu"),
        (lambda: torchvision.models.resnet18(weights=None), "layer2.1.relu"),
        (lambda: torchvision.models.resnet18(weights=None), "layer1.0.relu"),
    ],
)
def test_receptive_field_of_residual_blocks_is_the_gradient_footprint(build, layer_name):
    model = build()
    layer = dict(model.named_modules())[layer_name]
    channels = 3 if isinstance(model, torchvision.models.ResNet) else 1
    probe = cnnstat.analyze(model, (channels, 64, 64))
    field = [row.receptive_field for row in probe.layers if row.module == layer_name][-1]  # its last call
    size = 2 * max(field) + 65
    measured = gradient_footprint(_footprintable(model), layer, size, channels)
    assert measured == field


def test_vgg16_sees_212_pixels_at_its_last_pooling_layer():
    rows = {row.name: row for row in cnnstat.analyze("vgg16").layers}
    assert rows["features.30"].receptive_field == (212, 212)
    assert rows["features.30"].effective_stride == (32, 32)


# -- backward MACs: FlopCounterMode around a real loss.backward() ---------------------------------------


def _grouped_weight_gradient_surplus(model: nn.Module, x: torch.Tensor) -> int:
    """What FlopCounterMode adds for grouped convolutions: it counts their weight gradient ``groups`` times.

    Measured on each such convolution alone: its forward MACs times (groups - 1).
    """
    surplus, inputs = 0, {}

    def keep_input(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        inputs[module] = args[0].detach()

    hooks = [m.register_forward_hook(keep_input) for m in model.modules()
             if isinstance(m, nn.Conv2d) and m.groups > 1 and m.weight.requires_grad]  # fmt: skip
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    for conv, conv_input in inputs.items():
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            conv(conv_input)
        surplus += (conv.groups - 1) * counter.get_total_flops() // 2
    return surplus


@st.composite
def stacks(draw):
    channels = draw(st.sampled_from([2, 4]))
    layers, c, size = [], channels, 12
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "bn", "pool", "relu"]))
        if kind == "conv":
            groups = draw(st.sampled_from([g for g in (1, 2, c) if c % g == 0]))
            out = groups * draw(st.integers(1, 2))
            layers.append(nn.Conv2d(c, out, 3, padding=1, groups=groups, bias=draw(st.booleans())))
            c = out
        elif kind == "bn":
            layers.append(nn.BatchNorm2d(c))
        elif kind == "pool" and size >= 4:
            layers.append(draw(st.sampled_from([nn.MaxPool2d(2), nn.AvgPool2d(2)])))
            size //= 2
        else:
            layers.append(nn.ReLU())
    layers += [nn.Flatten(), nn.Linear(c * size * size, 3, bias=draw(st.booleans()))]
    model = nn.Sequential(*layers)
    for parameter in model.parameters():
        if draw(st.integers(0, 5)) == 0:  # now and then a frozen parameter
            parameter.requires_grad_(False)
    return model.train(), channels


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_backward_macs_equal_flop_counter_mode_around_a_real_backward(stack):
    model, channels = stack
    x = torch.randn(2, channels, 12, 12)
    forward = FlopCounterMode(display=False)
    with forward:
        model(x)
    both = FlopCounterMode(display=False)
    with both:
        loss = model(x).square().mean()
        if loss.requires_grad:
            loss.backward()
    backward_macs = (both.get_total_flops() - forward.get_total_flops()) // 2
    ours = cnnstat.analyze(model, (channels, 12, 12), batch=2, train=True).totals["backward_macs"]
    assert ours + _grouped_weight_gradient_surplus(model, x) == backward_macs


# -- activation memory: what autograd saves in a real CPU training step ----------------------------------


def saved_bytes_of_a_real_step(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the storages autograd saves in one float32 training step, each once, parameters and buffers left out."""
    state = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in state:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = model(x)
    output.float().logsumexp(1).mean().backward()  # the loss's own small saves are not the model's
    return sum(storages.values())


@pytest.mark.parametrize(
    "name, size, batch",
    [("resnet18", (3, 224, 224), 2), ("vgg11", (3, 224, 224), 1), ("mobilenet_v2", (3, 224, 224), 2), ("lenet5", None, 4)],
)
def test_activation_bytes_agree_with_a_real_step_within_two_percent(name, size, batch):
    torch.manual_seed(0)
    model = cnnstat.get_model(name)
    report = cnnstat.analyze(name, size, batch=batch)
    shape = report.input_shape
    real = saved_bytes_of_a_real_step(model, torch.randn(shape))
    ours = report.totals["activation_bytes"]
    assert math.isclose(ours, real, rel_tol=0.02), (ours, real)  # traced in eval mode: no dropout masks
    # traced in training mode, as the step runs, every saved tensor is there: dropout's masks, batch norm's statistics
    assert cnnstat.analyze(name, size, batch=batch, train=True).totals["activation_bytes"] == real


def test_training_memory_adds_gradients_and_optimizer_state():
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 2))
    model[0].requires_grad_(False)
    parameters = sum(p.numel() * 4 for p in model.parameters())
    trainable = sum(p.numel() * 4 for p in model.parameters() if p.requires_grad)
    figures = {}
    for optimizer, states in (("sgd", 0), ("momentum", 1), ("adam", 2), ("adamw", 2)):
        totals = cnnstat.analyze(model, (10,), optimizer=optimizer).totals
        figures[optimizer] = totals["training_bytes"]
        assert totals["param_bytes"] == parameters
        # torch.optim keeps these state tensors per trainable parameter
        optim = {"sgd": torch.optim.SGD(model.parameters(), lr=0.1), "momentum": torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                 "adam": torch.optim.Adam(model.parameters()), "adamw": torch.optim.AdamW(model.parameters())}[optimizer]  # fmt: skip
        model(torch.randn(1, 10)).sum().backward()
        optim.step()
        held = sum(t.numel() * t.element_size() for group in optim.state.values() for t in group.values()
                   if isinstance(t, torch.Tensor) and t.dim() > 0)  # fmt: skip
        assert held == states * trainable
        model.zero_grad(set_to_none=True)
    assert figures["momentum"] - figures["sgd"] == trainable
    assert figures["adam"] - figures["sgd"] == 2 * trainable
    assert figures["adamw"] - figures["sgd"] == 2 * trainable
