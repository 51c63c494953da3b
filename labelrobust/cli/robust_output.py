"""What the evaluation commands (evaluate, attack, transfer) share: their common flags, checked
as they are parsed, and the printing of robust-evaluation results (outcome table, worst case,
sanity-check verdicts and the stale results kept from other weights)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from labelrobust.atomic import require_writable_dir
from labelrobust.cli.output import emit, format_table
from labelrobust.errors import ConfigError, OutputError
from labelrobust.evaluation import Outcome, RobustReport, results_stem
from labelrobust.evaluation.run_dir import total_cost
from labelrobust.runs import RunPaths

COLUMNS = ["label", "role", "eps", "robust_accuracy", "survival", "attack_success", "abstain_rate", "attacked", "gradients", "forwards", "seconds", "flags"]
STALE_COLUMNS = ["label", "eps", "robust_accuracy", "attack_success", "stale"]
PERCENT = ["robust_accuracy", "attack_success", "abstain_rate", "survival"]


class NonNegativeInt(argparse.Action):
    """An integer ≥ 0 (``--layers``, ``--seed``), refused while the command line is parsed."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            value = int(values)
        except ValueError:
            value = -1
        if value < 0:
            raise ConfigError(f"{option_string} must be an integer ≥ 0, got {values!r}")
        setattr(namespace, self.dest, value)


class PositiveInt(argparse.Action):
    """A flag whose value must be an integer ≥ 1 (``--batch-size``, ``--n``); anything else is a
    one-line error naming the flag, raised while the command line is parsed."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            value = int(values)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(f"{option_string} must be a positive integer, got {values!r}")
        setattr(namespace, self.dest, value)


class _FiniteFloat(argparse.Action):
    """A finite number above (``strict``) or at least ``low``, refused while parsing."""

    low, strict, wanted = 0.0, True, "a finite number > 0"

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            value = float(values)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < self.low or (self.strict and value == self.low):
            raise ConfigError(f"{option_string} must be {self.wanted}, got {values!r}")
        setattr(namespace, self.dest, value)


class PositiveFloat(_FiniteFloat):
    """A flag whose value must be a finite number > 0 (``--power``)."""


class NonNegativeFloat(_FiniteFloat):
    """A flag whose value must be a finite number ≥ 0 (``--blur``, a radius)."""

    strict, wanted = False, "a finite number ≥ 0"


def add_device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the device the run trained on if this machine has it, else cpu)")


def split_eps(text: str | None) -> list[str]:
    """``"8/255, 16/255"`` → ``["8/255", "16/255"]``: radii stay as written, for the tables."""
    return [e.strip() for e in str(text or "").split(",") if e.strip()]


def output_file(path: str | Path, flag: str = "--out") -> Path:
    """A file to write: not a folder, and its folder is created (or refused) before any work."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{flag} {path} is a folder; give a file name, e.g. {path / 'transfer.json'}")
    require_writable_dir(path.parent, f"the folder of {flag}")
    return path


def written(run_dir: str, out: str | None, name: str, norm: str, target: int | None) -> str:
    """Which files a robust evaluation wrote, for the last line of its output."""
    folder = Path(out) if out is not None else RunPaths(Path(run_dir)).eval_dir
    return f"{folder / results_stem(name, norm, target)}.csv, .json, .png (per-sample state: .state.json)"


def emit_report(report: RobustReport, files: str) -> None:
    emit(f"clean accuracy: {100 * report.clean_accuracy:.2f}% on {len(report.labels)} test samples" + (f" (target class {report.target} left out)" if report.target is not None else ""))
    emit(weights_line(report.model))
    if report.outcomes:
        emit(format_table([_printable(o) for o in report.outcomes], COLUMNS, percent=PERCENT))
        worst, texts = report.worst_case_metrics(), report.eps_texts()
        if worst:
            emit("worst case over all attacks: " + ", ".join(
                f"eps {texts[e]}: robust accuracy {100 * m['robust_accuracy']:.2f}%, survival {_percent(m['survival'])}" for e, m in worst.items()))
        cost = total_cost(report)
        emit(f"cost: {cost['gradients']:,} input-gradient and {cost['forwards']:,} forward passes (summed over samples) in {cost['seconds']:.1f} s; "
             f"nested eps skipped {cost['skipped_nested']:,} and the active set {cost['skipped_active']:,} of "
             f"{cost['attacked'] + cost['skipped_nested'] + cost['skipped_active']:,} (sample, attack, eps) attacks")
        emit("robust accuracy is against the true label; survival (dominant class unchanged) against the clean prediction; "
             "an ensemble row counts the worst case so far, a diagnostic row its own attack")
    if report.checks:
        emit(format_table([{"check": f.name, "verdict": f.verdict, "detail": f.detail} for f in report.checks]))
        if any(f.ok is False for f in report.checks):
            emit("FLAGGED: the robustness above is probably overstated; see docs/flags.md")
    if report.stale:
        emit(f"STALE: {len(report.stale)} earlier result(s) computed on other weights or samples, kept for reference; not in the worst case or the checks:")
        emit(format_table([_printable(o) for o in report.stale], STALE_COLUMNS, percent=PERCENT))
    emit(f"written: {files}")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def weights_line(model: dict | None) -> str:
    """``weights: latest (model.safetensors, sha256 1a2b3c4d5e6f)``."""
    model = model or {}
    return f"weights: {model.get('weights', '?')} ({model.get('file', '?')}, sha256 {str(model.get('sha256'))[:12]})"


def _printable(outcome: Outcome) -> dict[str, object]:
    """A table row with eps as the user wrote it and the reason a stale row is stale."""
    return {**outcome.row(), "eps": outcome.eps_text, "stale": outcome.stale or ""}
