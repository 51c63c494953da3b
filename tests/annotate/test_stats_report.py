"""labelrobust.annotate.stats_report: the CSV, markdown and PNG of a campaign's statistics, the
output-folder guard, and the heat-map cells of the stats page."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from PIL import Image

from labelrobust.annotate.stats import campaign_stats
from labelrobust.annotate.stats_report import (
    FILES,
    MISSING,
    HeatCell,
    heat_colour,
    matrix_cells,
    rating_matrix_figure,
    stats_markdown,
    write_stats_report,
)
from labelrobust.data.softcifar10 import SURVEY_FILE, read_survey
from labelrobust.errors import DataError, OutputError

NAMES = ("plane", "car", "bird")


@pytest.fixture
def stats():
    """Two participants, three images; class 'car' has no image (a NaN row)."""
    ratings = np.array([[4, 1, 0], [3, 0, 1], [0, 0, 0], [0, 1, 4], [1, 2, 3]])
    return campaign_stats(ratings, [0, 0, 1, 2, 2], [0, 1, 0, 0, 1], [0, 0, -1, 2, 2],
                          1714568400.0 + np.array([3570, 3580, 3590, 3610, 3640]), NAMES, ["ann", "bo|b"], campaign="demo")


@pytest.fixture(scope="module")
def survey_stats(data_root):
    survey = read_survey(data_root / SURVEY_FILE)
    m = len(survey)
    names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    return campaign_stats(survey.ratings.numpy(), np.arange(m), np.zeros(m, np.int64), survey.labels.numpy(),
                          1.7e9 + 18.0 * np.arange(m), names, ["survey"], campaign="softcifar10-survey")


def test_report_files(stats, tmp_path):
    out = tmp_path / "new" / "report"
    paths = write_stats_report(stats, out)
    assert [p.name for p in paths] == list(FILES) and sorted(p.name for p in out.iterdir()) == sorted(FILES)
    rows = list(csv.reader(io.StringIO((out / "rating-matrix.csv").read_text())))
    assert rows[0] == ["true \\ rated", *NAMES] and [r[0] for r in rows[1:]] == list(NAMES)
    values = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_array_equal(values, stats.matrix)  # full precision, nan for 'car'
    assert rows[2][1:] == ["nan"] * 3
    with Image.open(out / "rating-matrix.png") as png:
        assert png.format == "PNG" and min(png.size) > 100


def test_markdown_tables(stats):
    text = stats_markdown(stats)
    assert text.startswith("# Campaign demo")
    assert "5 answers of 3 images (2 answered by two or more participants); 1 answers all zero, 4 with fewer than 3 non-zero classes" in text
    assert "| plane | 3.50 | 0.50 | 0.50 |" in text and "| car | – | – | – |" in text and "| bird | 0.50 | 1.50 | 3.50 |" in text
    assert "| ann | 3 |" in text and "| bo\\|b | 2 |" in text  # a | in a name does not split the table
    assert "| 2024-05-01T13:00+00:00 | 3 |" in text and "| 2024-05-01T14:00+00:00 | 2 |" in text
    assert "Median time between a participant's consecutive answers: 20.0 s (about 180 answers an hour)." in text
    assert "Jensen–Shannon" in text and f"| {stats.jensen_shannon:.3f} | 2 pairs of answers |" in text
    assert f"| {stats.alpha:.3f} | 6 (image, class) units |" in text


def test_markdown_of_an_empty_campaign():
    empty = campaign_stats(np.zeros((0, 2), int), [], [], [], [], ["a", "b"], [])
    text = stats_markdown(empty)
    assert "0 answers of 0 images" in text and "No answers of images with a known true class" in text
    assert "| – | 0 |" in text and "Median time between a participant's consecutive answers: – s." in text
    assert "| – | 0 pairs of answers |" in text


def test_survey_report(survey_stats, tmp_path):
    text = stats_markdown(survey_stats)
    assert "| airplane | 3.21 | 0.39 | 0.80 |" in text and "| cat | 0.02 | 0.04 | 0.31 | 2.81 | 0.53 | 1.70 |" in text
    assert "about 200 answers an hour" in text and "10000 answers of 10000 images (0 answered" in text
    write_stats_report(survey_stats, tmp_path)
    rows = list(csv.reader(io.StringIO((tmp_path / "rating-matrix.csv").read_text())))
    assert round(float(rows[4][6]), 2) == 1.70  # cat → dog


def test_figure_names_both_axes_and_writes_the_values(stats, survey_stats):
    import matplotlib.pyplot as plt

    fig = rating_matrix_figure(survey_stats)
    try:
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == list(survey_stats.class_names)
        assert [t.get_text() for t in ax.get_yticklabels()] == list(survey_stats.class_names)
        texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}
        assert texts[(0, 0)].get_text() == "3.21" and texts[(3, 5)].get_text() == "1.70"
        assert texts[(0, 0)].get_color() == "white" and texts[(0, 1)].get_color() == "black"
        assert ax.images[0].get_clim() == (0, 4)  # the page's fixed scale
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("rated class", "true class")
    finally:
        plt.close(fig)
    fig = rating_matrix_figure(stats)
    try:
        assert {t.get_text() for t in fig.axes[0].texts} >= {"–", "3.50"}
    finally:
        plt.close(fig)


def test_a_folder_with_files_needs_force(stats, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="already holds results; pass --force"):
        write_stats_report(stats, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # refused before writing
    (tmp_path / "stats.md").write_text("old")
    write_stats_report(stats, tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "stats.md").read_text().startswith("# Campaign demo")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # atomic writes leave no temporary files
    write_stats_report(stats, tmp_path / "empty-is-fine")
    (tmp_path / "empty").mkdir()
    write_stats_report(stats, tmp_path / "empty")


def test_an_out_path_that_is_a_file(stats, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        write_stats_report(stats, tmp_path / "file" / "report")


def test_heat_cells():
    cells = matrix_cells([[0.0, 4.0, 2.0], [math.nan, 9.0, -1.0]], 4)
    assert [[c.colour for c in row] for row in cells] == [["#ffffff", "#08306b", "#8498b5"], [MISSING, "#08306b", "#ffffff"]]
    assert [[c.label for c in row] for row in cells] == [["0.00", "4.00", "2.00"], ["–", "9.00", "-1.00"]]
    assert [[c.dark for c in row] for row in cells] == [[False, True, False], [False, True, False]]
    value, colour = cells[0][1]  # unpacks as the page's (value, colour) pairs
    assert (value, colour) == (4.0, "#08306b") and isinstance(cells[0][1], HeatCell)
    assert heat_colour(2.2, 4) == matrix_cells([[2.2]], 4)[0][0].colour and heat_colour(2.2, 4) != heat_colour(2.3, 4)
    assert matrix_cells(np.zeros((0, 0)), 4) == []


@pytest.mark.parametrize("top", [0, -1, math.nan, math.inf, "4", True, None])
def test_bad_scale(top):
    with pytest.raises(DataError, match="top of the scale must be a number > 0"):
        heat_colour(1.0, top)
    with pytest.raises(DataError, match="top of the scale must be a number > 0"):
        matrix_cells([[1.0]], top)


def test_cells_need_a_matrix():
    with pytest.raises(DataError, match=r"matrix must be 2-D \(true class × rated class\), got shape \(3,\)"):
        matrix_cells([1.0, 2.0, 3.0], 4)
