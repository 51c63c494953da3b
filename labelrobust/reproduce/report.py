"""A study's report: sections of tables (ours next to the study's) and figures, a claims table,
and where the numbers came from — written as ``report.md``, a self-contained ``report.html``
(figures embedded as base64 PNG, inline CSS: it opens offline, from anywhere) and ``report.json``.

The parts are plain data: a study builds ``Section``s of ``Table``s and ``Figure``s, the
``Claim``s (``claims.py``) and the run times, and ``write_report`` renders them.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labelrobust.atomic import atomic_write_text
from labelrobust.reproduce.claims import CONTRADICTED, NOT_TESTABLE, SUPPORTED, Claim

REPORT_FORMAT = "labelrobust-reproduction-1"
MISSING = "–"
VERDICT_CSS = {SUPPORTED: "supported", CONTRADICTED: "contradicted", NOT_TESTABLE: "not-testable"}


@dataclass(frozen=True)
class Table:
    """Rows of cells under ``columns``; a float in [0, 1] in a column named in ``percent`` is
    written as a percentage. ``note`` says how to read it (what *ours* and *study* mean here)."""

    title: str
    columns: list[str]
    rows: list[list]
    note: str = ""
    percent: tuple[str, ...] = ()

    def cell_text(self, column: str, value: object) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return MISSING
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{100 * value:.2f}%" if column in self.percent else f"{value:.4g}"
        return str(value)

    def text_rows(self) -> list[list[str]]:
        return [[self.cell_text(c, v) for c, v in zip(self.columns, row)] for row in self.rows]


@dataclass(frozen=True)
class Figure:
    """A PNG the study wrote (``path``), with what it shows."""

    title: str
    path: Path
    caption: str = ""


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class Report:
    """Everything a study's report says. ``scale_difference``: in words, how this scale differs
    from the study's own setting; ``runs``: one row per training run (label, directory, seconds)."""

    study: str
    title: str
    source: str
    scale: str
    scale_difference: str
    sections: list[Section] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)


def write_report(report: Report, out: Path) -> list[Path]:
    """``report.md``, ``report.html`` and ``report.json`` in ``out``, each written atomically."""
    paths = [out / "report.md", out / "report.html", out / "report.json"]
    atomic_write_text(paths[0], markdown(report, out))
    atomic_write_text(paths[1], html_page(report))
    atomic_write_text(paths[2], json.dumps(as_json(report, out), indent=2, default=str) + "\n")
    return paths


def as_json(report: Report, out: Path) -> dict:
    data = asdict(report)
    for section in data["sections"]:
        for figure in section["figures"]:
            figure["path"] = _relative(Path(figure["path"]), out)
    return {"format": REPORT_FORMAT, **data}


def _relative(path: Path, out: Path) -> str:
    try:
        return str(path.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(path)


# -- markdown ----------------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(_md_escape(c) for c in table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in table.text_rows()]
    return lines


def claims_table(claims: list[Claim]) -> Table:
    return Table("Claims", ["claim", "verdict", "evidence"], [[c.claim, c.verdict, c.evidence] for c in claims])


def runs_table(runs: list[dict]) -> Table:
    columns = ["run", "what", "directory", "seconds", "status"]
    return Table("Training runs", columns, [[r.get(c, MISSING) for c in columns] for r in runs])


def markdown(report: Report, out: Path) -> str:
    p = report.provenance
    lines = [
        f"# {report.title} — scale `{report.scale}`",
        "",
        f"Study: {report.source}",
        "",
        f"**Scale.** {report.scale_difference}",
        "",
        f"Command: `{p.get('command', MISSING)}`; {p.get('date', MISSING)}; {p.get('machine', MISSING)}; "
        f"device {p.get('device', MISSING)}; {p.get('seconds', 0):.0f} s in all.",
        "",
        "## Claims",
        "",
        *markdown_table(claims_table(report.claims)),
        "",
    ]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        if section.text:
            lines += [section.text, ""]
        for table in section.tables:
            lines += [f"### {table.title}", ""]
            if table.note:
                lines += [table.note, ""]
            lines += [*markdown_table(table), ""]
        for figure in section.figures:
            lines += [f"![{figure.title}]({_relative(figure.path, out)})", ""]
            if figure.caption:
                lines += [f"*{figure.title}.* {figure.caption}", ""]
    if report.runs:
        lines += ["## Training runs", "", *markdown_table(runs_table(report.runs)), ""]
    return "\n".join(lines)


# -- HTML --------------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.supported { background: #e5f5e0; } td.contradicted { background: #fde0dd; } td.not-testable { background: #f0f0f0; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption, p.note { font-size: 0.85rem; color: #555; }
code { background: #f6f6f6; padding: 0 0.2rem; }
"""


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def html_table(table: Table, verdict_column: str | None = None) -> str:
    head = "".join(f"<th>{_h(c)}</th>" for c in table.columns)
    body = []
    for row in table.text_rows():
        cells = []
        for column, text in zip(table.columns, row):
            css = f' class="{VERDICT_CSS[text]}"' if column == verdict_column and text in VERDICT_CSS else ""
            cells.append(f"<td{css}>{_h(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def embedded_image(path: Path, alt: str) -> str:
    """The PNG at ``path`` as an ``<img>`` with a data URI (no file or network needed to view it)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{_h(alt)}" src="data:image/png;base64,{data}">'


def html_page(report: Report) -> str:
    p = report.provenance
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_h(report.title)} — {_h(report.scale)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_h(report.title)} — scale <code>{_h(report.scale)}</code></h1>",
        f"<p>Study: {_h(report.source)}</p>",
        f"<p><strong>Scale.</strong> {_h(report.scale_difference)}</p>",
        f"<p class=\"note\">Command: <code>{_h(p.get('command', MISSING))}</code>; {_h(p.get('date', MISSING))}; "
        f"{_h(p.get('machine', MISSING))}; device {_h(p.get('device', MISSING))}; {float(p.get('seconds', 0)):.0f} s in all.</p>",
        "<h2>Claims</h2>",
        html_table(claims_table(report.claims), verdict_column="verdict"),
    ]
    for section in report.sections:
        parts.append(f"<h2>{_h(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{_h(section.text)}</p>")
        for table in section.tables:
            parts.append(f"<h3>{_h(table.title)}</h3>")
            if table.note:
                parts.append(f'<p class="note">{_h(table.note)}</p>')
            parts.append(html_table(table))
        for figure in section.figures:
            caption = f"<figcaption><strong>{_h(figure.title)}.</strong> {_h(figure.caption)}</figcaption>"
            parts.append(f"<figure>{embedded_image(figure.path, figure.title)}{caption}</figure>")
    if report.runs:
        parts += ["<h2>Training runs</h2>", html_table(runs_table(report.runs))]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
