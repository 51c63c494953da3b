"""Bad input to ``labelrobust train`` and to ``labelrobust.train``: one clear line, never a traceback.

Through ``labelrobust.cli.main.main`` (in-process): every refusal returns 2 and writes exactly
one stderr line, ``labelrobust: error: ...``, holding a phrase that tells the user what was
wrong. Through the API: ``ConfigError`` with the same message (never a ZeroDivisionError or a
CUDA traceback). And the inputs people write that must be *accepted*: ``--lr 6e-5``,
``lr: 1e-3`` in YAML, ``scale=3.5e2``, ``lam=inf``, ``-v`` after the subcommand.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml

import labelrobust as lr
from labelrobust.cli.main import main
from labelrobust.config import OptimConfig, TrainConfig
from labelrobust.errors import ConfigError, LabelRobustError

SMALL = ["--dataset", "digits", "--train-size", "100", "--test-size", "50", "--model-option", "width=8", "--epochs", "1", "--batch-size", "32", "--quiet"]


def run_main(argv: list[str]) -> int:
    """``main(argv)``'s exit status, also when argparse ends it with SystemExit."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1


def error_line(capsys, code: int, *, only_line: bool = True) -> str:
    """Check ``code`` is 2 and stderr holds exactly one error line; return it.

    ``only_line``: the error is all of stderr (refusals before any work). Otherwise the progress
    lines of work that had started (``loaded ...``, ``starting ...``, a data warning) may come
    first, but the error is still one line and the last one.
    """
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}, stderr:\n{err}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("labelrobust: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"not one error line at the end:\n{err}"
    if only_line:
        assert len(lines) == 1, f"stderr is more than the error line:\n{err}"
    return errors[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One finished run (``done``) and the damaged variants the resume cases need."""
    out = tmp_path_factory.mktemp("bad-inputs-runs")
    assert main(["train", *SMALL, "--out", str(out), "--name", "done"]) == 0
    shutil.copytree(out / "done", out / "nock")
    (out / "nock" / "checkpoint.safetensors").unlink()  # deleted by hand, results remain
    (out / "early").mkdir()  # stopped before its first checkpoint
    for name in ("config.yaml", "dataset_report.json", "train.log"):
        shutil.copy(out / "done" / name, out / "early" / name)
    (out / "evalonly" / "eval").mkdir(parents=True)  # only evaluation results
    shutil.copy(out / "done" / "config.yaml", out / "evalonly" / "config.yaml")
    (out / "evalonly" / "eval" / "clean-test.json").write_text("{}")
    (out / "empty").mkdir()
    (out / "a-file").write_text("not a folder\n")
    (out / "bad.yaml").write_text("optim: {lr: 0.1\n")
    (out / "list.yaml").write_text("- lr\n- 0.1\n")
    (out / "typo.yaml").write_text("optim: {lrr: 0.1}\n")
    return out


# -- the refusals ---------------------------------------------------------------------------

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")

# (argv after "train", a regex the error line must match); {R} is the runs folder of `runs`.
REFUSED = [
    # numbers
    pytest.param(["--lr", "abc"], r"optim\.lr.*must be a number", id="lr-abc"),
    pytest.param(["--lr", "0"], r"optim\.lr must be > 0", id="lr-0"),
    pytest.param(["--lr", "-6e-5"], r"optim\.lr must be > 0", id="lr-negative"),
    pytest.param(["--lr", "nan"], r"optim\.lr.*finite", id="lr-nan"),
    pytest.param(["--lr", "inf"], r"optim\.lr.*finite", id="lr-inf"),
    pytest.param(["--epochs", "-1"], r"epochs must be ≥ 1", id="epochs-negative"),
    pytest.param(["--epochs", "0"], r"epochs must be ≥ 1", id="epochs-0"),
    pytest.param(["--epochs", "1.5"], r"'epochs' must be an integer", id="epochs-float"),
    pytest.param(["--batch-size", "0"], r"batch_size must be ≥ 1", id="batch-size-0"),
    pytest.param(["--momentum", "1"], r"optim\.momentum must be in \[0, 1\)", id="momentum-1"),
    pytest.param(["--checkpoint-every", "-1"], r"checkpoint_every must be ≥ 0", id="checkpoint-every-negative"),
    pytest.param(["--divergence-factor", "0.5"], r"divergence_factor must be 0 \(off\) or > 1", id="divergence-factor-half"),
    pytest.param(["--set", "optim.lrr=0.1"], r"unknown config key 'optim\.lrr'", id="unknown-key"),
    pytest.param(["--lrr", "0.1"], r"--lrr", id="unknown-flag"),
    # devices
    pytest.param(["--device", "cuda"], r"CUDA is not available", id="device-cuda", marks=NO_CUDA),
    pytest.param(["--device", "cuda:1"], r"CUDA is not available|cuda:1", id="device-cuda-1", marks=NO_CUDA),
    pytest.param(["--device", "tpu"], r"'tpu'.*use cpu, cuda, cuda:N or mps", id="device-tpu"),
    pytest.param(["--device", "gpu"], r"'gpu'.*use cpu, cuda, cuda:N or mps", id="device-gpu"),
    # names
    pytest.param(["--name", "../../escape"], r"name must be a single folder name.*'\.\./\.\./escape'", id="name-escape"),
    pytest.param(["--name", "a/b"], r"name must be a single folder name.*'a/b'", id="name-slash"),
    pytest.param(["--name", "."], r"name must be a single folder name.*'\.'", id="name-dot"),
    pytest.param(["--name", ".."], r"name must be a single folder name.*'\.\.'", id="name-dotdot"),
    # files where folders belong
    pytest.param(["--out", "{R}/a-file", "--name", "x"], r"a-file is a file, not a folder", id="out-is-a-file"),
    pytest.param(["--out", "{R}/a-file/sub", "--name", "x"], r"a-file is a file, not a folder", id="out-below-a-file"),
    pytest.param(["--dataset", "mnist", "--data-root", "{R}/a-file", "--name", "x"], r"data root .*a-file is a file, not a folder", id="data-root-is-a-file"),
    # config files
    pytest.param(["{R}/bad.yaml"], r"bad\.yaml is not valid YAML", id="yaml-syntax"),
    pytest.param(["{R}/list.yaml"], r"list\.yaml must hold a mapping", id="yaml-list"),
    pytest.param(["{R}/typo.yaml"], r"unknown config key 'lrr'", id="yaml-unknown-key"),
    pytest.param(["{R}/missing.yaml"], r"missing\.yaml does not exist", id="yaml-missing"),
    # data
    pytest.param(["--train-size", "5", "--name", "x"], r"train_size 5 .*10 classes", id="train-size-below-classes"),
    pytest.param(["--train-size", "0", "--name", "x"], r"train_size must be ≥ 1", id="train-size-0"),
    pytest.param(["--classes", "3", "--name", "x"], r"at least 2 classes", id="classes-single-index"),
    pytest.param(["--classes", "cat", "--name", "x"], r"unknown class 'cat' for digits", id="classes-unknown-name"),
    # resume
    pytest.param(["--resume", "--out", "{R}/no-runs"], r"nothing to resume: .*no-runs/digits-mnist-cnn-onehot-seed0 does not exist", id="resume-by-flags-nothing-there"),
    pytest.param(["--resume", "{R}/missing"], r"nothing to resume: .*missing does not exist", id="resume-missing-folder"),
    pytest.param(["--resume", "{R}/empty"], r"empty.*(without a config\.yaml|no checkpoint|nothing to resume)", id="resume-empty-folder"),
    pytest.param(["--resume", "{R}/nock"], r"nock.*no checkpoint\.safetensors.*model\.safetensors.*metrics\.jsonl", id="resume-checkpoint-deleted"),
    pytest.param(["{R}/nock/config.yaml", "--resume"], r"nock.*no checkpoint\.safetensors.*model\.safetensors", id="resume-config-checkpoint-deleted"),
    pytest.param(["--resume", "{R}/early"], r"nothing to resume in .*early.*config\.yaml.*no checkpoint", id="resume-before-first-checkpoint"),
    pytest.param(["--resume", "--overwrite", "{R}/done"], r"--resume .*--overwrite", id="resume-and-overwrite"),
    pytest.param(["--resume", "{R}/done", "--name", "x"], r"drop --name", id="resume-with-name"),
    pytest.param(["--resume", "{R}/done", "--out", "{R}/elsewhere"], r"drop --out", id="resume-with-out"),
    pytest.param(["{R}/done/config.yaml", "--resume", "--name", "x"], r"drop --name", id="resume-config-with-name"),
    pytest.param(["--resume", "{R}/done", "--lr", "0.01"], r"differs from the saved one in optim\.lr\b", id="resume-changes-lr"),
    pytest.param(["--resume", "{R}/done", "--batch-size", "16", "--seed", "3"], r"differs .* in batch_size, seed\b", id="resume-changes-two-keys"),
    pytest.param(["--resume", "{R}/done", "--label-space", "smoothing"], r"differs .* in labels\.name", id="resume-changes-label-space"),
    # training over results
    pytest.param(["--out", "{R}", "--name", "done"], r"already holds results \(checkpoint\.safetensors.*--resume.*--overwrite.*--name", id="train-over-results"),
    pytest.param(["{R}/done/config.yaml"], r"done already holds results.*--resume.*--overwrite", id="train-over-results-by-config"),
    pytest.param(["{R}/done"], r"done already holds results.*--resume.*--overwrite", id="train-over-results-by-dir"),
    pytest.param(["--out", "{R}", "--name", "evalonly"], r"already holds results \(eval/\)", id="train-over-evaluations"),
]


def _fill(argv: list[str], runs_dir: Path) -> list[str]:
    return [a.replace("{R}", str(runs_dir)) for a in argv]


@pytest.mark.parametrize("argv, message", REFUSED)
def test_refused_with_one_line(argv, message, runs, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a default out (./runs) lands in the test's folder
    before = {p.name: p.stat().st_mtime_ns for p in (runs / "done").iterdir()}
    # flags that describe a run go with every case that starts one; --resume cases take no others
    tail = _fill(argv, runs)
    has_config = bool(tail) and not tail[0].startswith("-")
    extra = [] if ("--resume" in tail or has_config) else [*SMALL, "--out", str(tmp_path / "runs")]
    line = error_line(capsys, run_main(["train", *extra, *tail]))
    assert re.search(message, line), line
    assert {p.name: p.stat().st_mtime_ns for p in (runs / "done").iterdir()} == before, "a refused command touched the finished run"


def test_negative_number_in_exponent_notation_is_a_value():
    """``--method.bias -5e-1`` (CLIRAT's β = −0.5 as people write it) is a value, not a flag."""
    from labelrobust.cli.main import build_parser

    args = build_parser().parse_args(["train", "--method.bias", "-5e-1", "--lr", "6e-5"])
    assert dict(args.overrides) == {"method.params.bias": -0.5, "optim.lr": 6e-05}


def test_label_param_not_a_number(capsys, tmp_path):
    code = main(["train", *SMALL, "--out", str(tmp_path), "--label-space", "binary", "--label-param", "scale=abc"])
    assert re.search(r"scale.*'abc'", error_line(capsys, code, only_line=False))


def test_single_class_of_cifar10(capsys, tmp_path, data_root):
    code = main(["train", "--dataset", "cifar10", "--data-root", str(data_root), "--classes", "cat", "--out", str(tmp_path)])
    # cifar10 warns first that the shared data hold one training batch of five
    assert re.search(r"at least 2 classes", error_line(capsys, code, only_line=False))


# -- a loss that explodes -------------------------------------------------------------------

DIVERGING = ["--dataset", "digits", "--train-size", "300", "--test-size", "50", "--model-option", "width=8", "--epochs", "2", "--batch-size", "32", "--quiet"]


def _checkpoint_claim_is_true(line: str, run: Path) -> None:
    """The message names the checkpoint only when it exists, and says there is none otherwise."""
    exists = (run / "checkpoint.safetensors").is_file()
    if "checkpoint.safetensors" in line:
        assert exists, f"the message names a checkpoint that does not exist: {line}"
    if exists:
        assert str(run / "checkpoint.safetensors") in line, f"a checkpoint exists but the message does not say so: {line}"
    else:
        assert "no checkpoint" in line, line


@pytest.mark.parametrize("extra", [[], ["--checkpoint-every", "2"]], ids=["no-checkpoint-yet", "mid-epoch-checkpoint"])
def test_exploding_loss_stops(extra, capsys, tmp_path):
    code = main(["train", *DIVERGING, *extra, "--label-space", "binary", "--label-param", "scale=350", "--lr", "2e-4", "--out", str(tmp_path), "--name", "d"])
    line = error_line(capsys, code, only_line=False)
    assert line.startswith("labelrobust: error: training diverged: "), line
    _checkpoint_claim_is_true(line, tmp_path / "d")
    assert not (tmp_path / "d" / "model.safetensors").exists() and not (tmp_path / "d" / "summary.json").exists()


@pytest.mark.parametrize(
    "extra, value",
    [
        (["--lr", "1e3", "--divergence-factor", "0"], "nan"),
        (["--label-space", "binary", "--label-param", "scale=350", "--lr", "2e-4", "--divergence-factor", "0"], "inf"),
    ],
    ids=["nan", "inf"],
)
def test_nan_or_inf_loss_stops_as_diverged(extra, value, capsys, tmp_path):
    code = main(["train", *DIVERGING, *extra, "--out", str(tmp_path), "--name", "d"])
    line = error_line(capsys, code, only_line=False)
    _checkpoint_claim_is_true(line, tmp_path / "d")
    assert value in line.lower(), line
    assert line.startswith("labelrobust: error: training diverged: "), line


# -- what must be accepted ------------------------------------------------------------------


def _saved(run: Path) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())


def test_lr_as_people_write_it(capsys, tmp_path):
    assert main(["train", *SMALL, "--lr", "6e-5", "--out", str(tmp_path), "--name", "r"]) == 0
    err = capsys.readouterr().err
    assert _saved(tmp_path / "r")["optim"]["lr"] == 6e-05
    assert lr.load_config(tmp_path / "r" / "config.yaml").optim.lr == 6e-05
    # the decision is printed without -v, and the epoch line shows the lr unrounded
    assert f"starting {tmp_path / 'r'} from scratch" in err and "epoch 1/1: loss " in err and "lr 6e-05" in err, err


def test_yaml_lr_1e_3(capsys, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{name: digits, train_size: 100, test_size: 50}}\nmodel: {{options: {{width: 8}}}}\noptim:\n  lr: 1e-3\nepochs: 1\nbatch_size: 32\nout: {tmp_path}\nname: y\n")
    assert lr.load_config(config).optim.lr == 1e-3
    assert main(["train", str(config), "--quiet"]) == 0
    assert _saved(tmp_path / "y")["optim"]["lr"] == 1e-3


def test_label_param_scale_in_exponent_notation(capsys, tmp_path):
    assert main(["train", *SMALL, "--label-space", "binary", "--label-param", "scale=3.5e2", "--lr", "1e-6", "--out", str(tmp_path), "--name", "s"]) == 0
    assert _saved(tmp_path / "s")["labels"]["params"]["scale"] == 350.0


def test_wasserstein_lam_inf(capsys, tmp_path):
    assert main(["train", *SMALL, "--label-space", "wasserstein", "--label-param", "lam=inf", "--out", str(tmp_path), "--name", "w"]) == 0
    assert math.isinf(_saved(tmp_path / "w")["labels"]["params"]["lam"])
    assert math.isinf(lr.load_config(tmp_path / "w" / "config.yaml").labels.params["lam"])


@pytest.mark.parametrize("position", ["before", "after"])
def test_verbose_before_or_after_the_subcommand(position, capsys, tmp_path):
    argv = ["train", *SMALL, "--out", str(tmp_path), "--name", "v"]
    argv = ["-v", *argv] if position == "before" else [*argv, "-v"]
    assert main(argv) == 0, capsys.readouterr().err
    assert logging.getLogger("labelrobust").level == logging.DEBUG
    assert main(["train", *SMALL, "--out", str(tmp_path), "--name", "q"]) == 0  # and without -v it is off again
    assert logging.getLogger("labelrobust").level == logging.INFO


@pytest.mark.parametrize("name", ["2024", "1e-3", "inf", "true", "null"])
def test_run_names_that_look_like_numbers(name, capsys, tmp_path):
    """A run name is a folder name: ``--name 2024`` or ``--name 1e-3`` (an lr sweep) names a
    folder of that name (not an error, and not silently the default name)."""
    code = main(["train", *SMALL, "--out", str(tmp_path), "--name", name])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / name / "model.safetensors").is_file()


def test_out_folder_that_looks_like_a_number(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["train", *SMALL, "--out", "2024", "--name", "r"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "2024" / "r" / "model.safetensors").is_file()


def test_resume_may_change_where_it_runs(runs, capsys, tmp_path):
    run = tmp_path / "done"
    shutil.copytree(runs / "done", run)
    argv = ["train", "--resume", str(run), "--epochs", "2", "--checkpoint-every", "3", "--device", "cpu", "--divergence-factor", "50", "--data-root", str(tmp_path)]
    assert main(argv) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "continuing" in err, err
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert main(["train", *SMALL, "--out", str(tmp_path), "--name", "done", "--overwrite"]) == 0
    err = capsys.readouterr().err
    assert f"overwriting {run}" in err, err
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1


# -- the API ------------------------------------------------------------------------------


def _api_config(tmp_path: Path, **top) -> dict:
    return {"data": {"name": "digits", "train_size": 100, "test_size": 50}, "model": {"options": {"width": 8}}, "epochs": 1, "batch_size": 32, "out": str(tmp_path), **top}


@pytest.mark.parametrize(
    "call, message",
    [
        pytest.param(lambda p: lr.train(TrainConfig(epochs=-1)), r"epochs must be ≥ 1", id="epochs-negative"),
        pytest.param(lambda p: TrainConfig(batch_size=0), r"batch_size must be ≥ 1", id="batch-size-0"),
        pytest.param(lambda p: lr.train({"batch_size": 0}), r"batch_size must be ≥ 1", id="dict-batch-size-0"),
        pytest.param(lambda p: lr.train({"epochs": 0}), r"epochs must be ≥ 1", id="dict-epochs-0"),
        pytest.param(lambda p: lr.train({"optim": {"lrr": 0.1}}), r"unknown config key 'lrr'", id="dict-unknown-key"),
        pytest.param(lambda p: lr.train({"epochz": 3}), r"unknown config key 'epochz'", id="dict-unknown-top-key"),
        pytest.param(lambda p: lr.train({"optim": 3}), r"'optim' must be a mapping", id="dict-section-not-a-mapping"),
        pytest.param(lambda p: lr.train({"optim": {"lr": "abc"}}), r"optim\.lr.*must be a number", id="dict-lr-abc"),
        pytest.param(lambda p: lr.train({"name": "../x"}), r"single folder name", id="dict-name-escape"),
        pytest.param(lambda p: lr.train([("epochs", 1)]), r"TrainConfig or a mapping", id="list"),
        pytest.param(lambda p: lr.train(3), r"TrainConfig or a mapping", id="int"),
        pytest.param(lambda p: lr.train(_api_config(p, device="tpu")), r"unknown device 'tpu'", id="device-tpu"),
        pytest.param(lambda p: lr.train(_api_config(p, device="cuda")), r"CUDA is not available", id="device-cuda", marks=NO_CUDA),
        pytest.param(lambda p: lr.train(_api_config(p, name="r"), resume=True, overwrite=True), r"resume.*overwrite", id="resume-and-overwrite"),
    ],
)
def test_api_refuses_with_config_error(call, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        call(tmp_path)
    assert not (tmp_path / "runs").exists()


def test_api_resume_of_nothing(tmp_path):
    with pytest.raises(LabelRobustError, match=r"nothing to resume"):
        lr.train(_api_config(tmp_path, name="missing"), resume=True)
    assert not (tmp_path / "missing").exists()


def test_api_takes_a_dict_with_numbers_as_strings(tmp_path):
    run = lr.train(_api_config(tmp_path, name="d", optim={"lr": "1e-3"}), quiet=True)
    assert run == tmp_path / "d" and (run / "model.safetensors").is_file()
    assert _saved(run)["optim"]["lr"] == 1e-3
    assert TrainConfig(optim=OptimConfig(lr="6e-5")).optim.lr == 6e-05
