"""Soft-label files (``labelrobust annotate export``): reading, checking, attaching to datasets.

The files are written here from answers (``soft_label_arrays``), the way the format defines the
per-image keys; real CIFAR-10 (``data_root``) is the data they are attached to. Every refusal
is one DataError/ConfigError line that names the file and, for a bad key, the key.
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelrobust.cli.main import main
from labelrobust.data import DATASETS, dataset_options, load_dataset
from labelrobust.data.soft_label_file import (
    KEYS,
    SoftLabelFile,
    attach_soft_labels,
    read_soft_label_file,
)
from labelrobust.errors import ConfigError, DataError
from labelrobust.runs import load_run

CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def soft_label_arrays(ratings, image, annotator=None, *, class_names=CIFAR, dataset="cifar10", split="train",
                      folder="", files=None, true=None, max_rating=4) -> dict[str, np.ndarray]:
    """Every key of a version-1 file for answers ``ratings`` (M×K) of images ``image`` (M).

    Per image: soft = mean over its answers that are not all zero of ratings / Σ ratings.
    ``files``/``true``: dicts image → relative path / true label (missing: "" / −1).
    """
    ratings = np.asarray(ratings, dtype=np.int16).reshape(-1, len(class_names))
    image = np.asarray(image, dtype=np.int64)
    annotator = np.zeros(len(image), dtype=np.int64) if annotator is None else np.asarray(annotator, dtype=np.int64)
    rated = ratings.sum(axis=1) > 0
    indices = np.unique(image[rated])
    soft = np.zeros((len(indices), len(class_names)))
    mean = np.zeros((len(indices), len(class_names)))
    counts = np.zeros(len(indices), dtype=np.int64)
    for row, i in enumerate(indices):
        mine = ratings[rated & (image == i)].astype(np.float64)
        soft[row] = (mine / mine.sum(axis=1, keepdims=True)).mean(axis=0)
        mean[row] = mine.mean(axis=0)
        counts[row] = len(mine)
    files, true = files or {}, true or {}
    return {
        "format": np.array("labelrobust-soft-labels"), "format_version": np.array(1),
        "campaign": np.array("test campaign"), "dataset": np.array(dataset), "split": np.array(split),
        "folder": np.array(folder), "class_names": np.array(class_names, dtype=str), "max_rating": np.array(max_rating),
        "ratings": ratings, "answer_index": image, "answer_annotator": annotator,
        "answer_time": 1.7e9 + np.arange(len(image), dtype=np.float64),
        "annotators": np.array([f"P{a + 1}" for a in range(int(annotator.max(initial=0)) + 1)], dtype=str),
        "indices": indices, "files": np.array([files.get(int(i), "") for i in indices], dtype=str),
        "soft_labels": soft.astype(np.float32), "mean_ratings": mean.astype(np.float32), "n_answers": counts,
        "true_labels": np.array([true.get(int(i), -1) for i in indices], dtype=np.int64),
    }


def write_npz(path: Path, arrays: dict) -> Path:
    np.savez(path, **arrays)
    return path


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


def simple_arrays(**kw) -> dict:
    """Three images of 10 classes (indices 3, 5, 8), two annotators, one all-zero answer."""
    ratings = np.zeros((5, 10), dtype=np.int16)
    ratings[0, 3], ratings[1, 3], ratings[1, 5], ratings[2, 1], ratings[3, 8] = 4, 2, 2, 3, 1
    return soft_label_arrays(ratings, [3, 3, 5, 8, 8], [0, 1, 0, 0, 1], **kw)


# -- reading -------------------------------------------------------------------------------


def test_a_valid_file_reads_back_every_key(tmp_path):
    path = write_npz(tmp_path / "soft.npz", simple_arrays(true={3: 3, 5: 1}))
    data = read_soft_label_file(path)
    assert isinstance(data, SoftLabelFile)
    assert (data.format, data.format_version, data.dataset, data.split, data.campaign) == ("labelrobust-soft-labels", 1, "cifar10", "train", "test campaign")
    assert data.class_names == CIFAR and data.max_rating == 4
    assert data.indices.tolist() == [3, 5, 8] and data.n_answers.tolist() == [2, 1, 1]
    assert data.num_answers == 5 and data.annotators == ("P1", "P2")
    np.testing.assert_allclose(data.soft_labels[0, [3, 5]], [0.75, 0.25])
    np.testing.assert_allclose(data.mean_ratings[0, [3, 5]], [3, 1])
    assert data.true_labels.tolist() == [3, 1, -1] and data.files == ("", "", "")
    assert data.ratings.dtype == np.int16 and data.soft_labels.dtype == np.float32
    assert len(data.sha256) == 64
    with pytest.raises(ValueError):
        data.soft_labels[0, 0] = 1.0  # the arrays are read-only like the dataclass


def _set(key, value):
    def mutate(a):
        a[key] = value(a) if callable(value) else value
    return mutate


def _edit(key, fn):
    def mutate(a):
        a[key] = a[key].copy()
        fn(a[key])
    return mutate


def _drop(key):
    return lambda a: a.pop(key)


BAD_FILES = [
    (_drop("soft_labels"), r"missing key soft_labels"),
    (_set("format", np.array("something-else")), r"format is 'something-else', expected 'labelrobust-soft-labels'"),
    (_set("format_version", np.array(2)), r"format_version is 2, expected 1"),
    (_set("format_version", np.array("1")), r"format_version must be a single value \(integers\), got <U1"),
    (_set("dataset", np.array(7)), r"dataset must be a single value \(text\), got int64"),
    (_set("split", np.array("holdout")), r"split is 'holdout', expected one of train, test, val, all"),
    (_set("split", np.array("all")), r"split 'all' with dataset 'cifar10'"),
    (_set("class_names", np.array(["cat", "cat"] + list(CIFAR[2:]))), r"class_names must be at least 2 distinct"),
    (_set("max_rating", np.array(0)), r"max_rating is 0, expected at least 1"),
    (_edit("ratings", lambda r: r.__setitem__((4, 2), 5)), r"ratings row 4 column 2 is 5, expected in 0\.\.4"),
    (_edit("ratings", lambda r: r.__setitem__((4, 2), -1)), r"ratings row 4 column 2 is -1"),
    (_set("ratings", lambda a: a["ratings"].astype(np.float32)), r"ratings must be an array of integers of shape any×10, got float32"),
    (_set("ratings", lambda a: a["ratings"][:, :9]), r"ratings must be an array of integers of shape any×10, got int16 of shape \(5, 9\)"),
    (_edit("answer_index", lambda r: r.__setitem__(4, -2)), r"answer_index row 4 is -2, expected ≥ 0"),
    (_set("answer_index", lambda a: a["answer_index"][:4]), r"answer_index must be an array of integers of shape 5, got int64 of shape \(4,\)"),
    (_edit("answer_annotator", lambda r: r.__setitem__(1, 2)), r"answer_annotator row 1 is 2, expected a row of annotators \(0\.\.1\)"),
    (_edit("answer_time", lambda r: r.__setitem__(0, np.nan)), r"answer_time row 0 is nan"),
    (_set("indices", np.array([3, 8, 5])), r"indices row 2 is 5 after 8, expected unique ascending"),
    (_set("indices", np.array([3, 3, 8])), r"indices row 1 is 3 after 3"),
    (_set("indices", np.array([-3, 5, 8])), r"indices row 0 is -3, expected ≥ 0"),
    (_set("indices", np.array([3, 5, 9])), r"indices 9 have no answer that is not all zero"),
    (_edit("soft_labels", lambda s: s.__setitem__((1, 1), s[1, 1] * 0.7)), r"soft_labels row 1 sums to 0\.7, expected 1"),
    (_set("soft_labels", lambda a: np.vstack([np.r_[1.1, -0.1, np.zeros(8)], a["soft_labels"][1:]]).astype(np.float32)), r"soft_labels row 0 column 1 is -0\.1, expected a finite probability ≥ 0"),
    (_edit("soft_labels", lambda s: s.__setitem__((2, 0), np.nan)), r"soft_labels row 2 column 0 is nan, expected a finite probability"),
    (_set("soft_labels", lambda a: a["soft_labels"][:2]), r"soft_labels must be an array of floats of shape 3×10"),
    (_set("soft_labels", lambda a: a["soft_labels"].astype(np.float64) * 0 + (np.arange(10) == 0)), None),  # valid: float64 one-hot rows
    (_edit("mean_ratings", lambda m: m.__setitem__((0, 0), 4.5)), r"mean_ratings row 0 column 0 is 4\.5, expected in \[0, 4\]"),
    (_set("n_answers", np.array([2, 0, 1])), r"n_answers row 1 is 0, expected ≥ 1"),
    (_set("n_answers", np.array([2, 2, 1])), r"n_answers row 1 is 2, but image 5 has 1 answer that is not all zero"),
    (_set("true_labels", np.array([3, 10, -1])), r"true_labels row 1 is 10, expected in -1\.\.9"),
    (_set("true_labels", np.array([3, -2, -1])), r"true_labels row 1 is -2"),
    (_set("files", np.array(["", "a.png", ""])), r"files row 1 is 'a\.png', expected ''"),
    (_set("files", np.array(["", ""])), r"files must be an array of text of shape 3"),
    (_edit("ratings", lambda r: r.__setitem__((3, 8), 0)), r"indices 8 have no answer|n_answers row 2 is 1, but image 8 has 0"),
]


@pytest.mark.parametrize(("mutate", "expected"), BAD_FILES)
def test_every_key_is_checked(tmp_path, mutate, expected):
    arrays = simple_arrays()
    mutate(arrays)
    path = write_npz(tmp_path / "softlabels.npz", arrays)
    if expected is None:
        read_soft_label_file(path)
        return
    with pytest.raises(DataError) as err:
        read_soft_label_file(path)
    message = one_line(err)
    assert message.startswith(f"{path}:") or message.startswith(f"{path} "), message
    assert re.search(expected, message), message


def test_answers_of_an_image_without_a_row_are_refused(tmp_path):
    arrays = simple_arrays()
    for key in ("indices", "files", "soft_labels", "mean_ratings", "n_answers", "true_labels"):
        arrays[key] = arrays[key][:2]
    with pytest.raises(DataError, match=r"answers rate images 8, which have no row"):
        read_soft_label_file(write_npz(tmp_path / "s.npz", arrays))


def test_folder_files_must_name_each_image_once(tmp_path):
    folder = dict(dataset="image-folder", split="all", folder="/photos")
    path = write_npz(tmp_path / "ok.npz", simple_arrays(**folder, files={3: "a.png", 5: "b.png", 8: "c/d.png"}))
    assert read_soft_label_file(path).files == ("a.png", "b.png", "c/d.png")
    with pytest.raises(DataError, match=r"files row 1 is empty, expected the image's path"):
        read_soft_label_file(write_npz(tmp_path / "e.npz", simple_arrays(**folder, files={3: "a.png", 8: "c.png"})))
    with pytest.raises(DataError, match=r"files rows 0 and 2 both name 'a.png'"):
        read_soft_label_file(write_npz(tmp_path / "d.npz", simple_arrays(**folder, files={3: "a.png", 5: "b.png", 8: "a.png"})))
    with pytest.raises(DataError, match=r"split 'train' with dataset 'image-folder'"):
        read_soft_label_file(write_npz(tmp_path / "s.npz", simple_arrays(dataset="image-folder", split="train", files={3: "a", 5: "b", 8: "c"})))


def _not_npz_files(tmp_path: Path) -> dict[str, Path]:
    files = {"missing": tmp_path / "nothing.npz", "folder": tmp_path / "dir.npz"}
    files["folder"].mkdir()
    (files.setdefault("text", tmp_path / "text.npz")).write_text("indices,soft_labels\n1,0.5\n")
    (files.setdefault("empty", tmp_path / "empty.npz")).write_bytes(b"")
    (files.setdefault("pickle", tmp_path / "pickle.npz")).write_bytes(pickle.dumps(simple_arrays()))
    np.save(tmp_path / "array.npy", np.arange(3))
    files["npy"] = (tmp_path / "array.npy").rename(tmp_path / "array.npz")
    with zipfile.ZipFile(files.setdefault("zip", tmp_path / "zip.npz"), "w") as archive:
        archive.writestr("readme.txt", "hello")
    good = write_npz(tmp_path / "good.npz", simple_arrays()).read_bytes()
    (files.setdefault("truncated", tmp_path / "truncated.npz")).write_bytes(good[: len(good) // 2])
    flipped = bytearray(good)
    flipped[good.index("labelrobust".encode("utf-32-le"))] ^= 0xFF  # in the format member's data: a CRC error
    (files.setdefault("flipped", tmp_path / "flipped.npz")).write_bytes(bytes(flipped))
    np.savez(files.setdefault("objects", tmp_path / "objects.npz"), **{**simple_arrays(), "files": np.array([{"x": 1}] * 3, dtype=object)})
    return files


@pytest.mark.parametrize("kind", ["missing", "folder", "text", "empty", "pickle", "npy", "zip", "truncated", "flipped", "objects"])
def test_a_file_that_is_not_an_export_is_one_line(tmp_path, kind):
    path = _not_npz_files(tmp_path)[kind]
    with pytest.raises(DataError) as err:
        read_soft_label_file(path)
    message = one_line(err)
    assert str(path) in message
    if kind == "pickle":
        assert "pickle" in message and "never loaded" in message


def test_a_pickle_is_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps({"format": "labelrobust-soft-labels"}))
    with pytest.raises(DataError, match="is a pickle"):
        read_soft_label_file(path)


# -- property: valid files round-trip, one corrupted field is refused ------------------------

answers = st.integers(2, 5).flatmap(lambda k: st.tuples(
    st.just(k),
    st.lists(st.tuples(st.lists(st.integers(0, 4), min_size=k, max_size=k), st.integers(0, 12), st.integers(0, 3)), min_size=1, max_size=25),
))

CORRUPTIONS = ["rating", "annotator", "sum", "count", "true", "order", "columns", "version", "negative"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers, st.sampled_from(CORRUPTIONS))
def test_random_valid_files_round_trip_and_one_corruption_is_refused(tmp_path, drawn, corruption):
    k, rows = drawn
    names = tuple(f"class{i}" for i in range(k))
    ratings = np.array([r for r, _, _ in rows]).reshape(-1, k)
    arrays = soft_label_arrays(ratings, [i for _, i, _ in rows], [a for _, _, a in rows], class_names=names)
    path = write_npz(tmp_path / "valid.npz", arrays)
    data = read_soft_label_file(path)
    for key in ("ratings", "answer_index", "answer_annotator", "answer_time", "indices", "soft_labels", "mean_ratings", "n_answers", "true_labels"):
        np.testing.assert_array_equal(getattr(data, key), arrays[key])
    assert data.class_names == names and list(data.annotators) == arrays["annotators"].tolist()
    n = len(arrays["indices"])
    if corruption in ("sum", "count", "true", "columns") and n == 0 or corruption == "order" and n < 2:
        return  # nothing per image to corrupt
    bad = {key: value.copy() for key, value in arrays.items()}
    if corruption == "rating":
        bad["ratings"][0, 0] = 5
    elif corruption == "annotator":
        bad["answer_annotator"][-1] = len(bad["annotators"])
    elif corruption == "sum":
        bad["soft_labels"][0] *= 0.5
    elif corruption == "count":
        bad["n_answers"][-1] += 1
    elif corruption == "true":
        bad["true_labels"][0] = k
    elif corruption == "order":
        bad["indices"] = bad["indices"][::-1].copy()
    elif corruption == "columns":
        bad["soft_labels"] = np.hstack([bad["soft_labels"], np.zeros((n, 1), dtype=np.float32)])
    elif corruption == "version":
        bad["format_version"] = np.array(0)
    elif corruption == "negative":
        bad["answer_index"][0] = -1
    with pytest.raises(DataError):
        read_soft_label_file(write_npz(tmp_path / "corrupt.npz", bad))


# -- attaching to real CIFAR-10 --------------------------------------------------------------


@pytest.fixture(scope="module")
def cifar(data_root):
    return load_dataset("cifar10", root=data_root)


PICKED = [int(i) for i in np.linspace(7, 9_000, 30).round()]


def cifar_file(tmp_path: Path, cifar, *, split="train", indices=PICKED, shift=0, **kw) -> Path:
    """A file of one answer per image of ``indices``, rating its CIFAR class 4 and the next one 1;
    ``shift`` records the true labels of images ``shift`` places later (a misaligned file)."""
    images = getattr(cifar, split) or cifar.train  # cifar10 has no val split: label as train
    labels = images.labels[torch.as_tensor(indices)].numpy()
    ratings = np.zeros((len(indices), 10), dtype=np.int16)
    ratings[np.arange(len(indices)), labels] = 4
    ratings[np.arange(len(indices)), (labels + 1) % 10] = 1
    true = {i: int(images.labels[i + shift]) for i in indices}
    return write_npz(tmp_path / "softlabels.npz", soft_label_arrays(ratings, indices, split=split, true=true, **kw))


def test_attach_cuts_the_split_to_the_labelled_images(tmp_path, cifar):
    path = cifar_file(tmp_path, cifar)
    out = attach_soft_labels(cifar, read_soft_label_file(path), "softlabels.npz")
    assert out.train.source_index.tolist() == PICKED
    assert torch.equal(out.train.images, cifar.train.images[PICKED]) and torch.equal(out.train.labels, cifar.train.labels[PICKED])
    np.testing.assert_allclose(out.train.soft_labels[torch.arange(30), out.train.labels].numpy(), 0.8, rtol=1e-6)
    assert out.test is cifar.test and out.has_soft_labels
    entry = out.report["soft_labels"]
    assert entry["file"] == "softlabels.npz" and entry["images_labelled"] == 30 and entry["images_dropped"] == len(cifar.train) - 30
    assert entry["answers"] == 30 and entry["annotators"] == 1 and entry["split"] == "train"


def test_attach_to_the_test_split_leaves_train_alone(tmp_path, cifar):
    path = cifar_file(tmp_path, cifar, split="test", indices=[0, 1, 2, 500])
    out = attach_soft_labels(cifar, read_soft_label_file(path), str(path))
    assert out.test.source_index.tolist() == [0, 1, 2, 500] and out.train is cifar.train


@pytest.mark.parametrize(("change", "expected"), [
    (dict(dataset="softcifar10"), r"holds soft labels of dataset 'softcifar10', not of 'cifar10'"),
    (dict(class_names=CIFAR[:9] + ("lorry",)), r"only in the file: \['lorry'\]; only in cifar10's: \['truck'\]"),
    (dict(class_names=CIFAR[1::-1] + CIFAR[2:]), r"same names in another order \(position 0: 'automobile' in the file, 'airplane' in cifar10's\)"),
    (dict(split="val"), r"split 'val' is not a split of cifar10 \(it has train, test\)"),
    (dict(shift=1), r"^softlabels.npz: 2\d of 30 images have a true label other than cifar10's \(indices 7, \d+, .*the file does not belong to this data$"),
])
def test_attach_refuses_a_file_of_other_data(tmp_path, cifar, change, expected):
    path = cifar_file(tmp_path, cifar, **change)
    with pytest.raises(DataError) as err:
        attach_soft_labels(cifar, read_soft_label_file(path), "softlabels.npz")
    assert re.search(expected, one_line(err)), one_line(err)


def test_attach_refuses_indices_outside_the_split(tmp_path, cifar):
    ratings = np.zeros((3, 10), dtype=np.int16)
    ratings[:, 0] = 3
    path = write_npz(tmp_path / "softlabels.npz", soft_label_arrays(ratings, [5, 20_000, 30_000]))
    with pytest.raises(DataError, match=r"^softlabels.npz: 2 of the file's 3 indices are not images of cifar10 train \(first: 20000, 30000\)$"):
        attach_soft_labels(cifar, read_soft_label_file(path), "softlabels.npz")


def test_attach_refuses_a_file_without_images_and_an_image_folder(tmp_path, cifar):
    empty = write_npz(tmp_path / "zero.npz", soft_label_arrays(np.zeros((2, 10)), [1, 2]))
    assert read_soft_label_file(empty).num_images == 0  # a valid file: every answer said "none"
    with pytest.raises(DataError, match="labels no image"):
        attach_soft_labels(cifar, read_soft_label_file(empty), "zero.npz")
    folder = write_npz(tmp_path / "f.npz", soft_label_arrays(np.eye(2, dtype=int), [0, 1], class_names=("a", "b"), dataset="image-folder", split="all", files={0: "x.png", 1: "y.png"}))
    with pytest.raises(DataError, match="holds soft labels of dataset 'image-folder', not of 'cifar10'"):
        attach_soft_labels(cifar, read_soft_label_file(folder), "f.npz")


# -- the generic dataset option ---------------------------------------------------------------


def test_every_dataset_lists_the_option():
    for name in ("digits", "cifar10", "toy3", "image-folder"):
        assert "soft_labels" in dataset_options(name)
    with pytest.raises(ConfigError, match=r"unknown option 'soft_label' for dataset 'digits'; accepted options: soft_labels=None"):
        load_dataset("digits", options={"soft_label": "x.npz"})


def test_load_dataset_attaches_before_the_cuts(tmp_path, monkeypatch, data_root, cifar):
    cifar_file(tmp_path, cifar)
    monkeypatch.chdir(tmp_path)  # the option is a path relative to the current directory
    data = load_dataset("cifar10", root=data_root, train_size=20, test_size=50, options={"soft_labels": "softlabels.npz"})
    assert len(data.train) == 20 and set(data.train.source_index.tolist()) <= set(PICKED) and data.has_soft_labels
    assert data.report["soft_labels"]["images_labelled"] == 30 and data.report["cut"]["options"] == {"soft_labels": "softlabels.npz"}
    assert data.report["sizes"] == {"train": 20, "test": 50}
    picked = load_dataset("cifar10", root=data_root, classes=["cat", "dog", "bird"], options={"soft_labels": "softlabels.npz"})
    assert set(picked.train.source_index.tolist()) <= set(PICKED) and len(picked.test) == 3_000


def test_a_bad_option_value_fails_before_the_loader(tmp_path, monkeypatch):
    def slow_loader(root, download):
        pytest.fail("the loader ran before the soft-label file was checked")

    monkeypatch.setitem(DATASETS._items, "slow", slow_loader)
    with pytest.raises(ConfigError, match=r"option soft_labels of dataset 'slow' must be the path of a soft-label \.npz file, got \['a'\]"):
        load_dataset("slow", options={"soft_labels": ["a"]})
    with pytest.raises(DataError, match=r"nothing\.npz: soft-label file does not exist"):
        load_dataset("slow", options={"soft_labels": str(tmp_path / "nothing.npz")})


@pytest.mark.parametrize("key", KEYS)
def test_every_key_is_required(tmp_path, key):
    arrays = simple_arrays()
    del arrays[key]
    with pytest.raises(DataError, match=rf"missing key {key}; not a labelrobust-soft-labels file"):
        read_soft_label_file(write_npz(tmp_path / "s.npz", arrays))


# -- end to end: labelrobust train on the 30 labelled CIFAR-10 images ---------------------------

TRAIN = ["--model", "fc", "--model-option", "hidden=8", "--model-option", "depth=1", "--epochs", "1", "--batch-size", "16", "--quiet", "--device", "cpu"]


def test_train_on_soft_labels_from_a_file(tmp_path, data_root, cifar, capsys):
    path = cifar_file(tmp_path, cifar)
    argv = ["train", "--dataset", "cifar10", "--data-root", str(data_root), "--data-option", f"soft_labels={path}",
            "--label-space", "soft", "--train-size", "30", "--test-size", "20", *TRAIN, "--out", str(tmp_path / "runs"), "--name", "soft"]
    assert main(argv) == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "soft"
    report = json.loads((run / "dataset_report.json").read_text())
    assert report["sizes"]["train"] == 30 and report["soft_labels"]["images_labelled"] == 30
    exp = load_run(run)
    assert exp.dataset.train.source_index.tolist() == PICKED
    assert torch.equal(exp.dataset.train.soft_labels, torch.from_numpy(read_soft_label_file(path).soft_labels.copy()))


def test_soft_label_space_without_the_file_is_refused_as_before(tmp_path, data_root, capsys):
    argv = ["train", "--dataset", "cifar10", "--data-root", str(data_root), "--label-space", "soft", "--train-size", "30", *TRAIN, "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "label space 'soft' trains on per-sample soft labels, but dataset 'cifar10' has none" in err.strip().splitlines()[-1]


@pytest.mark.parametrize("kind", ["missing", "pickle", "text"])
def test_train_with_a_bad_file_is_one_error_line(tmp_path, data_root, capsys, kind):
    from tests.cli.test_bad_inputs import error_line, run_main

    path = _not_npz_files(tmp_path)[kind]
    argv = ["train", "--dataset", "cifar10", "--data-root", str(data_root), "--data-option", f"soft_labels={path}",
            "--label-space", "soft", *TRAIN, "--out", str(tmp_path / "runs")]
    line = error_line(capsys, run_main(argv))
    assert str(path) in line
