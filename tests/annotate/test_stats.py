"""labelrobust.annotate.stats: the rating matrix against the published survey, pace, the
Jensen–Shannon divergence and Krippendorff's alpha against hand-computed and textbook values,
and every refusal of bad input."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import jensenshannon

from labelrobust.annotate.stats import (
    LEVELS,
    answers_per_annotator,
    answers_per_hour,
    campaign_stats,
    jensen_shannon_divergence,
    krippendorff_alpha,
    mean_ratings_per_class,
    median_seconds_between_answers,
    pairwise_jensen_shannon,
    rating_matrix,
)
from labelrobust.data.cifar import CIFAR10, read_cifar_batch
from labelrobust.data.softcifar10 import SURVEY_FILE, Survey, aligned_rows, rating_means, read_survey
from labelrobust.errors import ConfigError, DataError

K = 10
# docs/methods.md §1: the study's mean ratings per true class (row, column) = value, 2 decimals
PUBLISHED = {
    (0, 0): 3.21, (1, 1): 3.55, (2, 2): 3.15, (3, 3): 2.81, (4, 4): 2.93, (5, 5): 3.07, (6, 6): 3.01, (7, 7): 3.37, (8, 8): 3.23, (9, 9): 3.38,
    (3, 5): 1.70, (5, 3): 1.65, (4, 7): 1.60, (7, 5): 1.42, (1, 9): 1.35, (9, 1): 1.24, (8, 9): 1.11,
}


@pytest.fixture(scope="module")
def survey(data_root):
    return read_survey(data_root / SURVEY_FILE)


@pytest.fixture(scope="module")
def aligned(survey, data_root):
    """Bool: the rows the softcifar10 loader keeps by default (on_mismatch='drop-span'), and CIFAR-10's labels."""
    _, labels = read_cifar_batch(data_root / CIFAR10.folder / CIFAR10.train_files[0], CIFAR10.label_key, CIFAR10.num_classes)
    keep = aligned_rows(survey, labels, "drop-span", "survey", "batch")
    return keep.numpy(), labels.numpy()


def _published_cells(matrix: np.ndarray) -> dict:
    return {cell: matrix[cell] for cell in PUBLISHED}


# -- the rating matrix on the published survey ----------------------------------------------------


def test_rating_matrix_of_every_survey_row_is_the_published_table(survey):
    ratings, labels = survey.ratings.numpy(), survey.labels.numpy()
    matrix = rating_matrix(ratings, labels, K)
    assert matrix.shape == (K, K) and matrix.dtype == np.float64
    np.testing.assert_allclose(matrix, rating_means(survey).numpy(), rtol=0, atol=1e-12)
    # every published cell is the matrix rounded to 2 decimals (largest distance 0.0046)
    for cell, value in _published_cells(matrix).items():
        assert round(value, 2) == PUBLISHED[cell], cell
        assert abs(value - PUBLISHED[cell]) < 0.005


def test_rating_matrix_of_the_aligned_rows(survey, aligned):
    """Rows 102–198 dropped (drop-span), true class = CIFAR-10's label: the table moves by at most
    0.0084; rounded, 7 of the 17 published cells come out 0.01 away (car 3.54, bird 3.14, cat 2.82,
    deer 2.92, frog 3.00, ship 3.22, truck→car 1.25): the published table used every row."""
    keep, cifar_labels = aligned
    assert keep.sum() == 9903 and not keep[102:199].any() and keep[:102].all() and keep[199:].all()
    ratings = survey.ratings.numpy()[keep]
    matrix = rating_matrix(ratings, cifar_labels[keep], K)
    subset = Survey(survey.ratings[keep], survey.labels[keep])
    np.testing.assert_allclose(matrix, rating_means(subset).numpy(), rtol=0, atol=1e-12)
    full = rating_matrix(survey.ratings.numpy(), survey.labels.numpy(), K)
    assert 0.008 < np.abs(matrix - full).max() < 0.0085
    cells = _published_cells(matrix)
    assert max(abs(v - PUBLISHED[c]) for c, v in cells.items()) < 0.012
    off = {c for c, v in cells.items() if round(v, 2) != PUBLISHED[c]}
    assert off == {(1, 1), (2, 2), (3, 3), (4, 4), (6, 6), (8, 8), (9, 1)}


