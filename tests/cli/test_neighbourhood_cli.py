"""``labelrobust neighbourhood``: a real tiny DOUBLE-MNIST run end to end (table, per-sample
JSON, heat maps, resuming, the side-by-side figure), and every bad input refused in one line
before any verifier call."""

from __future__ import annotations

import json
import shutil
import struct

import pytest
import torch

from labelrobust.cli.main import main
from labelrobust.verify.heatmaps import figure_pixels
from labelrobust.verify.verdict import ROBUST
from tests.cli.test_bad_inputs import error_line, run_main

FAST = ["--timeout", "2", "--max-calls", "4", "--tolerance", "0.05", "--attack-steps", "5", "--attack-restarts", "1", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_root):
    """A multilabel-cnn (channels 2, 4) trained 1 epoch on 300 DOUBLE-MNIST samples, and a
    digits run (a data set without object masks)."""
    out = tmp_path_factory.mktemp("neighbourhood-runs")
    common = ["--epochs", "1", "--batch-size", "32", "--out", str(out), "--quiet"]
    double = ["--dataset", "double-mnist", "--data-root", str(data_root), "--data-option", "n_train=300", "--data-option", "n_test=10",
              "--labels.name", "multilabel", "--model.name", "multilabel-cnn", "--model-option", "channels=[2,4]"]
    assert main(["train", *double, *common, "--name", "double"]) == 0
    assert main(["train", "--dataset", "digits", "--train-size", "100", "--test-size", "20", "--model-option", "width=8", *common, "--name", "digits"]) == 0
    return out


def _png_size(path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_neighbourhood_of_a_real_run_resumes_and_compares(runs, capsys, tmp_path):
    from labelrobust.runs import load_run
    from labelrobust.verify.input_sets import layered_neighbourhood
    from labelrobust.verify.pipeline import VerifyConfig, make_query, verify_query
    from labelrobust.verify.properties import top2_property

    run = runs / "double"
    assert run_main(["neighbourhood", str(run), "--n", "1", "--layers", "1", *FAST]) == 0
    printed = capsys.readouterr().out
    assert "search" in printed and "binary" in printed and "weighted_size" in printed
    folder = run / "neighbourhood" / "top2-r1-w1_0.5-fixed"
    assert {p.name for p in folder.iterdir()} >= {"settings.json", "summary.json", "heatmaps.png", "samples"}
    assert _png_size(folder / "heatmaps.png") == figure_pixels(1, 2, 28, 56)
    exp = load_run(run)
    for method in ("search", "binary"):
        record = json.loads((folder / "samples" / f"0.{method}.json").read_text())
        assert record["calls"] <= 4 and len(record["eps"]) == 2 and record["calls"] == len(record["probes"])
        if record["status"] == ROBUST:  # the reported ε is certified by a complete verifier call
            x = exp.dataset.test.float_images(torch.tensor([0]))[0]
            box = layered_neighbourhood(x, exp.dataset.test.object_masks[0, 1], record["eps"])
            prop = top2_property(record["target"], 10, exp.dataset.test.label_sets[0])
            assert verify_query(make_query(exp.model, box, prop), VerifyConfig(timeout=30)).status == ROBUST
    saved = (folder / "samples" / "0.search.json").stat().st_mtime_ns
    assert run_main(["neighbourhood", str(run), "--n", "1", "--layers", "1", *FAST]) == 0
    assert capsys.readouterr().out == printed, "a second call resumes from the saved results"
    assert (folder / "samples" / "0.search.json").stat().st_mtime_ns == saved
    shutil.copytree(run, runs / "double-copy")
    out = tmp_path / "side-by-side"
    assert run_main(["neighbourhood", str(run), str(runs / "double-copy"), "--n", "1", "--layers", "1", *FAST, "--out", str(out)]) == 0
    assert _png_size(out / "heatmaps-search.png") == figure_pixels(1, 2, 28, 56)
    assert set(json.loads((out / "summary.json").read_text())["runs"]) == {"double (standard)", "double-copy (standard)"}
    code = run_main(["neighbourhood", str(run), "--n", "1", "--layers", "1", *FAST, "--tolerance", "0.1"])
    assert "holds neighbourhood results of other settings (search.tolerance differ); pass --force" in error_line(capsys, code)


BAD = [
    (["--layer-weights", "1,0.5"], "layer weights: got 2 weights for 4 layers"),
    (["--layer-weights", "1,-1,0.5,0.2"], "layer weight w_1 must be a finite number ≥ 0, got -1.0"),
    (["--layer-weights", "1,x,0,0"], "--layer-weights: 'x' is not a number"),
    (["--layer-weights", "0,0,0,0"], "layer weights are all 0"),
    (["--start-eps", "0.1,0.1"], "start ε: got 2 radii for 4 layers"),
    (["--start-eps", "0.1,0,0,-0.2"], "start ε_3 must be a finite number ≥ 0"),
    (["--layers", "200"], "--layers 200: test sample 0 has only layers 0.."),
    (["--layers", "-1"], "--layers must be an integer ≥ 0, got '-1'"),
    (["--perturbed-object", "5"], "perturbed object 5 does not exist: samples hold 2 objects"),
    (["--tolerance", "0"], "neighbourhood: tolerance must be a finite number > 0"),
    (["--n", "0"], "--n must be a positive integer"),
]


@pytest.mark.parametrize(("flags", "message"), BAD, ids=[" ".join(f) for f, _ in BAD])
def test_bad_input_is_one_line_before_any_solving(runs, capsys, flags, message):
    code = run_main(["neighbourhood", str(runs / "double"), *FAST, *flags])
    assert message in error_line(capsys, code)
    folders = (runs / "double" / "neighbourhood").glob("*")
    assert [f.name for f in folders if "-r1-" not in f.name] == [], "no results folder for refused settings"


def test_a_run_without_object_masks_is_refused(runs, capsys):
    code = run_main(["neighbourhood", str(runs / "digits"), *FAST])
    assert "data set 'digits' keeps no object masks" in error_line(capsys, code)
    assert not (runs / "digits" / "neighbourhood").exists()


def test_an_empty_object_mask_is_refused(runs, capsys, monkeypatch):
    import labelrobust.verify.neighbourhood_runs as runs_module

    monkeypatch.setattr(runs_module, "object_mask", lambda images, i, obj: torch.zeros(28, 56, dtype=torch.bool))
    code = run_main(["neighbourhood", str(runs / "double"), "--layers", "2", *FAST])
    assert "test sample 0: the mask of object 1 is empty" in error_line(capsys, code)
    assert not (runs / "double" / "neighbourhood" / "top2-r2-w1_0.666667_0.333333-fixed").exists()
