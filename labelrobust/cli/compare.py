"""``labelrobust compare [FILE]``: train and evaluate variants side by side (default: the Quick start)."""

from __future__ import annotations

import argparse

from labelrobust.cli.output import emit, format_table
from labelrobust.config import parse_override
from labelrobust.reproduce.compare import read_comparison, run_comparison, variant_configs


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="train and compare variants (default: the Quick start)",
        description="Train every variant of a comparison file (default: the embedded Quick start, one-hot vs "
        "binary codes on scikit-learn's digits) and print a table of clean test accuracy.",
    )
    p.add_argument("file", nargs="?", help="comparison YAML with 'base' and 'variants' (default: embedded Quick start)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="override a key of every variant, e.g. epochs=3")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    spec = read_comparison(args.file)
    configs = variant_configs(spec, [parse_override(s) for s in args.sets])
    results = run_comparison(configs, spec.get("attacks"), quiet=args.quiet)
    rows = []
    for r in results:
        row = {
            "variant": r.variant,
            "label space": r.config.labels.name,
            "method": r.config.method.name,
            "model": r.config.model.name,
            "dataset": r.config.data.name,
            "test n": r.report.n,
            "clean accuracy": r.report.accuracy,
            "abstain": r.report.abstain_rate,
        }
        if r.report.soft_distances:
            row["KL to soft labels"] = r.report.soft_distances["kl"]
        if r.robust is not None:
            for o in r.robust.outcomes:
                row[f"{o.label} @{o.eps_text}"] = o.robust_accuracy
            texts = r.robust.eps_texts()  # eps as the comparison file wrote it (8/255)
            for eps, acc in r.robust.worst_case().items():
                row[f"worst @{texts.get(eps, f'{eps:g}')}"] = acc
            row["flags"] = ",".join(f.name for f in r.robust.checks if f.ok is False) or "-"
        rows.append(row)
    percent = [k for row in rows for k, v in row.items() if isinstance(v, float) and ("@" in k or k in ("clean accuracy", "abstain"))]
    emit(format_table(rows, percent=percent))
    if any(r.robust is not None for r in results):
        emit("robust accuracy under each attack (own loss = the label space's training loss; margin = attack on its class scores); flags: docs/flags.md")
    emit("run directories: " + ", ".join(str(r.run_dir) for r in results))
    return 0
