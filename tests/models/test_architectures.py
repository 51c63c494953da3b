"""Each architecture is the published one: parameter counts, layer structure, stems."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from labelrobust.errors import ConfigError
from labelrobust.models import MODELS, build_model
from labelrobust.models.mlp import ResidualLinear
from labelrobust.models.wide_resnet import PreActBlock, wide_resnet


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


DISK = dict(input_shape=(2,), mean=(0.0, 0.0), std=(1.0, 1.0))


def _cifar(name: str, out_dim: int = 10, channels: int = 3, size: int = 32) -> nn.Module:
    return build_model(
        name,
        out_dim=out_dim,
        input_shape=(channels, size, size),
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
    )


@pytest.mark.parametrize(
    ("name", "published"),
    [
        ("resnet18", 11.17e6),  # CIFAR ResNet-18, 10 classes, as quoted across the AT literature
        ("wrn-28-10", 36.5e6),  # Zagoruyko & Komodakis 2016, Table 1
    ],
)
def test_parameter_count_matches_the_published_figure(name, published):
    # The meta device allocates no memory and skips initialisation: only shapes are built.
    with torch.device("meta"):
        model = _cifar(name)
    assert abs(_n_params(model) - published) / published < 0.01


def test_cifar_resnet18_stem_is_a_stride_1_3x3_conv_without_max_pool():
    model = _cifar("resnet18", channels=1)
    convs = [m for m in model.net.modules() if isinstance(m, nn.Conv2d)]
    stem = convs[0]
    assert (stem.kernel_size, stem.stride, stem.in_channels) == ((3, 3), (1, 1), 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.net.modules())
    # 1 stem + 8 blocks × 2 convs + 3 projection shortcuts, as in ResNet-18.
    assert len(convs) == 1 + 16 + 3


@pytest.mark.parametrize(
    ("name", "depth"), [("wrn-16-10", 16), ("wrn-28-10", 28), ("wrn-34-10", 34)]
)
def test_wrn_has_three_groups_of_n_blocks(name, depth):
    with torch.device("meta"):
        model = _cifar(name)
    blocks = [m for m in model.net.modules() if isinstance(m, PreActBlock)]
    assert len(blocks) == 3 * (depth - 4) // 6
    assert [b.conv2.out_channels for b in blocks][:: (depth - 4) // 6] == [160, 320, 640]
    assert model.net.head.in_features == 640


@pytest.mark.parametrize(("depth", "widen", "blocks", "params"), [(10, 1, 3, 77_850), (16, 1, 6, 175_066), (16, 2, 6, 691_674)])
def test_configurable_wide_resnet_has_the_asked_size(depth, widen, blocks, params):
    model = build_model("wide-resnet", input_shape=(3, 32, 32), out_dim=10, mean=(0.5,) * 3, std=(0.25,) * 3, depth=depth, widen_factor=widen)
    assert len([m for m in model.net.modules() if isinstance(m, PreActBlock)]) == blocks
    assert sum(p.numel() for p in model.parameters()) == params
    with pytest.raises(ConfigError, match=r"depth = 6n \+ 4"):
        build_model("wide-resnet", input_shape=(3, 32, 32), out_dim=10, mean=(0.5,) * 3, std=(0.25,) * 3, depth=12)


def test_wide_resnet_builder_rejects_a_depth_not_6n_plus_4():
    with pytest.raises(ConfigError, match=r"depth = 6n \+ 4 .* got 20"):
        wide_resnet((3, 32, 32), 10, depth=20, widen_factor=10)


def test_wrn_dropout_is_active_in_training_only():
    model = build_model(
        "wrn-16-10", out_dim=2, input_shape=(1, 8, 8), mean=(0,), std=(1,), dropout=0.3
    )
    assert all(b.dropout.p == 0.3 for b in model.net.modules() if isinstance(b, PreActBlock))


def test_multilabel_cnn_is_two_convs_one_max_pool_one_linear():
    # methods.md §5; the MILP verifier walks exactly these layer types in this order.
    model = build_model(
        "multilabel-cnn", out_dim=10, input_shape=(1, 28, 56), mean=(0.13,), std=(0.31,)
    )
    assert isinstance(model.net, nn.Sequential)
    assert [type(m) for m in model.net] == [
        nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear,
    ]
    conv1, _, conv2, _, _, _, head = model.net
    assert (conv1.out_channels, conv2.out_channels) == (16, 32)
    # Valid 3×3 convolutions: 28×56 → 26×54 → 24×52, pooled to 12×26.
    assert head.in_features == 32 * 12 * 26 and head.out_features == 10


def test_multilabel_cnn_options():
    model = build_model(
        "multilabel-cnn", out_dim=4, input_shape=(1, 10, 10), mean=(0,), std=(1,),
        channels=[4, 6], kernel_size=5,
    )
    conv1, _, conv2, *_, head = model.net
    assert conv1.kernel_size == (5, 5) and (conv1.out_channels, conv2.out_channels) == (4, 6)
    assert head.in_features == 6 * 1 * 1
    assert model(torch.rand(2, 1, 10, 10)).shape == (2, 4)


@pytest.mark.parametrize("residual", [False, True])
def test_mlp_has_depth_hidden_layers(residual):
    model = build_model("mlp", out_dim=3, depth=4, hidden=16, residual=residual, **DISK)
    linears = [m for m in model.net.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 4 + 1
    blocks = [m for m in model.net if isinstance(m, ResidualLinear)]
    assert len(blocks) == (3 if residual else 0)


def test_mlp_residual_block_adds_the_identity():
    model = build_model("mlp", out_dim=3, depth=2, residual=True, **DISK)
    block = model.net[2]
    h = torch.randn(5, 64)
    assert torch.allclose(block(h), h + torch.relu(block.linear(h)))


def test_mnist_cnn_takes_digits_8x8_and_mnist_28x28():
    for size in (8, 28):
        shape = (1, size, size)
        model = build_model("mnist-cnn", out_dim=10, input_shape=shape, mean=(0.5,), std=(0.5,))
        assert model(torch.rand(2, 1, size, size)).shape == (2, 10)


@pytest.mark.parametrize("name", ["efficientnet-b0", "densenet121"])
def test_torchvision_models_adapt_the_first_conv_to_the_channels(name):
    with torch.device("meta"):
        three = MODELS.get(name)((3, 32, 32), 10)
        one = MODELS.get(name)((1, 32, 32), 10)
    first3 = next(m for m in three.modules() if isinstance(m, nn.Conv2d))
    first1 = next(m for m in one.modules() if isinstance(m, nn.Conv2d))
    assert first3.in_channels == 3 and first1.in_channels == 1
    for attr in ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups"):
        assert getattr(first1, attr) == getattr(first3, attr)
    assert (first1.bias is None) == (first3.bias is None)
    # Only the first convolution's weight shape changes.
    assert _n_params(three) - _n_params(one) == first3.weight[:, 1:].numel()
