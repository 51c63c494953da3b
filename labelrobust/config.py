"""Typed run configuration: frozen dataclasses loaded from YAML and overridable by dotted keys.

One definition serves the API, the YAML files and the command line: every field below is a
``--section.field`` flag of ``labelrobust train`` with the same default, and unknown keys are
errors (a typo never passes silently). Every section checks its types when it is built and
``TrainConfig`` validates the whole (``validate``), so ``TrainConfig(batch_size=0)`` fails at
once, whichever way it was made. Files and command-line values are read as YAML 1.2
(``labelrobust.yaml_values``), so ``--lr 6e-5``, ``lr: 1e-3``, ``--data.classes [cat,dog]`` and
``--labels.params.lam inf`` all work; float fields also take those spellings as strings.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Union

from labelrobust.devices import check_device_name
from labelrobust.errors import ConfigError
from labelrobust.yaml_values import float_from_text, load_yaml, parse_value

log = logging.getLogger(__name__)


def _field(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = None, allow_inf: bool = False) -> Any:
    """A config field with its ``--help`` text (components describe themselves: the flag help
    and the docs come from here)."""
    meta = {"help": help, "allow_inf": allow_inf}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


class _Section:
    """Every config section checks its own field types when it is built — from YAML, flags or
    the Python API alike — and reads the float spellings people write (``1e-3``, ``inf``)."""

    section: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            path = f"{self.section}.{f.name}" if self.section else f.name
            value = _coerce(getattr(self, f.name), hints[f.name], path, f.metadata.get("allow_inf", False))
            object.__setattr__(self, f.name, value)  # frozen: the documented way to normalise in __post_init__


@dataclass(frozen=True)
class DataConfig(_Section):
    """Which data and which part of it (``labelrobust list datasets``)."""

    section: ClassVar[str] = "data"
    name: str = _field("digits", "a registered dataset (labelrobust list datasets)")
    root: str | None = _field(None, "data root folder; None: $LABELROBUST_DATA_ROOT, else ./data")
    download: bool = _field(False, "fetch missing public datasets (needs internet)")
    train_size: int | None = _field(None, "seeded stratified subset of the training split (None: all; ≥ number of classes)")
    test_size: int | None = _field(None, "seeded stratified subset of the test split (None: all)")
    val_size: int = _field(0, "validation split taken from train, stratified (0: none); select checkpoints on it, never on test")
    seed: int | None = _field(None, "seed of the subsets (None: the run's seed)")
    classes: list | None = _field(None, "keep only these classes (names or indices), relabelled in this order")
    imbalance: dict | None = _field(None, "{class: fraction} kept of those classes in the train split")
    options: dict = _field(help="dataset-specific options, e.g. on_mismatch=refuse for softcifar10", factory=dict)
    augment: str = _field("none", "training-time augmentation: none, crop-flip (padded random crop + horizontal flip) or black-rectangle (labelrobust list augmentations)")
    augment_options: dict = _field(help="options of the augmentation, e.g. min_size=4 and max_size=12 for black-rectangle, padding=4 for crop-flip", factory=dict)


@dataclass(frozen=True)
class LabelConfig(_Section):
    """The label space (``labelrobust.labels``) and its parameters, e.g. {eps: 0.1}."""

    section: ClassVar[str] = "labels"
    name: str = _field("onehot", "a registered label space (labelrobust list label-spaces)")
    params: dict = _field(help="label-space parameters, e.g. scale=350 for binary", factory=dict)


@dataclass(frozen=True)
class ModelConfig(_Section):
    """A registered model (``labelrobust list models``) and its builder options."""

    section: ClassVar[str] = "model"
    name: str = _field("mnist-cnn", "a registered model (labelrobust list models); the head size comes from the label space")
    options: dict = _field(help="builder options of the model, e.g. width=16", factory=dict)


@dataclass(frozen=True)
class OptimConfig(_Section):
    """SGD and its learning-rate schedule."""

    section: ClassVar[str] = "optim"
    lr: float = _field(0.05, "SGD learning rate")
    momentum: float = _field(0.9, "SGD momentum, in [0, 1)")
    nesterov: bool = _field(False, "Nesterov momentum")
    weight_decay: float = _field(5e-4, "L2 weight decay")
    schedule: str = _field("constant", "constant, multistep (×gamma at each milestone epoch) or cosine (to 0 over all epochs, per epoch)")
    milestones: list = _field(help="epochs at which multistep multiplies the lr by gamma, e.g. 75,90", factory=list)
    gamma: float = _field(0.1, "multistep factor")


@dataclass(frozen=True)
class MethodConfig(_Section):
    """How a training batch becomes a loss: a training method (or a preset of one) and its
    parameters (``labelrobust list methods``; ``labelrobust.training.methods``; methods.md §2–§4).

    Each method declares its parameters (its ``Params`` dataclass): ``params`` is checked against
    them when the config is built, as label-space parameters are against the label space.
    Adversarial methods take ``eps`` (required), the inner attack (``inner``: pgd, fgsm-rs,
    fgsm, cw, with ``steps``, ``step_size``, ``random_start``, ``inner_params``), ``eps_warmup``,
    ``objective`` and the instance weights (``reweight``, ``gamma``, ``bias``, ``burn_in``); the
    presets ``mail-*`` and ``clir*`` set the weights' defaults (CLIRAT's settings).
    """

    section: ClassVar[str] = "method"
    name: str = _field("standard", "a registered training method or preset: standard, noise, at, trades, mart, wpgd, mail-at, clirat, ... (labelrobust list methods)")
    params: dict = _field(help="the method's parameters, e.g. {eps: 0.3, steps: 10} (--method.X sets params.X)", factory=dict)


@dataclass(frozen=True)
class TrainConfig(_Section):
    """A whole training run; checked as a whole when it is built (``validate``).

    The run directory is ``out/name``. Mixed precision and channels-last:
    ``labelrobust.training.precision``; evaluation always stays float32.
    """

    data: DataConfig = _field(help="the data section (DataConfig)", factory=DataConfig)
    labels: LabelConfig = _field(help="the label space section (LabelConfig)", factory=LabelConfig)
    model: ModelConfig = _field(help="the model section (ModelConfig)", factory=ModelConfig)
    optim: OptimConfig = _field(help="the optimiser section (OptimConfig)", factory=OptimConfig)
    method: MethodConfig = _field(help="the training method section (MethodConfig)", factory=MethodConfig)
    epochs: int = _field(10, "training epochs; may grow on --resume")
    batch_size: int = _field(128, "global mini-batch size (split across processes under torchrun)")
    seed: int = _field(0, "seed of initialisation, batch order, subsets and random starts")
    device: str = _field("cpu", "cpu, cuda, cuda:N or mps (may change on --resume)")
    out: str = _field("runs", "the folder that holds run directories")
    name: str | None = _field(None, "this run's directory name, one path component (None: dataset-model-labels[-method]-seedN)")
    checkpoint_every: int = _field(0, "also checkpoint every N batches inside an epoch (0: at epoch ends); set it for preemptible jobs")
    precision: str = _field("fp32", "fp32, bf16 or fp16 (with loss scaling) for the training forward passes")
    channels_last: bool = _field(False, "N×H×W×C memory layout while training")
    divergence_factor: float = _field(
        1000.0, "stop when a batch's loss exceeds this multiple of the run's first-batch loss (0: never; NaN/inf always stop)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        validate(self)

    def run_name(self) -> str:
        if self.name:
            return self.name
        method = "" if self.method.name == "standard" else f"-{self.method.name}"
        return f"{self.data.name}-{self.model.name}-{self.labels.name}{method}-seed{self.seed}"


CONFIG_VERSION = 2
"""The format of ``config.yaml`` written now (``config_version`` in the file). Version 1
(labelrobust ≤ 0.1, no ``config_version`` key) kept every method setting flat in the method
section (``method: {name: at, eps: 0.3, steps: 10, ...}``); ``upgrade_config`` reads it."""

V1_METHOD_DEFAULTS: dict[str, Any] = {
    "eps": None, "norm": "linf", "steps": 10, "step_size": None, "random_start": True, "eps_warmup": 0, "objective": None,
    "trades_beta": None, "mart_lambda": None, "reweight": None, "gamma": None, "bias": None, "burn_in": 0, "noise_std": None,
    "cost": None, "power": 1.0, "wasserstein_lam": 1.0,
}
"""Every key of a version-1 method section with its version-1 default (a default there meant
"the method's own", which is what leaving the parameter out means now)."""

RUN_LOCATION_KEYS = ("out", "name", "device", "checkpoint_every", "divergence_factor", "data.root", "data.download")
"""Keys that say where and how a run executes, not what it computes: they may change on resume."""

SCHEDULES = ("constant", "multistep", "cosine")


def validate(cfg: TrainConfig) -> TrainConfig:
    """Range checks that types alone cannot express; raise ConfigError naming the key."""
    _check_run_level(cfg)
    _check_optim(cfg.optim)
    _check_method(cfg.method)
    _check_data(cfg.data)
    return cfg


def _at_least(key: str, value: int | float | None, low: int | float) -> None:
    if value is not None and value < low:
        raise ConfigError(f"{key} must be ≥ {low}, got {value}")


def _check_run_level(cfg: TrainConfig) -> None:
    _at_least("epochs", cfg.epochs, 1)
    _at_least("batch_size", cfg.batch_size, 1)
    _at_least("seed", cfg.seed, 0)
    _at_least("checkpoint_every", cfg.checkpoint_every, 0)
    _at_least("divergence_factor", cfg.divergence_factor, 0)
    if 0 < cfg.divergence_factor <= 1:
        raise ConfigError(f"divergence_factor must be 0 (off) or > 1, got {cfg.divergence_factor}")
    check_device_name(cfg.device)
    if not cfg.out.strip():
        raise ConfigError("out must name a folder, got an empty string")
    if cfg.name is not None:
        check_run_name(cfg.name)
    from labelrobust.training.precision import autocast_dtype  # here: the training package imports this module

    autocast_dtype(cfg.precision)


def check_run_name(name: str) -> str:
    """A run name is one path component: no separators, not ``.``/``..``, not empty."""
    if not name or name in (".", "..") or any(sep in name for sep in ("/", "\\", "\0")) or name != name.strip():
        raise ConfigError(
            f"name must be a single folder name (no '/', not '.' or '..', no surrounding spaces), got {name!r}; "
            f"use out to choose the parent folder"
        )
    return name


def _check_optim(o: OptimConfig) -> None:
    if o.lr <= 0:
        raise ConfigError(f"optim.lr must be > 0, got {o.lr}")
    if not 0 <= o.momentum < 1:
        raise ConfigError(f"optim.momentum must be in [0, 1), got {o.momentum}")
    if o.nesterov and o.momentum == 0:
        raise ConfigError("optim.nesterov needs optim.momentum > 0")
    _at_least("optim.weight_decay", o.weight_decay, 0)
    if o.gamma <= 0:
        raise ConfigError(f"optim.gamma must be > 0, got {o.gamma}")
    if o.schedule not in SCHEDULES:
        raise ConfigError(f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {o.schedule!r}")
    if o.schedule == "multistep":
        if not o.milestones or any(not isinstance(m, int) or isinstance(m, bool) or m < 1 for m in o.milestones):
            raise ConfigError(
                f"optim.milestones must be a non-empty list of epochs ≥ 1 for the multistep schedule, got {o.milestones!r}"
            )


def _check_method(m: MethodConfig) -> None:
    """The method's name and its parameters, against what the method declares."""
    from labelrobust.training.methods import method_params  # here: the training package imports this module

    method_params(m.name, m.params)


