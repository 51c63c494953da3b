"""``labelrobust reproduce wpgd --scale ci`` end to end on real MNIST, the toy and the MNIST
imbalance pairs: every table complete, numbers in range and consistent with each other, the
weighted score recomputed from scratch, claims with valid verdicts, a self-contained report, a
rerun that reuses every run, the paper configs built by a dry run, and the error paths."""

from __future__ import annotations

import json
import math
import re
import time

import numpy as np
import pytest

from labelrobust.cli.main import main
from labelrobust.errors import ConfigError, OutputError
from labelrobust.label_metrics import resolve_metric
from labelrobust.metrics.inference import first_samples, model_outputs
from labelrobust.reproduce.claims import NOT_TESTABLE, VERDICTS
from labelrobust.reproduce.studies.wpgd import MODELS, POWERS, WpgdStudy
from labelrobust.reproduce.study import MARKER, dry_run, reproduce
from labelrobust.runs import load_run

CI = WpgdStudy.scales["ci"]
PART = CI.parts[0]


@pytest.fixture(scope="module")
def first(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("wpgd-ci")
    started = time.perf_counter()
    report, written = reproduce("wpgd", "ci", out, data_root=str(data_root))
    return out, report, written, time.perf_counter() - started


def _table(report, title_start):
    found = [t for s in report.sections for t in s.tables if t.title.startswith(title_start)]
    assert len(found) == 1, title_start
    return found[0]


def _cells(table):
    return [dict(zip(table.columns, row)) for row in table.rows]


def test_every_table_holds_every_model_attack_and_eps(first):
    _, report, _, _ = first
    robust = _table(report, "Clean and robust accuracy — MNIST")
    assert [r[0] for r in robust.rows] == list(MODELS)
    for eps in PART.curve_eps:
        assert {f"{a} @{eps}" for a in ("PGD-20", "PGD-20 margin", "APGD-CE", "worst case")} <= set(robust.columns)
    assert f"AutoAttack @{PART.eps}" in robust.columns
    gap = _table(report, "Accuracy gap vs label metric — MNIST")
    assert [r[0] for r in gap.rows] == [f"{m} vs standard" for m in MODELS[1:]] and {r[4] for r in gap.rows} == {90}
    assert gap.rows[0][5] == -0.88 and all(r[5] is None for r in gap.rows[1:])  # the study's number next to its PGD row
    score = _table(report, "Weighted robustness score — MNIST")
    assert [(r[0], r[1]) for r in score.rows] == [(f"{p:g}", m) for p in POWERS for m in MODELS]
    assert [r[0] for r in _table(report, "Mistakes between similar classes — MNIST").rows] == list(MODELS)
    assert [r[0] for r in _table(report, "Prediction entropy on clean test images — MNIST").rows] == list(MODELS)
    toy = _table(report, "Toy: boundary displacement")
    assert [r[0] for r in toy.rows] == ["standard", "at-eps0.2", "wpgd-eps0.2-p1", "wpgd-eps0.2-p2.5", "wpgd-eps0.2-p10"]
    imbalance = _table(report, "Class imbalance")
    assert [(r[0], r[1], r[3]) for r in imbalance.rows] == [("3/5", "similar", "standard"), ("3/5", "similar", "PGD-AT"),
                                                            ("0/7", "dissimilar", "standard"), ("0/7", "dissimilar", "PGD-AT")]
    masking = _table(report, "Gradient-masking checks — MNIST")
    assert {r[0] for r in masking.rows} >= set(MODELS) and {r[2] for r in masking.rows} <= {"ok", "FLAG", "n/a"}


def test_rates_are_rates_and_the_worst_case_is_never_above_an_attack(first):
    _, report, _, _ = first
    for title in ("Clean and robust accuracy", "Mistakes between similar", "Toy: boundary", "Class imbalance", "Weighted robustness"):
        table = _table(report, title)
        for row in _cells(table):
            assert all(row[c] is None or 0 <= row[c] <= 1 for c in table.percent), (title, row)
    for row in _cells(_table(report, "Clean and robust accuracy")):
        for eps in PART.curve_eps:
            worst = row[f"worst case @{eps}"]
            assert worst <= min(row[f"{a} @{eps}"] for a in ("PGD-20", "PGD-20 margin", "APGD-CE")) <= row["clean"]
        assert row[f"worst incl. AA @{PART.eps}"] <= row[f"worst case @{PART.eps}"]
        small, large = PART.curve_eps
        assert row[f"worst case @{large}"] <= row[f"worst case @{small}"]  # nested balls
    for row in _table(report, "Accuracy gap").rows:
        assert -1 <= row[1] <= 1 and -1 <= row[2] <= 1 and 0 < row[3] <= 1
    for row in _table(report, "Prediction entropy").rows:
        assert 0 <= row[1] <= math.log(10) + 1e-9
    for row in _cells(_table(report, "Weighted robustness score")):
        assert row["S clean"] >= 0 and row["S (Wasserstein)"] >= 0
        if row["model"] == "PGD":  # the reference of the relative scores
            assert row["minus PGD's (W)"] == 0 and row["ratio to PGD's (W)"] == 1


def test_the_clean_weighted_score_matches_a_recomputation_from_the_model(first, data_root):
    """S = Σ_i Σ_j C_ij m_ij from scratch: the PGD run's own predictions on the first attacked
    test images, the linear-boundary metric of its training split, p = 1."""
    out, report, _, _ = first
    run_dir = next(out.joinpath("runs").glob("mnist-pgd-*"))
    exp = load_run(run_dir, device="cpu")
    images = first_samples(exp.dataset.test, PART.attack_n)
    pred = model_outputs(exp.model, images).argmax(dim=1)
    metric = resolve_metric("linear-boundary", exp.dataset.class_names, dataset=exp.dataset).matrix
    y = images.labels
    expected = sum(float(np.mean([metric[k, int(j)] for j in pred[y == k]])) for k in range(10))
    row = next(r for r in _cells(_table(report, "Weighted robustness score")) if r["p"] == "1" and r["model"] == "PGD")
    assert row["S clean"] == pytest.approx(expected, rel=1e-6)
    clean = next(r for r in _cells(_table(report, "Clean and robust accuracy")) if r["model"] == "PGD")["clean"]
    assert clean == pytest.approx(float((pred == y).float().mean()))


def test_the_imbalance_table_counts_the_minority_test_images(first, data_root):
    from labelrobust.data import load_dataset

    _, report, _, _ = first
    i = CI.imbalance
    for a, b, _, _ in (i.similar, i.dissimilar):
        test = load_dataset("mnist", root=str(data_root), classes=[a, b], test_size=i.test_size, seed=0).test
        rows = [r for r in _cells(_table(report, "Class imbalance")) if r["pair"] == f"{a}/{b}"]
        assert {r["minority n"] for r in rows} == {int((test.labels == 1).sum())}


def test_claims_have_valid_verdicts_and_cite_their_rows(first):
    _, report, _, _ = first
    assert len(report.claims) >= 15
    for claim in report.claims:
        assert claim.verdict in VERDICTS and claim.evidence
    by_start = lambda start: [c for c in report.claims if c.claim.startswith(start)]  # noqa: E731
    assert [c.verdict for c in by_start("The correlation is -0.88 on MNIST")] == [NOT_TESTABLE]  # a tiny CNN is not the study's WRN
    untested = by_start("The accuracy gap correlates negatively with the WordNet metric")
    assert len(untested) == 3 and {c.verdict for c in untested} == {NOT_TESTABLE}  # CIFAR-10/100, Tiny-ImageNet: not at ci
    for claim in by_start("WPGD lowers the weighted robustness score"):
        assert all(f"p={p:g}:" in claim.evidence for p in POWERS)
    entropy = by_start("Robust models predict with higher entropy")[0]
    assert all(m in entropy.evidence for m in MODELS[1:])
    assert all("eps 0.2" in c.evidence for c in by_start("On the toy"))
    assert "3/5" in by_start("Under class imbalance")[0].evidence
    assert "Mantel p" in by_start("The accuracy gap of PGD training correlates negatively")[0].evidence


def test_the_report_is_self_contained(first):
    out, report, written, _ = first
    assert [p.name for p in written] == ["report.md", "report.html", "report.json"]
    html = (out / "report.html").read_text()
    figures = [f for s in report.sections for f in s.figures]
    assert len(figures) == 6  # robust accuracy, gap, score, entropy; the toy; imbalance
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', html)) == len(figures)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    data = json.loads((out / "report.json").read_text())
    assert data["study"] == "wpgd" and data["scale"] == "ci" and data["provenance"]["device"] == "cpu"
    assert all((out / f["path"]).is_file() for s in data["sections"] for f in s["figures"])
    assert "Claims" in (out / "report.md").read_text()


def test_a_rerun_reuses_every_run_and_every_attack(first, data_root):
    out, report, _, seconds = first
    assert len(report.runs) == 5 + 5 + 4 and {r["status"] for r in report.runs} == {"trained"}
    started = time.perf_counter()
    again, _ = reproduce("wpgd", "ci", out, data_root=str(data_root))
    assert [r["run"] for r in again.runs] == [r["run"] for r in report.runs]
    assert {r["status"] for r in again.runs} == {"reused"}
    assert time.perf_counter() - started < seconds / 2
    assert [c.evidence for c in again.claims] == [c.evidence for c in report.claims]  # the same numbers


def test_the_command_line_dry_run_builds_every_paper_config(tmp_path, data_root, capsys):
    out = tmp_path / "paper"
    assert main(["reproduce", "wpgd", "--scale", "paper", "--dry-run", "--out", str(out), "--data-root", str(data_root)]) == 0
    printed = capsys.readouterr().out
    assert "wrn-28-10" in printed and "missing: cifar100" in printed
    records = json.loads((out / "configs" / "dry-run.json").read_text())["runs"]
    assert len(records) == 4 * 5 + 9 + 4 == len(list((out / "configs").glob("*.yaml")))
    for r in records:
        assert r["model_parameters"] is not None, r["run"]  # built even where the data is missing
        if r["run"].startswith(("mnist", "cifar", "tiny")):
            assert r["model_parameters"] > 10_000_000  # a WRN
    found = {r["run"]: r for r in records}
    assert found["cifar100-pgd"]["data"].startswith("missing:") and found["tiny-imagenet-wpgd-p10"]["data"].startswith("missing:")
    wpgd = found["cifar10-wpgd-p10"]["config"]
    assert wpgd["method"]["name"] == "wpgd" and wpgd["method"]["params"]["cost"] == "wordnet" and wpgd["method"]["params"]["steps"] == 8
    assert wpgd["optim"]["nesterov"] and wpgd["batch_size"] == 128 and wpgd["model"]["name"] == "wrn-28-10"
    assert found["imbalance-cat-dog-at"]["data"].endswith("test images")


def test_a_dry_run_without_data_still_builds_the_models(tmp_path):
    records = dry_run("wpgd", "ci", tmp_path / "ci", data_root=str(tmp_path / "empty"))
    mnist = [r for r in records if r["run"].startswith(("mnist", "imbalance"))]
    assert len(mnist) == 9 and all(r["data"].startswith("missing: mnist") and r["model_parameters"] > 0 for r in mnist)


def test_an_unknown_scale_and_another_studys_folder_are_refused(tmp_path, data_root, capsys):
    with pytest.raises(ConfigError, match="unknown scale 'huge'; known: ci, small, paper"):
        reproduce("wpgd", "huge", tmp_path / "x", data_root=str(data_root))
    other = tmp_path / "other"
    other.mkdir()
    (other / MARKER).write_text(json.dumps({"study": "softlabel", "scale": "ci"}))
    with pytest.raises(OutputError, match="holds the reproduction of 'softlabel' at scale 'ci', not 'wpgd'"):
        reproduce("wpgd", "ci", other, data_root=str(data_root))
    assert main(["reproduce", "wpgd", "--scale", "ci", "--out", str(other), "--data-root", str(data_root)]) == 2
    assert "holds the reproduction of 'softlabel'" in capsys.readouterr().err
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds files but no reproduction.json"):
        reproduce("wpgd", "ci", tmp_path / "files", data_root=str(data_root))
    assert sorted(p.name for p in other.iterdir()) == [MARKER]  # nothing was written into it
