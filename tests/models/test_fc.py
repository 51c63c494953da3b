"""``fc``: the verification benchmarks' fully connected network on flattened images."""

import pytest
import torch
from torch import nn

from labelrobust.errors import ConfigError
from labelrobust.models import build_model


def test_fc_flattens_images_and_has_depth_hidden_layers(data_root):
    from labelrobust.data.mnist import load_mnist

    x = load_mnist(data_root, False).test.float_images(torch.arange(4))
    model = build_model("fc", input_shape=(1, 28, 28), out_dim=10, mean=(0.1307,), std=(0.3081,), hidden=32, depth=3)
    linears = [m for m in model.net if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [32, 32, 32, 10] and linears[0].in_features == 784
    assert model(x).shape == (4, 10)


@pytest.mark.parametrize("option", [{"hidden": 0}, {"depth": "2"}])
def test_fc_bad_options(option):
    with pytest.raises(ConfigError, match="option"):
        build_model("fc", input_shape=(1, 4, 4), out_dim=2, mean=(0.0,), std=(1.0,), **option)
