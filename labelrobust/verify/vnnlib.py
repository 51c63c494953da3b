"""VNN-LIB: the SMT-LIB-based property format of the verification community (VNN-COMP; see
https://www.vnnlib.org), in the common subset its benchmarks use.

A VNN-LIB file declares the network's flattened inputs ``X_0 … X_{n−1}`` and outputs
``Y_0 … Y_{K−1}`` as ``Real`` constants and asserts a conjunction of formulas; the query is
**sat** when some input satisfies them all — i.e. the asserted output set is the *unsafe* set,
exactly as ``OutputProperty`` holds it (a disjunction of clauses ``C_i y + d_i ≥ 0``).

``write_vnnlib(input_set, prop, path)`` writes ``(assert (<= X_i u_i))`` and
``(assert (>= X_i l_i))`` per input, then the unsafe set: one ``(assert …)`` per constraint
when the property has one clause, else ``(assert (or (and …) …))`` with one clause per line.
A constraint ``c·y + d ≥ 0`` is written as ``(>= Y_j Y_t)`` when it is ``y_j − y_t ≥ 0``, as
``(>= Y_j v)``/``(<= Y_j v)`` for a single ±1 coefficient, and otherwise as
``(>= (+ (* c_0 Y_0) (* c_3 Y_3)) v)``. Numbers are written positionally with the shortest
digits that identify the float (the digits of ``repr``), so a read-back is exact.

``read_vnnlib(path)`` parses the subset with its own tokenizer and s-expression reader (the
format is tiny; the one PyPI package, ``vnnlib``, targets VNN-LIB 2.0 through a compiled
extension). Supported:

- ``(declare-const X_i Real)``, ``(declare-const Y_j Real)`` (also ``(declare-fun X_i () Real)``);
  ``set-logic``, ``set-info``, ``set-option``, ``check-sat``, ``get-model``, ``exit`` are
  ignored; ``;`` comments are skipped;
- ``(assert F)`` with ``F`` built from ``and``, ``or``, ``true``, ``false`` and the comparisons
  ``<=``, ``>=``, ``=`` (chained as in SMT-LIB), and ``<``, ``>`` **read as non-strict** (the
  verifier's sets are closed: robust for the closed unsafe set implies robust for the open
  one, and a ``sat`` witness may lie on the boundary);
- linear terms: numbers (``-0.5`` or ``(- 0.5)``, decimals or exponents), declared variables,
  ``+``, ``-`` (unary and n-ary), ``*`` with at most one non-constant factor, ``/`` by a
  constant.

The conjunction is expanded into disjunctive normal form. Each term must bound every input
from both sides by single-input constraints and constrains the outputs linearly (constraints
mixing inputs and outputs are refused; a constraint without variables becomes a constant
output row). Terms with the same input box are one **case**; the reader returns the cases,
``[(InputSet, OutputProperty), …]``, and the query is sat iff some case is. The VNN-COMP form
``(assert (or (and <input box> <output constraints>) …))`` thus gives several cases; the
usual form (box asserted once, outputs in one ``or``) gives one. A case whose clauses are
exactly those of ``argmax_property``/``top2_property`` for some target is returned as that
property. Every error is a one-line ``ConfigError`` naming the file and line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from labelrobust.atomic import atomic_write_text
from labelrobust.errors import ConfigError
from labelrobust.models.base import check_input_shape
from labelrobust.verify.input_sets import InputSet
from labelrobust.verify.properties import Clause, OutputProperty, argmax_property, top2_property

DTYPE = torch.float64
MAX_TERMS = 100_000  # disjunctive normal form terms; a product of many `or`s explodes


class Case(NamedTuple):
    """One input box with its unsafe output set."""

    input_set: InputSet
    prop: OutputProperty


# -- writing ------------------------------------------------------------------------------------


def write_vnnlib(input_set: InputSet, prop: OutputProperty, path: str | Path, *, comment: str | None = None) -> Path:
    """Write the query "some ``x`` in ``input_set`` has outputs in ``prop``'s unsafe set" to
    ``path`` (atomically); ``comment`` lines go to the header. Returns the path."""
    if not isinstance(input_set, InputSet) or not isinstance(prop, OutputProperty):
        raise ConfigError(f"write_vnnlib needs an InputSet and an OutputProperty, got {type(input_set).__name__} and {type(prop).__name__}")
    n, k = input_set.size, prop.num_outputs
    lines = [f"; {line}" for line in (comment or "").splitlines()]
    lines += [
        f"; written by labelrobust: sat iff some input in the box has outputs in the unsafe set; input set {input_set.description or {}}",
        f"; property {prop.kind}" + (f", target class {prop.target}" if prop.target is not None else "") + f", {len(prop.clauses)} clause(s)",
    ]
    lines += [f"(declare-const X_{i} Real)" for i in range(n)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(k)]
    lines.append("; input box")
    for i, (lo, hi) in enumerate(zip(input_set.lower.tolist(), input_set.upper.tolist())):
        lines += [f"(assert (<= X_{i} {_number(hi)}))", f"(assert (>= X_{i} {_number(lo)}))"]
    lines.append("; unsafe outputs")
    lines += _unsafe_set(prop)
    path = Path(path)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _number(value: float) -> str:
    """The shortest positional decimal that reads back as exactly ``value``."""
    return np.format_float_positional(float(value), unique=True, trim="0")


def _unsafe_set(prop: OutputProperty) -> list[str]:
    rows = [[_constraint(c, d) for c, d in zip(clause.coefficients.tolist(), clause.offsets.tolist())] for clause in prop.clauses]
    if len(rows) == 1:
        return [f"(assert {atom})" for atom in rows[0]]
    return ["(assert (or", *(f"    (and {' '.join(atoms)})" for atoms in rows), "))"]


def _constraint(coefficients: list[float], offset: float) -> str:
    """``c·y + d ≥ 0`` in VNN-LIB."""
    nonzero = [(j, c) for j, c in enumerate(coefficients) if c != 0]
    if offset == 0 and len(nonzero) == 2 and sorted(c for _, c in nonzero) == [-1.0, 1.0]:
        (plus,), (minus,) = ([j for j, c in nonzero if c == s] for s in (1.0, -1.0))
        return f"(>= Y_{plus} Y_{minus})"
    if len(nonzero) == 1 and nonzero[0][1] in (1.0, -1.0):
        j, c = nonzero[0]
        return f"(>= Y_{j} {_number(-offset)})" if c == 1.0 else f"(<= Y_{j} {_number(offset)})"
    terms = [f"(* {_number(c)} Y_{j})" for j, c in nonzero] or ["(* 0.0 Y_0)"]
    expression = terms[0] if len(terms) == 1 else f"(+ {' '.join(terms)})"
    return f"(>= {expression} {_number(-offset)})"


# -- tokens and s-expressions -------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    text: str
    line: int


@dataclass(frozen=True)
class SList:
    items: tuple
    line: int  # of the opening parenthesis


_TOKEN = re.compile(r"(\s+)|(;[^\n]*)|(\()|(\))|([^\s();]+)")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_VARIABLE = re.compile(r"([XY])_(\d+)")


def _parse(text: str, file: str) -> list:
    """The top-level s-expressions of ``text``; unbalanced parentheses name their line."""
    stack: list[tuple[int, list]] = []
    top: list = []
    line = 1
    for match in _TOKEN.finditer(text):
        space, _, opening, closing, atom = match.groups()
        if space:
            line += space.count("\n")
        elif opening:
            stack.append((line, []))
        elif closing:
            if not stack:
                raise ConfigError(f"{file}: line {line}: unbalanced ')' with no '(' to close; expected balanced parentheses")
            start, items = stack.pop()
            (stack[-1][1] if stack else top).append(SList(tuple(items), start))
        elif atom:
            (stack[-1][1] if stack else top).append(Token(atom, line))
    if stack:
        raise ConfigError(f"{file}: line {stack[-1][0]}: '(' is never closed; expected balanced parentheses")
    return top


# -- linear terms and atoms ---------------------------------------------------------------------


@dataclass(frozen=True)
class Linear:
    """``Σ coefficients[v]·v + constant`` over variables ``("X", i)`` / ``("Y", j)``."""

    coefficients: dict
    constant: float

    def plus(self, other: Linear, sign: float = 1.0) -> Linear:
        merged = dict(self.coefficients)
        for var, c in other.coefficients.items():
            merged[var] = merged.get(var, 0.0) + sign * c
        return Linear(merged, self.constant + sign * other.constant)

    def times(self, factor: float) -> Linear:
        return Linear({v: factor * c for v, c in self.coefficients.items()}, factor * self.constant)


@dataclass(frozen=True)
class Atom:
    """``expression ≥ 0``, from the comparison on ``line``."""

    expression: Linear
    line: int


SUPPORTED_FORMULAS = "and, or, true, false, <=, >=, <, >, = (strict read as non-strict)"


class _Reader:
    """Turns the commands of one file into declarations and a conjunction of DNFs."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.declared: dict[tuple[str, int], int] = {}  # variable → line of its declaration
        self.asserted: list[tuple[list[tuple[Atom, ...]], int]] = []  # (DNF, line) per assert

    def error(self, line: int, what: str) -> ConfigError:
        return ConfigError(f"{self.file}: line {line}: {what}")

    def command(self, expr) -> None:
        if not isinstance(expr, SList) or not expr.items or not isinstance(expr.items[0], Token):
            line = expr.line
            raise self.error(line, f"expected a command such as (declare-const X_0 Real) or (assert …), got {_show(expr)}")
        head = expr.items[0].text
        if head in ("declare-const", "declare-fun"):
            self.declare(expr, head)
        elif head == "assert":
            if len(expr.items) != 2:
                raise self.error(expr.line, f"assert takes one formula, got {len(expr.items) - 1}")
            self.asserted.append((self.formula(expr.items[1]), expr.line))
        elif head not in ("set-logic", "set-info", "set-option", "check-sat", "get-model", "exit"):
            raise self.error(expr.line, f"unknown command {head!r}; expected declare-const, assert (set-logic, set-info, check-sat, get-model, exit are ignored)")

    def declare(self, expr: SList, head: str) -> None:
        items = expr.items
        shape_ok = len(items) == 3 if head == "declare-const" else len(items) == 4 and isinstance(items[2], SList) and not items[2].items
        sort = items[-1]
        if not shape_ok or not isinstance(items[1], Token) or not isinstance(sort, Token):
            raise self.error(expr.line, f"expected ({head} X_i Real) or ({head} Y_j Real)" if head == "declare-const" else "expected (declare-fun X_i () Real)")
        match = _VARIABLE.fullmatch(items[1].text)
        if match is None:
            raise self.error(expr.line, f"variable {items[1].text!r} is not an input X_i or an output Y_j; VNN-LIB names them X_0 … and Y_0 …")
        if sort.text != "Real":
            raise self.error(expr.line, f"variable {items[1].text} has sort {sort.text}; expected Real")
        var = (match[1], int(match[2]))
        if var in self.declared:
            raise self.error(expr.line, f"{items[1].text} is declared twice (first on line {self.declared[var]})")
        self.declared[var] = expr.line

    # -- formulas to DNF: a list of terms, each a tuple of atoms --

    def formula(self, expr) -> list[tuple[Atom, ...]]:
        if isinstance(expr, Token):
            if expr.text in ("true", "false"):
                return [()] if expr.text == "true" else []
            raise self.error(expr.line, f"expected a formula ({SUPPORTED_FORMULAS}), got {expr.text!r}")
        head = self.head(expr)
        args = expr.items[1:]
        if head == "and":
            return self.conjunction([self.formula(a) for a in args], expr.line)
        if head == "or":
            return [term for a in args for term in self.formula(a)]
        if head in ("<=", ">=", "<", ">", "="):
            return [self.comparison(head, args, expr.line)]
        raise self.error(expr.line, f"unknown or unsupported operator {head!r} in a formula; expected {SUPPORTED_FORMULAS}")

    def head(self, expr: SList) -> str:
        if not expr.items or not isinstance(expr.items[0], Token):
            raise self.error(expr.line, f"expected an operator after '(', got {_show(expr)}")
        return expr.items[0].text

    def conjunction(self, parts: list[list[tuple[Atom, ...]]], line: int) -> list[tuple[Atom, ...]]:
        terms: list[tuple[Atom, ...]] = [()]
        for part in parts:
            if len(terms) * len(part) > MAX_TERMS:
                raise self.error(line, f"the formula expands to more than {MAX_TERMS} disjuncts; expected at most one disjunction (or) per conjunction level")
            terms = [a + b for a, b in product(terms, part)]
        return terms

    def comparison(self, op: str, args: tuple, line: int) -> tuple[Atom, ...]:
        if len(args) < 2:
            raise self.error(line, f"{op} needs at least two arguments, got {len(args)}")
        terms = [self.term(a) for a in args]
        atoms = []
        for left, right in zip(terms, terms[1:]):
            if op in (">=", ">", "="):
                atoms.append(Atom(left.plus(right, -1.0), line))
            if op in ("<=", "<", "="):
                atoms.append(Atom(right.plus(left, -1.0), line))
        return tuple(atoms)

    def term(self, expr) -> Linear:
        if isinstance(expr, Token):
            return self.leaf(expr)
        head = self.head(expr)
        args = [self.term(a) for a in expr.items[1:]]
        if not args:
            raise self.error(expr.line, f"{head!r} needs arguments")
        if head == "+":
            return _fold(args, lambda a, b: a.plus(b))
        if head == "-":
            return args[0].times(-1.0) if len(args) == 1 else _fold(args, lambda a, b: a.plus(b, -1.0))
        if head == "*":
            return self.product(args, expr.line)
        if head == "/":
            return self.quotient(args, expr.line)
        raise self.error(expr.line, f"unknown operator {head!r} in a term; expected +, -, *, / or a number or variable")

    def leaf(self, token: Token) -> Linear:
        if _NUMBER.fullmatch(token.text):
            return Linear({}, float(token.text))
        match = _VARIABLE.fullmatch(token.text)
        if match is not None:
            var = (match[1], int(match[2]))
            if var not in self.declared:
                raise self.error(token.line, f"variable {token.text} is not declared; expected (declare-const {token.text} Real) before its first use")
            return Linear({var: 1.0}, 0.0)
        raise self.error(token.line, f"expected a number or a declared variable X_i/Y_j, got {token.text!r}")

    def product(self, args: list[Linear], line: int) -> Linear:
        variable = [a for a in args if a.coefficients]
        if len(variable) > 1:
            raise self.error(line, "a product of two variables is not linear; expected (* constant term)")
        factor = math.prod(a.constant for a in args if not a.coefficients)
        return variable[0].times(factor) if variable else Linear({}, factor)

    def quotient(self, args: list[Linear], line: int) -> Linear:
        if len(args) != 2 or args[1].coefficients or args[1].constant == 0:
            raise self.error(line, "expected (/ term nonzero-constant)")
        return args[0].times(1.0 / args[1].constant) if args[0].coefficients else Linear({}, args[0].constant / args[1].constant)


