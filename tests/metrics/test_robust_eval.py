"""Robust evaluation and the gradient-masking checks on models trained on real digits:
the checks fire on a masked model (RBC attacked through its saturating loss) and stay quiet
on a standard one; per-sample state resumes; the CLI writes its tables and plot."""

from __future__ import annotations

import json

import pytest
import torch

from labelrobust.cli.main import main
from labelrobust.errors import ConfigError
from labelrobust.metrics.checks import run_checks, zero_gradient_check
from labelrobust.metrics.robust_eval import AttackSpec, evaluate_attacks
from labelrobust.metrics.suites import get_suite

QUICK = get_suite("quick") + [AttackSpec("pgd-20-margin-large-eps", "pgd", {"steps": 20, "objective": "margin"}, eps=0.5)]


def verdicts(exp, eps=(0.1, 0.2), n=100):
    images = exp.dataset.test.subset(list(range(n)))
    report = evaluate_attacks(exp.model, exp.space, images, QUICK, list(eps), quiet=True)
    probe = images.subset(list(range(100)))
    flags = run_checks(report, [zero_gradient_check(exp.model, exp.space, probe.float_images(), probe.labels)])
    return report, {f.name: f.ok for f in flags}


def test_checks_fire_on_a_masked_rbc_model(trained):
    report, flags = verdicts(trained("binary"))
    assert flags["own-loss-only"] is False
    assert flags["zero-gradients"] is False
    own = [o for o in report.outcomes if o.label == "pgd-20"]
    assert all("own-loss-only" in o.flags for o in own)
    assert not any(o.flags for o in report.outcomes if o.label == "pgd-20-margin")


def test_checks_stay_quiet_on_a_standard_model(trained):
    report, flags = verdicts(trained("onehot"))
    assert flags["eps-monotone"] is True and flags["large-eps"] is True and flags["fgsm-beats-pgd"] is True
    assert flags["own-loss-only"] is True, [f for f in report.checks if f.name == "own-loss-only"]
    assert not any(o.flags for o in report.outcomes)


def test_worst_case_resume_and_stale_results(trained, tmp_path):
    exp = trained("onehot")
    images = exp.dataset.test.subset(list(range(40)))
    state = tmp_path / "state.json"
    specs = get_suite("quick")
    first = evaluate_attacks(exp.model, exp.space, images, specs, [0.1], state_path=state, model_id={"sha256": "w1"}, quiet=True)
    saved = json.loads(state.read_text())
    assert saved["format"] == "labelrobust-robust-state-2" and len(saved["entries"]) == len(specs)
    assert all(e["model"] == {"sha256": "w1"} and e["samples"]["n"] == 40 for e in saved["entries"])
    # a resumed run reads the saved outcomes (poison them to prove it) ...
    entry = next(e for e in saved["entries"] if e["label"] == "fgsm")
    entry["adv_pred"] = [-1] * 40
    state.write_text(json.dumps(saved))
    again = evaluate_attacks(exp.model, exp.space, images, specs, [0.1], state_path=state, model_id={"sha256": "w1"}, quiet=True)
    assert next(o for o in again.outcomes if o.label == "fgsm").abstain_rate == 1.0
    # ... unless the model changed: then it attacks afresh, and keeps the old results as stale
    fresh = evaluate_attacks(exp.model, exp.space, images, specs, [0.1], state_path=state, model_id={"sha256": "w2"}, quiet=True)
    assert [o.adv_pred for o in fresh.outcomes] == [o.adv_pred for o in first.outcomes]
    assert len(fresh.stale) == len(specs) and all(o.stale.startswith("other weights") for o in fresh.stale)
    assert len(json.loads(state.read_text())["entries"]) == 2 * len(specs)
    assert fresh.worst_case() == first.worst_case()  # the poisoned stale fgsm row is not in it
    worst = first.worst_case()[0.1]
    assert worst <= min(o.robust_accuracy for o in first.outcomes)
    # other samples are no match either
    fewer = evaluate_attacks(exp.model, exp.space, images.subset(list(range(20))), specs[:1], [0.1], state_path=state, model_id={"sha256": "w2"}, quiet=True)
    assert {o.stale.split(":")[0] for o in fewer.stale} == {"other weights", "other samples"}


