"""Robust evaluation of a run directory: attacks, checks, and files in ``RUN_DIR/eval``.

One evaluation *name* (a suite, ``attack-pgd-steps=20``, ...) owns ``robust-<name>.json``,
``.csv``, ``.png`` and the per-sample ``robust-<name>.state.json``; an L2 evaluation appends
``-l2`` and a targeted one ``-target<T>``, so one file never mixes threat models. Results
accumulate over calls (a second call at another eps adds its rows) and every row records the
SHA-256 of the weights file and the samples it was computed on; rows of other weights (the run
was trained further) are kept and marked ``stale``.

The results file is format ``labelrobust-robust-eval-3`` (cells with the attacks' own
descriptions, roles, costs, survival against the clean prediction, per-cell flags).
``read_results`` reads it and format 2.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from labelrobust.atomic import atomic_write_text
from labelrobust.domain import UNIT_BOX
from labelrobust.errors import ConfigError
from labelrobust.evaluation.checks import run_checks, zero_gradient_check
from labelrobust.evaluation.outcomes import RobustReport
from labelrobust.evaluation.plots import plot_accuracy_vs_eps
from labelrobust.evaluation.runner import evaluate_attacks
from labelrobust.evaluation.specs import AttackSpec
from labelrobust.labels import ABSTAIN
from labelrobust.metrics.clean import load_evaluated_run, prepare_output, summary_csv
from labelrobust.metrics.inference import first_samples
from labelrobust.metrics.robustness import adversarial_confusion
from labelrobust.validation import positive_int

FORMAT = "labelrobust-robust-eval-3"
OLD_FORMATS = ("labelrobust-robust-eval-2",)
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
    nested: bool = True,
    active_set: bool = True,
    skip_unsupported: bool = False,
    plot: bool = True,
) -> RobustReport:
    """Attack the run's test split (its first ``n`` samples) inside the dataset's input domain
    and write ``<stem>.{json,csv,png}`` into ``out`` (default ``RUN_DIR/eval``); see the module
    docstring. ``weights``: ``latest`` or ``best-val``; ``device``: None = the run's training
    device if present, else the CPU; ``nested``/``active_set``: see ``evaluate_attacks``."""
    reports = robust_evaluate_targets(
        run_dir, specs, eps, [target], name=name, weights=weights, device=device, out=out, norm=norm, n=n, batch_size=batch_size,
        checks=checks, quiet=quiet, nested=nested, active_set=active_set, skip_unsupported=skip_unsupported, plot=plot,
    )
    return reports[target]


def robust_evaluate_targets(run_dir: str | Path, specs: list[AttackSpec], eps: list[float | str], targets: list[int | None], *, name: str,
                            weights: str = "latest", device: str | None = None, out: str | Path | None = None, **options) -> dict[int | None, RobustReport]:
    """``robust_evaluate_run`` once per target class (None: untargeted), loading the run once;
    each target has its own ``<stem>-target<T>`` files. ``options``: the other keywords of ``robust_evaluate_run``
    (``plot`` defaults to False here: one accuracy plot per target says little)."""
    options.setdefault("plot", False)
    positive_int(options.get("batch_size", 256), "batch_size")
    if options.get("n") is not None:
        positive_int(options["n"], "n")
    out_dir = prepare_output(run_dir, out, device)
    loaded = load_evaluated_run(run_dir, weights, device)
    return {t: _evaluate_loaded(run_dir, loaded, out_dir, specs, eps, name=name, target=t, **options) for t in targets}


def _evaluate_loaded(run_dir, loaded, out_dir: Path, specs: list[AttackSpec], eps: list[float | str], *, name: str, norm: str = "linf",
                     n: int | None = None, target: int | None = None, batch_size: int = 256, checks: bool = True, quiet: bool = False,
                     nested: bool = True, active_set: bool = True, skip_unsupported: bool = False, plot: bool = True) -> RobustReport:
    exp, model_id = loaded
    images = first_samples(exp.dataset.test, n)
    domain = getattr(exp.dataset, "domain", UNIT_BOX)
    stem = results_stem(name, norm, target)
    report = evaluate_attacks(
        exp.model, exp.space, images, specs, eps, norm,
        target=target, batch_size=batch_size, seed=exp.config.seed, state_path=out_dir / f"{stem}.state.json",
        model_id=model_id, quiet=quiet, domain=domain, nested=nested, active_set=active_set, skip_unsupported=skip_unsupported,
    )
    if report.stale:
        log.info("%d earlier result(s) in %s were computed on other weights, samples or by an older labelrobust: kept, marked stale", len(report.stale), stem)
    if checks and report.outcomes:
        # the gradient the attacks follow: the own loss of the clean prediction, where there is one
        probe = torch.arange(min(256, len(report.labels)))
        kept = probe[report.clean_pred[probe] != ABSTAIN]
        if len(kept):
            x = _report_images(images, report)[kept]
            run_checks(report, [zero_gradient_check(exp.model, exp.space, x, report.clean_pred[kept], report)])
        else:
            run_checks(report)
    write_results(report, out_dir / stem, run=str(run_dir), name=name, num_classes=exp.space.num_classes, title=f"{exp.config.run_name()} — {name}", plot=plot)
    return report


def _report_images(images, report: RobustReport) -> torch.Tensor:
    """The inputs of the report's samples (a targeted report leaves out the target class)."""
    if report.target is not None:
        images = images.subset((images.labels != report.target).nonzero().flatten())
    return images.float_images()


