"""``labelrobust verify``: a real tiny DOUBLE-MNIST run verified from the command line, the
VNN-COMP form on an exported network, and every bad input refused in one line before solving."""

from __future__ import annotations

import json

import pytest
import torch

from labelrobust.cli.main import main
from labelrobust.models.base import build_model
from labelrobust.verify.input_sets import linf_ball
from labelrobust.verify.onnx_io import export_onnx
from labelrobust.verify.properties import argmax_property
from labelrobust.verify.vnnlib import write_vnnlib
from tests.cli.test_bad_inputs import error_line, run_main

FAST = ["--timeout", "20", "--attack-steps", "5", "--attack-restarts", "1", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("verify-cli-runs")
    common = ["--epochs", "1", "--batch-size", "32", "--out", str(out), "--quiet"]
    double = ["--dataset", "double-mnist", "--data-root", str(data_root), "--data-option", "n_train=300", "--data-option", "n_test=10",
              "--labels.name", "multilabel", "--model.name", "multilabel-cnn", "--model-option", "channels=[2,3]"]
    assert main(["train", *double, *common, "--name", "double"]) == 0
    assert main(["train", "--dataset", "digits", "--train-size", "100", "--test-size", "20", "--labels.name", "binary", "--model-option", "width=8", *common, "--name", "codes"]) == 0
    return out


def test_verify_a_run_prints_the_table_and_writes_samples(runs, capsys):
    code = main(["verify", str(runs / "double"), "--eps", "0.002", "--n", "3", *FAST])
    out = capsys.readouterr().out
    assert code == 0 and "robust" in out and "without_milp" in out
    folder = runs / "double" / "verify" / "top2-linf-eps0.002"
    assert sorted(p.name for p in (folder / "samples").iterdir()) == ["0.json", "1.json", "2.json"]
    assert json.loads((folder / "summary.json").read_text())["n"] == 3


def test_vnncomp_form_answers_and_writes_results(tmp_path, capsys):
    torch.manual_seed(0)
    model = build_model("fc", input_shape=(1, 3, 3), out_dim=3, mean=(0.5,), std=(0.5,), hidden=6, depth=1).eval()
    net = export_onnx(model, (1, 3, 3), tmp_path / "net.onnx")
    x = torch.full((1, 3, 3), 0.5)
    with torch.no_grad():
        target = int(model(x[None]).argmax())
    spec = write_vnnlib(linf_ball(x, 1e-4), argmax_property(target, 3), tmp_path / "p.vnnlib")
    code = main(["verify", "--onnx", str(net), "--vnnlib", str(spec), "--results", str(tmp_path / "r.txt"), *FAST])
    assert code == 0 and capsys.readouterr().out.strip() == "unsat"
    assert (tmp_path / "r.txt").read_text() == "unsat\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["verify"], "give a run directory"),
        (["verify", "--onnx", "net.onnx"], "--onnx and --vnnlib go together"),
        (["verify", "RUN", "--set", "layered"], "needs --layer-eps"),
        (["verify", "RUN"], "needs --eps"),
        (["verify", "RUN", "--set", "layered", "--layer-eps", "0.1,-0.1"], "eps of layer 1 must be"),
        (["verify", "RUN", "--eps", "0.1", "--timeout", "0"], "timeout must be"),
        (["verify", "RUN", "--eps", "abc"], "eps must be a number"),
        (["verify", "RUN", "--eps", "0.1", "--workers", "0"], "--workers must be a positive integer"),
    ],
)
def test_bad_command_lines(argv, message, capsys):
    assert message in error_line(capsys, run_main(argv))


def test_bad_runs_and_files(runs, tmp_path, capsys):
    cases = [
        (["verify", str(runs / "codes"), "--eps", "0.1", "--property", "argmax"], "scores are not the network outputs"),
        (["verify", str(runs / "double"), "--set", "layered", "--layer-eps", "0.1", "--perturbed-object", "2"], "perturbed object 2 does not exist"),
        (["verify", str(runs / "double"), "--set", "layered", "--layer-eps", ",".join(["0.1"] * 80)], "eps has 80 layers"),
        (["verify", "--onnx", str(tmp_path / "missing.onnx"), "--vnnlib", str(tmp_path / "p.vnnlib")], "missing.onnx"),
    ]
    (tmp_path / "bad.onnx").write_bytes(b"not an onnx file")
    (tmp_path / "p.vnnlib").write_text("(declare-const X_0 Real)\n(assert (<= X_0 1.0)\n")
    cases.append((["verify", "--onnx", str(tmp_path / "bad.onnx"), "--vnnlib", str(tmp_path / "p.vnnlib")], "bad.onnx"))
    for argv, message in cases:
        line = error_line(capsys, run_main([*argv, *FAST]))
        assert message in line, line
