"""Transfer-rate matrix across trained runs (task-aware study, Han et al.).

Adversarial examples are crafted on each run's model (rows) with one white-box attack and
decoded by every run's model (columns). Entry (i, j): among the test samples model i
classifies correctly, the share whose example crafted on model i fools model j (abstain counts
as fooled). The diagonal is each model's white-box attack success rate.

Each model runs on its own device (the run's training device, or ``device``); adversarial
examples travel to every victim's device and decisions come back to the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from labelrobust.attacks import make_attack, make_threat_model
from labelrobust.data import ImageSet
from labelrobust.devices import resolve_device
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError
from labelrobust.metrics.clean import load_evaluated_run
from labelrobust.metrics.inference import eval_mode, first_samples, model_outputs, positive_int, sample_identity
from labelrobust.evaluation.specs import eps_text
from labelrobust.metrics.robustness import transfer_rate_matrix
from labelrobust.runs import Experiment


@dataclass(frozen=True)
class TransferResult:
    names: list[str]
    rates: torch.Tensor  # M×M
    clean_accuracy: list[float]
    eps: float = 0.0
    eps_text: str = ""
    weights: list[dict] = field(default_factory=list)
    """Per run: the weights file and its SHA-256."""
    samples: dict = field(default_factory=dict)
    """The test samples used: how many and which (``sample_identity``)."""


def transfer_between_runs(
    run_dirs: list[str | Path],
    attack: str,
    eps: float | str,
    norm: str = "linf",
    n: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    device: str | None = None,
    params: dict | None = None,
    **attack_params,
) -> TransferResult:
    """The transfer-rate matrix of ``run_dirs`` on their shared test split (its first ``n``
    samples). ``params`` and ``attack_params`` are the attack's parameters; ``device``: None =
    each run's training device if present, else the CPU. Everything that can be checked without
    a model (flags, attack and eps) is checked before any run is loaded."""
    if len(run_dirs) < 2:
        raise ConfigError("a transfer matrix needs at least two runs")
    positive_int(batch_size, "batch_size")
    if n is not None:
        positive_int(n, "n")
    params = {**(params or {}), **attack_params}
    make_attack(attack, norm=norm, eps=eps, **params)  # the name, eps and parameters, before any model loads
    if device is not None:
        resolve_device(device, "--device")
    loaded = [load_evaluated_run(d, "latest", device) for d in run_dirs]
    exps = [exp for exp, _ in loaded]
    base = exps[0].dataset.test
    for d, e in zip(run_dirs, exps):
        if not torch.equal(e.dataset.test.labels, base.labels) or not torch.equal(e.dataset.test.source_index, base.source_index):
            raise ConfigError(f"run {d} has a different test split from {run_dirs[0]}; transfer needs the same samples for every model")
    threat = make_threat_model(norm, eps)
    domain = getattr(exps[0].dataset, "domain", UNIT_BOX)
    threat.check_domain(tuple(base.images.shape[1:]), domain, "eps")
    images = first_samples(base, n)
    labels = images.labels
    clean_correct = torch.stack([_decisions(e, images, batch_size) == labels for e in exps])
    wrong = torch.zeros(len(exps), len(exps), len(labels), dtype=torch.bool)
    for i, crafter in enumerate(exps):
        adv = ImageSet(_craft(crafter, images, attack, threat.eps, norm, batch_size, seed, params, domain), labels)
        for j, victim in enumerate(exps):
            wrong[i, j] = _decisions(victim, adv, batch_size) != labels
    return TransferResult(
        [str(d) for d in run_dirs], transfer_rate_matrix(clean_correct, wrong), clean_correct.float().mean(1).tolist(),
        eps=threat.eps, eps_text=eps_text(eps), weights=[w for _, w in loaded], samples=sample_identity(images),
    )


def _decisions(exp: Experiment, images: ImageSet, batch_size: int) -> torch.Tensor:
    """The run's decoded classes of ``images``, computed on its device, returned on the CPU."""
    return exp.space.decode(model_outputs(exp.model, images, batch_size, exp.config.device))


def _craft(exp: Experiment, images: ImageSet, attack: str, eps: float, norm: str, batch_size: int, seed: int, params: dict, domain: Box) -> torch.Tensor:
    """Adversarial examples crafted on ``exp``'s model, on its device; returned on the CPU."""
    attacker = make_attack(attack, norm=norm, eps=eps, **params)
    torch.manual_seed(seed)
    out = []
    with eval_mode(exp.model):
        for start in range(0, len(images), batch_size):
            x = images.float_images(slice(start, start + batch_size)).to(exp.config.device)
            y = images.labels[start : start + batch_size].to(exp.config.device)
            out.append(attacker(exp.model, exp.space, x, y, domain=domain).x_adv.cpu())
    return torch.cat(out)
