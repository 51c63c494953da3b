"""The same store on PostgreSQL: a throw-away server from Debian's postgresql in a temporary folder.

Skipped, with the reason, when the server binaries are missing or cannot start here (the
./dev set-up installs them with apt-get where it can).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from labelrobust.annotate import create_campaign, join, open_store, submit
from labelrobust.annotate.campaigns import prepare_campaign
from labelrobust.annotate.export import export_soft_labels
from labelrobust.annotate.store import AnnotationRefused, answer_table
from tests.annotate.store_fixtures import answer_all_concurrently

K = 10


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; Debian's package made the "postgres" user for it
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@pytest.fixture(scope="module")
def postgres_url():
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql; ./dev test installs it as root)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as an unprivileged user")
    # not under pytest's tmp folder: its parents are private to this user, and the server runs as another
    base = Path(tempfile.mkdtemp(prefix="labelrobust-postgres-"))
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        os.chmod(base, 0o755)
    port = _free_port()
    init = subprocess.run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
                          capture_output=True, text=True)
    if init.returncode != 0:
        pytest.skip(f"initdb failed here: {init.stderr.strip().splitlines()[-1:]}")
    options = f"-p {port} -k {sockets} -c listen_addresses='' -c fsync=off"
    start = subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(base / "log"), "start"]),
                           capture_output=True, text=True)
    if start.returncode != 0:
        pytest.skip(f"the PostgreSQL server did not start: {(base / 'log').read_text()[-300:] if (base / 'log').exists() else start.stderr}")
    subprocess.run(_as_server_user([str(bin_dir / "createdb"), "-h", str(sockets), "-p", str(port), "-U", "postgres", "labels"]), check=True)
    yield f"postgresql://postgres@/labels?host={sockets}&port={port}"
    subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def test_store_on_postgresql(postgres_url, data_root, tmp_path):
    engine = open_store(postgres_url)
    assert engine.dialect.name == "postgresql"
    spec, images = prepare_campaign("pg", dataset="cifar10", split="train", indices="0:24", data_root=data_root)
    campaign = create_campaign(engine, spec, images)
    got = answer_all_concurrently(engine, campaign, [f"p{i}" for i in range(3)])
    answered = [i for ids in got.values() for i in ids]
    assert len(answered) == 24 and len(set(answered)) == 24  # locked FOR UPDATE: no image twice
    p0 = join(engine, campaign, "p0")
    with pytest.raises(AnnotationRefused, match="already recorded"):
        submit(engine, p0, got["p0"][0], [2] * K, f"p0-sub-{got['p0'][0]:05d}")
    table = answer_table(engine, campaign)
    assert len(table) == 24 and (table.ratings == 1).all()
    summary = export_soft_labels(engine, campaign, tmp_path / "pg.npz")
    with np.load(summary.path, allow_pickle=False) as f:
        assert f["indices"].tolist() == list(range(24))
    engine.dispose()
    assert open_store(postgres_url).dialect.name == "postgresql"  # reopening finds the current schema
