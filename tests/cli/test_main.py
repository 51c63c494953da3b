"""The command line: train / evaluate / compare / list, and clear errors with exit status 2."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from labelrobust.cli.main import build_parser, main
from labelrobust.cli.parser import UsageError
from labelrobust.config import TrainConfig

SMALL = ["--dataset", "digits", "--train-size", "300", "--test-size", "120", "--model-option", "width=8", "--epochs", "2", "--batch-size", "32", "--quiet"]


def test_train_then_evaluate(tmp_path, capsys):
    assert main(["train", *SMALL, "--label-space", "binary", "--label-param", "scale=1.0", "--out", str(tmp_path), "--name", "rbc"]) == 0
    out = capsys.readouterr().out
    assert "train_acc" in out and f"run directory: {tmp_path / 'rbc'}" in out
    assert main(["evaluate", str(tmp_path / "rbc"), "--confusion"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "abstain" in out
    saved = json.loads((tmp_path / "rbc" / "eval" / "clean-test.json").read_text())
    assert saved["n"] == 120 and 0.0 <= saved["accuracy"] <= 1.0
    assert (tmp_path / "rbc" / "eval" / "clean-test.csv").read_text().startswith("run,n,accuracy,abstain_rate")


def test_yaml_config_and_flag_precedence(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{name: digits, train_size: 200, test_size: 100}}\nepochs: 5\nout: {tmp_path}\nname: y\nmodel: {{options: {{width: 8}}}}\n")
    assert main(["train", str(cfg), "--epochs", "1", "--quiet"]) == 0
    lines = (tmp_path / "y" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1  # the flag beat the file
    # the saved config re-runs as is, and --resume with it continues the same run
    assert main(["train", str(tmp_path / "y" / "config.yaml"), "--resume", "--quiet", "--epochs", "2"]) == 0
    assert len((tmp_path / "y" / "metrics.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--dataset", "mnits"], "unknown dataset 'mnits'; known: .*mnist"),
        (["train", "--label-space", "binary", "--label-param", "bits=2"], "2 bits encode at most 4 classes"),
        (["train", "--set", "optim.lrr=0.1"], "unknown config key 'optim.lrr'"),
        (["train", "--label-param", "eps"], "must look like key=value"),
        (["train", "--dataset", "mnist", "--data-root", "/nonexistent/root"], "/nonexistent/root"),
        (["evaluate", "/nonexistent/run"], "is not a run directory"),
        (["train", "--method", "clirat"], r"method 'clirat' needs parameter eps \(method.params.eps\)"),
        (["train", "--method", "madry", "--eps", "0.3"], "unknown training method 'madry'"),
        (["train", "--method", "at", "--eps", "0.1", "--method.inner", "square"], "method 'at': attack 'square' cannot be an inner maximisation"),
        (["train", "--method", "at", "--eps", "0.1", "--method.trades-beta", "6"], "method 'at' has no parameter 'trades_beta'; accepted: eps,"),
        (["train", "--set", "method.eps=0.3"], r"method parameters go under method.params, e.g. method.params.eps"),
    ],
)
def test_errors_are_one_clear_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)] if argv[0] == "train" else argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("labelrobust: error: ")
    assert __import__("re").search(message, err), err
    assert "Traceback" not in err


def test_help_shows_the_api_defaults(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    defaults = TrainConfig()
    assert f"default: {defaults.optim.lr!r}" in text and "--optim.lr" in text and "--lr" in text
    assert f"default: {defaults.data.name!r}" in text


def listed(capsys, kind: str) -> dict[str, str]:
    assert main(["list", kind]) == 0
    rows = [line.split(None, 1) for line in capsys.readouterr().out.splitlines()]
    assert all(len(row) == 2 and len(row[1]) > 10 for row in rows), f"every {kind} entry needs a description: {rows}"
    return dict(rows)


def test_list(capsys):
    assert list(listed(capsys, "label-spaces")) == ["binary", "deepbe", "interval", "multilabel", "onehot", "smoothing", "soft", "wasserstein"]
    assert "soft CIFAR-10 survey" in listed(capsys, "datasets")["softcifar10"]
    assert {"at", "trades", "mart", "clirat", "wpgd"} <= set(listed(capsys, "methods"))
    assert "cl-pm" in listed(capsys, "methods")["clirat"]
    assert {"pgd", "autoattack", "square"} <= set(listed(capsys, "attacks"))
    assert set(listed(capsys, "objectives")) == {"loss", "margin", "dlr", "ce", "top2-margin"}
    assert re.match(r"\d+ attacks\W+fgsm", listed(capsys, "suites")["standard"])  # the suite's own size is the evaluation's business
    assert "multi-label" in listed(capsys, "datasets")["double-mnist"]
    assert "black-rectangle" in listed(capsys, "augmentations")
    listed(capsys, "models")
    with pytest.raises(UsageError, match="invalid choice: 'metrics'"):
        build_parser().parse_args(["list", "metrics"])
    assert main(["list", "metrics"]) == 2
    assert capsys.readouterr().err.startswith("labelrobust: error: labelrobust list: argument kind: invalid choice")


def test_train_with_a_method(tmp_path, capsys):
    argv = ["train", *SMALL, "--method", "clirat", "--eps", "8/255", "--method.steps", "2", "--out", str(tmp_path), "--name", "clir"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "adv_train_acc" in out and "weight_mean" in out and "pm_hist" not in out  # histograms stay in the file
    summary = json.loads((tmp_path / "clir" / "summary.json").read_text())
    assert summary["method"]["preset"] == "clirat" and summary["method"]["params"]["eps"] == pytest.approx(8 / 255)
    assert summary["method"]["reweight"]["margin"] == "cl-pm" and summary["method"]["inner"]["budget"]["steps"] == 2


def test_method_flags_set_method_params(capsys):
    """``--method.X`` (and ``--eps``) set ``method.params.X``, in command-line order, and the
    help documents every method parameter with the methods that take it."""
    argv = ["train", "--method", "at", "--eps", "0.3", "--method.eps-warmup", "2", "--method.burn-in", "75", "--method.trades-beta", "6",
            "--method.inner", "fgsm-rs", "--method-param", "gamma=3", "--set", "method.params.bias=-0.2"]
    assert build_parser().parse_args(argv).overrides == [
        ("method.name", "at"), ("method.params.eps", 0.3), ("method.params.eps_warmup", 2), ("method.params.burn_in", 75),
        ("method.params.trades_beta", 6), ("method.params.inner", "fgsm-rs"), ("method.params.gamma", 3), ("method.params.bias", -0.2),
    ]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--method.eps VALUE, --eps VALUE", "--method.eps-warmup", "--method.burn-in", "--method.trades-beta", "--method.inner", "--method-param KEY=VALUE"):
        assert flag in text, flag
    assert "fgsm-rs (fast AT" in text and "[trades] (default: 6.0)" in text and "[noise] (required)" in text


def test_fast_at_is_one_flag(tmp_path, capsys):
    argv = ["train", *SMALL, "--method", "at", "--eps", "0.1", "--method.inner", "fgsm-rs", "--out", str(tmp_path), "--name", "fast"]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "fast" / "summary.json").read_text())
    assert summary["method"]["inner"]["name"] == "fgsm-rs" and summary["method"]["params"]["inner"] == "fgsm-rs"
    assert "config_version: 2" in (tmp_path / "fast" / "config.yaml").read_text()


def test_compare_quickstart_small(tmp_path, capsys):
    argv = ["compare", "--quiet", "--set", f"out={tmp_path}", "--set", "epochs=1", "--set", "data.train_size=300", "--set", "data.test_size=100"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "onehot" in out and "rbc" in out and "clean accuracy" in out
    # a second call reuses the finished runs instead of retraining
    mtime = (tmp_path / "onehot" / "model.safetensors").stat().st_mtime_ns
    assert main(argv) == 0
    assert (tmp_path / "onehot" / "model.safetensors").stat().st_mtime_ns == mtime


def test_compare_file_errors(tmp_path, capsys):
    bad = tmp_path / "cmp.yaml"
    bad.write_text("base: {}\nvariant: {}\n")
    assert main(["compare", str(bad)]) == 2
    assert "must have 'base'" in capsys.readouterr().err


def test_help_describes_every_flag():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if action.help is argparse.SUPPRESS:
                continue
            text = action.help or ""
            assert len(text) > 12 and not text.startswith("default"), f"labelrobust {name} {action.option_strings or action.dest}: {text!r}"
