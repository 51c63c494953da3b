"""The MNIST linear-boundary metric: its definition on a hand-built model, and real MNIST."""

from __future__ import annotations

import numpy as np
import pytest

from labelrobust.data import load_dataset
from labelrobust.errors import ConfigError
from labelrobust.label_metrics import resolve_metric
from labelrobust.label_metrics.linear_boundary import boundary_distances, linear_boundary_metric


def test_boundary_distances_follow_the_definition():
    # two classes on a line, boundary x = 0 from w = (1, -1)·x, b = 0: points at ±1 and ±3
    x = np.array([[1.0], [3.0], [-1.0], [-3.0]])
    y = np.array([0, 0, 1, 1])
    w, b = np.array([[1.0], [-1.0]]), np.zeros(2)
    c = boundary_distances(x, y, w, b)
    # |(w0 − w1)·x| / ‖w0 − w1‖ = |2x| / 2 = |x|: mean over all four points is 2
    np.testing.assert_allclose(c, [[0, 2], [2, 0]])


def test_identical_weights_have_no_boundary():
    with pytest.raises(ConfigError, match="classes 0 and 1 got identical weights"):
        boundary_distances(np.zeros((2, 1)), np.array([0, 1]), np.ones((2, 1)), np.zeros(2))


@pytest.fixture(scope="module")
def mnist(data_root):
    return load_dataset("mnist", root=data_root, train_size=2000, seed=0)


def test_mnist_metric_is_valid_and_orders_digits_sensibly(mnist):
    metric = linear_boundary_metric(mnist)
    c = metric.matrix
    assert c.shape == (10, 10) and metric.class_names == tuple(str(d) for d in range(10))
    np.testing.assert_array_equal(c, c.T)
    assert (np.diagonal(c) == 0).all() and (c[~np.eye(10, dtype=bool)] > 0).all()
    # 4 and 9, 7 and 9, 3 and 5 look alike; 0 and 1 do not
    assert c[4, 9] < c[0, 1] and c[7, 9] < c[0, 1] and c[3, 5] < c[0, 1]
    assert metric.details["n_train"] == 2000
    np.testing.assert_array_equal(resolve_metric("linear-boundary", mnist.class_names, dataset=mnist).matrix, c)  # deterministic


def test_bad_settings_are_one_line_errors(mnist):
    with pytest.raises(ConfigError, match=r"C \(inverse L2 strength\) must be a finite number > 0"):
        linear_boundary_metric(mnist, c=0)
    only_zeros = mnist.train.subset(np.flatnonzero(mnist.train.labels.numpy() == 0)[:50])
    crippled = type(mnist)(**{**mnist.__dict__, "train": only_zeros})
    with pytest.raises(ConfigError, match="has no sample of class 1"):
        linear_boundary_metric(crippled)
