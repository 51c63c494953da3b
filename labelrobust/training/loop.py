"""Training of any model on any label space with any method, resumable at batch granularity.

Each batch: the method (``labelrobust.training.methods``: standard, noise, at, trades, mart,
wpgd and the MAIL / CLIRAT presets) gives per-sample loss parts, the weighting multiplies
its term, and the mean over the batch is minimised. Inner attacks stay inside the data's input
domain (``dataset.domain``; [0, 1] for images). Where a run stands is a typed ``Progress``
record (``progress.py``), saved in every checkpoint. Per-epoch diagnostics go to
``metrics.jsonl`` (``labelrobust.training.diagnostics``). Under ``torchrun`` the same loop runs
in every process (``labelrobust.training.distributed``).

Reproducibility: the model is initialised from the run seed; each epoch's batch order is a
permutation drawn from a generator seeded with (seed, epoch), so a resumed run regenerates the
exact order and skips the batches it already did; the global torch RNG (dropout, noise) is
saved in every checkpoint (every rank's, when distributed). On CPU, a run killed and resumed ends
with the same weights as one that never stopped.

Safety: where a call starts (fresh, resumed, over discarded results) is decided before any write
(``run_start``); SIGTERM and Ctrl-C checkpoint at the next batch boundary (``stopping``); a NaN or
exploding loss stops the run with the state of its last checkpoint; what the run prints is also
appended to ``train.log`` (``run_log``); ``summary.json`` records versions, command and times.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from labelrobust.atomic import atomic_write_text, require_writable_dir
from labelrobust.config import TrainConfig, as_config, check_run_name
from labelrobust.data import ImageSet
from labelrobust.data.augment import make_augmentation
from labelrobust.devices import resolve_device
from labelrobust.domain import UNIT_BOX, Box
from labelrobust.errors import ConfigError, LabelRobustError
from labelrobust.metrics.clean import evaluate_clean
from labelrobust.models.weights import save_weights
from labelrobust.provenance import command_line, environment, now
from labelrobust.runs import Experiment, RunPaths, build_experiment, config_yaml, write_label_metrics
from labelrobust.training.checkpoint import load_checkpoint, read_progress, save_checkpoint
from labelrobust.training.diagnostics import CLEAN_PROBE, EpochTally, histogram_edges
from labelrobust.training.distributed import Distributed, from_environment
from labelrobust.training.methods import BatchLosses, Method, Weighting, make_method
from labelrobust.training.methods import describe as describe_method
from labelrobust.training.precision import grad_scaler, training_forward
from labelrobust.training.progress import Progress
from labelrobust.training.reweight import normalise
from labelrobust.training.run_log import Heartbeat, epoch_line, run_log
from labelrobust.training.run_start import plan_start
from labelrobust.training.stopping import StopRequest, TrainingStopped, stop_on_signals
from labelrobust.training.schedule import learning_rate, make_optimizer, set_learning_rate

log = logging.getLogger(__name__)


class TrainingDiverged(LabelRobustError):
    """The loss became NaN or infinite, or exploded past ``divergence_factor`` × its first value."""


def epoch_order(seed: int, epoch: int, n: int) -> Tensor:
    """The batch order of ``epoch``: a permutation that depends only on (seed, epoch)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def train(
    cfg: TrainConfig | dict,
    *,
    resume: bool = False,
    overwrite: bool = False,
    run_dir: str | Path | None = None,
    quiet: bool = False,
    stop_after_batches: int | None = None,
) -> Path:
    """Train the run ``cfg`` describes; return the run directory.

    ``cfg``: a TrainConfig, or a nested mapping of config keys (validated the same way).
    ``run_dir``: the run directory; None means ``cfg.out/cfg.run_name()``. Given, it wins over
    ``out``/``name`` (a copied run directory resumes itself, not the run it was copied from).
    ``resume``: continue from the directory's checkpoint (see ``run_start`` for what may change).
    ``overwrite``: discard the results a directory holds and train again; without it a directory
    with results is never trained over. ``quiet``: no progress bars (the per-epoch lines stay).
    ``stop_after_batches``: stop (after checkpointing) once this many batches ran in this call —
    for tests and for splitting long runs into jobs.
    """
    cfg = as_config(cfg)
    if run_dir is not None:
        root = Path(os.path.abspath(run_dir))  # `train --resume .` from inside the run directory
        cfg = dataclasses.replace(cfg, out=str(root.parent), name=check_run_name(root.name))
    paths = RunPaths(Path(cfg.out) / cfg.run_name())
    if stop_after_batches is not None and stop_after_batches < 1:
        raise ConfigError(f"stop_after_batches must be ≥ 1, got {stop_after_batches}")
    plan = plan_start(paths, cfg, resume=resume, overwrite=overwrite)  # refusals before any write
    resolve_device(cfg.device)
    if plan.resume:
        require_writable_dir(paths.root, "run directory", "copy the run directory somewhere writable and resume the copy")
    else:
        require_writable_dir(Path(cfg.out), "runs folder (out)")
    exp = build_experiment(cfg, paths.label_metrics if plan.resume else None)  # every config error surfaces here, before any training
    method, weighting = make_method(cfg.method, exp.space, epochs=cfg.epochs, domain=input_domain(exp.dataset), dataset=exp.dataset)
    if method.adversarial:
        method.check_input_shape(exp.dataset.input_shape)
    ctx = from_environment(cfg.device)
    exp.model.to(ctx.device(cfg.device))
    if ctx.is_main:
        _write_run_files(paths, exp, discard=plan.discard)
    ctx.barrier()
    with run_log(paths.log, enabled=ctx.is_main):
        if ctx.is_main:
            log.info(plan.message)
        return _fit(exp, paths, method, weighting, resume=plan.resume, quiet=quiet, stop_after_batches=stop_after_batches, ctx=ctx)


