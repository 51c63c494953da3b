"""The per-sample state behind a results file: finished cells are reused on resume, cells of
other weights or samples are kept as stale, and the files of older labelrobust versions
(state formats 2 and 1, written here as small literal files) are read as stale, never reused."""

from __future__ import annotations

import json

import pytest

from labelrobust.errors import ConfigError
from labelrobust.evaluation import AttackSpec, evaluate_attacks, get_suite
from labelrobust.evaluation.state import STATE_FORMAT, EvaluationState, read_entries
from labelrobust.metrics.inference import sample_identity
from tests.evaluation.cells import first

FGSM = [AttackSpec("fgsm", "fgsm")]


def test_resume_reuses_finished_cells_and_other_weights_are_stale(trained, tmp_path):
    exp = trained("onehot")
    images = first(exp.dataset.test, 40)
    state = tmp_path / "state.json"
    specs = get_suite("quick")
    first_run = evaluate_attacks(exp.model, exp.space, images, specs, [0.1], state_path=state, model_id={"sha256": "w1"}, quiet=True)
    saved = json.loads(state.read_text())
    assert saved["format"] == STATE_FORMAT == "labelrobust-robust-state-3" and len(saved["entries"]) == len(specs)
    entry = next(e for e in saved["entries"] if e["label"] == "fgsm")
    assert entry["model"] == {"sha256": "w1"} and entry["samples"]["n"] == 40 and entry["role"] == "diagnostic"
    assert entry["description"]["name"] == "fgsm" and entry["description"]["budget"]["steps"] == 1 and entry["cost"]["gradients"] == 40
    # a resumed run reads the saved cells (poison one to prove it) ...
    entry["decisions"] = [-1] * 40
    state.write_text(json.dumps(saved))
    again = evaluate_attacks(exp.model, exp.space, images, specs, [0.1], state_path=state, model_id={"sha256": "w1"}, quiet=True)
    assert next(o for o in again.outcomes if o.label == "fgsm").metrics["abstain_rate"] == 1.0
    assert len(json.loads(state.read_text())["entries"]) == len(specs)  # nothing recomputed
    # ... unless the model changed: then it attacks afresh and keeps the old cells as stale
    fresh = evaluate_attacks(exp.model, exp.space, images, specs, [0.1], state_path=state, model_id={"sha256": "w2"}, quiet=True)
    assert [o.decisions for o in fresh.outcomes] == [o.decisions for o in first_run.outcomes]  # seeded per cell
    assert len(fresh.stale) == len(specs) and all(o.stale.startswith("other weights") for o in fresh.stale)
    assert fresh.worst_case() == first_run.worst_case()  # the poisoned stale cell is not in it
    assert len(json.loads(state.read_text())["entries"]) == 2 * len(specs)
    # other samples are no match either
    fewer = evaluate_attacks(exp.model, exp.space, first(images, 20), specs[:1], [0.1], state_path=state, model_id={"sha256": "w2"}, quiet=True)
    assert {o.stale.split(":")[0] for o in fewer.stale} == {"other weights", "other samples"}


def test_an_interrupted_evaluation_resumes_where_it_stopped(trained, tmp_path):
    exp = trained("onehot")
    images = first(exp.dataset.test, 30)
    state = tmp_path / "state.json"
    specs = [AttackSpec("fgsm", "fgsm"), AttackSpec("pgd", "pgd", {"steps": 3})]
    evaluate_attacks(exp.model, exp.space, images, specs[:1], [0.1, 0.2], state_path=state, quiet=True)
    computed = {(e["label"], e["eps"]): e["computed"] for e in json.loads(state.read_text())["entries"]}
    report = evaluate_attacks(exp.model, exp.space, images, specs, [0.1, 0.2], state_path=state, quiet=True)
    entries = json.loads(state.read_text())["entries"]
    assert {(e["label"], e["eps"]) for e in entries} == {("fgsm", 0.1), ("fgsm", 0.2), ("pgd", 0.1), ("pgd", 0.2)}
    assert all(e["computed"] == computed[(e["label"], e["eps"])] for e in entries if e["label"] == "fgsm")  # reused as saved
    assert len(report.outcomes) == 4 and not report.stale


