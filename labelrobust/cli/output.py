"""The command line's output layer: tables and messages on stdout (library code only logs)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def format_value(value: object) -> str:
    if isinstance(value, float):
        # 4 decimals, but never a small number (a learning rate of 6e-5) rounded into another
        return f"{value:.3g}" if value and abs(value) < 1e-3 else f"{value:.4f}"
    return "" if value is None else str(value)


def format_table(rows: Sequence[dict[str, object]], columns: Sequence[str] | None = None, percent: Sequence[str] = ()) -> str:
    """A plain-text table; columns named in ``percent`` are shown as percentages."""
    if not rows:
        return "(no rows)\n"
    columns = list(columns or dict.fromkeys(k for row in rows for k in row))
    cells = [
        [f"{100 * row[c]:.2f}%" if c in percent and isinstance(row.get(c), float) else format_value(row.get(c)) for c in columns]
        for row in rows
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in cells]
    return "\n".join([line, rule, *body]) + "\n"


def emit(text: str = "") -> None:
    """Write a line of user-facing output."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def emit_error(text: str) -> None:
    sys.stderr.write(f"labelrobust: error: {text}\n")
    sys.stderr.flush()
