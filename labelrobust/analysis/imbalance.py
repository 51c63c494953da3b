"""Class imbalance and adversarial training, per pair of classes (Terzi, Susto, Chaudhari, WPGD
study; methods.md §4): "class imbalance (two-class CIFAR subsets, ratio 0.3) makes adversarial
training much worse for similar classes (cat/dog) than dissimilar ones (airplane/horse)"; the
study's Figure 5 shows it on MNIST 0/7 vs 3/5.

    run_imbalance(out_dir, dataset="mnist", pairs=((0, 7), (3, 5)), ratio=0.3)   # labelrobust analyze imbalance

For each pair (a, b) of classes (indices or names) a two-class data set is cut with the data
options ``classes: [a, b]`` (relabelled 0, 1) and ``imbalance: {1: ratio}``: class b, the
*minority*, keeps a seeded ``round(ratio · n_b)`` of its training samples, class a all of them.
The validation split (``val_size`` samples, stratified) is then taken from that imbalanced
training split, so it has the same imbalance; the test split is untouched (both classes whole).
Two models are trained per pair with ``labelrobust.training.train``: standard training and
PGD-AT (``at``, L∞ ``eps``: 0.3 on MNIST, 8/255 on CIFAR-10 by default, with an eps warm-up).

Outputs in ``out_dir``:

* ``imbalance-curves.png``: left, the validation accuracy after every epoch (``val_acc`` of
  each run's ``metrics.jsonl``), one colour per pair, solid = standard, dashed = PGD-AT; right,
  the test accuracy of each class (minority hatched) at the end of training. The logs hold no
  per-class validation accuracy, so the per-class view is measured once, on the test split.
* ``imbalance-summary.csv``: one row per run — pair, classes, minority, method, eps, training
  counts of the majority and minority class, final and best validation accuracy (with its
  epoch), test accuracy, test accuracy on the majority and on the minority class, and the
  minority's accuracy drop ``majority − minority`` on the test split.

Runs live under ``out_dir/runs/`` and are reused when finished with the same settings (resumed
when unfinished); ``force`` retrains them.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import torch

from labelrobust.analysis.toy import pyplot, check_count, check_flag, csv_text, train_or_reuse
from labelrobust.atomic import atomic_write_text, require_writable_dir
from labelrobust.attacks import parse_eps
from labelrobust.config import TrainConfig, as_config
from labelrobust.data import load_dataset
from labelrobust.devices import check_device_name
from labelrobust.errors import ConfigError
from labelrobust.metrics.clean import evaluate_clean
from labelrobust.runs import load_run, read_metrics

log = logging.getLogger(__name__)

DEFAULTS = {
    "mnist": {"eps": 0.3, "model": "mnist-cnn", "model_options": {"width": 16}},
    "cifar10": {"eps": 8 / 255, "model": "resnet18", "model_options": {}},
}
"""The study's radius and our small default network (with its options) per data set; other data
sets need eps and model given. The default options apply only to the default model."""

FIGURE = "imbalance-curves.png"
SUMMARY = "imbalance-summary.csv"
METHODS = ("standard", "at")


@dataclass(frozen=True)
class Pair:
    """Two classes of the data set: ``a`` (kept whole) and ``b`` (the minority), as indices, with names."""

    a: int
    b: int
    names: tuple[str, str]

    @property
    def label(self) -> str:
        return f"{self.names[0]}/{self.names[1]}"

    @property
    def slug(self) -> str:
        return "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", n) for n in self.names)


@dataclass(frozen=True)
class ImbalanceSettings:
    """Everything a run of the analysis trains with (validated)."""

    dataset: str
    data_root: str | None
    ratio: float
    eps: float
    model: str
    model_options: dict
    epochs: int
    train_size: int | None
    val_size: int
    test_size: int | None
    batch_size: int
    lr: float
    steps: int
    eps_warmup: int
    seed: int
    device: str


# -- validation --------------------------------------------------------------------------------


def check_ratio(ratio: object) -> float:
    """The share of its training samples the minority keeps: 0 < ratio ≤ 1."""
    if isinstance(ratio, bool) or not isinstance(ratio, Real) or not math.isfinite(ratio) or not 0 < ratio <= 1:
        raise ConfigError(f"ratio must be a number with 0 < ratio <= 1 (the share of its training samples the minority class keeps), got {ratio!r}")
    return float(ratio)


def class_of(value: object, class_names: Sequence[str], dataset: str) -> int:
    """The index of a class given by index (``0 ≤ i < K``) or by name, else a one-line ConfigError."""
    names = ", ".join(class_names)
    if isinstance(value, Integral) and not isinstance(value, bool):
        if 0 <= int(value) < len(class_names):
            return int(value)
        raise ConfigError(f"pairs: class index {value} is out of range for {dataset}, which has {len(class_names)} classes (0..{len(class_names) - 1}): {names}")
    if isinstance(value, str) and value in class_names:
        return class_names.index(value)
    raise ConfigError(f"pairs: unknown class {value!r} for {dataset}; classes are: {names} (by name, or by index 0..{len(class_names) - 1})")


def resolve_pairs(pairs: object, class_names: Sequence[str], dataset: str) -> list[Pair]:
    """Each pair of class indices or names, checked against ``class_names``: two different
    classes, no pair twice."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence) or not pairs:
        raise ConfigError(f"pairs must be a non-empty list of class pairs such as [(0, 7), (3, 5)] or [('cat', 'dog')], got {pairs!r}")
    class_names = list(class_names)
    resolved, seen = [], set()
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ConfigError(f"each pair must hold two classes (indices or names), got {pair!r}")
        a, b = (class_of(c, class_names, dataset) for c in pair)
        if a == b:
            raise ConfigError(f"pair {tuple(pair)!r} names class {class_names[a]!r} twice; a pair needs two different classes")
        if (a, b) in seen:
            raise ConfigError(f"pair {tuple(pair)!r} is listed twice")
        seen.add((a, b))
        resolved.append(Pair(a, b, (class_names[a], class_names[b])))
    return resolved


