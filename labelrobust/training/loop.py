"""Training of any model on any label space with any method, resumable at batch granularity.

Each batch: the method (``labelrobust.training.methods``: standard, noise, at, trades, mart,
wpgd and the MAIL / CLIRAT composites) gives per-sample loss parts, the weighting multiplies
its term, and the mean over the batch is minimised. Per-epoch diagnostics go to
``metrics.jsonl`` (``labelrobust.training.diagnostics``). Under ``torchrun`` the same loop runs
in every process (``labelrobust.training.distributed``).

Reproducibility: the model is initialised from the run seed; each epoch's batch order is a
permutation drawn from a generator seeded with (seed, epoch), so a resumed run regenerates the
exact order and skips the batches it already did; the global torch RNG (dropout, noise) is
saved in every checkpoint (every rank's, when distributed). On CPU, a run killed and resumed ends
with the same weights as one that never stopped.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from labelrobust.atomic import atomic_write_text
from labelrobust.config import TrainConfig, to_dict
from labelrobust.data.augment import AUGMENTATIONS
from labelrobust.errors import CheckpointError, LabelRobustError
from labelrobust.metrics.clean import evaluate_clean
from labelrobust.runs import Experiment, RunPaths, build_experiment, config_yaml, read_config
from labelrobust.models.weights import save_weights
from labelrobust.training.checkpoint import load_checkpoint, save_checkpoint
from labelrobust.training.diagnostics import CLEAN_PROBE, EpochTally, histogram_edges
from labelrobust.training.distributed import Distributed, from_environment
from labelrobust.training.methods import BatchLosses, make_method
from labelrobust.training.methods import describe as describe_method
from labelrobust.training.precision import grad_scaler, training_forward
from labelrobust.training.reweight import normalise
from labelrobust.training.schedule import learning_rate, make_optimizer, set_learning_rate

log = logging.getLogger(__name__)


class TrainingDiverged(LabelRobustError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


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
    method, weighting = make_method(cfg.method, exp.space, epochs=cfg.epochs)
    ctx = from_environment(cfg.device)
    exp.model.to(ctx.device(cfg.device))
    if ctx.is_main:
        paths.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(paths.config, config_yaml(cfg))
        atomic_write_text(paths.dataset_report, json.dumps(exp.dataset.report, indent=2, default=str))
    ctx.barrier()
    return _fit(exp, paths, method, weighting, resume=resume, quiet=quiet, stop_after_batches=stop_after_batches, ctx=ctx)


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


def _fit(exp: Experiment, paths: RunPaths, method, weighting, *, resume: bool, quiet: bool, stop_after_batches: int | None, ctx: Distributed) -> Path:
    cfg, space, net, data = exp.config, exp.space, exp.model, exp.dataset
    device = ctx.device(cfg.device)
    # The training forward (autocast / channels-last, or the network itself); gradients are
    # averaged over processes by DDP; the inner attacks query the forward without DDP.
    forward = training_forward(net, device, cfg.precision, cfg.channels_last)
    model = DistributedDataParallel(forward, device_ids=[device] if device.startswith("cuda") else None) if ctx.enabled else forward
    optimizer = make_optimizer(net.parameters(), cfg.optim)
    scaler = grad_scaler(device, cfg.precision)
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
        progress = load_checkpoint(paths.checkpoint, net, optimizer, rank=ctx.rank, world_size=ctx.world_size)
        if progress.get("grad_scaler"):
            scaler.load_state_dict(progress["grad_scaler"])
        log.info("resuming %s at epoch %d, batch %d", paths.root, progress["epoch"] + 1, progress["batch"])
    elif resume:
        log.info("nothing to resume in %s; starting from scratch", paths.root)
    if ctx.enabled and not (resume and paths.checkpoint.exists()):
        torch.manual_seed(cfg.seed * 1_000_003 + ctx.rank)  # each rank draws its own random starts

    ran = 0
    show = None if ctx.is_main and not quiet else True  # disable=None: bars only on a terminal
    epoch_bar = tqdm(total=cfg.epochs, initial=progress["epoch"], desc="epochs", unit="ep", disable=True if show else None, leave=True)
    try:
        for epoch in range(progress["epoch"], cfg.epochs):
            set_learning_rate(optimizer, learning_rate(cfg.optim, epoch, cfg.epochs))
            order = epoch_order(cfg.seed, epoch, n)
            # A mid-epoch checkpoint holds the tally summed over ranks: rank 0 carries it on,
            # the others start from zero so the end-of-epoch sum counts it once.
            tally = EpochTally.from_json(progress["tally"]) if progress["batch"] and ctx.is_main else EpochTally()
            started = time.perf_counter()
            batch_bar = tqdm(total=batches_per_epoch, initial=progress["batch"], desc=f"epoch {epoch + 1}", unit="batch", disable=True if show else None, leave=False)
            model.train()
            for b in range(progress["batch"], batches_per_epoch):
                global_idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                idx = ctx.shard(global_idx)
                method.start_batch(epoch + b / batches_per_epoch)
                x = augment(train_set.float_images(idx).to(device))
                y = labels[idx].to(device)
                parts = method.losses(model, forward, x, targets[idx].to(device), y)
                weights = _instance_weights(weighting, space, parts, y, epoch, len(global_idx), ctx)
                losses = parts.total(weights)
                # sum / global batch size, times N because DDP averages the N gradients
                loss = losses.sum() * (ctx.world_size / len(global_idx))
                if not torch.isfinite(ctx.sum(loss.detach())):
                    raise TrainingDiverged(
                        f"loss is {loss.item()} at epoch {epoch + 1}, batch {b + 1}; the last good checkpoint "
                        f"({paths.checkpoint}) is kept. Lower optim.lr or the label space's scale."
                    )
                _tally_batch(tally, method, weighting, space, y, parts, losses, weights)  # before the step: the weights the loss saw
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()  # fp16 only scales; otherwise these are backward and step
                scaler.step(optimizer)
                scaler.update()
                batch_bar.update(1)
                shown = (tally.correct, tally.seen) if tally.seen else (tally.adv_correct, tally.adv_seen)
                batch_bar.set_postfix(loss=f"{tally.loss_sum / tally.loss_seen:.3f}", acc=f"{shown[0] / max(shown[1], 1):.3f}")
                ran += 1
                done_batch = b + 1
                stopping = stop_after_batches is not None and ran >= stop_after_batches
                if done_batch < batches_per_epoch and (stopping or (cfg.checkpoint_every and done_batch % cfg.checkpoint_every == 0)):
                    progress.update(epoch=epoch, batch=done_batch, tally=_combined(tally, ctx).to_json())
                    _save_checkpoint(paths, net, optimizer, scaler, progress, ctx)
                if stopping and done_batch < batches_per_epoch:
                    return paths.root
            batch_bar.close()
            tally = _combined(tally, ctx)
            record = _end_epoch(exp, paths, epoch, tally, method, weighting, time.perf_counter() - started, optimizer, scaler, progress, ctx)
            epoch_bar.update(1)
            epoch_bar.set_postfix(loss=f"{record['train_loss']:.3f}", acc=f"{record['train_acc']:.3f}")
            if stop_after_batches is not None and ran >= stop_after_batches:
                return paths.root
    finally:
        epoch_bar.close()
    if ctx.is_main:
        _write_summary(exp, paths, progress, method, weighting)
    ctx.barrier()
    return paths.root


def _instance_weights(weighting, space, parts: BatchLosses, y: Tensor, epoch: int, global_batch: int, ctx: Distributed) -> Tensor | None:
    """MAIL / CLIRAT weights of this batch, normalised over the global batch (None: unweighted)."""
    if weighting is None:
        return None
    if not weighting.active(epoch):
        return torch.ones(len(y), device=y.device)
    raw = weighting.raw(weighting.margins(space, parts.attacked_outputs, y))
    return normalise(raw, total=ctx.sum(raw.sum()), count=global_batch)


def _tally_batch(tally: EpochTally, method, weighting, space, y: Tensor, parts: BatchLosses, losses: Tensor, weights: Tensor | None) -> None:
    with torch.no_grad():
        tally.add_loss(losses)
        if parts.clean_outputs is not None:  # else the end-of-epoch probe measures clean accuracy
            tally.add_clean(space, parts.clean_outputs, y)
        if parts.attacked_outputs is not None:
            tally.add_attacked(space, parts.attacked_outputs, y, margins=method.adversarial)
        if weighting is not None:
            tally.add_weights(weights)


def _combined(tally: EpochTally, ctx: Distributed) -> EpochTally:
    if not ctx.enabled:
        return tally
    return EpochTally.combine([EpochTally.from_tensor(t) for t in ctx.gather(tally.to_tensor())])


def _save_checkpoint(paths: RunPaths, net, optimizer, scaler, progress: dict, ctx: Distributed) -> None:
    progress["grad_scaler"] = scaler.state_dict()  # fp16 loss scale and growth counter ({} when disabled)
    rng_states = ctx.gather(torch.get_rng_state())  # every rank's stream, so a resume continues each
    if ctx.is_main:
        save_checkpoint(paths.checkpoint, net, optimizer, progress, rng_states=rng_states)
    ctx.barrier()


def _end_epoch(exp: Experiment, paths: RunPaths, epoch: int, tally: EpochTally, method, weighting, seconds: float, optimizer, scaler, progress: dict, ctx: Distributed) -> dict:
    record = {
        "epoch": epoch + 1,
        "lr": optimizer.param_groups[0]["lr"],
        **tally.record(adversarial=method.adversarial, weighted=weighting is not None),
        "seconds": round(seconds, 3),
    }
    progress.update(epoch=epoch + 1, batch=0, tally={})
    if ctx.is_main:
        data = exp.dataset
        if not tally.seen:  # the loss never saw the clean batches: probe the end-of-epoch model
            probe = data.train.subset(epoch_order(exp.config.seed, -1, len(data.train))[:CLEAN_PROBE])
            clean = evaluate_clean(exp.model, exp.space, probe, data.class_names, device=ctx.device(exp.config.device))
            record.update(train_acc=clean.accuracy, train_abstain=clean.abstain_rate)
        if data.val is not None:
            val = evaluate_clean(exp.model, exp.space, data.val, data.class_names, device=ctx.device(exp.config.device))
            record.update(val_acc=val.accuracy, val_abstain=val.abstain_rate)
            if progress["best_val"] is None or val.accuracy > progress["best_val"]["val_acc"]:
                progress["best_val"] = {"epoch": epoch + 1, "val_acc": val.accuracy}
                save_weights(paths.best_weights, exp.model)
        progress["history"].append(record)
        # Weights first, then the checkpoint that records the epoch as done, then the metrics
        # file: a kill between any two leaves a checkpoint that resumes correctly.
        save_weights(paths.weights, exp.model)
    _save_checkpoint(paths, exp.model, optimizer, scaler, progress, ctx)
    if ctx.is_main:
        atomic_write_text(paths.metrics, "".join(json.dumps(r) + "\n" for r in progress["history"]))
        log.info("epoch %d: %s", epoch + 1, {k: v for k, v in record.items() if not k.endswith("_hist")})
    return record


def _write_summary(exp: Experiment, paths: RunPaths, progress: dict, method, weighting) -> None:
    history = progress["history"]
    summary = {
        "run": exp.config.run_name(),
        "dataset": exp.dataset.name,
        "label_space": {"name": exp.space.name, **exp.space.params()},
        "model": exp.config.model.name,
        "method": describe_method(method, weighting),
        "epochs": len(history),
        "train_size": len(exp.dataset.train),
        "final": history[-1] if history else None,
        "best_val": progress["best_val"],
        "histogram_edges": histogram_edges(),
        "seconds": round(sum(r["seconds"] for r in history), 3),
    }
    atomic_write_text(paths.summary, json.dumps(summary, indent=2))
