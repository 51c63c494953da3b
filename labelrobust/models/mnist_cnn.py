"""``mnist-cnn``: the small two-convolution CNN commonly used as an MNIST baseline.

Modelled on the PyTorch MNIST example (3×3 convolutions of 32 and 64 channels, a 2×2
max-pool, a fully connected layer of 128 units, the head). Two changes let one definition
serve 28×28 MNIST and 8×8 scikit-learn digits: same-padding, and an adaptive average pool
to 4×4 before the fully connected layer. ``width`` scales all three layers (32 → 32, 64, 128).
No dropout, so train and eval mode compute the same function.
"""

from __future__ import annotations

from torch import nn

from labelrobust.models.base import image_shape, positive_int
from labelrobust.models.registry import MODELS

# The feature map is pooled to this size before the fully connected layer. An 8×8 input
# reaches it exactly after the 2×2 max-pool; smaller inputs would have to be upsampled.
_POOLED = 4


@MODELS.register("mnist-cnn", "small 2-conv CNN for MNIST-sized inputs (option width)")
def mnist_cnn(input_shape: tuple[int, ...], out_dim: int, width: int = 32) -> nn.Sequential:
    """conv3×3(width) → ReLU → conv3×3(2·width) → ReLU → maxpool 2 → pool to 4×4 →
    FC(4·width) → ReLU → head(out_dim). Takes any C×H×W with H, W ≥ 8."""
    c, _, _ = image_shape(input_shape, "mnist-cnn", min_size=2 * _POOLED)
    width = positive_int(width, "width", "mnist-cnn")
    return nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(_POOLED),
        nn.Flatten(),
        nn.Linear(2 * width * _POOLED * _POOLED, 4 * width),
        nn.ReLU(),
        nn.Linear(4 * width, out_dim),
    )
