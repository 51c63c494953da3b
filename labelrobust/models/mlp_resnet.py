"""``mlp-resnet``: a small residual network for vector inputs, the soft-label study's toy model.

Tyrväinen et al. (soft labels, toy problem; methods.md §1) map the 2-D disk to class logits
with "a small ResNet" and give no further detail. This is the fully connected form of a
pre-activation ResNet (He et al. 2016, "Identity Mappings in Deep Residual Networks"): a linear
stem to ``width`` features, ``blocks`` residual blocks

    h ← h + W₂·relu(W₁·relu(h))

and a ReLU + linear head of ``out_dim`` outputs (from the label space). The identity shortcuts
keep the gradient from input to output alive however many blocks there are, which is what the
attacks on this model follow. Input normalisation with the data set's mean and std is applied
by ``build_model``'s ``Normalized`` wrapper, like every registered model.
"""

from __future__ import annotations

from torch import Tensor, nn

from labelrobust.models.base import positive_int, vector_shape
from labelrobust.models.registry import MODELS


class PreActResidualBlock(nn.Module):
    """``h + fc2(relu(fc1(relu(h))))``: two width-preserving linear layers around a shortcut."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.fc2(self.fc1(h.relu()).relu())


class MLPResNet(nn.Module):
    """Stem ``Linear(D, width)``, ``blocks`` × ``PreActResidualBlock(width)``, head
    ``Linear(width, out_dim)`` after a final ReLU."""

    def __init__(self, in_features: int, out_dim: int, width: int, blocks: int) -> None:
        super().__init__()
        self.stem = nn.Linear(in_features, width)
        self.blocks = nn.Sequential(*(PreActResidualBlock(width) for _ in range(blocks)))
        self.head = nn.Linear(width, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)).relu())


@MODELS.register("mlp-resnet", "small fully connected pre-activation ResNet for vector inputs such as disk2d (options width, blocks)")
def mlp_resnet(input_shape: tuple[int, ...], out_dim: int, width: int = 32, blocks: int = 3) -> MLPResNet:
    """A residual network on ``(D,)`` inputs: ``blocks`` residual blocks of ``width`` units
    (2 linear layers each), so ``2·blocks + 2`` linear layers in all."""
    d = vector_shape(input_shape, "mlp-resnet")
    width = positive_int(width, "width", "mlp-resnet")
    blocks = positive_int(blocks, "blocks", "mlp-resnet")
    return MLPResNet(d, out_dim, width, blocks)
