"""Network architectures, built by name with the data set's normalisation inside.

``build_model(name, input_shape=..., out_dim=..., mean=..., std=...)`` returns
``Normalized(net, mean, std)``; the head size ``out_dim`` comes from the label space.
Each architecture is one file that registers its builder in ``MODELS``.
"""

from labelrobust.models.base import Normalized, available_models, build_model
from labelrobust.models.registry import MODELS

# Imported for their registration side effect: each adds its names to MODELS.
from labelrobust.models import (  # noqa: E402,F401  isort: skip
    fc,
    mlp,
    mlp_resnet,
    mnist_cnn,
    multilabel_cnn,
    resnet,
    torchvision_models,
    wide_resnet,
)

__all__ = ["MODELS", "Normalized", "available_models", "build_model"]
