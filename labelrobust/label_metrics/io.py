"""Label metrics in files: CSV (a header row of class names, then K rows of numbers) or NPY.

A CSV's header says which class each row and column is, so ``read_metric`` can reorder the
matrix to the dataset's class order, or refuse a metric for other classes. Headerless text
(numbers only, comma- or whitespace-separated) and ``.npy`` arrays carry no names: they must
be K×K and are taken to be in the dataset's class order.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from labelrobust.atomic import atomic_write_text
from labelrobust.errors import ConfigError
from labelrobust.label_metrics.metric import LabelMetric, validate_matrix
from labelrobust.yaml_values import float_from_text

NPY_MAGIC = b"\x93NUMPY"
"""The first bytes of every ``.npy`` file (NumPy's format spec); numpy's own error for a file
without them talks about pickles, which says nothing useful about a misnamed file."""


def read_metric(path: str | Path, class_names=None, *, who: str = "label metric") -> LabelMetric:
    """The metric in ``path``, validated; with ``class_names``, reordered to them (a CSV with a
    header) or checked to have one row per class (no header). ``who`` starts every error."""
    path = Path(path)
    where = f"{who} {path}"
    names, rows = read_matrix_file(path, where)
    matrix = validate_matrix(rows, where)
    if names is None:
        if class_names is None:
            names = tuple(f"class {i}" for i in range(len(matrix)))
        elif len(class_names) != len(matrix):
            raise ConfigError(
                f"{where} is {len(matrix)}×{len(matrix)} but the dataset has {len(class_names)} classes; "
                f"expected one row per class (a header row of class names lets a larger metric be reordered to the dataset's classes)"
            )
        else:
            names = tuple(class_names)
    elif len(names) != len(matrix):
        raise ConfigError(f"{where}: the header names {len(names)} classes but the matrix is {len(matrix)}×{len(matrix)}; expected one name per column")
    metric = LabelMetric(matrix, tuple(names), source=f"file:{path}", details={"file": str(path)})
    return metric if class_names is None else metric.for_classes(tuple(class_names), where=who)


def write_metric_csv(path: str | Path, metric: LabelMetric, digits: int | None = None) -> Path:
    """Write ``metric`` as CSV atomically: a header row of class names, then one row of numbers
    per class, at full float precision (``digits``: that many significant digits instead)."""
    atomic_write_text(path, metric_csv_text(metric, digits))
    return Path(path)


def metric_csv_text(metric: LabelMetric, digits: int | None = None) -> str:
    """The CSV ``write_metric_csv`` writes."""
    number = repr if digits is None else (lambda v: f"{v:.{digits}g}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(metric.class_names)
    for row in metric.matrix:
        writer.writerow([number(float(v)) for v in row])
    return out.getvalue()


def read_matrix_file(path: Path, where: str) -> tuple[tuple[str, ...] | None, np.ndarray | list[list[float]]]:
    """``(header names or None, rows)`` from a ``.npy`` array or a text file; every failure is a
    one-line ConfigError naming the file (and the line)."""
    if path.is_dir():
        raise ConfigError(f"{where} is a folder; expected a .npy or .csv file")
    if not path.is_file():
        raise ConfigError(f"{where} does not exist")
    if path.suffix == ".npy":
        return None, _read_npy(path, where)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's CSV may start with a byte-order mark
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{where} cannot be read as text ({err}); expected a K×K numeric matrix, comma-separated (.csv), or a .npy file") from None
    return parse_matrix_text(text, path, where)


def _read_npy(path: Path, where: str) -> np.ndarray:
    try:
        with path.open("rb") as f:
            if f.read(len(NPY_MAGIC)) != NPY_MAGIC:
                raise ValueError("it does not start with the NumPy file header")
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise ConfigError(f"{where} is not a readable .npy array ({err}); expected a K×K numeric matrix saved with numpy.save") from None


def parse_matrix_text(text: str, path: Path, where: str) -> tuple[tuple[str, ...] | None, list[list[float]]]:
    """Rows of numbers, comma-separated in a ``.csv`` (whitespace otherwise); blank lines and
    ``#`` comments are skipped. The first row is a header of class names when none of its fields
    is a number, or when the rows form a (K+1)×K block: class names may be numbers (MNIST's are
    ``0``…``9``), and only a header makes such a block square."""
    comma = path.suffix == ".csv"
    layout = "comma-separated" if comma else "whitespace-separated"
    lines = [(n, _fields(c, comma)) for n, c in _content_lines(text)]
    if not lines:
        raise ConfigError(f"{where} holds no numbers; expected a K×K numeric matrix, {layout}")
    header: tuple[str, ...] | None = None
    numeric_first = all(float_from_text(f) is not None for f in lines[0][1])
    if not any(float_from_text(f) is not None for f in lines[0][1]) or (numeric_first and len(lines) == len(lines[0][1]) + 1):
        header, lines = tuple(lines[0][1]), lines[1:]
    rows: list[list[float]] = []
    for line_no, fields in lines:
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            word = next(f for f in fields if float_from_text(f) is None)
            raise ConfigError(
                f"{where}, line {line_no}: {word!r} is not a number; expected a K×K numeric matrix, {layout}, "
                f"one row per line, after an optional header row of class names"
            ) from None
        if len(rows[-1]) != len(rows[0]):
            raise ConfigError(f"{where}, line {line_no} has {len(rows[-1])} numbers but the first row has {len(rows[0])}; expected a K×K numeric matrix, {layout}")
    if not rows:
        raise ConfigError(f"{where} holds no numbers; expected a K×K numeric matrix, {layout}")
    return header, rows


def _content_lines(text: str) -> list[tuple[int, str]]:
    out = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if content:
            out.append((line_no, content))
    return out


def _fields(content: str, comma: bool) -> list[str]:
    if not comma:
        return content.split()
    return [f.strip() for f in next(csv.reader([content]))]
