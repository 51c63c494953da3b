"""The contract every registered model meets: output shape (N, out_dim), gradients that reach
the input, deterministic eval mode, and normalisation applied inside the model.

Large networks are checked with one small batch and one head size so the suite stays fast
on a laptop CPU; the small ones with every head size in OUT_DIMS.
"""

from __future__ import annotations

import functools

import pytest
import torch

from labelrobust.models import MODELS, Normalized, available_models, build_model

OUT_DIMS = (1, 4, 10)


@functools.cache
def _cases() -> dict[str, tuple[tuple[int, ...], int, tuple[int, ...]]]:
    """name → (input_shape, batch size, head sizes checked)."""
    small = {
        "fc": ((1, 8, 8), 5, OUT_DIMS),
        "mlp": ((2,), 5, OUT_DIMS),
        "mlp-resnet": ((2,), 5, OUT_DIMS),
        "mnist-cnn": ((1, 28, 28), 3, OUT_DIMS),
        "multilabel-cnn": ((1, 28, 56), 3, OUT_DIMS),
        "resnet18": ((3, 16, 16), 2, OUT_DIMS),
        "wrn-16-10": ((3, 16, 16), 2, OUT_DIMS),
        "wide-resnet": ((3, 16, 16), 2, OUT_DIMS),
    }
    large = {
        "efficientnet-b0": ((3, 32, 32), 2, (4,)),
        "densenet121": ((3, 32, 32), 2, (4,)),
        "wrn-28-10": ((3, 32, 32), 1, (4,)),
        "wrn-34-10": ((3, 32, 32), 1, (4,)),
    }
    return small | large


CASES = [(name, k) for name, (_, _, ks) in _cases().items() for k in ks]
IDS = [f"{name}-out{k}" for name, k in CASES]


def _stats(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    # Distinct, non-trivial statistics per channel so a swapped or ignored one shows.
    mean = tuple(0.1 + 0.2 * i for i in range(channels))
    std = tuple(0.5 + 0.25 * i for i in range(channels))
    return mean, std


@functools.cache
def _model(name: str, out_dim: int) -> Normalized:
    # Built once per (name, head size) and shared by the tests below: building the large
    # networks dominates the run time. Seeded so the weights do not depend on test order.
    torch.manual_seed(1234)
    shape = _cases()[name][0]
    mean, std = _stats(shape[0])
    return build_model(name, input_shape=shape, out_dim=out_dim, mean=mean, std=std)


def _input(name: str) -> torch.Tensor:
    shape, batch, _ = _cases()[name]
    return torch.rand(batch, *shape, generator=torch.Generator().manual_seed(7))


def test_every_registered_model_has_a_contract_case():
    assert sorted(_cases()) == available_models() == MODELS.available()


@pytest.mark.parametrize(("name", "out_dim"), CASES, ids=IDS)
def test_output_shape_is_batch_by_out_dim(name, out_dim):
    model = _model(name, out_dim).eval()
    x = _input(name)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (x.shape[0], out_dim)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()


@pytest.mark.parametrize(("name", "out_dim"), CASES, ids=IDS)
def test_gradient_reaches_the_input(name, out_dim):
    # Attacks differentiate the eval-mode model with respect to pixels.
    model = _model(name, out_dim).eval()
    x = _input(name).requires_grad_(True)
    model(x).square().sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize(("name", "out_dim"), CASES, ids=IDS)
def test_eval_mode_is_deterministic(name, out_dim):
    model = _model(name, out_dim).eval()
    x = _input(name)
    with torch.no_grad():
        torch.manual_seed(1)
        first = model(x)
        torch.manual_seed(2)  # a different RNG state must not matter (dropout, stochastic depth)
        second = model(x)
    assert torch.equal(first, second)


@pytest.mark.parametrize(("name", "out_dim"), CASES, ids=IDS)
def test_normalized_feeds_standardised_input_to_the_net(name, out_dim):
    model = _model(name, out_dim).eval()
    shape = _cases()[name][0]
    mean, std = _stats(shape[0])
    x = _input(name)
    view = (-1,) + (1,) * (len(shape) - 1)
    manual = (x - torch.tensor(mean).view(view)) / torch.tensor(std).view(view)
    with torch.no_grad():
        assert torch.allclose(model(x), model.net(manual), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n, (_, _, ks) in _cases().items() if len(ks) > 1])
def test_every_parameter_is_trained(name):
    # A train-mode backward reaches every parameter: no layer is built and then left unused.
    model = _model(name, 4).train()
    x = _input(name)
    model(x).square().sum().backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    model.zero_grad(set_to_none=True)
    model.eval()
    assert missing == []


@pytest.mark.parametrize("name", ["mlp", "mnist-cnn", "multilabel-cnn", "resnet18"])
def test_runs_on_every_device_under_test(name, device):
    # A fresh copy: moving the shared cached model would move it for the other tests too.
    shape = _cases()[name][0]
    mean, std = _stats(shape[0])
    torch.manual_seed(1234)
    model = build_model(name, input_shape=shape, out_dim=4, mean=mean, std=std).to(device).eval()
    x = _input(name).to(device).requires_grad_(True)
    out = model(x)
    assert out.device == x.device and out.shape == (x.shape[0], 4)
    out.square().sum().backward()
    assert x.grad is not None and x.grad.device == x.device
