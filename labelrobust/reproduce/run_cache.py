"""Training runs cached by config hash: a reproduction reuses what already finished.

A run's directory is ``RUNS/<label>-<hash>``, where ``hash`` is the first 12 hex digits of the
SHA-256 of the config's canonical JSON *without* the keys that only say where and how it runs
(``config.RUN_LOCATION_KEYS``: out, name, device, data root, ...). So the same experiment on
another device or data root finds its finished run, and a changed setting (one more epoch, a
different eps) gets a new directory instead of overwriting the old one.

``cached_train`` reuses a finished run, resumes an interrupted one from its checkpoint, and
trains only what is missing; ``force`` trains again over the run's results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

from labelrobust.config import RUN_LOCATION_KEYS, TrainConfig, check_run_name, to_dict
from labelrobust.runs import RunPaths, read_config
from labelrobust.training import train
from labelrobust.training.run_start import config_differences

log = logging.getLogger(__name__)

HASH_DIGITS = 12


def config_hash(cfg: TrainConfig) -> str:
    """12 hex digits of the SHA-256 of what ``cfg`` computes (location keys left out)."""
    data = to_dict(cfg)
    for key in RUN_LOCATION_KEYS:
        section, _, leaf = key.rpartition(".")
        (data.get(section, {}) if section else data).pop(leaf, None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_DIGITS]


def cached_config(cfg: TrainConfig, label: str, runs_dir: str | Path) -> TrainConfig:
    """``cfg`` placed at ``runs_dir/<label>-<hash>``."""
    name = check_run_name(f"{label}-{config_hash(cfg)}")
    return dataclasses.replace(cfg, out=str(runs_dir), name=name)


def is_finished(cfg: TrainConfig) -> bool:
    """Whether ``cfg``'s directory holds a finished run of exactly this config."""
    paths = RunPaths(Path(cfg.out) / cfg.run_name())
    if not (paths.summary.is_file() and paths.config.is_file() and paths.weights.is_file()):
        return False
    # where and on what it ran does not change what it computed
    return not [k for k in config_differences(read_config(paths.root), cfg) if k not in RUN_LOCATION_KEYS]


def cached_train(cfg: TrainConfig, label: str, runs_dir: str | Path, *, force: bool = False, quiet: bool = True) -> Path:
    """The run directory of ``cfg``: reused when finished, resumed when interrupted, else trained.
    ``force``: train again even over a finished run."""
    cfg = cached_config(cfg, label, runs_dir)
    paths = RunPaths(Path(cfg.out) / cfg.run_name())
    if not force and is_finished(cfg):
        log.info("reusing the finished run %s", paths.root)
        return paths.root
    resume = not force and paths.checkpoint.is_file()
    if resume:
        log.info("resuming the interrupted run %s", paths.root)
    return train(cfg, resume=resume, overwrite=force or not resume and paths.root.exists(), quiet=quiet)