def input_domain(dataset) -> Box:
    """The box the dataset's inputs lie in (``dataset.domain``; [0, 1] for one that declares none)."""
    return getattr(dataset, "domain", UNIT_BOX)


def _write_run_files(paths: RunPaths, exp: Experiment, discard: bool) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)  # its parent was checked above
    if discard:
        paths.discard_results()
    atomic_write_text(paths.config, config_yaml(exp.config))
    atomic_write_text(paths.dataset_report, json.dumps(exp.dataset.report, indent=2, default=str))
    write_label_metrics(paths, exp)


@dataclass
class _Loop:
    """What one training call works with, so the steps below stay short."""

    exp: Experiment
    paths: RunPaths
    method: Method
    weighting: Weighting | None
    ctx: Distributed
    forward: torch.nn.Module
    """The training forward (autocast / channels-last, or the network itself), which the inner attack queries."""
    model: torch.nn.Module
    """What the loss is computed through: ``forward``, or its DistributedDataParallel wrapper."""
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    progress: Progress
    show_bars: bool
    targets: Tensor
    """The encoded training targets (``training_labels``): soft labels, label sets or hard labels."""
    augment: Any
    """The training-time augmentation (``data.augment``)."""

    @property
    def cfg(self) -> TrainConfig:
        return self.exp.config

    @property
    def device(self) -> str:
        return self.ctx.device(self.cfg.device)

    @property
    def batches_per_epoch(self) -> int:
        return (len(self.exp.dataset.train) + self.cfg.batch_size - 1) // self.cfg.batch_size


@dataclass
class _Budget:
    """``stop_after_batches``: how many batches this call may run (None: all), and has run."""

    limit: int | None
    ran: int = 0

    @property
    def spent(self) -> bool:
        return self.limit is not None and self.ran >= self.limit


def _fit(exp: Experiment, paths: RunPaths, method, weighting, *, resume: bool, quiet: bool, stop_after_batches: int | None, ctx: Distributed) -> Path:
    loop = _prepare(exp, paths, method, weighting, ctx, resume=resume, show_bars=ctx.is_main and not quiet)
    with stop_on_signals() as stop:
        try:
            finished = _run_epochs(loop, stop, _Budget(stop_after_batches))
        except KeyboardInterrupt:
            raise TrainingStopped(f"interrupted during epoch {loop.progress.epoch + 1}; {_checkpoint_state(paths)}", 130) from None
    if not finished:
        return paths.root
    if ctx.is_main:
        _write_summary(loop)
    ctx.barrier()
    return paths.root


