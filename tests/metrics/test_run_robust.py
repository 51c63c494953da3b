"""Evaluating a run directory through the Python API, on a tiny model trained on real digits:
results accumulate over calls, every file records the weights it was computed on, results of
older weights are kept and marked stale, bad arguments fail as the CLI's do, and the metric
functions run with the model on every device under test."""

from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from labelrobust.errors import ConfigError, OutputError
from labelrobust.metrics import evaluate_clean, evaluate_run
from labelrobust.metrics.checks import zero_gradient_check
from labelrobust.metrics.inference import model_outputs
from labelrobust.metrics.robust_eval import AttackSpec, evaluate_attacks
from labelrobust.metrics.run_robust import robust_evaluate_run
from labelrobust.metrics.transfer_matrix import transfer_between_runs
from labelrobust.models.weights import save_weights
from labelrobust.runs import load_run, weights_sha256

FGSM = [AttackSpec("fgsm", "fgsm")]


def copy_run(exp, into: Path) -> Path:
    """A private copy of a fixture run (its weights may be changed), without its eval folder."""
    source = Path(exp.config.out) / exp.config.run_name()
    return Path(shutil.copytree(source, into / source.name, ignore=shutil.ignore_patterns("eval")))


def change_weights(run: Path) -> None:
    """What resuming a run for more epochs does to evaluations: other bytes in model.safetensors."""
    exp = load_run(run)
    with torch.no_grad():
        for p in exp.model.parameters():
            p.mul_(0.9)
    save_weights(run / "model.safetensors", exp.model)


def test_results_accumulate_and_old_weights_turn_stale(trained, tmp_path):
    run = copy_run(trained("onehot"), tmp_path)
    robust_evaluate_run(run, FGSM, [0.1], name="acc", n=30, checks=False, quiet=True)
    report = robust_evaluate_run(run, FGSM, ["8/255"], name="acc", n=30, checks=False, quiet=True)
    assert [o.eps_text for o in report.outcomes] == ["8/255", "0.1"]
    saved = json.loads((run / "eval" / "robust-acc.json").read_text())
    sha = weights_sha256(run / "model.safetensors")
    assert saved["format"] == "labelrobust-robust-eval-2" and saved["weights"] == {"weights": "latest", "file": "model.safetensors", "sha256": sha}
    assert saved["samples"]["n"] == 30 and len(saved["samples"]["sha256"]) == 64
    assert [(r["eps_text"], r["stale"], r["weights_sha256"]) for r in saved["outcomes"]] == [("8/255", False, sha), ("0.1", False, sha)]
    assert [w["eps_text"] for w in saved["worst_case"]] == ["8/255", "0.1"] and set(saved["confusion"]) == {"fgsm@8/255", "fgsm@0.1"}
    assert (run / "eval" / "robust-acc.png").stat().st_size > 1000

    change_weights(run)
    report = robust_evaluate_run(run, FGSM, [0.2], name="acc", n=30, checks=False, quiet=True)
    assert [o.eps_text for o in report.outcomes] == ["0.2"] and list(report.worst_case()) == [0.2]
    assert [o.eps_text for o in report.stale] == ["8/255", "0.1"] and all(sha[:12] in o.stale for o in report.stale)
    rows = list(csv.DictReader((run / "eval" / "robust-acc.csv").open()))
    assert [(r["eps_text"], r["stale"]) for r in rows] == [("0.2", "False"), ("8/255", "True"), ("0.1", "True")]
    assert rows[1]["stale_reason"].startswith("other weights: latest sha256 ") and rows[1]["weights_sha256"] == sha
    # recomputing an old cell on the new weights adds a fresh row and keeps the stale one
    report = robust_evaluate_run(run, FGSM, [0.1], name="acc", n=30, checks=False, quiet=True)
    assert [o.eps_text for o in report.outcomes] == ["0.1", "0.2"] and len(report.stale) == 2


def test_norm_and_target_get_their_own_files_and_out_redirects(trained, tmp_path):
    run = copy_run(trained("onehot"), tmp_path)
    elsewhere = tmp_path / "mine"
    robust_evaluate_run(run, FGSM, [1.0], name="x", norm="l2", n=20, checks=False, quiet=True, out=elsewhere)
    robust_evaluate_run(run, FGSM, [0.1], name="x", target=2, n=20, checks=False, quiet=True, out=elsewhere)
    assert {p.name for p in elsewhere.iterdir()} >= {"robust-x-l2.json", "robust-x-target2.json", "robust-x-l2.state.json"}
    assert not (run / "eval").exists()


