"""``labelrobust reproduce multilabel --scale ci`` end to end on real DOUBLE-MNIST (from the shared
MNIST files): every table complete, rates sane, the worst case never above an attack, proofs
never contradicted by an attack, every reported neighbourhood certified again by the verifier,
claims with valid verdicts, a self-contained report, a rerun that reuses everything, the
command line, the paper configs and the error paths."""

from __future__ import annotations

import json
import re
import time

import pytest
import torch

from labelrobust.cli.main import main
from labelrobust.errors import ConfigError
from labelrobust.reproduce.claims import VERDICTS
from labelrobust.reproduce.evidence import WORST
from labelrobust.reproduce.studies.multilabel import ATTACK_ORDER, MODELS, OWN, SEARCHES, MultilabelStudy
from labelrobust.reproduce.study import dry_run, reproduce

CI = MultilabelStudy.scales["ci"]


@pytest.fixture(scope="module")
def first(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("multilabel-ci")
    started = time.perf_counter()
    report, written = reproduce("multilabel", "ci", out, data_root=str(data_root))
    return out, report, written, time.perf_counter() - started


def _tables(report, title_start):
    return [t for s in report.sections for t in s.tables if t.title.startswith(title_start)]


def _cells(table):
    return [dict(zip(table.columns, row)) for row in table.rows]


def test_clean_and_robust_tables_hold_every_model_attack_and_eps(first):
    _, report, _, _ = first
    (clean,) = _tables(report, "Clean accuracy")
    assert [row["model"] for row in _cells(clean)] == list(MODELS)
    for row in _cells(clean):
        assert 0 <= row["set accuracy"] <= row["target accuracy"] <= 1 and row["test n"] == CI.n_test
    robust = _tables(report, "Robust accuracy at eps")
    assert [t.title.split()[4] for t in robust] == [f"{e:g}" for e in CI.eps]
    for table in robust:
        assert table.columns[2:-2] == list(ATTACK_ORDER) and table.columns[-2] == WORST
        for row in _cells(table):
            values = [row[a] for a in ATTACK_ORDER]
            assert all(v is not None and 0 <= v <= 1 for v in values)
            assert row[WORST] <= min(values) and max(values) <= row["clean"]
    for model in MODELS:  # the worst case over nested balls only falls as eps grows
        worst = [next(r for r in _cells(t) if r["model"] == model)[WORST] for t in robust]
        assert worst == sorted(worst, reverse=True)
    (masking,) = _tables(report, "Gradient-masking")
    assert {row[0] for row in masking.rows} == set(MODELS)
    assert {row[1] for row in masking.rows} >= {"eps-monotone", "large-eps", "own-loss-only", "fgsm-beats-pgd", "more-effort"}
    assert all(row[2] in ("ok", "FLAG", "n/a") for row in masking.rows)
    large = [row for row in masking.rows if row[1] == "large-eps"]
    assert [row[2] for row in large] == ["ok"] * 3  # at half the diameter nothing survives


def test_verification_counts_add_up_and_no_proof_is_broken_by_an_attack(first):
    out, report, _, _ = first
    (table,) = _tables(report, "Complete verification")
    rows = _cells(table)
    assert [(r["model"], r["eps"]) for r in rows] == [(m, e) for m in MODELS for e in CI.verify_eps]
    for r in rows:
        assert r["n"] == CI.verify_n and r["robust"] + r["not robust"] + r["unknown"] == r["n"]
        assert 0 <= r["proved robust"] <= r["not refuted"] <= 1
        assert r["proof vs attack conflicts"] == 0 and r["attack robust"] >= r["proved robust"]
    samples = list(out.glob("runs/*/verify/top2-linf-eps0.02/samples/*.json"))
    assert len(samples) == 3 * CI.verify_n


def test_every_reported_neighbourhood_is_certified_again(first):
    from labelrobust.runs import load_run
    from labelrobust.verify.input_sets import layered_neighbourhood
    from labelrobust.verify.pipeline import VerifyConfig, make_query, verify_query
    from labelrobust.verify.properties import top2_property

    out, report, _, _ = first
    summary, detail = _tables(report, "Maximal robust layered neighbourhoods")
    assert [(r["model"], r["search"]) for r in _cells(summary)] == [(m, s) for m in MODELS for s in SEARCHES]
    rows = _cells(detail)
    assert len(rows) == 3 * len(SEARCHES) * CI.neighbourhood_n and {r["clean status"] for r in rows} == {"robust"}
    weights = (1.0, 0.5)  # the default weights of layers 0 and 1
    for r in rows:
        eps = [float(e) for e in r["ε per layer"].split()]
        assert len(eps) == CI.layers + 1 and r["calls"] <= CI.max_calls
        assert r["w·ε"] == pytest.approx(sum(w * e for w, e in zip(weights, eps)), abs=2e-3)
    pgd = next(r for r in rows if r["model"] == "pgd" and r["search"] == "search-fixed")
    record = json.loads(next(out.glob(f"runs/pgd-*/neighbourhood/*-fixed/samples/{pgd['image']}.search.json")).read_text())
    exp = load_run(next(out.glob("runs/pgd-*")))
    test = exp.dataset.test
    i = record["index"]
    box = layered_neighbourhood(test.float_images(torch.tensor([i]))[0], test.object_masks[i, 1], record["eps"])
    prop = top2_property(record["target"], 10, test.label_sets[i])
    assert verify_query(make_query(exp.model, box, prop), VerifyConfig(timeout=30)).status == "robust"


def test_claims_have_valid_verdicts_and_cite_their_rows(first):
    _, report, _, _ = first
    assert len(report.claims) == 9
    for claim in report.claims:
        assert claim.verdict in VERDICTS and claim.evidence
    by_start = {c.claim.split(" (")[0]: c for c in report.claims}
    study_attack = next(c for c in report.claims if "study's attack" in c.claim)
    assert all(f"eps {e:g}" in study_attack.evidence for e in CI.eps) and OWN in study_attack.evidence
    assert "pairs" in by_start["The gradient-guided search finds neighbourhoods as large as binary search"].evidence
    # one image per model at this scale: the comparison of the models' neighbourhoods cannot decide
    assert next(c for c in report.claims if c.claim.startswith("The L0 defence gives larger")).verdict == "not testable at this scale"


def test_the_report_is_self_contained(first):
    out, _, written, _ = first
    assert [p.name for p in written] == ["report.md", "report.html", "report.json"]
    html = (out / "report.html").read_text()
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', html)
    assert len(images) == 3 + len(SEARCHES)  # robust accuracy, verification, search vs binary, a heat map per search
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    data = json.loads((out / "report.json").read_text())
    assert data["study"] == "multilabel" and data["scale"] == "ci" and data["provenance"]["device"] == "cpu"
    assert all((out / f["path"]).is_file() for s in data["sections"] for f in s["figures"])
    assert "## Claims" in (out / "report.md").read_text()


def test_a_rerun_reuses_every_run_attack_proof_and_search(first, data_root):
    out, report, _, seconds = first
    assert [r["status"] for r in report.runs] == ["trained"] * 3
    assert "augment black-rectangle" in next(r["what"] for r in report.runs if r["run"] == "l0")
    started = time.perf_counter()
    again, _ = reproduce("multilabel", "ci", out, data_root=str(data_root))
    assert [r["status"] for r in again.runs] == ["reused"] * 3
    assert time.perf_counter() - started < seconds / 3
    assert [c.evidence for c in again.claims] == [c.evidence for c in report.claims]  # the same numbers


def test_the_command_line_reuses_the_reproduction_and_refuses_other_folders(first, data_root, tmp_path, capsys):
    out = first[0]
    assert main(["reproduce", "multilabel", "--scale", "ci", "--out", str(out), "--data-root", str(data_root), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "PGD-trained model is the most robust" in printed and "report.html" in printed
    other = tmp_path / "other"
    other.mkdir()
    (other / "reproduction.json").write_text(json.dumps({"study": "softlabel", "scale": "ci"}))
    assert main(["reproduce", "multilabel", "--scale", "ci", "--out", str(other), "--data-root", str(data_root)]) == 2
    assert "holds the reproduction of 'softlabel' at scale 'ci', not 'multilabel'" in capsys.readouterr().err
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "notes.txt").write_text("mine")
    assert main(["reproduce", "multilabel", "--out", str(tmp_path / "loose"), "--data-root", str(data_root)]) == 2
    assert "holds files but no reproduction.json" in capsys.readouterr().err
    assert main(["reproduce", "multilabel", "--scale", "huge"]) == 2
    assert "argument --scale: invalid choice: 'huge' (choose from 'ci', 'small', 'paper')" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown scale 'huge'; known: ci, small, paper"):
        reproduce("multilabel", "huge", tmp_path / "huge")


def test_the_paper_configs_build_every_model_and_data_pipeline(tmp_path, data_root):
    records = dry_run("multilabel", "paper", tmp_path / "paper", data_root=str(data_root))
    assert [r["run"] for r in records] == list(MODELS)
    for r in records:
        # conv 3×3 1→16 (160) + conv 3×3 16→32 (4,640) + linear 32·12·26→10 (99,850)
        assert r["model_parameters"] == 104_650
        assert r["data"] == "60000 train / 10000 test images"
        assert r["config"]["epochs"] == 30 and r["config"]["model"]["options"]["channels"] == [16, 32]
    by_run = {r["run"]: r["config"] for r in records}
    assert by_run["pgd"]["method"] == {"name": "at", "params": {"eps": 0.1, "steps": 10}}
    assert by_run["l0"]["data"]["augment"] == "black-rectangle" and by_run["none"]["data"]["augment"] == "none"
    assert all(r["config"]["optim"]["schedule"] == "cosine" and r["config"]["batch_size"] == 128 for r in records)
    assert len(list((tmp_path / "paper" / "configs").glob("*.yaml"))) == 3


def test_a_paper_dry_run_without_mnist_still_builds_the_models_and_says_what_is_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    records = dry_run("multilabel", "paper", tmp_path / "paper", data_root=str(tmp_path / "empty"))
    assert [r["model_parameters"] for r in records] == [104_650] * 3
    assert all(r["data"].startswith("missing: ") and "MNIST/raw/train-images-idx3-ubyte" in r["data"] for r in records)


def test_a_scale_whose_verified_radii_are_not_attacked_is_refused():
    import dataclasses

    with pytest.raises(ConfigError, match=r"verify_eps \[0\.03\] must also be attack radii \(eps \[0\.02, 0\.05, 0\.1\]\)"):
        dataclasses.replace(CI, verify_eps=(0.03,))
