"""``labelrobust reproduce softlabel --scale ci`` end to end on the real survey, CIFAR-10H and the
disk: every table complete, rates sane, the worst case never above an attack, claims with valid
verdicts, a self-contained report, a rerun that reuses everything, and the paper configs."""

from __future__ import annotations

import json
import re
import time

import pytest

from labelrobust.cli.main import main
from labelrobust.reproduce.claims import VERDICTS
from labelrobust.reproduce.studies.softlabel import EPS, MODELS
from labelrobust.reproduce.study import dry_run, reproduce


@pytest.fixture(scope="module")
def first(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("softlabel-ci")
    started = time.perf_counter()
    report, written = reproduce("softlabel", "ci", out, data_root=str(data_root))
    return out, report, written, time.perf_counter() - started


def _table(report, title_start):
    return [t for s in report.sections for t in s.tables if t.title.startswith(title_start)]


def test_every_table_of_the_study_is_there_for_both_datasets(first):
    _, report, _, _ = first
    for start in ("Clean accuracy", "Untargeted survival", "Targeted survival", "Gradient-masking"):
        assert len(_table(report, start)) == 2, start
    disk = _table(report, "Survival on the disk")[0]
    assert [row[0] for row in disk.rows] == [0.5, 0.25, 0.1, 0.01, 0.001]
    for table in _table(report, "Untargeted survival"):
        assert [row[0] for row in table.rows] == list(MODELS)
        assert all(f"{a} @{e:g}" in table.columns for a in ("own loss", "margin", "worst") for e in EPS)
    for table in _table(report, "Targeted survival"):
        assert table.columns[1:11] == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_rates_are_rates_and_the_worst_case_is_never_above_either_attack(first):
    _, report, _, _ = first
    for table in _table(report, "Untargeted survival"):
        for row in table.rows:
            cell = dict(zip(table.columns, row))
            for eps in EPS:
                own, margin, worst = (cell[f"{a} @{eps:g}"] for a in ("own loss", "margin", "worst"))
                assert 0 <= worst <= min(own, margin) <= 1
            # survival can only fall as the ball grows, for the worst case over nested balls
            worst = [cell[f"worst @{e:g}"] for e in sorted(EPS)]
            assert worst == sorted(worst, reverse=True)
    for table in _table(report, "Clean accuracy"):
        for row in table.rows:
            assert 0 <= row[1] <= 1 and all(d is None or d >= 0 for d in row[3:7])


def test_claims_have_valid_verdicts_and_cite_their_rows(first):
    _, report, _, _ = first
    assert len(report.claims) >= 12
    for claim in report.claims:
        assert claim.verdict in VERDICTS and claim.evidence
    targeted = [c for c in report.claims if c.claim.startswith("Soft labels raise targeted survival over hard")]
    assert len(targeted) == 2 and all("target 9" in c.evidence for c in targeted)
    absolute = next(c for c in report.claims if "83.87%" in c.claim)
    assert absolute.verdict == "not testable at this scale"  # a tiny CNN is not the study's ResNet-18


def test_the_report_is_self_contained(first):
    out, _, written, _ = first
    assert [p.name for p in written] == ["report.md", "report.html", "report.json"]
    html = (out / "report.html").read_text()
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', html)
    assert len(images) == 1 + 2 * (1 + len(MODELS))  # the disk, and per dataset survival + a confusion grid per model
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    data = json.loads((out / "report.json").read_text())
    assert data["study"] == "softlabel" and data["scale"] == "ci" and data["provenance"]["device"] == "cpu"
    assert all((out / f["path"]).is_file() for s in data["sections"] for f in s["figures"])


def test_a_rerun_reuses_every_run_and_every_attack(first, data_root):
    out, report, _, seconds = first
    assert {r["status"] for r in report.runs if r["run"].startswith(("softcifar10", "cifar10h"))} == {"trained"}
    started = time.perf_counter()
    again, _ = reproduce("softlabel", "ci", out, data_root=str(data_root))
    assert {r["status"] for r in again.runs if r["run"].startswith(("softcifar10", "cifar10h"))} == {"reused"}
    assert time.perf_counter() - started < seconds / 2
    assert [c.evidence for c in again.claims] == [c.evidence for c in report.claims]  # the same numbers


def test_the_paper_configs_build_every_model_and_data_pipeline(tmp_path, data_root):
    records = dry_run("softlabel", "paper", tmp_path / "paper", data_root=str(data_root))
    assert len(records) == 6
    for r in records:
        assert r["model_parameters"] > 10_000_000  # ResNet-18
        assert r["data"].endswith("test images") and r["config"]["epochs"] == 300 and r["config"]["batch_size"] == 32
    assert len(list((tmp_path / "paper" / "configs").glob("*.yaml"))) == 6


def test_the_command_line_runs_a_dry_run_and_refuses_another_studys_folder(tmp_path, data_root, capsys):
    assert main(["reproduce", "softlabel", "--scale", "paper", "--dry-run", "--out", str(tmp_path / "p"), "--data-root", str(data_root)]) == 0
    assert "resnet18" in capsys.readouterr().out
    assert main(["reproduce", "softlabel", "--scale", "ci", "--out", str(tmp_path / "p"), "--data-root", str(data_root)]) == 2
    assert "holds the reproduction of 'softlabel' at scale 'paper'" in capsys.readouterr().err
