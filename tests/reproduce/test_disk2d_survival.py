"""The disk2d survival experiment at ``--scale ci``: a complete table, sane values, and attacks
that stay in the disk's domain and in their ball."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from labelrobust.domain import Box
from labelrobust.errors import ConfigError
from labelrobust.reproduce import disk2d_survival as ds
from labelrobust.reproduce.disk2d_survival import EPS, MODELS, NORMS, OBJECTIVES, WORST

# Survival may rise with eps by at most this much (one or two points an attack of 20 steps misses).
TOLERANCE = 0.02


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return ds.run_survival("ci", tmp_path_factory.mktemp("disk2d-survival"))


def test_the_table_has_every_eps_for_both_models_both_norms_and_every_objective(result):
    cells = {(r["model"], r["norm"], r["eps"], r["objective"]) for r in result.summary["rows"]}
    expected = {(m, n, e, o) for m in MODELS for n in NORMS for e in EPS for o in (*OBJECTIVES, WORST)}
    assert cells == expected and len(result.summary["rows"]) == len(expected)
    assert set(EPS) >= {0.5, 0.25, 0.1, 0.01, 0.001}
    assert {(v["norm"], v["eps"], v["objective"]) for v in result.summary["soft_vs_hard"]} == {
        (n, e, o) for n in NORMS for e in EPS for o in (*OBJECTIVES, WORST)
    }


def test_values_are_rates_and_survival_does_not_grow_with_eps(result):
    for row in result.summary["rows"]:
        assert 0.0 <= row["survival"] <= 1.0 and 0.0 <= row["robust_accuracy"] <= 1.0
        assert row["robust_accuracy"] <= row["survival"] + 1e-9  # robust needs unchanged *and* correct
    for m in MODELS:
        for n in NORMS:
            for o in (*OBJECTIVES, WORST):
                curve = [result.rows(model=m, norm=n, objective=o, eps=e)[0]["survival"] for e in sorted(EPS)]
                assert all(later <= earlier + TOLERANCE for earlier, later in zip(curve, curve[1:])), (m, n, o, curve)
                worst = [result.rows(model=m, norm=n, objective=WORST, eps=e)[0]["survival"] for e in EPS]
                single = [result.rows(model=m, norm=n, objective=o, eps=e)[0]["survival"] for e in EPS]
                assert all(w <= s + 1e-9 for w, s in zip(worst, single))


def test_the_models_learned_the_disk(result):
    for m in MODELS:
        assert result.summary["models"][m]["clean_accuracy"] > 0.85
    # the largest radius moves every point across a boundary of radius ~0.38 in L∞: few survive
    assert result.rows(model="hard", norm="linf", eps=0.5, objective=WORST)[0]["survival"] < 0.5
    assert result.rows(model="hard", norm="linf", eps=0.001, objective=WORST)[0]["survival"] > 0.9


def test_adversarial_points_lie_in_the_domain_and_within_eps(result):
    radius = result.summary["dataset"]["radius"]
    assert result.domain == Box(-radius, radius)
    x = result.clean
    assert len(result.adversarial) == len(result.summary["rows"])
    for (model, norm, eps, objective), x_adv in result.adversarial.items():
        assert x_adv.shape == x.shape and torch.isfinite(x_adv).all()
        assert float(x_adv.min()) >= -radius and float(x_adv.max()) <= radius, (model, norm, eps, objective)
        delta = x_adv - x
        distance = delta.abs().amax(dim=1) if norm == "linf" else delta.norm(dim=1)
        assert float(distance.max()) <= eps * (1 + 1e-5) + 1e-7, (model, norm, eps, objective)
    assert result.summary["domain_ok"] is True


def test_the_outputs_are_written_and_say_whether_soft_beats_hard(result):
    out = Path(result.summary["models"]["soft"]["run_dir"]).parents[1]
    summary = json.loads((out / "survival.json").read_text())
    assert summary["rows"] == json.loads(json.dumps(result.summary["rows"]))
    assert summary["study"]["soft"] == [42.68, 59.98, 85.24, 98.10, 99.82]
    text = (out / "survival.md").read_text()
    for heading in ("### Survival, L∞", "### Survival, L2", "### Robust accuracy against the true label", "### Does soft ≥ hard hold?"):
        assert heading in text
    assert "study soft" in text and "42.68%" in text and "26.16%" in text
    assert text.count("soft ≥ hard? (own loss)") == 2


def test_exact_boundary_survival_in_closed_form():
    # R = 1, r0 ≈ 0.380: a centre point at the origin survives eps below r0 (L2) or r0/√2 (L∞)
    r0 = ds.hard_boundary_radius(1.0)
    origin, rim = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.9, 0.0]])
    centre, outer = torch.tensor([0]), torch.tensor([1])
    assert ds.exact_boundary_survival(origin, centre, "l2", r0 - 0.01, 1.0).item()
    assert not ds.exact_boundary_survival(origin, centre, "l2", r0 + 0.01, 1.0).item()
    assert ds.exact_boundary_survival(origin, centre, "linf", r0 / math.sqrt(2) - 0.01, 1.0).item()
    assert not ds.exact_boundary_survival(origin, centre, "linf", r0 / math.sqrt(2) + 0.01, 1.0).item()
    assert ds.exact_boundary_survival(rim, outer, "linf", 0.9 - r0 - 0.01, 1.0).item()
    assert not ds.exact_boundary_survival(rim, outer, "linf", 0.9 - r0 + 0.01, 1.0).item()


def test_the_command_reuses_finished_runs_and_prints_the_table(result, capsys):
    out = Path(result.summary["models"]["soft"]["run_dir"]).parents[1]
    weights = out / "runs" / "soft" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert ds.main(["--scale", "ci", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert weights.stat().st_mtime_ns == before  # the trained runs were reused, not trained again
    assert "### Survival, L∞" in printed and "soft ≥ hard" in printed
    again = json.loads((out / "survival.json").read_text())
    assert again["command"] == f"python -m labelrobust.reproduce.disk2d_survival --scale ci --out {out}"
    assert [r["survival"] for r in again["rows"]] == [r["survival"] for r in result.summary["rows"]]  # seeded


@pytest.mark.parametrize(("kwargs", "message"), [({"scale": "huge"}, r"^unknown scale 'huge'; known: ci, small$"), ({"seed": -1}, r"^seed must be a non-negative integer, got -1$")])
def test_bad_arguments_are_one_line_errors(kwargs, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        ds.run_survival(**({"out": tmp_path} | kwargs))
