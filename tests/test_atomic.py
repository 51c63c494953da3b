"""Atomic writes and checkpoint files: old or new, never torn; unreadable files are clear errors."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from labelrobust.atomic import atomic_write_text, require_writable_dir
from labelrobust.errors import CheckpointError, OutputError
from labelrobust.models.weights import load_weights, save_weights
from labelrobust.training.checkpoint import load_checkpoint, save_checkpoint


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("labelrobust.atomic.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_checkpoint_round_trip_restores_optimizer_and_rng(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "c.safetensors", model, opt, {"epoch": 2, "batch": 5})
    expected_next = torch.rand(3)
    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.SGD(fresh.parameters(), lr=0.5, momentum=0.9)
    progress = load_checkpoint(tmp_path / "c.safetensors", fresh, fresh_opt)
    assert progress == {"epoch": 2, "batch": 5}
    assert torch.equal(fresh.weight, model.weight)
    assert fresh_opt.param_groups[0]["lr"] == 0.1
    assert torch.equal(fresh_opt.state[fresh.weight]["momentum_buffer"], opt.state[model.weight]["momentum_buffer"])
    assert torch.equal(torch.rand(3), expected_next)  # RNG state restored to the save point


def test_unreadable_and_mismatched_files(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(CheckpointError, match="is unreadable"):
        load_checkpoint(tmp_path / "junk.safetensors", model, opt)
    with pytest.raises(CheckpointError, match="no weights file or checkpoint"):
        load_weights(tmp_path / "missing.safetensors", model)
    save_weights(tmp_path / "w.safetensors", model)
    with pytest.raises(CheckpointError, match="not a labelrobust checkpoint"):
        load_checkpoint(tmp_path / "w.safetensors", model, opt)
    with pytest.raises(CheckpointError, match="do not fit the model"):
        load_weights(tmp_path / "w.safetensors", torch.nn.Linear(4, 2))


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "shared.txt", "x")
        os.umask(0o077)
        atomic_write_text(tmp_path / "private.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o644  # readable by colleagues
    assert stat.S_IMODE((tmp_path / "private.txt").stat().st_mode) == 0o600


def test_require_writable_dir_creates_or_refuses(tmp_path):
    assert require_writable_dir(tmp_path / "a" / "b", "run directory").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"run directory .*file/sub cannot be created: .*file is a file, not a folder"):
        require_writable_dir(tmp_path / "file" / "sub", "run directory")
    with pytest.raises(OutputError, match="is a file, not a folder; copy it"):
        require_writable_dir(tmp_path / "file", "eval folder", "copy it")


def test_require_writable_dir_refuses_a_read_only_folder(tmp_path, monkeypatch):
    # As root every folder is writable, so the permission answer is simulated here; the
    # subprocess battery runs the real read-only case as an unprivileged user where possible.
    monkeypatch.setattr("labelrobust.atomic.os.access", lambda path, mode: False)
    with pytest.raises(OutputError, match="is not writable"):
        require_writable_dir(tmp_path, "run directory")
