"""Is the default ``standard`` suite as strong as AutoAttack, and how much faster?

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/suite_vs_autoattack.py --run at=RUN_DIR --run standard=RUN_DIR \
        [--n 500] [--eps 0.3] [--device cpu|cuda] [--skip-autoattack] [--out result.json]

For every run (a labelrobust run directory, e.g. ``mnist-cnn`` trained with ``--method at
--eps 0.3``) and the first ``--n`` test samples at L∞ ``--eps``:

1. the ``standard`` suite (without its large-eps sanity run) through ``evaluate_attacks``:
   worst-case robust accuracy, wall time, and the robust accuracy after each ensemble attack
   (what each one buys), with its cost in forward and input-gradient passes;
2. the same suite with ``nested=False, active_set=False`` (``--ablate``): what the active set
   across attacks saves, in passes and seconds;
3. the published AutoAttack (standard version, through labelrobust's ``autoattack`` attack on
   the class scores, which equals the package on a logit model): robust accuracy and time.

Target (issue 9): suite worst case ≤ AutoAttack's robust accuracy + 0.5 points, in a fraction
of AutoAttack's time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
try:
    import labelrobust  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

from labelrobust.attacks import make_attack  # noqa: E402
from labelrobust.evaluation import AttackSpec, evaluate_attacks, get_suite  # noqa: E402
from labelrobust.metrics.inference import eval_mode, first_samples  # noqa: E402
from labelrobust.runs import load_run  # noqa: E402
from machine import available_cores, cpu_model, load_average  # noqa: E402

SLACK = 0.005


def run_suite(exp, images, specs: list[AttackSpec], eps: str, device, nested: bool) -> dict:
    started = time.perf_counter()
    report = evaluate_attacks(exp.model, exp.space, images, specs, [eps], "linf", batch_size=250, device=device, seed=0, quiet=True,
                              nested=nested, active_set=nested)
    seconds = time.perf_counter() - started
    cells = [{"label": o.label, "role": o.role, "robust_accuracy": o.robust_accuracy, "attacked": o.attacked, "seconds": o.seconds,
              "gradients": o.cost.get("gradients", 0), "forwards": o.cost.get("forwards", 0)} for o in report.outcomes]
    worst = next(iter(report.worst_case().values()))
    return {"robust_accuracy": worst, "clean_accuracy": report.clean_accuracy, "seconds": round(seconds, 2), "cells": cells,
            "gradients": sum(c["gradients"] for c in cells), "forwards": sum(c["forwards"] for c in cells)}


def run_autoattack(exp, images, eps: str, device) -> dict:
    attack = make_attack("autoattack", norm="linf", eps=eps)
    x = images.float_images().to(device)
    y = images.labels.to(device)
    started = time.perf_counter()
    with eval_mode(exp.model):
        with torch.no_grad():
            clean = exp.space.decode(exp.model(x))
        correct = (clean == y).nonzero().flatten()
        result = attack(exp.model, exp.space, x[correct], y[correct])
    seconds = time.perf_counter() - started
    robust = int((result.pred == y[correct]).sum())
    return {"robust_accuracy": robust / len(y), "seconds": round(seconds, 2), **result.cost.as_dict()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", action="append", required=True, metavar="NAME=RUN_DIR", help="a model to evaluate (repeatable)")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--eps", default="0.3")
    p.add_argument("--device", default="cpu")
    p.add_argument("--suite", default="standard")
    p.add_argument("--ablate", action="store_true", help="also run the suite without nesting and active set")
    p.add_argument("--skip-autoattack", action="store_true")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    logging.getLogger("labelrobust.evaluation.runner").setLevel(logging.DEBUG)
    device = torch.device(args.device)
    meta = {"date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_model(),
            "cores": available_cores(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "device": str(device), "load_average_start": load_average(),
            "n": args.n, "eps": args.eps, "suite": args.suite}
    specs = [s for s in get_suite(args.suite) if not s.fixed_eps]
    results = {}
    for item in args.run:
        name, _, run_dir = item.partition("=")
        exp = load_run(run_dir, device=str(device))
        images = first_samples(exp.dataset.test, args.n)
        out = {"run": run_dir, "suite": run_suite(exp, images, specs, args.eps, device, nested=True)}
        print(f"{name}: suite {100 * out['suite']['robust_accuracy']:.2f}% in {out['suite']['seconds']:.0f} s", flush=True)
        for c in out["suite"]["cells"]:
            print(f"    {c['label']:22s} {c['role']:10s} {100 * c['robust_accuracy']:6.2f}%  attacked {c['attacked']:4d}  {c['gradients']:>9,} grads  {c['forwards']:>9,} fwd  {c['seconds']:7.1f} s", flush=True)
        if args.ablate:
            out["no_nesting"] = run_suite(exp, images, specs, args.eps, device, nested=False)
            print(f"{name}: suite without nesting/active set {100 * out['no_nesting']['robust_accuracy']:.2f}% in {out['no_nesting']['seconds']:.0f} s", flush=True)
        if not args.skip_autoattack:
            out["autoattack"] = run_autoattack(exp, images, args.eps, device)
            aa = out["autoattack"]
            gap = out["suite"]["robust_accuracy"] - aa["robust_accuracy"]
            out["met"] = gap <= SLACK
            print(f"{name}: AutoAttack {100 * aa['robust_accuracy']:.2f}% in {aa['seconds']:.0f} s; suite − AA = {100 * gap:+.2f} points "
                  f"({'MET' if out['met'] else 'NOT MET'}: ≤ +{100 * SLACK:.1f}); time ratio {out['suite']['seconds'] / aa['seconds']:.2f}", flush=True)
        results[name] = out
    meta["load_average_end"] = load_average()
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