def _check_data(d: DataConfig) -> None:
    _at_least("data.val_size", d.val_size, 0)
    _at_least("data.train_size", d.train_size, 1)
    _at_least("data.test_size", d.test_size, 1)
    _at_least("data.seed", d.seed, 0)
    if d.root is not None and not d.root.strip():
        raise ConfigError("data.root must name a folder, got an empty string")


# -- format versions ----------------------------------------------------------------------


def upgrade_config(data: dict, where: str = "config") -> dict:
    """A config mapping of any format version, in the current format (``config_version`` removed).

    ``config_version`` absent means version 1 when the method section holds a version-1 key
    (anything but ``name``/``params``), else the current version: the two formats agree on
    everything else, so a file without a method section, or with only its name, reads alike.
    Version 1's flat method keys become ``method.params``; keys left at their version-1 default
    are dropped (they meant "the method's own"), and so are keys the method ignored in version 1
    (e.g. ``noise_std`` of ``at``), with a warning.
    """
    if not isinstance(data, dict):
        return data  # from_dict refuses it with its own message
    data = dict(data)
    version = data.pop("config_version", None)
    if version is None:
        version = 1 if _has_flat_method(data) else CONFIG_VERSION
    if isinstance(version, bool) or version not in (1, CONFIG_VERSION):
        raise ConfigError(
            f"{where}: config_version {version!r} is not a format this labelrobust reads (1 or {CONFIG_VERSION}); "
            f"was it written by a newer labelrobust?"
        )
    return _from_version_1(data, where) if version == 1 else data


