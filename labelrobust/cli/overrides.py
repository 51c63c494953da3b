"""Command-line flags generated from the config dataclasses, so CLI and API share every default.

Every leaf field of ``TrainConfig`` is a flag named by its dotted path (``--optim.lr``,
``--data.train-size``); the common ones also have short aliases (``--lr``, ``--train-size``).
Every parameter a registered training method declares is a flag ``--method.X`` that sets
``method.params.X`` (``--method.eps-warmup 2``; ``--eps`` is short for ``--method.eps``), with
the help text and default the method declares and the methods that take it. Values are parsed
as YAML scalars; each flag appends a ``(dotted key, value)`` override in command-line order.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

from labelrobust.config import TrainConfig, parse_override
from labelrobust.training.methods import method_parameters
from labelrobust.yaml_values import parse_value

ALIASES = {
    "data.name": ["--dataset"],
    "data.root": ["--data-root"],
    "data.train_size": ["--train-size"],
    "data.test_size": ["--test-size"],
    "data.val_size": ["--val-size"],
    "data.classes": ["--classes"],
    "data.imbalance": ["--imbalance"],
    "data.augment": ["--augment"],
    "model.name": ["--model"],
    "labels.name": ["--label-space"],
    "method.name": ["--method"],
    "method.params.eps": ["--eps"],
    "optim.lr": ["--lr"],
    "optim.momentum": ["--momentum"],
    "optim.weight_decay": ["--weight-decay"],
    "optim.schedule": ["--schedule"],
    "optim.milestones": ["--milestones"],
    "batch_size": ["--batch-size"],
    "checkpoint_every": ["--checkpoint-every"],
}
FLAGS = {"data.download": "--download", "optim.nesterov": "--nesterov", "channels_last": "--channels-last"}
DICT_FLAGS = {"labels.params": "--label-param", "method.params": "--method-param", "model.options": "--model-option", "data.options": "--data-option", "data.augment_options": "--augment-option"}


class _Override(argparse.Action):
    def __init__(self, *args, key: str, is_list: bool = False, is_text: bool = False, constant=None, **kwargs):
        self.key, self.is_list, self.is_text, self.constant = key, is_list, is_text, constant
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        overrides = getattr(namespace, "overrides", None) or []
        if self.constant is not None:
            overrides.append((self.key, self.constant))
        elif self.key in DICT_FLAGS or self.key == "--set":
            sub, value = parse_override(values)
            overrides.append((sub if self.key == "--set" else f"{self.key}.{sub}", value))
        elif self.is_text:  # a name or a path is taken as written: --name 2024, --out inf
            overrides.append((self.key, values))
        else:
            value = parse_value(values, f"value of {option_string}")
            if self.is_list and isinstance(value, (str, int, float)):
                value = [parse_value(v, f"value of {option_string}") for v in str(values).split(",")]
            overrides.append((self.key, value))
        namespace.overrides = overrides


def _leaves(cls: type, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            yield from _leaves(hint, f"{prefix}{f.name}.")
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            yield f"{prefix}{f.name}", hint, default, f.metadata.get("help", "")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per config field (plus aliases) to ``parser``; results land in ``args.overrides``."""
    parser.set_defaults(overrides=[])
    group = parser.add_argument_group("configuration (each overrides the YAML file; defaults shown)")
    for key, hint, default, text in _leaves(TrainConfig):
        dotted = "--" + key.replace("_", "-")
        names = [dotted, *ALIASES.get(key, [])]
        is_list = typing.get_origin(hint) is list or hint is list or "list" in str(hint)
        is_text = hint is str or (typing.get_origin(hint) in (typing.Union, types.UnionType) and set(typing.get_args(hint)) == {str, type(None)})
        if key in FLAGS:
            group.add_argument(*dict.fromkeys([FLAGS[key], dotted]), nargs=0, action=_Override, key=key, constant=True, help=f"{text} (default: {default})")
        elif key in DICT_FLAGS:
            group.add_argument(DICT_FLAGS[key], metavar="KEY=VALUE", action=_Override, key=key, help=f"{text}; one entry of {key}, repeatable")
        else:
            group.add_argument(*names, metavar="VALUE", action=_Override, key=key, is_list=is_list, is_text=is_text, help=f"{text} (default: {default!r})")
    group.add_argument("--set", metavar="KEY=VALUE", action=_Override, key="--set", help="any config key by its dotted path, e.g. optim.gamma=0.2")
    add_method_flags(parser)


def add_method_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--method.X`` flag per parameter that some registered method declares; it sets
    ``method.params.X``, which that method then checks (another method refuses it by name)."""
    group = parser.add_argument_group(
        "training method parameters (--method.X sets method.params.X, [the methods that take it]; a preset such as "
        "clirat takes its base method's; labelrobust list methods)"
    )
    for name, (info, methods) in method_parameters().items():
        key = f"method.params.{name}"
        names = ["--method." + name.replace("_", "-"), *ALIASES.get(key, [])]
        default = "required" if info.required else f"default: {info.default!r}"
        group.add_argument(*names, metavar="VALUE", action=_Override, key=key, help=f"{info.help} [{', '.join(methods)}] ({default})")
