"""Typed configuration: YAML, overrides, unknown keys, wrong types, range checks."""

from __future__ import annotations

import pytest

from labelrobust.config import TrainConfig, apply_overrides, load_config, parse_override, to_dict
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
        ([("epochs", "three")], r"'epochs' must be int, got 'three'"),
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
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("optim.lr")
    with pytest.raises(ConfigError, match="is not a section"):
        apply_overrides({"epochs": 3}, [("epochs.x", 1)], None)
