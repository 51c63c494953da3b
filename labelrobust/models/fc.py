"""``fc``: a fully connected ReLU network on flattened inputs of any shape — the networks of the
verification benchmarks (e.g. the MNIST "FC" nets of ERAN and VNN-COMP's ``mnist_fc``, two to
six hidden layers of 256 units), which a complete verifier is measured on.

A flat ``nn.Sequential`` (Flatten, Linear, ReLU, …, Linear) so the verifier and the ONNX
exporter see every operation.
"""

from __future__ import annotations

import math

from torch import nn

from labelrobust.models.base import positive_int
from labelrobust.models.registry import MODELS


@MODELS.register("fc", "fully connected ReLU network on flattened inputs (options hidden, depth): the verification benchmarks' MNIST FC nets")
def fc(input_shape: tuple[int, ...], out_dim: int, hidden: int = 256, depth: int = 2) -> nn.Sequential:
    """Flatten → ``depth`` × (Linear(``hidden``) → ReLU) → Linear(``out_dim``)."""
    hidden = positive_int(hidden, "hidden", "fc")
    depth = positive_int(depth, "depth", "fc")
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)
