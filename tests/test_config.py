"""Typed configuration: YAML, overrides, unknown keys, wrong types, range checks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from labelrobust.config import (
    DataConfig,
    LabelConfig,
    MethodConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    apply_overrides,
    as_config,
    load_config,
    parse_override,
    to_dict,
    upgrade_config,
)
from labelrobust.errors import ConfigError


def test_defaults_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data: {name: mnist, train_size: 500}\nlabels: {name: smoothing, params: {eps: 0.2}}\nepochs: 3\n")
    cfg = load_config(path, [parse_override("optim.lr=0.01"), ("epochs", 4), parse_override("data.classes=[3, 5]")])
    assert cfg.data.name == "mnist" and cfg.data.train_size == 500 and cfg.data.classes == [3, 5]
    assert cfg.labels.params == {"eps": 0.2} and cfg.epochs == 4 and cfg.optim.lr == 0.01
    assert cfg.optim.momentum == TrainConfig().optim.momentum  # untouched default
    assert isinstance(load_config(None, [("optim.lr", 1)]).optim.lr, float)


def test_round_trip_through_dict():
    cfg = load_config(None, [("labels.params.eps", 0.3), ("labels.name", "smoothing")])
    assert load_config(None, [(k, v) for k, v in _flat(to_dict(cfg))]) == cfg


def _flat(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict) and k not in ("params", "options", "imbalance"):
            yield from _flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([("optim.lrate", 0.1)], r"unknown config key 'optim.lrate'.*known keys in optim: .*lr"),
        ([("epoch", 3)], r"unknown config key 'epoch'.*epochs"),
        ([("epochs", "three")], r"'epochs' must be an integer, got 'three'"),
        ([("epochs", 0)], "epochs must be ≥ 1"),
        ([("optim.schedule", "step")], "optim.schedule must be one of constant, multistep, cosine"),
        ([("optim.schedule", "multistep")], "optim.milestones must be a non-empty list"),
        ([("optim.momentum", 1.5)], r"optim.momentum must be in \[0, 1\)"),
        ([("data.val_size", -1)], "data.val_size must be ≥ 0"),
    ],
)
def test_bad_overrides_are_specific_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "typo.yaml").write_text("optim: {lrr: 0.1}\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'lrr' in .*typo.yaml: optim"):
        load_config(tmp_path / "typo.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(tmp_path / "list.yaml")


def test_parse_override_needs_equals():
    assert parse_override("data.classes=[cat, dog]") == ("data.classes", ["cat", "dog"])
    with pytest.raises(ConfigError, match="must look like key=value"):
        parse_override("optim.lr")
    with pytest.raises(ConfigError, match="is not a section"):
        apply_overrides({"epochs": 3}, [("epochs.x", 1)], None)


@pytest.mark.parametrize("text, value", [("6e-5", 6e-5), ("1e-3", 1e-3), ("inf", None)])
def test_learning_rates_as_people_write_them(tmp_path, text, value):
    if value is None:  # inf is no learning rate: a finite number is required
        with pytest.raises(ConfigError, match="'optim.lr' must be a finite number"):
            load_config(None, [("optim.lr", parse_override(f"x={text}")[1])])
        return
    (tmp_path / "c.yaml").write_text(f"optim:\n  lr: {text}\n")
    assert load_config(tmp_path / "c.yaml").optim.lr == value
    assert load_config(None, [parse_override(f"optim.lr={text}")]).optim.lr == value
    assert OptimConfig(lr=text).lr == value  # the API takes the same spellings


def test_inf_where_it_means_something():
    wpgd = [("method.name", "wpgd"), ("method.params.eps", 0.1)]
    assert load_config(None, [*wpgd, parse_override("method.params.wasserstein_lam=inf")]).method.params["wasserstein_lam"] == float("inf")
    assert TrainConfig(method=MethodConfig("wpgd", {"eps": 0.1, "wasserstein_lam": "inf"})).method.params["wasserstein_lam"] == "inf"
    with pytest.raises(ConfigError, match="method 'wpgd': power must be a finite number > 0, got inf"):
        load_config(None, [*wpgd, parse_override("method.params.power=inf")])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": -1}, "epochs must be ≥ 1, got -1"),
        ({"batch_size": 0}, "batch_size must be ≥ 1, got 0"),
        ({"name": "../../escape"}, "name must be a single folder name"),
        ({"name": "a/b"}, "name must be a single folder name"),
        ({"name": ".."}, "name must be a single folder name"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"epochs": 2.5}, "'epochs' must be an integer"),
        ({"divergence_factor": 0.5}, "divergence_factor must be 0 \\(off\\) or > 1"),
        ({"optim": OptimConfig(), "data": {"name": "mnist"}}, "'data' must be a DataConfig"),
        ({"method": MethodConfig("at", {"eps": "eight"})}, "method 'at': eps must be a number or a fraction like 8/255, got 'eight'"),
        ({"method": MethodConfig("at", {"eps": -0.1})}, "method 'at': eps must be a finite number ≥ 0, got -0.1"),
        ({"method": MethodConfig("at", {"epz": 0.3})}, "method 'at' has no parameter 'epz'; accepted: eps, norm, inner"),
        ({"method": MethodConfig("at")}, r"method 'at' needs parameter eps \(method.params.eps\)"),
        ({"method": MethodConfig("madry", {"eps": 0.3})}, "unknown training method 'madry'; known: at,"),
        ({"method": {"name": "at", "params": {"eps": 0.3}}}, "'method' must be a MethodConfig"),
        ({"data": DataConfig(train_size=0)}, "data.train_size must be ≥ 1"),
    ],
)
def test_the_api_validates_like_the_cli(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_a_valid_config_survives_replace_and_as_config():
    cfg = TrainConfig(epochs=3)
    assert dataclasses.replace(cfg, device="cuda").device == "cuda"  # a name is valid without the device present
    assert as_config({"epochs": 2, "optim": {"lr": "1e-3"}}).optim.lr == 1e-3
    with pytest.raises(ConfigError, match="expected a TrainConfig or a mapping"):
        as_config(["epochs"])
    with pytest.raises(ConfigError, match="unknown config key 'epoch'"):
        as_config({"epoch": 2})


def test_every_field_documents_itself():
    for section in (TrainConfig, DataConfig, LabelConfig, ModelConfig, OptimConfig, MethodConfig):
        for f in dataclasses.fields(section):
            assert len(f.metadata.get("help", "")) > 10, f"{section.__name__}.{f.name} has no help text"


def test_names_in_yaml_that_read_as_numbers(tmp_path):
    (tmp_path / "int.yaml").write_text("name: 2024\n")
    assert load_config(tmp_path / "int.yaml").name == "2024"  # an integer keeps its spelling
    (tmp_path / "float.yaml").write_text("name: 1e5\n")
    with pytest.raises(ConfigError, match=r"'name' must be text, but 100000.0 reads as a number; quote it in YAML \(name: '...'\)"):
        load_config(tmp_path / "float.yaml")


def test_method_section_and_its_params(tmp_path):
    """``method: {name, params}``: the params are the method's, checked when the config is built."""
    (tmp_path / "at.yaml").write_text("method:\n  name: clirat\n  params: {eps: 8/255, burn_in: 2}\n")
    cfg = load_config(tmp_path / "at.yaml", [("method.params.steps", 3)])
    assert cfg.method == MethodConfig("clirat", {"eps": "8/255", "burn_in": 2, "steps": 3})
    with pytest.raises(ConfigError, match=r"'method.params' must be dict, got 'eps=0.3'"):
        MethodConfig("at", "eps=0.3")
    with pytest.raises(ConfigError, match=r"unknown config key 'method.eps': .*known keys in method: name, params \(method parameters go under method.params, e.g. method.params.eps\)"):
        load_config(None, [("method.eps", 0.3)])
    (tmp_path / "v2.yaml").write_text("config_version: 2\nmethod: {name: at, eps: 0.3}\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'eps' in .*v2.yaml: method; known keys: name, params \(method parameters go under method.params"):
        load_config(tmp_path / "v2.yaml")


