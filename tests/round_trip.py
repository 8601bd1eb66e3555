"""Models that round-trip through a file (.pt2, .onnx) in the tests, and the figures cnnstat reads back."""

from __future__ import annotations

import json
from typing import Any

import torch
import torchvision

import cnnstat
from cnnstat.zoo import resolve_model

ROUND_TRIP = ["resnet18", "lenet5"]  # torchvision's, and the zoo's with its own layer counters


def source_module(name: str) -> tuple[torch.nn.Module, tuple[int, ...]]:
    """A model to export, with freshly initialised weights, and its per-sample input size."""
    if name == "resnet18":
        return torchvision.models.resnet18().eval(), (3, 224, 224)
    return cnnstat.get_model(name).eval(), resolve_model(name).input_size


def counted_from_file(cli: Any, path: str, module: torch.nn.Module, size: tuple[int, ...]) -> dict[str, int]:
    """``cnnstat flops FILE``'s totals, once its default input and parameter count are the module's."""
    result = cli("flops", path, "--format", "json")
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)
    assert tuple(ours["input"]) == (1, *size)  # the file's own input is the default
    assert ours["totals"]["params"] == sum(p.numel() for p in module.parameters())
    return ours["totals"]
