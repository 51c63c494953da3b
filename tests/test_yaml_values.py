"""YAML 1.2 numbers: the spellings people write are floats, everything else reads as before."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelrobust.errors import ConfigError
from labelrobust.yaml_values import load_yaml, parse_value


@pytest.mark.parametrize(
    "text, value",
    [("6e-5", 6e-5), ("1e-3", 1e-3), ("3.5e2", 350.0), ("1E3", 1000.0), ("-2e-1", -0.2), ("+.5", 0.5), ("0.05", 0.05), ("inf", math.inf), ("-inf", -math.inf), (".inf", math.inf), ("Inf", math.inf)],
)
def test_float_spellings(text, value):
    assert parse_value(text) == value
    assert load_yaml(f"lr: {text}") == {"lr": value}


@pytest.mark.parametrize("text, value", [("12", 12), ("true", True), ("null", None), ("8/255", "8/255"), ("cat", "cat"), ("[cat, dog]", ["cat", "dog"]), ("", None)])
def test_other_scalars_are_unchanged(text, value):
    assert parse_value(text) == value


def test_nan_reads_as_nan():
    assert math.isnan(parse_value("nan"))


@given(st.floats(allow_nan=False, allow_infinity=True))
def test_every_python_float_round_trips(x):
    assert parse_value(repr(x)) == x


def test_syntax_errors_name_the_source_and_line():
    with pytest.raises(ConfigError, match=r"config file x.yaml is not valid YAML \(line 3, column 1\): expected ','"):
        load_yaml("a: 1\nb: [1, 2\n", "config file x.yaml")