def _optional_count(value: object, what: str, low: int) -> int | None:
    return None if value is None else check_count(value, what, low)


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{what} must be a positive finite number, got {value!r}")
    return float(value)


def _default(dataset: str, key: str, value: object) -> object:
    if value is not None:
        return value
    if dataset not in DEFAULTS:
        raise ConfigError(f"no default {key} for dataset {dataset!r} (defaults exist for {', '.join(DEFAULTS)}); give {key}")
    return DEFAULTS[dataset][key]


def _eps(value: object) -> float:
    try:
        eps = parse_eps(value)
    except ConfigError:
        raise ConfigError(f"eps must be a positive number or a fraction like 8/255, got {value!r}") from None
    return _positive(eps, "eps")


# -- runs -----------------------------------------------------------------------------------------


def imbalance_config(pair: Pair, method: str, s: ImbalanceSettings, runs_dir: Path) -> TrainConfig:
    """The training config of one (pair, method) run."""
    params = {} if method == "standard" else {"eps": s.eps, "steps": s.steps, "eps_warmup": s.eps_warmup}
    return as_config({
        "data": {"name": s.dataset, "root": s.data_root, "classes": [pair.a, pair.b], "imbalance": {1: s.ratio},
                 "val_size": s.val_size, "train_size": s.train_size, "test_size": s.test_size},
        "model": {"name": s.model, "options": dict(s.model_options)},
        "optim": {"lr": s.lr},
        "method": {"name": method, "params": params},
        "epochs": s.epochs,
        "batch_size": s.batch_size,
        "seed": s.seed,
        "device": s.device,
        "out": str(runs_dir),
        "name": f"{pair.slug}-{method}",
    })


