"""Robust evaluation of a run directory: attacks, checks, and files in ``RUN_DIR/eval``.

One evaluation *name* (a suite, ``attack-pgd-steps=20``, ...) owns ``robust-<name>.json``,
``.csv``, ``.png`` and the per-sample ``robust-<name>.state.json``; an L2 evaluation appends
``-l2`` and a targeted one ``-target<T>``, so one file never mixes threat models. Results
accumulate over calls (a second call at another eps adds its rows) and every row records the
SHA-256 of the weights file and the samples it was computed on; rows of other weights (the run
was trained further) are kept and marked ``stale``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from labelrobust.atomic import atomic_write_text
from labelrobust.metrics.checks import run_checks, zero_gradient_check
from labelrobust.metrics.clean import load_evaluated_run, prepare_output, summary_csv
from labelrobust.metrics.inference import first_samples, positive_int
from labelrobust.metrics.plots import plot_accuracy_vs_eps
from labelrobust.metrics.robust_eval import AttackSpec, RobustReport, evaluate_attacks
from labelrobust.metrics.robustness import adversarial_confusion

FORMAT = "labelrobust-robust-eval-2"
log = logging.getLogger(__name__)


def results_stem(name: str, norm: str = "linf", target: int | None = None) -> str:
    """The file stem of an evaluation: ``robust-<name>[-l2][-target<T>]``."""
    return f"robust-{name}" + ("" if norm == "linf" else f"-{norm}") + ("" if target is None else f"-target{target}")


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
    weights: str = "latest",
    device: str | None = None,
    out: str | Path | None = None,
) -> RobustReport:
    """Attack the run's test split (its first ``n`` samples) and write ``<stem>.{json,csv,png}``
    into ``out`` (default ``RUN_DIR/eval``); see the module docstring. ``weights``: ``latest`` or
    ``best-val``; ``device``: None = the run's training device if present, else the CPU."""
    positive_int(batch_size, "batch_size")
    if n is not None:
        positive_int(n, "n")
    out_dir = prepare_output(run_dir, out, device)
    exp, model_id = load_evaluated_run(run_dir, weights, device)
    images = first_samples(exp.dataset.test, n)
    stem = results_stem(name, norm, target)
    report = evaluate_attacks(
        exp.model, exp.space, images, specs, eps, norm,
        target=target, batch_size=batch_size, seed=exp.config.seed,
        state_path=out_dir / f"{stem}.state.json", model_id=model_id, quiet=quiet,
    )
    if report.stale:
        log.info("%d earlier result(s) in %s were computed on other weights or samples: kept, marked stale", len(report.stale), stem)
    if checks and report.outcomes:
        probe = images.subset(torch.arange(min(256, len(images))))
        run_checks(report, [zero_gradient_check(exp.model, exp.space, probe.float_images(), probe.labels)])
    write_results(report, out_dir / stem, run=str(run_dir), name=name, num_classes=exp.space.num_classes, title=f"{exp.config.run_name()} — {name}")
    return report


def write_results(report: RobustReport, base: Path, *, run: str, name: str, num_classes: int, title: str) -> None:
    """``base.json`` (format ``labelrobust-robust-eval-2``), ``base.csv`` and ``base.png``."""
    summary = {
        "format": FORMAT,
        "run": run,
        "name": name,
        "norm": report.norm,
        "target": report.target,
        "weights": report.model,
        "samples": {"split": "test", **report.samples},
        "n": len(report.labels),
        "clean_accuracy": report.clean_accuracy,
        "worst_case": [{"eps": e, "eps_text": report.eps_texts()[e], "robust_accuracy": a} for e, a in report.worst_case().items()],
        "outcomes": report.rows(),
        "checks": [{"name": f.name, "verdict": f.verdict, "detail": f.detail, "doc": f.doc} for f in report.checks],
        "confusion": {f"{o.label}@{o.eps_text}": adversarial_confusion(report.clean_pred, torch.tensor(o.adv_pred, dtype=torch.int64), num_classes).tolist() for o in report.outcomes},
    }
    atomic_write_text(base.with_name(base.name + ".json"), json.dumps(summary, indent=2))
    if summary["outcomes"]:
        atomic_write_text(base.with_name(base.name + ".csv"), summary_csv(summary["outcomes"]))
        plot_accuracy_vs_eps(report, base.with_name(base.name + ".png"), title=title)