def test_campaign_stats_of_the_survey(survey, aligned):
    keep, cifar_labels = aligned
    ratings = survey.ratings.numpy()[keep]
    m = len(ratings)
    # one answer every 18 s (the study's ~200 an hour), starting on the hour
    time = 1_700_000_000 - 1_700_000_000 % 3600 + 18.0 * np.arange(m)
    stats = campaign_stats(ratings, np.flatnonzero(keep), np.zeros(m, np.int64), cifar_labels[keep], time,
                           [f"c{k}" for k in range(K)], ["survey"], campaign="softcifar10-survey")
    assert (stats.answers, stats.images, stats.images_rated_twice) == (9903, 9903, 0)
    assert (stats.all_zero_answers, stats.below_min_nonzero) == (87, 87 + 539 + 2502)
    assert stats.per_annotator == [("survey", 9903)]
    assert stats.per_hour[0] == ("2023-11-14T22:00+00:00", 200) and sum(c for _, c in stats.per_hour) == 9903
    assert stats.median_seconds == 18.0 and stats.answers_per_hour_at_median_pace == 200.0
    assert math.isnan(stats.jensen_shannon) and stats.jensen_shannon_pairs == 0
    assert math.isnan(stats.alpha) and stats.alpha_units == 0
    np.testing.assert_allclose(stats.mean_ratings, ratings.mean(axis=0))
    assert round(stats.matrix[3, 5], 2) == 1.70 and stats.class_names[3] == "c3" and stats.max_rating == 4


# -- the rating matrix on hand-made arrays ---------------------------------------------------------


def test_rating_matrix_by_hand():
    ratings = np.array([[4, 1, 0], [2, 3, 0], [0, 0, 4], [1, 1, 1]], dtype=np.int16)
    matrix = rating_matrix(ratings, [0, 0, 2, -1], 3)
    np.testing.assert_array_equal(matrix[0], [3.0, 2.0, 0.0])
    assert np.isnan(matrix[1]).all()  # no answer of class 1; the −1 answer is left out
    np.testing.assert_array_equal(matrix[2], [0, 0, 4])
    assert np.isnan(rating_matrix(np.zeros((0, 3), int), [], 3)).all()
    np.testing.assert_array_equal(mean_ratings_per_class(ratings), [7 / 4, 5 / 4, 5 / 4])
    assert np.isnan(mean_ratings_per_class(np.zeros((0, 2), int))).all()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5).flatmap(lambda k: st.tuples(
    hnp.arrays(np.int64, st.tuples(st.integers(0, 30), st.just(k)), elements=st.integers(0, 4)),
    st.integers(0, 2**32 - 1), st.just(k))))
def test_rating_matrix_does_not_depend_on_answer_order(case):
    ratings, seed, k = case
    rng = np.random.default_rng(seed)
    labels = rng.integers(-1, k, len(ratings))
    order = rng.permutation(len(ratings))
    np.testing.assert_array_equal(rating_matrix(ratings, labels, k), rating_matrix(ratings[order], labels[order], k))


# -- pace -------------------------------------------------------------------------------------------


def test_pace_by_hand():
    assert answers_per_annotator([1, 1, 0, 1], ["ann", "bo", "cy"]) == [("ann", 1), ("bo", 3), ("cy", 0)]
    assert answers_per_annotator(np.array([], np.int64), ("a",)) == [("a", 0)]
    # 2024-05-01 13:00 UTC = 1714568400; hours without answers are not listed
    t0 = 1714568400.0
    assert answers_per_hour([t0 + 7200 + 5, t0, t0 + 3599.5, t0 + 7200]) == [("2024-05-01T13:00+00:00", 2), ("2024-05-01T15:00+00:00", 2)]
    assert answers_per_hour([]) == []
    # gaps within a participant only: 0: 0→18→40 (18, 22); 1: 5→10 (5); 2: one answer
    assert median_seconds_between_answers([0, 1, 0, 1, 0, 2], [40.0, 10, 0, 5, 18, 7]) == 18.0
    assert math.isnan(median_seconds_between_answers([0, 1], [0.0, 1.0]))
    assert math.isnan(median_seconds_between_answers([], []))


