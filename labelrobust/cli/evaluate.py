"""``labelrobust evaluate RUN_DIR``: clean metrics on a split, or ``--suite`` attacks with the
sanity checks; tables on stdout, files in RUN_DIR/eval (or ``--out``)."""

from __future__ import annotations

import argparse

from labelrobust.cli.output import emit, format_table
from labelrobust.cli.robust_output import PositiveInt, add_device_flag, emit_report, split_eps, weights_line, written
from labelrobust.errors import ConfigError
from labelrobust.evaluation import DIAGNOSTIC_ROLE, HALF_DIAMETER, SUITES, AttackSpec, get_suite, robust_evaluate_run
from labelrobust.metrics.clean import evaluate_run, summary_row

LARGE_EPS_SPEC = AttackSpec("pgd-20-margin-large-eps", "pgd", {"steps": 20, "objective": "margin"}, role=DIAGNOSTIC_ROLE, eps=HALF_DIAMETER)
"""The large-eps check's run: one strong attack at half the input domain's diameter, where any
input can be pushed to the middle of the box (L∞ 0.5 and L2 √D/2 for images, i.e. 4 on 8×8
digits)."""


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="evaluate a trained run", description="Evaluate a run; writes eval/*.json and eval/*.csv into it (or into --out).")
    p.add_argument("run_dir", help="a run directory written by labelrobust train")
    p.add_argument("--split", choices=["test", "val"], help="clean evaluation only; default: test")
    p.add_argument("--weights", default="latest", choices=["latest", "best-val"], help="which weights: latest (model.safetensors) or best-val (model-best-val.safetensors; default: latest)")
    p.add_argument("--batch-size", action=PositiveInt, default=256, help="images per forward pass and attack batch (default: 256)")
    p.add_argument("--confusion", action="store_true", help="also print the confusion matrix")
    p.add_argument("--suite", help="run an attack suite with the sanity checks; needs --eps. " + "; ".join(f"{n}: {s.summary}" for n, s in SUITES.items()))
    p.add_argument("--eps", help="radii for --suite, comma-separated, fractions allowed: 0.1,0.2,8/255")
    p.add_argument("--norm", choices=["linf", "l2"], help="for --suite; default: linf")
    p.add_argument("--n", action=PositiveInt, help="for --suite: attack only the first N test samples")
    p.add_argument("--no-large-eps", action="store_true", default=None, help="for --suite: skip the extra PGD run at half the input domain's diameter (the large-eps check)")
    p.add_argument("--no-nesting", action="store_true", default=None, help="for --suite: attack every sample at every eps and with every attack (no nested eps, no active set across attacks); slower, for comparisons")
    add_device_flag(p)
    p.add_argument("--out", metavar="DIR", help="folder for the result files (default: RUN_DIR/eval), e.g. for a read-only run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    specs = suite_specs(args)
    if specs:
        return run_suite(args, specs)
    split = args.split or "test"
    report = evaluate_run(args.run_dir, split=split, weights=args.weights, batch_size=args.batch_size, device=args.device, out=args.out)
    emit(format_table([summary_row(args.run_dir, report)], percent=["accuracy", "abstain_rate", "set_accuracy", "target_accuracy"]))
    emit(f"{weights_line(report.weights)}, {report.n} {split} samples")
    if args.confusion:
        names = report.class_names
        rows = [{"true": n, **dict(zip([*names, "abstain"], r))} for n, r in zip(names, report.confusion)]
        emit(format_table(rows))
    folder = args.out or f"{args.run_dir}/eval"
    emit(f"written: {folder}/clean-{split}.json, clean-{split}.csv, confusion-{split}.csv")
    return 0


def suite_specs(args: argparse.Namespace) -> list[AttackSpec]:
    """The attacks of ``--suite`` (none for the clean evaluation); the suite-only flags given
    without an attack suite are an error rather than silently ignored."""
    specs = list(get_suite(args.suite)) if args.suite is not None else []
    suite_only = {"--eps": args.eps, "--norm": args.norm, "--n": args.n, "--no-large-eps": args.no_large_eps, "--no-nesting": args.no_nesting}
    given = [flag for flag, value in suite_only.items() if value is not None]
    if given and not specs:
        why = "without --suite" if args.suite is None else f"with --suite {args.suite}, which runs no attack"
        raise ConfigError(f"{', '.join(given)} only set{'s' if len(given) == 1 else ''} up an attack suite but {'was' if len(given) == 1 else 'were'} given {why}; add --suite quick (or standard, autoattack)")
    if specs and args.split not in (None, "test"):
        raise ConfigError(f"--suite attacks the test split; --split {args.split} applies to the clean evaluation only")
    return specs


def run_suite(args: argparse.Namespace, specs: list[AttackSpec]) -> int:
    if not args.eps:
        raise ConfigError("--suite needs --eps (e.g. --eps 0.1,0.2,0.3); a suite never picks a radius for you")
    norm = args.norm or "linf"
    if not args.no_large_eps:
        specs.append(LARGE_EPS_SPEC)
    report = robust_evaluate_run(
        args.run_dir, specs, split_eps(args.eps), name=args.suite, norm=norm, n=args.n, batch_size=args.batch_size,
        quiet=args.quiet, weights=args.weights, device=args.device, out=args.out,
        nested=not args.no_nesting, active_set=not args.no_nesting, skip_unsupported=True,
    )
    emit_report(report, written(args.run_dir, args.out, args.suite, norm, None))
    return 0
