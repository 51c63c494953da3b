"""Transfer-rate matrix between two runs trained on real digits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from labelrobust.attacks import make_attack
from labelrobust.cli.main import main
from labelrobust.errors import ConfigError
from labelrobust.metrics.transfer_matrix import transfer_between_runs


def run_dir(exp) -> Path:
    return Path(exp.config.out) / exp.config.run_name()


def test_matrix_diagonal_is_white_box_success(trained, tmp_path, capsys):
    a, b = trained("onehot"), trained("smoothing")
    result = transfer_between_runs([run_dir(a), run_dir(b)], "pgd", 0.1, n=80, steps=10, objective="margin")
    assert result.rates.shape == (2, 2) and ((0 <= result.rates) & (result.rates <= 1)).all()
    # the diagonal equals a white-box PGD run with the same seed
    x, y = a.dataset.test.float_images(slice(0, 80)), a.dataset.test.labels[:80]
    torch.manual_seed(0)
    white = make_attack("pgd", norm="linf", eps=0.1, steps=10, objective="margin")(a.model, a.space, x, y)
    correct = a.space.decode(a.model(x)) == y
    assert result.rates[0, 0].item() == pytest.approx(white.success[correct].float().mean().item())
    assert result.rates[0, 1] <= result.rates[1, 1] + 0.2  # transfer rarely beats white-box
    out = tmp_path / "t.json"
    assert main(["transfer", str(run_dir(a)), str(run_dir(b)), "--eps", "0.1", "--n", "40", "--param", "steps=5", "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["rates"]) == 2
    assert "crafted on" in capsys.readouterr().out


def test_transfer_errors(trained):
    with pytest.raises(ConfigError, match="at least two runs"):
        transfer_between_runs([run_dir(trained("onehot"))], "pgd", 0.1)
