"""Tables every study's report needs, made from the evaluation's own results: robust accuracy
per attack and eps next to the study's number, the worst case, and the gradient-masking flags
(``evaluation/checks.py``, docs/flags.md) as verdicts."""

from __future__ import annotations

from collections.abc import Mapping

from labelrobust.evaluation import RobustReport
from labelrobust.reproduce.report import Table

WORST = "worst case"


def attack_cells(report: RobustReport) -> dict[tuple[str, str], float | None]:
    """(attack label, eps as written) → robust accuracy, plus (``WORST``, eps) for the worst case."""
    cells = {(o.label, o.eps_text): o.robust_accuracy for o in report.outcomes if not o.fixed_eps}
    texts = report.eps_texts()
    cells |= {(WORST, texts[eps]): acc for eps, acc in report.worst_case().items()}
    return cells


def robust_table(title: str, reports: Mapping[str, RobustReport], columns: list[tuple[str, str]], *,
                 study: Mapping[str, Mapping[tuple[str, str], float]] | None = None, note: str = "") -> Table:
    """One row per model: clean accuracy, then robust accuracy for each (attack label, eps)
    column; with ``study`` (model → column → the study's number) each of our cells is followed
    by the study's."""
    header = ["model", "clean"]
    for attack, eps in columns:
        header.append(f"{attack} @{eps}")
        if study is not None:
            header.append(f"study {attack} @{eps}")
    rows = []
    for model, report in reports.items():
        cells = attack_cells(report)
        row: list = [model, report.clean_accuracy]
        for column in columns:
            row.append(cells.get(column))
            if study is not None:
                row.append(study.get(model, {}).get(column))
        rows.append(row)
    return Table(title, header, rows, note=note, percent=tuple(header[1:]))


def masking_table(reports: Mapping[str, RobustReport], title: str = "Gradient-masking checks") -> Table:
    """Each model's sanity checks (Carlini et al. 2019) with their verdict (ok / FLAG / n/a)."""
    rows = [[model, flag.name, flag.verdict, flag.detail] for model, report in reports.items() for flag in report.checks]
    return Table(title, ["model", "check", "verdict", "detail"], rows,
                 note="FLAG: the check failed, a sign of gradient masking or a weak attack (docs/flags.md); n/a: not applicable here.")


def flagged(report: RobustReport) -> list[str]:
    """The names of the checks that failed."""
    return [f.name for f in report.checks if f.ok is False]
