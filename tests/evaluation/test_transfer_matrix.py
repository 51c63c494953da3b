"""Transfer-rate matrix between runs trained on real digits: the diagonal is the white-box
success rate, the CLI writes it, bad arguments are refused before any model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from labelrobust.attacks import make_attack
from labelrobust.cli.main import main
from labelrobust.errors import ConfigError
from labelrobust.evaluation.transfer_matrix import transfer_between_runs


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


def test_transfer_errors(trained, tmp_path):
    run = run_dir(trained("onehot"))
    with pytest.raises(ConfigError, match="at least two runs"):
        transfer_between_runs([run], "pgd", 0.1)
    cases = [
        (dict(batch_size=0), "batch_size must be (a positive integer|an integer ≥ 1), got 0"),
        (dict(n=0), "n must be (a positive integer|an integer ≥ 1), got 0"),
        (dict(norm="l2", eps=100), r"eps 100 \(l2\) exceeds the largest l2 distance"),
        (dict(eps=1.5), r"eps 1\.5 \(linf\) exceeds the largest linf distance .* \[0, 1\]"),
        (dict(attack="square", objective="loss"), "attack 'square' takes no objective"),
        (dict(attack="pdg"), "unknown attack 'pdg'"),
    ]
    for kwargs, message in cases:
        args = {"attack": "pgd", "eps": 0.1, **kwargs}
        with pytest.raises(ConfigError, match=message):
            transfer_between_runs([run, run], args.pop("attack"), args.pop("eps"), **args)


def test_transfer_matrix_on_the_device(trained, device):
    run = run_dir(trained("onehot"))
    result = transfer_between_runs([run, run], "fgsm", "8/255", n=20, device=device)
    assert result.rates.shape == (2, 2) and result.eps_text == "8/255" and result.samples["n"] == 20
    assert result.rates[0, 0] == result.rates[1, 1] == result.rates[0, 1]  # one model twice, FGSM is deterministic
