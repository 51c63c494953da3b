"""Standard training of any model on any label space, resumable at batch granularity.

Reproducibility: the model is initialised from the run seed; each epoch's batch order is a
permutation drawn from a generator seeded with (seed, epoch), so a resumed run regenerates the
exact order and skips the batches it already did; the global torch RNG (dropout, noise) is
saved in every checkpoint. On CPU, a run killed and resumed ends with the same weights as one
that never stopped.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from labelrobust.atomic import atomic_write_text
from labelrobust.config import TrainConfig, to_dict
from labelrobust.data.augment import AUGMENTATIONS
from labelrobust.errors import CheckpointError, LabelRobustError
from labelrobust.labels import ABSTAIN
from labelrobust.metrics.clean import evaluate_clean
from labelrobust.runs import Experiment, RunPaths, build_experiment, config_yaml, read_config
from labelrobust.models.weights import save_weights
from labelrobust.training.checkpoint import load_checkpoint, save_checkpoint
from labelrobust.training.schedule import learning_rate, make_optimizer, set_learning_rate

log = logging.getLogger(__name__)


class TrainingDiverged(LabelRobustError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class EpochTally:
    """Running sums of one epoch (saved in mid-epoch checkpoints)."""

    loss_sum: float = 0.0
    correct: int = 0
    abstained: int = 0
    seen: int = 0

    def add(self, losses: Tensor, pred: Tensor, labels: Tensor) -> None:
        self.loss_sum += float(losses.detach().sum())
        self.correct += int((pred == labels).sum())
        self.abstained += int((pred == ABSTAIN).sum())
        self.seen += int(labels.numel())

    def means(self) -> dict[str, float]:
        n = max(self.seen, 1)
        return {"train_loss": self.loss_sum / n, "train_acc": self.correct / n, "train_abstain": self.abstained / n}


def epoch_order(seed: int, epoch: int, n: int) -> Tensor:
    """The batch order of ``epoch``: a permutation that depends only on (seed, epoch)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def train(cfg: TrainConfig, *, resume: bool = False, quiet: bool = False, stop_after_batches: int | None = None) -> Path:
    """Train the run ``cfg`` describes into ``cfg.out/cfg.run_name()``; return the run directory.

    ``resume``: continue from the run directory's checkpoint (the saved config must match
    ``cfg`` except for ``epochs``, which may grow). Without it, a run directory that already
    holds a checkpoint is an error, so finished work is never overwritten.
    ``stop_after_batches``: stop (after checkpointing) once this many batches ran in this call —
    for tests and for splitting long runs into jobs.
    """
    paths = RunPaths(Path(cfg.out) / cfg.run_name())
    if paths.checkpoint.exists() and not resume:
        raise CheckpointError(
            f"run directory {paths.root} already holds a checkpoint; pass --resume to continue it, "
            f"or choose another --name"
        )
    if resume and paths.config.exists():
        _check_resumable(read_config(paths.root), cfg, paths.root)
    exp = build_experiment(cfg)  # every config error surfaces here, before any training
    paths.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(paths.config, config_yaml(cfg))
    atomic_write_text(paths.dataset_report, json.dumps(exp.dataset.report, indent=2, default=str))
    return _fit(exp, paths, resume=resume, quiet=quiet, stop_after_batches=stop_after_batches)


def _check_resumable(saved: TrainConfig, cfg: TrainConfig, root: Path) -> None:
    a, b = to_dict(saved), to_dict(cfg)
    a.pop("epochs"), b.pop("epochs")
    if a != b:
        changed = sorted(_diff_keys(a, b))
        raise CheckpointError(
            f"cannot resume {root}: the config differs from the saved one in {', '.join(changed)}; "
            f"only 'epochs' may change on resume"
        )


