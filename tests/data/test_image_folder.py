"""The ``image-folder`` dataset: the user's own images, with class subfolders or flat with soft labels.

Folders are written here with Pillow (real CIFAR-10 images from ``data_root`` where pixels are
compared exactly; small generated pictures for layouts and formats). Soft-label files are
written with ``soft_label_arrays`` of the soft-label-file tests, the way the export defines them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from labelrobust.cli.main import main
from labelrobust.data import dataset_options, load_dataset
from labelrobust.data.image_folder import folder_class_names, list_folder_images
from labelrobust.domain import UNIT_BOX
from labelrobust.errors import ConfigError, DataError
from tests.data.test_soft_label_file import soft_label_arrays, write_npz


def picture(path: Path, seed: int, size=(12, 10), mode="RGB") -> Path:
    """A small random picture at ``path`` (folders made as needed), format from the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


def make_class_folder(root: Path, per_class: dict[str, int]) -> Path:
    """``root/<class>/<class>_<i>.png`` (random pictures) for each class and count."""
    seed = 0
    for name, count in per_class.items():
        for i in range(count):
            picture(root / name / f"{name}_{i}.png", seed := seed + 1)
    return root


def class_folder(tmp_path: Path, data_root: Path, count: int = 24) -> Path:
    """A folder of class subfolders holding real CIFAR-10 train images 0, 10, 20, … as PNGs,
    ``cifar/<class name>/cifar_<index>.png`` (a test of another module uses it too)."""
    cifar = load_dataset("cifar10", root=data_root)
    root = tmp_path / "cifar"
    for i in range(0, 10 * count, 10):
        where = root / cifar.class_names[int(cifar.train.labels[i])]
        where.mkdir(parents=True, exist_ok=True)
        Image.fromarray(cifar.train.images[i].permute(1, 2, 0).numpy()).save(where / f"cifar_{i:05d}.png")
    return root


def folder(path: Path, **options):
    return load_dataset("image-folder", options={"path": str(path), **options})


def all_images(data):
    """(source_index → (image, label, soft label or None)) over train and test."""
    out = {}
    for split in (data.train, data.test):
        for row, index in enumerate(split.source_index.tolist()):
            soft = None if split.soft_labels is None else split.soft_labels[row]
            out[index] = (split.images[row], int(split.labels[row]), soft)
    return out


# -- listing ------------------------------------------------------------------------------------


def test_list_folder_images_is_sorted_recursive_and_skips_hidden_and_other_files(tmp_path):
    for name in ("b/x.jpeg", "a/2.JPG", "a/1.png", "b/sub/y.bmp", "c.gif", "d.webp", ".hidden.png", ".git/z.png", "a/.cache/w.png"):
        picture(tmp_path / name, 1)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "e.png.txt").write_text("not an image either")
    assert list_folder_images(tmp_path) == ["a/1.png", "a/2.JPG", "b/sub/y.bmp", "b/x.jpeg", "c.gif", "d.webp"]


