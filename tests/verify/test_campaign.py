"""Verifying a trained DOUBLE-MNIST run: per-sample results, resume, settings guard, workers."""

import json

import pytest
import torch

from labelrobust.config import load_config
from labelrobust.errors import ConfigError
from labelrobust.labels import make_label_space
from labelrobust.labels.registry import LABEL_SPACES
from labelrobust.training import train
from labelrobust.verify.campaign import QuerySpec, check_scores_are_outputs, verify_run
from labelrobust.verify.pipeline import VerifyConfig

from tests.multilabel_runs import overrides

CONFIG = VerifyConfig(timeout=60, attack_steps=10, attack_restarts=1)


@pytest.fixture(scope="module")
def tiny_run(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("verify-runs")
    cfg = load_config(None, [*overrides(data_root, out, "tiny"), ("model.options", {"channels": [2, 3]})])
    return train(cfg, quiet=True)


def test_linf_campaign_writes_per_sample_results_and_resumes(tiny_run):
    spec = QuerySpec(property="top2", set_kind="linf", eps=0.002)
    result = verify_run(tiny_run, spec, CONFIG, n=4)
    assert result.summary["n"] == 4 and result.summary["unknown"] == 0
    assert result.summary["robust"] + result.summary["not robust"] == 4
    files = sorted(p.name for p in (result.folder / "samples").iterdir())
    assert files == ["0.json", "1.json", "2.json", "3.json"]
    record = json.loads((result.folder / "samples" / "0.json").read_text())
    assert record["property"] == "top2" and record["status"] in ("robust", "not robust") and "clean_margin" in record["details"]
    for r in result.records:
        if r["status"] == "not robust":
            assert r["counterexample_margin_float64"] >= 0
    # a second call reads the saved samples instead of verifying again
    (result.folder / "samples" / "1.json").write_text(json.dumps({**result.records[1], "marker": True}))
    again = verify_run(tiny_run, spec, CONFIG, n=4)
    assert again.records[1].get("marker") is True


def test_other_settings_need_force(tiny_run):
    spec = QuerySpec(property="top2", set_kind="linf", eps=0.003)
    verify_run(tiny_run, spec, CONFIG, n=2)
    with pytest.raises(ConfigError, match="other settings .*timeout.* pass --force"):
        verify_run(tiny_run, spec, VerifyConfig(timeout=30, attack_steps=10, attack_restarts=1), n=2)
    result = verify_run(tiny_run, spec, VerifyConfig(timeout=30, attack_steps=10, attack_restarts=1), n=2, force=True)
    assert result.summary["n"] == 2


def test_layered_campaign_and_parallel_workers_agree(tiny_run, tmp_path):
    spec = QuerySpec(property="top2", set_kind="layered", layer_eps=(0.05, 0.02))
    serial = verify_run(tiny_run, spec, CONFIG, n=3, out=tmp_path / "serial")
    parallel = verify_run(tiny_run, spec, CONFIG, n=3, out=tmp_path / "parallel", workers=2)
    assert [r["status"] for r in serial.records] == [r["status"] for r in parallel.records]
    assert serial.records[0]["input_set"]["kind"] == "layered"


def test_bad_campaign_inputs(tiny_run):
    with pytest.raises(ConfigError, match="needs --eps"):
        QuerySpec(set_kind="linf")
    with pytest.raises(ConfigError, match="eps of layer 1"):
        QuerySpec(set_kind="layered", layer_eps=(0.1, -0.1))
    with pytest.raises(ConfigError, match="perturbed object 2 does not exist"):
        verify_run(tiny_run, QuerySpec(set_kind="layered", layer_eps=(0.1,), perturbed_object=2), CONFIG, n=1)


def test_scores_are_outputs_is_what_each_space_says():
    for name in LABEL_SPACES.available():
        space = make_label_space(name, 10)
        outputs = torch.randn(5, space.out_dim)
        if space.scores_are_outputs:
            assert torch.equal(space.scores(outputs), outputs), name
            check_scores_are_outputs(space)
        else:
            with pytest.raises(ConfigError, match="scores are not the network outputs"):
                check_scores_are_outputs(space)


def test_a_folder_with_samples_but_no_settings_is_refused(tiny_run, tmp_path):
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "0.json").write_text("{}")
    spec = QuerySpec(property="top2", set_kind="linf", eps=0.002)
    with pytest.raises(ConfigError, match="no settings.json"):
        verify_run(tiny_run, spec, CONFIG, n=1, out=tmp_path)
    (tmp_path / "settings.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        verify_run(tiny_run, spec, CONFIG, n=1, out=tmp_path)


def test_non_finite_weights_are_refused_before_any_stage():
    from torch import nn

    from labelrobust.verify.network import from_torch

    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).eval()
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    with pytest.raises(ConfigError, match="layer 1 .*NaN or inf"):
        from_torch(model, (4,))