def _fold(args: list[Linear], op) -> Linear:
    out = args[0]
    for a in args[1:]:
        out = op(out, a)
    return out


def _show(expr) -> str:
    if isinstance(expr, Token):
        return repr(expr.text)
    return "(" + " ".join(_show(i).strip("'") for i in expr.items) + ")"


# -- reading ------------------------------------------------------------------------------------


def read_vnnlib(path: str | Path, input_shape: Sequence[int] | None = None) -> list[Case]:
    """The cases ``[(InputSet, OutputProperty), …]`` of the VNN-LIB file ``path``; the query is
    sat iff some case's box contains an input whose outputs satisfy that case's property.

    Boxes are over the flattened inputs, centred at their midpoint, of shape ``input_shape``
    when given (its size must be the number of inputs) and ``(n,)`` otherwise.
    """
    path = Path(path)
    file = str(path)
    reader = _Reader(file)
    text = _text(path)
    for expr in _parse(text, file):
        reader.command(expr)
    last_line = text.count("\n") + 1
    n = _count(reader, "X", "input", last_line)
    k = _count(reader, "Y", "output", last_line)
    shape = _shape(input_shape, n, file)
    return _cases(reader, n, k, shape, file)


def _text(path: Path) -> str:
    if not path.is_file():
        raise ConfigError(f"VNN-LIB file {path} does not exist or is not a file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: line 1: not a UTF-8 text file; expected a VNN-LIB (.vnnlib) text file") from None