def test_results_accumulate_and_eps_keeps_its_text(trained, tmp_path):
    exp = trained("onehot")
    images = exp.dataset.test.subset(list(range(40)))
    state = tmp_path / "state.json"
    spec = [AttackSpec("fgsm", "fgsm")]
    evaluate_attacks(exp.model, exp.space, images, spec, ["8/255"], state_path=state, quiet=True)
    report = evaluate_attacks(exp.model, exp.space, images, spec, [" 0.2"], state_path=state, quiet=True)
    assert [(o.eps_text, o.eps) for o in report.outcomes] == [("8/255", pytest.approx(8 / 255)), ("0.2", 0.2)]
    assert report.eps_texts()[8 / 255] == "8/255" and not report.stale
    row = report.rows()[0]
    assert row["eps_text"] == "8/255" and row["stale"] is False


def test_legacy_state_is_kept_as_stale(trained, tmp_path):
    exp = trained("onehot")
    images = exp.dataset.test.subset(list(range(20)))
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"_tag": "abc:20", "fgsm@0.1@linf@None": {"adv_pred": [0] * 20, "steps": 1, "seconds": 0.1}}))
    report = evaluate_attacks(exp.model, exp.space, images, [AttackSpec("fgsm", "fgsm")], [0.1], state_path=state, quiet=True)
    assert len(report.outcomes) == 1 and len(report.stale) == 1 and "state format 1" in report.stale[0].stale
    state.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a labelrobust state file"):
        evaluate_attacks(exp.model, exp.space, images, [AttackSpec("fgsm", "fgsm")], [0.1], state_path=state, quiet=True)


def test_large_eps_is_half_the_domain_diameter(trained):
    from labelrobust.metrics.checks import check_large_eps, large_eps
    from labelrobust.metrics.robust_eval import HALF_DIAMETER

    assert large_eps("linf", (1, 8, 8)) == 0.5 and large_eps("l2", (1, 8, 8)) == 4.0 and large_eps("l2", (3, 32, 32)) == pytest.approx(27.71, abs=0.01)
    exp = trained("onehot")
    images = exp.dataset.test.subset(list(range(20)))
    spec = AttackSpec("pgd-large", "pgd", {"steps": 5, "objective": "margin"}, eps=HALF_DIAMETER)
    report = evaluate_attacks(exp.model, exp.space, images, [spec], [], "l2", quiet=True)
    assert report.outcomes[0].eps == 4.0 and report.outcomes[0].fixed_eps and report.worst_case() == {}
    assert check_large_eps(report).ok is True


def test_targeted_evaluation_leaves_out_the_target_class(trained):
    exp = trained("onehot")
    images = exp.dataset.test.subset(list(range(100)))
    report = evaluate_attacks(exp.model, exp.space, images, [AttackSpec("pgd-t", "pgd", {"steps": 20, "objective": "margin"})], [0.3], target=3, quiet=True)
    assert report.outcomes[0].n == int((images.labels != 3).sum())
    hit = torch.tensor(report.outcomes[0].adv_pred) == 3
    assert hit.float().mean() > 0.8


def test_errors(trained):
    exp = trained("onehot")
    with pytest.raises(ConfigError, match="at least one eps"):
        evaluate_attacks(exp.model, exp.space, exp.dataset.test, get_suite("quick"), [], quiet=True)
    with pytest.raises(ConfigError, match=r"target class must lie in 0\.\.9"):
        evaluate_attacks(exp.model, exp.space, exp.dataset.test, get_suite("quick"), [0.1], target=12, quiet=True)
    with pytest.raises(ConfigError, match=r"eps 100 \(l2\) exceeds the largest l2 distance between two 1×8×8 inputs in \[0, 1\] \(8\)"):
        evaluate_attacks(exp.model, exp.space, exp.dataset.test, get_suite("quick"), [100], "l2", quiet=True)
    for bad in (0, -1, 2.5):
        with pytest.raises(ConfigError, match=f"batch_size must be a positive integer, got {bad}"):
            evaluate_attacks(exp.model, exp.space, exp.dataset.test, get_suite("quick"), [0.1], batch_size=bad, quiet=True)
    with pytest.raises(ConfigError, match="unknown suite 'fast'"):
        get_suite("fast")