def run_row(pair: Pair, method: str, run_dir: Path, s: ImbalanceSettings) -> dict:
    """The summary row of one finished run (validation curve from its metrics, class accuracies on test)."""
    exp = load_run(run_dir, device=s.device)
    history = read_metrics(run_dir)
    val = [r.get("val_acc", math.nan) for r in history]
    best = max(range(len(val)), key=lambda i: val[i]) if val else None
    test = evaluate_clean(exp.model, exp.space, exp.dataset.test, exp.dataset.class_names, device=s.device)
    per_class = [row[k] / max(sum(row), 1) for k, row in enumerate(test.confusion)]
    counts = torch.bincount(exp.dataset.train.labels, minlength=2).tolist()
    return {
        "pair": pair.label, "class_a": pair.names[0], "class_b": pair.names[1], "minority": pair.names[1],
        "method": method, "eps": s.eps if method == "at" else "", "run": run_dir.name,
        "train_majority": counts[0], "train_minority": counts[1], "val_size": s.val_size,
        "val_majority_share": float((exp.dataset.val.labels == 0).float().mean()),
        "final_val_acc": val[-1] if val else math.nan, "best_val_acc": val[best] if val else math.nan,
        "best_val_epoch": best + 1 if val else "", "test_acc": test.accuracy,
        "test_acc_majority": per_class[0], "test_acc_minority": per_class[1],
        "minority_drop": per_class[0] - per_class[1], "curve": val,
    }