V1_METHOD = """method:
  name: clirat
  eps: 0.1
  norm: linf
  steps: 2
  step_size: null
  random_start: true
  eps_warmup: 0
  objective: null
  trades_beta: null
  mart_lambda: null
  reweight: null
  gamma: null
  bias: null
  burn_in: 1
  noise_std: 0.3
  cost: null
  power: 1.0
  wasserstein_lam: 1.0
"""
"""The method section of a version-1 config.yaml as labelrobust 0.1 wrote it (every key, flat)
— with one key (noise_std) that at never read."""


def test_version_1_method_sections_are_upgraded(tmp_path, caplog):
    (tmp_path / "v1.yaml").write_text(V1_METHOD)
    cfg = load_config(tmp_path / "v1.yaml")
    assert cfg.method == MethodConfig("clirat", {"eps": 0.1, "steps": 2, "burn_in": 1})  # defaults and ignored keys dropped
    assert "method 'clirat' ignored noise_std=0.3; dropped" in caplog.text
    assert upgrade_config({"config_version": 1, "method": {"name": "at", "eps": 0.3, "steps": 10}}) == {"method": {"name": "at", "params": {"eps": 0.3}}}
    # a partial version-1 file whose method name comes from a flag keeps every key it set
    assert upgrade_config({"method": {"eps": 0.3, "trades_beta": 4.0}}) == {"method": {"params": {"eps": 0.3, "trades_beta": 4.0}}}
    assert upgrade_config({"method": {"name": "at"}, "epochs": 3}) == {"method": {"name": "at"}, "epochs": 3}  # both formats
    assert as_config({"method": {"name": "at", "eps": 0.3}}).method == MethodConfig("at", {"eps": 0.3})  # lr.train({...}) too