def _prepare(exp: Experiment, paths: RunPaths, method, weighting, ctx: Distributed, *, resume: bool, show_bars: bool) -> _Loop:
    """The training state of this call: a fresh one, or the checkpoint's."""
    cfg, net = exp.config, exp.model
    device = ctx.device(cfg.device)
    # Gradients are averaged over processes by DDP; the inner attacks query the forward without DDP.
    forward = training_forward(net, device, cfg.precision, cfg.channels_last)
    model = DistributedDataParallel(forward, device_ids=[device] if device.startswith("cuda") else None) if ctx.enabled else forward
    optimizer = make_optimizer(net.parameters(), cfg.optim)
    scaler = grad_scaler(device, cfg.precision)
    if resume:
        progress = _restore(paths, net, optimizer, scaler, ctx, device, cfg.epochs)
    else:
        progress = Progress()
        if ctx.enabled:
            torch.manual_seed(cfg.seed * 1_000_003 + ctx.rank)  # each rank draws its own random starts
    progress.sessions.append({"started": now(), "command": command_line(), "device": device, "processes": ctx.world_size})
    if progress.epoch >= cfg.epochs and ctx.is_main:
        log.info("%s already trained %d epochs (epochs: %d); nothing to train — raise --epochs to continue", paths.root, progress.epoch, cfg.epochs)
    targets = exp.space.encode(training_labels(exp.space, exp.dataset.train))
    augment = make_augmentation(cfg.data.augment, cfg.data.augment_options)
    return _Loop(exp, paths, method, weighting, ctx, forward, model, optimizer, scaler, progress, show_bars, targets, augment)


def training_labels(space, train_set: ImageSet) -> Tensor:
    """What the space is trained on: the soft labels (soft spaces), the label sets (multi-label
    spaces), else the hard labels — so a single-label space on multi-label data learns ``labels``,
    the class of object 0."""
    if space.requires_soft_targets:
        return train_set.soft_labels
    if space.requires_label_sets:
        return train_set.label_sets
    return train_set.labels


def _restore(paths: RunPaths, net, optimizer, scaler, ctx: Distributed, device: str, epochs: int) -> Progress:
    """Weights, optimiser, RNG and progress from the run's checkpoint."""
    cuda = device if device.startswith("cuda") else None
    saved = load_checkpoint(paths.checkpoint, net, optimizer, rank=ctx.rank, world_size=ctx.world_size, cuda_device=cuda)
    progress = Progress.from_json(saved, str(paths.checkpoint))
    if progress.grad_scaler:
        scaler.load_state_dict(progress.grad_scaler)
    if progress.epoch < epochs and ctx.is_main:
        at = f"at batch {progress.batch} of " if progress.batch else "at the start of "
        log.info("continuing %sepoch %d/%d from %s", at, progress.epoch + 1, epochs, paths.checkpoint)
    return progress


class _Bars:
    """The epoch bar, each epoch's batch bar (on a terminal only) and the heartbeat (without one)."""

    def __init__(self, loop: _Loop) -> None:
        self.loop = loop
        self.disable = None if loop.show_bars else True  # disable=None: bars only on a terminal
        self.epochs = tqdm(total=loop.cfg.epochs, initial=loop.progress.epoch, desc="epochs", unit="ep", disable=self.disable, leave=True)
        self.heartbeat = Heartbeat(enabled=loop.ctx.is_main and bool(self.epochs.disable))  # bars off: nohup, SLURM
        self.batches = None

    def start_epoch(self, epoch: int) -> None:
        total, done = self.loop.batches_per_epoch, self.loop.progress.batch
        self.batches = tqdm(total=total, initial=done, desc=f"epoch {epoch + 1}", unit="batch", disable=self.disable, leave=False)

    def batch_done(self, epoch: int, b: int, tally: EpochTally) -> None:
        self.batches.update(1)
        shown = (tally.correct, tally.seen) if tally.seen else (tally.adv_correct, tally.adv_seen)
        self.batches.set_postfix(loss=f"{tally.loss_sum / tally.loss_seen:.3f}", acc=f"{shown[0] / max(shown[1], 1):.3f}")
        if self.heartbeat.due():
            cfg = self.loop.cfg
            log.info("epoch %d/%d: batch %d/%d, loss %.4g so far", epoch + 1, cfg.epochs, b + 1, self.loop.batches_per_epoch, tally.loss_sum / tally.loss_seen)

    def epoch_done(self, record: dict) -> None:
        self.batches.close()
        self.epochs.update(1)
        self.epochs.set_postfix(loss=f"{record['train_loss']:.3f}", acc=f"{record['train_acc']:.3f}")

    def close(self) -> None:
        if self.batches is not None:
            self.batches.close()
        self.epochs.close()


