"""A read-only run directory (a colleague's, a finished archive) as an unprivileged user sees it:
evaluate, attack and resume fail at once with one line that says what to do; --out still works.

Root may write anywhere, so the commands run as ``nobody`` (setpriv); the test is skipped where
that is impossible (not root, or no setpriv)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from labelrobust.config import load_config
from labelrobust.training import train

SETPRIV = shutil.which("setpriv")
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv to run as nobody")


@pytest.fixture(scope="module")
def read_only_run():
    top = Path(tempfile.mkdtemp(prefix="labelrobust-ro-"))
    cfg = load_config(None, [("data.train_size", 200), ("data.test_size", 100), ("epochs", 1), ("model.options", {"width": 8}), ("out", str(top)), ("name", "run")])
    run = train(cfg, quiet=True)
    (top / "out").mkdir()
    for path in [top, *top.rglob("*")]:
        path.chmod(0o777 if path.name == "out" else (0o555 if path.is_dir() else 0o444))
    yield run
    for path in [top, *top.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(top)


def as_nobody(*args: str) -> subprocess.CompletedProcess:
    cmd = [SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "labelrobust", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd="/", env={**os.environ, "HOME": "/tmp", "MPLCONFIGDIR": "/tmp"})


@pytest.mark.parametrize(
    "args, message",
    [
        (["evaluate", "{run}"], r"evaluation folder .*/eval cannot be created \(Permission denied\); pass --out DIR"),
        (["attack", "{run}", "--attack", "fgsm", "--eps", "0.1", "--n", "20"], r"evaluation folder .*/eval cannot be created \(Permission denied\); pass --out DIR"),
        (["train", "--resume", "{run}", "--epochs", "2"], r"run directory .*/run is not writable \(permission denied\); copy the run directory"),
    ],
)
def test_read_only_run_is_one_clear_line(read_only_run, args, message):
    result = as_nobody(*[a.format(run=read_only_run) for a in args])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("labelrobust: error: "), result.stderr
    assert re.search(message, lines[0]), lines[0]


def test_read_only_run_can_be_evaluated_elsewhere(read_only_run):
    out = read_only_run.parent / "out" / "eval"
    result = as_nobody("evaluate", str(read_only_run), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "clean-test.json").is_file()
