"""2-D pictures of the representations of runs (Terzi, Susto, Chaudhari, "Directional
adversarial training for cost sensitive deep learning classification applications";
methods.md §4): the penultimate features of a standard and a robust model, side by side.

- **Penultimate features**: the input of the model's last ``nn.Linear`` — the last one a
  forward pass calls, found with forward hooks on every ``nn.Linear`` (no layer names are
  assumed), flattened per sample. A model that calls no ``nn.Linear`` is refused.
- **t-SNE** (scikit-learn, van der Maaten & Hinton 2008) of each run's features on its own: 2
  components, PCA initialisation, learning rate ``auto``, ``random_state = seed`` (so the same
  seed gives the same picture), perplexity ``min(perplexity, (n − 1)/3)``; exact gradients
  for up to ``EXACT_TSNE_MAX`` samples (Barnes-Hut's overhead dominates there), Barnes-Hut above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labelrobust.analysis.confusion import RunLike, check_same_classes, load_runs, warn_if_other_samples
from labelrobust.analysis.figures import csv_text, markdown_table, prepare_out_dir, pyplot, save_figure, write_json, write_text
from labelrobust.errors import ConfigError
from labelrobust.metrics.inference import positive_int
from labelrobust.models.features import penultimate_features
from labelrobust.validation import number

MIN_SAMPLES = 5
"""t-SNE needs a perplexity below the number of samples; fewer than this make no picture."""

EXACT_TSNE_MAX = 250
"""Up to this many samples t-SNE runs with exact gradients, above it with Barnes-Hut."""


@dataclass(frozen=True)
class EmbeddingResult:
    """Per run label: the 2-D t-SNE coordinates (n×2), the layer whose input was read and the
    feature width; the true classes of the samples (shared by all runs)."""

    runs: list[str]
    class_names: tuple[str, ...]
    coordinates: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    layers: dict[str, str]
    feature_dims: dict[str, int]
    settings: dict = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)

    def rows(self) -> list[dict]:
        return [
            {"run": run, "index": i, "label": int(y), "class": self.class_names[int(y)], "x": float(xy[0]), "y": float(xy[1])}
            for run in self.runs for i, (y, xy) in enumerate(zip(self.labels[run], self.coordinates[run]))
        ]


def tsne_2d(features: np.ndarray, *, seed: int = 0, perplexity: float = 30.0) -> tuple[np.ndarray, float, str]:
    """2-D t-SNE coordinates of ``features`` (n×D), the perplexity and the method used."""
    from sklearn.manifold import TSNE

    n = len(features)
    if n < MIN_SAMPLES:
        raise ConfigError(f"t-SNE needs at least {MIN_SAMPLES} samples, got {n}; raise --n")
    used = min(float(perplexity), (n - 1) / 3)
    method = "exact" if n <= EXACT_TSNE_MAX else "barnes_hut"
    tsne = TSNE(n_components=2, perplexity=used, init="pca", learning_rate="auto", random_state=seed, method=method)
    return tsne.fit_transform(np.asarray(features, dtype=np.float64)).astype(np.float64), used, method


def feature_embedding(
    runs: Sequence[RunLike], *, n: int | None = 2000, perplexity: float = 30.0, seed: int = 0, batch_size: int = 256, weights: str = "latest", device: str | None = None
) -> EmbeddingResult:
    """The penultimate features of every run (e.g. a standard and a robust one) on the first
    ``n`` test samples, each mapped to 2-D by its own t-SNE (module docstring)."""
    if n is not None:
        positive_int(n, "n")
    perplexity = number(perplexity, "--perplexity", low=0, low_open=True)
    loaded = load_runs(list(runs), weights=weights, device=device)
    names = check_same_classes(loaded)
    images = [r.test_images(n) for r in loaded]
    warn_if_other_samples(loaded, images)
    coords, labels, layers, dims, used, method = {}, {}, {}, {}, perplexity, ""
    for run, im in zip(loaded, images):
        features, layers[run.label] = penultimate_features(run.experiment.model, im, batch_size)
        dims[run.label] = int(features.shape[1])
        coords[run.label], used, method = tsne_2d(features.numpy(), seed=seed, perplexity=perplexity)
        labels[run.label] = im.labels.cpu().numpy().astype(np.int64)
    settings = {"n": n, "perplexity": used, "seed": seed, "init": "pca", "learning_rate": "auto", "method": method}
    return EmbeddingResult([r.label for r in loaded], names, coords, labels, layers, dims, settings, [r.record(im) for r, im in zip(loaded, images)])


def write_embedding_report(result: EmbeddingResult, out_dir: str | Path, *, force: bool = False) -> list[Path]:
    """``embedding.csv`` (run, index, label, class, x, y), ``embedding.md``, ``embedding.png``
    (the runs side by side, coloured by true class) and ``summary.json``."""
    out = prepare_out_dir(out_dir, force)
    table = [{"run": r, "layer": result.layers[r], "feature_dim": result.feature_dims[r], "n": len(result.labels[r])} for r in result.runs]
    written = [
        write_text(out / "embedding.csv", csv_text(result.rows(), ["run", "index", "label", "class", "x", "y"])),
        write_text(out / "embedding.md", "# Penultimate features, t-SNE\n\nInput of each model's last nn.Linear, mapped to 2-D by t-SNE (PCA init).\n\n" + markdown_table(table)),
        plot_embedding(result, out / "embedding.png"),
        write_json(out / "summary.json", {"analysis": "feature-embedding", "settings": result.settings, "runs": result.records, "layers": table, "class_names": list(result.class_names)}),
    ]
    return written


def plot_embedding(result: EmbeddingResult, path: Path) -> Path:
    """One t-SNE panel per run, side by side, points coloured by true class, one legend."""
    import matplotlib

    plt = pyplot()
    k = len(result.class_names)
    cmap = matplotlib.colormaps["tab10" if k <= 10 else "tab20" if k <= 20 else "nipy_spectral"]
    fig, axes = plt.subplots(1, len(result.runs), figsize=(5 * len(result.runs), 5), dpi=110, squeeze=False)
    for ax, run in zip(axes[0], result.runs):
        xy, y = result.coordinates[run], result.labels[run]
        for c in range(k):
            chosen = y == c
            colour = cmap(c if k <= 20 else c / max(k - 1, 1))
            ax.scatter(xy[chosen, 0], xy[chosen, 1], s=6, color=colour, label=result.class_names[c], alpha=0.8, linewidths=0)
        ax.set_title(f"{run} ({result.layers[run]} input, {result.feature_dims[run]} features)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if k <= 20:
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False, markerscale=2.5, title="true class", title_fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, "t-SNE of the penultimate features, coloured by true class")
