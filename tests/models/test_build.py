"""``build_model`` and ``Normalized``: the wrapper, and every error path of the builder."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.errors import ConfigError
from labelrobust.models import MODELS, Normalized, available_models, build_model

MNIST = dict(input_shape=(1, 28, 28), mean=(0.1307,), std=(0.3081,))
CIFAR = dict(input_shape=(3, 32, 32), mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))
DISK = dict(input_shape=(2,), mean=(0.0, 0.0), std=(1.0, 1.0))


def test_build_model_wraps_the_builder_output_in_normalized():
    model = build_model("mnist-cnn", out_dim=10, **MNIST)
    assert isinstance(model, Normalized)
    assert isinstance(model.net, torch.nn.Sequential)
    assert model.mean.shape == (1, 1, 1) and model.std.shape == (1, 1, 1)


def test_vector_statistics_have_one_value_per_feature():
    model = build_model("mlp", out_dim=3, input_shape=(2,), mean=(0.5, -1.0), std=(2.0, 4.0))
    assert model.mean.shape == (2,) and model.std.shape == (2,)
    x = torch.tensor([[1.5, 3.0]])
    with torch.no_grad():
        assert torch.equal(model(x), model.net(torch.tensor([[0.5, 1.0]])))


def test_statistics_are_buffers_saved_and_moved_with_the_model():
    model = build_model("mnist-cnn", out_dim=4, **CIFAR)
    assert {"mean", "std"} <= set(model.state_dict())
    assert "mean" not in dict(model.named_parameters())
    assert model.to(torch.float64).mean.dtype == torch.float64


def test_options_reach_the_builder():
    model = build_model("mlp", out_dim=3, hidden=8, depth=2, **DISK)
    widths = [m.out_features for m in model.net if isinstance(m, torch.nn.Linear)]
    assert widths == [8, 8, 3]


def test_input_shape_may_be_a_list():
    # Shapes read from YAML arrive as lists.
    model = build_model("mnist-cnn", out_dim=2, input_shape=[1, 8, 8], mean=[0.5], std=[0.5])
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 2)


def test_numpy_integers_are_integers():
    np = pytest.importorskip("numpy")
    # Shapes and sizes computed with NumPy arrive as NumPy integers.
    model = build_model(
        "mnist-cnn", out_dim=np.int64(3), input_shape=tuple(np.array([1, 8, 8])),
        mean=np.array([0.5]), std=np.array([0.5]), width=np.int32(4),
    )
    assert model(torch.rand(1, 1, 8, 8)).shape == (1, 3)


def test_available_models_lists_the_registry():
    names = available_models()
    assert names == sorted(names)
    assert {
        "fc", "mlp", "mlp-resnet", "mnist-cnn", "multilabel-cnn", "resnet18", "wide-resnet", "wrn-16-10", "wrn-28-10",
        "wrn-34-10", "efficientnet-b0", "densenet121",
    } == set(names)


@settings(max_examples=25, deadline=None)
@given(
    mean=st.lists(st.floats(-2, 2), min_size=3, max_size=3),
    std=st.lists(st.floats(0.05, 3), min_size=3, max_size=3),
)
def test_normalized_is_the_net_on_standardised_input(mean, std):
    net = torch.nn.Identity()
    model = Normalized(net, mean, std, input_ndim=3)
    x = torch.rand(2, 3, 4, 5)
    expected = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    assert torch.allclose(model(x), expected, rtol=1e-5, atol=1e-5)


# ---- error paths ---------------------------------------------------------------------------


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown model 'resnet19'; known: .*resnet18"):
        build_model("resnet19", out_dim=10, **CIFAR)


def test_unknown_option_names_option_model_and_accepted_options():
    with pytest.raises(
        ConfigError, match=r"unknown option 'widht' for model 'mnist-cnn'; accepted options: width"
    ):
        build_model("mnist-cnn", out_dim=10, widht=64, **MNIST)


def test_model_without_options_says_none_are_accepted():
    message = r"unknown option 'width' for model 'resnet18'; accepted options: none"
    with pytest.raises(ConfigError, match=message):
        build_model("resnet18", out_dim=10, width=32, **CIFAR)


def test_fixed_wrn_sizes_do_not_take_depth_as_an_option():
    message = r"unknown option 'depth' for model 'wrn-28-10'; accepted options: dropout"
    with pytest.raises(ConfigError, match=message):
        build_model("wrn-28-10", out_dim=10, depth=16, **CIFAR)


@pytest.mark.parametrize("out_dim", [0, -3, 2.0, True, None])
def test_out_dim_must_be_a_positive_integer(out_dim):
    with pytest.raises(ConfigError, match=r"out_dim must be an integer >= 1 .*got"):
        build_model("mnist-cnn", out_dim=out_dim, **MNIST)


def test_mean_length_must_match_the_channels():
    message = r"mean has 1 values but input_shape \(3, 32, 32\) has 3 input channels"
    with pytest.raises(ConfigError, match=message):
        build_model("resnet18", out_dim=10, **(CIFAR | dict(mean=(0.5,))))


def test_std_length_must_match_the_features():
    message = r"std has 3 values but input_shape \(2,\) has 2 input features"
    with pytest.raises(ConfigError, match=message):
        build_model("mlp", out_dim=3, **(DISK | dict(std=(1.0, 1.0, 1.0))))


@pytest.mark.parametrize("bad", [0.0, -0.5])
def test_std_must_be_positive(bad):
    with pytest.raises(ConfigError, match=r"std must be > 0 in every channel"):
        build_model("mnist-cnn", out_dim=10, **(CIFAR | dict(std=(0.2, bad, 0.2))))


def test_statistics_must_be_finite():
    with pytest.raises(ConfigError, match=r"mean must be finite"):
        build_model("mnist-cnn", out_dim=10, **(MNIST | dict(mean=(float("nan"),))))


@pytest.mark.parametrize("shape", [(), (3, 0, 32), (3, -1, 32), "3x32x32", 32, (3.0, 32, 32)])
def test_input_shape_must_be_positive_ints(shape):
    message = r"input_shape must be a non-empty sequence of positive ints"
    with pytest.raises(ConfigError, match=message):
        build_model("mnist-cnn", out_dim=10, **(CIFAR | dict(input_shape=shape)))


def test_mlp_rejects_an_image_shape():
    message = (
        r"model 'mlp' takes vectors: input_shape must be 1-D like \(2,\), got \(1, 28, 28\) "
        r"\(flatten it to \(784,\) first\)"
    )
    with pytest.raises(ConfigError, match=message):
        build_model("mlp", out_dim=10, **MNIST)


@pytest.mark.parametrize(
    "name", ["mnist-cnn", "multilabel-cnn", "resnet18", "wrn-16-10", "densenet121"]
)
def test_image_models_reject_a_vector_shape(name):
    message = rf"model '{name}' takes images: input_shape must be \(C, H, W\), got \(2,\)"
    with pytest.raises(ConfigError, match=message):
        build_model(name, out_dim=3, **DISK)


@pytest.mark.parametrize("name", ["resnet18", "wrn-16-10", "wrn-34-10", "mnist-cnn"])
def test_cifar_style_models_need_at_least_8x8(name):
    message = rf"model '{name}' needs images of at least 8x8 pixels, got input_shape \(3, 4, 32\)"
    with pytest.raises(ConfigError, match=message):
        build_model(name, out_dim=10, **(CIFAR | dict(input_shape=(3, 4, 32))))


def test_densenet_needs_at_least_29x29():
    # MNIST's 28×28 leaves DenseNet-121 an empty feature map after its third transition.
    with pytest.raises(ConfigError, match=r"'densenet121' needs images of at least 29x29 pixels"):
        build_model("densenet121", out_dim=10, **MNIST)


def test_multilabel_cnn_input_must_fit_two_valid_convolutions_and_the_pool():
    message = r"'multilabel-cnn' needs images of at least 10x10 pixels"
    with pytest.raises(ConfigError, match=message):
        build_model(
            "multilabel-cnn", out_dim=10, kernel_size=5, **(MNIST | dict(input_shape=(1, 9, 28)))
        )


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("mlp", {"hidden": 0}, r"option 'hidden' of model 'mlp' must be an integer >= 1, got 0"),
        ("mlp", {"depth": 1.5}, r"option 'depth' of model 'mlp' must be an integer >= 1, got 1.5"),
        ("mlp", {"residual": "false"}, r"option 'residual' of model 'mlp' must be true or false"),
        ("mnist-cnn", {"width": -1}, r"option 'width' of model 'mnist-cnn' must be an integer"),
        ("multilabel-cnn", {"channels": (16,)}, r"option 'channels' of .* must be two"),
        ("multilabel-cnn", {"channels": (16, 0)}, r"option 'channels' of .* must be an integer"),
        ("multilabel-cnn", {"kernel_size": 0}, r"option 'kernel_size' of model 'multilabel-cnn'"),
        ("wrn-16-10", {"dropout": 1.0}, r"option 'dropout' of .* must be in \[0, 1\)"),
    ],
)
def test_bad_option_values_are_rejected(name, options, message):
    data = DISK if name == "mlp" else MNIST
    with pytest.raises(ConfigError, match=message):
        build_model(name, out_dim=3, **options, **data)


def test_normalized_rejects_inconsistent_statistics():
    with pytest.raises(ConfigError, match=r"mean has 3 values but std has 1"):
        Normalized(torch.nn.Identity(), (0.5, 0.5, 0.5), (0.2,))
    with pytest.raises(ConfigError, match=r"std must be > 0"):
        Normalized(torch.nn.Identity(), (0.5,), (0.0,))


def test_registering_a_name_twice_fails():
    with pytest.raises(ValueError, match="registered twice"):
        MODELS.register("mlp")(lambda input_shape, out_dim: torch.nn.Identity())


def test_normalized_refuses_inputs_with_the_wrong_channels():
    import torch

    from labelrobust.models import build_model

    model = build_model("mnist-cnn", input_shape=(3, 32, 32), out_dim=10, mean=(0.5,) * 3, std=(0.25,) * 3)
    with pytest.raises(ConfigError, match=r"model input must have shape \(N, 3, ...\) with 3 dimensions after the batch, got \(2, 1, 32, 32\)"):
        model(torch.zeros(2, 1, 32, 32))
