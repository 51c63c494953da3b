"""Named attack suites for ``labelrobust evaluate RUN_DIR --suite NAME``.

Every suite attacks the label space's own loss *and* its class scores (adaptive objectives),
so the ``own-loss-only`` check can compare them (docs/flags.md). ``--eps`` is always given by
the user: a suite never picks a radius.
"""

from __future__ import annotations

from labelrobust.errors import ConfigError
from labelrobust.metrics.robust_eval import AttackSpec

SUITES: dict[str, list[AttackSpec]] = {
    "clean": [],
    "quick": [
        AttackSpec("fgsm", "fgsm"),
        AttackSpec("pgd-20", "pgd", {"steps": 20}),
        AttackSpec("pgd-20-margin", "pgd", {"steps": 20, "objective": "margin"}),
    ],
    "standard": [
        AttackSpec("fgsm", "fgsm"),
        AttackSpec("fgsm-margin", "fgsm", {"objective": "margin"}),
        AttackSpec("pgd-20", "pgd", {"steps": 20}),
        AttackSpec("pgd-100", "pgd", {"steps": 100}),
        AttackSpec("pgd-20-margin", "pgd", {"steps": 20, "objective": "margin"}),
        AttackSpec("pgd-20x5-margin", "pgd", {"steps": 20, "restarts": 5, "objective": "margin"}),
        AttackSpec("pgd-20-dlr", "pgd", {"steps": 20, "objective": "dlr"}),
        AttackSpec("cw", "cw", {"steps": 30}),
        AttackSpec("square", "square", {"n_queries": 1000}, kind="black-box"),
    ],
    "autoattack": [
        AttackSpec("pgd-20", "pgd", {"steps": 20}),
        AttackSpec("apgd-ce", "apgd-ce"),
        AttackSpec("autoattack", "autoattack"),
    ],
}


def get_suite(name: str) -> list[AttackSpec]:
    if name not in SUITES:
        raise ConfigError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    return SUITES[name]
