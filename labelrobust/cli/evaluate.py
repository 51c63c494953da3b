"""``labelrobust evaluate RUN_DIR``: clean metrics on the test split, as a table and as files."""

from __future__ import annotations

import argparse

from labelrobust.cli.output import emit, format_table
from labelrobust.metrics.clean import evaluate_run, summary_row


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="evaluate a trained run", description="Evaluate a run; writes eval/*.json and eval/*.csv into it.")
    p.add_argument("run_dir")
    p.add_argument("--split", default="test", choices=["test", "val"], help="default: test")
    p.add_argument("--weights", default="latest", choices=["latest", "best-val"], help="default: latest")
    p.add_argument("--batch-size", type=int, default=256, help="default: 256")
    p.add_argument("--confusion", action="store_true", help="also print the confusion matrix")


def run(args: argparse.Namespace) -> int:
    report = evaluate_run(args.run_dir, split=args.split, weights=args.weights, batch_size=args.batch_size)
    row = summary_row(args.run_dir, report)
    emit(format_table([row], percent=["accuracy", "abstain_rate"]))
    if args.confusion:
        names = report.class_names
        rows = [{"true": n, **dict(zip([*names, "abstain"], r))} for n, r in zip(names, report.confusion)]
        emit(format_table(rows))
    emit(f"written: {args.run_dir}/eval/clean-{args.split}.json, clean-{args.split}.csv, confusion-{args.split}.csv")
    return 0
