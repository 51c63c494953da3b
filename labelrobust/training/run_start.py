"""How a training call starts: fresh, resumed, or over discarded results — decided before any write.

The rules (every refusal is a one-line error that says what the directory holds):

- a run directory that holds results (``RunPaths.results``) is never trained over without
  ``overwrite``: continue it with ``resume`` or choose another name;
- ``resume`` needs a checkpoint; a directory whose checkpoint was deleted is not silently
  retrained, and one that does not exist is not silently created;
- a resumed run must compute the same experiment: only ``epochs`` (which may grow) and the keys
  of ``RUN_LOCATION_KEYS`` (folder, device, data root, checkpoint frequency) may differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from labelrobust.config import RUN_LOCATION_KEYS, TrainConfig, to_dict
from labelrobust.errors import CheckpointError, ConfigError
from labelrobust.runs import RunPaths, read_config
from labelrobust.training.methods import method_differences


@dataclass(frozen=True)
class StartPlan:
    resume: bool
    """Load the checkpoint and continue."""
    discard: bool
    """Delete the directory's results first (``overwrite``)."""
    message: str
    """The decision, as printed to the user and written to train.log."""


def plan_start(paths: RunPaths, cfg: TrainConfig, *, resume: bool, overwrite: bool) -> StartPlan:
    """The start decision for ``cfg`` in ``paths.root``; CheckpointError for every refusal."""
    root = paths.root
    if resume and overwrite:
        raise ConfigError("--resume continues a run and --overwrite discards it; give one of them")
    results = paths.results()
    if resume:
        _check_can_resume(paths, results)
        check_resumable(read_config(root), cfg, root)
        return StartPlan(True, False, f"resuming {root}")
    if results:
        if not overwrite:
            raise CheckpointError(
                f"{root} already holds results ({', '.join(results)}); pass --resume to continue it, "
                f"--overwrite to discard them and train again, or choose another --name"
            )
        return StartPlan(False, True, f"overwriting {root} (--overwrite): discarding {', '.join(results)}")
    return StartPlan(False, False, f"starting {root} from scratch")


def _check_can_resume(paths: RunPaths, results: list[str]) -> None:
    root = paths.root
    if not root.is_dir():
        raise CheckpointError(f"nothing to resume: {root} does not exist; drop --resume to start this run")
    if paths.checkpoint.is_file():
        return
    if results:
        raise CheckpointError(
            f"cannot resume {root}: it has no {paths.checkpoint.name} (deleted?) but holds {', '.join(results)}; "
            f"resuming needs the checkpoint — pass --overwrite to train it again from scratch, or train under another --name"
        )
    held = sorted(p.name for p in root.iterdir()) or ["no files"]
    raise CheckpointError(
        f"nothing to resume in {root}: it holds {', '.join(held)} but no checkpoint (the run stopped before "
        f"its first one); rerun without --resume to start it"
    )


def check_resumable(saved: TrainConfig, cfg: TrainConfig, root) -> None:
    """Refuse a resume whose config changes the experiment; name the keys that differ."""
    ignored = {"epochs", *RUN_LOCATION_KEYS}
    changed = [k for k in config_differences(saved, cfg) if k not in ignored]
    if changed:
        raise CheckpointError(
            f"cannot resume {root}: the config differs from the saved one in {', '.join(changed)}, which would change "
            f"the experiment; only epochs and where it runs ({', '.join(RUN_LOCATION_KEYS)}) may change on resume"
        )


def config_differences(a: TrainConfig, b: TrainConfig) -> list[str]:
    """The dotted keys in which two configs differ; the method sections are compared by what
    they compute (``method_differences``), so an old run's config (format version 1, read as
    the current one) matches the same experiment written today."""
    plain = [k for k in _diff_keys(to_dict(a), to_dict(b)) if not k.startswith("method.")]
    return sorted(plain + method_differences(a.method, b.method))


def _diff_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict) and key not in ("params", "options", "imbalance"):
            out += _diff_keys(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(prefix + key)
    return out
