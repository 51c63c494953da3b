"""Typed run configuration: frozen dataclasses loaded from YAML and overridable by dotted keys.

One definition serves the API, the YAML files and the command line: every field below is a
``--section.field`` flag of ``labelrobust train`` with the same default, and unknown keys are
errors (a typo never passes silently). Values given on the command line are parsed as YAML
scalars, so ``--optim.lr 0.05``, ``--data.classes [cat,dog]`` and ``--labels.params.eps 0.2``
all work.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from labelrobust.errors import ConfigError


@dataclass(frozen=True)
class DataConfig:
    """Which data and which part of it.

    name: a registered dataset (``labelrobust datasets`` lists them).
    root: data root; None means ``$LABELROBUST_DATA_ROOT`` or ``./data``.
    download: fetch missing files (needs internet; never used in tests).
    train_size / test_size: seeded stratified subsets (None: the whole split).
    val_size: a seeded stratified validation split taken from train (0: none). Select
      checkpoints on it, never on the test split.
    seed: seed of the subsets; None means the run's seed.
    classes: keep only these classes (names or indices), relabelled in this order.
    imbalance: {class: fraction} kept of those classes in the train split.
    options: dataset-specific options, e.g. {on_mismatch: refuse} for softcifar10.
    augment: training-time augmentation, ``none`` or ``crop-flip`` (random crop with 4-pixel
      padding and horizontal flip, the usual CIFAR choice).
    """

    name: str = "digits"
    root: str | None = None
    download: bool = False
    train_size: int | None = None
    test_size: int | None = None
    val_size: int = 0
    seed: int | None = None
    classes: list | None = None
    imbalance: dict | None = None
    options: dict = field(default_factory=dict)
    augment: str = "none"


@dataclass(frozen=True)
class LabelConfig:
    """The label space (``labelrobust.labels``) and its parameters, e.g. {eps: 0.1}."""

    name: str = "onehot"
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """A registered model (``labelrobust models`` lists them) and its builder options."""

    name: str = "mnist-cnn"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OptimConfig:
    """SGD and its learning-rate schedule.

    schedule: ``constant``, ``multistep`` (multiply by ``gamma`` at each epoch in ``milestones``)
    or ``cosine`` (cosine annealing to 0 over all epochs, stepped per epoch).
    """

    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "constant"
    milestones: list = field(default_factory=list)
    gamma: float = 0.1


@dataclass(frozen=True)
class MethodConfig:
    """How a training batch becomes a loss (``labelrobust.training.methods``; methods.md §2–§4).

    name: ``standard``, ``noise`` (Gaussian-noise retraining), ``at`` (Madry PGD adversarial
      training), ``trades``, ``mart``, ``wpgd``, or a reweighted composite: ``mail-at``,
      ``mail-trades``, ``mail-mart`` (probability-margin weights, MAIL) and ``clirat``,
      ``clir-trades``, ``clir-mart`` (confused-label margin weights, CLIRAT).
    eps, norm: the inner attack's threat model (``linf`` or ``l2``); eps is required by every
      adversarial method (no silent default: 0.3 is MNIST's, 8/255 CIFAR's) and accepts ``8/255``.
    steps, step_size, random_start: the inner PGD; step_size None means 2.5·eps/steps (2/255 for
      eps 8/255 and 10 steps, as CLIRAT trains).
    eps_warmup: epochs over which eps and the step size ramp linearly from 0 (per batch); 0 means
      the full eps from the first batch. Small models on MNIST at eps 0.3 need a few.
    objective: what the inner PGD maximises; None means the method's own (at, mart, noise: the
      label space's training loss; trades: KL(p(x) ‖ p(x')); wpgd: the Wasserstein loss).
      ``margin``, ``ce`` or ``dlr`` attack the label space's scores instead.
    trades_beta: TRADES β (None: 6.0, or 5.0 for mail-/clir-trades as CLIRAT trains).
    mart_lambda: MART λ (None: 6.0).
    reweight: per-sample weights, ``none``, ``pm`` or ``cl-pm``; None means the composite name's.
    gamma, bias: ω = sigmoid(−gamma·(margin − bias)) (γ and β of methods.md §3); None: 10 and
      −0.5 for the AT composites, 2 and 0 for the TRADES/MART ones (CLIRAT's settings).
    burn_in: epochs during which every weight is 1 (CLIRAT: 75).
    noise_std: σ of the Gaussian noise of ``noise`` (required there), in [0, 1] pixel units.
    cost, power, wasserstein_lam: WPGD's label metric C (a K×K list or a .npy/.csv/.txt file;
      None: 1 − I), its power p and the λ of the entropy term of the Wasserstein loss.
    """

    name: str = "standard"
    eps: float | str | None = None
    norm: str = "linf"
    steps: int = 10
    step_size: float | str | None = None
    random_start: bool = True
    eps_warmup: int = 0
    objective: str | None = None
    trades_beta: float | None = None
    mart_lambda: float | None = None
    reweight: str | None = None
    gamma: float | None = None
    bias: float | None = None
    burn_in: int = 0
    noise_std: float | None = None
    cost: str | list | None = None
    power: float = 1.0
    wasserstein_lam: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run.

    out: the folder that holds run directories; name: this run's directory (None: derived from
    dataset, model, label space and seed). checkpoint_every: also checkpoint every N batches
    inside an epoch (0: only at epoch ends) so a killed run loses at most N batches.
    precision: ``fp32`` (default), ``bf16`` or ``fp16``: mixed precision for the training
    forward passes, inner attack included (fp16 adds loss scaling); evaluation stays float32.
    channels_last: store convolution weights and image batches as N×H×W×C while training.
    Both: ``labelrobust.training.precision``.
    """

    data: DataConfig = field(default_factory=DataConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    device: str = "cpu"
    out: str = "runs"
    name: str | None = None
    checkpoint_every: int = 0
    precision: str = "fp32"
    channels_last: bool = False

    def run_name(self) -> str:
        if self.name:
            return self.name
        method = "" if self.method.name == "standard" else f"-{self.method.name}"
        return f"{self.data.name}-{self.model.name}-{self.labels.name}{method}-seed{self.seed}"


SCHEDULES = ("constant", "multistep", "cosine")


def validate(cfg: TrainConfig) -> TrainConfig:
    """Range checks that types alone cannot express; raise ConfigError naming the key."""
    positive = {"epochs": cfg.epochs, "batch_size": cfg.batch_size}
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key} must be ≥ 1, got {value}")
    if cfg.checkpoint_every < 0:
        raise ConfigError(f"checkpoint_every must be ≥ 0, got {cfg.checkpoint_every}")
    from labelrobust.training.precision import autocast_dtype  # here: the training package imports this module

    autocast_dtype(cfg.precision)
    if cfg.optim.lr <= 0:
        raise ConfigError(f"optim.lr must be > 0, got {cfg.optim.lr}")
    if not 0 <= cfg.optim.momentum < 1:
        raise ConfigError(f"optim.momentum must be in [0, 1), got {cfg.optim.momentum}")
    if cfg.optim.nesterov and cfg.optim.momentum == 0:
        raise ConfigError("optim.nesterov needs optim.momentum > 0")
    if cfg.optim.weight_decay < 0:
        raise ConfigError(f"optim.weight_decay must be ≥ 0, got {cfg.optim.weight_decay}")
    if cfg.optim.schedule not in SCHEDULES:
        raise ConfigError(f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {cfg.optim.schedule!r}")
    if cfg.optim.schedule == "multistep":
        if not cfg.optim.milestones or any(not isinstance(m, int) or m < 1 for m in cfg.optim.milestones):
            raise ConfigError(
                f"optim.milestones must be a non-empty list of epochs ≥ 1 for the multistep schedule, "
                f"got {cfg.optim.milestones!r}"
            )
    if cfg.method.steps < 1:
        raise ConfigError(f"method.steps must be ≥ 1, got {cfg.method.steps}")
    if cfg.method.eps_warmup < 0:
        raise ConfigError(f"method.eps_warmup must be ≥ 0, got {cfg.method.eps_warmup}")
    if cfg.method.burn_in < 0:
        raise ConfigError(f"method.burn_in must be ≥ 0, got {cfg.method.burn_in}")
    if cfg.data.val_size < 0:
        raise ConfigError(f"data.val_size must be ≥ 0, got {cfg.data.val_size}")
    return cfg


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


def _describe(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section {where or 'top level'!r} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        place = f" in section {where!r}" if where else ""
        raise ConfigError(
            f"unknown config key {', '.join(map(repr, unknown))}{place}; known keys: {', '.join(known)}"
        )
    kwargs = {}
    for key, value in data.items():
        annotation = hints[key]
        path = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(annotation):
            kwargs[key] = from_dict(annotation, value, path)
            continue
        if not _type_ok(value, annotation):
            raise ConfigError(f"config key {path!r} must be {_describe(annotation)}, got {value!r}")
        kwargs[key] = float(value) if annotation is float else value
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict:
    """A dataclass config as a plain nested dict (YAML/JSON-able)."""
    return dataclasses.asdict(cfg)


def parse_override(text: str) -> tuple[str, Any]:
    """``"optim.lr=0.05"`` → ``("optim.lr", 0.05)``; the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"an override must look like section.key=value, got {text!r}")
    return key.strip(), yaml.safe_load(raw) if raw.strip() else None


def apply_overrides(data: dict, overrides: list[tuple[str, Any]], cls: type = None) -> dict:
    """Set dotted keys in a nested dict; unknown sections or keys fail with the known ones.

    Keys inside free-form dict fields (``labels.params``, ``model.options``, ``data.options``)
    are created as given: their owners (label space, model, dataset) check them.
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
                        f"known keys{' in ' + prefix if prefix else ''}: {', '.join(sorted(names))}"
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
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        _merge(data, loaded, TrainConfig, str(path))
    apply_overrides(data, overrides or [])
    return validate(from_dict(TrainConfig, data))


def _merge(base: dict, update: dict, cls: type, where: str) -> None:
    for key, value in update.items():
        known = {f.name: f for f in dataclasses.fields(cls)}
        if key not in known:
            raise ConfigError(f"unknown config key {key!r} in {where}; known keys: {', '.join(known)}")
        hint = typing.get_type_hints(cls)[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            _merge(base[key], value, hint, f"{where}: {key}")
        else:
            base[key] = value
