"""Tests of the Tiny ImageNet loader on a small fake folder of the official layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from labelrobust.data.tiny_imagenet import load_tiny_imagenet
from labelrobust.errors import DataError

WNIDS = ["n02", "n01", "n03"]  # unsorted on purpose: classes are numbered in sorted order
WORDS = {"n01": "goldfish, Carassius auratus", "n02": "tabby, tabby cat", "n03": "school bus", "n99": "other"}


def _image(path: Path, value: int, size: int = 64, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    Image.fromarray(np.full(shape, value, dtype=np.uint8), mode=mode).save(path, format="JPEG", quality=95)


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    base = tmp_path / "tiny-imagenet-200"
    base.mkdir()
    (base / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (base / "words.txt").write_text("".join(f"{w}\t{n}\n" for w, n in WORDS.items()))
    for k, wnid in enumerate(WNIDS):
        for j in range(3):
            _image(base / "train" / wnid / "images" / f"{wnid}_{j}.JPEG", 40 * k + j)
    lines = []
    for i, wnid in enumerate(["n03", "n01", "n02", "n01"]):
        _image(base / "val" / "images" / f"val_{i}.JPEG", 200, mode="L" if i == 0 else "RGB")
        lines.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_tiny_imagenet_fake_layout(fake_root: Path):
    ds = load_tiny_imagenet(fake_root, False)
    assert ds.class_names == ("goldfish", "tabby", "school bus")
    assert ds.train.images.shape == (9, 3, 64, 64) and ds.train.images.dtype == torch.uint8
    assert ds.train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ds.test.labels.tolist() == [2, 0, 1, 0]
    assert ds.test.images.shape == (4, 3, 64, 64)  # the greyscale file became RGB
    assert ds.mean == (0.4802, 0.4481, 0.3975)


def test_tiny_imagenet_unknown_val_class(fake_root: Path):
    path = fake_root / "tiny-imagenet-200" / "val" / "val_annotations.txt"
    path.write_text(path.read_text() + "val_0.JPEG\tn77\t0\t0\t1\t1\n")
    with pytest.raises(DataError, match=r"val_annotations\.txt, line 5: class 'n77' is not in wnids\.txt"):
        load_tiny_imagenet(fake_root, False)


def test_tiny_imagenet_wrong_image_size(fake_root: Path):
    _image(fake_root / "tiny-imagenet-200" / "train" / "n01" / "images" / "n01_0.JPEG", 0, size=32)
    with pytest.raises(DataError, match=r"n01_0\.JPEG: image is 32×32, expected 64×64"):
        load_tiny_imagenet(fake_root, False)


def test_tiny_imagenet_missing_name(fake_root: Path):
    (fake_root / "tiny-imagenet-200" / "words.txt").write_text("n01\tgoldfish\n")
    with pytest.raises(DataError, match="words.txt has no name for 2 classes"):
        load_tiny_imagenet(fake_root, False)


def test_tiny_imagenet_missing_root(tmp_path: Path):
    with pytest.raises(DataError, match=r"tiny-imagenet-200/wnids\.txt not found under data root .*--download"):
        load_tiny_imagenet(tmp_path, False)
