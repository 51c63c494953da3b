"""Campaign images: index ranges, dataset splits, rendering (enlarge, blur) on real CIFAR-10/MNIST."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from labelrobust.annotate.campaigns import prepare_campaign
from labelrobust.annotate.sources import CampaignImages, dataset_campaign_images, parse_index_ranges, render_png, to_pil
from labelrobust.annotate.store import Campaign
from labelrobust.data import load_dataset
from labelrobust.errors import ConfigError, DataError


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 10)), min_size=1, max_size=5))
def test_index_ranges_round_trip(spans):
    # disjoint ascending ranges written as text come back as exactly their positions
    positions, parts, start = [], [], 0
    for gap, length in spans:
        lo = start + gap
        parts.append(f"{lo}:{lo + length}" if length > 1 else str(lo))
        positions.extend(range(lo, lo + length))
        start = lo + length
    assert parse_index_ranges(",".join(parts), start) == positions


@pytest.mark.parametrize("text, message", [
    ("", "must be ranges"), ("5:2", "outside 0..10 or empty"), ("0:11", "outside"), ("a:b", "is not an index"),
    ("1,1", "more than once"), ("-1", "is not an index"), ("0:3,2", "more than once"),
])
def test_index_range_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_index_ranges(text, 10)


def test_dataset_campaign_images_carry_labels(data_root):
    cifar = load_dataset("cifar10", root=data_root)
    images = dataset_campaign_images(cifar, "test", "10:13")
    assert [im.source_index for im in images] == [10, 11, 12]
    assert [im.true_label for im in images] == cifar.test.labels[10:13].tolist()
    with pytest.raises(ConfigError, match="has no split 'val'"):
        dataset_campaign_images(cifar, "val", None)


def test_vector_data_cannot_be_shown():
    with pytest.raises(ConfigError, match="holds no pictures"):
        prepare_campaign(dataset="disk2d")


def test_render_enlarges_and_blurs(data_root):
    mnist = load_dataset("mnist", root=data_root)
    picture = to_pil(mnist.test.images[0].numpy())
    assert picture.size == (28, 28) and picture.mode == "RGB"
    sharp = np.asarray(Image.open(io.BytesIO(render_png(picture, 280, 0.0))))
    blurred = np.asarray(Image.open(io.BytesIO(render_png(picture, 280, 6.0))))
    assert sharp.shape == blurred.shape == (280, 280, 3)
    # a blur softens the steepest edge between neighbouring pixels (measured: 29 → 14 grey levels at radius 6)
    steepest = [np.abs(np.diff(a.astype(float), axis=1)).max() for a in (sharp, blurred)]
    assert steepest[1] < 0.7 * steepest[0]


def test_campaign_images_serve_the_right_picture(data_root):
    spec, images = prepare_campaign(dataset="cifar10", split="train", indices="7,9", data_root=data_root, display_size=32)
    campaign = Campaign(**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, id=1, n_images=2)
    shown = CampaignImages.open(campaign, data_root)
    pixels = np.asarray(Image.open(io.BytesIO(shown.png(9))))
    original = load_dataset("cifar10", root=data_root).train.images[9].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(pixels, original)  # 32 px at display size 32: the picture itself
    assert shown.png(9) is shown.png(9)  # cached
    with pytest.raises(DataError, match="image 10000000 is not in split train of cifar10"):
        shown.png(10_000_000)


def test_prepare_campaign_errors(data_root):
    with pytest.raises(ConfigError, match="exactly one"):
        prepare_campaign()
    with pytest.raises(ConfigError, match="--classes is for --folder"):
        prepare_campaign(dataset="cifar10", classes="a,b", data_root=data_root)
    with pytest.raises(ConfigError, match="unknown campaign setting"):
        prepare_campaign(dataset="cifar10", data_root=data_root, speed=3)
    with pytest.raises(ConfigError, match="repeats must be an integer"):
        prepare_campaign(dataset="cifar10", indices="0:2", data_root=data_root, repeats=0)


def test_folder_campaign_labels_are_the_datasets(tmp_path, data_root):
    from tests.data.test_image_folder import class_folder

    root = class_folder(tmp_path, data_root, count=8)
    spec, images = prepare_campaign(folder=root)
    data = load_dataset("image-folder", options={"path": str(root), "test_fraction": 0.0})
    assert spec.class_names == data.class_names
    by_index = dict(zip(data.train.source_index.tolist(), data.train.labels.tolist()))
    assert len(images) == 8 and [im.true_label for im in images] == [by_index[im.source_index] for im in images]
    assert all(im.true_label is not None for im in images)
    first = next(root.rglob("*.png"))
    (root / "strays").mkdir()  # a subfolder that is no class: refused as the dataset refuses it
    (root / "strays" / "x.png").write_bytes(first.read_bytes())
    with pytest.raises(DataError, match="not among the classes"):
        prepare_campaign(folder=root, classes=",".join(spec.class_names))
