"""Run directories written by labelrobust 0.1 (config format version 1) still load, evaluate and
resume. ``v1_run/`` is a real one: a CLIRAT run on digits (200 samples, eps 0.1, PGD-2, burn-in
1, 2 epochs of 7 batches) that version 0.1 stopped after 3 batches (``stop_after_batches=3``),
with its config.yaml, dataset report, log and checkpoint as 0.1 wrote them;
``expected-model.safetensors`` holds the weights version 0.1 ended with when it trained the same
run without stopping."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from labelrobust.cli.main import main
from labelrobust.config import MethodConfig
from labelrobust.metrics import evaluate_run
from labelrobust.runs import load_run, read_config, read_metrics
from labelrobust.training import train
from labelrobust.training.checkpoint import read_progress
from labelrobust.training.progress import Progress

V1_RUN = Path(__file__).parent / "v1_run"


def old_run(tmp_path, name="old") -> Path:
    run = tmp_path / name
    shutil.copytree(V1_RUN, run, ignore=shutil.ignore_patterns("expected-model.safetensors"))
    return run


def test_a_version_1_config_reads_in_the_current_format(tmp_path):
    text = (V1_RUN / "config.yaml").read_text()
    assert "config_version" not in text and "  steps: 2\n" in text  # as 0.1 wrote it: flat method keys
    cfg = read_config(old_run(tmp_path))
    assert cfg.method == MethodConfig("clirat", {"eps": 0.1, "steps": 2, "burn_in": 1})
    assert cfg.data.train_size == 200 and cfg.model.options == {"width": 4} and cfg.epochs == 2


def test_a_version_1_checkpoint_holds_a_progress_record():
    progress = Progress.from_json(read_progress(V1_RUN / "checkpoint.safetensors"))
    assert (progress.epoch, progress.batch) == (0, 3) and progress.tally.loss_seen == 96 and progress.reference_loss > 0
    assert progress.to_json() == read_progress(V1_RUN / "checkpoint.safetensors")  # the same keys, read and written


def test_a_version_1_run_resumes_to_the_weights_version_1_ended_with(tmp_path):
    run = old_run(tmp_path)
    train(read_config(run), resume=True, run_dir=run, quiet=True)
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2]
    expected, resumed = load_file(str(V1_RUN / "expected-model.safetensors")), load_file(str(run / "model.safetensors"))
    assert expected.keys() == resumed.keys()
    for key in expected:  # the same run: only float rounding of exp(log_softmax) vs softmax may differ
        torch.testing.assert_close(resumed[key], expected[key], rtol=1e-5, atol=1e-6)  # measured: ≤ 3e-8
    text = (run / "config.yaml").read_text()
    assert text.startswith("config_version: 2\n") and "params:" in text  # the resumed run is written in the new format
    assert read_config(run).method == read_config(old_run(tmp_path, "again")).method


def test_a_version_1_run_resumes_from_the_command_line_and_evaluates(tmp_path, capsys):
    run = old_run(tmp_path)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert f"run directory: {run}" in capsys.readouterr().out
    finished = old_run(tmp_path, "finished")  # a finished version-1 run, its config.yaml untouched
    shutil.copy(V1_RUN / "expected-model.safetensors", finished / "model.safetensors")
    assert load_run(finished).config.method.name == "clirat"
    assert evaluate_run(finished).n == 50
