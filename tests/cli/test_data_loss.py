"""A run's work is never lost: real ``python -m labelrobust`` processes, as a user runs them.

Each case runs the command line in a subprocess (its own working directory, no terminal) and
checks what matters to the user: the files that must not change keep their bytes and mtimes,
the files that must change do, and every refusal is one ``labelrobust: error:`` line with exit
status 2 that says what the run directory holds and what to do instead.

- a copied run directory resumes *itself*, never the run its config.yaml names, from any cwd;
- a run whose checkpoint was deleted is neither resumed nor silently retrained;
- ``--name ../../escape`` writes nothing outside ``--out``;
- evaluation results accumulate (a second ``attack`` at another eps keeps the first rows);
- SIGTERM / Ctrl-C checkpoint, exit 143 / 130 with the resume command, and resuming ends with
  exactly the weights of an uninterrupted run.

Subprocesses that do not depend on each other run concurrently, to keep the file short.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

TIMEOUT = 300
UMASK = 0o002
"""The umask the subprocesses run with: files must come out 0664 (not 0600, not 0644)."""

SMALL = ["--dataset", "digits", "--train-size", "300", "--test-size", "100", "--model-option", "width=8", "--batch-size", "32"]
"""A run of about a second per epoch on digits."""

SIGNAL_RUN = ["--dataset", "digits", "--train-size", "300", "--test-size", "50", "--model-option", "width=8", "--batch-size", "16", "--epochs", "3", "--checkpoint-every", "5"]
"""19 batches per epoch, 3 epochs, a mid-epoch checkpoint every 5 batches (every batch makes each
epoch several times slower on this machine, for no extra coverage)."""

RESULT_FILES = ("checkpoint.safetensors", "model.safetensors", "metrics.jsonl", "summary.json", "config.yaml", "train.log")


def _preexec() -> None:
    os.umask(UMASK)


def _env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def cli(args: list[str], cwd: Path, timeout: int = TIMEOUT) -> subprocess.CompletedProcess:
    """``python -m labelrobust ARGS`` in ``cwd``, without a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "labelrobust", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env(), preexec_fn=_preexec, stdin=subprocess.DEVNULL,
    )


