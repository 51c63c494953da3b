"""Typed configuration: YAML, overrides, unknown keys, wrong types, range checks."""

from __future__ import annotations

import dataclasses

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
    assert MethodConfig(wasserstein_lam="inf").wasserstein_lam == float("inf")
    assert load_config(None, [parse_override("method.wasserstein_lam=inf")]).method.wasserstein_lam == float("inf")
    with pytest.raises(ConfigError, match="'method.power' must be a finite number"):
        MethodConfig(power=float("inf"))


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
        ({"method": MethodConfig(eps="eight")}, "method.eps must be a number or a fraction like 8/255"),
        ({"method": MethodConfig(eps=-0.1)}, "method.eps must be a finite number ≥ 0"),
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
