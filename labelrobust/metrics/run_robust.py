"""Robust evaluation of a run directory: attacks, checks, and files in ``RUN_DIR/eval``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from labelrobust.atomic import atomic_write_text
from labelrobust.metrics.checks import run_checks, zero_gradient_check
from labelrobust.metrics.clean import summary_csv
from labelrobust.metrics.plots import plot_accuracy_vs_eps
from labelrobust.metrics.robust_eval import AttackSpec, RobustReport, evaluate_attacks
from labelrobust.metrics.robustness import adversarial_confusion
from labelrobust.runs import RunPaths, load_run


def robust_evaluate_run(
    run_dir: str | Path,
    specs: list[AttackSpec],
    eps: list[float | str],
    *,
    name: str,
    norm: str = "linf",
    n: int | None = None,
    target: int | None = None,
    batch_size: int = 256,
    checks: bool = True,
    quiet: bool = False,
) -> RobustReport:
    """Attack the run's test split (its first ``n`` samples) and write
    ``eval/robust-<name>.{csv,json,png}``; resumable through ``eval/robust-<name>.state.json``."""
    paths = RunPaths(Path(run_dir))
    exp = load_run(run_dir)
    images = exp.dataset.test if n is None else exp.dataset.test.subset(list(range(min(n, len(exp.dataset.test)))))
    tag = hashlib.sha256(paths.weights.read_bytes()).hexdigest() + f":{len(images)}"
    report = evaluate_attacks(
        exp.model, exp.space, images, specs, eps, norm,
        target=target, batch_size=batch_size, device=exp.config.device, seed=exp.config.seed,
        state_path=paths.eval_dir / f"robust-{name}.state.json", state_tag=tag, quiet=quiet,
    )
    if checks and report.outcomes:
        probe = images.subset(list(range(min(256, len(images)))))
        run_checks(report, [zero_gradient_check(exp.model, exp.space, probe.float_images(), probe.labels)])
    rows = report.rows()
    summary = {
        "run": str(run_dir),
        "norm": norm,
        "target": target,
        "n": len(report.labels),
        "clean_accuracy": report.clean_accuracy,
        "worst_case": {str(k): v for k, v in report.worst_case().items()},
        "outcomes": rows,
        "checks": [{"name": f.name, "verdict": f.verdict, "detail": f.detail, "doc": f.doc} for f in report.checks],
        "confusion": {f"{o.label}@{o.eps:g}": adversarial_confusion(report.clean_pred, torch.tensor(o.adv_pred), exp.space.num_classes).tolist() for o in report.outcomes},
    }
    out = paths.eval_dir
    atomic_write_text(out / f"robust-{name}.json", json.dumps(summary, indent=2))
    if rows:
        atomic_write_text(out / f"robust-{name}.csv", summary_csv(rows))
        plot_accuracy_vs_eps(report, out / f"robust-{name}.png", title=f"{exp.config.run_name()} — {name}")
    return report
