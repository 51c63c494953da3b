"""Tests of the restricted unpickler: it builds arrays, and refuses everything else."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from labelrobust.data.safe_pickle import NUMPY_ARRAY_GLOBALS, load_restricted
from labelrobust.errors import DataError

# A protocol-0 pickle that calls os.system("echo pwned") when loaded: GLOBAL 'os system',
# MARK, STRING argument, TUPLE, REDUCE, STOP. Written by hand, never passed to pickle.load.
MALICIOUS = b"cos\nsystem\n(S'echo pwned'\ntR."


def test_refuses_os_system(tmp_path: Path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(MALICIOUS)
    with pytest.raises(DataError, match=r"forbidden global os\.system"):
        load_restricted(path, NUMPY_ARRAY_GLOBALS)


def test_no_globals_admits_only_builtins(tmp_path: Path):
    path = tmp_path / "rows.pkl"
    path.write_bytes(pickle.dumps([([0, 1, 2], 3), ([4], 5)], protocol=3))
    assert load_restricted(path, {}) == [([0, 1, 2], 3), ([4], 5)]
    path.write_bytes(pickle.dumps(np.arange(3), protocol=2))
    with pytest.raises(DataError, match=r"forbidden global numpy.*allowed globals: none"):
        load_restricted(path, {})


@pytest.mark.parametrize("protocol", [3, 4])
def test_rebuilds_numpy_arrays(tmp_path: Path, protocol: int):
    data = {"data": np.arange(12, dtype=np.uint8).reshape(2, 6), "labels": [1, 2]}
    path = tmp_path / "batch.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = load_restricted(path, NUMPY_ARRAY_GLOBALS, encoding="latin1")
    np.testing.assert_array_equal(loaded["data"], data["data"])
    assert loaded["labels"] == [1, 2]


# np.arange(4, dtype=uint8) as Python 2's cPickle (protocol 2) writes it, the way the official
# CIFAR batches are stored: the numpy 1 module name, and the pixel buffer as a byte string.
PY2_ARRAY = (
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85U\x01b\x87R"
    b"(K\x01K\x04\x85cnumpy\ndtype\nq\x02U\x02u1K\x00K\x01\x87R"
    b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89U\x04\x00\x01\x02\x03tb."
)


def test_maps_legacy_numpy_core_name(tmp_path: Path):
    path = tmp_path / "old.pkl"
    path.write_bytes(PY2_ARRAY)
    loaded = load_restricted(path, NUMPY_ARRAY_GLOBALS, encoding="latin1")
    np.testing.assert_array_equal(loaded, np.arange(4, dtype=np.uint8))
    assert loaded.dtype == np.uint8


def test_refuses_persistent_ids(tmp_path: Path):
    path = tmp_path / "pid.pkl"
    path.write_bytes(b"Pabc\n.")  # PERSID 'abc', STOP
    with pytest.raises(DataError, match="persistent id"):
        load_restricted(path, {})


def test_truncated_and_missing_files(tmp_path: Path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps(list(range(100)), protocol=3)[:20])
    with pytest.raises(DataError, match=r"cut\.pkl is not a readable pickle"):
        load_restricted(path, {})
    with pytest.raises(DataError, match="cannot read"):
        load_restricted(tmp_path / "absent.pkl", {})