def cli_parallel(*calls: tuple[list[str], Path]) -> list[subprocess.CompletedProcess]:
    """Independent command lines at the same time; results in the order given."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: cli(*call), calls))


def show(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def assert_refused(proc: subprocess.CompletedProcess, *phrases: str) -> str:
    """Exit 2 and exactly one stderr line, ``labelrobust: error: ...``, holding every phrase."""
    assert proc.returncode == 2, show(proc)
    assert "Traceback" not in proc.stderr, show(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labelrobust: error: "), show(proc)
    for phrase in phrases:
        assert phrase in lines[0], f"{phrase!r} not in the error line\n{show(proc)}"
    return lines[0]


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and mtime (ns), by relative path."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def same_weights(a: Path, b: Path) -> list[str]:
    """The tensor names whose values differ between two weights files (empty: identical)."""
    ta, tb = load_file(str(a)), load_file(str(b))
    assert ta.keys() == tb.keys()
    return [k for k in ta if not torch.equal(ta[k], tb[k])]


# -- a finished run, trained once by the command line ---------------------------------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """``labelrobust train ... --out runs --name base`` (1 epoch) in a fresh project folder; the
    tests copy ``runs/`` into their own folder. ``out`` is relative, as users write it, so a
    copied config.yaml names the *original* run."""
    project = tmp_path_factory.mktemp("finished")
    proc = cli(["train", *SMALL, "--epochs", "1", "--out", "runs", "--name", "base"], project)
    assert proc.returncode == 0, show(proc)
    return project, proc


def project_with_base(finished, tmp_path: Path) -> Path:
    source, _ = finished
    project = tmp_path / "project"
    shutil.copytree(source / "runs", project / "runs")
    return project


def test_a_fresh_run_says_what_it_does_and_records_it(finished):
    project, proc = finished
    run = project / "runs" / "base"
    # the start decision and one plain line per epoch on stderr, no progress bars without a terminal
    assert "starting runs/base from scratch" in proc.stderr, show(proc)
    assert "epoch 1/1: loss " in proc.stderr, show(proc)
    assert "\r" not in proc.stderr, "a progress bar was drawn although stderr is not a terminal\n" + show(proc)
    assert "run directory: runs/base" in proc.stdout, show(proc)
    log = (run / "train.log").read_text()
    assert "starting runs/base from scratch" in log and "epoch 1/1: loss " in log
    assert log.splitlines()[0][:4].isdigit(), f"train.log lines are not timestamped:\n{log}"
    summary = json.loads((run / "summary.json").read_text())
    env = summary["environment"]
    assert env["labelrobust"] and env["torch"] == torch.__version__ and "git" in env
    assert summary["started"] <= summary["ended"] and summary["device"] == "cpu"
    assert 0.0 <= summary["test"]["accuracy"] <= 1.0
    assert "train" in summary["command"] and "--name base" in summary["command"]
    # the files follow the user's umask
    for p in run.rglob("*"):
        if p.is_file():
            assert p.stat().st_mode & 0o777 == 0o666 & ~UMASK, f"{p.name} has mode {oct(p.stat().st_mode & 0o777)} under umask {oct(UMASK)}"


def test_summary_command_can_be_run_again(finished):
    """summary.json's command is what the user ran (``python -m labelrobust train ...`` or
    ``labelrobust train ...``), so it can be pasted back into a shell."""
    project, _ = finished
    command = json.loads((project / "runs" / "base" / "summary.json").read_text())["command"]
    first = command.split()[0]
    assert first in ("labelrobust", "python", "python3") or first.endswith(("/python", "/python3", "/labelrobust")), command


# -- (a) a copied run resumes itself, from any working directory ----------------------------


def test_copied_run_resumes_itself_not_the_original(finished, tmp_path):
    project = project_with_base(finished, tmp_path)
    runs = project / "runs"
    shutil.copytree(runs / "base", runs / "copy")
    shutil.copytree(runs / "base", runs / "copy2")
    elsewhere = project / "elsewhere"
    elsewhere.mkdir()
    base_before = snapshot(runs / "base")
    base_epoch = metrics(runs / "base")

    in_project, from_elsewhere = cli_parallel(
        (["train", "runs/copy/config.yaml", "--resume", "--epochs", "2"], project),
        (["train", str(runs / "copy2" / "config.yaml"), "--resume", "--epochs", "2"], elsewhere),
    )
    for proc, run in ((in_project, runs / "copy"), (from_elsewhere, runs / "copy2")):
        assert proc.returncode == 0, show(proc)
        assert "continuing" in proc.stderr or "resuming" in proc.stderr, show(proc)
        rows = metrics(run)
        assert [r["epoch"] for r in rows] == [1, 2], show(proc)
        assert rows[0] == base_epoch[0]  # epoch 1 is the copied one, continued, not retrained
        assert "resuming" in (run / "train.log").read_text()
    assert snapshot(runs / "base") == base_before, "resuming a copy changed the original run"
    assert not (elsewhere / "runs").exists(), f"a run was created in the other working directory: {tree(elsewhere)}"
    assert sorted(p.name for p in runs.iterdir()) == ["base", "copy", "copy2"]

    again = cli(["train", "--resume", "runs/copy", "--epochs", "3"], project)
    assert again.returncode == 0, show(again)
    assert [r["epoch"] for r in metrics(runs / "copy")] == [1, 2, 3]
    assert snapshot(runs / "base") == base_before
    summary = json.loads((runs / "copy" / "summary.json").read_text())
    assert summary["epochs"] == 3 and len(summary["sessions"]) == 3


# -- (b) a deleted checkpoint is neither resumed nor trained over ---------------------------


def test_run_without_checkpoint_is_not_resumed_or_retrained(finished, tmp_path):
    project = project_with_base(finished, tmp_path)
    run = project / "runs" / "base"
    (run / "checkpoint.safetensors").unlink()
    before = snapshot(run)

    resumed, plain, plain_config = cli_parallel(
        (["train", "--resume", "runs/base"], project),
        (["train", *SMALL, "--epochs", "1", "--out", "runs", "--name", "base"], project),
        (["train", "runs/base/config.yaml"], project),
    )
    line = assert_refused(resumed, "checkpoint.safetensors", "model.safetensors")
    assert "metrics.jsonl" in line and "--overwrite" in line
    for proc in (plain, plain_config):
        line = assert_refused(proc, "already holds results", "model.safetensors", "--resume", "--overwrite", "--name")
    after = snapshot(run)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"refused commands changed {changed}"
    assert not (run / "checkpoint.safetensors").exists()

    over = cli(["train", *SMALL, "--epochs", "1", "--out", "runs", "--name", "base", "--overwrite"], project)
    assert over.returncode == 0, show(over)
    assert "overwriting runs/base" in over.stderr, show(over)
    assert (run / "checkpoint.safetensors").is_file()
    assert (run / "model.safetensors").stat().st_mtime_ns != before["model.safetensors"][1]
    assert [r["epoch"] for r in metrics(run)] == [1]


# -- (c) a run name cannot escape --out -----------------------------------------------------


def test_name_cannot_escape_out(tmp_path):
    project = tmp_path / "project"
    (project / "a" / "b").mkdir(parents=True)
    before = tree(tmp_path)
    proc = cli(["train", *SMALL, "--epochs", "1", "--out", "a/b/runs", "--name", "../../escape"], project)
    assert_refused(proc, "../../escape", "name")
    assert not (project / "a" / "escape").exists() and not (project / "escape").exists()
    new = sorted(p for p in tree(tmp_path) - before if not p.startswith("project/a/b/runs"))
    assert not new, f"written outside --out: {new}"


# -- (d) evaluation results accumulate --------------------------------------------------------


def _eval_files(run: Path) -> tuple[list[Path], list[Path], list[Path]]:
    folder = run / "eval"
    jsons = [p for p in folder.glob("*.json") if not p.name.endswith(".state.json")]
    return jsons, sorted(folder.glob("*.csv")), sorted(folder.glob("*.png"))


def _eps_rows(run: Path) -> tuple[dict[float, dict], dict[float, dict]]:
    """The attack's rows by eps, from the result JSON and from the CSV."""
    jsons, csvs, _ = _eval_files(run)
    outcomes = [o for p in jsons for o in json.loads(p.read_text()).get("outcomes", [])]
    rows = [r for p in csvs for r in csv.DictReader(p.read_text().splitlines())]
    return {float(o["eps"]): o for o in outcomes}, {float(r["eps"]): r for r in rows}


