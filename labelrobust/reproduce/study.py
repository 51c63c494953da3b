"""What a reproducible study is, and how one is run: ``labelrobust reproduce STUDY --scale S``.

A study (one file in ``reproduce/studies/``, registered in ``STUDIES``) declares its scales —
``ci`` (minutes on 2 CPU cores: the test suite runs it end to end), ``small`` (a meaningful CPU
experiment of an hour or less) and ``paper`` (the study's data, networks and schedules; GPU) —
the training configs of a scale (``configs``), and how the finished runs become a ``Report``
(``run``). Everything else is shared here:

- ``StudyContext.train`` trains through the run cache (``run_cache.py``): finished runs are
  reused, interrupted ones resume, ``force`` retrains. Evaluations resume by themselves: the
  attack runner keeps every finished (attack, eps) cell in the run's state file.
- ``OUT/reproduction.json`` marks a folder as this study's at this scale. A folder that holds
  anything else is refused, so a reproduction never writes over unrelated results.
- ``dry_run`` builds every model and data pipeline of a scale and writes each config, without
  training: how the ``paper`` configs are checked where no GPU is at hand.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from labelrobust.atomic import atomic_write_text, require_writable_dir
from labelrobust.config import TrainConfig, as_config, to_dict
from labelrobust.devices import check_device_name, resolve_device
from labelrobust.errors import ConfigError, DataError, OutputError
from labelrobust.provenance import command_line, environment, now
from labelrobust.registry import Registry
from labelrobust.reproduce.report import Report, write_report
from labelrobust.reproduce.run_cache import cached_config, cached_train, config_hash, is_finished
from labelrobust.runs import config_yaml

log = logging.getLogger(__name__)

SCALES = ("ci", "small", "paper")
MARKER = "reproduction.json"


class Study:
    """Base of the five studies. A subclass sets ``title``, ``source`` and ``scales`` (scale name
    → its settings, a frozen dataclass) and implements ``configs`` and ``run``."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    source: ClassVar[str] = ""
    scales: ClassVar[dict[str, Any]] = {}

    def scale_difference(self, ctx: StudyContext) -> str:
        """How this scale differs from the study's own setting, in words."""
        raise NotImplementedError

    def configs(self, ctx: StudyContext) -> dict[str, TrainConfig]:
        """Every training run of ``ctx.scale``, by label (the label names the run directory)."""
        raise NotImplementedError

    def run(self, ctx: StudyContext) -> Report:
        """Train (through ``ctx.train``), attack, analyse; return the report."""
        raise NotImplementedError

    def offline_shape(self, cfg: TrainConfig) -> tuple[tuple[int, ...], int] | None:
        """(input shape, number of classes) of ``cfg``'s data, for a dry run that lacks the
        data: the model is then built without it. None (the default): the model is not built."""
        return None


STUDIES: Registry[type[Study]] = Registry("study")


@dataclass
class StudyContext:
    """One reproduction: the study, its scale and settings, where it writes, on what it runs."""

    study: Study
    scale: str
    out: Path
    device: str = "cpu"
    data_root: str | None = None
    download: bool = False
    force: bool = False
    quiet: bool = True
    runs: list[dict] = field(default_factory=list)

    @property
    def settings(self) -> Any:
        return self.study.scales[self.scale]

    @property
    def runs_dir(self) -> Path:
        return self.out / "runs"

    def folder(self, name: str) -> Path:
        """A sub-folder of the output for one part of the study (created)."""
        path = self.out / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def data(self, **section: Any) -> dict:
        """A config's data section with this reproduction's data root and download setting."""
        return {**section, "root": self.data_root, "download": self.download}

    def config(self, data: dict) -> TrainConfig:
        """A TrainConfig from a nested mapping, on this reproduction's device."""
        return as_config({**data, "device": self.device, "out": str(self.runs_dir)})

    def train(self, label: str, cfg: TrainConfig) -> Path:
        """The finished run of ``cfg`` (reused, resumed or trained), recorded with its time."""
        started = time.perf_counter()
        reused = not self.force and is_finished(cached_config(cfg, label, self.runs_dir))
        run_dir = cached_train(cfg, label, self.runs_dir, force=self.force, quiet=self.quiet)
        self.runs.append({
            "run": label,
            "what": describe_config(cfg),
            "directory": str(run_dir.relative_to(self.out)) if run_dir.is_relative_to(self.out) else str(run_dir),
            "seconds": round(_training_seconds(run_dir) if reused else time.perf_counter() - started, 1),
            "status": "reused" if reused else "trained",
        })
        return run_dir

    def train_all(self) -> dict[str, Path]:
        return {label: self.train(label, cfg) for label, cfg in self.study.configs(self).items()}