def _count(reader: _Reader, kind: str, what: str, last_line: int) -> int:
    """The number of ``kind`` variables, which must be numbered 0 … n−1."""
    indices = sorted(i for k, i in reader.declared if k == kind)
    if not indices:
        raise ConfigError(f"{reader.file}: line {last_line}: reached the end without declaring any {what} {kind}_0; expected (declare-const {kind}_0 Real) …")
    missing = sorted(set(range(indices[-1] + 1)) - set(indices))
    if missing:
        line = reader.declared[(kind, indices[-1])]
        raise ConfigError(f"{reader.file}: line {line}: {kind}_{indices[-1]} is declared but {kind}_{missing[0]} is not; expected {what}s {kind}_0 … {kind}_{indices[-1]}")
    return len(indices)


def _shape(input_shape: Sequence[int] | None, n: int, file: str) -> tuple[int, ...]:
    if input_shape is None:
        return (n,)
    shape = check_input_shape(input_shape)
    if math.prod(shape) != n:
        raise ConfigError(f"{file}: declares {n} inputs but input_shape {shape} has {math.prod(shape)} values")
    return shape


def _cases(reader: _Reader, n: int, k: int, shape: tuple[int, ...], file: str) -> list[Case]:
    """Expand the asserts into DNF terms and group the terms by input box."""
    fixed = [atom for dnf, _ in reader.asserted if len(dnf) == 1 for atom in dnf[0]]
    split = [dnf for dnf, _ in reader.asserted if len(dnf) != 1]
    line = min((line for dnf, line in reader.asserted if len(dnf) != 1), default=1)
    groups: dict[bytes, tuple[tuple[torch.Tensor, torch.Tensor], list[Clause]]] = {}
    for index, term in enumerate(reader.conjunction(split, line)):
        built = _term(reader, (*fixed, *term), n, k, index if split else None)
        if built is None:  # a constant constraint in it is false
            continue
        lower, upper, clause = built
        key = lower.numpy().tobytes() + upper.numpy().tobytes()
        groups.setdefault(key, ((lower, upper), []))[1].append(clause)
    if not groups:
        raise ConfigError(f"{file}: line {line}: the asserted formula is false (no disjunct left); expected a satisfiable specification")
    return [Case(_box(lo, hi, shape, file, i), _recognise(clauses, k)) for i, ((lo, hi), clauses) in enumerate(groups.values())]