def _has_flat_method(data: dict) -> bool:
    method = data.get("method")
    return isinstance(method, dict) and bool(set(method) - {"name", "params"})


def _from_version_1(data: dict, where: str) -> dict:
    method = data.get("method")
    if not isinstance(method, dict):
        return data
    flat = dict(method)
    name = flat.pop("name", None)
    unknown = sorted(set(flat) - set(V1_METHOD_DEFAULTS), key=str)
    if unknown:
        raise ConfigError(
            f"unknown config key {', '.join(map(repr, unknown))} in section 'method' of {where} (format version 1); "
            f"known keys: name, {', '.join(V1_METHOD_DEFAULTS)}"
        )
    params = {key: value for key, value in flat.items() if value != V1_METHOD_DEFAULTS[key]}
    if isinstance(name, str):
        params = _drop_ignored(name, params, where)
    data["method"] = {**({"name": name} if name is not None else {}), "params": params}
    return data


def _drop_ignored(name: str, params: dict, where: str) -> dict:
    """Version 1 let every method carry every key; the ones ``name`` never read go."""
    from labelrobust.training.methods import METHODS, method_class  # here: the training package imports this module
    from labelrobust.training.methods.params import declared

    if name not in METHODS:
        return params  # the config's own check names the unknown method
    accepted = declared(method_class(name)[0].Params)
    ignored = sorted(set(params) - set(accepted))
    if ignored:
        log.warning(
            "%s (format version 1): method %r ignored %s; dropped", where, name, ", ".join(f"{k}={params[k]!r}" for k in ignored)
        )
    return {key: value for key, value in params.items() if key in accepted}


