"""The accuracy gap between two runs and its correlation with a label metric (Terzi, Susto,
Chaudhari, "Directional adversarial training for cost sensitive deep learning classification
applications"; methods.md §4, the study's Table 1: MNIST −0.88, CIFAR-10 −0.65).

    G = |C_A − C_B|

with ``C_A``, ``C_B`` the row-normalised clean test confusion matrices of the two runs
(``C_ij`` = share of the test samples of true class ``i`` decided as ``j``; ``confusion.py``),
taken element-wise. The Pearson and Spearman correlations (``scipy.stats``) of ``G_ij`` with
the metric ``M_ij`` run over the K(K−1) ordered off-diagonal pairs ``i ≠ j``; the diagonal
(``G_ii = |acc_A,i − acc_B,i|``, the change of class ``i``'s accuracy) is left out. A
negative correlation says a robust model loses its accuracy to *similar* classes (small
``M_ij``). When ``G`` or ``M`` is constant over those pairs (identical runs: ``G = 0``) the
correlation is undefined: NaN, with a note saying why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labelrobust.analysis.confusion import RunLike, check_same_classes, clean_confusion, load_runs, resolve_for, warn_if_other_samples
from labelrobust.analysis.figures import csv_text, heatmap, markdown_table, matrix_csv_text, prepare_out_dir, pyplot, save_figure, write_json, write_text
from labelrobust.errors import ConfigError
from labelrobust.label_metrics.metric import LabelMetric, off_diagonal

GAP_FILES = ("gap-pairs.csv", "gap-correlation.csv", "gap-matrix.csv", "confusion-a.csv", "confusion-b.csv", "gap.md", "gap.png", "summary.json")


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient over ``n_pairs`` pairs with its two-sided p-value; NaN with a
    ``note`` when it is undefined."""

    statistic: str
    coefficient: float
    p_value: float
    n_pairs: int
    note: str = ""

    def row(self) -> dict:
        return {"statistic": self.statistic, "coefficient": self.coefficient, "p_value": self.p_value, "n_pairs": self.n_pairs, "note": self.note}


@dataclass(frozen=True)
class GapResult:
    """``gap`` = |``confusion_a`` − ``confusion_b``| (K×K) and its correlations with ``metric``."""

    gap: np.ndarray
    confusion_a: np.ndarray
    confusion_b: np.ndarray
    metric: LabelMetric
    pearson: Correlation
    spearman: Correlation
    labels: tuple[str, str] = ("A", "B")
    runs: list[dict] = field(default_factory=list)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.metric.class_names

    def pairs(self) -> list[dict]:
        """One row per ordered pair ``i ≠ j``: indices, class names, ``G_ij`` and ``M_ij``."""
        names, k = self.class_names, len(self.class_names)
        return [
            {"i": i, "j": j, "class_i": names[i], "class_j": names[j], "gap": float(self.gap[i, j]), "metric": float(self.metric.matrix[i, j])}
            for i in range(k) for j in range(k) if i != j
        ]


