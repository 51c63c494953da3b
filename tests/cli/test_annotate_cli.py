"""``labelrobust annotate``: import, list, export and stats from the command line, and every bad
input one error line."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from labelrobust.cli.main import main
from tests.cli.test_bad_inputs import error_line, run_main


@pytest.fixture(scope="module")
def survey_db(tmp_path_factory, data_root):
    db = tmp_path_factory.mktemp("annotate-cli") / "labels.sqlite"
    assert main(["annotate", "import", "--db", str(db), "--data-root", str(data_root)]) == 0
    return db


def test_import_list_export(survey_db, tmp_path, capsys):
    capsys.readouterr()
    assert main(["annotate", "list", "--db", str(survey_db)]) == 0
    out = capsys.readouterr().out
    assert "softcifar10-survey" in out and "9903" in out and "10000" in out
    target = tmp_path / "soft.npz"
    assert main(["annotate", "export", "--db", str(survey_db), "--out", str(target)]) == 0
    out = capsys.readouterr().out
    assert "9903 answers (87 all zero)" in out and "9816 images with a soft label" in out
    assert "--data-option soft_labels=" in out
    with np.load(target, allow_pickle=False) as f:
        assert f["soft_labels"].shape == (9816, 10)


def test_stats_prints_the_survey_matrix(survey_db, tmp_path, capsys):
    capsys.readouterr()
    assert main(["annotate", "stats", "--db", str(survey_db), "--out", str(tmp_path / "stats")]) == 0
    out = capsys.readouterr().out
    assert "3.21" in out and "airplane" in out
    assert {"rating-matrix.csv", "rating-matrix.png", "stats.md"} <= {p.name for p in (tmp_path / "stats").iterdir()}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["annotate", "list", "--db", "{tmp}"], "is a folder"),
        (["annotate", "list", "--db", "{tmp}/no/such/x.sqlite"], "does not exist"),
        (["annotate", "list", "--db", "mysql://u@h/d"], "only SQLite files and postgresql"),
        (["annotate", "export", "--db", "{db}", "--out", "{tmp}/x.csv"], "ending in .npz"),
        (["annotate", "export", "--db", "{db}", "--out", "{tmp}/x.npz", "--campaign", "nope"], "no campaign 'nope'"),
        (["annotate", "import", "--db", "{db}", "--data-root", "{data}"], "already in the store"),
        (["annotate", "import", "--db", "{tmp}/n.sqlite", "--data-root", "{tmp}"], "softcifar10"),
        (["annotate", "serve", "--db", "{tmp}/s.sqlite", "--dataset", "cifar10", "--indices", "5:2", "--data-root", "{data}", "--port", "0"], "outside"),
        (["annotate", "serve", "--db", "{tmp}/s.sqlite", "--dataset", "cifar10", "--folder", "{tmp}", "--port", "0"], "exactly one"),
        (["annotate", "serve", "--db", "{tmp}/s.sqlite", "--port", "0"], "holds 0 campaigns"),
        (["annotate", "serve", "--db", "{tmp}/s.sqlite", "--port", "70000"], "--port must be in 0..65535"),
        (["annotate", "serve", "--db", "{tmp}/s.sqlite", "--blur", "-1"], "--blur must be a finite number ≥ 0"),
        (["annotate", "serve", "--db", "{tmp}/s.sqlite", "--repeats", "0"], "--repeats must be a positive integer"),
        (["annotate", "stats", "--db", "{db}", "--force"], "--force is for --out"),
    ],
)
def test_bad_inputs_are_one_line(argv, message, survey_db, data_root, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path, db=survey_db, data=data_root) for a in argv]
    line = error_line(capsys, run_main(argv), only_line=False)
    assert message in line


def test_serve_refuses_a_port_in_use(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        line = error_line(capsys, run_main(["annotate", "serve", "--db", str(tmp_path / "x.sqlite"), "--port", str(port)]))
    assert f"cannot listen on 127.0.0.1:{port}" in line
