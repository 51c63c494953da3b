"""Shared fixtures: where the real test data lives, and deterministic torch settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from labelrobust.config import load_config
from labelrobust.runs import load_run
from labelrobust.training import train

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


def devices_under_test() -> list[str]:
    """The devices contract tests run on: ``cpu`` always, plus ``cuda`` when one is present.

    ``LABELROBUST_TEST_DEVICE`` (e.g. ``cuda`` or ``cpu,cuda:1``) replaces the automatic choice,
    so a GPU node can run the suite on exactly the devices it names.
    """
    chosen = os.environ.get("LABELROBUST_TEST_DEVICE")
    if chosen:
        return [d.strip() for d in chosen.split(",") if d.strip()]
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


@pytest.fixture(params=devices_under_test())
def device(request) -> str:
    """Parametrises a contract test over ``devices_under_test()``; the test gets the device name."""
    return request.param


@pytest.fixture(autouse=True)
def _seeded_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """``trained(label_space_name)`` → an Experiment (eval-mode model with trained weights)."""
    cache = {}
    out = tmp_path_factory.mktemp("attack-models")

    def get(space: str, lr: float = 0.02, **params):
        key = (space, lr, tuple(sorted(params.items())))
        if key not in cache:
            cfg = load_config(None, [("data.name", "digits"), ("model.options", {"width": 16}), ("labels.name", space), ("labels.params", params), ("epochs", 6), ("batch_size", 32), ("optim.lr", lr), ("out", str(out)), ("name", f"{space}-{len(cache)}")])
            cache[key] = load_run(train(cfg, quiet=True))
        return cache[key]

    return get
