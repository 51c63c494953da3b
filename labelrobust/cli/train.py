"""``labelrobust train``: one run from a YAML config and/or flags, or continue one.

    labelrobust train config.yaml --lr 1e-3            a new run in out/name
    labelrobust train --resume runs/X                  continue run X (its folder, wherever it is)
    labelrobust train runs/X/config.yaml --resume      the same: a run directory's config resumes *it*
    labelrobust train runs/X --name Y --epochs 50      a new run Y from X's config
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from labelrobust.cli.output import emit, format_table
from labelrobust.cli.overrides import add_config_flags
from labelrobust.config import load_config
from labelrobust.errors import ConfigError
from labelrobust.runs import RunPaths, is_run_dir, read_metrics
from labelrobust.training import train


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(
        name,
        help="train one model (or continue one with --resume)",
        description=(
            "Train one model; every config key is also a flag. Robust training: --method at|trades|mart|wpgd|noise "
            "or a preset (mail-at, clirat, ...), with --eps and the method's parameters as --method.X (they set "
            "method.params.X); fast AT is --method at --method.inner fgsm-rs. A run directory (or its config.yaml) "
            "as CONFIG trains that directory: with --resume it continues from its checkpoint. SIGTERM or Ctrl-C "
            "checkpoint at the next batch and stop; --checkpoint-every N bounds the work a hard kill loses. "
            "Distributed: torchrun --nproc_per_node N -m labelrobust train ..."
        ),
    )
    p.add_argument("config", nargs="?", metavar="CONFIG|RUN_DIR", help="YAML config, or a run directory (its config.yaml)")
    p.add_argument("--resume", action="store_true", help="continue the run from its checkpoint (only epochs and where it runs may change)")
    p.add_argument("--overwrite", action="store_true", help="discard the results of an existing run directory and train it again")
    p.add_argument("--quiet", action="store_true", help="no progress bars (the per-epoch lines stay)")
    add_config_flags(p)


def run(args: argparse.Namespace) -> int:
    config, run_dir = _locate(args)
    cfg = load_config(config, args.overrides)
    run_dir = train(cfg, resume=args.resume, overwrite=args.overwrite, run_dir=run_dir, quiet=args.quiet)
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun only rank 0 reports
    rows = read_metrics(run_dir)
    if rows:
        # the histograms stay in metrics.jsonl; a table row is no place for 20 counts
        last = {k: v for k, v in rows[-1].items() if not k.endswith("_hist")}
        emit(format_table([last], percent=[k for k in last if k.endswith(("acc", "abstain"))]))
    emit(f"run directory: {run_dir}")
    return 0


def _locate(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """The config file to read and, when CONFIG names a run directory, that directory.

    A run directory (or a config.yaml inside one) is trained *in place* — never the directory
    its saved ``out``/``name`` point at, which for a copied run is the original. Only without
    --resume may --name/--out redirect it to a new run.
    """
    if args.config is None:  # the flags say everything; with --resume, out/name name the run
        return None, None
    target = Path(args.config)
    if args.resume and not target.exists():
        raise ConfigError(f"nothing to resume: {target} does not exist; give the run directory to continue (e.g. runs/NAME)")
    if target.is_dir():
        if not RunPaths(target).config.is_file():
            raise ConfigError(f"{target} is a folder without a config.yaml; give a YAML config file or a run directory")
        config, run_dir = RunPaths(target).config, target
    elif target.name == "config.yaml" and is_run_dir(target.parent):
        config, run_dir = target, target.parent
    else:
        return target, None
    moved = sorted({key for key, _ in args.overrides if key in ("out", "name")})
    if moved and args.resume:
        raise ConfigError(f"--resume continues the run directory {run_dir} itself; drop --{'/--'.join(moved)} (they name a new run)")
    return config, None if moved else run_dir
