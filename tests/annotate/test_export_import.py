"""The export file and the import of the published survey, on real data."""

from __future__ import annotations

import numpy as np
import pytest

from labelrobust.annotate import AnnotationRefused, join, next_task, open_store, submit
from labelrobust.annotate.export import FORMAT, export_soft_labels, per_image_labels
from labelrobust.annotate.store import answer_table
from labelrobust.annotate.survey_import import import_survey
from labelrobust.data import load_dataset
from labelrobust.data.softcifar10 import SURVEY_FILE, rating_means, read_survey
from labelrobust.errors import ConfigError, DataError, OutputError
from tests.annotate.store_fixtures import cifar_campaign, table_counts

K = 10


def _answer_all(engine, campaign, name, ratings_of):
    p = join(engine, campaign, name)
    while (t := next_task(engine, p)) is not None:
        submit(engine, p, t.image_id, ratings_of(t.source_index), f"{name}-submission-{t.image_id}")


def test_export_averages_normalised_answers(tmp_path, data_root):
    engine, campaign = cifar_campaign(tmp_path / "e.sqlite", data_root, indices="3,5,8", repeats=2)
    _answer_all(engine, campaign, "a", lambda i: [4] + [0] * 9 if i != 8 else [0] * 10)
    _answer_all(engine, campaign, "b", lambda i: [1, 1] + [0] * 8)
    summary = export_soft_labels(engine, campaign, tmp_path / "out.npz")
    assert (summary.answers, summary.all_zero_answers, summary.images, summary.annotators) == (6, 1, 3, 2)
    with np.load(tmp_path / "out.npz", allow_pickle=False) as f:
        assert str(f["format"]) == FORMAT and str(f["dataset"]) == "cifar10" and str(f["split"]) == "train"
        assert f["indices"].tolist() == [3, 5, 8]
        # image 3: (1,0,...) and (.5,.5,0,...) averaged; image 8: a's all-zero answer carries no label
        np.testing.assert_allclose(f["soft_labels"][0], [0.75, 0.25] + [0] * 8, atol=1e-6)
        np.testing.assert_allclose(f["soft_labels"][2], [0.5, 0.5] + [0] * 8, atol=1e-6)
        assert f["n_answers"].tolist() == [2, 2, 1]
        np.testing.assert_allclose(f["mean_ratings"][0], [2.5, 0.5] + [0] * 8)
        cifar = load_dataset("cifar10", root=data_root).train
        assert f["true_labels"].tolist() == cifar.labels[[3, 5, 8]].tolist()
        assert f["ratings"].shape == (6, K) and sorted(f["annotators"].tolist()) == ["a", "b"]
    with pytest.raises(OutputError, match="exists; pass --force"):
        export_soft_labels(engine, campaign, tmp_path / "out.npz")
    export_soft_labels(engine, campaign, tmp_path / "out.npz", force=True, anonymise=True)
    with np.load(tmp_path / "out.npz", allow_pickle=False) as f:
        assert f["annotators"].tolist() == ["P1", "P2"]


def test_export_errors(tmp_path, data_root):
    engine, campaign = cifar_campaign(tmp_path / "e.sqlite", data_root, indices="0:2")
    with pytest.raises(ConfigError, match="no answers yet"):
        export_soft_labels(engine, campaign, tmp_path / "x.npz")
    with pytest.raises(ConfigError, match="ending in .npz"):
        export_soft_labels(engine, campaign, tmp_path / "x.csv")
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        export_soft_labels(engine, campaign, tmp_path / "d.npz")


def test_per_image_labels_rows_are_distributions(tmp_path, data_root):
    engine, campaign = cifar_campaign(tmp_path / "e.sqlite", data_root, indices="0:4")
    rng = np.random.default_rng(0)
    _answer_all(engine, campaign, "a", lambda i: rng.integers(0, 5, K).tolist())
    labels = per_image_labels(answer_table(engine, campaign), K)
    np.testing.assert_allclose(labels["soft_labels"].sum(axis=1), 1.0, atol=1e-6)


@pytest.fixture(scope="module")
def survey_store(tmp_path_factory, data_root):
    engine = open_store(tmp_path_factory.mktemp("survey") / "s.sqlite")
    return engine, import_survey(engine, data_root)


def test_import_survey_aligned_rows_and_matrix(survey_store, data_root):
    engine, summary = survey_store
    assert (summary.rows, summary.imported, summary.not_aligned) == (10_000, 9_903, 97)
    table = answer_table(engine, summary.campaign)
    survey = read_survey(data_root / SURVEY_FILE)
    # every imported answer is the survey's row for that very image, rows 102–198 left out
    assert set(range(102, 199)).isdisjoint(table.image.tolist())
    np.testing.assert_array_equal(table.ratings, survey.ratings.numpy()[table.image])
    means = np.array([table.ratings[table.true_label == k].mean(axis=0) for k in range(K)])
    published = [3.21, 3.55, 3.15, 2.81, 2.93, 3.07, 3.01, 3.37, 3.23, 3.38]
    # 97 rows fewer than the study's table: each diagonal entry within 0.015 of it
    np.testing.assert_allclose(np.diag(means), published, atol=0.015)
    # with every row, the same computation gives the published table itself
    np.testing.assert_allclose(np.diag(rating_means(survey).numpy()), published, atol=0.005)


def test_import_twice_is_refused_and_changes_nothing(survey_store, data_root):
    engine, _ = survey_store
    before = table_counts(engine)
    with pytest.raises(AnnotationRefused, match="already in the store"):
        import_survey(engine, data_root)
    assert table_counts(engine) == before


def test_import_refuse_mode_and_missing_survey(tmp_path, data_root):
    engine = open_store(tmp_path / "r.sqlite")
    with pytest.raises(DataError, match="not aligned"):
        import_survey(engine, data_root, on_mismatch="refuse")
    with pytest.raises(DataError, match="softcifar10"):
        import_survey(engine, tmp_path)
    assert table_counts(engine)["answer"] == 0
