"""Runs never lose work: start decisions, copied runs, SIGTERM checkpoints, divergence, and what a
run records about itself (train.log, summary.json) — through the Python API, on real digits."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest
import torch
from safetensors.torch import load_file

from labelrobust.config import load_config
from labelrobust.errors import CheckpointError, ConfigError
from labelrobust.runs import read_metrics
from labelrobust.training import TrainingDiverged, TrainingStopped, train
from labelrobust.training import loop as training_loop


def config(tmp_path, name="run", **extra):
    overrides = {
        "data.name": "digits", "data.train_size": 300, "data.test_size": 100, "model.options": {"width": 8},
        "epochs": 2, "batch_size": 50, "out": str(tmp_path / "runs"), "name": name, **extra,
    }
    return load_config(None, list(overrides.items()))


def weights(run_dir):
    return load_file(str(run_dir / "model.safetensors"))


def test_results_are_never_trained_over(tmp_path):
    run = train(config(tmp_path, epochs=1), quiet=True)
    before = (run / "model.safetensors").read_bytes()
    (run / "checkpoint.safetensors").unlink()  # deleted to save disk
    with pytest.raises(CheckpointError, match=r"cannot resume .*no checkpoint.safetensors \(deleted\?\) but holds model.safetensors.*--overwrite"):
        train(config(tmp_path, epochs=1), quiet=True, resume=True)
    with pytest.raises(CheckpointError, match=r"already holds results \(model.safetensors, summary.json, metrics.jsonl \(1 epochs\)\)"):
        train(config(tmp_path, epochs=1), quiet=True)
    assert (run / "model.safetensors").read_bytes() == before
    with pytest.raises(ConfigError, match="give one of them"):
        train(config(tmp_path, epochs=1), quiet=True, resume=True, overwrite=True)
    train(config(tmp_path, epochs=1), quiet=True, overwrite=True)
    assert (run / "checkpoint.safetensors").is_file() and "overwriting" in (run / "train.log").read_text()


def test_resume_needs_something_to_resume(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume: .*does not exist; drop --resume"):
        train(config(tmp_path), quiet=True, resume=True)
    (tmp_path / "runs" / "run").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="nothing to resume in .*holds no files but no checkpoint"):
        train(config(tmp_path), quiet=True, resume=True)


def test_a_copied_run_resumes_itself_not_the_original(tmp_path):
    base = train(config(tmp_path, name="base", epochs=1), quiet=True)
    original = (base / "model.safetensors").read_bytes()
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(base, copy)
    saved = config(tmp_path, name="base", epochs=2)  # the copy's config.yaml still names 'base'
    assert train(saved, quiet=True, resume=True, run_dir=copy) == copy
    assert [r["epoch"] for r in read_metrics(copy)] == [1, 2]
    assert (base / "model.safetensors").read_bytes() == original and len(read_metrics(base)) == 1


def test_resume_accepts_where_it_runs_and_refuses_what_it_computes(tmp_path):
    train(config(tmp_path, epochs=1), quiet=True)
    moved = {"checkpoint_every": 2, "data.root": str(tmp_path / "moved-data"), "divergence_factor": 50.0}
    assert len(read_metrics(train(config(tmp_path, epochs=2, **moved), quiet=True, resume=True))) == 2
    with pytest.raises(CheckpointError, match=r"differs from the saved one in batch_size, optim.momentum"):
        train(config(tmp_path, epochs=3, batch_size=25, **{"optim.momentum": 0.5}), quiet=True, resume=True)


def test_sigterm_checkpoints_at_the_next_batch_and_resumes_exactly(tmp_path, monkeypatch):
    uninterrupted = train(config(tmp_path, name="whole"), quiet=True)
    real_batch, calls = training_loop._train_batch, []

    def batch_then_sigterm(*args, **kwargs):  # the scheduler's signal arrives during batch 4
        real_batch(*args, **kwargs)
        calls.append(1)
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(training_loop, "_train_batch", batch_then_sigterm)
    with pytest.raises(TrainingStopped, match=r"stopped by SIGTERM before epoch 1, batch 5; the last checkpoint .*epoch 1, batch 4\) is intact — continue with: labelrobust train --resume") as stopped:
        train(config(tmp_path), quiet=True)
    assert stopped.value.exit_code == 143 and len(calls) == 4
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone after training
    monkeypatch.setattr(training_loop, "_train_batch", real_batch)
    resumed = train(config(tmp_path), quiet=True, resume=True)
    for key, value in weights(uninterrupted).items():
        assert torch.equal(value, weights(resumed)[key]), key


def test_an_exploding_loss_stops_the_run(tmp_path):
    # RBC at the study's scale S=350 with a learning rate fit for S=1: the loss reaches ~1e32.
    cfg = config(tmp_path, **{"labels.name": "binary", "labels.params": {"scale": 350.0}, "optim.lr": 0.02})
    with pytest.raises(TrainingDiverged, match=r"training diverged: loss .* at epoch 1, batch \d+ is over 1000× the first batch's .*; no checkpoint was written yet; lower optim.lr"):
        train(cfg, quiet=True)


def test_a_run_records_what_it_did(tmp_path):
    run = train(config(tmp_path), quiet=True)
    summary = json.loads((run / "summary.json").read_text())
    assert 0.0 <= summary["test"]["accuracy"] <= 1.0 and summary["test"]["n"] == 100
    assert summary["environment"]["torch"] == torch.__version__ and summary["environment"]["labelrobust"]
    assert summary["device"] == "cpu" and summary["started"] <= summary["ended"] and summary["command"]
    log = (run / "train.log").read_text()
    assert "starting" in log and "from scratch" in log and "epoch 1/2: loss" in log and "epoch 2/2: loss" in log
    train(config(tmp_path, epochs=3), quiet=True, resume=True)
    log = (run / "train.log").read_text()
    assert "resuming" in log and "continuing at the start of epoch 3/3" in log
    assert len(json.loads((run / "summary.json").read_text())["sessions"]) == 2


def test_a_dict_config_is_validated_like_yaml(tmp_path):
    run = train({"data": {"name": "digits", "train_size": 100, "test_size": 50}, "epochs": 1, "out": str(tmp_path), "name": "d"}, quiet=True)
    assert (run / "model.safetensors").is_file()
    with pytest.raises(ConfigError, match="epochs must be ≥ 1"):
        train({"epochs": -1, "out": str(tmp_path)}, quiet=True)
    with pytest.raises(ConfigError, match="expected a TrainConfig or a mapping"):
        train(["epochs", 1])


def test_long_epochs_print_a_heartbeat_without_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr("labelrobust.training.run_log.HEARTBEAT_SECONDS", 0.0)
    run = train(config(tmp_path, epochs=1), quiet=True)  # quiet: no bars, as under nohup or SLURM
    log = (run / "train.log").read_text()
    assert "epoch 1/1: batch 2/6, loss" in log and "epoch 1/1: batch 6/6, loss" in log


def test_an_abstaining_model_is_reported(caplog):
    with caplog.at_level("WARNING", logger="labelrobust"):
        training_loop._warn_if_abstaining({"epoch": 2, "train_abstain": 1.0, "adv_train_abstain": 0.5})
        training_loop._warn_if_abstaining({"epoch": 3, "train_abstain": 0.2})
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "epoch 2: the model abstains on 100.0% of clean training inputs" in messages[0]


def test_resume_from_inside_the_run_directory(tmp_path, monkeypatch):
    run = train(config(tmp_path, epochs=1), quiet=True)
    monkeypatch.chdir(run)
    assert train(config(tmp_path, epochs=2), quiet=True, resume=True, run_dir=".") == run
    assert len(read_metrics(run)) == 2


def test_resume_compares_methods_by_what_they_compute(tmp_path):
    """A method written another way (a preset, a default written out) is the same experiment and
    resumes; a parameter that changes the training is refused by its key."""
    at = {"method.name": "clirat", "method.params.eps": 0.1, "method.params.steps": 2}
    train(config(tmp_path, epochs=1, **at), quiet=True)
    spelled_out = {"method.name": "at", "method.params.eps": "1/10", "method.params.steps": 2, "method.params.reweight": "cl-pm",
                   "method.params.gamma": 10, "method.params.bias": -0.5, "method.params.norm": "linf", "method.params.random_start": True}
    assert len(read_metrics(train(config(tmp_path, epochs=2, **spelled_out), quiet=True, resume=True))) == 2
    with pytest.raises(CheckpointError, match=r"differs from the saved one in method.params.bias, method.params.gamma, method.params.reweight, method.params.step_size, method.params.steps, which"):
        train(config(tmp_path, epochs=3, **{"method.name": "at", "method.params.eps": 0.1, "method.params.steps": 3}), quiet=True, resume=True)
    with pytest.raises(CheckpointError, match=r"differs from the saved one in method.name, which would change the experiment"):
        train(config(tmp_path, epochs=3, **{"method.name": "trades", "method.params.eps": 0.1, "method.params.steps": 2}), quiet=True, resume=True)
