"""Transfer-rate matrix across trained runs (task-aware study, Han et al.).

Adversarial examples are crafted on each run's model (rows) with one white-box attack and
decoded by every run's model (columns). Entry (i, j): among the test samples model i
classifies correctly, the share whose example crafted on model i fools model j (abstain counts
as fooled). The diagonal is each model's white-box attack success rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from labelrobust.attacks import make_attack
from labelrobust.errors import ConfigError
from labelrobust.metrics.inference import eval_mode, model_outputs
from labelrobust.metrics.robustness import transfer_rate_matrix
from labelrobust.runs import Experiment, load_run


@dataclass(frozen=True)
class TransferResult:
    names: list[str]
    rates: torch.Tensor  # M×M
    clean_accuracy: list[float]


def transfer_between_runs(run_dirs: list[str | Path], attack: str, eps: float | str, norm: str = "linf", n: int | None = None, batch_size: int = 256, seed: int = 0, **attack_params) -> TransferResult:
    if len(run_dirs) < 2:
        raise ConfigError("a transfer matrix needs at least two runs")
    exps = [load_run(d) for d in run_dirs]
    base = exps[0].dataset.test
    for d, e in zip(run_dirs, exps):
        if not torch.equal(e.dataset.test.labels, base.labels) or not torch.equal(e.dataset.test.source_index, base.source_index):
            raise ConfigError(f"run {d} has a different test split from {run_dirs[0]}; transfer needs the same samples for every model")
    images = base if n is None else base.subset(list(range(min(n, len(base)))))
    labels = images.labels
    clean_correct = torch.stack([e.space.decode(model_outputs(e.model, images, batch_size, e.config.device)) == labels for e in exps])
    wrong = torch.zeros(len(exps), len(exps), len(labels), dtype=torch.bool)
    for i, crafter in enumerate(exps):
        adv = _craft(crafter, images, attack, eps, norm, batch_size, seed, attack_params)
        for j, victim in enumerate(exps):
            with torch.no_grad(), eval_mode(victim.model):
                pred = torch.cat([victim.space.decode(victim.model(adv[k : k + batch_size])) for k in range(0, len(adv), batch_size)])
            wrong[i, j] = pred != labels
    return TransferResult([str(d) for d in run_dirs], transfer_rate_matrix(clean_correct, wrong), clean_correct.float().mean(1).tolist())


def _craft(exp: Experiment, images, attack: str, eps, norm: str, batch_size: int, seed: int, params: dict) -> torch.Tensor:
    attacker = make_attack(attack, norm=norm, eps=eps, **params)
    torch.manual_seed(seed)
    out = []
    with eval_mode(exp.model):
        for start in range(0, len(images), batch_size):
            x = images.float_images(slice(start, start + batch_size))
            y = images.labels[start : start + batch_size]
            out.append(attacker(exp.model, exp.space, x, y).x_adv)
    return torch.cat(out)