def summarize(report: RobustReport, *, run: str, name: str, num_classes: int) -> dict:
    """The JSON summary of a report (format ``labelrobust-robust-eval-3``)."""
    texts = report.eps_texts()
    worst = report.worst_case_metrics()
    return {
        "format": FORMAT,
        "run": run,
        "name": name,
        "norm": report.norm,
        "target": report.target,
        "domain": report.domain,
        "weights": report.model,
        "samples": {"split": "test", **report.samples},
        "n": len(report.labels),
        "clean_accuracy": report.clean_accuracy,
        "worst_case": [{"eps": e, "eps_text": texts[e], **m} for e, m in worst.items()],
        "cost": total_cost(report),
        "outcomes": report.rows(),
        "checks": [{"name": f.name, "verdict": f.verdict, "detail": f.detail, "doc": f.doc, "cells": [list(c) for c in f.cells]} for f in report.checks],
        "confusion": {f"{o.label}@{o.eps_text}": adversarial_confusion(report.clean_pred, o.adv_pred, num_classes).tolist() for o in report.outcomes},
    }


def total_cost(report: RobustReport) -> dict:
    """Forward and input-gradient passes over all current cells, and how many (sample, cell)
    attacks nesting and the active set skipped."""
    keys = ("forwards", "gradients", "source_forwards", "source_gradients")
    out = {k: sum(o.cost.get(k, 0) for o in report.outcomes) for k in keys}
    out["attacked"] = sum(o.attacked for o in report.outcomes)
    out["skipped_nested"] = sum(o.skipped_nested for o in report.outcomes)
    out["skipped_active"] = sum(o.skipped_active for o in report.outcomes)
    out["seconds"] = round(sum(o.seconds for o in report.outcomes), 3)
    return out


def write_results(report: RobustReport, base: Path, *, run: str, name: str, num_classes: int, title: str, plot: bool = True) -> None:
    """``base.json`` (format ``labelrobust-robust-eval-3``), ``base.csv`` and (``plot``) ``base.png``."""
    summary = summarize(report, run=run, name=name, num_classes=num_classes)
    atomic_write_text(base.with_name(base.name + ".json"), json.dumps(summary, indent=2))
    if summary["outcomes"]:
        rows = [{**r, "budget": json.dumps(r["budget"], sort_keys=True)} for r in summary["outcomes"]]
        atomic_write_text(base.with_name(base.name + ".csv"), summary_csv(rows))
        if plot:
            plot_accuracy_vs_eps(report, base.with_name(base.name + ".png"), title=title)


def read_results(path: str | Path) -> dict:
    """A results JSON in the current format; a format-2 file is converted: its rows gain the
    fields format 3 added (``role`` diagnostic, description fields from the old name-based
    guesses, survival measured against the true label — say so in ``notes``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read evaluation results {path}: {err}") from None
    fmt = data.get("format") if isinstance(data, dict) else None
    if fmt == FORMAT:
        return data
    if fmt in OLD_FORMATS:
        rows = [{**r, "role": "diagnostic", "adaptive": r.get("objective") not in ("loss", ""), "budget": {}} for r in data.get("outcomes", [])]
        notes = ["format 2: every attack ran on every sample against the true label; survival counted samples already misclassified",
                 "format 2: objective, kind and effort were guessed from attack names, not reported by the attacks"]
        return {**data, "format": FORMAT, "converted_from": fmt, "outcomes": rows, "notes": notes}
    raise ConfigError(f"{path} is not a labelrobust evaluation result (format {fmt!r}; expected {FORMAT} or {', '.join(OLD_FORMATS)})")
