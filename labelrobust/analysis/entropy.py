"""The entropy of the predictions of runs, per true class (Terzi, Susto, Chaudhari,
"Directional adversarial training for cost sensitive deep learning classification
applications"; methods.md §4: robust models predict with higher entropy).

    H(x) = −Σ_k p_k(x) log p_k(x),   p = space.probabilities(outputs) = softmax(space.scores)

in nats (natural log), so ``0 ≤ H ≤ log K``; ``normalise`` divides by ``log K`` (then
``0 ≤ H ≤ 1``). ``0 log 0 = 0``. With ``eps`` the outputs are those at the points of plain PGD
on the label space's own loss (random start, last iterate) instead of the clean inputs. The
histograms of all runs share their bins, ``bins`` equal bins over ``[0, log K]`` (``[0, 1]``
normalised), counted per true class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from labelrobust.analysis.confusion import RunLike, attacked_outputs, check_same_classes, load_runs, warn_if_other_samples
from labelrobust.analysis.figures import csv_text, markdown_table, prepare_out_dir, pyplot, save_figure, write_json, write_text
from labelrobust.analysis.weighted_score import make_pgd
from labelrobust.metrics.inference import model_outputs, positive_int


@dataclass(frozen=True)
class EntropyResult:
    """Per run label: the entropy of each sample and its true class; the shared bin ``edges``
    and ``counts[r, k, b]`` (run r, true class k, bin b)."""

    runs: list[str]
    class_names: tuple[str, ...]
    entropies: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    edges: np.ndarray
    counts: np.ndarray
    normalised: bool
    settings: dict = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)

    @property
    def unit(self) -> str:
        return "H / log K" if self.normalised else "nats"

    def per_class(self) -> list[dict]:
        """Mean entropy per true class and run (NaN for a class without samples), then ``all``."""
        rows = []
        for run in self.runs:
            h, y = self.entropies[run], self.labels[run]
            for k, name in enumerate(self.class_names):
                chosen = h[y == k]
                rows.append({"class": name, "run": run, "n": int(len(chosen)), "mean_entropy": float(chosen.mean()) if len(chosen) else math.nan})
            rows.append({"class": "all", "run": run, "n": int(len(h)), "mean_entropy": float(h.mean())})
        return rows

    def pivot(self) -> list[dict]:
        """One row per class (and ``all``), one column of mean entropy per run."""
        table: dict[str, dict] = {}
        for row in self.per_class():
            table.setdefault(row["class"], {"class": row["class"]})[row["run"]] = row["mean_entropy"]
        return list(table.values())


def prediction_entropy(probabilities: torch.Tensor, normalise: bool = False) -> torch.Tensor:
    """``H = −Σ_k p_k log p_k`` per row (nats, float64, ``0 log 0 = 0``), clamped to its range
    ``[0, log K]`` against rounding; divided by ``log K`` when ``normalise``."""
    p = probabilities.double()
    k = p.shape[1]
    h = (-torch.special.xlogy(p, p).sum(dim=1)).clamp(0.0, math.log(k))
    return h / math.log(k) if normalise else h


def entropy_histograms(
    runs: Sequence[RunLike],
    *,
    eps: float | str | None = None,
    norm: str = "linf",
    steps: int = 20,
    normalise: bool = False,
    bins: int = 20,
    n: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    weights: str = "latest",
    device: str | None = None,
) -> EntropyResult:
    """The prediction entropy (module docstring) of every run on its first ``n`` test samples,
    clean or (``eps``) at plain PGD points, with per-class histograms on shared bins."""
    positive_int(bins, "bins")
    positive_int(batch_size, "batch_size")
    attack = None if eps is None else make_pgd(norm, eps, steps, None)
    loaded = load_runs(list(runs), weights=weights, device=device)
    names = check_same_classes(loaded)
    images = [r.test_images(n) for r in loaded]
    warn_if_other_samples(loaded, images)
    edges = np.linspace(0.0, 1.0 if normalise else math.log(len(names)), bins + 1)
    entropies, labels = {}, {}
    counts = np.zeros((len(loaded), len(names), bins), dtype=np.int64)
    for r, (run, im) in enumerate(zip(loaded, images)):
        if attack is None:
            outputs = model_outputs(run.experiment.model, im, batch_size=batch_size)
        else:
            outputs = attacked_outputs(run, im, attack, batch_size=batch_size, seed=seed)
        h = prediction_entropy(run.experiment.space.probabilities(outputs), normalise).numpy()
        y = im.labels.cpu().numpy().astype(np.int64)
        entropies[run.label], labels[run.label] = h, y
        for k in range(len(names)):
            counts[r, k] = np.histogram(h[y == k], bins=edges)[0]
    settings = {"eps": None if attack is None else attack.threat.eps, "norm": norm, "steps": steps if attack else None, "normalise": normalise, "bins": bins, "n": n, "seed": seed}
    return EntropyResult([r.label for r in loaded], names, entropies, labels, edges, counts, normalise, settings, [r.record(im) for r, im in zip(loaded, images)])


def write_entropy_report(result: EntropyResult, out_dir: str | Path, *, force: bool = False) -> list[Path]:
    """``entropy-per-class.csv`` (class, run, n, mean entropy), ``entropy-histograms.csv`` (run,
    class, bin edges, count), ``entropy.md``, ``entropy-histograms.png`` and ``summary.json``."""
    out = prepare_out_dir(out_dir, force)
    hist_rows = [
        {"run": run, "class": name, "bin_low": float(result.edges[b]), "bin_high": float(result.edges[b + 1]), "count": int(result.counts[r, k, b])}
        for r, run in enumerate(result.runs) for k, name in enumerate(result.class_names) for b in range(len(result.edges) - 1)
    ]
    what = "clean test inputs" if result.settings.get("eps") is None else f"PGD points, eps {result.settings['eps']:g} ({result.settings['norm']})"
    markdown = f"# Prediction entropy ({result.unit}) on {what}\n\nMean entropy of softmax(space.scores) per true class and run.\n\n" + markdown_table(result.pivot())
    written = [
        write_text(out / "entropy-per-class.csv", csv_text(result.per_class(), ["class", "run", "n", "mean_entropy"])),
        write_text(out / "entropy-histograms.csv", csv_text(hist_rows, ["run", "class", "bin_low", "bin_high", "count"])),
        write_text(out / "entropy.md", markdown),
        plot_entropy(result, out / "entropy-histograms.png"),
    ]
    summary = {"analysis": "prediction-entropy", "unit": result.unit, "definition": "H = -sum_k p_k log p_k, p = softmax(space.scores)",
               "settings": result.settings, "runs": result.records, "class_names": list(result.class_names), "per_class": result.per_class()}
    written.append(write_json(out / "summary.json", summary))
    return written


def plot_entropy(result: EntropyResult, path: Path) -> Path:
    """A grid of K panels, one per true class, each run a coloured step histogram on the shared bins."""
    import matplotlib

    plt = pyplot()
    k = len(result.class_names)
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 1.9 * rows), dpi=100, sharex=True, squeeze=False)
    colours = matplotlib.colormaps["tab10" if len(result.runs) <= 10 else "tab20"]
    for i, ax in enumerate(axes.flat):
        if i >= k:
            ax.set_visible(False)
            continue
        for r, run in enumerate(result.runs):
            ax.stairs(result.counts[r, i], result.edges, color=colours(r), linewidth=1.3, label=run)
        ax.set_title(result.class_names[i], fontsize=8)
        ax.tick_params(labelsize=6)
    fig.supxlabel(f"entropy ({result.unit})", fontsize=8)
    fig.supylabel("test samples", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(labels), 4), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return save_figure(fig, path, f"entropy per true class ({result.unit})")