def test_attack_results_accumulate(finished, tmp_path):
    project = project_with_base(finished, tmp_path)
    run = project / "runs" / "base"
    weights = snapshot(run)["model.safetensors"]

    first = cli(["attack", "runs/base", "--attack", "fgsm", "--eps", "0.1", "--n", "50", "--quiet"], project)
    assert first.returncode == 0, show(first)
    jsons, csvs, pngs = _eval_files(run)
    assert jsons and csvs and pngs, f"eval/ holds {sorted(tree(run / 'eval'))}"
    by_eps, _ = _eps_rows(run)
    assert set(by_eps) == {0.1}

    second = cli(["attack", "runs/base", "--attack", "fgsm", "--eps", "0.2", "--n", "50", "--quiet"], project)
    assert second.returncode == 0, show(second)
    json_rows, csv_rows = _eps_rows(run)
    assert set(json_rows) == {0.1, 0.2}, f"eval JSON holds eps {sorted(json_rows)} after attacks at 0.1 and 0.2"
    assert set(csv_rows) == {0.1, 0.2}, f"eval CSV holds eps {sorted(csv_rows)} after attacks at 0.1 and 0.2"
    assert json_rows[0.1]["robust_accuracy"] == by_eps[0.1]["robust_accuracy"]  # the first row kept as computed
    assert not json_rows[0.1].get("stale")
    _, _, pngs = _eval_files(run)
    assert pngs and all(p.stat().st_size > 0 for p in pngs)
    assert "0.1" in second.stdout and "0.2" in second.stdout, show(second)
    assert snapshot(run)["model.safetensors"] == weights


# -- SIGTERM and Ctrl-C: checkpoint, say how to resume, resume exactly ----------------------