def _diff_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff_keys(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(prefix + key)
    return out


def _fit(exp: Experiment, paths: RunPaths, *, resume: bool, quiet: bool, stop_after_batches: int | None) -> Path:
    cfg, space, model, data = exp.config, exp.space, exp.model, exp.dataset
    optimizer = make_optimizer(model.parameters(), cfg.optim)
    augment = AUGMENTATIONS.get(cfg.data.augment)
    train_set = data.train
    # Soft-label spaces learn from the data's distributions; every other space from hard labels.
    raw_targets = train_set.soft_labels if space.requires_soft_targets else train_set.labels
    targets = space.encode(raw_targets)
    labels = train_set.labels
    n = len(train_set)
    batches_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size

    progress = {"epoch": 0, "batch": 0, "tally": {}, "history": [], "best_val": None}
    if resume and paths.checkpoint.exists():
        progress = load_checkpoint(paths.checkpoint, model, optimizer)
        log.info("resuming %s at epoch %d, batch %d", paths.root, progress["epoch"] + 1, progress["batch"])
    elif resume:
        log.info("nothing to resume in %s; starting from scratch", paths.root)

    ran = 0
    # disable=None: tqdm draws bars only on a terminal, so logs and CI output stay readable.
    epoch_bar = tqdm(total=cfg.epochs, initial=progress["epoch"], desc="epochs", unit="ep", disable=True if quiet else None, leave=True)
    try:
        for epoch in range(progress["epoch"], cfg.epochs):
            set_learning_rate(optimizer, learning_rate(cfg.optim, epoch, cfg.epochs))
            order = epoch_order(cfg.seed, epoch, n)
            tally = EpochTally(**progress["tally"]) if progress["batch"] else EpochTally()
            started = time.perf_counter()
            batch_bar = tqdm(total=batches_per_epoch, initial=progress["batch"], desc=f"epoch {epoch + 1}", unit="batch", disable=True if quiet else None, leave=False)
            model.train()
            for b in range(progress["batch"], batches_per_epoch):
                idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                x = augment(train_set.float_images(idx).to(cfg.device))
                outputs = model(x)
                losses = space.loss(outputs, targets[idx].to(cfg.device))
                loss = losses.mean()
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"loss is {loss.item()} at epoch {epoch + 1}, batch {b + 1}; the last good checkpoint "
                        f"({paths.checkpoint}) is kept. Lower optim.lr or the label space's scale."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                tally.add(losses.cpu(), space.decode(outputs.detach()).cpu(), labels[idx])
                batch_bar.update(1)
                batch_bar.set_postfix(loss=f"{tally.loss_sum / tally.seen:.3f}", acc=f"{tally.correct / tally.seen:.3f}")
                ran += 1
                done_batch = b + 1
                stopping = stop_after_batches is not None and ran >= stop_after_batches
                if done_batch < batches_per_epoch and (stopping or (cfg.checkpoint_every and done_batch % cfg.checkpoint_every == 0)):
                    progress.update(epoch=epoch, batch=done_batch, tally=vars(tally))
                    save_checkpoint(paths.checkpoint, model, optimizer, progress)
                if stopping and done_batch < batches_per_epoch:
                    return paths.root
            batch_bar.close()
            record = _end_epoch(exp, paths, epoch, tally, time.perf_counter() - started, optimizer, progress)
            epoch_bar.update(1)
            epoch_bar.set_postfix(loss=f"{record['train_loss']:.3f}", acc=f"{record['train_acc']:.3f}")
            if stop_after_batches is not None and ran >= stop_after_batches:
                return paths.root
    finally:
        epoch_bar.close()
    _write_summary(exp, paths, progress)
    return paths.root


def _end_epoch(exp: Experiment, paths: RunPaths, epoch: int, tally: EpochTally, seconds: float, optimizer, progress: dict) -> dict:
    cfg, data = exp.config, exp.dataset
    record = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], **tally.means(), "seconds": round(seconds, 3)}
    if data.val is not None:
        val = evaluate_clean(exp.model, exp.space, data.val, data.class_names, device=cfg.device)
        record.update(val_acc=val.accuracy, val_abstain=val.abstain_rate)
        if progress["best_val"] is None or val.accuracy > progress["best_val"]["val_acc"]:
            progress["best_val"] = {"epoch": epoch + 1, "val_acc": val.accuracy}
            save_weights(paths.best_weights, exp.model)
    progress["history"].append(record)
    progress.update(epoch=epoch + 1, batch=0, tally={})
    # Weights first, then the checkpoint that records the epoch as done, then the metrics file:
    # a kill between any two leaves a checkpoint that resumes correctly.
    save_weights(paths.weights, exp.model)
    save_checkpoint(paths.checkpoint, exp.model, optimizer, progress)
    atomic_write_text(paths.metrics, "".join(json.dumps(r) + "\n" for r in progress["history"]))
    log.info("epoch %d: %s", epoch + 1, record)
    return record


def _write_summary(exp: Experiment, paths: RunPaths, progress: dict) -> None:
    history = progress["history"]
    summary = {
        "run": exp.config.run_name(),
        "dataset": exp.dataset.name,
        "label_space": {"name": exp.space.name, **exp.space.params()},
        "model": exp.config.model.name,
        "epochs": len(history),
        "train_size": len(exp.dataset.train),
        "final": history[-1] if history else None,
        "best_val": progress["best_val"],
        "seconds": round(sum(r["seconds"] for r in history), 3),
    }
    atomic_write_text(paths.summary, json.dumps(summary, indent=2))

