"""``resnet18``: the CIFAR variant of ResNet-18 (He, Zhang, Ren, Sun 2016, "Deep Residual
Learning for Image Recognition") used throughout the adversarial-robustness literature
(Madry et al. 2018, TRADES, MART, MAIL and the soft-label / task-aware-label studies).

It differs from the ImageNet ResNet-18 only in the stem: one 3×3 convolution with stride 1
and no max-pool, because a 32×32 image has no resolution to spare. Four stages of two
BasicBlocks (64, 128, 256, 512 channels; stride 1, 2, 2, 2), global average pooling and a
linear head: 11,173,962 parameters for 10 outputs.
"""

from __future__ import annotations

from torch import Tensor, nn

from labelrobust.models.base import image_shape
from labelrobust.models.registry import MODELS

_WIDTHS = (64, 128, 256, 512)
_BLOCKS_PER_STAGE = (2, 2, 2, 2)


class BasicBlock(nn.Module):
    """Two 3×3 conv–BN layers with an identity shortcut, or a 1×1 conv–BN projection when
    the stride or the width changes (option B of He et al. 2016)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out))
        return (out + self.shortcut(x)).relu()


class CifarResNet(nn.Module):
    """3×3 stem → stages of BasicBlocks → global average pool → linear head."""

    def __init__(self, in_channels: int, out_dim: int, blocks: tuple[int, ...]) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, _WIDTHS[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(_WIDTHS[0]),
            nn.ReLU(),
        )
        stages = []
        width = _WIDTHS[0]
        for i, (out_width, n) in enumerate(zip(_WIDTHS, blocks)):
            stride = 1 if i == 0 else 2
            stage = []
            for j in range(n):
                stage.append(BasicBlock(width, out_width, stride if j == 0 else 1))
                width = out_width
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(width, out_dim)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He initialisation (He et al. 2015), as in the reference ResNet training.
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.stages(self.stem(x))))


@MODELS.register("resnet18", "CIFAR ResNet-18")
def resnet18(input_shape: tuple[int, ...], out_dim: int) -> CifarResNet:
    """CIFAR ResNet-18 for C×H×W inputs (any C; H, W ≥ 8 so the last stage is ≥ 1×1)."""
    # Three stride-2 stages divide each side by 8.
    c, _, _ = image_shape(input_shape, "resnet18", min_size=8)
    return CifarResNet(c, out_dim, _BLOCKS_PER_STAGE)