def test_list_folder_images_refuses_what_is_not_a_folder_of_images(tmp_path):
    with pytest.raises(DataError, match=r"image folder .*missing does not exist"):
        list_folder_images(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(DataError, match=r"file\.png is a file, not a folder"):
        list_folder_images(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("hi")
    with pytest.raises(DataError, match=r"empty holds no images \(\.png, \.jpg"):
        list_folder_images(tmp_path / "empty")


# -- class subfolders ---------------------------------------------------------------------------


def test_class_subfolders_of_real_cifar10_images(tmp_path, data_root):
    cifar = load_dataset("cifar10", root=data_root)
    photos = class_folder(tmp_path, data_root)
    data = folder(photos, test_fraction=0.25)
    files = list_folder_images(photos)
    assert data.name == "image-folder" and data.domain == UNIT_BOX
    assert list(data.class_names) == sorted({f.split("/")[0] for f in files})
    assert (len(data.train), len(data.test)) == (18, 6)
    assert data.train.images.dtype == torch.uint8 and data.input_shape == (3, 32, 32)
    for index, (image, label, soft) in all_images(data).items():
        name, file = files[index].split("/")
        assert data.class_names[label] == name and soft is None
        assert torch.equal(image, cifar.train.images[int(file[6:11])])  # PNG is lossless; 32 → 32 is no resampling
    pixels = data.train.images.double() / 255
    np.testing.assert_allclose(data.mean, pixels.mean(dim=(0, 2, 3)).numpy(), rtol=1e-9)
    np.testing.assert_allclose(data.std, pixels.permute(1, 0, 2, 3).reshape(3, -1).std(dim=1, unbiased=False).numpy(), rtol=1e-7)
    assert data.report["layout"] == "class subfolders" and data.report["images_kept"] == 24


def test_every_image_format_size_and_mode_becomes_rgb_of_the_asked_size(tmp_path):
    picture(tmp_path / "a" / "wide.jpg", 1, size=(40, 20))
    picture(tmp_path / "a" / "grey.png", 2, mode="L")
    picture(tmp_path / "b" / "palette.gif", 3, mode="P")
    picture(tmp_path / "b" / "alpha.webp", 4, mode="RGBA")
    picture(tmp_path / "b" / "plain.bmp", 5, size=(9, 9))
    data = folder(tmp_path, size=16, test_fraction=0)
    assert data.train.images.shape == (5, 3, 16, 16) and len(data.test) == 0
    grey = data.train.images[data.train.source_index.tolist().index(list_folder_images(tmp_path).index("a/grey.png"))]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])


def test_the_split_is_a_seeded_fraction_with_at_least_one_test_image(tmp_path):
    make_class_folder(tmp_path / "pets", {"cat": 6, "dog": 4})
    first, again = folder(tmp_path / "pets", seed=3), folder(tmp_path / "pets", seed=3)
    assert len(first.test) == 2 and first.test.source_index.tolist() == again.test.source_index.tolist()
    assert sorted(first.train.source_index.tolist() + first.test.source_index.tolist()) == list(range(10))
    assert first.train.source_index.tolist() == sorted(first.train.source_index.tolist())
    others = [folder(tmp_path / "pets", seed=s).test.source_index.tolist() for s in (4, 5, 6)]
    assert any(o != first.test.source_index.tolist() for o in others)
    assert len(folder(tmp_path / "pets", test_fraction=0.01).test) == 1 and len(folder(tmp_path / "pets", test_fraction=0).test) == 0
    picture(tmp_path / "one" / "cat" / "c.png", 1)
    (tmp_path / "one" / "dog").mkdir()  # an empty class: allowed, but one image cannot be split
    with pytest.raises(DataError, match=r"1 image kept, test_fraction 0\.5 leaves none for training"):
        folder(tmp_path / "one", test_fraction=0.5)


def test_classes_option_names_and_orders_the_classes(tmp_path):
    make_class_folder(tmp_path / "pets", {"cat": 2, "dog": 2})
    (tmp_path / "classes.txt").write_text("dog\n\ncat\nfox\n")
    for classes in ("dog,cat,fox", ["dog", "cat", "fox"], str(tmp_path / "classes.txt")):
        data = folder(tmp_path / "pets", classes=classes, test_fraction=0)
        assert data.class_names == ("dog", "cat", "fox")
        files = list_folder_images(tmp_path / "pets")
        assert [data.class_names[int(y)] for y in data.train.labels] == [files[i].split("/")[0] for i in data.train.source_index]
    assert folder_class_names(tmp_path / "pets", None) == ["cat", "dog"]


