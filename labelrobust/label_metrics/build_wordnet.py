"""Regenerate the shipped WordNet label metrics from WordNet 3.0.

    python -m labelrobust.label_metrics.build_wordnet [--wordnet-dir DIR] [--out DIR] [--check]
                                                      [--tables cifar10,cifar100,tiny-imagenet]

Computes every table (``synsets.TABLES``, or those ``--tables`` names) × similarity (``wordnet.SIMILARITIES``), rounds it
to the printed six significant digits and writes ``wordnet-<table>-<similarity>.csv``
atomically into ``--out`` (default: the package's ``label_metrics/data``). ``--check`` writes
nothing: it compares each computed matrix with the file there, exits 1 if any differs or is
missing. One line per file either way.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from labelrobust.cli.output import emit, emit_error
from labelrobust.errors import ConfigError
from labelrobust.label_metrics import synsets as tables
from labelrobust.label_metrics.io import read_metric, write_metric_csv
from labelrobust.label_metrics.metric import LabelMetric
from labelrobust.label_metrics.wordnet import (
    DATA_DIR,
    SIMILARITIES,
    compute_wordnet_metric,
    open_wordnet,
)


DIGITS = 6
"""Significant digits of the shipped files: small files, and far below any effect of a metric."""


def rounded(metric: LabelMetric) -> LabelMetric:
    """``metric`` rounded to what its CSV prints, so a file read back equals it exactly."""
    matrix = np.vectorize(lambda x: float(f"{x:.{DIGITS}g}"))(metric.matrix)
    return LabelMetric(matrix, metric.class_names, metric.source, metric.details)


def build(table: str, similarity: str, reader) -> LabelMetric:
    return rounded(compute_wordnet_metric(table, similarity=similarity, reader=reader))


def same_as_file(metric: LabelMetric, path: Path) -> str:
    """'' if ``path`` holds exactly ``metric``'s names and numbers, else what differs."""
    if not path.is_file():
        return "missing"
    try:
        shipped = read_metric(path)
    except ConfigError as err:
        return str(err)
    names, matrix = shipped.class_names, shipped.matrix
    if names != metric.class_names:
        return "class names differ"
    if matrix.shape != metric.matrix.shape:
        return f"shape {matrix.shape} instead of {metric.matrix.shape}"
    diff = np.abs(matrix - metric.matrix)
    if diff.max() > 0:
        i, j = np.unravel_index(int(diff.argmax()), diff.shape)
        return f"{int((diff > 0).sum())} entries differ, e.g. C[{i},{j}] = {matrix[i, j]} instead of {metric.matrix[i, j]}"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labelrobust.label_metrics.build_wordnet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet-dir", help="folder of WordNet 3.0 dict files (default $LABELROBUST_WORDNET_DIR or /usr/share/wordnet)")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"folder of the CSVs (default {DATA_DIR})")
    parser.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing them; exit 1 on a difference")
    parser.add_argument("--tables", default=",".join(tables.TABLES), help="comma-separated tables to build (default all: %(default)s)")
    args = parser.parse_args(argv)
    chosen = [t.strip() for t in args.tables.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in tables.TABLES]
    if unknown or not chosen:
        parser.error(f"unknown table {', '.join(unknown) or '(none)'}; expected some of {', '.join(tables.TABLES)}")
    try:
        reader = open_wordnet(args.wordnet_dir)
    except ConfigError as err:
        emit_error(f"build_wordnet: {err}")
        return 2
    failed = 0
    for table in chosen:
        for similarity in SIMILARITIES:
            start = time.perf_counter()
            metric = build(table, similarity, reader)
            path = args.out / f"wordnet-{table}-{similarity}.csv"
            seconds = time.perf_counter() - start
            if args.check:
                problem = same_as_file(metric, path)
                failed += bool(problem)
                emit(f"{'DIFFERS' if problem else 'same'} {path}{': ' + problem if problem else ''} ({seconds:.1f} s)")
            else:
                write_metric_csv(path, metric, digits=DIGITS)
                emit(f"wrote {path} ({metric.num_classes} classes, {seconds:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