def test_a_format_2_state_file_is_read_as_stale(trained, tmp_path):
    """Format 2 attacked the true label and stored no attack description: its cells are kept
    for reference (with their saved metrics) but never reused, and the evaluation runs afresh."""
    exp = trained("onehot")
    images = first(exp.dataset.test, 20)
    identity = sample_identity(images)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({
        "format": "labelrobust-robust-state-2",
        "entries": [{
            "label": "fgsm", "attack": "fgsm", "params": {}, "objective": "loss", "kind": "white-box", "effort": 1, "norm": "linf",
            "eps": 0.1, "eps_text": "0.1", "target": None, "fixed_eps": False, "model": {"sha256": "same-weights"}, "samples": identity,
            "computed": "2025-01-01T00:00:00", "adv_pred": [0] * 20, "steps": 1, "seconds": 0.5,
            "metrics": {"robust_accuracy": 0.1, "survival": 0.2},
        }],
    }))
    entries = read_entries(state)
    assert len(entries) == 1 and entries[0]["decisions"] == [0] * 20 and entries[0]["description"]["name"] == "fgsm"
    same = {"sha256": "same-weights"}
    other = evaluate_attacks(exp.model, exp.space, images, [AttackSpec("pgd", "pgd", {"steps": 2})], [0.1], state_path=state, model_id=same, quiet=True)
    assert len(other.stale) == 1 and "state format 2: attacked the true label, not the clean prediction" in other.stale[0].stale
    assert other.stale[0].metrics == {"robust_accuracy": 0.1, "survival": 0.2} and other.stale[0].label == "fgsm"
    assert json.loads(state.read_text())["format"] == STATE_FORMAT  # saved in the current format, the old cell kept
    # the same weights and samples, but an old cell: recomputed, never reused; the recomputation replaces it
    report = evaluate_attacks(exp.model, exp.space, images, FGSM, [0.1], state_path=state, model_id=same, quiet=True)
    fgsm = next(o for o in report.outcomes if o.label == "fgsm")
    assert fgsm.attacked == 20 and fgsm.description["budget"]["steps"] == 1 and not report.stale
    assert sorted(e["label"] for e in json.loads(state.read_text())["entries"]) == ["fgsm", "pgd"]


def test_a_format_1_state_file_is_read_as_stale(trained, tmp_path):
    exp = trained("onehot")
    images = first(exp.dataset.test, 20)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"_tag": "abc:20", "fgsm@0.1@linf@None": {"adv_pred": [0] * 20, "steps": 1, "seconds": 0.1}}))
    report = evaluate_attacks(exp.model, exp.space, images, FGSM, [0.1], state_path=state, quiet=True)
    assert len(report.outcomes) == 1 and len(report.stale) == 1 and "state format 1" in report.stale[0].stale


@pytest.mark.parametrize(("text", "message"), [("[1, 2]", "not a labelrobust state file"), ("{", "is not valid JSON"),
                                                 ('{"format": "labelrobust-robust-state-9", "entries": []}', "not a labelrobust state file")])
def test_files_that_are_no_state(tmp_path, text, message):
    state = tmp_path / "state.json"
    state.write_text(text)
    with pytest.raises(ConfigError, match=f"{message}.*move it away to start over"):
        EvaluationState(state)


def test_put_keeps_what_another_process_saved(tmp_path):
    path = tmp_path / "state.json"
    mine, theirs = EvaluationState(path), EvaluationState(path)
    cell = lambda label: {"label": label, "eps": 0.1, "norm": "linf", "target": None, "model": {"sha256": "w"}, "samples": {"sha256": "s"}}  # noqa: E731
    mine.put(cell("a"))
    theirs.put(cell("b"))  # read the file again before writing: "a" stays
    mine.put({**cell("a"), "decisions": [1]})  # the same cell replaces itself
    entries = read_entries(path)
    assert sorted(e["label"] for e in entries) == ["a", "b"] and next(e for e in entries if e["label"] == "a")["decisions"] == [1]
    assert EvaluationState(None).entries == [] and read_entries(tmp_path / "missing.json") == []
