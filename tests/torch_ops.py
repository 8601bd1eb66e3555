"""An independent reference for tests: the aten ops torch itself runs in a module's forward pass, counted on meta."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class _CountOps(TorchDispatchMode):
    """Counts the aten ops torch runs, by overload packet (``add`` for ``aten.add.Tensor``)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._overloadpacket.__name__
        self.counts[name] = self.counts.get(name, 0) + 1
        return func(*args, **(kwargs or {}))


def aten_op_counts(model: torch.nn.Module, shape: tuple[int, ...]) -> dict[str, int]:
    """How often each aten op runs in ``model``'s forward pass (in eval mode, on meta) on an input of ``shape``."""
    model = model.to("meta").eval()
    counter = _CountOps()
    with torch.device("meta"), counter, torch.no_grad():
        model(torch.empty(shape))
    return counter.counts
