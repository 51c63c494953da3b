"""The argument parser of every labelrobust command: argparse with our error line and numbers.

- A usage error (an unknown flag, a missing value) is one line, ``labelrobust: error: ...``,
  exit code 2, like every other error — raised as ``UsageError`` so ``main()`` returns 2
  instead of exiting the caller's process.
- ``--lr -6e-5`` and ``--method.bias -5e-1``: argparse reads a token that starts with ``-`` as
  a flag unless it looks like a negative number, and its test knows no exponents. Ours does.
"""

from __future__ import annotations

import argparse
import re

from labelrobust.errors import ConfigError

NEGATIVE_NUMBER = re.compile(r"^-(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^-(?:inf|\.inf)$", re.IGNORECASE)


class UsageError(ConfigError):
    """The command line does not parse (unknown flag, missing value, bad choice)."""


class LabelRobustParser(argparse.ArgumentParser):
    """argparse, with one-line errors and exponent-aware negative numbers (see the module doc)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER  # argparse's own hook for this test

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")