# -- Jensen–Shannon ---------------------------------------------------------------------------------


def test_jensen_shannon_by_hand():
    assert jensen_shannon_divergence([1, 0], [0, 1]) == 1.0
    assert jensen_shannon_divergence([0.5, 0.5], [0.5, 0.5]) == 0.0
    # m = (3/4, 1/4): ½·log2(4/3) + ½·(½·log2(2/3) + ½·log2(2))
    expected = 0.5 * math.log2(4 / 3) + 0.5 * (0.5 * math.log2(2 / 3) + 0.5)
    assert jensen_shannon_divergence([1, 0], [0.5, 0.5]) == pytest.approx(expected, abs=1e-15)
    rows = jensen_shannon_divergence([[1, 0], [0.5, 0.5]], [[0, 1], [0.5, 0.5]])
    np.testing.assert_array_equal(rows, [1.0, 0.0])


def test_pairwise_jensen_shannon_by_hand():
    ratings = np.array([[4, 0], [0, 2], [1, 1], [0, 0], [3, 0], [3, 0], [2, 2]])
    image = np.array([7, 7, 7, 7, 8, 8, 9])
    annotator = np.array([0, 1, 2, 3, 0, 0, 1])
    # image 7: pairs (0,1) = 1, (0,2) = (1,2) = the [1,0]–[½,½] value; the all-zero answer is left
    # out; image 8: one annotator twice, no pair; image 9: one answer
    half = jensen_shannon_divergence([1, 0], [0.5, 0.5])
    mean, pairs = pairwise_jensen_shannon(ratings, image, annotator)
    assert pairs == 3 and mean == pytest.approx((1 + 2 * half) / 3, abs=1e-15)
    assert pairwise_jensen_shannon(ratings[4:], image[4:], annotator[4:])[1] == 0
    assert math.isnan(pairwise_jensen_shannon(np.zeros((0, 2), int), [], [])[0])


_dist = st.integers(1, 6).flatmap(lambda k: st.tuples(
    hnp.arrays(np.float64, k, elements=st.floats(0, 10)), hnp.arrays(np.float64, k, elements=st.floats(0, 10)))
).filter(lambda pq: pq[0].sum() > 1e-3 and pq[1].sum() > 1e-3).map(lambda pq: (pq[0] / pq[0].sum(), pq[1] / pq[1].sum()))


@settings(max_examples=200, deadline=None)
@given(_dist)
def test_jensen_shannon_is_symmetric_bounded_and_matches_scipy(pq):
    p, q = pq
    d = jensen_shannon_divergence(p, q)
    assert 0.0 <= d <= 1.0
    assert d == jensen_shannon_divergence(q, p)
    assert jensen_shannon_divergence(p, p) == 0.0
    reference = jensenshannon(p, q, base=2) ** 2
    if np.isfinite(reference):  # scipy gives inf when a subnormal mass underflows its midpoint
        assert d == pytest.approx(reference, abs=1e-12)
    assert jensen_shannon_divergence([1.0, 0.0, 0.0], [0.5, 5e-324, 0.5]) == pytest.approx(0.31128, abs=1e-4)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.int64, st.tuples(st.integers(1, 4), st.integers(1, 5)), elements=st.integers(0, 4)))
def test_identical_answers_have_zero_divergence(rows):
    rows = rows[rows.sum(axis=1) > 0]
    ratings = np.concatenate([rows, rows * 1])
    image = np.tile(np.arange(len(rows)), 2)
    annotator = np.repeat([0, 1], len(rows))
    mean, pairs = pairwise_jensen_shannon(ratings, image, annotator)
    assert pairs == len(rows) and (pairs == 0 or mean == 0.0)


# -- Krippendorff's alpha -----------------------------------------------------------------------------