def _term(reader: _Reader, atoms: tuple[Atom, ...], n: int, k: int, index: int | None) -> tuple[torch.Tensor, torch.Tensor, Clause] | None:
    """One DNF term: its input box and its output constraints (as one clause); None when a
    constraint without variables in it is false."""
    lower, upper = np.full(n, -math.inf), np.full(n, math.inf)
    rows, offsets = [], []
    for atom in atoms:
        coefficients = atom.expression.coefficients
        inputs = any(c != 0 for (kind, _), c in coefficients.items() if kind == "X")
        outputs = any(kind == "Y" for kind, _ in coefficients)
        if inputs and any(c != 0 for (kind, _), c in coefficients.items() if kind == "Y"):
            raise reader.error(atom.line, "a constraint mixes inputs and outputs; expected bounds on single inputs or linear constraints on outputs")
        if inputs:
            _bound(reader, atom, lower, upper)
        elif not outputs:  # e.g. (= X_0 X_0) or (<= 0 1): decided here
            if atom.expression.constant < 0:
                return None
        else:
            row = np.zeros(k)
            for (_, j), c in coefficients.items():
                row[j] += c
            rows.append(row)
            offsets.append(atom.expression.constant)
    _check_bounded(reader, lower, upper, index)
    if not rows:  # no output constraint: every output is unsafe
        rows, offsets = [np.zeros(k)], [0.0]
    clause = Clause(torch.as_tensor(np.array(rows), dtype=DTYPE), torch.as_tensor(offsets, dtype=DTYPE))
    return torch.from_numpy(lower), torch.from_numpy(upper), clause


