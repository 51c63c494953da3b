"""``labelrobust reproduce clirat --scale ci`` end to end on the real CIFAR-10 images of the shared
folder: every method × attack cell present, rates sane, the worst case never above an attack,
the confused-label diagnostic read from the runs, claims with valid verdicts, a self-contained
report, a rerun that reuses everything, the paper configs, and the error paths."""

from __future__ import annotations

import json
import re
import time

import pytest

from labelrobust.cli.main import main
from labelrobust.errors import ConfigError, OutputError
from labelrobust.reproduce.claims import NOT_TESTABLE, VERDICTS
from labelrobust.reproduce.studies.clirat import ATTACKS, METHODS, NAT, STUDY, ClirStudy
from labelrobust.reproduce.study import dry_run, reproduce
from labelrobust.runs import read_metrics
from labelrobust.training.methods import method_params


@pytest.fixture(scope="module")
def first(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("clirat-ci")
    started = time.perf_counter()
    report, written = reproduce("clirat", "ci", out, data_root=str(data_root))
    return out, report, written, time.perf_counter() - started


def _table(report, title_start):
    found = [t for s in report.sections for t in s.tables if t.title.startswith(title_start)]
    assert len(found) == 1, title_start
    return found[0]


def _cells(table):
    return {row[0]: dict(zip(table.columns, row)) for row in table.rows}


def test_the_robust_table_holds_every_method_and_attack_next_to_the_study(first):
    _, report, _, _ = first
    table = _table(report, "Clean and robust accuracy")
    cells = _cells(table)
    assert list(cells) == list(METHODS)
    for m, row in cells.items():
        for i, attack in enumerate((NAT, *ATTACKS)):
            assert 0 <= row[attack] <= 1, (m, attack)
            assert row[f"study {attack}"] == (STUDY[m][i] if m in STUDY else None)
        # a sample broken by any attack is not robust: the worst case lies below every attack
        assert 0 <= row["worst case"] <= min(row[a] for a in ATTACKS) <= row[NAT]
    assert cells["CLIRAT"]["study PGD-20"] == 0.6031 and cells["AT"]["study AA"] == 0.4687


def test_the_eps_curve_falls_with_eps_and_the_masking_checks_ran(first):
    _, report, _, _ = first
    curve = _cells(_table(report, "Robust accuracy vs eps"))
    settings = ClirStudy.scales["ci"]
    assert list(curve) == list(METHODS)
    for row in curve.values():
        for objective in ("PGD-20 loss", "PGD-20 margin"):
            values = [row[f"{objective} @{e}"] for e in settings.curve_eps]
            assert all(0 <= v <= row["clean"] <= 1 for v in values)
    masking = _table(report, "Gradient-masking checks")
    checks = {(row[0], row[2]) for row in masking.rows}
    for m in METHODS:  # each named check that compares like with like ran on every model
        for name in ("more-effort", "own-loss-only", "fgsm-beats-pgd", "large-eps", "eps-monotone", "zero-gradients"):
            assert (m, name) in checks, (m, name)
    assert {row[3] for row in masking.rows} <= {"ok", "FLAG"}


def test_the_confused_label_diagnostic_is_read_from_every_run(first):
    out, report, _, _ = first
    table = _cells(_table(report, "Confused labels"))
    assert list(table) == list(METHODS)
    for m, row in table.items():
        run = next(r for r in report.runs if r["run"] == METHODS[m])
        last = read_metrics(out / run["directory"])[-1]
        assert (row["single CL"], row["several CLs"]) == (last["single_cl"], last["multi_cl"])
        assert row["misclassified adv. examples (last epoch)"] == last["single_cl"] + last["multi_cl"] > 0
        assert 0 <= row["share with several"] <= 1 and row["epochs"] == ClirStudy.scales["ci"].epochs
        weighted = m not in ("AT", "TRADES", "MART")
        assert (row["weight max"] is not None) == weighted
        if weighted:  # burn-in 1 of 2 epochs: the weights acted in the last one
            assert row["weight min"] < 1 < row["weight max"]


def test_claims_have_valid_verdicts_and_cite_their_rows(first):
    _, report, _, _ = first
    claims = {c.claim: c for c in report.claims}
    assert len(claims) == len(report.claims) == 10
    for claim in report.claims:
        assert claim.verdict in VERDICTS and claim.evidence
    pgd = claims["CLIRAT is more robust than AT under PGD-20 and PGD-100"]
    assert "PGD-20: CLIRAT" in pgd.evidence and "PGD-100: CLIRAT" in pgd.evidence and "study PGD-20: CLIRAT 60.3% vs AT 52.1%" in pgd.evidence
    aa = claims["CL-PM reweighting beats PM reweighting under AutoAttack (CLIR-X vs MAIL-X)"]
    assert all(f"AA: {c}" in aa.evidence for c in ("CLIRAT", "CLIR-TRADES", "CLIR-MART"))
    assert "study AA: CLIRAT 45.5% vs MAIL-AT 46.5%" in aa.evidence  # the study's own numbers, said out loud
    assert claims["Reweighting costs clean accuracy (each MAIL-/CLIR- method vs its unweighted base)"].evidence.count("clean:") == 6
    assert claims["Most misclassified adversarial training examples have a single confused label"].evidence.count(" single of ") == 9
    for text in ("CLIRAT reaches 60.31% under PGD-20 (ResNet-18, CIFAR-10)", "CLIRAT reaches 45.50% under AutoAttack (ResNet-18, CIFAR-10)"):
        assert claims[text].verdict == NOT_TESTABLE and "different data or network" in claims[text].evidence


def test_the_report_is_self_contained(first):
    out, report, written, _ = first
    assert [p.name for p in written] == ["report.md", "report.html", "report.json"]
    html = (out / "report.html").read_text()
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', html)) == 3
    assert not re.search(r"(src|href)=\"(https?:)?//", html) and "http://" not in html and "https://" not in html
    md = (out / "report.md").read_text()
    assert "## Claims" in md and "| CLIRAT |" in md and "data_batch_1" in md
    data = json.loads((out / "report.json").read_text())
    assert data["study"] == "clirat" and data["scale"] == "ci" and data["provenance"]["device"] == "cpu"
    assert all((out / f["path"]).is_file() for s in data["sections"] for f in s["figures"])
    assert [r["run"] for r in report.runs] == list(METHODS.values())


def test_a_rerun_reuses_every_run_and_every_attack(first, data_root):
    out, report, _, seconds = first
    assert {r["status"] for r in report.runs} == {"trained"}
    started = time.perf_counter()
    again, _ = reproduce("clirat", "ci", out, data_root=str(data_root))
    assert {r["status"] for r in again.runs} == {"reused"}
    assert time.perf_counter() - started < seconds / 3
    assert [c.evidence for c in again.claims] == [c.evidence for c in report.claims]  # the same numbers


def test_the_paper_configs_build_every_model_and_data_pipeline(tmp_path, data_root):
    records = dry_run("clirat", "paper", tmp_path / "paper", data_root=str(data_root))
    assert [r["run"] for r in records] == list(METHODS.values())
    for r in records:
        cfg = r["config"]
        assert r["model_parameters"] > 10_000_000 and cfg["model"]["name"] == "resnet18"  # ResNet-18
        assert r["data"] == "10000 train / 10000 test images"  # the shared folder's one training batch
        assert (cfg["epochs"], cfg["batch_size"], cfg["data"]["augment"]) == (100, 128, "crop-flip")
        optim = cfg["optim"]
        assert (optim["lr"], optim["momentum"], optim["schedule"], optim["milestones"], optim["gamma"], optim["weight_decay"]) == (
            0.01, 0.9, "multistep", [75, 90], 0.1, 3.5e-3)
        params = cfg["method"]["params"]
        assert (params["eps"], params["steps"], params["step_size"]) == ("8/255", 10, "2/255")
        assert params.get("burn_in", 0) == (0 if cfg["method"]["name"] in ("at", "trades", "mart") else 75)
    by_name = {r["run"]: r["config"]["method"]["params"] for r in records}
    assert by_name["trades"]["trades_beta"] == by_name["clir-trades"]["trades_beta"] == 5.0
    assert by_name["clir-mart"]["mart_lambda"] == 6.0
    # the weights' γ, β come from the presets: CLIRAT 10, −0.5; CLIR-TRADES / CLIR-MART 2, 0 (MAIL: the same on PM)
    expected = {"clirat": ("cl-pm", 10.0, -0.5), "clir-trades": ("cl-pm", 2.0, 0.0), "clir-mart": ("cl-pm", 2.0, 0.0),
                "mail-at": ("pm", 10.0, -0.5), "mail-trades": ("pm", 2.0, 0.0), "mail-mart": ("pm", 2.0, 0.0)}
    for run, (margin, gamma, bias) in expected.items():
        weighting = method_params(run, by_name[run]).weighting()
        assert (weighting.margin, weighting.gamma, weighting.bias, weighting.burn_in) == (margin, gamma, bias, 75)
    assert all(method_params(run, by_name[run]).weighting() is None for run in ("at", "trades", "mart"))
    assert len(list((tmp_path / "paper" / "configs").glob("*.yaml"))) == len(METHODS)


def test_the_command_line_runs_the_dry_run_and_refuses_bad_input(tmp_path, data_root, capsys):
    assert main(["reproduce", "clirat", "--scale", "paper", "--dry-run", "--out", str(tmp_path / "p"), "--data-root", str(data_root)]) == 0
    printed = capsys.readouterr().out
    assert "clir-trades" in printed and "resnet18" in printed
    assert main(["reproduce", "clirat", "--scale", "ci", "--out", str(tmp_path / "p"), "--data-root", str(data_root)]) == 2
    assert "holds the reproduction of 'clirat' at scale 'paper'" in capsys.readouterr().err


def test_errors_name_what_is_wrong(tmp_path, data_root):
    with pytest.raises(ConfigError, match="unknown scale 'huge'; known: ci, small, paper"):
        reproduce("clirat", "huge", tmp_path / "x", data_root=str(data_root))
    other = tmp_path / "other"
    other.mkdir()
    (other / "reproduction.json").write_text(json.dumps({"study": "softlabel", "scale": "ci"}))
    with pytest.raises(OutputError, match="holds the reproduction of 'softlabel' at scale 'ci', not 'clirat'"):
        reproduce("clirat", "ci", other, data_root=str(data_root))
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds files but no reproduction.json"):
        dry_run("clirat", "paper", stray, data_root=str(data_root))