def _training_seconds(run_dir: Path) -> float:
    """The training time a finished run recorded (0 when it did not)."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, json.JSONDecodeError):
        return 0.0
    value = summary.get("seconds", 0.0)
    return float(value) if isinstance(value, (int, float)) else 0.0


def describe_config(cfg: TrainConfig) -> str:
    """One line: dataset (sizes), model, label space, method, augmentation (if any), epochs."""
    d = cfg.data
    sizes = "/".join(str(v) for v in (d.train_size, d.test_size) if v is not None)
    labels = cfg.labels.name + (f" {cfg.labels.params}" if cfg.labels.params else "")
    method = cfg.method.name + (f" {cfg.method.params}" if cfg.method.params else "")
    augment = f", augment {d.augment}" + (f" {d.augment_options}" if d.augment_options else "") if d.augment not in (None, "none") else ""
    return f"{d.name}{f' ({sizes})' if sizes else ''}, {cfg.model.name}, {labels}, {method}{augment}, {cfg.epochs} epochs"


def get_study(name: str) -> Study:
    import labelrobust.reproduce.studies  # noqa: F401  (registers the studies)

    return STUDIES.get(name)()


def study_names() -> list[str]:
    import labelrobust.reproduce.studies  # noqa: F401

    return STUDIES.available()


def default_out(study: str, scale: str) -> Path:
    return Path("runs") / "reproduce" / f"{study}-{scale}"


def prepare_out(out: Path, study: str, scale: str) -> Path:
    """``out`` created, or an earlier reproduction of the same study and scale; anything else
    that holds files is refused (a reproduction writes into it and reuses what is there)."""
    marker = out / MARKER
    if out.is_dir() and any(out.iterdir()):
        try:
            held = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            raise OutputError(f"output folder {out} holds files but no {MARKER}: it is not a reproduction; give another --out") from None
        if not isinstance(held, dict) or (held.get("study"), held.get("scale")) != (study, scale):
            found = f"{held.get('study')!r} at scale {held.get('scale')!r}" if isinstance(held, dict) else "an unreadable marker"
            raise OutputError(f"output folder {out} holds the reproduction of {found}, not {study!r} at scale {scale!r}; give another --out")
    require_writable_dir(out, "output folder")
    if not marker.is_file():
        atomic_write_text(marker, json.dumps({"study": study, "scale": scale, "created": now()}, indent=2) + "\n")
    return out


def make_context(study: str, scale: str, out: str | Path | None = None, *, device: str = "cpu", data_root: str | None = None,
                 download: bool = False, force: bool = False, quiet: bool = True) -> StudyContext:
    """The validated context of one reproduction (the CLI and the API build it the same way)."""
    chosen = get_study(study)
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
    if scale not in chosen.scales:
        raise ConfigError(f"study {study!r} has no scale {scale!r}; it has {', '.join(chosen.scales)}")
    device = check_device_name(device, "--device")
    out_dir = Path(out) if out is not None else default_out(study, scale)
    return StudyContext(chosen, scale, out_dir, device=device, data_root=data_root, download=download, force=force, quiet=quiet)


def reproduce(study: str, scale: str = "ci", out: str | Path | None = None, *, device: str = "cpu", data_root: str | None = None,
              download: bool = False, force: bool = False, quiet: bool = True, command: str | None = None) -> tuple[Report, list[Path]]:
    """Run a study at a scale end to end and write its report into ``out``
    (default ``runs/reproduce/STUDY-SCALE``); return the report and the files written."""
    ctx = make_context(study, scale, out, device=device, data_root=data_root, download=download, force=force, quiet=quiet)
    resolve_device(ctx.device, "--device")
    prepare_out(ctx.out, study, scale)
    started = time.perf_counter()
    report = ctx.study.run(ctx)
    report.runs = ctx.runs
    report.provenance = {
        "command": command or command_line(), "date": now(), "machine": machine(), "device": ctx.device,
        "seconds": round(time.perf_counter() - started, 1), "environment": environment(),
    }
    return report, write_report(report, ctx.out)


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores}-core {platform.machine()} machine, torch threads {_torch_threads()}"


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# -- dry run -----------------------------------------------------------------------------------


def dry_run(study: str, scale: str = "paper", out: str | Path | None = None, *, device: str = "cpu", data_root: str | None = None,
            download: bool = False) -> list[dict]:
    """Build every model and data pipeline of ``scale`` without training, and write each config
    to ``OUT/configs/<label>-<hash>.yaml``; return one record per config: the model's parameter
    count, the data it found (or what is missing, and where it looked)."""
    ctx = make_context(study, scale, out, device=device, data_root=data_root, download=download)
    prepare_out(ctx.out, study, scale)
    configs = ctx.study.configs(ctx)
    folder = ctx.folder("configs")
    records = []
    for label, cfg in configs.items():
        placed = cached_config(cfg, label, ctx.runs_dir)
        atomic_write_text(folder / f"{placed.run_name()}.yaml", config_yaml(placed))
        records.append({"run": label, "hash": config_hash(cfg), "what": describe_config(cfg), **_build(cfg, ctx.study)})
    atomic_write_text(folder / "dry-run.json", json.dumps({"study": study, "scale": scale, "date": now(), "runs": records}, indent=2) + "\n")
    return records


def _build(cfg: TrainConfig, study: Study | None = None) -> dict:
    """Build the run's experiment (data, label space, model) and its training method; without
    the data, the model alone where the study knows the data's shape (``Study.offline_shape``)."""
    from labelrobust.runs import build_experiment
    from labelrobust.training.loop import input_domain
    from labelrobust.training.methods import make_method

    try:
        exp = build_experiment(dataclasses.replace(cfg, device="cpu"))  # the configs are checked on the CPU
    except DataError as err:
        shape = None if study is None else study.offline_shape(cfg)
        return {"data": f"missing: {err}", "model_parameters": None if shape is None else _model_parameters(cfg, *shape)}
    make_method(cfg.method, exp.space, epochs=cfg.epochs, domain=input_domain(exp.dataset), dataset=exp.dataset)
    parameters = sum(p.numel() for p in exp.model.parameters())
    return {"data": f"{len(exp.dataset.train)} train / {len(exp.dataset.test)} test images", "model_parameters": parameters,
            "config": to_dict(cfg)}


def _model_parameters(cfg: TrainConfig, input_shape: tuple[int, ...], num_classes: int) -> int:
    """The parameter count of ``cfg``'s model built for data of this shape (no data needed)."""
    from labelrobust.labels import make_label_space
    from labelrobust.models import build_model

    space = make_label_space(cfg.labels.name, num_classes, **cfg.labels.params)
    neutral = (0.0,) * input_shape[0], (1.0,) * input_shape[0]  # the statistics do not change the count
    model = build_model(cfg.model.name, input_shape=input_shape, out_dim=space.out_dim, mean=neutral[0], std=neutral[1], **cfg.model.options)
    return sum(p.numel() for p in model.parameters())
