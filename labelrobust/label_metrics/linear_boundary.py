"""``linear-boundary``: the MNIST label metric of the directional study, from a linear classifier.

Terzi, Susto and Chaudhari (WPGD; methods.md §4) derive MNIST's metric from how far apart a
linear model on the pixels places the classes. Our exact definition:

1. Fit multinomial logistic regression ``f_k(x) = w_k·x + b_k`` on the flattened training
   images in [0, 1] (scikit-learn, L-BFGS, L2 penalty ``1/C``, deterministic).
2. The boundary between classes k and j is the hyperplane ``H_kj = {x : (w_k − w_j)·x + b_k − b_j = 0}``;
   the Euclidean distance of a point to it is ``|(w_k − w_j)·x + b_k − b_j| / ‖w_k − w_j‖₂``.
3. ``C_kj`` is the mean of that distance over the training points of classes k and j together.

So ``C`` is symmetric by construction, zero on the diagonal, and small where the model keeps
two classes close to the hyperplane that separates them (similar digits, such as 4 and 9).
"""

from __future__ import annotations

import warnings

import numpy as np

from labelrobust.errors import ConfigError
from labelrobust.label_metrics.metric import LabelMetric

DEFAULT_C = 1.0
DEFAULT_MAX_ITER = 200


def linear_boundary_metric(dataset, *, c: float = DEFAULT_C, max_iter: int = DEFAULT_MAX_ITER, max_samples: int | None = None) -> LabelMetric:
    """The metric above from ``dataset.train`` (``max_samples``: its first n, None: all)."""
    x, y = _training_pixels(dataset, max_samples)
    weights, bias = fit_linear_classifier(x, y, dataset.num_classes, c=c, max_iter=max_iter)
    matrix = boundary_distances(x, y, weights, bias)
    details = {"dataset": dataset.name, "n_train": int(len(y)), "C": float(c), "max_iter": int(max_iter)}
    return LabelMetric(matrix, dataset.class_names, source="linear-boundary", details=details)


def _training_pixels(dataset, max_samples: int | None) -> tuple[np.ndarray, np.ndarray]:
    train = dataset.train
    n = len(train) if max_samples is None else min(int(max_samples), len(train))
    if n < 1:
        raise ConfigError(f"linear-boundary metric: dataset {dataset.name!r} has no training samples")
    x = train.float_images(slice(0, n)).reshape(n, -1).double().numpy()
    y = train.labels[:n].numpy()
    missing = sorted(set(range(dataset.num_classes)) - set(y.tolist()))
    if missing:
        names = ", ".join(dataset.class_names[i] for i in missing[:5])
        raise ConfigError(f"linear-boundary metric: the training split of {dataset.name!r} has no sample of class {names}; every class needs samples")
    return x, y


def fit_linear_classifier(x: np.ndarray, y: np.ndarray, num_classes: int, *, c: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` (K×D, K) of multinomial logistic regression on ``x`` (N×D)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    if not (isinstance(c, (int, float)) and np.isfinite(c) and c > 0):
        raise ConfigError(f"linear-boundary metric: C (inverse L2 strength) must be a finite number > 0, got {c!r}")
    model = LogisticRegression(C=float(c), max_iter=int(max_iter), random_state=0)
    with warnings.catch_warnings():  # a capped L-BFGS is expected here; the metric is what it gives
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    if len(model.classes_) != num_classes:
        raise ConfigError(f"linear-boundary metric: the classifier saw {len(model.classes_)} classes, expected {num_classes}")
    return model.coef_.astype(np.float64), model.intercept_.astype(np.float64)


def boundary_distances(x: np.ndarray, y: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``C_kj`` = mean over the points of classes k and j of their distance to ``H_kj``."""
    k = len(bias)
    scores = x @ weights.T + bias  # N×K
    out = np.zeros((k, k))
    for a in range(k):
        for b in range(a + 1, k):
            normal = np.linalg.norm(weights[a] - weights[b])
            if normal == 0:
                raise ConfigError(f"linear-boundary metric: classes {a} and {b} got identical weights, so they have no boundary")
            pair = (y == a) | (y == b)
            out[a, b] = out[b, a] = float(np.mean(np.abs(scores[pair, a] - scores[pair, b])) / normal)
    return out
