"""``labelrobust train``: one run from a YAML config and/or flags."""

from __future__ import annotations

import argparse

from labelrobust.cli.output import emit, format_table
from labelrobust.cli.overrides import add_config_flags
from labelrobust.config import load_config
from labelrobust.runs import read_metrics
from labelrobust.training import train


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="train one model", description="Train one model; every config key is also a flag.")
    p.add_argument("config", nargs="?", help="YAML config (a run directory's config.yaml works too)")
    p.add_argument("--resume", action="store_true", help="continue the run from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_flags(p)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    run_dir = train(cfg, resume=args.resume, quiet=args.quiet)
    rows = read_metrics(run_dir)
    if rows:
        last = rows[-1]
        emit(format_table([{k: v for k, v in last.items()}], percent=[k for k in last if k.endswith(("acc", "abstain"))]))
    emit(f"run directory: {run_dir}")
    return 0