def test_cli_attack_and_suite(trained, capsys):
    exp = trained("onehot")
    run_dir = str(exp_dir(exp))
    assert main(["attack", run_dir, "--attack", "pgd", "--eps", "8/255,0.1", "--steps", "10", "--n", "50", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "robust_accuracy" in out and "8/255" in out and "0.0314" not in out
    assert main(["evaluate", run_dir, "--suite", "quick", "--eps", "0.1", "--n", "50", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "own-loss-only" in out and "large-eps" in out
    written = json.loads((exp_dir(exp) / "eval" / "robust-quick.json").read_text())
    assert {c["name"] for c in written["checks"]} >= {"eps-monotone", "large-eps", "own-loss-only", "zero-gradients"}
    assert (exp_dir(exp) / "eval" / "robust-quick.png").stat().st_size > 1000
    assert main(["evaluate", run_dir, "--suite", "quick"]) == 2
    assert "--suite needs --eps" in capsys.readouterr().err
    assert main(["attack", run_dir, "--attack", "pgd", "--eps", "8"]) == 2
    assert "L∞ eps must lie in [0, 1]" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("suite", ["standard", "autoattack"])
def test_the_full_suites_run_end_to_end(trained, suite):
    # every attack of the suite, the black-box and published-package ones included, on a few samples
    exp = trained("onehot")
    images = exp.dataset.test.subset(list(range(24)))
    report = evaluate_attacks(exp.model, exp.space, images, get_suite(suite), [0.3], quiet=True)  # large: most samples fall early, so the suite stays cheap
    labels = {o.label for o in report.outcomes}
    assert labels == {spec.label for spec in get_suite(suite)}
    worst = report.worst_case()[0.3]
    assert all(worst <= o.robust_accuracy + 1e-9 for o in report.outcomes)
    flags = {f.name: f.ok for f in run_checks(report, [])}
    assert flags.get("fgsm-beats-pgd") is not False and flags.get("black-box-beats-white-box") is not False


def exp_dir(exp):
    from pathlib import Path

    return Path(exp.config.out) / exp.config.run_name()


def test_more_effort_and_black_box_checks_on_constructed_outcomes():
    """The comparisons by hand: a stronger budget or a white-box attack that does worse is flagged."""
    from labelrobust.metrics.checks import check_black_box, check_more_effort
    from labelrobust.metrics.robust_eval import Outcome, RobustReport

    labels = torch.zeros(100, dtype=torch.long)

    def outcome(label, attack, acc, effort=20, kind="white-box"):
        pred = [0] * int(acc * 100) + [1] * (100 - int(acc * 100))
        return Outcome(label, attack, "margin", kind, "linf", 0.1, 100, acc, None, 0.0, acc, effort, 0.0, pred, effort=effort)

    weak, strong = outcome("pgd-20", "pgd", 0.40, 20), outcome("pgd-100", "pgd", 0.50, 100)
    report = RobustReport(labels, labels.clone(), [weak, strong], "linf")
    flag = check_more_effort(report)
    assert flag.ok is False and "pgd-100" in flag.outcomes
    assert check_more_effort(RobustReport(labels, labels.clone(), [outcome("pgd-20", "pgd", 0.5, 20), outcome("pgd-100", "pgd", 0.4, 100)], "linf")).ok is True
    square = outcome("square", "square", 0.30, kind="black-box")
    flag = check_black_box(RobustReport(labels, labels.clone(), [weak, square], "linf"))
    assert flag.ok is False and flag.outcomes == ["pgd-20"]