@pytest.mark.parametrize("level, expected", [("ordinal", 7 / 9), ("nominal", 6 / 11), ("interval", 24 / 29), ("ratio", 38 / 83)])
def test_alpha_by_hand(level, expected):
    """One image, 3 classes, 2 annotators: units (0,0), (2,2), (0,1). Values n0=3, n1=1, n2=2,
    n=6; coincidences o00 = o22 = 2, o01 = o10 = 1; α = 1 − (n−1)·Σo·δ / Σ n_c·n_k·δ.
    Ordinal δ(0,1) = (3+1−2)² = 4, δ(0,2) = (6−2.5)² = 12.25, δ(1,2) = (3−1.5)² = 2.25:
    1 − 5·8/180 = 7/9. Nominal: 1 − 5·2/22. Interval: 1 − 5·2/58. Ratio δ(1,2) = 1/9: 1 − 5·2/(166/9)."""
    alpha, units = krippendorff_alpha([[0, 2, 0], [0, 2, 1]], [5, 5], [3, 1], level)
    assert units == 3 and alpha == pytest.approx(expected, abs=1e-12)


NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 observers × 12 units
# example: nominal .743, ordinal .815, interval .849, ratio .797
KRIPPENDORFF_2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
])


@pytest.mark.parametrize("level, expected", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)])
def test_alpha_of_krippendorffs_example(level, expected):
    """Each unit as an image of one class; the last unit has one value only and is no unit."""
    coder, unit = np.nonzero(~np.isnan(KRIPPENDORFF_2011))
    ratings = KRIPPENDORFF_2011[coder, unit].astype(np.int64)[:, None]
    alpha, units = krippendorff_alpha(ratings, unit, coder, level, max_rating=5)
    assert units == 11 and round(alpha, 3) == expected


def test_alpha_equals_the_packages_reliability_matrix():
    """The value counts give what krippendorff.alpha computes from annotators × (image, class)."""
    rng = np.random.default_rng(3)
    pairs = [(i, a) for i in range(12) for a in range(5) if rng.random() < 0.5]
    image, annotator = np.array(pairs).T
    ratings = rng.integers(0, 5, (len(pairs), 3))
    data = np.full((5, 12 * 3), np.nan)
    for r, (i, a) in enumerate(pairs):
        data[a, i * 3:(i + 1) * 3] = ratings[r]
    shared = (~np.isnan(data)).sum(axis=0) >= 2
    for level in LEVELS:
        expected = krippendorff.alpha(reliability_data=data[:, shared], value_domain=range(5), level_of_measurement=level)
        alpha, units = krippendorff_alpha(ratings, image, annotator, level)
        assert units == shared.sum() and alpha == pytest.approx(expected, abs=1e-12)


def test_alpha_without_pairs_or_variation():
    for args in (([[1, 2]], [0], [0]), ([[1, 2], [2, 1]], [0, 1], [0, 1]), (np.zeros((0, 2), int), [], [])):
        alpha, units = krippendorff_alpha(*args)
        assert math.isnan(alpha) and units == 0
    # same value in every unit: D_o = D_e = 0, alpha is undefined
    alpha, units = krippendorff_alpha([[2, 2], [2, 2], [2, 2]], [0, 0, 1], [0, 1, 0])
    assert math.isnan(alpha) and units == 2


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.int64, st.tuples(st.integers(1, 6), st.integers(1, 4)), elements=st.integers(0, 4)).filter(lambda r: len(np.unique(r)) >= 2),
       st.integers(2, 4), st.sampled_from(LEVELS))
def test_alpha_is_one_when_all_annotators_agree(per_image, annotators, level):
    ratings = np.tile(per_image, (annotators, 1))
    image = np.tile(np.arange(len(per_image)) * 3 + 1, annotators)
    annotator = np.repeat(np.arange(annotators) + 2, len(per_image))
    alpha, units = krippendorff_alpha(ratings, image, annotator, level)
    assert units == per_image.size and alpha == pytest.approx(1.0, abs=1e-12)


def test_alpha_refuses_two_answers_of_one_annotator():
    with pytest.raises(DataError, match=r"annotator 4 answered image 9 twice \(answer rows 0 and 2\)"):
        krippendorff_alpha([[0, 1], [1, 1], [2, 2]], [9, 9, 9], [4, 5, 4])


# -- campaign_stats on hand-made arrays -------------------------------------------------------------


