"""VNN-LIB: what we write reads back exactly; hand-written VNN-COMP-style files parse; every
malformed file names its line."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.errors import ConfigError
from labelrobust.verify.input_sets import InputSet, linf_ball
from labelrobust.verify.properties import argmax_property, linear_property, top2_property
from labelrobust.verify.vnnlib import read_vnnlib, write_vnnlib

DTYPE = torch.float64


def _same_clauses(a, b) -> bool:
    return len(a.clauses) == len(b.clauses) and all(
        torch.equal(x.coefficients, y.coefficients) and torch.equal(x.offsets, y.offsets) for x, y in zip(a.clauses, b.clauses)
    )


def _round_trip(tmp_path, input_set, prop, **kwargs):
    path = write_vnnlib(input_set, prop, tmp_path / "q.vnnlib", **kwargs)
    (case,) = read_vnnlib(path, input_shape=input_set.shape)
    assert torch.equal(case.input_set.lower, input_set.lower) and torch.equal(case.input_set.upper, input_set.upper)
    assert case.input_set.shape == input_set.shape
    return path, case


def _box(lower, upper) -> InputSet:
    lower, upper = torch.tensor(lower, dtype=DTYPE), torch.tensor(upper, dtype=DTYPE)
    return InputSet(lower, upper, lower, (len(lower),))


# -- writer → reader -----------------------------------------------------------------------------


def test_argmax_round_trip_on_an_image_ball(tmp_path):
    x = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
    ball = linf_ball(x, 0.03)
    prop = argmax_property(7, 10)
    path, case = _round_trip(tmp_path, ball, prop, comment="MNIST test image 0\nlabel 7")
    assert case.prop.kind == "argmax" and case.prop.target == 7 and _same_clauses(case.prop, prop)
    text = path.read_text()
    assert text.startswith("; MNIST test image 0\n; label 7\n")
    assert "(assert (<= X_783 " in text and "(declare-const Y_9 Real)" in text and "    (and (>= Y_0 Y_7))" in text


def test_top2_round_trip_has_36_clauses(tmp_path):
    ball = linf_ball(torch.rand(1, 6, 6), 0.05)
    prop = top2_property(3, 10, label_set=[3, 5])
    path, case = _round_trip(tmp_path, ball, prop)
    assert case.prop.kind == "top2" and case.prop.target == 3 and _same_clauses(case.prop, prop)
    assert path.read_text().count("(and ") == 36
    y = torch.randn(100, 10, dtype=DTYPE)
    torch.testing.assert_close(case.prop.margin(y), prop.margin(y), rtol=0, atol=0)


def test_general_linear_round_trip(tmp_path):
    box = _box([-1.5, 0.0, 1e-7, 123456.789], [2.25, 0.0, 3e-7, 1e300])
    prop = linear_property([
        ([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]], [0.5, -0.1]),
        ([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [1.0, -1.0, 0.0]], [0.3, 1e-17, 0.0]),
        ([[0.1, 0.2, 1.0 / 3.0]], [-2.0 / 7.0]),
    ], 3)
    path, case = _round_trip(tmp_path, box, prop)
    assert case.prop.kind == "linear" and _same_clauses(case.prop, prop)
    text = path.read_text()
    assert "(>= (+ (* 2.0 Y_0) (* -1.0 Y_2)) -0.5)" in text and "(<= Y_1 0.00000000000000001)" in text
    assert re.search(r"\d[eE][-+]?\d", text.split("; written by")[1]) is None  # SMT-LIB decimals, no exponents


def test_single_clause_is_written_as_one_assert_per_constraint(tmp_path):
    prop = linear_property([([[1.0, -1.0], [-3.0, 0.5]], [0.0, 2.0])], 2)
    path, case = _round_trip(tmp_path, _box([0.0], [1.0]), prop)
    assert _same_clauses(case.prop, prop)
    tail = path.read_text().split("; unsafe outputs\n")[1]
    assert tail == "(assert (>= Y_0 Y_1))\n(assert (>= (+ (* -3.0 Y_0) (* 0.5 Y_1)) -2.0))\n"


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, allow_subnormal=True)
coefficient = st.one_of(st.sampled_from([0.0, 1.0, -1.0, -0.0]), finite, st.floats(min_value=-1e-300, max_value=1e-300))


@st.composite
def queries(draw):
    n = draw(st.integers(1, 5))
    pairs = [sorted(draw(st.tuples(finite, finite))) for _ in range(n)]
    k = draw(st.integers(1, 4))
    clauses = []
    for _ in range(draw(st.integers(1, 4))):
        m = draw(st.integers(1, 3))
        clauses.append(([[draw(coefficient) for _ in range(k)] for _ in range(m)], [draw(coefficient) for _ in range(m)]))
    return _box([p[0] for p in pairs], [p[1] for p in pairs]), linear_property(clauses, k)


@settings(max_examples=150, deadline=None)
@given(queries())
def test_random_queries_read_back_exactly(tmp_path_factory, query):
    box, prop = query
    _, case = _round_trip(tmp_path_factory.mktemp("q"), box, prop)
    if case.prop.kind == "linear":
        assert _same_clauses(case.prop, prop)
    y = torch.randn(20, prop.num_outputs, dtype=DTYPE) * 10
    assert torch.equal(case.prop.margin(y) >= 0, prop.margin(y) >= 0)
    assert bool(case.input_set.contains(case.input_set.center[None]))


# -- hand-written files in the VNN-COMP forms -----------------------------------------------------


def _declare(n: int, k: int) -> str:
    return "".join(f"(declare-const X_{i} Real)\n" for i in range(n)) + "".join(f"(declare-const Y_{j} Real)\n" for j in range(k))


ACAS_BOUNDS = [(0.6, 0.679857769), (-0.5, 0.5), (-0.5, 0.5), (0.45, 0.5), (-0.5, -0.45)]


def _acas(outputs: str) -> str:
    box = "".join(f"; input {i}\n(assert (<= X_{i} {hi}))\n(assert (>= X_{i} {lo}))\n" for i, (lo, hi) in enumerate(ACAS_BOUNDS))
    return "; an ACAS-Xu-like property\n\n" + _declare(5, 5) + "\n" + box + outputs


def test_acas_xu_property_1_form(tmp_path):
    path = tmp_path / "prop_1.vnnlib"
    path.write_text(_acas("; unsafe if the clear-of-conflict score is large\n(assert (>= Y_0 3.991125645861615))\n"))
    (case,) = read_vnnlib(path)
    assert case.input_set.lower.tolist() == [lo for lo, _ in ACAS_BOUNDS]
    assert case.input_set.upper.tolist() == [hi for _, hi in ACAS_BOUNDS]
    assert case.input_set.shape == (5,) and case.input_set.description["kind"] == "vnnlib"
    (clause,) = case.prop.clauses
    assert clause.coefficients.tolist() == [[1.0, 0.0, 0.0, 0.0, 0.0]] and clause.offsets.tolist() == [-3.991125645861615]


def test_acas_xu_property_2_form(tmp_path):
    """Unsafe if Y_0 is the maximum: four separate asserts form one clause of four rows."""
    path = tmp_path / "prop_2.vnnlib"
    path.write_text(_acas("".join(f"(assert (<= Y_{j} Y_0))\n" for j in range(1, 5)) + "(check-sat)\n"))
    (case,) = read_vnnlib(path)
    (clause,) = case.prop.clauses
    assert clause.coefficients[:, 0].tolist() == [1.0] * 4 and (clause.coefficients[:, 1:] == -torch.eye(4, dtype=DTYPE)).all()
    y = torch.tensor([[5.0, 1, 2, 3, 4], [1.0, 5, 2, 3, 4]], dtype=DTYPE)
    assert (case.prop.margin(y) >= 0).tolist() == [True, False]


def test_mnist_style_or_of_ands(tmp_path):
    box = "".join(f"(assert (<= X_{i} {min(1.0, 0.5 + 0.02)}))\n(assert (>= X_{i} {0.5 - 0.02}))\n" for i in range(784))
    outputs = "(assert (or\n" + "".join(f"    (and (>= Y_{j} Y_4))\n" for j in range(10) if j != 4) + "))\n"
    path = tmp_path / "mnist.vnnlib"
    path.write_text(_declare(784, 10) + box + outputs)
    (case,) = read_vnnlib(path, input_shape=(1, 28, 28))
    assert case.prop.kind == "argmax" and case.prop.target == 4 and case.input_set.shape == (1, 28, 28)
    assert torch.equal(case.input_set.center, torch.full((784,), 0.5, dtype=DTYPE))


def test_vnncomp_disjunction_of_boxes(tmp_path):
    """``(or (and <box> <outputs>) …)``: one case per box, each with its own outputs."""
    text = _declare(2, 3) + """