def _interrupt(project: Path, sig: signal.Signals, delay: float = 0.02) -> dict:
    """Start SIGNAL_RUN in ``project`` (runs/run), send ``sig`` ``delay`` s after the first
    epoch line (so it lands inside epoch 2: on an idle machine an epoch takes only ~0.1 s, and
    a longer delay let the run finish before the signal), and collect what happened."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "labelrobust", "train", *SIGNAL_RUN, "--out", "runs", "--name", "run"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), preexec_fn=_preexec, stdin=subprocess.DEVNULL,
    )
    seen, sent = [], False
    deadline = time.monotonic() + TIMEOUT
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("epoch 1/"):
                time.sleep(delay)
                proc.send_signal(sig)
                sent = True
                break
            if time.monotonic() > deadline:
                break
        stderr = "".join(seen) + proc.stderr.read()
        stdout = proc.stdout.read()
        code = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {"sent": sent, "returncode": code, "stdout": stdout, "stderr": stderr, "run": project / "runs" / "run"}


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """The same 3-epoch run three times at once: stopped by SIGTERM, stopped by SIGINT, and
    uninterrupted; then the two stopped runs resumed with ``train --resume runs/run``."""
    term, intr, ref = (tmp_path_factory.mktemp(n) for n in ("sigterm", "sigint", "reference"))
    with ThreadPoolExecutor(3) as pool:
        f_term = pool.submit(_interrupt, term, signal.SIGTERM)
        f_int = pool.submit(_interrupt, intr, signal.SIGINT)
        f_ref = pool.submit(cli, ["train", *SIGNAL_RUN, "--out", "runs", "--name", "run"], ref)
        stopped = {"SIGTERM": f_term.result(), "SIGINT": f_int.result()}
        reference = f_ref.result()
    assert reference.returncode == 0, show(reference)
    checkpoints = {name: snapshot(s["run"]).get("checkpoint.safetensors") for name, s in stopped.items()}
    logs = {name: (s["run"] / "train.log").read_text() if (s["run"] / "train.log").exists() else "" for name, s in stopped.items()}
    epochs_done = {name: len(metrics(s["run"])) if (s["run"] / "metrics.jsonl").exists() else 0 for name, s in stopped.items()}
    resumed = dict(zip(stopped, cli_parallel(*((["train", "--resume", "runs/run"], s["run"].parents[1]) for s in stopped.values()))))
    return {"stopped": stopped, "reference": ref / "runs" / "run", "resumed": resumed, "checkpoints": checkpoints, "logs": logs, "epochs_done": epochs_done}


@pytest.mark.parametrize("sig, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_signal_checkpoints_and_says_how_to_resume(interrupted, sig, code):
    stop = interrupted["stopped"][sig]
    shown = f"exit {stop['returncode']}\n--- stdout\n{stop['stdout']}\n--- stderr\n{stop['stderr']}"
    assert stop["sent"], "the run printed no 'epoch 1/' line to stop after\n" + shown
    assert stop["returncode"] == code, shown
    assert "Traceback" not in stop["stderr"], shown
    assert interrupted["checkpoints"][sig] is not None, "no checkpoint.safetensors after the stop\n" + shown
    lines = [line for line in stop["stderr"].splitlines() if "labelrobust train --resume runs/run" in line]
    assert len(lines) == 1, "no single line with the resume command\n" + shown
    assert sig in lines[0] and "runs/run/checkpoint.safetensors" in lines[0], shown
    assert 1 <= interrupted["epochs_done"][sig] < 3, shown


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(interrupted, sig):
    proc = interrupted["resumed"][sig]
    run, reference = interrupted["stopped"][sig]["run"], interrupted["reference"]
    assert proc.returncode == 0, show(proc)
    assert "continuing" in proc.stderr, show(proc)
    assert [r["epoch"] for r in metrics(run)] == [1, 2, 3]
    differ = same_weights(run / "model.safetensors", reference / "model.safetensors")
    assert not differ, f"resumed weights differ from the uninterrupted run's in {differ}"
    drop = ("seconds",)
    ours = [{k: v for k, v in r.items() if k not in drop} for r in metrics(run)]
    theirs = [{k: v for k, v in r.items() if k not in drop} for r in metrics(reference)]
    assert len(ours) == len(theirs)
    for mine, other in zip(ours, theirs):
        assert mine == pytest.approx(other, rel=1e-6)
    assert json.loads((run / "summary.json").read_text())["test"]["accuracy"] == json.loads((reference / "summary.json").read_text())["test"]["accuracy"]


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_train_log_records_why_the_run_stopped(interrupted, sig):
    """train.log holds what was printed: the stop line with the resume command too, so a job
    log read the next morning says how the run ended and how to continue it."""
    log = interrupted["logs"][sig]
    assert "epoch 1/3" in log, log
    assert sig in log and "labelrobust train --resume" in log, f"train.log after {sig}:\n{log}"