@pytest.mark.parametrize(("options", "error", "expected"), [
    (dict(classes="cat,fox"), DataError, r"subfolders \['dog'\] are not among the classes \['cat', 'fox'\]; every subfolder must be a class"),
    (dict(classes="cat"), ConfigError, r"classes must name at least 2 distinct classes, got \['cat'\]"),
    (dict(classes="cat,cat,dog"), ConfigError, r"at least 2 distinct classes"),
    (dict(classes="missing/classes.txt"), ConfigError, r"classes file missing/classes\.txt does not exist"),
    (dict(classes=3), ConfigError, r"classes must be names separated by commas, a list, or a text file"),
    (dict(size=7), ConfigError, r"option size must be an integer in 8\.\.512 \(pixels per side\), got 7"),
    (dict(size=513), ConfigError, r"got 513"),
    (dict(size="big"), ConfigError, r"got 'big'"),
    (dict(size=True), ConfigError, r"got True"),
    (dict(size=16.5), ConfigError, r"got 16\.5"),
    (dict(test_fraction=1), ConfigError, r"option test_fraction must be a number in \[0, 1\), got 1"),
    (dict(test_fraction=-0.1), ConfigError, r"got -0\.1"),
    (dict(test_fraction="half"), ConfigError, r"got 'half'"),
    (dict(seed="x"), ConfigError, r"option seed must be an integer, got 'x'"),
    (dict(soft_labels=["a"]), ConfigError, r"image-folder option soft_labels must be the path of a soft-label \.npz file"),
])
def test_bad_options_are_one_line(tmp_path, options, error, expected):
    make_class_folder(tmp_path, {"cat": 1, "dog": 1})
    with pytest.raises(error) as err:
        folder(tmp_path, **options)
    assert "\n" not in str(err.value) and re.search(expected, str(err.value)), str(err.value)


def test_path_is_required_and_must_be_a_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset image-folder needs option path=DIR"):
        load_dataset("image-folder")
    with pytest.raises(DataError, match=r"does not exist"):
        folder(tmp_path / "nowhere")
    picture(tmp_path / "a.png", 1)
    with pytest.raises(DataError, match=r"a\.png is a file, not a folder"):
        folder(tmp_path / "a.png")
    make_class_folder(tmp_path / "single", {"cat": 2})
    with pytest.raises(ConfigError, match=r"has 1 class subfolder; name the classes"):
        folder(tmp_path / "single")


def test_a_corrupt_image_names_the_file(tmp_path):
    make_class_folder(tmp_path, {"cat": 2, "dog": 2})
    (tmp_path / "dog" / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 10)
    with pytest.raises(DataError, match=r"^cannot read image .*dog/garbage\.png: "):
        folder(tmp_path)
    (tmp_path / "dog" / "garbage.png").unlink()
    whole = (tmp_path / "cat" / "cat_0.png").read_bytes()
    (tmp_path / "cat" / "cut.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"^cannot read image .*cat/cut\.png: "):
        folder(tmp_path)


def test_the_decompression_bomb_guard_stays_on(tmp_path, monkeypatch):
    make_class_folder(tmp_path, {"cat": 1, "dog": 1})
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40)  # 12×10 = 120 pixels > 2 × 40: refused
    with pytest.raises(DataError, match=r"is refused as a possible decompression bomb"):
        folder(tmp_path)


def test_it_is_listed_with_its_options(capsys):
    assert main(["list", "datasets"]) == 0
    assert re.search(r"^image-folder\s+your own images", capsys.readouterr().out, re.M)
    assert set(dataset_options("image-folder")) == {"path", "classes", "size", "test_fraction", "seed", "soft_labels"}


# -- a flat folder with soft labels ------------------------------------------------------------

NAMES = ("cat", "dog", "fox")


def flat_folder(root: Path, count: int = 8) -> list[str]:
    for i in range(count):
        picture(root / f"img_{i:02d}.png", i)
    return list_folder_images(root)


