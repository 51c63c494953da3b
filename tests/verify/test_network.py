"""The verifier's float64 view of a network equals the PyTorch network, layer kind by layer kind."""

import re

import pytest
import torch
from torch import nn

from labelrobust.errors import ConfigError
from labelrobust.models.base import build_model
from labelrobust.verify.network import ConvMap, DiagonalMap, LinearMap, MaxPool, ReLU, float64_outputs, from_torch, reference_model


def _dense(layer):
    return torch.from_numpy(layer.matrix().toarray())


def _check_affine_ops(layer, n=3):
    x = torch.rand(n, layer.in_size, dtype=torch.float64)
    a = torch.randn(2, layer.out_size, dtype=torch.float64)
    w = _dense(layer)
    assert torch.allclose(layer.apply(x), x @ w.T + layer.bias, atol=1e-12)
    assert torch.allclose(layer.apply_transposed(a), a @ w, atol=1e-12)
    assert torch.allclose(layer.apply_abs(x), x @ w.abs().T, atol=1e-12)


def test_study_network_with_normalisation_equals_torch_and_folds_the_statistics():
    torch.manual_seed(0)
    model = build_model("multilabel-cnn", input_shape=(1, 12, 16), out_dim=10, mean=(0.13,), std=(0.31,), channels=(3, 4)).eval()
    net = from_torch(model, (1, 12, 16))
    # normalisation folded into the first convolution (no padding): 6 layers, as the module has
    assert [type(layer) for layer in net.layers] == [ConvMap, ReLU, ConvMap, ReLU, MaxPool, LinearMap]
    x = torch.rand(8, 1, 12, 16)
    assert torch.allclose(net.forward(x.reshape(8, -1).double()), model.double()(x.double()), atol=1e-12)
    for layer in net.layers:
        if isinstance(layer, (ConvMap, LinearMap)):
            _check_affine_ops(layer)


def test_padding_stride_batch_norm_and_pool_padding():
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2, padding=1),
        nn.Flatten(), nn.Linear(48, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5, 4),
    ).double()
    for bn in (model[1], model[6]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    net = from_torch(model, (2, 13, 13))
    x = torch.rand(6, 2, 13, 13, dtype=torch.float64)
    assert torch.allclose(net.forward(x.reshape(6, -1)), model(x), atol=1e-12)
    for layer in net.layers:
        if isinstance(layer, (ConvMap, LinearMap)):
            _check_affine_ops(layer)


def test_normalisation_before_a_padded_convolution_stays_a_diagonal_layer():
    torch.manual_seed(2)
    from labelrobust.models.base import Normalized

    model = Normalized(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 5 * 5, 3)), (0.5,), (0.25,)).eval()
    net = from_torch(model, (1, 5, 5))
    assert isinstance(net.layers[0], DiagonalMap)
    _check_affine_ops(net.layers[0])
    x = torch.rand(4, 1, 5, 5)
    assert torch.allclose(net.forward(x.reshape(4, -1).double()), model.double()(x.double()), atol=1e-12)


def test_float64_reference_is_a_copy():
    model = build_model("mlp", input_shape=(4,), out_dim=3, mean=(0.0,) * 4, std=(1.0,) * 4)
    ref = reference_model(model)
    assert next(ref.parameters()).dtype == torch.float64 and next(model.parameters()).dtype == torch.float32
    x = torch.rand(2, 4, dtype=torch.float64)
    assert torch.allclose(float64_outputs(ref, x, (4,)), model.double()(x), atol=1e-12)


@pytest.mark.parametrize(
    "model, shape, named",
    [
        (nn.Sequential(nn.Linear(3, 3), nn.Sigmoid()), (3,), "layer 1 (Sigmoid)"),
        (nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.1)), (3,), "training mode"),
        (nn.Sequential(nn.Conv2d(1, 1, 3, padding="same")), (1, 5, 5), "numeric zero padding"),
        (nn.Sequential(nn.Linear(4, 3)), (3,), "expects 4 inputs but receives 3"),
        (nn.Sequential(nn.BatchNorm1d(3)), (3,), "eval mode"),
    ],
)
def test_unsupported_or_mismatched_layers_are_named(model, shape, named):
    if named != "eval mode" and named != "training mode":
        model.eval()
    with pytest.raises(ConfigError, match=re.escape(named)):
        from_torch(model, shape)