def _run_epochs(loop: _Loop, stop: StopRequest, budget: _Budget) -> bool:
    """Train the remaining epochs; False when ``stop_after_batches`` ended the call early."""
    bars = _Bars(loop)
    try:
        for epoch in range(loop.progress.epoch, loop.cfg.epochs):
            if not _run_epoch(loop, epoch, stop, budget, bars) or budget.spent:
                return False
    finally:
        bars.close()
    return True


def _run_epoch(loop: _Loop, epoch: int, stop: StopRequest, budget: _Budget, bars: _Bars) -> bool:
    """The rest of ``epoch`` (from the checkpoint's batch); False when the budget ran out inside it."""
    cfg, progress = loop.cfg, loop.progress
    set_learning_rate(loop.optimizer, learning_rate(cfg.optim, epoch, cfg.epochs))
    order = epoch_order(cfg.seed, epoch, len(loop.exp.dataset.train))
    tally = _epoch_tally(loop)
    started = time.perf_counter()
    bars.start_epoch(epoch)
    loop.model.train()
    for b in range(progress.batch, loop.batches_per_epoch):
        _stop_if_requested(loop, stop, epoch, b, tally)
        _train_batch(loop, epoch, b, order[b * cfg.batch_size : (b + 1) * cfg.batch_size], tally)
        bars.batch_done(epoch, b, tally)
        budget.ran += 1
        if _checkpoint_inside_epoch(loop, epoch, b + 1, tally, budget):
            return False
    record = _end_epoch(loop, epoch, _combined(tally, loop.ctx), time.perf_counter() - started)
    bars.epoch_done(record)
    return True


def _epoch_tally(loop: _Loop) -> EpochTally:
    """The epoch's running sums. A mid-epoch checkpoint holds the tally summed over ranks: rank 0
    carries it on, the others start from zero so the end-of-epoch sum counts it once."""
    saved = loop.progress.tally
    if loop.progress.batch and loop.ctx.is_main and saved is not None:
        return copy.deepcopy(saved)
    return EpochTally()


def _checkpoint_inside_epoch(loop: _Loop, epoch: int, done: int, tally: EpochTally, budget: _Budget) -> bool:
    """After batch ``done`` of an unfinished epoch: checkpoint when ``checkpoint_every`` says so or
    the budget ran out; True when the call stops here (the epoch's end checkpoints by itself)."""
    if done >= loop.batches_per_epoch:
        return False
    every = loop.cfg.checkpoint_every
    if budget.spent or (every and done % every == 0):
        loop.progress.mid_epoch(epoch, done, _combined(tally, loop.ctx))
        _save_checkpoint(loop)
    return budget.spent


def _train_batch(loop: _Loop, epoch: int, b: int, global_idx: Tensor, tally: EpochTally) -> None:
    ctx, space, train_set = loop.ctx, loop.exp.space, loop.exp.dataset.train
    idx = ctx.shard(global_idx)
    loop.method.start_batch(epoch + b / loop.batches_per_epoch)
    x = loop.augment(train_set.float_images(idx).to(loop.device))
    y = train_set.labels[idx].to(loop.device)
    parts = loop.method.losses(loop.model, loop.forward, x, loop.targets[idx].to(loop.device), y)
    weights = _instance_weights(loop.weighting, space, parts, y, epoch, len(global_idx), ctx)
    losses = parts.total(weights)
    # sum / global batch size, times N because DDP averages the N gradients
    loss = losses.sum() * (ctx.world_size / len(global_idx))
    _check_divergence(loop, ctx.sum(loss.detach()).item() / ctx.world_size, epoch, b)
    _tally_batch(tally, loop.method, loop.weighting, space, y, parts, losses, weights)  # before the step: the weights the loss saw
    loop.optimizer.zero_grad(set_to_none=True)
    loop.scaler.scale(loss).backward()  # fp16 only scales; otherwise these are backward and step
    loop.scaler.step(loop.optimizer)
    loop.scaler.update()