def folder_labels(path: Path, files: list[str], rated: dict[str, list[list[int]]], *, true=None, dataset="image-folder",
                  class_names=NAMES) -> Path:
    """An export over ``files`` (their positions are the indices), with answers ``rated[file]``."""
    ratings, image = [], []
    for name, answers in rated.items():
        for answer in answers:
            ratings.append(answer)
            image.append(files.index(name))
    index_of = {files.index(f): f for f in rated}
    arrays = soft_label_arrays(np.array(ratings), image, class_names=class_names, dataset=dataset,
                               split="all" if dataset == "image-folder" else "train", folder="/photos",
                               files=index_of if dataset == "image-folder" else None,
                               true={files.index(f): t for f, t in (true or {}).items()})
    return write_npz(path, arrays)


RATED = {"img_01.png": [[4, 0, 1], [0, 3, 0]], "img_03.png": [[0, 0, 2]], "img_04.png": [[1, 1, 0]], "img_06.png": [[0, 4, 0], [0, 0, 0]], "img_07.png": [[0, 0, 0]]}
SOFT = {"img_01.png": [0.4, 0.5, 0.1], "img_03.png": [0, 0, 1], "img_04.png": [0.5, 0.5, 0], "img_06.png": [0, 1, 0]}


def test_a_flat_folder_keeps_the_rated_images_with_their_soft_labels(tmp_path):
    files = flat_folder(tmp_path / "photos")
    labels = folder_labels(tmp_path / "soft.npz", files, RATED)
    data = folder(tmp_path / "photos", classes="cat,dog,fox", soft_labels=str(labels), test_fraction=0.25)
    got = {files[i]: value for i, value in all_images(data).items()}
    assert set(got) == set(SOFT)  # img_07 has only an all-zero answer: no label, not kept
    for name, (_, label, soft) in got.items():
        np.testing.assert_allclose(soft.numpy(), SOFT[name], atol=1e-6)
        assert label == int(np.argmax(SOFT[name]))  # arg-max; a tie (img_04) goes to the first class
    assert data.report["layout"] == "flat"
    entry = data.report["soft_labels"]
    assert entry["images_labelled"] == 4 and entry["images_dropped"] == 4 and entry["answers"] == 7 and entry["annotators"] == 1


def test_soft_labels_follow_file_names_when_images_are_added(tmp_path):
    files = flat_folder(tmp_path / "photos")
    labels = folder_labels(tmp_path / "soft.npz", files, RATED)
    picture(tmp_path / "photos" / "aaa_new.png", 99)  # sorts first: every old image moves one place
    data = folder(tmp_path / "photos", classes=list(NAMES), soft_labels=str(labels), test_fraction=0)
    now = list_folder_images(tmp_path / "photos")
    got = {now[i]: soft.numpy() for i, (_, _, soft) in all_images(data).items()}
    assert set(got) == set(SOFT) and all(np.allclose(got[f], SOFT[f], atol=1e-6) for f in SOFT)
    assert data.train.source_index.tolist() == sorted(now.index(f) for f in SOFT)


def test_relative_paths_are_read_from_the_current_directory(tmp_path, monkeypatch):
    files = flat_folder(tmp_path / "photos")
    folder_labels(tmp_path / "soft.npz", files, RATED)
    monkeypatch.chdir(tmp_path)
    data = load_dataset("image-folder", train_size=3, options={"path": "photos", "classes": "cat,dog,fox", "soft_labels": "soft.npz", "test_fraction": 0})
    assert len(data.train) == 3 and data.report["soft_labels"]["file"] == "soft.npz"


