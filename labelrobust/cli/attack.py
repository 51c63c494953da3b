"""``labelrobust attack RUN_DIR --attack pgd --eps 8/255 --steps 20``: one attack, one table.

Results accumulate in ``eval/robust-attack-<label>.*``: a second call at another eps adds its
rows to the same files, and rows of older weights are kept, marked stale."""

from __future__ import annotations

import argparse

from labelrobust.cli.robust_output import PositiveInt, add_device_flag, emit_report, split_eps, written
from labelrobust.config import parse_override
from labelrobust.evaluation import DIAGNOSTIC_ROLE, AttackSpec, robust_evaluate_run


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="attack a trained run", description="Attack a run's test split; results accumulate in eval/robust-attack-<label>.{csv,json,png}.")
    p.add_argument("run_dir", help="a run directory written by labelrobust train")
    p.add_argument("--attack", required=True, help="a registered attack (fgsm, pgd, cw, ...)")
    p.add_argument("--eps", required=True, help="radius or comma-separated radii, fractions allowed: 8/255,16/255")
    p.add_argument("--norm", default="linf", choices=["linf", "l2"], help="threat model: the L∞ or the L2 ball (default: linf)")
    p.add_argument("--steps", type=int, help="attack steps (attack default if omitted)")
    p.add_argument("--objective", help="loss (the label space's own) | margin | dlr | ce")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="any other attack parameter (repeatable)")
    p.add_argument("--target", type=int, help="targeted attack toward this class (its own samples are left out)")
    p.add_argument("--n", action=PositiveInt, help="attack only the first N test samples")
    p.add_argument("--batch-size", action=PositiveInt, default=256, help="images per forward pass and attack batch (default: 256)")
    p.add_argument("--weights", default="latest", choices=["latest", "best-val"], help="which weights: latest (model.safetensors) or best-val (model-best-val.safetensors; default: latest)")
    add_device_flag(p)
    p.add_argument("--out", metavar="DIR", help="folder for the result files (default: RUN_DIR/eval), e.g. for a read-only run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    params = dict(parse_override(p) for p in args.param)
    if args.steps is not None:
        params["steps"] = args.steps
    if args.objective is not None:
        params["objective"] = args.objective
    label = args.attack + "".join(f"-{k}={v}" for k, v in sorted(params.items()))
    name = f"attack-{label}"
    report = robust_evaluate_run(
        args.run_dir, [AttackSpec(label, args.attack, params, role=DIAGNOSTIC_ROLE)], split_eps(args.eps), name=name, norm=args.norm, n=args.n,
        target=args.target, batch_size=args.batch_size, checks=False, quiet=args.quiet, weights=args.weights, device=args.device, out=args.out,
    )
    emit_report(report, written(args.run_dir, args.out, name, args.norm, args.target))
    return 0