def plot_curves(path: Path, rows: list[dict], title: str) -> Path:
    """Validation accuracy per epoch (left; dotted: always answering the majority class) and
    per-class test accuracy (right)."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120, gridspec_kw={"width_ratios": [3, 2]})
    pairs = list(dict.fromkeys(r["pair"] for r in rows))
    colours = {p: plt.get_cmap("tab10")(i % 10) for i, p in enumerate(pairs)}
    for r in rows:
        style = "-" if r["method"] == "standard" else "--"
        left.plot(range(1, len(r["curve"]) + 1), r["curve"], style, color=colours[r["pair"]], marker="o", markersize=3, label=f"{r['pair']} {_method_label(r)}")
    for p in pairs:
        share = next(r["val_majority_share"] for r in rows if r["pair"] == p)
        left.axhline(share, color=colours[p], linestyle=":", linewidth=1, label=f"{p}: majority class only")
    left.set_xlabel("epoch")
    left.set_ylabel("validation accuracy")
    left.set_title("validation accuracy (the val split is as imbalanced as train)", fontsize=9)
    left.legend(fontsize=7)
    width, ticks, labels = 0.38, [], []
    for i, r in enumerate(rows):
        alpha = 1.0 if r["method"] == "standard" else 0.55
        right.bar(i - width / 2, r["test_acc_majority"], width, color=colours[r["pair"]], alpha=alpha)
        right.bar(i + width / 2, r["test_acc_minority"], width, color=colours[r["pair"]], alpha=alpha, hatch="///", edgecolor="white")
        ticks.append(i)
        labels.append(f"{r['pair']}\n{'standard' if r['method'] == 'standard' else 'PGD-AT'}")
    right.set_xticks(ticks, labels, fontsize=7)
    right.set_ylim(0, 1.05)
    right.set_ylabel("test accuracy per class")
    right.set_title("test accuracy: majority (plain) / minority (hatched)", fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, metadata={"Description": title})
    plt.close(fig)
    return path


def _method_label(row: dict) -> str:
    return "standard" if row["method"] == "standard" else f"PGD-AT eps {row['eps']:.4g}"


# -- the analysis ---------------------------------------------------------------------------------


def run_imbalance(
    out_dir: str | Path,
    *,
    dataset: str = "mnist",
    pairs: Sequence[Sequence[int | str]] = ((0, 7), (3, 5)),
    ratio: float = 0.3,
    data_root: str | Path = "../shared/datasets",
    epochs: int = 10,
    eps: float | str | None = None,
    model: str | None = None,
    model_options: dict | None = None,
    device: str = "cpu",
    force: bool = False,
    train_size: int | None = None,
    val_size: int = 200,
    test_size: int | None = None,
    batch_size: int = 32,
    lr: float = 0.02,
    steps: int = 8,
    eps_warmup: int = 3,
    seed: int = 0,
    quiet: bool = True,
) -> Path:
    """Train (or reuse) standard and PGD-AT models on each imbalanced pair; write
    ``imbalance-curves.png`` and ``imbalance-summary.csv`` into ``out_dir``; return ``out_dir``.

    ``pairs``: (a, b) class indices or names (e.g. ``("cat", "dog")``); b is the minority and
    keeps ``ratio`` (0 < ratio ≤ 1) of its training samples. ``eps``: PGD-AT's L∞ radius (a
    number or ``"8/255"``; None: 0.3 for mnist, 8/255 for cifar10). ``model``: a registered model
    (None: mnist-cnn of width 16 for mnist, resnet18 for cifar10); ``model_options``: its builder
    options (None: the default model's, or the model's own defaults for a model you name).
    ``train_size``/``test_size``: stratified subsets (None: all); ``val_size``: the validation
    split, taken from the imbalanced training split; ``steps``: PGD steps of training (8, as in
    the study); ``eps_warmup``: epochs over which eps ramps up from 0; ``force``: retrain every
    run. Definitions: the module doc (methods.md §4, Terzi et al.)."""
    settings = ImbalanceSettings(
        dataset=_dataset_name(dataset), data_root=_root(data_root), ratio=check_ratio(ratio),
        eps=_eps(_default(dataset, "eps", eps)), model=str(_default(dataset, "model", model)),
        model_options=_options(_default(dataset, "model_options", model_options) if model is None else model_options),
        epochs=check_count(epochs, "epochs"), train_size=_optional_count(train_size, "train_size", 2),
        val_size=check_count(val_size, "val_size", 1), test_size=_optional_count(test_size, "test_size", 2),
        batch_size=check_count(batch_size, "batch_size"), lr=_positive(lr, "lr"), steps=check_count(steps, "steps"),
        eps_warmup=check_count(eps_warmup, "eps_warmup", 0), seed=check_count(seed, "seed", 0), device=device,
    )
    check_device_name(device)
    force = check_flag(force, "force")
    resolved = resolve_pairs(pairs, load_dataset(settings.dataset, root=settings.data_root).class_names, settings.dataset)
    out = require_writable_dir(Path(out_dir), "output folder")
    configs = [(p, m, imbalance_config(p, m, settings, out / "runs")) for p in resolved for m in METHODS]
    rows = [run_row(p, m, train_or_reuse(cfg, force=force, quiet=quiet), settings) for p, m, cfg in configs]
    atomic_write_text(out / SUMMARY, csv_text([{k: v for k, v in r.items() if k != "curve"} for r in rows]))
    options = "".join(f", {k}={v}" for k, v in settings.model_options.items())
    title = (f"{settings.dataset}, minority keeps {settings.ratio:g} of its training samples; {settings.model}{options}, "
             f"{settings.epochs} epochs; PGD-AT eps {settings.eps:.4g} (PGD-{settings.steps})")
    plot_curves(out / FIGURE, rows, title)
    return out


def _root(data_root: object) -> str | None:
    """The data root as an absolute path (None: ``$LABELROBUST_DATA_ROOT``, else ./data), so the
    runs find their data whatever the working directory is later."""
    if data_root is None:
        return None
    if not isinstance(data_root, (str, Path)) or not str(data_root).strip():
        raise ConfigError(f"data_root must name a folder, got {data_root!r}")
    return str(Path(data_root).expanduser().absolute())


def _options(options: object) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ConfigError(f"model_options must be a mapping of the model's builder options, got {options!r}")
    return dict(options)


def _dataset_name(dataset: object) -> str:
    from labelrobust.data import DATASETS

    if not isinstance(dataset, str):
        raise ConfigError(f"dataset must be a registered dataset name, got {dataset!r}")
    DATASETS.get(dataset)  # an unknown name lists the known ones
    return dataset
