"""The run-level part of the neighbourhood searches: the question asked, the results folder
that never mixes settings, the summary. (A real run end to end: tests/cli/test_neighbourhood_cli.py.)"""

from __future__ import annotations

import json

import pytest

from labelrobust.errors import ConfigError
from labelrobust.verify.neighbourhood_runs import NeighbourhoodSpec, results_folder, summarise


def test_spec_fills_in_the_default_weights_and_names_its_folder():
    spec = NeighbourhoodSpec()
    assert spec.weights == (1.0, 0.75, 0.5, 0.25) and spec.label("fixed") == "top2-r3-w1_0.75_0.5_0.25-fixed"
    assert NeighbourhoodSpec(layers=1, weights=(2, 1), property="argmax").label("sensitivity") == "argmax-r1-w2_1-sensitivity"
    with pytest.raises(ConfigError, match="got 2 weights for 4 layers"):
        NeighbourhoodSpec(weights=(1, 1))
    with pytest.raises(ConfigError, match="start ε: got 1 radii for 4 layers"):
        NeighbourhoodSpec(start=(0.1,))
    with pytest.raises(ConfigError, match="layers must be an integer ≥ 0"):
        NeighbourhoodSpec(layers=-1)
    with pytest.raises(ConfigError, match="property must be one of argmax, top2"):
        NeighbourhoodSpec(property="top3")


def test_results_folder_refuses_other_settings_unless_forced(tmp_path):
    folder = tmp_path / "neighbourhood" / "x"
    results_folder(folder, {"search": {"tolerance": 0.01}}, force=False)
    (folder / "samples" / "0.search.json").write_text("{}")
    results_folder(folder, {"search": {"tolerance": 0.01}}, force=False)  # the same settings resume
    assert (folder / "samples" / "0.search.json").is_file()
    with pytest.raises(ConfigError, match=r"holds neighbourhood results of other settings \(search.tolerance differ\); pass --force"):
        results_folder(folder, {"search": {"tolerance": 0.02}}, force=False)
    results_folder(folder, {"search": {"tolerance": 0.02}}, force=True)
    assert not (folder / "samples" / "0.search.json").exists()
    assert json.loads((folder / "settings.json").read_text()) == {"search": {"tolerance": 0.02}}


def _record(status: str, size: float, calls: int, eps) -> dict:
    return {"status": status, "weighted_size": size, "calls": calls, "seconds": 2.0 * calls, "eps": eps}


def test_summary_averages_over_the_images_that_were_searched():
    records = {"search": [_record("robust", 0.2, 10, [0.1, 0.2]), _record("not robust", 0.0, 1, [0, 0]), _record("robust", 0.4, 6, [0.3, 0.0])]}
    s = summarise(records)["search"]
    assert (s["n"], s["searched"]) == (3, 2)
    assert s["mean_weighted_size"] == pytest.approx(0.3) and s["mean_calls"] == 8 and s["mean_seconds"] == 16
    assert s["mean_eps"] == pytest.approx([0.2, 0.1])
    assert summarise({"binary": [_record("unknown", 0.0, 1, [0.0])]})["binary"]["searched"] == 0
