"""``labelrobust analyze``: every analysis writes its files from the command line, the toy and
imbalance studies get their options passed through, and every bad input is one error line."""

from __future__ import annotations

import numpy as np
import pytest

from labelrobust.cli.main import main
from labelrobust.label_metrics import LabelMetric, write_metric_csv
from tests.analysis import analysis_runs, random_metric
from tests.cli.test_bad_inputs import error_line, run_main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    found = analysis_runs(tmp_path_factory)
    folder = tmp_path_factory.mktemp("analyze-cli-metric")
    np.save(folder / "metric.npy", random_metric().matrix)
    write_metric_csv(folder / "other-names.csv", LabelMetric(random_metric().matrix, tuple(f"c{i}" for i in range(10)), "renamed"))
    np.save(folder / "small.npy", random_metric(3).matrix)
    return {name: str(path) for name, path in found.items()} | {"metric": str(folder / "metric.npy"), "other-names": str(folder / "other-names.csv"), "small": str(folder / "small.npy")}


def test_gap_writes_its_files_and_prints_the_correlations(runs, tmp_path, capsys):
    code = main(["analyze", "gap", runs["pgd"], runs["standard"], "--metric", runs["metric"], "--out", str(tmp_path / "gap"), "--n", "60"])
    out = capsys.readouterr().out
    assert code == 0 and "pearson" in out and "spearman" in out and "written:" in out
    assert {"gap-pairs.csv", "gap-correlation.csv", "gap.md", "gap.png", "summary.json"} <= {p.name for p in (tmp_path / "gap").iterdir()}


def test_score_writes_its_files(runs, tmp_path, capsys):
    argv = ["analyze", "score", runs["standard"], "--metric", runs["metric"], "--power", "2.5", "--eps", "0.1", "--steps", "2",
            "--reference", runs["pgd"], "--n", "40", "--out", str(tmp_path / "score"), "--seed", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "wasserstein" in out and "pgd-loss" in out and "p = 2.5" in out
    assert {"scores.csv", "scores.md", "scores.png", "summary.json", "confusion-pgd-wasserstein.csv"} <= {p.name for p in (tmp_path / "score").iterdir()}


def test_entropy_and_embedding_write_their_files(runs, tmp_path, capsys):
    assert main(["analyze", "entropy", runs["standard"], runs["pgd"], "--normalise", "--out", str(tmp_path / "entropy"), "--n", "40"]) == 0
    assert (tmp_path / "entropy" / "entropy-histograms.png").is_file() and (tmp_path / "entropy" / "entropy-per-class.csv").is_file()
    assert main(["analyze", "embedding", runs["standard"], runs["pgd"], "--n", "30", "--out", str(tmp_path / "embedding"), "-v"]) == 0
    assert {"embedding.csv", "embedding.png", "embedding.md", "summary.json"} <= {p.name for p in (tmp_path / "embedding").iterdir()}
    assert "feature_dim" in capsys.readouterr().out


def test_toy_and_imbalance_pass_their_options_through(monkeypatch, tmp_path, capsys):
    from labelrobust.analysis import imbalance, toy

    calls = {}
    monkeypatch.setattr(toy, "run_toy", lambda out, **kw: calls.setdefault("toy", (out, kw)) and tmp_path)
    monkeypatch.setattr(imbalance, "run_imbalance", lambda out, **kw: calls.setdefault("imbalance", (out, kw)) and tmp_path)
    assert main(["analyze", "toy", "--out", "T", "--eps", "0.1,1/10", "--powers", "1,2.5", "--epochs", "3", "--seed", "2", "--device", "cpu", "--force"]) == 0
    assert calls["toy"] == ("T", {"eps": (0.1, 0.1), "powers": (1.0, 2.5), "seed": 2, "epochs": 3, "device": "cpu", "force": True})
    assert main(["analyze", "imbalance", "--out", "I", "--dataset", "cifar10", "--pairs", "cat:dog,0:7", "--ratio", "0.3", "--epochs", "2",
                 "--eps", "8/255", "--model-option", "width=4", "--data-root", "D"]) == 0
    out, kw = calls["imbalance"]
    assert out == "I" and kw["pairs"] == [("cat", "dog"), (0, 7)] and kw["model_options"] == {"width": 4}
    assert kw["ratio"] == 0.3 and kw["eps"] == "8/255" and kw["data_root"] == "D" and kw["force"] is False and "seed" not in kw
    assert "imbalance-summary.csv" in capsys.readouterr().out


def test_bad_inputs_are_one_error_line(runs, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.csv").write_text("x\n")
    (tmp_path / "a-file").write_text("not a folder\n")
    std, pgd, metric = runs["standard"], runs["pgd"], runs["metric"]
    out = ["--out", str(tmp_path / "new")]
    cases = [
        (["analyze", "gap", std, str(tmp_path), "--metric", metric, *out], "is not a run directory"),
        (["analyze", "gap", std, runs["three"], "--metric", metric, *out], "not on the same classes"),
        (["analyze", "gap", std, pgd, "--metric", runs["small"], *out], "3×3 but the dataset has 10 classes"),
        (["analyze", "gap", std, pgd, "--metric", runs["other-names"], *out], "has no class"),
        (["analyze", "gap", std, pgd, "--metric", str(tmp_path / "missing.csv"), *out], "does not exist"),
        (["analyze", "gap", std, pgd, "--metric", metric, "--out", str(tmp_path / "full")], "already holds results; pass --force"),
        (["analyze", "gap", std, pgd, "--metric", metric, "--out", str(tmp_path / "a-file" / "sub")], "is a file, not a folder"),
        (["analyze", "gap", std, pgd, *out], "--metric"),
        (["analyze", "gap", std, pgd, "--metric", metric, "--n", "0", *out], "--n must be a positive integer"),
        (["analyze", "gap", std, pgd, "--metric", metric, "--device", "tpu", *out], "tpu"),
        (["analyze", "score", std, "--metric", metric, "--power", "0", "--eps", "0.1", *out], "--power must be a finite number > 0"),
        (["analyze", "score", std, "--metric", metric, "--power", "-1", "--eps", "0.1", *out], "--power must be a finite number > 0"),
        (["analyze", "score", std, "--metric", metric, "--power", "1", "--eps", "-0.1", *out], "eps must be a finite number ≥ 0"),
        (["analyze", "score", std, "--metric", metric, "--power", "1", "--eps", "0.1", "--lam", "x", *out], "--lam must be a number"),
        (["analyze", "entropy", std, "--bins", "0", *out], "--bins must be a positive integer"),
        (["analyze", "entropy", std, "--steps", "3", *out], "--steps only sets up the attack of --eps"),
        (["analyze", "embedding", std, pgd, "--n", "3", *out], "t-SNE needs at least 5 samples"),
        (["analyze", "toy", "--out", str(tmp_path / "toy"), "--eps", "a,b"], "--eps must be comma-separated numbers"),
        (["analyze", "imbalance", "--out", str(tmp_path / "imb"), "--pairs", "cat"], "is not a pair"),
        (["analyze", "nothing"], "invalid choice"),
    ]
    for argv, message in cases:
        line = error_line(capsys, run_main(argv))
        assert message in line, (argv, line)
