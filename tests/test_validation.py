"""The one place that checks plain parameter values: every check returns the normalised value
or refuses with one line naming what was wrong; ``bool`` is never a number."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labelrobust.errors import ConfigError
from labelrobust.validation import boolean, integer, number, one_of, positive_int


def test_integer():
    assert integer(3, "k") == 3 and type(integer(np.int64(3), "k")) is int
    assert integer(0, "k", low=0) == 0 and integer(None, "k", allow_none=True) is None
    for bad, message in [
        (True, r"k must be an integer, got True"),
        (2.0, r"k must be an integer, got 2\.0"),
        ("3", r"k must be an integer, got '3'"),
        (None, r"k must be an integer, got None"),
    ]:
        with pytest.raises(ConfigError, match=message):
            integer(bad, "k")
    with pytest.raises(ConfigError, match=r"pgd: steps must be an integer ≥ 1, got 0"):
        integer(0, "pgd: steps", low=1)
    with pytest.raises(ConfigError, match=r"k must be an integer ≥ 2 or None, got 1"):
        integer(1, "k", low=2, allow_none=True)


def test_positive_int():
    assert positive_int(1, "n") == 1
    for bad in (0, -1, 2.5, False):
        with pytest.raises(ConfigError, match=r"n must be an integer ≥ 1"):
            positive_int(bad, "n")


def test_number_and_its_intervals():
    assert number(1, "x") == 1.0 and type(number(1, "x")) is float
    assert number(0.5, "x", low=0, high=1) == 0.5 and number(None, "x", allow_none=True) is None
    assert number(math.inf, "x", allow_inf=True) == math.inf
    cases = [
        (dict(), math.nan, r"x must be a finite number, got nan"),
        (dict(), math.inf, r"x must be a finite number, got inf"),
        (dict(), True, r"x must be a finite number, got True"),
        (dict(), "1", r"x must be a finite number, got '1'"),
        (dict(low=0, high=1), 1.5, r"x must be a finite number in \[0, 1\], got 1\.5"),
        (dict(low=0, high=1, high_open=True), 1.0, r"x must be a finite number in \[0, 1\), got 1\.0"),
        (dict(low=0, low_open=True), 0, r"x must be a finite number > 0, got 0"),
        (dict(low=0), -1, r"x must be a finite number ≥ 0, got -1"),
        (dict(high=1, high_open=True), 2, r"x must be a finite number < 1, got 2"),
        (dict(high=1), 2, r"x must be a finite number ≤ 1, got 2"),
        (dict(low=0, allow_inf=True), -math.inf, r"x must be a number ≥ 0, got -inf"),
    ]
    for bounds, value, message in cases:
        with pytest.raises(ConfigError, match=message):
            number(value, "x", **bounds)


def test_boolean_and_one_of():
    assert boolean(True, "flag") is True and boolean(False, "flag") is False
    for bad in (1, 0, "yes", None):
        with pytest.raises(ConfigError, match=r"flag must be true or false"):
            boolean(bad, "flag")
    assert one_of("l2", ("linf", "l2"), "norm") == "l2"
    with pytest.raises(ConfigError, match=r"norm must be one of linf, l2, got 'l1'"):
        one_of("l1", ("linf", "l2"), "norm")
