"""Shared fixtures: where the real test data lives, and deterministic torch settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data of ``../shared/datasets``; CI must have it, a local run without it skips."""
    if not (SHARED_DATASETS / "README.md").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the shared test data at {SHARED_DATASETS}")
        pytest.skip(f"no shared test data at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(autouse=True)
def _seeded_torch():
    torch.manual_seed(0)
    yield
