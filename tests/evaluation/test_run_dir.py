"""Evaluating a run directory through the Python API, on a tiny model trained on real digits:
results accumulate over calls in format ``labelrobust-robust-eval-3``, every file records the
weights and samples it was computed on, results of older weights are kept and marked stale,
the compute nesting saved is reported, a format-2 results file is still read, and bad
arguments fail as the CLI's do."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from labelrobust.errors import ConfigError, OutputError
from labelrobust.evaluation import AttackSpec, read_results, results_stem, robust_evaluate_run
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
    assert saved["format"] == "labelrobust-robust-eval-3" and saved["weights"] == {"weights": "latest", "file": "model.safetensors", "sha256": sha}
    assert saved["samples"]["n"] == 30 and len(saved["samples"]["sha256"]) == 64 and saved["domain"] == {"low": 0.0, "high": 1.0}
    assert [(r["eps_text"], r["stale"], r["weights_sha256"]) for r in saved["outcomes"]] == [("8/255", False, sha), ("0.1", False, sha)]
    assert [w["eps_text"] for w in saved["worst_case"]] == ["8/255", "0.1"] and set(saved["confusion"]) == {"fgsm@8/255", "fgsm@0.1"}
    assert {"robust_accuracy", "survival", "attack_success"} <= set(saved["worst_case"][0])
    assert (run / "eval" / "robust-acc.png").stat().st_size > 1000
    assert read_results(run / "eval" / "robust-acc.json") == saved

    change_weights(run)
    report = robust_evaluate_run(run, FGSM, [0.2], name="acc", n=30, checks=False, quiet=True)
    assert [o.eps_text for o in report.outcomes] == ["0.2"] and list(report.worst_case()) == [0.2]
    assert [o.eps_text for o in report.stale] == ["8/255", "0.1"] and all(sha[:12] in o.stale for o in report.stale)
    rows = list(csv.DictReader((run / "eval" / "robust-acc.csv").open()))
    assert [(r["eps_text"], r["stale"]) for r in rows] == [("0.2", "False"), ("8/255", "True"), ("0.1", "True")]
    assert rows[1]["stale_reason"].startswith("other weights: latest sha256 ") and rows[1]["weights_sha256"] == sha
    assert {"role", "attacked", "gradients", "forwards", "skipped_nested", "skipped_active"} <= set(rows[0])
    # recomputing an old cell on the new weights adds a fresh row and keeps the stale one
    report = robust_evaluate_run(run, FGSM, [0.1], name="acc", n=30, checks=False, quiet=True)
    assert [o.eps_text for o in report.outcomes] == ["0.1", "0.2"] and len(report.stale) == 2


def test_the_results_report_the_compute_nesting_saved(trained, tmp_path):
    run = copy_run(trained("onehot"), tmp_path)
    specs = [AttackSpec("fgsm", "fgsm"), AttackSpec("pgd", "pgd", {"steps": 5})]
    robust_evaluate_run(run, specs, [0.1, 0.2], name="n", n=40, quiet=True)
    robust_evaluate_run(run, specs, [0.1, 0.2], name="flat", n=40, quiet=True, nested=False, active_set=False)
    nested, flat = (json.loads((run / "eval" / f"robust-{name}.json").read_text()) for name in ("n", "flat"))
    assert nested["cost"]["skipped_nested"] > 0 and nested["cost"]["skipped_active"] > 0
    assert nested["cost"]["attacked"] + nested["cost"]["skipped_nested"] + nested["cost"]["skipped_active"] == 4 * 40
    assert flat["cost"]["skipped_nested"] == flat["cost"]["skipped_active"] == 0 and flat["cost"]["attacked"] == 4 * 40
    assert nested["cost"]["gradients"] < flat["cost"]["gradients"]
    assert {c["name"] for c in nested["checks"]} >= {"eps-monotone", "own-loss-only", "zero-gradients", "black-box-beats-white-box"}
    assert all(isinstance(c["cells"], list) for c in nested["checks"])


def test_a_format_2_results_file_is_read_and_converted(tmp_path):
    old = {
        "format": "labelrobust-robust-eval-2", "run": "runs/x", "name": "quick", "norm": "linf", "target": None,
        "weights": {"weights": "latest", "sha256": "ab" * 32}, "samples": {"split": "test", "n": 2, "sha256": "cd" * 32},
        "n": 2, "clean_accuracy": 1.0, "worst_case": [{"eps": 0.1, "eps_text": "0.1", "robust_accuracy": 0.5}],
        "outcomes": [
            {"label": "fgsm", "attack": "fgsm", "objective": "loss", "kind": "white-box", "norm": "linf", "eps": 0.1, "eps_text": "0.1",
             "n": 2, "robust_accuracy": 0.5, "survival": 0.5, "steps": 1, "effort": 1, "flags": "", "stale": False},
            {"label": "pgd-20-margin", "attack": "pgd", "objective": "margin", "kind": "white-box", "norm": "linf", "eps": 0.1,
             "eps_text": "0.1", "n": 2, "robust_accuracy": 0.5, "survival": 0.5, "steps": 20, "effort": 20, "flags": "", "stale": False},
        ],
        "checks": [{"name": "own-loss-only", "verdict": "ok", "detail": "", "doc": "docs/flags.md#own-loss-only"}],
    }
    path = tmp_path / "robust-quick.json"
    path.write_text(json.dumps(old))
    data = read_results(path)
    assert data["format"] == "labelrobust-robust-eval-3" and data["converted_from"] == "labelrobust-robust-eval-2"
    assert [(r["label"], r["role"], r["adaptive"]) for r in data["outcomes"]] == [("fgsm", "diagnostic", False), ("pgd-20-margin", "diagnostic", True)]
    assert data["outcomes"][1]["robust_accuracy"] == 0.5 and data["worst_case"] == old["worst_case"]
    assert any("against the true label" in note for note in data["notes"]) and any("guessed from attack names" in note for note in data["notes"])
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ConfigError, match="is not a labelrobust evaluation result"):
        read_results(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="cannot read evaluation results"):
        read_results(path)


def test_norm_and_target_get_their_own_files_and_out_redirects(trained, tmp_path):
    run = copy_run(trained("onehot"), tmp_path)
    elsewhere = tmp_path / "mine"
    robust_evaluate_run(run, FGSM, [1.0], name="x", norm="l2", n=20, checks=False, quiet=True, out=elsewhere)
    robust_evaluate_run(run, FGSM, [0.1], name="x", target=2, n=20, checks=False, quiet=True, out=elsewhere)
    assert {p.name for p in elsewhere.iterdir()} >= {"robust-x-l2.json", "robust-x-target2.json", "robust-x-l2.state.json"}
    assert not (run / "eval").exists()
    assert results_stem("x") == "robust-x" and results_stem("x", "l2", 3) == "robust-x-l2-target3"


def test_the_api_refuses_what_the_cli_refuses(trained, tmp_path):
    run = copy_run(trained("onehot"), tmp_path)
    cases = [
        (lambda: robust_evaluate_run(run, FGSM, [0.1], name="x", batch_size=0), ConfigError, "batch_size must be an integer ≥ 1, got 0"),
        (lambda: robust_evaluate_run(run, FGSM, [0.1], name="x", n=-5), ConfigError, "n must be an integer ≥ 1, got -5"),
        (lambda: robust_evaluate_run(run, FGSM, [100], name="x", norm="l2", n=5), ConfigError, r"exceeds the largest l2 distance .* \(8\)"),
        (lambda: robust_evaluate_run(run, FGSM, [0.1], name="x", device="tpu"), ConfigError, "unknown device 'tpu'"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    shutil.rmtree(run / "eval", ignore_errors=True)
    (run / "eval").write_text("not a folder")
    with pytest.raises(OutputError, match="evaluation folder .*eval cannot be created: .* is a file"):
        robust_evaluate_run(run, FGSM, [0.1], name="x")


def test_run_level_evaluation_on_the_device(trained, tmp_path, device):
    run = copy_run(trained("onehot"), tmp_path)
    report = robust_evaluate_run(run, FGSM, [0.1], name="d", n=20, quiet=True, device=device)
    assert report.checks and {f.name for f in report.checks} >= {"zero-gradients", "large-eps"}


def test_targets_evaluated_in_one_load_equal_one_evaluation_per_target(trained, tmp_path):
    from labelrobust.evaluation import robust_evaluate_targets

    run = copy_run(trained("onehot"), tmp_path)
    together = robust_evaluate_targets(run, FGSM, [0.1], [1, 3], name="t", n=40, quiet=True, out=tmp_path / "together")
    for target in (1, 3):
        alone = robust_evaluate_run(run, FGSM, [0.1], name="t", n=40, target=target, quiet=True, out=tmp_path / "alone")
        assert torch.equal(together[target].outcomes[0].adv_pred, alone.outcomes[0].adv_pred)
        assert together[target].outcomes[0].metrics == alone.outcomes[0].metrics and together[target].target == target
        assert (tmp_path / "together" / f"robust-t-target{target}.json").is_file()
        assert not (tmp_path / "together" / f"robust-t-target{target}.png").exists()  # no plot per target by default
    with pytest.raises(ConfigError, match="target class must lie in 0..9"):
        robust_evaluate_targets(run, FGSM, [0.1], [10], name="t", n=40, quiet=True, out=tmp_path / "bad")
