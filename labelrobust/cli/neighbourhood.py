"""``labelrobust neighbourhood``: the maximal robust layered neighbourhood of test images of
one or more runs (methods.md §5), by the oracle-guided search and/or the per-layer binary search.

    labelrobust neighbourhood RUN_DIR [RUN_DIR ...] --n 5 --layers 3 [--method both]

For every run: ``RUN_DIR/neighbourhood/<label>/`` gets ``samples/<i>.<method>.json``,
``summary.json`` and ``heatmaps.png`` (rows: images, columns: methods); with several runs
(the three defences) ``--out DIR`` (default ``./neighbourhood-<label>``) gets one figure per
method with the runs side by side, ``heatmaps-<method>.png``, and ``summary.json``. The table
shows per run and method the mean weighted size w·ε, verifier calls and seconds over the
images whose clean input is robust.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from labelrobust.atomic import atomic_write_text, require_writable_dir
from labelrobust.attacks.threat import parse_eps
from labelrobust.cli.output import emit, format_table
from labelrobust.cli.robust_output import NonNegativeInt, PositiveInt, add_device_flag, split_eps
from labelrobust.cli.verify import add_verifier_flags, verifier_config
from labelrobust.errors import ConfigError
from labelrobust.verify.neighbourhood import CUTS, METHODS, SearchSettings

DEFAULTS = SearchSettings()


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="maximal robust layered neighbourhoods of test images (search vs binary search, heat maps)", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by labelrobust train on double-mnist (several: the defences side by side)")
    p.add_argument("--n", action=PositiveInt, default=5, help="search the first N test images of each run (default: 5)")
    p.add_argument("--layers", action=NonNegativeInt, default=3, help="R: layers 0..R around the perturbed object may move, so ε has R+1 radii (default: 3)")
    p.add_argument("--layer-weights", metavar="W0,W1,...", help="the weights w of the weighted size w·ε, one per layer, ≥ 0 (default: w_d = (R+1−d)/(R+1), e.g. 1,0.75,0.5,0.25)")
    p.add_argument("--start-eps", metavar="E0,E1,...", help="start the searches from this ε when it is robust (default: 0)")
    p.add_argument("--property", choices=["top2", "argmax"], default="top2", help="top2: the target stays in the top-2 set; argmax: it stays the arg-max (default: top2)")
    p.add_argument("--perturbed-object", action=NonNegativeInt, default=1, help="the object whose neighbourhood moves (default: 1, the second digit)")
    p.add_argument("--method", choices=[*METHODS, "both"], default="both", help="search: the oracle-guided search; binary: the per-layer binary search (default: both)")
    p.add_argument("--cut", choices=CUTS, default=DEFAULTS.cut, help=f"cutting weights of the search's CEGIS step (default: {DEFAULTS.cut})")
    p.add_argument("--tolerance", type=float, default=DEFAULTS.tolerance, help=f"resolution on every ε_d (default: {DEFAULTS.tolerance:g})")
    p.add_argument("--max-calls", action=PositiveInt, default=DEFAULTS.max_calls, help=f"verifier calls per image and method, the clean check included (default: {DEFAULTS.max_calls})")
    p.add_argument("--weights", default="latest", choices=["latest", "best-val"], help="which weights (default: latest)")
    add_device_flag(p)
    p.add_argument("--out", metavar="DIR", help="folder for the side-by-side figures and the joint summary of several runs (default: ./neighbourhood-<label>)")
    p.add_argument("--force", action="store_true", help="replace saved results of other settings")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_verifier_flags(p)


def _vector(text: str | None, what: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    values = split_eps(text)
    if not values:
        raise ConfigError(f"{what} is empty; give comma-separated numbers, e.g. 1,0.5,0.25")
    return tuple(_number(v, what) for v in values)


def _number(text: str, what: str) -> float:
    try:
        return parse_eps(text)
    except ConfigError:
        raise ConfigError(f"{what}: {text!r} is not a number; give comma-separated numbers (fractions like 1/255 allowed)") from None


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from labelrobust.verify.neighbourhood_runs import NeighbourhoodSpec, compare_figure, prepare_run, solve_run

    config = verifier_config(args)
    search = SearchSettings(tolerance=args.tolerance, max_calls=args.max_calls, cut=args.cut)
    spec = NeighbourhoodSpec(
        layers=args.layers, weights=_vector(args.layer_weights, "--layer-weights"), property=args.property,
        perturbed_object=args.perturbed_object, start=_vector(args.start_eps, "--start-eps"),
    )
    methods = list(METHODS) if args.method == "both" else [args.method]
    # every run and image checked (masks, layers, labels) before the first verifier call
    prepared = [prepare_run(d, spec, search, config, n=args.n, weights=args.weights, device=args.device, force=args.force) for d in args.run_dirs]
    out = _out_folder(args, spec, search) if len(args.run_dirs) > 1 or args.out else None
    total = sum(len(p.images) for p in prepared) * len(methods)
    bar = tqdm(total=total, desc="neighbourhood", unit="search", disable=True if args.quiet else None, leave=False)
    try:
        results = [solve_run(p, methods, search, on_done=lambda _r: bar.update(1)) for p in prepared]
    finally:
        bar.close()
    rows = [{"run": r.prepared.title, "method": m, **_row(r.summary[m])} for r in results for m in methods]
    emit(format_table(rows))
    for r in results:
        emit(f"written: {r.prepared.folder}/summary.json, heatmaps.png, samples/<index>.<method>.json")
    if out is not None:
        figures = [compare_figure(results, m, out / f"heatmaps-{m}.png") for m in methods]
        atomic_write_text(out / "summary.json", json.dumps({"settings": prepared[0].settings, "runs": {r.prepared.title: r.summary for r in results}}, indent=1))
        emit(f"written: {', '.join(str(f) for f in figures)}, {out / 'summary.json'}")
    return 0


def _row(summary: dict) -> dict:
    return {
        "images": summary["n"], "searched": summary["searched"], "weighted_size": summary["mean_weighted_size"],
        "calls": f"{summary['mean_calls']:.1f}", "seconds": f"{summary['mean_seconds']:.1f}", "mean_eps": " ".join(f"{e:.3f}" for e in summary["mean_eps"]),
    }


def _out_folder(args: argparse.Namespace, spec, search: SearchSettings) -> Path:
    folder = Path(args.out) if args.out else Path(f"neighbourhood-{spec.label(search.cut)}")
    return require_writable_dir(folder, "--out")
