"""``multilabel-cnn``: the DOUBLE-MNIST network of the multi-label robustness study (Mour,
thesis proposal advised by Drachsler-Cohen; methods.md §5): exactly two convolutions, one
max-pool and one fully connected layer, which is the head.

It is a flat ``nn.Sequential`` of plain ``Conv2d``/``ReLU``/``MaxPool2d``/``Flatten``/``Linear``
layers because the complete MILP verifier (MIPVerify-style) encodes the network layer by
layer; no custom module may hide computation from it. Convolutions are unpadded: padding
adds no information, and every extra activation is one more MILP variable.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from labelrobust.errors import ConfigError
from labelrobust.models.base import image_shape, positive_int
from labelrobust.models.registry import MODELS


@MODELS.register("multilabel-cnn", "2 conv, 1 max-pool, 1 linear: the multi-label study's network")
def multilabel_cnn(
    input_shape: tuple[int, ...],
    out_dim: int,
    channels: Sequence[int] = (16, 32),
    kernel_size: int = 3,
) -> nn.Sequential:
    """conv k×k(channels[0]) → ReLU → conv k×k(channels[1]) → ReLU → maxpool 2 → flatten →
    linear(out_dim). Valid (unpadded) convolutions, so H, W must be at least ``2·kernel_size``."""
    model = "multilabel-cnn"
    k = positive_int(kernel_size, "kernel_size", model)
    if isinstance(channels, (str, bytes)) or len(channels) != 2:
        raise ConfigError(
            f"option 'channels' of model {model!r} must be two channel counts, got {channels!r}"
        )
    c1, c2 = (positive_int(ch, "channels", model) for ch in channels)
    # Two valid k×k convolutions shrink each side by 2(k-1); the pool halves what is left,
    # which must leave at least one pixel.
    c, h, w = image_shape(input_shape, model, min_size=2 * k)
    out_h, out_w = (h - 2 * (k - 1)) // 2, (w - 2 * (k - 1)) // 2
    return nn.Sequential(
        nn.Conv2d(c, c1, k),
        nn.ReLU(),
        nn.Conv2d(c1, c2, k),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * out_h * out_w, out_dim),
    )
