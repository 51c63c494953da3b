"""The reproduction framework: claims and their verdicts, the run cache, the output folder guard,
the report files, and the command line's error paths."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelrobust.cli.main import main
from labelrobust.config import as_config
from labelrobust.errors import ConfigError, OutputError
from labelrobust.reproduce.claims import CONTRADICTED, NOT_TESTABLE, SUPPORTED, VERDICTS, Claim, at_study_setting, greater, majority, noise
from labelrobust.reproduce.report import Figure, Report, Section, Table, write_report
from labelrobust.reproduce.run_cache import cached_config, cached_train, config_hash, is_finished
from labelrobust.reproduce.study import MARKER, make_context, prepare_out, study_names
from labelrobust.runs import RunPaths
from labelrobust.training import train

# -- claims ------------------------------------------------------------------------------------


def test_greater_decides_only_outside_the_noise_band():
    assert greater("a > b", ("a", 0.9, 1000), ("b", 0.5, 1000)).verdict == SUPPORTED
    assert greater("a > b", ("a", 0.5, 1000), ("b", 0.9, 1000)).verdict == CONTRADICTED
    within = greater("a > b", ("a", 0.52, 100), ("b", 0.50, 100))
    assert within.verdict == NOT_TESTABLE and "within noise" in within.evidence
    assert "a 52.0% vs b 50.0%" in within.evidence


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.integers(1, 10_000), st.integers(1, 10_000))
def test_noise_is_two_standard_errors_and_symmetric(a, b, n_a, n_b):
    band = noise(a, b, n_a, n_b)
    assert band == pytest.approx(noise(b, a, n_b, n_a))
    assert 0 <= band <= 2 * (0.25 / n_a + 0.25 / n_b) ** 0.5 + 1e-12
    verdict = greater("", ("a", a, n_a), ("b", b, n_b)).verdict
    assert verdict == (SUPPORTED if a - b > band else CONTRADICTED if b - a > band else NOT_TESTABLE)


def test_no_samples_means_infinite_noise_and_a_zero_rate_still_has_a_band():
    assert noise(0.5, 0.5, 0, 10) == float("inf")
    assert greater("a > b", ("a", 0.04, 100), ("b", 0.0, 100)).verdict == NOT_TESTABLE  # 4 of 100 vs 0 of 100


def test_majority_counts_decided_comparisons():
    s, c, n = (Claim("x", v, v) for v in (SUPPORTED, CONTRADICTED, NOT_TESTABLE))
    assert majority("m", [s, s, c]).verdict == SUPPORTED
    assert majority("m", [c, n, n]).verdict == CONTRADICTED
    assert majority("m", [s, c, n]).verdict == NOT_TESTABLE
    assert "1 supported, 1 contradicted, 1 within noise" in majority("m", [s, c, n]).evidence
    assert majority("m", [s] + [n] * 9).verdict == NOT_TESTABLE  # one decided comparison of ten is not enough
    assert majority("m", [c] * 4 + [n] * 6).verdict == CONTRADICTED


def test_absolute_numbers_are_testable_only_at_the_studys_setting():
    assert at_study_setting("c", 0.80, 0.84, False, 0.03, "acc").verdict == NOT_TESTABLE
    assert at_study_setting("c", 0.82, 0.84, True, 0.03, "acc").verdict == SUPPORTED
    assert at_study_setting("c", 0.70, 0.84, True, 0.03, "acc").verdict == CONTRADICTED
    assert at_study_setting("c", None, 0.84, True, 0.03, "acc").verdict == NOT_TESTABLE


def test_a_claim_refuses_an_unknown_verdict():
    with pytest.raises(ConfigError, match="verdict must be one of"):
        Claim("x", "probably", "")
    assert set(VERDICTS) == {SUPPORTED, CONTRADICTED, NOT_TESTABLE}


# -- the report --------------------------------------------------------------------------------


def _png(path):
    from labelrobust.analysis.figures import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    return save_figure(fig, path)


def test_the_report_is_written_as_markdown_self_contained_html_and_json(tmp_path):
    (tmp_path / "figures").mkdir()
    figure = _png(tmp_path / "figures" / "f.png")
    table = Table("T <b>", ["model", "acc", "n"], [["<script>x</script>", 0.5, 3], ["b|c", None, 4]], note="a note", percent=("acc",))
    report = Report("demo", "Demo study", "Someone 2020", "ci", "tiny", [Section("S", "text", [table], [Figure("F", figure, "cap")])],
                    [Claim("it holds", SUPPORTED, "row 1")], runs=[{"run": "r", "what": "w", "directory": "runs/r", "seconds": 1.0, "status": "trained"}],
                    provenance={"command": "x", "date": "d", "machine": "m", "device": "cpu", "seconds": 2})
    md, page, data = write_report(report, tmp_path)
    text = md.read_text()
    assert "| <script>x</script> | 50.00% | 3 |" in text and "b\\|c" in text and "| b\\|c | – | 4 |" in text
    assert "![F](figures/f.png)" in text and "| it holds | supported | row 1 |" in text
    html = page.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html  # cells are escaped
    assert re.search(r'<img alt="F" src="data:image/png;base64,[A-Za-z0-9+/=]{100,}">', html)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing to fetch
    assert 'class="supported"' in html
    saved = json.loads(data.read_text())
    assert saved["format"] == "labelrobust-reproduction-1" and saved["sections"][0]["figures"][0]["path"] == "figures/f.png"
    assert saved["claims"] == [{"claim": "it holds", "verdict": "supported", "evidence": "row 1"}]


def test_table_cells_print_rates_numbers_and_missing_values():
    t = Table("t", ["a", "b"], [[0.1234, 0.1234], [True, float("nan")]], percent=("a",))
    assert t.text_rows() == [["12.34%", "0.1234"], ["yes", "–"]]


# -- the run cache -----------------------------------------------------------------------------


def _digits(tmp_path, **changes):
    return as_config({"data": {"name": "digits", "train_size": 200, "test_size": 50}, "model": {"name": "mnist-cnn", "options": {"width": 4}},
                      "epochs": 1, "batch_size": 50, "out": str(tmp_path), **changes})


def test_the_hash_ignores_where_a_run_executes_but_not_what_it_computes(tmp_path):
    base = _digits(tmp_path)
    assert config_hash(base) == config_hash(_digits(tmp_path / "elsewhere", name="other", device="cpu", checkpoint_every=3))
    assert config_hash(base) != config_hash(_digits(tmp_path, epochs=2))
    assert config_hash(base) != config_hash(_digits(tmp_path, seed=1))
    assert re.fullmatch(r"[0-9a-f]{12}", config_hash(base))
    assert cached_config(base, "lab", tmp_path / "runs").run_name() == f"lab-{config_hash(base)}"


def test_a_finished_run_is_reused_an_interrupted_one_resumes_and_force_retrains(tmp_path):
    cfg = _digits(tmp_path, epochs=2)
    placed = cached_config(cfg, "run", tmp_path / "runs")
    train(placed, quiet=True, stop_after_batches=2)  # interrupted inside the first epoch
    assert not is_finished(placed) and RunPaths(tmp_path / "runs" / placed.run_name()).checkpoint.is_file()
    run_dir = cached_train(cfg, "run", tmp_path / "runs")
    assert is_finished(placed)
    log = (run_dir / "train.log").read_text()
    assert "resuming" in log
    stamp = (run_dir / "model.safetensors").stat().st_mtime_ns
    assert cached_train(cfg, "run", tmp_path / "runs") == run_dir
    assert (run_dir / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not retrained
    cached_train(cfg, "run", tmp_path / "runs", force=True)
    assert (run_dir / "model.safetensors").stat().st_mtime_ns != stamp


# -- the output folder and the context ----------------------------------------------------------


def test_an_output_folder_of_something_else_is_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("user's work")
    with pytest.raises(OutputError, match="not a reproduction"):
        prepare_out(tmp_path, "softlabel", "ci")
    other = tmp_path / "other"
    prepare_out(other, "softlabel", "small")
    with pytest.raises(OutputError, match="'softlabel' at scale 'small', not 'softlabel' at scale 'ci'"):
        prepare_out(other, "softlabel", "ci")
    assert prepare_out(other, "softlabel", "small") == other  # the same reproduction continues
    assert json.loads((other / MARKER).read_text())["study"] == "softlabel"
    assert (tmp_path / "mine.txt").read_text() == "user's work"


def test_unknown_studies_scales_and_devices_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown study 'nope'; known: .*softlabel"):
        make_context("nope", "ci", tmp_path)
    with pytest.raises(ConfigError, match="unknown scale 'huge'"):
        make_context("softlabel", "huge", tmp_path)
    with pytest.raises(ConfigError):
        make_context("softlabel", "ci", tmp_path, device="gpu7")
    assert "softlabel" in study_names()


def test_the_command_line_names_the_bad_study_and_lists_studies(tmp_path, capsys):
    assert main(["reproduce", "nope", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown study 'nope'" in err
    assert main(["list", "studies"]) == 0
    assert "softlabel" in capsys.readouterr().out
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    assert main(["reproduce", "softlabel", "--out", str(tmp_path / "busy")]) == 2
    assert "not a reproduction" in capsys.readouterr().err
