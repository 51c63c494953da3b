"""The representation plot: penultimate features read by a hook on the last nn.Linear, t-SNE
coordinates (n × 2) that repeat with the seed, and a model without a linear layer refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from labelrobust.analysis import feature_embedding, penultimate_features, write_embedding_report
from labelrobust.data import ImageSet
from labelrobust.errors import ConfigError
from labelrobust.runs import load_run
from tests.analysis import analysis_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return analysis_runs(tmp_path_factory)


def test_features_are_the_input_of_the_last_linear_layer(runs):
    exp = load_run(runs["standard"])
    images = exp.dataset.test.subset(torch.arange(7))
    features, layer = penultimate_features(exp.model, images, batch_size=3)
    assert layer == "net.3" and features.shape == (7, 32)
    x = images.float_images()
    with torch.no_grad():
        expected = exp.model.net[:3]((x - exp.model.mean) / exp.model.std)
    torch.testing.assert_close(features, expected)


def test_embedding_shape_determinism_and_report(runs, tmp_path):
    first = feature_embedding([runs["standard"], runs["pgd"]], n=40, seed=3)
    again = feature_embedding([runs["standard"], runs["pgd"]], n=40, seed=3)
    for run in ("standard", "pgd"):
        assert first.coordinates[run].shape == (40, 2) and np.isfinite(first.coordinates[run]).all()
        np.testing.assert_array_equal(first.coordinates[run], again.coordinates[run])
        assert first.feature_dims[run] == 32
    assert first.settings["perplexity"] == pytest.approx(13.0)  # capped at (n − 1) / 3
    written = {p.name for p in write_embedding_report(first, tmp_path / "embedding")}
    assert written == {"embedding.csv", "embedding.md", "embedding.png", "summary.json"}
    lines = (tmp_path / "embedding" / "embedding.csv").read_text().splitlines()
    assert lines[0] == "run,index,label,class,x,y" and len(lines) == 1 + 2 * 40


def test_a_model_without_a_linear_layer_is_refused(runs):
    exp = load_run(runs["standard"])
    convolutional = dataclasses.replace(exp, model=nn.Sequential(nn.Conv2d(1, 10, 8), nn.Flatten()))
    with pytest.raises(ConfigError, match="has no nn.Linear layer"):
        feature_embedding([convolutional], n=10)
    images = ImageSet(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.int64), source_index=torch.arange(2))
    with pytest.raises(ConfigError, match="has no nn.Linear layer"):
        penultimate_features(nn.Sequential(nn.Conv2d(1, 2, 3)), images)


def test_too_few_samples_are_refused(runs):
    with pytest.raises(ConfigError, match="t-SNE needs at least 5 samples"):
        feature_embedding([runs["standard"]], n=3)
    with pytest.raises(ConfigError, match="n must be a positive integer"):
        feature_embedding([runs["standard"]], n=0)
