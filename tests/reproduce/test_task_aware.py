"""``labelrobust reproduce task-aware --scale ci`` end to end on the shared MNIST: every table of
the study for every system and intensity, rates that are rates, a worst case never above any
attack, the label spaces' own-loss facts the report relies on, claims with valid verdicts, a
self-contained report, a rerun that reuses everything, the command line, the paper configs and
the refusals."""

from __future__ import annotations

import json
import math
import re
import time

import pytest

from labelrobust.cli.main import main
from labelrobust.errors import ConfigError, OutputError
from labelrobust.reproduce.claims import NOT_TESTABLE, VERDICTS
from labelrobust.reproduce.studies.task_aware import CI, INTENSITIES, NAMES, PAPER, STUDY_S, sweep_lr
from labelrobust.reproduce.study import dry_run, make_context, prepare_out, reproduce

SYSTEMS = list(NAMES.values())
EPS = CI.setups[0].eps


@pytest.fixture(scope="module")
def first(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("task-aware-ci")
    started = time.perf_counter()
    report, written = reproduce("task-aware", "ci", out, data_root=str(data_root))
    return out, report, written, time.perf_counter() - started


def _table(report, title_start):
    found = [t for s in report.sections for t in s.tables if t.title.startswith(title_start)]
    assert found, f"no table {title_start!r}"
    return found[0]


def _rows(table):
    return [dict(zip(table.columns, row)) for row in table.rows]


def _is_rate(value):
    return value is not None and 0 <= value <= 1


def test_every_table_holds_every_system_attack_and_intensity(first):
    _, report, _, _ = first
    own = _table(report, "Robust accuracy under the study's attack")
    assert [row[0] for row in own.rows] == SYSTEMS
    for attack in ("FGSM", "PGD"):
        for i, e in zip(INTENSITIES, EPS):
            assert f"{attack} {i} ({e})" in own.columns
    adaptive = _table(report, "Own loss vs adaptive attacks")
    assert [(r["system"], r["intensity"], r["eps"]) for r in _rows(adaptive)] == [(s, i, e) for s in SYSTEMS for i, e in zip(INTENSITIES, EPS)]
    stability = _table(report, "Stability ratio")
    assert [row[0] for row in stability.rows] == SYSTEMS
    sweep = _table(report, "RBC at scale S")
    assert [row[0] for row in sweep.rows] == [f"{s:g}" for s in CI.sweep]
    for objective in ("the study's attack", "the margin"):
        transfer = _table(report, f"Transfer rates, PGD on {objective}")
        names = transfer.columns[2:]
        assert [row[0] for row in transfer.rows] == names and set(names) <= set(SYSTEMS) and len(names) >= 2
    masking = _table(report, "Gradient-masking checks, standard suite")
    assert {row[0] for row in masking.rows} == set(SYSTEMS)
    assert {row[1] for row in masking.rows} >= {"eps-monotone", "large-eps", "own-loss-only", "zero-gradients"}


def test_rates_are_rates_and_the_worst_case_is_never_above_any_attack(first):
    _, report, _, _ = first
    own = _table(report, "Robust accuracy under the study's attack")
    for row in own.rows:
        assert all(_is_rate(v) for v in row[1:-1])
        assert all(v <= row[1] for v in row[2:-1])  # robust accuracy never exceeds clean accuracy
    rows = _rows(_table(report, "Own loss vs adaptive attacks"))
    for r in rows:
        attacks = [r["PGD own loss"], r["PGD margin"], r["standard suite"]] + ([r["AutoAttack"]] if r["AutoAttack"] is not None else [])
        assert all(_is_rate(v) for v in [r["clean"], *attacks, r["worst case"], r["abstain (worst)"]])
        assert r["worst case"] <= min(attacks) <= r["clean"]
        assert math.isclose(r["own − worst"], r["PGD own loss"] - r["worst case"]) and r["own − worst"] >= 0
    assert {r["intensity"] for r in rows if r["AutoAttack"] is not None} == {INTENSITIES[i] for i in CI.autoattack}
    for system in SYSTEMS:  # nested balls: the worst case cannot recover as eps grows
        worst = [r["worst case"] for r in rows if r["system"] == system]
        assert worst == sorted(worst, reverse=True)
    for table in (_table(report, "Transfer rates, PGD on the study's attack"), _table(report, "Transfer rates, PGD on the margin")):
        assert all(_is_rate(v) for row in table.rows for v in row[1:])
    for row in _table(report, "Stability ratio").rows:
        assert all(v is None or 0 <= v <= 1 for v in row[1:7])


def test_the_own_loss_facts_the_report_relies_on(first):
    """INT's own loss is zero exactly where it is right (its interval), DeepBE's wherever every bit
    is on its side: their own-loss attacks start without a gradient on every correct sample."""
    _, report, _, _ = first
    clean = {r["system"]: r for r in _rows(_table(report, "Clean accuracy"))}
    attacked = {r["system"]: r["clean"] for r in _rows(_table(report, "Robust accuracy under the study's attack"))}
    assert clean["INT"]["own loss = 0"] == pytest.approx(attacked["INT"])
    assert clean["DeepBE"]["own loss = 0"] >= attacked["DeepBE"]
    masking = {(row[0], row[1]): row[2] for row in _table(report, "Gradient-masking checks, standard suite").rows}
    for system in ("INT", "DeepBE"):
        if attacked[system] > 0:
            assert masking[(system, "zero-gradients")] == "FLAG"


def test_claims_have_valid_verdicts_and_cite_their_rows(first):
    _, report, _, _ = first
    assert len(report.claims) >= 17
    for claim in report.claims:
        assert claim.verdict in VERDICTS and claim.evidence
    absolute = [c for c in report.claims if "97.90%" in c.claim]
    assert len(absolute) == 2 and all(c.verdict == NOT_TESTABLE and "mnist-cnn" in c.evidence for c in absolute)
    pairs = [c.claim for c in report.claims if c.claim.startswith("RBC is more robust than TRA")]
    assert len(pairs) == 2 and "own loss" in pairs[0] and "adaptive" in pairs[1]
    cw = next(c for c in report.claims if c.claim.startswith("CW/DeepFool"))
    assert all(name in cw.evidence for name in ("DeepBE", "INT", "RBC"))
    flat = [c for c in report.claims if "barely moves" in c.claim]
    assert len(flat) == 2 and all("PGD I" in c.evidence and "III" in c.evidence for c in flat)


def test_the_report_is_self_contained(first):
    out, report, written, _ = first
    assert [p.name for p in written] == ["report.md", "report.html", "report.json"]
    html = (out / "report.html").read_text()
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', html)) == 3  # intensity curves, transfer, S sweep
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    data = json.loads((out / "report.json").read_text())
    assert data["study"] == "task-aware" and data["scale"] == "ci" and data["provenance"]["device"] == "cpu"
    assert all((out / f["path"]).is_file() for s in data["sections"] for f in s["figures"])
    assert "smaller budgets" in report.scale_difference and "1000 training images" in report.scale_difference
    assert (out / "transfer" / "mnist-loss.json").is_file() and (out / "transfer" / "mnist-margin.json").is_file()


def test_a_rerun_reuses_every_run_attack_and_transfer(first, data_root):
    out, report, _, seconds = first
    assert {r["status"] for r in report.runs} == {"trained"} and len(report.runs) == 7
    started = time.perf_counter()
    again, _ = reproduce("task-aware", "ci", out, data_root=str(data_root))
    assert {r["status"] for r in again.runs} == {"reused"}
    assert time.perf_counter() - started < seconds / 2
    assert [c.evidence for c in again.claims] == [c.evidence for c in report.claims]  # the same numbers


def test_the_command_line_reuses_the_reproduction_and_refuses_another_studys_folder(first, data_root, tmp_path, capsys):
    out, report, _, _ = first
    assert main(["reproduce", "task-aware", "--scale", "ci", "--out", str(out), "--data-root", str(data_root), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert report.claims[0].claim[:40] in printed and "report.html" in printed
    other = tmp_path / "softlabel-folder"
    prepare_out(other, "softlabel", "ci")
    assert main(["reproduce", "task-aware", "--scale", "ci", "--out", str(other), "--data-root", str(data_root)]) == 2
    assert "holds the reproduction of 'softlabel' at scale 'ci'" in capsys.readouterr().err


def test_the_paper_configs_build_every_model_and_data_pipeline(tmp_path, data_root):
    records = dry_run("task-aware", "paper", tmp_path / "paper", data_root=str(data_root))
    per_setup = 6 + len([s for s in PAPER.sweep if s != STUDY_S])
    assert len(records) == 2 * per_setup
    mnist = [r for r in records if r["run"].startswith("mnist-")]
    cifar = [r for r in records if r["run"].startswith("cifar10-")]
    assert len(mnist) == len(cifar) == per_setup
    assert all(r["config"]["model"]["name"] == "efficientnet-b0" and r["model_parameters"] > 3_000_000 for r in mnist)
    assert all(r["config"]["model"]["name"] == "resnet18" and r["model_parameters"] > 10_000_000 for r in cifar)
    assert all(r["data"].endswith("test images") for r in records)
    at = next(r for r in cifar if r["run"] == "cifar10-rbc-at")["config"]
    assert at["method"]["name"] == "at" and at["method"]["params"]["eps"] == "9/255" and at["labels"]["params"]["scale"] == STUDY_S
    assert next(r for r in mnist if r["run"] == "mnist-int")["config"]["labels"]["params"] == {"s0": 0.0, "alpha": 4.0, "beta": 16.0}
    assert len(list((tmp_path / "paper" / "configs").glob("*.yaml"))) == 2 * per_setup


def test_the_sweep_learning_rate_follows_the_measured_rule():
    setup = CI.setups[0]
    assert sweep_lr(setup, STUDY_S) == setup.recipes["rbc"].lr == 5e-6
    assert sweep_lr(setup, 1.0) == setup.base_lr  # capped at S = 1's rate
    assert sweep_lr(setup, 100.0) == pytest.approx(5e-6 * 3.5**1.5)
    rates = [sweep_lr(setup, s) for s in (1.0, 10.0, 100.0, 350.0)]
    assert rates == sorted(rates, reverse=True)


def test_bad_scales_and_folders_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown scale 'huge'; known: ci, small, paper"):
        make_context("task-aware", "huge", tmp_path / "x")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds files but no reproduction.json"):
        reproduce("task-aware", "ci", tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
