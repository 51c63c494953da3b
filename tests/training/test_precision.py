"""Mixed precision and channels-last training: the forward wrapper on a trained digits model,
loss scaling that survives a resume, and the config error."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from labelrobust.config import load_config
from labelrobust.errors import ConfigError
from labelrobust.models.weights import read_safetensors
from labelrobust.runs import read_metrics
from labelrobust.training import train
from labelrobust.training.precision import TrainingForward, autocast_dtype, grad_scaler, training_forward
from tests.training.test_loop import assert_same_weights, digits_config


@pytest.fixture(scope="module")
def digits_batch(trained):
    exp = trained("onehot")
    return exp, exp.dataset.test.float_images(slice(0, 64))


def wrapped_outputs(exp, x, precision, channels_last):
    """(copy of the fixture's network, its float32 outputs, the training forward, its outputs);
    the copy keeps layout changes away from the shared model."""
    net = copy.deepcopy(exp.model)
    with torch.no_grad():
        reference = net(x)
        forward = training_forward(net, "cpu", precision, channels_last)
        return net, reference, forward, forward(x)


def test_fp32_in_the_default_layout_is_the_network_itself(digits_batch):
    exp, _ = digits_batch
    assert training_forward(exp.model, "cpu", "fp32", channels_last=False) is exp.model
    assert not grad_scaler("cpu", "fp32").is_enabled() and not grad_scaler("cpu", "bf16").is_enabled()
    assert grad_scaler("cpu", "fp16").is_enabled()


def test_bf16_forward_gives_float32_outputs_close_to_fp32(digits_batch):
    net, reference, forward, mixed = wrapped_outputs(*digits_batch, "bf16", channels_last=False)
    assert isinstance(forward, TrainingForward) and list(forward.parameters()) == list(net.parameters())
    assert mixed.dtype == torch.float32
    assert not torch.equal(mixed, reference)  # autocast really ran the layers in 16 bits
    assert torch.allclose(mixed, reference, rtol=0.05, atol=0.05 * reference.abs().max().item())
    assert (mixed.argmax(1) == reference.argmax(1)).float().mean() > 0.95


def test_channels_last_converts_the_weights_and_keeps_the_outputs(digits_batch):
    net, reference, _, out = wrapped_outputs(*digits_batch, "fp32", channels_last=True)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    assert torch.allclose(out, reference, atol=1e-5, rtol=1e-5)


def test_fp16_loss_scaler_state_is_checkpointed_and_restored(tmp_path):
    extra = {"precision": "fp16", "channels_last": True, "data.train_size": 200, "epochs": 2}
    full = train(digits_config(tmp_path, "full", **extra), quiet=True)
    cfg = digits_config(tmp_path, "split", **extra)
    train(cfg, quiet=True, stop_after_batches=5)  # 7 batches per epoch: stops inside epoch 1
    progress = json.loads(read_safetensors(tmp_path / "split" / "checkpoint.safetensors")[1]["progress"])
    assert progress["grad_scaler"]["_growth_tracker"] == 5 and progress["grad_scaler"]["scale"] == 2.0**16
    train(cfg, quiet=True, resume=True, stop_after_batches=4)  # epoch 2, batch 2
    progress = json.loads(read_safetensors(tmp_path / "split" / "checkpoint.safetensors")[1]["progress"])
    assert progress["grad_scaler"]["_growth_tracker"] == 9  # counted on from the restored state, not from 0
    train(cfg, quiet=True, resume=True)
    assert_same_weights(full, tmp_path / "split")


def test_precision_errors():
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, fp16, got 'fp8'"):
        load_config(None, [("precision", "fp8")])
    with pytest.raises(ConfigError, match="precision must be one of"):
        autocast_dtype("half")
    with pytest.raises(ConfigError, match="'channels_last' must be bool"):
        load_config(None, [("channels_last", "yes")])


def test_adversarial_training_in_bf16_follows_fp32(tmp_path):
    """PGD-AT with the inner attack and the loss in bf16 (channels-last) tracks the float32 run."""
    settings = {"epochs": 4, "method.name": "at", "method.params.eps": 0.1, "method.params.steps": 2}
    full = read_metrics(train(digits_config(tmp_path, "fp32", **settings), quiet=True))
    mixed = read_metrics(train(digits_config(tmp_path, "bf16", precision="bf16", channels_last=True, **settings), quiet=True))
    assert mixed[-1]["train_loss"] < mixed[0]["train_loss"] - 0.3  # it learns
    for a, b in zip(full, mixed, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.05)
        assert b["train_acc"] == pytest.approx(a["train_acc"], abs=0.1)


@pytest.mark.parametrize("precision, channels_last", [("bf16", False), ("fp32", True)])
def test_training_forward_on_every_device_under_test(device, precision, channels_last):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 10)).to(device)
    forward = training_forward(net, device, precision, channels_last)
    x = torch.rand(6, 1, 8, 8, device=device)
    out = forward(x)
    assert out.dtype == torch.float32 and out.device == x.device and out.shape == (6, 10)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.device == x.device for p in net.parameters())
    assert not grad_scaler(device, precision).is_enabled()
