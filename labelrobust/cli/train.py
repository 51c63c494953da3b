"""``labelrobust train``: one run from a YAML config and/or flags."""

from __future__ import annotations

import argparse
import os

from labelrobust.cli.output import emit, format_table
from labelrobust.cli.overrides import add_config_flags
from labelrobust.config import load_config
from labelrobust.runs import read_metrics
from labelrobust.training import train


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="train one model",
        description=(
            "Train one model; every config key is also a flag. Robust training: --method at|trades|mart|wpgd|noise "
            "or a reweighted composite (mail-at, clirat, ...), with --eps. Distributed: "
            "torchrun --nproc_per_node N -m labelrobust train ..."
        ),
    )
    p.add_argument("config", nargs="?", help="YAML config (a run directory's config.yaml works too)")
    p.add_argument("--resume", action="store_true", help="continue the run from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_flags(p)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    run_dir = train(cfg, resume=args.resume, quiet=args.quiet)
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun only rank 0 reports
    rows = read_metrics(run_dir)
    if rows:
        # the histograms stay in metrics.jsonl; a table row is no place for 20 counts
        last = {k: v for k, v in rows[-1].items() if not k.endswith("_hist")}
        emit(format_table([last], percent=[k for k in last if k.endswith(("acc", "abstain"))]))
    emit(f"run directory: {run_dir}")
    return 0
