"""Named attack suites for ``labelrobust evaluate RUN_DIR --suite NAME``.

A suite is diagnostics (independent probes for the sanity checks) plus an ensemble (the worst
case, run on the active set, strongest-per-cost first; see ``specs.py``). Every suite probes the
label space's own loss *and* its class scores at the same budget, so ``own-loss-only`` compares
like with like; probes run un-nested (nesting saves compute in the ensemble, where it is valid). ``--eps`` is always given by the user: a suite never picks a radius.

``standard``: as strong as AutoAttack on adversarially trained models for a fraction of its
time (``benchmarks/suite_vs_autoattack.py``): the probes break the easy samples first, then
PGD with APGD's step schedule on targeted margins of the top 3 classes, the published APGD-CE,
and a Square attack on what is left (black-box: it also checks the white-box attacks).
"""

from __future__ import annotations

from dataclasses import dataclass

from labelrobust.errors import ConfigError
from labelrobust.evaluation.progress import budget_units
from labelrobust.evaluation.specs import DIAGNOSTIC_ROLE, AttackSpec


def probe(label: str, attack: str, params: dict | None = None) -> AttackSpec:
    """A diagnostic run un-nested: each (probe, eps) cell is one run of its attack, so two probes
    compare like with like (a nested probe's decisions would be a union over radii) and the
    eps-monotone check stays meaningful."""
    return AttackSpec(label, attack, dict(params or {}), role=DIAGNOSTIC_ROLE, nested=False)


@dataclass(frozen=True)
class Suite:
    name: str
    summary: str
    specs: tuple[AttackSpec, ...]

    def budget(self, norm: str = "linf", eps: float = 0.1) -> str:
        """What the suite may spend per sample and radius, from its attacks' own budgets, in
        gradient-pass units (a forward-only query counts 1/3)."""
        if not self.specs:
            return "no attack"
        units = sum(budget_units(s.describe(norm, eps)) for s in self.specs)
        return f"at most {units:.0f} gradient-pass units per sample and eps (early stopping and the active set spend less)"


SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite("clean", "no attack: clean accuracy only", ()),
        Suite("quick", "FGSM and PGD-20 on the own loss and the margin (probes only)", (
            probe("fgsm", "fgsm"),
            probe("pgd-20", "pgd", {"steps": 20}),
            probe("pgd-20-margin", "pgd", {"steps": 20, "objective": "margin"}),
        )),
        Suite("standard", "probes, then APGD-schedule PGD on top-3 targeted margins, APGD-CE and Square on the active set", (
            probe("fgsm", "fgsm"),
            probe("pgd-20", "pgd", {"steps": 20}),
            probe("pgd-20-margin", "pgd", {"steps": 20, "objective": "margin"}),
            probe("pgd-5-margin", "pgd", {"steps": 5, "objective": "margin"}),
            AttackSpec("apgd-margin-top3", "pgd", {"steps": 50, "objective": "margin", "schedule": "apgd", "targets": 3}),
            AttackSpec("apgd-ce", "apgd-ce", {"n_iter": 50}),
            AttackSpec("square", "square", {"n_queries": 500}),
        )),
        Suite("autoattack", "the published AutoAttack (standard version), with own-loss and margin probes", (
            probe("pgd-20", "pgd", {"steps": 20}),
            probe("pgd-20-margin", "pgd", {"steps": 20, "objective": "margin"}),
            AttackSpec("autoattack", "autoattack"),
        )),
    )
}


def get_suite(name: str) -> list[AttackSpec]:
    if name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    return list(SUITES[name].specs)