def test_campaign_stats_by_hand():
    ratings = np.array([[4, 0, 0], [3, 1, 0], [0, 0, 0], [1, 2, 3], [1, 2, 3]], dtype=np.int16)
    stats = campaign_stats(ratings, [0, 0, 1, 2, 2], [0, 1, 0, 0, 1], [0, 0, -1, 2, 2], [0.0, 10, 20, 30, 35], ["a", "b", "c"], ("x", "y", "z"))
    assert (stats.answers, stats.images, stats.images_rated_twice, stats.all_zero_answers, stats.below_min_nonzero) == (5, 3, 2, 1, 3)
    assert stats.per_annotator == [("x", 3), ("y", 2), ("z", 0)]
    assert stats.per_hour == [("1970-01-01T00:00+00:00", 5)]
    assert stats.median_seconds == 20.0  # x at 0, 20, 30 s (gaps 20, 10); y at 10, 35 (25)
    assert stats.jensen_shannon_pairs == 2
    assert stats.jensen_shannon == pytest.approx(jensen_shannon_divergence([1, 0, 0], [0.75, 0.25, 0]) / 2)
    assert stats.alpha_units == 6 and -1 <= stats.alpha <= 1
    np.testing.assert_array_equal(stats.matrix[0], [3.5, 0.5, 0])
    assert np.isnan(stats.matrix[1]).all()
    # the campaign's own minimum: with 2, only [4,0,0] and [0,0,0] fall short
    two = campaign_stats(ratings, [0, 0, 1, 2, 2], [0, 1, 0, 0, 1], [0, 0, -1, 2, 2], [0.0, 10, 20, 30, 35], ["a", "b", "c"], ("x", "y", "z"), min_nonzero=2)
    assert (two.min_nonzero, two.below_min_nonzero) == (2, 2)
    with pytest.raises(ConfigError, match="min_nonzero must be an integer in 0..3"):
        campaign_stats(ratings, [0, 0, 1, 2, 2], [0, 1, 0, 0, 1], [0, 0, -1, 2, 2], [0.0, 10, 20, 30, 35], ["a", "b", "c"], ("x", "y", "z"), min_nonzero=4)


# -- refusals ---------------------------------------------------------------------------------------


GOOD = dict(ratings=[[1, 0], [0, 2]], image=[0, 0], annotator=[0, 1], true_label=[0, 1], time=[0.0, 1.0],
            class_names=["a", "b"], annotator_names=["p", "q"])


@pytest.mark.parametrize("change, message", [
    (dict(ratings=[1, 0]), "ratings must be a 2-D array"),
    (dict(ratings=np.zeros((2, 0), int)), "at least one class"),
    (dict(ratings=[[1.5, 0], [0, 2]]), "ratings must be integers, got dtype float64"),
    (dict(ratings=[[True, False], [False, True]]), "ratings must be integers, got dtype bool"),
    (dict(ratings=[[1, -1], [0, 2]]), r"ratings must be ≥ 0, got -1 \(answer row 0\)"),
    (dict(ratings=[[1, 0], [0, 5]]), r"ratings must lie in 0..4, got 5 \(answer row 1\)"),
    (dict(image=[0]), r"image must have one entry per answer \(2\), got shape \(1,\)"),
    (dict(image=[0, -3]), "image must be ≥ 0, got -3"),
    (dict(image=[0.0, 1.0]), "image must be integers"),
    (dict(annotator=[[0, 1]]), "annotator must have one entry per answer"),
    (dict(annotator=[0, 2]), r"annotator must be a row of annotator_names \(0..1\), got 2 \(answer row 1\)"),
    (dict(true_label=[0, 2]), r"true_label must lie in -1..1 \(-1: unknown\), got 2"),
    (dict(true_label=[0, -2]), "true_label must be ≥ -1"),
    (dict(time=[0.0]), r"time must have one entry per answer \(2\)"),
    (dict(time=[0.0, math.nan]), r"time must be unix seconds from 1970 to 9999, got nan \(answer row 1\)"),
    (dict(time=[0.0, 1e12]), "time must be unix seconds from 1970 to 9999"),
    (dict(time=[0.0, -5.0]), "time must be unix seconds"),
    (dict(time=["a", "b"]), "time must be numbers"),
    (dict(class_names=["a"]), r"class_names must have 2 entries \(one per class\), got 1"),
    (dict(class_names="ab"), "class_names must be a sequence of strings, got str"),
    (dict(class_names=["a", 3]), "class_names must be strings, got int"),
    (dict(annotator_names=[1, 2]), "annotator_names must be strings"),
    (dict(ratings=[[1, 0], [0, 1], [1, 1]], image=[0, 0, 0], annotator=[0, 1, 0], true_label=[0, 0, 0], time=[0.0, 1, 2]), "answered image 0 twice"),
])
def test_campaign_stats_refuses(change, message):
    with pytest.raises(DataError, match=message) as err:
        campaign_stats(**{**GOOD, **change})
    assert "\n" not in str(err.value) and str(err.value).startswith("campaign_stats: ")


