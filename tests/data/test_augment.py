"""crop-flip on real CIFAR-10 images: shapes, content preserved up to shift/flip, determinism."""

from __future__ import annotations

import pytest
import torch

from labelrobust.data import load_dataset
from labelrobust.data.augment import AUGMENTATIONS, crop_flip
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
    with pytest.raises(ConfigError, match="unknown augmentation 'flip'; known: crop-flip, none"):
        AUGMENTATIONS.get("flip")
    with pytest.raises(ConfigError, match="needs image batches"):
        crop_flip(torch.zeros(4, 2))
