"""``labelrobust evaluate RUN_DIR``: clean metrics on the test split, as a table and as files."""

from __future__ import annotations

import argparse

from labelrobust.cli.output import emit, format_table
from labelrobust.cli.robust_output import emit_report
from labelrobust.errors import ConfigError
from labelrobust.metrics.checks import LARGE_EPS
from labelrobust.metrics.robust_eval import AttackSpec
from labelrobust.metrics.run_robust import robust_evaluate_run
from labelrobust.metrics.suites import get_suite
from labelrobust.metrics.clean import evaluate_run, summary_row


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="evaluate a trained run", description="Evaluate a run; writes eval/*.json and eval/*.csv into it.")
    p.add_argument("run_dir")
    p.add_argument("--split", default="test", choices=["test", "val"], help="default: test")
    p.add_argument("--weights", default="latest", choices=["latest", "best-val"], help="default: latest")
    p.add_argument("--batch-size", type=int, default=256, help="default: 256")
    p.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    p.add_argument("--suite", help="run an attack suite (quick, standard, autoattack, clean) with the sanity checks; needs --eps")
    p.add_argument("--eps", help="radii for --suite, comma-separated, fractions allowed: 0.1,0.2,8/255")
    p.add_argument("--norm", default="linf", choices=["linf", "l2"], help="default: linf")
    p.add_argument("--n", type=int, help="attack only the first N test samples")
    p.add_argument("--no-large-eps", action="store_true", help="skip the extra eps-0.5 PGD run of the large-eps check")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    if args.suite is not None:
        return run_suite(args)
    report = evaluate_run(args.run_dir, split=args.split, weights=args.weights, batch_size=args.batch_size)
    row = summary_row(args.run_dir, report)
    emit(format_table([row], percent=["accuracy", "abstain_rate"]))
    if args.confusion:
        names = report.class_names
        rows = [{"true": n, **dict(zip([*names, "abstain"], r))} for n, r in zip(names, report.confusion)]
        emit(format_table(rows))
    emit(f"written: {args.run_dir}/eval/clean-{args.split}.json, clean-{args.split}.csv, confusion-{args.split}.csv")
    return 0


def run_suite(args: argparse.Namespace) -> int:
    specs = list(get_suite(args.suite))
    if not specs:  # the clean suite
        args.suite = None
        return run(args)
    if not args.eps:
        raise ConfigError("--suite needs --eps (e.g. --eps 0.1,0.2,0.3); a suite never picks a radius for you")
    eps = [e.strip() for e in str(args.eps).split(",") if e.strip()]
    if not args.no_large_eps:
        # the large-eps check needs one strong attack where any image is reachable
        specs.append(AttackSpec("pgd-20-margin-large-eps", "pgd", {"steps": 20, "objective": "margin"}, eps=LARGE_EPS[args.norm]))
    report = robust_evaluate_run(args.run_dir, specs, eps, name=args.suite, norm=args.norm, n=args.n, batch_size=args.batch_size, quiet=args.quiet)
    emit_report(report, f"{args.run_dir}/eval/robust-{args.suite}.csv, .json, .png")
    return 0