def test_clean_files_record_weights_and_samples(trained, tmp_path):
    run = copy_run(trained("onehot"), tmp_path)
    report = evaluate_run(run, device="cpu")
    sha = weights_sha256(run / "model.safetensors")
    saved = json.loads((run / "eval" / "clean-test.json").read_text())
    assert saved["format"] == "labelrobust-clean-eval-2" and saved["weights"]["sha256"] == sha and saved["samples"]["n"] == report.n
    assert saved["samples"]["split"] == "test" and len(saved["samples"]["sha256"]) == 64
    row = next(csv.DictReader((run / "eval" / "clean-test.csv").open()))
    assert row["weights"] == "latest" and row["weights_sha256"] == sha
    confusion = list(csv.reader((run / "eval" / "confusion-test.csv").open()))
    assert confusion[0][-3:] == ["weights", "weights_sha256", "samples_sha256"] and all(r[-2] == sha for r in confusion[1:])


def test_the_api_refuses_what_the_cli_refuses(trained, tmp_path):
    exp = trained("onehot")
    run = copy_run(exp, tmp_path)
    cases = [
        (lambda: robust_evaluate_run(run, FGSM, [0.1], name="x", batch_size=0), ConfigError, "batch_size must be a positive integer, got 0"),
        (lambda: robust_evaluate_run(run, FGSM, [0.1], name="x", n=-5), ConfigError, "n must be a positive integer, got -5"),
        (lambda: robust_evaluate_run(run, FGSM, [100], name="x", norm="l2", n=5), ConfigError, r"exceeds the largest l2 distance .* \(8\)"),
        (lambda: robust_evaluate_run(run, FGSM, [0.1], name="x", device="tpu"), ConfigError, "unknown device 'tpu'"),
        (lambda: evaluate_run(run, batch_size=-1), ConfigError, "batch_size must be a positive integer"),
        (lambda: evaluate_run(run, out=run / "config.yaml"), OutputError, "is a file, not a folder"),
        (lambda: transfer_between_runs([run, run], "pgd", 0.1, batch_size=0), ConfigError, "batch_size must be a positive integer"),
        (lambda: transfer_between_runs([run, run], "pgd", 0.1, n=0), ConfigError, "n must be a positive integer"),
        (lambda: transfer_between_runs([run, run], "pgd", 100, norm="l2"), ConfigError, "exceeds the largest l2 distance"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    shutil.rmtree(run / "eval", ignore_errors=True)
    (run / "eval").write_text("not a folder")
    with pytest.raises(OutputError, match="evaluation folder .*eval cannot be created: .* is a file"):
        robust_evaluate_run(run, FGSM, [0.1], name="x")


def test_metric_functions_on_the_device(trained, device):
    """The model on ``device``, the data on the CPU: every metric moves what it needs."""
    exp = trained("onehot")
    model = copy.deepcopy(exp.model).to(device)
    images = exp.dataset.test.subset(list(range(40)))
    outputs = model_outputs(model, images, batch_size=16)
    assert outputs.device.type == "cpu" and torch.allclose(outputs, model_outputs(exp.model, images), atol=1e-4)
    clean = evaluate_clean(model, exp.space, images, exp.dataset.class_names, batch_size=16)
    report = evaluate_attacks(model, exp.space, images, FGSM + [AttackSpec("pgd", "pgd", {"steps": 3})], [0.1], target=1, batch_size=16, quiet=True)
    flag = zero_gradient_check(model, exp.space, images.float_images(), images.labels)
    assert 0 <= clean.accuracy <= 1 and len(report.outcomes) == 2 and flag.ok is True
    assert report.clean_pred.device.type == "cpu" and len(report.outcomes[0].adv_pred) == int((images.labels != 1).sum())


def test_run_level_evaluations_on_the_device(trained, tmp_path, device):
    a = copy_run(trained("onehot"), tmp_path)
    assert robust_evaluate_run(a, FGSM, [0.1], name="d", n=20, quiet=True, device=device).checks
    assert evaluate_run(a, device=device).n > 0
    result = transfer_between_runs([a, a], "fgsm", "8/255", n=20, device=device)
    assert result.rates.shape == (2, 2) and result.eps_text == "8/255" and result.weights[0]["sha256"] == weights_sha256(a / "model.safetensors")