def _check_divergence(loop: _Loop, mean_loss: float, epoch: int, b: int) -> None:
    """Stop on a NaN/inf loss, or on one that exploded past ``divergence_factor`` × the run's
    first-batch loss (e.g. RBC with S=350 and too large a learning rate reaches 1e11)."""
    if loop.progress.reference_loss is None:
        loop.progress.reference_loss = mean_loss
    reference = loop.progress.reference_loss
    factor = loop.cfg.divergence_factor
    if math.isfinite(mean_loss) and not (factor and mean_loss > factor * max(abs(reference), 1e-3)):
        return  # the every-batch path: no file is touched
    where = f"at epoch {epoch + 1}, batch {b + 1}"
    kept = _last_checkpoint(loop.paths)
    kept = f"the last checkpoint ({kept}) is kept" if kept else "no checkpoint was written yet"
    advice = "lower optim.lr (or the label space's scale) and train again with --overwrite"
    if not math.isfinite(mean_loss):
        raise TrainingDiverged(f"training diverged: loss is {mean_loss} {where}; {kept}; {advice}")
    raise TrainingDiverged(
        f"training diverged: loss {mean_loss:.4g} {where} is over {factor:g}× the first batch's {reference:.4g}; "
        f"{kept}; {advice} (divergence_factor 0 turns this check off)"
    )


def _last_checkpoint(paths: RunPaths) -> str | None:
    """``"runs/X/checkpoint.safetensors, epoch 3, batch 40"``, or None when there is none."""
    if not paths.checkpoint.is_file():
        return None
    progress = Progress.from_json(read_progress(paths.checkpoint), str(paths.checkpoint))
    return f"{paths.checkpoint}, epoch {progress.epoch + 1}, batch {progress.batch}"


def _checkpoint_state(paths: RunPaths) -> str:
    """What a stopped run leaves to resume from, for the message that says it stopped."""
    last = _last_checkpoint(paths)
    if last is None:
        return f"no checkpoint was written yet, so there is nothing to resume (start {paths.root} again without --resume)"
    return f"the last checkpoint ({last}) is intact — continue with: labelrobust train --resume {paths.root}"


def _stop_if_requested(loop: _Loop, stop: StopRequest, epoch: int, b: int, tally: EpochTally) -> None:
    """At a batch boundary: if a signal asked to stop (on any rank), checkpoint here and stop."""
    asked = stop.signal is not None
    if loop.ctx.enabled:
        asked = loop.ctx.sum(torch.tensor([float(asked)], device=loop.device)).item() > 0
    if not asked:
        return
    loop.progress.mid_epoch(epoch, b, _combined(tally, loop.ctx) if b else None)
    _save_checkpoint(loop)
    raise TrainingStopped(f"stopped by {stop.signal or 'a signal on another process'} before epoch {epoch + 1}, batch {b + 1}; {_checkpoint_state(loop.paths)}", stop.exit_code)


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


def _save_checkpoint(loop: _Loop) -> None:
    loop.progress.grad_scaler = loop.scaler.state_dict()  # fp16 loss scale and growth counter ({} when disabled)
    rng_states = loop.ctx.gather(torch.get_rng_state())  # every rank's stream, so a resume continues each
    cuda_states = loop.ctx.gather(torch.cuda.get_rng_state(loop.device)) if loop.device.startswith("cuda") else None
    if loop.ctx.is_main:
        save_checkpoint(loop.paths.checkpoint, loop.exp.model, loop.optimizer, loop.progress.to_json(), rng_states=rng_states, cuda_rng_states=cuda_states)
    loop.ctx.barrier()