def gap_matrix(confusion_a: np.ndarray, confusion_b: np.ndarray) -> np.ndarray:
    """``G = |C_A − C_B|`` of two row-normalised K×K confusion matrices."""
    a, b = np.asarray(confusion_a, dtype=np.float64), np.asarray(confusion_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ConfigError(f"the two confusion matrices must both be K×K, got {a.shape} and {b.shape}")
    return np.abs(a - b)


def correlate(x: np.ndarray, y: np.ndarray) -> tuple[Correlation, Correlation]:
    """Pearson's r and Spearman's ρ of ``x`` with ``y`` (``scipy.stats``), two-sided p-values."""
    from scipy import stats

    n = len(x)
    why = _undefined(x, y)
    if why:
        return tuple(Correlation(s, math.nan, math.nan, n, why) for s in ("pearson", "spearman"))
    pearson, spearman = stats.pearsonr(x, y), stats.spearmanr(x, y)
    return (
        Correlation("pearson", float(pearson.statistic), float(pearson.pvalue), n),
        Correlation("spearman", float(spearman.statistic), float(spearman.pvalue), n),
    )


def _undefined(x: np.ndarray, y: np.ndarray) -> str:
    if len(x) < 3:
        return f"undefined: {len(x)} pairs (at least 3 are needed)"
    if np.ptp(x) == 0:
        return "undefined: the accuracy gap is constant over the off-diagonal pairs (identical predictions?)"
    if np.ptp(y) == 0:
        return "undefined: the label metric is constant over the off-diagonal pairs (e.g. the 0-1 metric)"
    return ""


def gap_from_confusions(confusion_a: np.ndarray, confusion_b: np.ndarray, metric: LabelMetric, labels: tuple[str, str] = ("A", "B"), runs: list[dict] | None = None) -> GapResult:
    """The accuracy gap of two row-normalised confusion matrices and its correlations with ``metric``."""
    if not isinstance(metric, LabelMetric):
        raise ConfigError(f"metric must be a LabelMetric, got {type(metric).__name__}")
    gap = gap_matrix(confusion_a, confusion_b)
    if gap.shape[0] != metric.num_classes:
        raise ConfigError(f"the confusion matrices are {gap.shape[0]}×{gap.shape[0]} but the label metric ({metric.source}) is {metric.num_classes}×{metric.num_classes}")
    pearson, spearman = correlate(off_diagonal(gap), off_diagonal(metric.matrix))
    return GapResult(gap, np.asarray(confusion_a, float), np.asarray(confusion_b, float), metric, pearson, spearman, labels, runs or [])


def accuracy_gap(
    run_a: RunLike, run_b: RunLike, metric, *, n: int | None = None, batch_size: int = 256, weights: str = "latest", device: str | None = None
) -> GapResult:
    """``G = |C_A − C_B|`` of the first ``n`` test samples of two runs (same classes, same
    order) and its correlations with ``metric`` over the pairs ``i ≠ j`` (module docstring).

    ``metric``: a ``LabelMetric``, a K×K array or a spec (``wordnet``, ``linear-boundary``,
    ``visual:RUN_DIR``, a .csv/.npy file), matched to the runs' class names."""
    runs = load_runs([run_a, run_b], weights=weights, device=device)
    names = check_same_classes(runs)
    resolved = resolve_for(metric, names, runs[0], device)
    images = [r.test_images(n) for r in runs]
    warn_if_other_samples(runs, images)
    confusions = [clean_confusion(r, im, batch_size)[0] for r, im in zip(runs, images)]
    records = [r.record(im) for r, im in zip(runs, images)]
    return gap_from_confusions(confusions[0], confusions[1], resolved, (runs[0].label, runs[1].label), records)


def write_gap_report(result: GapResult, out_dir: str | Path, *, force: bool = False) -> list[Path]:
    """``gap-pairs.csv`` (i, j, class names, G, metric), ``gap-correlation.csv``, the labelled
    matrices ``gap-matrix.csv``, ``confusion-a.csv``, ``confusion-b.csv``, ``gap.md``,
    ``gap.png`` (G and the metric side by side) and ``summary.json``."""
    out = prepare_out_dir(out_dir, force)
    names = result.class_names
    correlations = [result.pearson.row(), result.spearman.row()]
    written = [
        write_text(out / "gap-pairs.csv", csv_text(result.pairs(), ["i", "j", "class_i", "class_j", "gap", "metric"])),
        write_text(out / "gap-correlation.csv", csv_text(correlations)),
        write_text(out / "gap-matrix.csv", matrix_csv_text(result.gap, names)),
        write_text(out / "confusion-a.csv", matrix_csv_text(result.confusion_a, names)),
        write_text(out / "confusion-b.csv", matrix_csv_text(result.confusion_b, names)),
        write_text(out / "gap.md", gap_markdown(result)),
        plot_gap(result, out / "gap.png"),
    ]
    summary = {
        "analysis": "accuracy-gap", "definition": "G = |C_A - C_B|, C row-normalised clean test confusion; correlations over i != j",
        "runs": result.runs, "labels": list(result.labels), "class_names": list(names),
        "metric": {"source": result.metric.source, "details": result.metric.details, "fingerprint": result.metric.fingerprint()},
        "correlations": correlations,
    }
    written.append(write_json(out / "summary.json", summary))
    return written


def gap_markdown(result: GapResult) -> str:
    a, b = result.labels
    return (
        f"# Accuracy gap: {a} vs {b}\n\n"
        f"G = |C_{a} − C_{b}|, C the row-normalised clean test confusion matrix (each true-class row divided by its count); "
        f"correlated with the label metric ({result.metric.source}) over the ordered pairs i ≠ j (diagonal excluded).\n\n"
        + markdown_table([result.pearson.row(), result.spearman.row()])
    )


def plot_gap(result: GapResult, path: Path) -> Path:
    """Heat maps of ``G`` and of the metric, side by side, with class names."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8), dpi=120)
    a, b = result.labels
    heatmap(left, result.gap, result.class_names, f"accuracy gap G = |C_{a} − C_{b}|", cmap="magma", colorbar_label="G")
    heatmap(right, result.metric.matrix, result.class_names, f"label metric ({result.metric.source})", cmap="viridis", colorbar_label="M")
    for ax in (left, right):
        ax.set_xlabel("predicted class j", fontsize=8)
        ax.set_ylabel("true class i", fontsize=8)
    footer = "; ".join(_summary(c) for c in (result.pearson, result.spearman))
    fig.suptitle(f"over {result.pearson.n_pairs} pairs i ≠ j: {footer}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, footer)


def _summary(c: Correlation) -> str:
    if math.isnan(c.coefficient):
        return f"{c.statistic} undefined"
    return f"{c.statistic} {c.coefficient:+.3f} (p = {c.p_value:.2g})"
