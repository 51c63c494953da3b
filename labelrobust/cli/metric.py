"""``labelrobust metric``: compute a label metric and write it as CSV (header of class names).

    labelrobust metric RUN_DIR --kind boundary|centroid|confusion     a trained run's visual metric
    labelrobust metric --dataset mnist --kind linear-boundary --out mnist-linear.csv
    labelrobust metric --dataset cifar10 --kind wordnet --similarity wup --out cifar10-wup.csv

A run's metric goes to ``RUN_DIR/label-metrics/<kind>.csv`` (with a ``.json`` of the weights and
settings it came from, so ``visual:RUN_DIR`` reuses it) unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from labelrobust.cli.output import emit, format_table
from labelrobust.cli.robust_output import PositiveInt, add_device_flag
from labelrobust.errors import ConfigError, OutputError
from labelrobust.label_metrics import write_metric_csv
from labelrobust.label_metrics.metric import LabelMetric
from labelrobust.label_metrics.visual import KINDS as RUN_KINDS
from labelrobust.label_metrics.visual import BoundarySearch, settings_record, visual_metric, write_visual_metric

DATASET_KINDS = ("linear-boundary", "wordnet")


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="compute a label metric (CSV with class names)", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", nargs="?", help="a run directory (for the kinds boundary, centroid, confusion)")
    p.add_argument("--kind", required=True, choices=[*RUN_KINDS, *DATASET_KINDS], help="which metric; boundary/centroid/confusion need RUN_DIR, linear-boundary/wordnet need --dataset")
    p.add_argument("--dataset", help="for linear-boundary and wordnet: a registered dataset (e.g. mnist, cifar10)")
    p.add_argument("--data-root", help="for --dataset: the data root (default: --data-root, $LABELROBUST_DATA_ROOT, ./data, as for train)")
    p.add_argument("--similarity", help="for wordnet: path (default), wup, lch or hops (docs/label-metrics.md)")
    p.add_argument("--n", action=PositiveInt, help="for a run's metric: use the first N test samples (default: all)")
    p.add_argument("--n-per-class", action=PositiveInt, help="for boundary: correctly classified test points per class (default: 20)")
    p.add_argument("--steps", action=PositiveInt, help="for boundary: DeepFool steps per point and target (default: 50)")
    p.add_argument("--out", metavar="FILE", help="the CSV to write (default for a run at default settings: RUN_DIR/label-metrics/KIND.csv, which visual:RUN_DIR reuses; required otherwise)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    add_device_flag(p)


FLAG_KINDS = {
    "--dataset": DATASET_KINDS, "--data-root": DATASET_KINDS, "--similarity": ("wordnet",),
    "--n": RUN_KINDS, "--n-per-class": ("boundary",), "--steps": ("boundary",),
}


def run(args: argparse.Namespace) -> int:
    _refuse_flags_for_other_kinds(args)
    if args.kind in RUN_KINDS:
        metric, path = _run_metric(args)
    else:
        metric, path = _dataset_metric(args)
    emit(format_table(_rows(metric)))
    emit(f"{metric.source}: {metric.num_classes} classes; written: {path}")
    return 0


def _refuse_flags_for_other_kinds(args) -> None:
    values = {"--dataset": args.dataset, "--data-root": args.data_root, "--similarity": args.similarity, "--n": args.n, "--n-per-class": args.n_per_class, "--steps": args.steps}
    for flag, value in values.items():
        if value is not None and args.kind not in FLAG_KINDS[flag]:
            raise ConfigError(f"{flag} is for --kind {' or '.join(FLAG_KINDS[flag])}, not --kind {args.kind}")


def _run_metric(args) -> tuple[LabelMetric, Path]:
    from labelrobust.runs import RunPaths, load_run, weights_sha256

    if args.run_dir is None:
        raise ConfigError(f"--kind {args.kind} is a metric of a trained run: give RUN_DIR (labelrobust metric RUN_DIR --kind {args.kind})")
    defaults = BoundarySearch()
    search = BoundarySearch(args.n_per_class or defaults.n_per_class, args.steps or defaults.steps)
    settings = settings_record(args.n, search)
    if args.out is None and settings != settings_record(None, defaults):
        raise ConfigError("--n, --n-per-class and --steps other than the defaults need --out FILE.csv; the run's own label-metrics/ keeps the default settings that visual:RUN_DIR reads")
    out = _checked_out(args.out, args.force)
    sha = weights_sha256(RunPaths(Path(args.run_dir)).weights) if RunPaths(Path(args.run_dir)).weights.is_file() else None
    exp = load_run(args.run_dir, device=args.device)
    metric = visual_metric(exp, args.kind, n=args.n, search=search)
    if out is not None:
        return metric, write_metric_csv(out, metric)
    return metric, write_visual_metric(args.run_dir, args.kind, metric, sha, settings)


def _dataset_metric(args) -> tuple[LabelMetric, Path]:
    from labelrobust.data import load_dataset

    if args.run_dir is not None:
        raise ConfigError(f"--kind {args.kind} is computed from a dataset, not a run: drop RUN_DIR and give --dataset")
    if args.dataset is None:
        raise ConfigError(f"--kind {args.kind} needs --dataset (e.g. --dataset {'mnist' if args.kind == 'linear-boundary' else 'cifar10'})")
    if args.out is None:
        raise ConfigError(f"--kind {args.kind} needs --out FILE.csv: where to write the metric")
    out = _checked_out(args.out, args.force)
    if args.kind == "wordnet":
        from labelrobust.label_metrics.wordnet import wordnet_metric

        names = _dataset_class_names(args.dataset, args.data_root)
        metric = wordnet_metric(names, args.similarity or "path")
    else:
        from labelrobust.label_metrics.linear_boundary import linear_boundary_metric

        metric = linear_boundary_metric(load_dataset(args.dataset, root=args.data_root))
    return metric, write_metric_csv(out, metric)


def _dataset_class_names(name: str, root: str) -> tuple[str, ...]:
    from labelrobust.data import load_dataset

    return load_dataset(name, root=root).class_names


def _checked_out(out: str | None, force: bool) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    if path.is_dir():
        raise OutputError(f"--out {out} is a folder; expected a .csv file name")
    if path.suffix != ".csv":
        raise ConfigError(f"--out {out}: a metric is written as CSV; give a file name ending in .csv")
    if path.exists() and not force:
        raise OutputError(f"--out {out} exists; pass --force to overwrite it")
    return path


def _rows(metric: LabelMetric) -> list[dict[str, object]]:
    short = [n[:10] for n in metric.class_names]
    if metric.num_classes > 12:  # a wide matrix does not fit a terminal: summarise each class
        nearest = [_nearest(metric, i) for i in range(metric.num_classes)]
        return [{"class": n, "nearest": metric.class_names[j], "distance": round(float(metric.matrix[i, j]), 4)} for i, (n, j) in enumerate(zip(metric.class_names, nearest))]
    return [{"class": n, **{s: round(float(v), 4) for s, v in zip(short, row)}} for n, row in zip(metric.class_names, metric.matrix)]


def _nearest(metric: LabelMetric, i: int) -> int:
    row = metric.matrix[i].copy()
    row[i] = float("inf")
    return int(row.argmin())
