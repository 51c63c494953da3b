"""Printing robust-evaluation results: the outcome table and the sanity-check verdicts."""

from __future__ import annotations

from labelrobust.cli.output import emit, format_table
from labelrobust.metrics.robust_eval import RobustReport

COLUMNS = ["label", "eps", "robust_accuracy", "attack_success", "abstain_rate", "survival", "stability_ratio", "steps", "seconds", "flags"]


def emit_report(report: RobustReport, files: str) -> None:
    rows = report.rows()
    emit(f"clean accuracy: {100 * report.clean_accuracy:.2f}% on {len(report.labels)} test samples" + (f" (target class {report.target} left out)" if report.target is not None else ""))
    if rows:
        emit(format_table(rows, COLUMNS, percent=["robust_accuracy", "attack_success", "abstain_rate", "survival"]))
        worst = report.worst_case()
        emit("worst case over all attacks: " + ", ".join(f"eps {e:g}: {100 * a:.2f}%" for e, a in worst.items()))
    if report.checks:
        emit(format_table([{"check": f.name, "verdict": f.verdict, "detail": f.detail} for f in report.checks]))
        if any(f.ok is False for f in report.checks):
            emit("FLAGGED: the robustness above is probably overstated; see docs/flags.md")
    emit(f"written: {files}")
