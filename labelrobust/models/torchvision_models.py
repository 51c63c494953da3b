"""``efficientnet-b0`` and ``densenet121``: torchvision's ImageNet architectures, randomly
initialised (``weights=None``: nothing is ever downloaded) with an ``out_dim`` head.

EfficientNet-B0: Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional
Neural Networks". DenseNet-121: Huang, Liu, van der Maaten, Weinberger 2017, "Densely
Connected Convolutional Networks". Han et al. (task-aware label encodings) train both on
MNIST and CIFAR-10 as they are.

The ImageNet stems are kept: they downsample 32×, so a 32×32 input ends in 1×1 feature
maps. That is how those studies used the networks; it is not a CIFAR-adapted variant.
For inputs with C ≠ 3 channels the first convolution is replaced by one with the same
kernel, stride, padding and bias but C input channels.
"""

from __future__ import annotations

from torch import nn

from labelrobust.models.base import image_shape
from labelrobust.models.registry import MODELS

# DenseNet-121's stem (stride 2 conv, stride 2 pool) and three stride-2 transition pools
# leave an empty feature map below 29×29 (found by trying sizes); EfficientNet pads every
# stride-2 convolution, so it takes any size.
_DENSENET_MIN_SIZE = 29


def _set_in_channels(net: nn.Module, in_channels: int) -> nn.Module:
    """Replace the first Conv2d of ``net`` by an otherwise identical one with ``in_channels``."""
    for name, module in net.named_modules():  # noqa: B007  (name is used after the loop)
        if isinstance(module, nn.Conv2d):
            break
    else:
        raise TypeError(f"{type(net).__name__} has no Conv2d to adapt")
    if module.in_channels == in_channels:
        return net
    new = nn.Conv2d(
        in_channels,
        module.out_channels,
        module.kernel_size,
        module.stride,
        module.padding,
        module.dilation,
        module.groups,
        module.bias is not None,
        module.padding_mode,
    )
    # The ImageNet stems use He (fan_out) initialisation; keep it for the new first layer.
    nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    parent_name, _, child = name.rpartition(".")
    setattr(net.get_submodule(parent_name), child, new)
    return net


@MODELS.register("efficientnet-b0", "torchvision EfficientNet-B0 (weights=None)")
def efficientnet_b0(input_shape: tuple[int, ...], out_dim: int) -> nn.Module:
    """torchvision ``efficientnet_b0(weights=None, num_classes=out_dim)`` for C×H×W inputs."""
    c, _, _ = image_shape(input_shape, "efficientnet-b0", min_size=1)
    # Imported here: torchvision.models takes seconds to import and most runs never need it.
    from torchvision.models import efficientnet_b0 as tv_efficientnet_b0

    return _set_in_channels(tv_efficientnet_b0(weights=None, num_classes=out_dim), c)


@MODELS.register("densenet121", "torchvision DenseNet-121 (weights=None; H, W ≥ 29)")
def densenet121(input_shape: tuple[int, ...], out_dim: int) -> nn.Module:
    """torchvision ``densenet121(weights=None, num_classes=out_dim)`` for C×H×W inputs with
    H, W ≥ 29."""
    c, _, _ = image_shape(input_shape, "densenet121", min_size=_DENSENET_MIN_SIZE)
    from torchvision.models import densenet121 as tv_densenet121

    return _set_in_channels(tv_densenet121(weights=None, num_classes=out_dim), c)
