"""``labelrobust list KIND``: every registered component of a kind, with a one-line description.

Descriptions come from the components themselves (their docstrings, or for composites and
suites their parts), so the list never drifts from the code.
"""

from __future__ import annotations

import argparse

from labelrobust.attacks import ATTACKS, OBJECTIVES
from labelrobust.cli.output import emit
from labelrobust.data.augment import AUGMENTATIONS
from labelrobust.data.catalog import DATASETS
from labelrobust.labels import LABEL_SPACES
from labelrobust.evaluation import SUITES
from labelrobust.models.registry import MODELS
from labelrobust.training.methods.registry import METHODS


def _registry(registry):
    return lambda: [(name, registry.describe(name)) for name in registry.available()]


def _suites() -> list[tuple[str, str]]:
    def text(suite) -> str:
        if not suite.specs:
            return suite.summary
        return f"{len(suite.specs)} attacks ({', '.join(s.label for s in suite.specs)}); {suite.budget()}"
    return [(name, text(suite)) for name, suite in SUITES.items()]


def _studies() -> list[tuple[str, str]]:
    from labelrobust.reproduce.study import STUDIES, study_names

    return [(name, f"{STUDIES.get(name).title} ({', '.join(STUDIES.get(name).scales)})") for name in study_names()]


KINDS = {
    "datasets": _registry(DATASETS),
    "models": _registry(MODELS),
    "label-spaces": _registry(LABEL_SPACES),
    "methods": _registry(METHODS),
    "attacks": _registry(ATTACKS),
    "objectives": _registry(OBJECTIVES),
    "suites": _suites,
    "augmentations": _registry(AUGMENTATIONS),
    "studies": _studies,
}


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="list registered components with a one-line description", description="List the registered components of one kind.")
    p.add_argument("kind", choices=list(KINDS), help="which components: " + ", ".join(KINDS))


def run(args: argparse.Namespace) -> int:
    items = KINDS[args.kind]()
    width = max(len(name) for name, _ in items)
    for name, text in items:
        emit(f"{name.ljust(width)}  {text}".rstrip())
    return 0