(assert (or
    (and (>= X_0 0.0) (<= X_0 0.5) (>= X_1 -1) (<= X_1 1) (>= Y_0 Y_1) (>= Y_0 Y_2))
    (and (>= X_0 0.5) (<= X_0 1.0) (>= X_1 -1) (<= X_1 1) (>= Y_1 Y_0))
    (and (>= X_0 0.0) (<= X_0 0.5) (>= X_1 -1) (<= X_1 1) (<= Y_2 -7.5))
))
"""
    path = tmp_path / "boxes.vnnlib"
    path.write_text(text)
    first, second = read_vnnlib(path)
    assert first.input_set.upper.tolist() == [0.5, 1.0] and second.input_set.lower.tolist() == [0.5, -1.0]
    assert [c.coefficients.shape[0] for c in first.prop.clauses] == [2, 1]  # the same box's terms are merged
    assert first.prop.clauses[1].coefficients.tolist() == [[0.0, 0.0, -1.0]] and first.prop.clauses[1].offsets.tolist() == [-7.5]
    assert second.prop.clauses[0].coefficients.tolist() == [[-1.0, 1.0, 0.0]]


def test_reader_accepts_the_rest_of_the_subset(tmp_path):
    text = """(set-logic QF_LRA) ; a comment after a command
(declare-fun X_0 () Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (<= -0.25 X_0 (- 0.5 0.25)))   ; chained bounds, unary and binary minus
(assert (and (< X_1 2e-1) (> X_1 (/ 1 10))))  ; strict read as non-strict
(assert (= X_0 X_0))  ; no variable left: true, dropped
(assert (or false (and (>= (- Y_0 (* Y_1 2) 3) (- 0.5))) (and true (<= Y_1 (+ 1 2)))))
(check-sat)
(get-model)
"""
    path = tmp_path / "misc.vnnlib"
    path.write_text(text)
    (case,) = read_vnnlib(path)
    assert case.input_set.lower.tolist() == [-0.25, 0.1] and case.input_set.upper.tolist() == [0.25, 0.2]
    first, second = case.prop.clauses
    assert first.coefficients.tolist()[-1] == [1.0, -2.0] and first.offsets.tolist()[-1] == -2.5
    assert second.coefficients.tolist() == [[0.0, -1.0]] and second.offsets.tolist() == [3.0]


def test_input_shape_must_match(tmp_path):
    path = write_vnnlib(_box([0.0, 0.0], [1.0, 1.0]), argmax_property(0, 2), tmp_path / "q.vnnlib")
    with pytest.raises(ConfigError, match=r"declares 2 inputs but input_shape \(3,\) has 3 values"):
        read_vnnlib(path, input_shape=(3,))
    with pytest.raises(ConfigError, match="input_shape must be a non-empty sequence of positive ints"):
        read_vnnlib(path, input_shape=("two",))


def test_writer_refuses_wrong_types(tmp_path):
    with pytest.raises(ConfigError, match="needs an InputSet and an OutputProperty"):
        write_vnnlib({"lower": [0]}, argmax_property(0, 2), tmp_path / "q.vnnlib")


# -- malformed files name their line --------------------------------------------------------------

HEAD = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"  # lines 1-3
BOX = "(assert (<= X_0 1.0))\n(assert (>= X_0 0.0))\n"  # lines 4-5

BAD = [
    (HEAD + BOX + "(assert (>= Y_0 Y_1)))\n", 6, r"unbalanced '\)'"),
    (HEAD + BOX + "(assert (or\n  (and (>= Y_0 Y_1))\n", 6, r"'\(' is never closed"),
    (HEAD + BOX + "(assert (not (>= Y_0 Y_1)))\n", 6, r"unsupported operator 'not'"),
    (HEAD + BOX + "(assert (>= (sin Y_0) Y_1))\n", 6, r"unknown operator 'sin' in a term"),
    (HEAD + BOX + "(assert (>= Y_0 Y_7))\n", 6, r"variable Y_7 is not declared"),
    (HEAD + "(assert (>= X_0 0.0))\n", 1, r"input X_0 \(declared here\) has no finite upper bound"),
    (HEAD + "(assert (<= X_0 0.2))\n\n(assert (>= X_0 0.5))\n", 6, r"lower bound 0\.5 > upper bound 0\.2"),
    (HEAD + "(assert (<= X_0 one))\n", 4, r"expected a number or a declared variable X_i/Y_j, got 'one'"),
    (HEAD + "(assert (<= X_0 inf))\n", 4, r"got 'inf'"),
    (HEAD + BOX + "(assert (>= Y_0 X_0))\n", 6, r"mixes inputs and outputs"),
    (HEAD + "(declare-const X_1 Real)\n" + BOX + "(assert (<= (+ X_0 X_1) 1))\n", 7, r"not a bound on one input"),
    (HEAD + BOX + "(assert (>= (* Y_0 Y_1) 0))\n", 6, r"product of two variables"),
    (HEAD + BOX + "(push 1)\n", 6, r"unknown command 'push'"),
    ("(declare-const X_0 Int)\n", 1, r"has sort Int; expected Real"),
    ("(declare-const Z_0 Real)\n", 1, r"'Z_0' is not an input X_i or an output Y_j"),
    (HEAD + "(declare-const X_0 Real)\n", 4, r"X_0 is declared twice \(first on line 1\)"),
    ("(declare-const X_0 Real)\n(declare-const X_2 Real)\n(declare-const Y_0 Real)\n", 2, r"X_2 is declared but X_1 is not"),
    ("(declare-const X_0 Real)\n(assert (<= X_0 1))\n", 3, r"without declaring any output Y_0"),
    (HEAD + BOX + "(assert (>= Y_0 Y_1) (>= Y_1 Y_0))\n", 6, r"assert takes one formula, got 2"),
    (HEAD + BOX + "(assert (>= Y_0))\n", 6, r">= needs at least two arguments"),
    (HEAD + BOX + "X_0\n", 6, r"expected a command such as"),
    (HEAD + BOX + "(assert (/ Y_0 0))\n", 6, r"unknown or unsupported operator '/' in a formula"),
    (HEAD + BOX + "(assert (>= (/ Y_0 0) 1))\n", 6, r"expected \(/ term nonzero-constant\)"),
    (HEAD + BOX + "(assert false)\n", 6, r"the asserted formula is false"),
]


@pytest.mark.parametrize(("text", "line", "match"), BAD, ids=[m for _, _, m in BAD])
def test_malformed_file_names_its_line(tmp_path, text, line, match):
    path = tmp_path / "bad.vnnlib"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"bad\.vnnlib: line {line}: .*{match}") as info:
        read_vnnlib(path)
    assert "\n" not in str(info.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_vnnlib(tmp_path / "missing.vnnlib")
    (tmp_path / "binary.vnnlib").write_bytes(b"\xff\xfe\x00(")
    with pytest.raises(ConfigError, match=r"binary\.vnnlib: line 1: not a UTF-8 text file"):
        read_vnnlib(tmp_path / "binary.vnnlib")


def test_too_many_disjuncts(tmp_path):
    ors = "".join("(assert (or " + " ".join(f"(>= Y_0 {v})" for v in range(20)) + "))\n" for _ in range(5))
    path = tmp_path / "bad.vnnlib"
    path.write_text(HEAD + BOX + ors)
    with pytest.raises(ConfigError, match=r"line 6: the formula expands to more than 100000 disjuncts"):
        read_vnnlib(path)
