"""``labelrobust transfer RUN1 RUN2 ... --attack pgd --eps 0.1``: the transfer-rate matrix."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from labelrobust.atomic import atomic_write_text
from labelrobust.cli.output import emit, format_table
from labelrobust.cli.robust_output import PositiveInt, add_device_flag, output_file
from labelrobust.config import parse_override
from labelrobust.evaluation.transfer_matrix import transfer_between_runs

FORMAT = "labelrobust-transfer-2"


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="transfer-rate matrix between runs", description="Craft on each run (rows), evaluate on every run (columns).")
    p.add_argument("run_dirs", nargs="+", help="two or more run directories with the same test split")
    p.add_argument("--attack", default="pgd", help="white-box attack to craft with (default: pgd)")
    p.add_argument("--eps", required=True, help="radius, fractions allowed (8/255)")
    p.add_argument("--norm", default="linf", choices=["linf", "l2"], help="threat model: the L∞ or the L2 ball (default: linf)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="attack parameter, e.g. steps=20 or objective=margin")
    p.add_argument("--n", action=PositiveInt, help="use the first N test samples")
    p.add_argument("--batch-size", action=PositiveInt, default=256, help="images per forward pass and attack batch (default: 256)")
    add_device_flag(p)
    p.add_argument("--out", default="transfer.json", metavar="FILE", help="where to write the matrix (JSON; default transfer.json; its folder is created)")


def run(args: argparse.Namespace) -> int:
    params = dict(parse_override(p) for p in args.param)
    out = output_file(args.out)
    result = transfer_between_runs(args.run_dirs, args.attack, args.eps, args.norm, n=args.n, batch_size=args.batch_size, device=args.device, params=params)
    short = [Path(d).name for d in result.names]
    rows = [{"crafted on \\ victim": s, **{v: float(r) for v, r in zip(short, row)}} for s, row in zip(short, result.rates.tolist())]
    emit(f"{args.attack} at eps {result.eps_text} ({args.norm}) on {result.samples['n']} test samples")
    emit(format_table(rows, percent=short))
    record = {
        "format": FORMAT, "runs": result.names, "weights": result.weights, "samples": {"split": "test", **result.samples},
        "rates": result.rates.tolist(), "clean_accuracy": result.clean_accuracy, "attack": args.attack,
        "eps": result.eps, "eps_text": result.eps_text, "norm": args.norm, "params": params,
    }
    atomic_write_text(out, json.dumps(record, indent=2))
    emit(f"written: {out}")
    return 0
