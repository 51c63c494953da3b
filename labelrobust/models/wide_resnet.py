"""``wrn-16-10``, ``wrn-28-10``, ``wrn-34-10``: pre-activation Wide Residual Networks
(Zagoruyko & Komodakis 2016, "Wide Residual Networks") for 32×32 inputs.

WRN-d-k: a 3×3 stem of 16 channels, three groups of ``n = (d - 4) / 6`` pre-activation
blocks (BN–ReLU–conv3×3–BN–ReLU–dropout–conv3×3) of 16k, 32k and 64k channels with strides
1, 2, 2, then BN–ReLU, global average pooling and a linear head. WRN-28-10 has 36.5M
parameters (the paper's Table 1 figure); WRN-34-10 is the usual adversarial-training model
(Madry et al. 2018, TRADES), WRN-16-10 and WRN-28-10 are used by the WPGD study.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from labelrobust.errors import ConfigError
from labelrobust.models.base import image_shape, positive_int
from labelrobust.models.registry import MODELS

_BASE_WIDTHS = (16, 32, 64)


class PreActBlock(nn.Module):
    """A pre-activation wide block (He et al. 2016, "Identity Mappings in Deep Residual
    Networks"). When the width or stride changes, the shortcut is a 1×1 convolution of the
    *pre-activated* input, as in the WRN reference implementation."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pre = self.bn1(x).relu()
        out = self.conv2(self.dropout(self.bn2(self.conv1(pre)).relu()))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet(nn.Module):
    """WRN-depth-widen_factor; see the module docstring."""

    def __init__(
        self, in_channels: int, out_dim: int, depth: int, widen_factor: int, dropout: float
    ) -> None:
        super().__init__()
        n = (depth - 4) // 6
        self.stem = nn.Conv2d(in_channels, _BASE_WIDTHS[0], 3, 1, 1, bias=False)
        groups = []
        width = _BASE_WIDTHS[0]
        for i, base in enumerate(_BASE_WIDTHS):
            out_width = base * widen_factor
            blocks = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(PreActBlock(width, out_width, stride, dropout))
                width = out_width
            groups.append(nn.Sequential(*blocks))
        self.groups = nn.Sequential(*groups)
        # The blocks end without activation (pre-activation design), so the final BN–ReLU
        # is needed before pooling.
        self.final = nn.Sequential(
            nn.BatchNorm2d(width), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Linear(width, out_dim)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He initialisation, as in the WRN reference training.
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.final(self.groups(self.stem(x))))


def wide_resnet(
    input_shape: tuple[int, ...],
    out_dim: int,
    *,
    depth: int,
    widen_factor: int,
    dropout: float = 0.0,
) -> WideResNet:
    """WRN-``depth``-``widen_factor`` for C×H×W inputs (any C; H, W ≥ 8, made for 32×32)."""
    model = f"wrn-{depth}-{widen_factor}"
    depth = positive_int(depth, "depth", model)
    widen_factor = positive_int(widen_factor, "widen_factor", model)
    if depth < 10 or (depth - 4) % 6:
        raise ConfigError(
            "a Wide-ResNet needs depth = 6n + 4 with n >= 1 (10, 16, 22, 28, 34, ...), "
            f"got {depth}"
        )
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ConfigError(f"option 'dropout' of model {model!r} must be in [0, 1), got {dropout!r}")
    # Two stride-2 groups divide each side by 4; 8 is the smallest input the CIFAR-style
    # networks of this package accept.
    c, _, _ = image_shape(input_shape, model, min_size=8)
    return WideResNet(c, out_dim, depth, widen_factor, float(dropout))


def _fixed(depth: int, widen_factor: int) -> Callable[..., WideResNet]:
    """A registry builder for one WRN size; only ``dropout`` stays an option."""

    def build(input_shape: tuple[int, ...], out_dim: int, dropout: float = 0.0) -> WideResNet:
        return wide_resnet(
            input_shape, out_dim, depth=depth, widen_factor=widen_factor, dropout=dropout
        )

    build.__name__ = f"wrn_{depth}_{widen_factor}"
    build.__doc__ = f"WRN-{depth}-{widen_factor}: " + (wide_resnet.__doc__ or "")
    return build


@MODELS.register("wide-resnet", "WideResNet-depth-widen_factor with options depth (16), widen_factor (1), dropout: small sizes for CPU runs")
def configurable_wide_resnet(input_shape: tuple[int, ...], out_dim: int, depth: int = 16, widen_factor: int = 1, dropout: float = 0.0) -> WideResNet:
    """A WRN of any size (``wide_resnet``); the defaults give WRN-16-1 (0.18 M parameters), the
    study's family (WRN-16-10, methods.md §4) at a width a CPU trains in minutes."""
    return wide_resnet(input_shape, out_dim, depth=depth, widen_factor=widen_factor, dropout=dropout)


MODELS.register("wrn-16-10", "WideResNet-16-10 (CIFAR)")(_fixed(16, 10))
MODELS.register("wrn-28-10", "WideResNet-28-10 (CIFAR)")(_fixed(28, 10))
MODELS.register("wrn-34-10", "WideResNet-34-10 (CIFAR; the TRADES/MART/CLIRAT network)")(_fixed(34, 10))
