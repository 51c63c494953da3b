"""``mlp``: a fully connected ReLU network for vector inputs such as the 2-D disk toy problem.

Tyrväinen et al. (soft labels, toy problem) map R² → R³ with "a small ResNet"; the
``residual`` option gives that variant, hidden blocks ``x + relu(W x + b)`` (the identity
shortcut of He et al. 2016, "Deep Residual Learning", on fully connected layers).
"""

from __future__ import annotations

from torch import Tensor, nn

from labelrobust.errors import ConfigError
from labelrobust.models.base import positive_int, vector_shape
from labelrobust.models.registry import MODELS


class ResidualLinear(nn.Module):
    """``x + relu(linear(x))``: a width-preserving fully connected residual block."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.linear(x).relu()


@MODELS.register("mlp", "multilayer perceptron (options depth, hidden) for any input shape")
def mlp(
    input_shape: tuple[int, ...],
    out_dim: int,
    hidden: int = 64,
    depth: int = 3,
    residual: bool = False,
) -> nn.Sequential:
    """``depth`` hidden layers of ``hidden`` ReLU units, then a linear head of ``out_dim``.

    The first hidden layer maps the input to ``hidden`` units and is never residual (the
    widths differ); with ``residual=True`` the other ``depth - 1`` are ``ResidualLinear``.
    """
    d = vector_shape(input_shape, "mlp")
    hidden = positive_int(hidden, "hidden", "mlp")
    depth = positive_int(depth, "depth", "mlp")
    if not isinstance(residual, bool):
        # A truthy string such as "false" from a config must not silently switch it on.
        raise ConfigError(
            f"option 'residual' of model 'mlp' must be true or false, got {residual!r}"
        )
    layers: list[nn.Module] = [nn.Linear(d, hidden), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [ResidualLinear(hidden)] if residual else [nn.Linear(hidden, hidden), nn.ReLU()]
    layers.append(nn.Linear(hidden, out_dim))
    return nn.Sequential(*layers)
