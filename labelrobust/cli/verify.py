"""``labelrobust verify``: complete verification of a trained run, or of an ONNX network against
a VNN-LIB property.

    labelrobust verify RUN_DIR --eps 0.02 --n 100 [--property top2|argmax] [--workers N]
    labelrobust verify RUN_DIR --set layered --layer-eps 0.1,0.05,0.02 --n 20
    labelrobust verify --onnx NET.onnx --vnnlib SPEC.vnnlib --timeout 60 [--results FILE]

The first form prints a table (robust / not robust / unknown, seconds per stage, the share
decided without the MILP) and writes ``RUN_DIR/verify/<label>/samples/<i>.json``; the second
prints ``sat`` / ``unsat`` / ``timeout`` / ``unknown`` as the verification community's tools
do (``sat``: a counterexample exists, written to ``--results`` in VNN-COMP's format).
"""

from __future__ import annotations

import argparse

from labelrobust.cli.output import emit, format_table
from labelrobust.attacks.threat import parse_eps
from labelrobust.cli.robust_output import PositiveInt, add_device_flag, split_eps
from labelrobust.errors import ConfigError
from labelrobust.verify.campaign import QuerySpec, verify_run
from labelrobust.verify.pipeline import BOUND_METHODS, TIGHTENING, TOP2_ENCODINGS, VerifyConfig


def add_verifier_flags(p: argparse.ArgumentParser) -> None:
    """The settings of every query (``VerifyConfig``), shared with ``labelrobust neighbourhood``."""
    d = VerifyConfig()
    p.add_argument("--timeout", type=float, default=d.timeout, help=f"seconds per query, all stages together; a timeout is never robust (default: {d.timeout:g})")
    p.add_argument("--bounds", choices=BOUND_METHODS, default=d.bounds, help=f"strongest incomplete bound stage (default: {d.bounds})")
    p.add_argument("--attack-steps", type=int, default=d.attack_steps, help=f"APGD steps on the property margin, 0 skips the attack (default: {d.attack_steps})")
    p.add_argument("--attack-restarts", action=PositiveInt, default=d.attack_restarts, help=f"APGD random restarts (default: {d.attack_restarts})")
    p.add_argument("--no-milp", action="store_true", help="skip the complete MILP stage (undecided queries stay unknown)")
    p.add_argument("--tighten", choices=TIGHTENING, default=d.tighten, help=f"per-layer bound tightening before the MILP (default: {d.tighten})")
    p.add_argument("--top2-encoding", choices=TOP2_ENCODINGS, default=d.top2_encoding, help=f"MILP encoding of the 2nd-highest score (default: {d.top2_encoding})")
    p.add_argument("--threads", action=PositiveInt, default=d.threads, help=f"solver threads per query (default: {d.threads})")


def verifier_config(args: argparse.Namespace) -> VerifyConfig:
    return VerifyConfig(
        timeout=args.timeout, bounds=args.bounds, attack_steps=args.attack_steps, attack_restarts=args.attack_restarts,
        milp=not args.no_milp, tighten=args.tighten, top2_encoding=args.top2_encoding, threads=args.threads,
    )


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="verify a run (or an ONNX network against a VNN-LIB property)", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", nargs="?", help="a run directory written by labelrobust train")
    p.add_argument("--property", choices=["top2", "argmax"], default="top2", help="top2: the target stays in the top-2 set (multi-label); argmax: it stays the arg-max (default: top2)")
    p.add_argument("--set", dest="set_kind", choices=["linf", "layered"], default="linf", help="input set: the L∞ ball (--eps) or the layered neighbourhood of an object (--layer-eps) (default: linf)")
    p.add_argument("--eps", help="L∞ radius, fractions allowed (8/255)")
    p.add_argument("--layer-eps", help="per-layer radii ε_0,ε_1,… of the layered neighbourhood")
    p.add_argument("--perturbed-object", type=int, default=1, help="which object's neighbourhood may change (default: 1, the second digit)")
    p.add_argument("--n", action=PositiveInt, help="verify the first N test samples (default: 100)")
    p.add_argument("--workers", action=PositiveInt, default=1, help="verify samples in N parallel processes (default: 1)")
    p.add_argument("--weights", default="latest", choices=["latest", "best-val"], help="which weights (default: latest)")
    add_device_flag(p)
    p.add_argument("--out", metavar="DIR", help="folder for the per-sample results (default: RUN_DIR/verify/<label>)")
    p.add_argument("--force", action="store_true", help="replace saved results of other settings or weights")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--onnx", metavar="NET.onnx", help="verify this ONNX network instead of a run (needs --vnnlib)")
    p.add_argument("--vnnlib", metavar="SPEC.vnnlib", help="the VNN-LIB property for --onnx")
    p.add_argument("--results", metavar="FILE", help="with --onnx: write the answer (and a counterexample) in VNN-COMP's result format")
    add_verifier_flags(p)


def run(args: argparse.Namespace) -> int:
    config = verifier_config(args)
    if args.onnx or args.vnnlib:
        return run_vnnlib(args, config)
    if not args.run_dir:
        raise ConfigError("give a run directory (labelrobust verify RUN_DIR --eps 0.02) or --onnx NET.onnx --vnnlib SPEC.vnnlib")
    spec = QuerySpec(
        property=args.property, set_kind=args.set_kind, eps=None if args.eps is None else parse_eps(args.eps),
        layer_eps=None if args.layer_eps is None else tuple(parse_eps(e) for e in split_eps(args.layer_eps)),
        perturbed_object=args.perturbed_object,
    )
    result = verify_run(args.run_dir, spec, config, n=args.n, workers=args.workers, weights=args.weights, device=args.device, out=args.out, force=args.force, quiet=args.quiet)
    emit_summary(result.summary)
    emit(f"written: {result.folder}/summary.json, samples/<index>.json ({len(result.records)} samples)")
    return 0


def emit_summary(summary: dict) -> None:
    row = {k: summary[k] for k in ("n", "robust", "not robust", "unknown")}
    row["without_milp"] = summary["share_without_milp"]
    emit(format_table([row], percent=["without_milp"]))
    stages = [{"stage": s, "decided": summary["decided_by"][s], "mean_seconds": round(summary["mean_seconds"][s], 4)} for s in summary["decided_by"]]
    emit(format_table(stages))
    for reason, count in summary["unknown_reasons"].items():
        emit(f"unknown ({reason}): {count}")


def run_vnnlib(args: argparse.Namespace, config: VerifyConfig) -> int:
    from labelrobust.verify.vnncomp import verify_onnx_vnnlib, write_results

    if not (args.onnx and args.vnnlib):
        raise ConfigError("--onnx and --vnnlib go together: give both (an ONNX network and a VNN-LIB property)")
    if args.run_dir:
        raise ConfigError("give either a run directory or --onnx/--vnnlib, not both")
    answer = verify_onnx_vnnlib(args.onnx, args.vnnlib, config)
    emit(answer.result)
    if args.results:
        write_results(args.results, answer)
    return 0