# -- dict ⇄ dataclass ------------------------------------------------------------------------


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    check = origin or annotation
    return isinstance(value, check)


def _allows(annotation: Any, kind: type) -> bool:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return kind in typing.get_args(annotation)
    return annotation is kind


def _describe(annotation: Any) -> str:
    if annotation is float:
        return "a number (e.g. 0.05 or 1e-3)"
    if annotation is int:
        return "an integer"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


def _coerce(value: Any, annotation: Any, path: str, allow_inf: bool) -> Any:
    """Check ``value`` against the field's type; numbers for float fields become floats."""
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, annotation):
            raise ConfigError(f"config section {path!r} must be a {annotation.__name__} (or a mapping in YAML), got {value!r}")
        return value
    if _allows(annotation, float):
        if isinstance(value, str) and not _allows(annotation, str):
            number = float_from_text(value)
            value = value if number is None else number
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if math.isnan(value) or (math.isinf(value) and not allow_inf):
                raise ConfigError(f"config key {path!r} must be a finite number, got {value}")
    if _allows(annotation, str) and not _allows(annotation, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float):  # its spelling is gone: 1e5 and 100000.0 read alike
            raise ConfigError(f"config key {path!r} must be text, but {value!r} reads as a number; quote it in YAML ({path.rsplit('.', 1)[-1]}: '...')")
        value = str(value)  # `name: 2024` in YAML is a name, not a number
    if not _type_ok(value, annotation):
        raise ConfigError(f"config key {path!r} must be {_describe(annotation)}, got {value!r}")
    return value


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, rejecting unknown keys; types are checked by
    the dataclasses themselves (``_Section``)."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"config section {where or 'top level'!r} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        place = f" in section {where!r}" if where else ""
        raise ConfigError(
            f"unknown config key {', '.join(map(repr, unknown))}{place}; known keys: {', '.join(known)}{_params_hint(cls, where, unknown[0])}"
        )
    kwargs = {}
    for key, value in data.items():
        annotation = hints[key]
        path = f"{where}.{key}" if where else key
        kwargs[key] = from_dict(annotation, value, path) if dataclasses.is_dataclass(annotation) else value
    return cls(**kwargs)


