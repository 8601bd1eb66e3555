"""What the classics share: the counter of local response normalisation, and the papers' Gaussian start.

``nn.LocalResponseNorm`` runs as a square, a padded ``avg_pool3d`` across channels, a power and a
division. The pooling counter would take that inner average for a pooling layer of neurons with
connections and a closed form; it is none of those. Its arithmetic stays, as elementwise work.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ...counting.layers import layer_counter
from ...counting.measures import Measures
from ...counting.records import LayerRecord


@layer_counter(nn.LocalResponseNorm)
def count_local_response_norm(layer: LayerRecord, ops: Measures) -> dict[str, Any]:
    """Normalisation across neighbouring channels: elementwise work, no neurons, no connections, no closed form."""
    return {"connections": 0, "formula_connections": 0, "neurons": 0, "formula": ""}


def gaussian_init_(model: nn.Module, std: float, bias_one: tuple[str, ...] = ()) -> None:
    """Weights of every conv and linear layer from N(0, std²); biases 0, or 1 in the children named ``bias_one``."""
    for name, module in model.named_children():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.constant_(module.bias, 1.0 if name in bias_one else 0.0)
