"""Loading weights into a model they were not saved for: one line, counts, a few examples, the cause."""

from __future__ import annotations

import pytest
import torch

from labelrobust.errors import CheckpointError
from labelrobust.models import build_model
from labelrobust.models.weights import MODEL_PREFIX, describe_mismatch, load_model_tensors, load_weights, save_weights

DIGITS = {"input_shape": (1, 8, 8), "mean": (0.3,), "std": (0.4,)}


def cnn(out_dim=10, width=16):
    return build_model("mnist-cnn", out_dim=out_dim, width=width, **DIGITS)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.safetensors"
    save_weights(path, cnn())
    return path


@pytest.mark.parametrize(
    "model, message",
    [
        (
            build_model("mlp", input_shape=(64,), out_dim=10, mean=(0.3,) * 64, std=(0.4,) * 64),
            r"4 missing keys \(net\.4\.weight; net\.4\.bias; net\.6\.weight, … 1 more\), 4 unexpected keys \(.*\), 6 mis-shaped keys \(mean saved \(1, 1, 1\), model \(64,\); .*, … 3 more\)",
        ),
        (cnn(width=8), r"7 mis-shaped keys \(net\.0\.weight saved \(16, 1, 3, 3\), model \(8, 1, 3, 3\); .*, … 4 more\)"),
        (cnn(out_dim=4), r"2 mis-shaped keys \(net\.9\.weight saved \(10, 64\), model \(4, 64\); net\.9\.bias saved \(10,\), model \(4,\)\)"),
    ],
    ids=["mlp-instead-of-mnist-cnn", "other-width", "other-head"],
)
def test_weights_of_another_architecture_fail_in_one_line(saved, model, message):
    with pytest.raises(CheckpointError, match=rf"weights in .*model\.safetensors do not fit the model of this run: {message}\. Was config\.yaml edited after training\? The weights were saved for another architecture") as info:
        load_weights(saved, model)
    text = str(info.value)
    assert "\n" not in text and len(text) < 600


def test_matching_weights_load_bare_or_prefixed(saved):
    model = cnn()
    load_weights(saved, model)
    tensors = {MODEL_PREFIX + k: v for k, v in model.state_dict().items()}
    other = cnn()
    load_model_tensors("checkpoint", tensors, other)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))


def test_describe_mismatch_counts_and_limits_examples():
    expected = {f"k{i}": torch.zeros(2) for i in range(6)}
    assert describe_mismatch(expected, expected) == ""
    saved = {**{f"k{i}": torch.zeros(2) for i in range(1)}, "x": torch.zeros(1)}
    assert describe_mismatch(saved, expected) == "5 missing keys (k1; k2; k3, … 2 more), 1 unexpected key (x)"