@pytest.mark.parametrize("max_rating", [0, -1, 2.5, True, "4"])
def test_bad_max_rating(max_rating):
    with pytest.raises(DataError, match="max_rating must be an integer ≥ 1"):
        campaign_stats(**GOOD, max_rating=max_rating)
    with pytest.raises(DataError, match="max_rating must be an integer ≥ 1"):
        krippendorff_alpha(GOOD["ratings"], GOOD["image"], GOOD["annotator"], max_rating=max_rating)


def test_refusals_of_the_single_functions():
    with pytest.raises(DataError, match=r"rating_matrix: ratings must have one column per class \(3\), got 2"):
        rating_matrix([[1, 0]], [0], 3)
    for bad in (0, 2.0, True):
        with pytest.raises(DataError, match="num_classes must be an integer ≥ 1"):
            rating_matrix([[1, 0]], [0], bad)
    with pytest.raises(DataError, match=r"rating_matrix: true_label must have one entry per answer \(1\)"):
        rating_matrix([[1, 0]], [0, 1], 2)
    with pytest.raises(DataError, match="mean_ratings_per_class: ratings must be a 2-D array"):
        mean_ratings_per_class([1, 2])
    with pytest.raises(DataError, match=r"answers_per_annotator: annotator must be a row of names \(0..0\), got 1"):
        answers_per_annotator([0, 1], ["a"])
    with pytest.raises(DataError, match="answers_per_annotator: annotator must have a 1-D array"):
        answers_per_annotator([[0]], ["a"])
    with pytest.raises(DataError, match="answers_per_annotator: names must be a sequence of strings"):
        answers_per_annotator([0], None)
    with pytest.raises(DataError, match="answers_per_hour: time must have a 1-D array"):
        answers_per_hour([[0.0]])
    with pytest.raises(DataError, match="median_seconds_between_answers: annotator must have one entry per answer"):
        median_seconds_between_answers([0], [0.0, 1.0])
    with pytest.raises(DataError, match="pairwise_jensen_shannon: ratings must be ≥ 0"):
        pairwise_jensen_shannon([[-1, 1]], [0], [0])
    with pytest.raises(DataError, match="pairwise_jensen_shannon: annotator must be ≥ 0"):
        pairwise_jensen_shannon([[1, 1]], [0], [-1])
    with pytest.raises(DataError, match="krippendorff_alpha: ratings must lie in 0..2"):
        krippendorff_alpha([[3, 1]], [0], [0], max_rating=2)
    with pytest.raises(ConfigError, match="level must be one of nominal, ordinal, interval, ratio, got 'cardinal'"):
        krippendorff_alpha([[1, 1]], [0], [0], "cardinal")


@pytest.mark.parametrize("p, q, message", [
    ([0.5, 0.5], [1.0], "same number of classes"),
    ([0.5, 0.6], [0.5, 0.5], "p must sum to 1"),
    ([1.5, -0.5], [0.5, 0.5], "p must be vectors of finite numbers ≥ 0"),
    ([0.5, 0.5], [math.nan, 1], "q must be vectors"),
    (0.5, 0.5, "p must be vectors"),
])
def test_jensen_shannon_refuses(p, q, message):
    with pytest.raises(DataError, match=message):
        jensen_shannon_divergence(p, q)
