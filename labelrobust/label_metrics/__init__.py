"""Label metrics: K×K distances between classes for cost-sensitive training and analysis.

``resolve_metric(spec, class_names)`` turns what a user writes (``--method.cost``, a label
space's ``cost``, ``labelrobust analyze --metric``) into a validated ``LabelMetric`` over the
dataset's classes, in the dataset's order:

- ``wordnet`` or ``wordnet:SIMILARITY`` — the shipped WordNet matrices (CIFAR-10, CIFAR-100,
  Tiny-ImageNet class names; ``label_metrics.wordnet``);
- ``linear-boundary`` — distances between the class boundaries of a linear classifier trained
  on the dataset's training pixels (the study's MNIST metric; ``label_metrics.linear_boundary``);
- ``visual:RUN_DIR`` or ``visual:KIND:RUN_DIR`` (KIND ``boundary``, ``centroid``, ``confusion``)
  — a visual metric of a trained run (``label_metrics.visual``), cached in the run directory;
- a ``.csv`` (header row of class names), headerless text, or ``.npy`` file;
- a K×K list or array, or a ``LabelMetric``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labelrobust.errors import ConfigError
from labelrobust.label_metrics.io import read_metric, write_metric_csv
from labelrobust.label_metrics.metric import LabelMetric, match_class_names, validate_matrix

VISUAL_KINDS = ("boundary", "centroid", "confusion")
SPEC_FORMS = "wordnet[:SIMILARITY], linear-boundary, visual:[KIND:]RUN_DIR, a .csv/.npy/.txt file, or a K×K list"


def resolve_metric(spec, class_names, *, dataset=None, device: str | None = None, who: str = "label metric") -> LabelMetric:
    """``spec`` (see the module docstring) as a metric over ``class_names``, in that order.

    ``dataset``: the loaded ``Dataset``, needed by ``linear-boundary`` (its training split);
    ``device``: where a visual metric's run is evaluated if it must be computed."""
    class_names = tuple(str(n) for n in class_names)
    if isinstance(spec, LabelMetric):
        return spec.for_classes(class_names, where=who)
    if isinstance(spec, (list, tuple, np.ndarray)):
        matrix = validate_matrix(spec, who)
        if len(matrix) != len(class_names):
            raise ConfigError(f"{who} is {len(matrix)}×{len(matrix)} but the dataset has {len(class_names)} classes; expected one row per class")
        return LabelMetric(matrix, class_names, source="matrix")
    if isinstance(spec, Path):
        return read_metric(spec, class_names, who=who)
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"{who}: expected {SPEC_FORMS}; got {spec!r}")
    return _resolve_text(spec.strip(), class_names, dataset, device, who)


def is_metric_name(spec) -> bool:
    """Whether ``spec`` names a metric computed for a dataset (not a file or a matrix)."""
    if not isinstance(spec, str):
        return False
    head = spec.strip().partition(":")[0]
    return head in ("wordnet", "visual") or spec.strip() == "linear-boundary"


def _resolve_text(spec: str, class_names, dataset, device, who: str) -> LabelMetric:
    name, _, rest = spec.partition(":")
    if name == "wordnet":
        from labelrobust.label_metrics.wordnet import wordnet_metric

        try:
            return wordnet_metric(class_names, rest or "path")
        except ConfigError as err:  # say which option asked for it
            raise ConfigError(f"{who}: {err}") from None
    if spec == "linear-boundary":
        if dataset is None:
            raise ConfigError(f"{who}: 'linear-boundary' is computed from a dataset's training images, and none was given; pass the dataset (or a metric file)")
        from labelrobust.label_metrics.linear_boundary import linear_boundary_metric

        return linear_boundary_metric(dataset).for_classes(class_names, where=who)
    if name == "visual":
        kind, run_dir = _visual_parts(rest, who)
        from labelrobust.label_metrics.visual import cached_visual_metric

        return cached_visual_metric(run_dir, kind, device=device).for_classes(class_names, where=who)
    path = Path(spec)
    if path.suffix in (".csv", ".npy", ".txt") or path.exists():
        return read_metric(path, class_names, who=who)
    raise ConfigError(f"{who}: {spec!r} is not a metric name or an existing file; expected {SPEC_FORMS}")


def _visual_parts(rest: str, who: str) -> tuple[str, str]:
    kind, sep, run_dir = rest.partition(":")
    if sep and kind in VISUAL_KINDS:
        return kind, run_dir
    if not rest:
        raise ConfigError(f"{who}: 'visual:' needs a run directory, e.g. visual:runs/standard or visual:centroid:runs/standard")
    return "boundary", rest


__all__ = ["LabelMetric", "VISUAL_KINDS", "is_metric_name", "match_class_names", "read_metric", "resolve_metric", "validate_matrix", "write_metric_csv"]
