"""crop-flip on real CIFAR-10 images: shapes, content preserved up to shift/flip, determinism;
black-rectangle on real DOUBLE-MNIST images; augmentation options (make_augmentation)."""

from __future__ import annotations

import pytest
import torch

from labelrobust.data import load_dataset
from labelrobust.config import load_config
from labelrobust.data.augment import AUGMENTATIONS, augmentation_options, black_rectangle, crop_flip, make_augmentation
from labelrobust.errors import ConfigError


def test_crop_flip_shifts_and_flips_real_images(data_root):
    x = load_dataset("cifar10", root=data_root, test_size=100).test.float_images(slice(0, 16))
    torch.manual_seed(3)
    y = crop_flip(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert not torch.equal(x, y)
    for i in range(16):  # every output is a 4-pixel-padded shift of the input, maybe flipped
        padded = torch.nn.functional.pad(x[i], (4, 4, 4, 4))
        windows = [padded[:, r : r + 32, c : c + 32] for r in range(9) for c in range(9)]
        assert any(torch.equal(y[i], w) or torch.equal(y[i], w.flip(2)) for w in windows)
    torch.manual_seed(3)
    assert torch.equal(crop_flip(x), y)


def test_unknown_augmentation_and_bad_shape():
    with pytest.raises(ConfigError, match="unknown augmentation 'flip'; known: black-rectangle, crop-flip, none"):
        AUGMENTATIONS.get("flip")
    with pytest.raises(ConfigError, match="needs image batches"):
        crop_flip(torch.zeros(4, 2))


def _double_mnist(data_root, n: int = 64):
    return load_dataset("double-mnist", root=data_root, options={"n_train": n, "n_test": 10}).train.float_images()


def test_black_rectangle_blacks_out_one_rectangle_within_the_size_range(data_root):
    x = _double_mnist(data_root)
    torch.manual_seed(7)
    y = black_rectangle(x, min_size=3, max_size=9)
    torch.manual_seed(7)  # the same draws on a white batch of the same shape show each rectangle whole
    box = black_rectangle(torch.ones_like(x), min_size=3, max_size=9) == 0
    assert y.shape == x.shape and y.dtype == x.dtype and not torch.equal(x, y)
    assert (y[box] == 0).all() and torch.equal(y[~box], x[~box])  # inside black, the rest unchanged
    sides = set()
    for b in box[:, 0]:
        rows, cols = b.any(1).nonzero().flatten(), b.any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert int(b.sum()) == h * w and rows[-1] - rows[0] + 1 == h and cols[-1] - cols[0] + 1 == w  # one solid rectangle
        assert 3 <= h <= 9 and 3 <= w <= 9
        sides.update((h, w))
    assert sides == set(range(3, 10))  # every side length occurs
    torch.manual_seed(7)
    assert torch.equal(black_rectangle(x, min_size=3, max_size=9), y)  # reproducible from the RNG state


def test_black_rectangle_refuses_bad_sizes_and_inputs():
    x = torch.ones(2, 1, 28, 56)
    for kwargs, message in [
        ({"min_size": 0}, r"min_size must be an integer ≥ 1, got 0"),
        ({"min_size": 5, "max_size": 4}, r"max_size must be an integer ≥ 5, got 4"),
        ({"max_size": 29}, r"max_size 29 does not fit images of 28×56 pixels \(max_size ≤ 28\)"),
        ({"max_size": 2.5}, r"max_size must be an integer"),
    ]:
        with pytest.raises(ConfigError, match=rf"^augmentation 'black-rectangle': {message}"):
            black_rectangle(x, **kwargs)
    with pytest.raises(ConfigError, match="needs image batches N×C×H×W"):
        black_rectangle(torch.zeros(4, 2))
    full = black_rectangle(x, min_size=28, max_size=28)  # the largest square that fits
    assert ((full == 0).sum(dim=(1, 2, 3)) == 28 * 28).all()


def test_make_augmentation_binds_and_checks_options(data_root):
    assert augmentation_options("black-rectangle") == {"min_size": 4, "max_size": 12}
    assert augmentation_options("crop-flip") == {"padding": 4} and augmentation_options("none") == {}
    x = _double_mnist(data_root, 16)
    torch.manual_seed(1)
    bound = make_augmentation("black-rectangle", {"min_size": 2, "max_size": 5})(x)
    torch.manual_seed(1)
    assert torch.equal(bound, black_rectangle(x, min_size=2, max_size=5))
    state = torch.get_rng_state()
    make_augmentation("black-rectangle", {"max_size": 6}, input_shape=(1, 28, 56))  # the probe leaves the run's RNG alone
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ConfigError, match=r"augmentation 'black-rectangle' has no option 'size'; accepted: min_size=4, max_size=12"):
        make_augmentation("black-rectangle", {"size": 3})
    with pytest.raises(ConfigError, match=r"max_size 40 does not fit images of 28×56 pixels"):
        make_augmentation("black-rectangle", {"max_size": 40}, input_shape=(1, 28, 56))
    with pytest.raises(ConfigError, match=r"crop-flip': padding must be an integer ≥ 0, got -1"):
        make_augmentation("crop-flip", {"padding": -1}, input_shape=(1, 8, 8))
    with pytest.raises(ConfigError, match="must be a mapping"):
        make_augmentation("crop-flip", ["padding"])


def test_augmentation_options_from_yaml_and_flags_agree(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {augment: black-rectangle, augment_options: {min_size: 2, max_size: 6}}\n")
    from_yaml = load_config(path).data
    from_flags = load_config(None, [("data.augment", "black-rectangle"), ("data.augment_options.min_size", 2), ("data.augment_options.max_size", 6)]).data
    assert from_yaml == from_flags and from_yaml.augment_options == {"min_size": 2, "max_size": 6}
