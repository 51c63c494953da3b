"""Small models trained once per session on real digits, for attack tests."""

from __future__ import annotations

import pytest

from labelrobust.config import load_config
from labelrobust.runs import load_run
from labelrobust.training import train


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