def _params_hint(cls: type, where: str, key: str) -> str:
    """For a section with free-form ``params`` (method, labels): where its parameters go."""
    if "params" not in {f.name for f in dataclasses.fields(cls)} or not where:
        return ""
    return f" ({where} parameters go under {where}.params, e.g. {where}.params.{key})"


def as_config(cfg: Any, where: str = "config mapping") -> TrainConfig:
    """A TrainConfig from a TrainConfig or a nested mapping (as in YAML, of any format version:
    ``upgrade_config``); anything else is refused."""
    if isinstance(cfg, TrainConfig):
        return cfg
    if isinstance(cfg, dict):
        return from_dict(TrainConfig, upgrade_config(cfg, where))
    raise ConfigError(
        f"expected a TrainConfig or a mapping of config keys, got {type(cfg).__name__}; "
        f"build one with labelrobust.load_config(path, overrides) or TrainConfig(...)"
    )


def to_dict(cfg: Any) -> dict:
    """A dataclass config as a plain nested dict (YAML/JSON-able)."""
    return dataclasses.asdict(cfg)


def parse_override(text: str) -> tuple[str, Any]:
    """``"optim.lr=6e-5"`` → ``("optim.lr", 6e-05)``; the value is parsed as YAML 1.2."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"an override must look like key=value, got {text!r}")
    return key.strip(), parse_value(raw, f"value of {key.strip()!r}")


def apply_overrides(data: dict, overrides: list[tuple[str, Any]], cls: type = None) -> dict:
    """Set dotted keys in a nested dict; unknown sections or keys fail with the known ones.

    Keys inside free-form dict fields (``labels.params``, ``method.params``, ``model.options``,
    ``data.options``) are created as given: their owners (label space, method, model, dataset)
    check them.
    """
    cls = cls or TrainConfig
    for dotted, value in overrides:
        parts = dotted.split(".")
        node, owner = data, cls
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if owner is not None:
                names = {f.name for f in dataclasses.fields(owner)}
                if part not in names:
                    prefix = ".".join(parts[:i])
                    raise ConfigError(
                        f"unknown config key {dotted!r}: {prefix + '.' if prefix else ''}{part} does not exist; "
                        f"known keys{' in ' + prefix if prefix else ''}: {', '.join(sorted(names))}{_params_hint(owner, prefix, part)}"
                    )
                hint = typing.get_type_hints(owner)[part]
                next_owner = hint if dataclasses.is_dataclass(hint) else None
            else:
                next_owner = None
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
                if not isinstance(child, dict):
                    raise ConfigError(f"config key {'.'.join(parts[: i + 1])!r} is not a section")
                node, owner = child, next_owner
    return data


def load_config(path: str | Path | None = None, overrides: list[tuple[str, Any]] | None = None) -> TrainConfig:
    """Defaults, then the YAML file (if any), then the overrides; validated."""
    data: dict = to_dict(TrainConfig())
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"config file {path} is a folder; give its config.yaml, or the run directory to train --resume")
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        loaded = load_yaml(path.read_text(), f"config file {path}") or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        _merge(data, upgrade_config(loaded, f"config file {path}"), TrainConfig, str(path))
    apply_overrides(data, overrides or [])
    return from_dict(TrainConfig, data)


def _merge(base: dict, update: dict, cls: type, where: str) -> None:
    for key, value in update.items():
        known = {f.name: f for f in dataclasses.fields(cls)}
        if key not in known:
            section = where.rsplit(": ", 1)[-1] if ": " in where else ""
            raise ConfigError(f"unknown config key {key!r} in {where}; known keys: {', '.join(known)}{_params_hint(cls, section, key)}")
        hint = typing.get_type_hints(cls)[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            _merge(base[key], value, hint, f"{where}: {key}")
        else:
            base[key] = value
