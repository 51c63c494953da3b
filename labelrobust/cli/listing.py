"""``labelrobust list``: the registered datasets, models, label spaces, attacks and training methods."""

from __future__ import annotations

import argparse

from labelrobust.attacks import available_attacks
from labelrobust.cli.output import emit
from labelrobust.data import available_datasets
from labelrobust.labels import available_label_spaces
from labelrobust.models import available_models
from labelrobust.training.methods import available_methods

KINDS = {"datasets": available_datasets, "models": available_models, "label-spaces": available_label_spaces, "attacks": available_attacks, "methods": available_methods}


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="list registered components")
    p.add_argument("kind", choices=list(KINDS))


def run(args: argparse.Namespace) -> int:
    for item in KINDS[args.kind]():
        emit(item)
    return 0
