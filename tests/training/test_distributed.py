"""Distributed training on CPU: torchrun with 2 gloo processes follows one process's loss curve.

Each global batch is split over the ranks and the loss is scaled so DDP's gradient average is
the one-process batch mean; the only differences left are floating-point reduction order (and,
for adversarial methods, each rank's own random starts).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from labelrobust.errors import ConfigError
from labelrobust.runs import read_metrics
from labelrobust.training.distributed import from_environment, launched_by_torchrun

PROJECT = Path(__file__).resolve().parents[2]
ARGS = ["--dataset", "digits", "--train-size", "512", "--test-size", "100", "--model", "mnist-cnn", "--model-option", "width=8",
        "--epochs", "3", "--batch-size", "64", "--lr", "0.05", "--quiet"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, tmp_path):
    # faulthandler: a rank that aborts prints every thread's Python stack, so a failure says where
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)
    # the failing rank's own lines come first, torchrun's summary last
    err = done.stderr if len(done.stderr) <= 6000 else done.stderr[:3000] + "\n[...]\n" + done.stderr[-3000:]
    assert done.returncode == 0, err
    return done


@pytest.mark.slow
@pytest.mark.parametrize("method", [[], ["--method", "clirat", "--eps", "0.1", "--method.steps", "2"]], ids=["standard", "clirat"])
def test_two_gloo_processes_follow_the_single_process_curve(tmp_path, method):
    run([sys.executable, "-m", "labelrobust", "train", *ARGS, *method, "--out", str(tmp_path), "--name", "one"], tmp_path)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(free_port())]
    double = run([*torchrun, "-m", "labelrobust", "train", *ARGS, *method, "--out", str(tmp_path), "--name", "two"], tmp_path)
    assert double.stdout.count("run directory:") == 1  # rank 0 alone reports
    one, two = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "two")
    assert [r["epoch"] for r in two] == [1, 2, 3]
    tol = 1e-4 if not method else 0.05  # adversarial: each rank draws its own random starts
    for a, b in zip(one, two, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=tol, abs=tol)
        assert b["train_acc"] == pytest.approx(a["train_acc"], abs=0.02 if method else 1e-3)
    if method:
        assert sum(two[-1]["pm_hist"]) == 512  # tallies are summed over both ranks
        assert two[-1]["weight_mean"] == pytest.approx(1.0, abs=1e-6)  # weights normalised over the global batch
    else:
        wa, wb = load_file(str(tmp_path / "one" / "model.safetensors")), load_file(str(tmp_path / "two" / "model.safetensors"))
        assert all(torch.allclose(wa[k], wb[k], atol=1e-4) for k in wa)
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["epochs"] == 3


def test_exit_process_flushes_the_streams_and_keeps_the_code():
    code = "import logging; from labelrobust.training.distributed import exit_process; print('table', end=''); logging.getLogger('x').warning('logged'); exit_process(3)"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert done.stdout == "table"
    assert "logged" in done.stderr


def test_launched_by_torchrun_reads_world_size(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not launched_by_torchrun() and not from_environment("cpu").enabled
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not launched_by_torchrun()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launched_by_torchrun()
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(ConfigError, match="RANK is not"):
        from_environment("cpu")