@pytest.mark.parametrize(
    "data, message",
    [
        ({"config_version": 3}, r"config: config_version 3 is not a format this labelrobust reads \(1 or 2\); was it written by a newer labelrobust\?"),
        ({"config_version": "2"}, "config_version '2' is not a format"),
        ({"config_version": 1, "method": {"name": "at", "epz": 0.3}}, r"unknown config key 'epz' in section 'method' of config \(format version 1\); known keys: name, eps, norm"),
    ],
)
def test_bad_config_versions(data, message):
    with pytest.raises(ConfigError, match=message):
        upgrade_config(data)


def test_comparison_variants_in_either_format():
    """A comparison file's variants may keep version 1's flat method keys; they are upgraded
    like a config file (the embedded robust-training comparison uses the current format)."""
    from labelrobust.reproduce.compare import read_comparison, variant_configs

    spec = {"base": {"epochs": 1}, "variants": {"old": {"method": {"name": "at", "eps": 0.3, "steps": 3}}, "new": {"method": {"name": "at", "params": {"eps": 0.3, "steps": 3}}}}}
    configs = variant_configs(spec)
    assert configs["old"].method == configs["new"].method == MethodConfig("at", {"eps": 0.3, "steps": 3})
    shipped = variant_configs(read_comparison(str(Path(__file__).parents[1] / "labelrobust" / "reproduce" / "robust_training.yaml")))
    assert shipped["clirat"].method == MethodConfig("clirat", {"eps": 0.3, "steps": 10, "eps_warmup": 2, "burn_in": 2})
    with pytest.raises(ConfigError, match="comparison variant 'bad': config_version 9"):
        variant_configs({"base": {}, "variants": {"bad": {"config_version": 9}}})
