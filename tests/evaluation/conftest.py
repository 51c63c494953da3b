"""The command line's console handler (``labelrobust.cli.console``) stops the ``labelrobust``
log from propagating once any test in the worker ran ``main``; the evaluation's log lines are
checked with ``caplog`` here, so they propagate again for each test."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _labelrobust_log_reaches_caplog(monkeypatch):
    monkeypatch.setattr(logging.getLogger("labelrobust"), "propagate", True)
