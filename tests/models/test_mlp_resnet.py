"""The small residual network of the soft-label toy problem: ``mlp-resnet``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from labelrobust.data.disk2d import load_disk2d
from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space
from labelrobust.models import Normalized, build_model
from labelrobust.models.mlp_resnet import PreActResidualBlock


@pytest.fixture(scope="module")
def disk():
    return load_disk2d(Path("unused"), False, radius=2.0, n_train=50, n_test=20)


@pytest.mark.parametrize("space_name", ["soft", "onehot"])
def test_builds_for_disk2d_with_the_head_from_the_label_space(disk, space_name):
    space = make_label_space(space_name, disk.num_classes)
    model = build_model("mlp-resnet", input_shape=disk.input_shape, out_dim=space.out_dim, mean=disk.mean, std=disk.std)
    assert isinstance(model, Normalized) and model.input_ndim == 1
    assert model.std.tolist() == [1.0, 1.0]  # disk2d's R/2 for R = 2, applied inside the model
    out = model(disk.test.float_images())
    assert out.shape == (20, space.out_dim) == (20, 2)
    assert torch.isfinite(out).all()


def test_forward_shape_and_layer_count_follow_the_options():
    model = build_model("mlp-resnet", input_shape=(2,), out_dim=3, mean=(0.0, 0.0), std=(1.0, 1.0), width=8, blocks=4)
    assert model(torch.randn(7, 2)).shape == (7, 3)
    assert len([m for m in model.net.modules() if isinstance(m, PreActResidualBlock)]) == 4
    linears = [m for m in model.net.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 2 * 4 + 2 and linears[0].in_features == 2 and linears[-1].out_features == 3
    assert all(m.out_features == 8 for m in linears[:-1])


def test_a_block_is_the_identity_plus_two_preactivated_layers():
    block = PreActResidualBlock(5)
    h = torch.randn(4, 5)
    assert torch.allclose(block(h), h + block.fc2(torch.relu(block.fc1(torch.relu(h)))))
    with torch.no_grad():
        block.fc2.weight.zero_()
        block.fc2.bias.zero_()
    assert torch.equal(block(h), h)  # a zeroed residual branch leaves the shortcut


def test_normalisation_is_inside_the_model():
    torch.manual_seed(0)
    model = build_model("mlp-resnet", input_shape=(2,), out_dim=2, mean=(1.0, -1.0), std=(2.0, 0.5))
    x = torch.randn(6, 2)
    expected = model.net((x - torch.tensor([1.0, -1.0])) / torch.tensor([2.0, 0.5]))
    assert torch.allclose(model(x), expected)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"width": 0}, r"^option 'width' of model 'mlp-resnet' must be an integer >= 1, got 0$"),
        ({"blocks": 2.5}, r"^option 'blocks' of model 'mlp-resnet' must be an integer >= 1, got 2\.5$"),
        ({"blocks": True}, r"^option 'blocks' of model 'mlp-resnet' must be an integer >= 1, got True$"),
        ({"depth": 3}, r"^unknown option 'depth' for model 'mlp-resnet'; accepted options: width, blocks$"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        build_model("mlp-resnet", input_shape=(2,), out_dim=2, mean=(0.0, 0.0), std=(1.0, 1.0), **options)


def test_image_inputs_are_refused():
    with pytest.raises(ConfigError, match=r"model 'mlp-resnet' takes vectors: input_shape must be 1-D like \(2,\), got \(1, 8, 8\)"):
        build_model("mlp-resnet", input_shape=(1, 8, 8), out_dim=10, mean=(0.5,), std=(0.5,))
