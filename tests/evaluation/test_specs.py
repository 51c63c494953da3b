"""Attack specs: a role, parameters, a radius; what a spec runs is read from the attack's own
``describe()`` (the old name table said effort 10 for CW's 30 steps, ``loss`` for every
transfer attack, ``steps 3`` for the large-eps run)."""

from __future__ import annotations

import math

import pytest
import torch

from labelrobust.domain import Box
from labelrobust.errors import ConfigError
from labelrobust.evaluation import DIAGNOSTIC_ROLE, ENSEMBLE_ROLE, HALF_DIAMETER, AttackSpec
from labelrobust.evaluation.specs import effort, eps_text, half_diameter, radius
from labelrobust.labels import make_label_space


def test_roles_and_parameters_are_checked():
    assert AttackSpec("pgd", "pgd").role == ENSEMBLE_ROLE and AttackSpec("pgd", "pgd").nested
    assert AttackSpec("p", "pgd", role=DIAGNOSTIC_ROLE, nested=False).role == DIAGNOSTIC_ROLE
    with pytest.raises(ConfigError, match=r"attack spec 'p': role must be one of ensemble, diagnostic, got 'probe'"):
        AttackSpec("p", "pgd", role="probe")
    with pytest.raises(ConfigError, match=r"attack spec 'p': params must be a mapping"):
        AttackSpec("p", "pgd", params=[("steps", 3)])
    with pytest.raises(ConfigError, match=r"attack 'pgd' has no parameter 'iterations'"):
        AttackSpec("p", "pgd", {"iterations": 3}).build("linf", 0.1)


def test_what_a_spec_runs_comes_from_the_attack():
    cw = AttackSpec("cw", "cw").describe("linf", 0.1)
    assert cw.objective == "margin" and cw.budget["steps"] == 30 and effort(cw.budget) == 30
    fgsm = AttackSpec("fgsm", "fgsm").describe("linf", 0.1)
    assert effort(fgsm.budget) == 1 and fgsm.objective == "loss"
    large = AttackSpec("large", "pgd", {"steps": 20, "objective": "margin"}, eps=HALF_DIAMETER).describe("linf", 0.5)
    assert large.budget["steps"] == 20 and effort(large.budget) == 20
    top3 = AttackSpec("t", "pgd", {"steps": 50, "targets": 3, "restarts": 2}).describe("linf", 0.1)
    assert effort(top3.budget) == 50 * 3 * 2
    assert effort(AttackSpec("a", "apgd-ce", {"n_iter": 40, "n_restarts": 2}).describe("linf", 0.1).budget) == 80
    assert effort(AttackSpec("s", "square", {"n_queries": 300}).describe("linf", 0.1).budget) == 300
    space = make_label_space("onehot", 10)
    source = torch.nn.Linear(64, 10)
    transfer = AttackSpec("t", "transfer", {"source_model": source, "source_space": space, "attack": "cw"}).describe("linf", 0.1)
    assert transfer.kind == "transfer" and transfer.objective == "margin" and transfer.adaptive and effort(transfer.budget) == 30


def test_radii_and_their_texts():
    assert radius("8/255", "linf", (1, 8, 8)) == (pytest.approx(8 / 255), "8/255")
    assert radius(0.1, "linf", (1, 8, 8)) == (0.1, "0.1")
    assert radius(HALF_DIAMETER, "l2", (1, 8, 8)) == (4.0, "4")
    assert radius(HALF_DIAMETER, "linf", (2,), Box(-1, 1)) == (1.0, "1")
    assert radius(1.5, "linf", (2,), Box(-1, 1))[0] == 1.5  # in the box [−1, 1], not on pixels
    with pytest.raises(ConfigError, match=r"eps 1\.5 \(linf\) exceeds .* in \[0, 1\] \(1\)"):
        radius(1.5, "linf", (2,))
    with pytest.raises(ConfigError, match=r"eps 100 \(l2\) exceeds the largest l2 distance between two 1×8×8 inputs in \[0, 1\] \(8\)"):
        radius(100, "l2", (1, 8, 8))
    assert half_diameter("l2", (3, 32, 32)) == pytest.approx(math.sqrt(3072) / 2) and half_diameter("linf", (1, 28, 28)) == 0.5
    assert eps_text(" 8/255 ") == "8/255" and eps_text(0.30000) == "0.3" and eps_text(2) == "2"