@pytest.mark.parametrize(("case", "expected"), [
    ("no classes", r"is flat \(images outside class subfolders\): name its classes with --data-option classes=a,b,c"),
    ("no soft labels", r"is flat .*its images need soft labels, --data-option soft_labels=FILE"),
    ("removed", r"soft\.npz: 1 labelled image is not in .*photos any more \(first: img_03\.png\)"),
    ("other dataset", r"soft\.npz holds soft labels of dataset 'cifar10', not of an image folder"),
    ("other names", r"soft\.npz: class names \['cat', 'dog', 'fox'\] differ from the folder's \['cat', 'dog', 'wolf'\]; only in the file: \['fox'\]"),
    ("other order", r"same names in another order \(position 0: 'cat' in the file, 'dog' in the folder's\)"),
    ("missing file", r"nothing\.npz: soft-label file does not exist"),
])
def test_a_flat_folder_refuses(tmp_path, case, expected):
    files = flat_folder(tmp_path / "photos")
    labels = folder_labels(tmp_path / "soft.npz", files, RATED, dataset="cifar10" if case == "other dataset" else "image-folder")
    options = {"classes": "cat,dog,fox", "soft_labels": str(labels)}
    if case == "no classes":
        del options["classes"]
    elif case == "no soft labels":
        del options["soft_labels"]
    elif case == "removed":
        (tmp_path / "photos" / "img_03.png").unlink()
    elif case == "other names":
        options["classes"] = "cat,dog,wolf"
    elif case == "other order":
        options["classes"] = "dog,cat,fox"
    elif case == "missing file":
        options["soft_labels"] = str(tmp_path / "nothing.npz")
    with pytest.raises((ConfigError, DataError)) as err:
        folder(tmp_path / "photos", **options)
    assert "\n" not in str(err.value) and re.search(expected, str(err.value)), str(err.value)


def test_class_subfolders_with_soft_labels_check_the_true_labels(tmp_path):
    make_class_folder(tmp_path / "pets", {"cat": 3, "dog": 3})
    files = list_folder_images(tmp_path / "pets")
    rated = {"cat/cat_0.png": [[3, 1]], "dog/dog_2.png": [[1, 4]], "dog/dog_0.png": [[2, 2], [0, 4]]}
    true = {f: ("cat", "dog").index(f.split("/")[0]) for f in rated}
    good = folder_labels(tmp_path / "good.npz", files, rated, true=true, class_names=("cat", "dog"))
    data = folder(tmp_path / "pets", soft_labels=str(good), test_fraction=0)
    assert [files[i] for i in data.train.source_index] == ["cat/cat_0.png", "dog/dog_0.png", "dog/dog_2.png"]
    assert data.train.labels.tolist() == [0, 1, 1]  # from the subfolders, not the arg-max
    np.testing.assert_allclose(data.train.soft_labels.numpy(), [[0.75, 0.25], [0.25, 0.75], [0.2, 0.8]], atol=1e-6)
    wrong = folder_labels(tmp_path / "wrong.npz", files, rated, true={**true, "dog/dog_2.png": 0}, class_names=("cat", "dog"))
    with pytest.raises(DataError, match=r"wrong\.npz: 1 of 3 images have a true label other than their class subfolder \(first: dog/dog_2\.png\)"):
        folder(tmp_path / "pets", soft_labels=str(wrong))


def test_train_on_a_flat_folder_with_soft_labels(tmp_path, capsys):
    files = flat_folder(tmp_path / "photos", 12)
    rated = {f: [[i % 3 + 1, 1, 0]] for i, f in enumerate(files[:10])}
    labels = folder_labels(tmp_path / "soft.npz", files, rated)
    argv = ["train", "--dataset", "image-folder", "--data-option", f"path={tmp_path / 'photos'}", "--data-option", "classes=cat,dog,fox",
            "--data-option", f"soft_labels={labels}", "--data-option", "size=8", "--label-space", "soft", "--model", "fc",
            "--model-option", "hidden=8", "--model-option", "depth=1", "--epochs", "1", "--batch-size", "4", "--quiet", "--device", "cpu",
            "--out", str(tmp_path / "runs"), "--name", "flat"]
    assert main(argv) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "runs" / "flat" / "dataset_report.json").read_text())
    assert report["sizes"] == {"train": 8, "test": 2} and report["soft_labels"]["images_labelled"] == 10