def _end_epoch(loop: _Loop, epoch: int, tally: EpochTally, seconds: float) -> dict:
    """The epoch's record; then, in this order, the weights, the checkpoint that records the
    epoch as done, and the metrics file — a kill between any two leaves a checkpoint that
    resumes correctly."""
    record = {
        "epoch": epoch + 1,
        "lr": loop.optimizer.param_groups[0]["lr"],
        **tally.record(adversarial=loop.method.adversarial, weighted=loop.weighting is not None),
        "seconds": round(seconds, 3),
    }
    loop.progress.finish_epoch(epoch)
    if loop.ctx.is_main:
        if not tally.seen:  # the loss never saw the clean batches: probe the end-of-epoch model
            record.update(_clean_probe(loop))
        if loop.exp.dataset.val is not None:
            record.update(_validate(loop, epoch))
        loop.progress.history.append(record)
        save_weights(loop.paths.weights, loop.exp.model)
    _save_checkpoint(loop)
    if loop.ctx.is_main:
        atomic_write_text(loop.paths.metrics, "".join(json.dumps(r) + "\n" for r in loop.progress.history))
        log.info(epoch_line(epoch + 1, loop.cfg.epochs, record))
        _warn_if_abstaining(record)
    return record


def _clean_probe(loop: _Loop) -> dict:
    """Clean accuracy of the end-of-epoch model on a fixed probe of the training data."""
    exp = loop.exp
    train_set = exp.dataset.train
    probe = train_set.subset(epoch_order(exp.config.seed, -1, len(train_set))[:CLEAN_PROBE])
    clean = evaluate_clean(exp.model, exp.space, probe, exp.dataset.class_names, device=loop.device)
    return {"train_acc": clean.accuracy, "train_abstain": clean.abstain_rate}


def _validate(loop: _Loop, epoch: int) -> dict:
    """Validation accuracy; the weights of the best epoch so far go to ``model-best-val``."""
    exp, progress = loop.exp, loop.progress
    val = evaluate_clean(exp.model, exp.space, exp.dataset.val, exp.dataset.class_names, device=loop.device)
    if progress.best_val is None or val.accuracy > progress.best_val["val_acc"]:
        progress.best_val = {"epoch": epoch + 1, "val_acc": val.accuracy}
        save_weights(loop.paths.best_weights, exp.model)
    return {"val_acc": val.accuracy, "val_abstain": val.abstain_rate}


ABSTAIN_WARNING = 0.99
"""Share of abstained training decisions above which an epoch warns that nothing is learnt."""


def _warn_if_abstaining(record: dict) -> None:
    for key in ("train_abstain", "adv_train_abstain"):
        if record.get(key, 0.0) >= ABSTAIN_WARNING:
            log.warning(
                "epoch %d: the model abstains on %.1f%% of %s training inputs (its outputs fall in no class's code or "
                "interval): it is not learning — lower optim.lr or the label space's scale",
                record["epoch"], 100 * record[key], "adversarial" if key.startswith("adv") else "clean",
            )


def _set_metrics(report) -> dict:
    """A multi-label run's set and target accuracy (nothing for single-label spaces)."""
    return {k: getattr(report, k) for k in ("set_accuracy", "target_accuracy") if getattr(report, k) is not None}


def _write_summary(loop: _Loop) -> None:
    exp, progress, history = loop.exp, loop.progress, loop.progress.history
    test = evaluate_clean(exp.model, exp.space, exp.dataset.test, exp.dataset.class_names, device=loop.device)
    summary = {
        "run": exp.config.run_name(),
        "dataset": exp.dataset.name,
        "label_space": {"name": exp.space.name, **exp.space.params()},
        "model": exp.config.model.name,
        "method": describe_method(loop.method),
        "epochs": len(history),
        "train_size": len(exp.dataset.train),
        "final": history[-1] if history else None,
        "best_val": progress.best_val,
        "test": {"n": test.n, "accuracy": test.accuracy, "abstain_rate": test.abstain_rate, **_set_metrics(test), "weights": "latest"},
        "histogram_edges": histogram_edges(),
        "seconds": round(sum(r["seconds"] for r in history), 3),
        "started": progress.sessions[0]["started"],
        "ended": now(),
        "device": loop.device,
        "processes": loop.ctx.world_size,
        "command": progress.sessions[-1]["command"],
        "sessions": progress.sessions,
        "environment": environment(),
    }
    atomic_write_text(loop.paths.summary, json.dumps(summary, indent=2))
    log.info("finished %s: test accuracy %.2f%% on %d samples (%s)", loop.paths.root, 100 * test.accuracy, test.n, loop.paths.summary.name)
