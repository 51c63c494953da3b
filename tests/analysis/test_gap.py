"""The accuracy gap G = |C_A − C_B| and its correlation with a label metric: a constructed case
with a known answer, real tiny runs, identical runs (undefined correlation) and the refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from labelrobust.analysis import accuracy_gap, gap_from_confusions, gap_matrix, row_normalised, write_gap_report
from labelrobust.analysis.accuracy_gap import GAP_FILES, off_diagonal
from labelrobust.errors import CheckpointError, ConfigError, OutputError
from labelrobust.label_metrics.metric import LabelMetric
from labelrobust.metrics.inference import model_outputs
from labelrobust.runs import load_run
from tests.analysis import analysis_runs, random_metric


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return analysis_runs(tmp_path_factory)


def test_constructed_confusions_give_the_known_gap_and_a_perfect_negative_correlation():
    metric = LabelMetric(np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], float), ("a", "b", "c"), "toy")
    perfect = np.eye(3)
    # off-diagonal of B: (4 − M_ij) / 10, so G_ij is a decreasing linear function of M_ij
    other = np.array([[0.5, 0.3, 0.2], [0.3, 0.6, 0.1], [0.2, 0.1, 0.7]])
    result = gap_from_confusions(perfect, other, metric)
    np.testing.assert_allclose(result.gap, np.abs(perfect - other))
    np.testing.assert_allclose(np.diagonal(result.gap), [0.5, 0.4, 0.3])  # |acc_A,i − acc_B,i|
    assert result.pearson.coefficient == pytest.approx(-1.0) and result.spearman.coefficient == pytest.approx(-1.0)
    assert result.pearson.n_pairs == 6 and result.pearson.note == ""
    assert [(p["class_i"], p["class_j"]) for p in result.pairs()] == [("a", "b"), ("a", "c"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "b")]


def test_row_normalisation_divides_each_true_class_by_its_count_abstentions_included():
    counts = np.array([[3, 1, 0], [0, 2, 2]])  # K = 2, last column: abstained
    np.testing.assert_allclose(row_normalised(counts, ("a", "b")), [[0.75, 0.25], [0.0, 0.5]])
    with pytest.raises(ConfigError, match="class 'b' has no sample"):
        row_normalised(np.array([[1, 0], [0, 0]]), ("a", "b"))
    with pytest.raises(ConfigError, match="must both be K×K"):
        gap_matrix(np.eye(2), np.eye(3))


def test_gap_of_real_runs_matches_its_definition_and_scipy(runs):
    metric = random_metric()
    result = accuracy_gap(runs["pgd"], runs["standard"], metric)
    assert result.gap.shape == (10, 10) and (result.gap >= 0).all()
    np.testing.assert_allclose(result.gap, np.abs(result.confusion_a - result.confusion_b))
    for confusion, name in ((result.confusion_a, "pgd"), (result.confusion_b, "standard")):
        exp = load_run(runs[name])
        pred = exp.space.decode(model_outputs(exp.model, exp.dataset.test))
        labels = exp.dataset.test.labels
        per_class = np.array([(pred[labels == k] == k).float().mean().item() for k in range(10)])
        np.testing.assert_allclose(np.diagonal(confusion), per_class, atol=1e-12)
    pairs = result.pairs()
    g, m = np.array([p["gap"] for p in pairs]), np.array([p["metric"] for p in pairs])
    np.testing.assert_array_equal(m, metric.off_diagonal())
    assert result.pearson.n_pairs == 90 and len(pairs) == 90
    assert result.pearson.coefficient == pytest.approx(stats.pearsonr(g, m).statistic)
    assert result.pearson.p_value == pytest.approx(stats.pearsonr(g, m).pvalue)
    assert result.spearman.coefficient == pytest.approx(stats.spearmanr(g, m).statistic)
    np.testing.assert_array_equal(off_diagonal(result.gap), g)


def test_identical_runs_have_zero_gap_and_an_undefined_correlation(runs):
    result = accuracy_gap(runs["standard"], runs["standard"], random_metric(), n=40)
    assert (result.gap == 0).all()
    for c in (result.pearson, result.spearman):
        assert math.isnan(c.coefficient) and math.isnan(c.p_value) and "undefined" in c.note
    assert result.labels == ("standard-1", "standard-2")


def test_report_files_and_the_output_folder_guard(runs, tmp_path):
    result = accuracy_gap(runs["pgd"], runs["standard"], random_metric(), n=40)
    written = write_gap_report(result, tmp_path / "gap")
    assert sorted(p.name for p in written) == sorted(GAP_FILES)
    assert (tmp_path / "gap" / "gap-pairs.csv").read_text().splitlines()[0] == "i,j,class_i,class_j,gap,metric"
    assert (tmp_path / "gap" / "gap.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(OutputError, match="already holds results; pass --force"):
        write_gap_report(result, tmp_path / "gap")
    write_gap_report(result, tmp_path / "gap", force=True)


def test_refusals(runs, tmp_path):
    with pytest.raises(ConfigError, match="not on the same classes"):
        accuracy_gap(runs["standard"], runs["three"], random_metric())
    with pytest.raises(CheckpointError, match="is not a run directory"):
        accuracy_gap(runs["standard"], tmp_path, random_metric())
    renamed = LabelMetric(random_metric().matrix, tuple(f"c{i}" for i in range(10)), "renamed")
    with pytest.raises(ConfigError, match="has no class"):
        accuracy_gap(runs["standard"], runs["pgd"], renamed)
    np.save(tmp_path / "small.npy", random_metric(3).matrix)
    with pytest.raises(ConfigError, match="3×3 but the dataset has 10 classes"):
        accuracy_gap(runs["standard"], runs["pgd"], str(tmp_path / "small.npy"))
    with pytest.raises(ConfigError, match="n must be a positive integer"):
        accuracy_gap(runs["standard"], runs["pgd"], random_metric(), n=0)
