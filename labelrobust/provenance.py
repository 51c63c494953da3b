"""Where a result came from: versions, the command line, the git commit, timestamps.

Recorded in every run's ``summary.json`` so a number found months later can be traced to the
code and the command that produced it.
"""

from __future__ import annotations

import datetime
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

PACKAGE_DIR = Path(__file__).resolve().parent


def now() -> str:
    """The current time in UTC, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def command_line() -> str:
    """The command that is running, as it can be pasted back into a shell: ``labelrobust train
    ...`` for the command line (also under ``python -m labelrobust``), else ``python SCRIPT ...``."""
    if not sys.argv or not sys.argv[0]:
        return "python"
    program = Path(sys.argv[0])
    if program.name == "labelrobust" or (program.name == "__main__.py" and program.parent.name == "labelrobust"):
        head = ["labelrobust"]
    else:
        head = ["python", sys.argv[0]]
    return shlex.join([*head, *sys.argv[1:]])


def git_commit(directory: Path = PACKAGE_DIR) -> dict | None:
    """The commit of the checkout labelrobust runs from (and whether it has uncommitted changes),
    or None when it was installed from a package or git is missing."""
    if not any((parent / ".git").exists() for parent in [directory, *directory.parents]):
        return None
    try:
        head = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def environment() -> dict:
    """Versions of labelrobust, torch and Python, the host, and the git commit when there is one."""
    from labelrobust import __version__

    return {
        "labelrobust": __version__,
        "git": git_commit(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "host": platform.node(),
    }