def _bound(reader: _Reader, atom: Atom, lower: np.ndarray, upper: np.ndarray) -> None:
    """``c·X_i + d ≥ 0`` tightens X_i's lower (c > 0) or upper (c < 0) bound to ``−d/c``."""
    coefficients = atom.expression.coefficients
    nonzero = {v: c for v, c in coefficients.items() if c != 0 and v[0] == "X"}
    if len(nonzero) != 1:
        names = ", ".join(f"X_{i}" for _, i in coefficients)
        raise reader.error(atom.line, f"a constraint on inputs {names} is not a bound on one input; expected (<= X_i u) / (>= X_i l)")
    ((_, i), c), = nonzero.items()
    value = -atom.expression.constant / c
    if c > 0:
        lower[i] = max(lower[i], value)
    else:
        upper[i] = min(upper[i], value)
    if lower[i] > upper[i]:
        raise reader.error(atom.line, f"X_{i} has lower bound {float(lower[i])!r} > upper bound {float(upper[i])!r}; expected lower ≤ upper")


def _check_bounded(reader: _Reader, lower: np.ndarray, upper: np.ndarray, index: int | None) -> None:
    for side, values in (("lower", lower), ("upper", upper)):
        missing = np.flatnonzero(~np.isfinite(values))
        if missing.size:
            i = int(missing[0])
            where = f" in disjunct {index} of the input/output disjunction" if index is not None else ""
            raise reader.error(reader.declared[("X", i)], f"input X_{i} (declared here) has no finite {side} bound{where}; expected (assert (<= X_{i} u)) and (assert (>= X_{i} l))")


def _box(lower: torch.Tensor, upper: torch.Tensor, shape: tuple[int, ...], file: str, case: int) -> InputSet:
    # The midpoint, computed without overflow and kept inside the box (a degenerate interval
    # of one subnormal would otherwise round its half away).
    center = torch.minimum(torch.maximum(lower / 2 + upper / 2, lower), upper)
    return InputSet(lower, upper, center, shape, {"kind": "vnnlib", "file": file, "case": case})


def _recognise(clauses: list[Clause], k: int) -> OutputProperty:
    """``argmax_property``/``top2_property`` when the clauses are exactly theirs, else linear."""
    prop = OutputProperty(tuple(clauses), k, "linear", None)
    first = clauses[0].coefficients[0]
    targets = (first == -1).nonzero().flatten().tolist()
    for target in targets[:1]:
        for builder in (argmax_property, top2_property):
            try:
                candidate = builder(target, k)
            except ConfigError:
                continue
            if _clause_set(candidate.clauses) == _clause_set(prop.clauses):
                return candidate
    return prop


def _clause_set(clauses) -> set:
    return {frozenset(zip(map(tuple, c.coefficients.tolist()), c.offsets.tolist())) for c in clauses}
