"""The evaluation commands (evaluate, attack, transfer) on a tiny model trained on real digits:
results accumulate across calls, old weights' results stay (marked stale), eps is shown as
written, ``--out``, ``--device`` and ``--no-nesting`` work, the suite states its budget and an
estimate, and every bad input is one line with exit code 2."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from labelrobust.cli.main import main
from labelrobust.models.weights import save_weights
from labelrobust.runs import load_run

ATTACK = ["--attack", "pgd", "--steps", "3", "--n", "20", "--quiet"]
STEM = "robust-attack-pgd-steps=3"


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A private copy of a trained fixture run, without its eval folder."""
    exp = trained("onehot")
    source = Path(exp.config.out) / exp.config.run_name()
    return Path(shutil.copytree(source, tmp_path / "run", ignore=shutil.ignore_patterns("eval")))


def one_error_line(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("loaded ")]
    assert len(lines) == 1 and lines[0].startswith("labelrobust: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_attack_results_accumulate_and_old_weights_are_marked_stale(run, capsys):
    assert main(["attack", str(run), *ATTACK, "--eps", "0.1"]) == 0
    assert main(["attack", str(run), *ATTACK, "--eps", "8/255"]) == 0
    out = capsys.readouterr().out
    assert "8/255" in out and "0.0314" not in out and "eps 8/255:" in out
    saved = json.loads((run / "eval" / f"{STEM}.json").read_text())
    assert [r["eps_text"] for r in saved["outcomes"]] == ["8/255", "0.1"]
    assert [r["eps_text"] for r in csv.DictReader((run / "eval" / f"{STEM}.csv").open())] == ["8/255", "0.1"]
    assert (run / "eval" / f"{STEM}.png").stat().st_size > 1000

    exp = load_run(run)  # training on for more epochs writes other weights
    with torch.no_grad():
        next(exp.model.parameters()).mul_(0.5)
    save_weights(run / "model.safetensors", exp.model)
    assert main(["attack", str(run), *ATTACK, "--eps", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "STALE: 2 earlier result(s)" in out and "other weights: latest sha256" in out
    rows = list(csv.DictReader((run / "eval" / f"{STEM}.csv").open()))
    assert [(r["eps_text"], r["stale"]) for r in rows] == [("0.2", "False"), ("8/255", "True"), ("0.1", "True")]
    saved = json.loads((run / "eval" / f"{STEM}.json").read_text())
    assert [w["eps_text"] for w in saved["worst_case"]] == ["0.2"]


def test_suite_with_out_and_device_cpu(run, tmp_path, capsys):
    run.chmod(0o555)  # a colleague's run: results go to --out (root can still write; the flag is what is tested)
    mine = tmp_path / "mine"
    try:
        argv = ["evaluate", str(run), "--suite", "quick", "--eps", "0.1", "--n", "20", "--device", "cpu", "--out", str(mine), "--quiet"]
        assert main(argv) == 0
        assert main(["evaluate", str(run), "--device", "cpu", "--out", str(mine)]) == 0
    finally:
        run.chmod(0o755)
    out = capsys.readouterr().out
    assert "large-eps" in out and "weights: latest (model.safetensors, sha256 " in out
    assert {"robust-quick.json", "robust-quick.csv", "robust-quick.png", "clean-test.json"} <= {p.name for p in mine.iterdir()}
    assert not (run / "eval").exists()
    saved = json.loads((mine / "robust-quick.json").read_text())
    large = next(r for r in saved["outcomes"] if r["label"] == "pgd-20-margin-large-eps")
    assert large["eps"] == 0.5 and large["fixed_eps"] is True and [w["eps"] for w in saved["worst_case"]] == [0.1]


def test_suite_table_budget_estimate_and_nesting(run, capsys):
    """The table says each row's role and what it attacked and spent; the log states the
    suite's budget first and an estimate after the first batch; ``--no-nesting`` attacks every
    sample with every attack at every eps."""
    argv = ["evaluate", str(run), "--suite", "quick", "--eps", "0.1,0.2", "--n", "30", "--no-large-eps", "--quiet"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    header = next(line for line in captured.out.splitlines() if line.lstrip().startswith("label"))
    assert all(column in header for column in ("role", "attacked", "gradients", "forwards", "survival", "flags"))
    assert "diagnostic" in captured.out and "worst case over all attacks: eps 0.1: robust accuracy" in captured.out
    assert re.search(r"cost: [\d,]+ input-gradient and [\d,]+ forward passes .* nested eps skipped [\d,]+ ", captured.out)
    log = captured.err.splitlines()
    budget = [line for line in log if line.startswith("budget: 6 (attack, eps) cell(s) to compute, at most ")]
    estimate = [line for line in log if line.startswith("estimate after the first batch: at most ~")]
    assert len(budget) == 1 and "gradient-pass units per sample" in budget[0] and len(estimate) == 1, captured.err
    assert log.index(budget[0]) < log.index(estimate[0])
    probes = json.loads((run / "eval" / "robust-quick.json").read_text())["cost"]
    # the quick suite is probes only, and probes run un-nested: every sample at every eps
    assert probes["skipped_nested"] == probes["skipped_active"] == 0 and probes["attacked"] == 3 * 2 * 30

    assert main([*argv[:-1], "--out", str(run / "flat"), "--no-nesting", "--quiet"]) == 0
    flat = json.loads((run / "flat" / "robust-quick.json").read_text())["cost"]
    assert flat["skipped_nested"] == flat["skipped_active"] == 0 and flat["attacked"] == 3 * 2 * 30
    assert "nested eps skipped 0 and the active set 0 of 180" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["evaluate", "RUN", "--batch-size", "0"], ["--batch-size must be a positive integer, got '0'"]),
        (["attack", "RUN", "--attack", "pgd", "--eps", "0.1", "--batch-size", "-1"], ["--batch-size must be a positive integer, got '-1'"]),
        (["transfer", "RUN", "RUN", "--eps", "0.1", "--batch-size", "0"], ["--batch-size must be a positive integer"]),
        (["evaluate", "RUN", "--suite", "quick", "--eps", "0.1", "--n", "0"], ["--n must be a positive integer, got '0'"]),
        (["attack", "RUN", "--attack", "pgd", "--eps", "0.1", "--n", "-5"], ["--n must be a positive integer, got '-5'"]),
        (["transfer", "RUN", "RUN", "--eps", "0.1", "--n", "0"], ["--n must be a positive integer"]),
        (["evaluate", "RUN", "--eps", "0.1"], ["--eps", "without --suite"]),
        (["evaluate", "RUN", "--norm", "l2"], ["--norm", "without --suite"]),
        (["evaluate", "RUN", "--n", "10"], ["--n", "without --suite"]),
        (["evaluate", "RUN", "--no-large-eps"], ["--no-large-eps", "without --suite"]),
        (["evaluate", "RUN", "--no-nesting"], ["--no-nesting", "without --suite"]),
        (["evaluate", "RUN", "--suite", "quick"], ["--suite needs --eps"]),
        (["attack", "RUN", "--attack", "pgd", "--eps", "8"], ["eps 8 (linf) exceeds", "write 8/255, not 8"]),
        (["evaluate", "RUN", "--suite", "quick", "--eps", "1.5"], ["eps 1.5 (linf) exceeds", "in [0, 1] (1)", "write 8/255, not 8"]),
        (["attack", "RUN", "--attack", "square", "--objective", "loss", "--eps", "0.1"], ["attack 'square' takes no objective"]),
        (["evaluate", "RUN", "--suite", "clean", "--eps", "0.1"], ["--eps", "--suite clean, which runs no attack"]),
        (["evaluate", "RUN", "--suite", "quick", "--eps", "0.1", "--split", "val"], ["--suite attacks the test split"]),
        (["attack", "RUN", "--attack", "pgd", "--norm", "l2", "--eps", "100"], ["eps 100 (l2) exceeds", "1×8×8", "(8)"]),
        (["evaluate", "RUN", "--suite", "quick", "--norm", "l2", "--eps", "9"], ["eps 9 (l2) exceeds"]),
        (["transfer", "RUN", "RUN", "--norm", "l2", "--eps", "100"], ["eps 100 (l2) exceeds"]),
        (["attack", "RUN", "--attack", "pgd", "--eps", "0.1", "--device", "tpu"], ["--device", "'tpu'"]),
        (["evaluate", "RUN", "--device", "tpu"], ["--device", "'tpu'"]),
        (["transfer", "RUN", "RUN", "--eps", "0.1", "--device", "tpu"], ["--device", "'tpu'"]),
        (["attack", "RUN", "--attack", "pgd", "--eps", "0.1", "--out", "RUN/config.yaml"], ["config.yaml is a file, not a folder"]),
        (["evaluate", "RUN", "--out", "RUN/config.yaml"], ["config.yaml is a file, not a folder"]),
        (["transfer", "RUN", "RUN", "--eps", "0.1", "--out", "RUN"], ["is a folder; give a file name"]),
        (["transfer", "RUN", "RUN", "--eps", "0.1", "--out", "RUN/config.yaml/t.json"], ["config.yaml is a file, not a folder"]),
    ],
)
def test_bad_inputs_are_one_line(run, capsys, argv, fragments):
    assert main([a.replace("RUN", str(run)) for a in argv]) == 2
    one_error_line(capsys, *fragments)
    assert not (run / "eval").exists() or not any((run / "eval").iterdir())  # refused before anything was written


def test_an_eval_path_that_is_a_file_is_refused_up_front(run, capsys):
    (run / "eval").write_text("")
    assert main(["attack", str(run), *ATTACK, "--eps", "0.1"]) == 2
    one_error_line(capsys, "evaluation folder", "is a file, not a folder", "--out DIR")


def test_transfer_writes_its_file_in_a_new_folder(run, tmp_path, capsys):
    out = tmp_path / "new" / "folder" / "t.json"
    assert main(["transfer", str(run), str(run), "--eps", "8/255", "--n", "10", "--param", "steps=2", "--device", "cpu", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["format"] == "labelrobust-transfer-2" and saved["eps_text"] == "8/255" and saved["eps"] == pytest.approx(8 / 255)
    assert len(saved["weights"]) == 2 and saved["samples"]["n"] == 10
    assert "eps 8/255" in capsys.readouterr().out
