"""Prediction entropy: its range and edge cases, per-class histograms of real runs on shared
bins (counts add up to n per run), the adversarial variant and the report files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from labelrobust.analysis import entropy_histograms, prediction_entropy, write_entropy_report
from labelrobust.errors import ConfigError
from tests.analysis import analysis_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return analysis_runs(tmp_path_factory)


def test_entropy_of_uniform_one_hot_and_normalised_predictions():
    p = torch.tensor([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    h = prediction_entropy(p)
    assert h.dtype == torch.float64 and not torch.isnan(h).any()
    np.testing.assert_allclose(h.numpy(), [math.log(4), 0.0, math.log(2)], atol=1e-12)
    np.testing.assert_allclose(prediction_entropy(p, normalise=True).numpy(), [1.0, 0.0, 0.5], atol=1e-12)


def test_histograms_of_real_runs(runs):
    result = entropy_histograms([runs["standard"], runs["pgd"]], bins=10)
    assert result.runs == ["standard", "pgd"] and result.counts.shape == (2, 10, 10)
    assert result.edges[0] == 0.0 and result.edges[-1] == pytest.approx(math.log(10))
    for r, run in enumerate(result.runs):
        h, y = result.entropies[run], result.labels[run]
        assert len(h) == 100 and (h >= 0).all() and (h <= math.log(10)).all()
        assert result.counts[r].sum() == 100
        np.testing.assert_array_equal(result.counts[r].sum(axis=1), np.bincount(y, minlength=10))
    rows = {(row["class"], row["run"]): row for row in result.per_class()}
    h, y = result.entropies["pgd"], result.labels["pgd"]
    assert rows["3", "pgd"]["mean_entropy"] == pytest.approx(h[y == 3].mean())
    assert rows["all", "pgd"]["n"] == 100


def test_adversarial_normalised_entropy_and_report(runs, tmp_path):
    result = entropy_histograms([runs["codes"]], eps=0.1, steps=2, normalise=True, n=40, bins=5)
    h = result.entropies["codes"]
    assert len(h) == 40 and (h >= 0).all() and (h <= 1).all() and result.unit == "H / log K"
    assert result.counts.sum() == 40 and result.settings["eps"] == 0.1
    written = {p.name for p in write_entropy_report(result, tmp_path / "entropy")}
    assert written == {"entropy-per-class.csv", "entropy-histograms.csv", "entropy.md", "entropy-histograms.png", "summary.json"}
    lines = (tmp_path / "entropy" / "entropy-histograms.csv").read_text().splitlines()
    assert lines[0] == "run,class,bin_low,bin_high,count" and len(lines) == 1 + 10 * 5


def test_refusals(runs):
    with pytest.raises(ConfigError, match="not on the same classes"):
        entropy_histograms([runs["standard"], runs["three"]])
    with pytest.raises(ConfigError, match="bins must be a positive integer"):
        entropy_histograms([runs["standard"]], bins=0)
    with pytest.raises(ConfigError, match="eps must be a number"):
        entropy_histograms([runs["standard"]], eps="big")
