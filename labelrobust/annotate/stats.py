"""Statistics of a campaign's answers: the rating matrix, pace, and agreement between participants.

Pure functions on the arrays of the export file (docs/annotate.md, "labelrobust-soft-labels"):
``ratings`` int M×K in 0..max_rating (one row per answer), ``image`` int M (the image's source
index), ``annotator`` int M (a row of the participant names), ``true_label`` int M (the true
class of the answer's image, −1 unknown), ``time`` float M (unix seconds). Bad input raises
``DataError`` (one line: what, which function, what is expected).

- **Rating matrix** (the soft-label study's Table 4 / Figure 5, docs/methods.md §1):
  ``R[t, k] = mean of ratings[a, k] over the answers a whose true_label is t``. On the published
  survey (every row, the survey's own labels) this gives the diagonal plane 3.21, car 3.55,
  bird 3.15, cat 2.81, deer 2.93, dog 3.07, frog 3.01, horse 3.37, ship 3.23, truck 3.38.
- **Pace**: answers per participant and per hour (UTC); the median time between one
  participant's consecutive answers (the study reports about 200 images an hour, 18 s each).
  The median, not the mean, so that a coffee break does not count as one slow answer.
- **Agreement**, over the images answered by two or more participants:
  the mean pairwise Jensen–Shannon divergence of the normalised answers, and Krippendorff's
  alpha on the raw 0..max_rating ratings, units = (image, class) pairs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import combinations
from typing import TYPE_CHECKING

import krippendorff
import numpy as np
from scipy.special import rel_entr

from labelrobust.errors import ConfigError, DataError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from labelrobust.annotate.store import Campaign

MAX_RATING = 4
"""The study's scale: 0 (none of this class) .. 4 (clearly this class)."""
LEVELS = ("nominal", "ordinal", "interval", "ratio")
"""Krippendorff's levels of measurement (the distance between two ratings)."""
MIN_NONZERO = 3
"""The study asked participants to mark at least three classes non-zero."""
_LAST_SECOND = 253402300800.0  # 10000-01-01 UTC: the first instant datetime cannot show


# -- input checks ---------------------------------------------------------------------------


def _ratings(ratings, where: str, max_rating: int | None = None) -> np.ndarray:
    """``ratings`` as int64 M×K (K ≥ 1), every value in 0..max_rating (≥ 0 when no maximum)."""
    values = np.asarray(ratings)
    if values.ndim != 2 or values.shape[1] < 1:
        raise DataError(f"{where}: ratings must be a 2-D array (answers × classes, at least one class), got shape {values.shape}")
    if values.size and not (np.issubdtype(values.dtype, np.integer) and values.dtype != np.bool_):
        raise DataError(f"{where}: ratings must be integers, got dtype {values.dtype}")
    values = values.astype(np.int64, copy=False)
    if values.size and values.min() < 0:
        raise DataError(f"{where}: ratings must be ≥ 0, got {values.min()} (answer row {int(np.argwhere(values < 0)[0, 0])})")
    if max_rating is not None and values.size and values.max() > max_rating:
        raise DataError(f"{where}: ratings must lie in 0..{max_rating}, got {values.max()} (answer row {int(np.argwhere(values > max_rating)[0, 0])})")
    return values


def _per_answer(values, m: int | None, name: str, where: str, *, lowest: int | None = None) -> np.ndarray:
    """An int64 vector of one entry per answer (``m``; any length when None), each ≥ ``lowest``."""
    array = np.asarray(values)
    if array.ndim != 1 or (m is not None and array.shape != (m,)):
        expected = "a 1-D array (one entry per answer)" if m is None else f"one entry per answer ({m})"
        raise DataError(f"{where}: {name} must have {expected}, got shape {array.shape}")
    m = len(array)
    if m and not (np.issubdtype(array.dtype, np.integer) and array.dtype != np.bool_):
        raise DataError(f"{where}: {name} must be integers, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if lowest is not None and m and array.min() < lowest:
        raise DataError(f"{where}: {name} must be ≥ {lowest}, got {array.min()} (answer row {int(np.argmin(array))})")
    return array


def _times(time, m: int | None, where: str) -> np.ndarray:
    """Unix seconds as float64, finite and within what a date can show (years 1970..9999)."""
    array = np.asarray(time)
    if array.ndim != 1 or (m is not None and array.shape[0] != m):
        expected = "a 1-D array" if m is None else f"one entry per answer ({m})"
        raise DataError(f"{where}: time must have {expected}, got shape {array.shape}")
    if array.size and not (np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_):
        raise DataError(f"{where}: time must be numbers (unix seconds), got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    bad = ~(np.isfinite(array) & (array >= 0) & (array < _LAST_SECOND))
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{where}: time must be unix seconds from 1970 to 9999, got {array[row]} (answer row {row})")
    return array


def _max_rating(max_rating: int, where: str) -> int:
    if not isinstance(max_rating, (int, np.integer)) or isinstance(max_rating, bool) or max_rating < 1:
        raise DataError(f"{where}: max_rating must be an integer ≥ 1, got {max_rating!r}")
    return int(max_rating)


def _names(names, k: int | None, what: str, where: str) -> tuple[str, ...]:
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise DataError(f"{where}: {what} must be a sequence of strings, got {type(names).__name__}")
    names = tuple(np.asarray(names).reshape(-1).tolist()) if isinstance(names, np.ndarray) else tuple(names)
    if not all(isinstance(n, str) for n in names):
        raise DataError(f"{where}: {what} must be strings, got {[type(n).__name__ for n in names if not isinstance(n, str)][0]}")
    if k is not None and len(names) != k:
        raise DataError(f"{where}: {what} must have {k} entries (one per {'class' if what == 'class_names' else 'annotator'}), got {len(names)}")
    return names


# -- the rating matrix -----------------------------------------------------------------------


def rating_matrix(ratings, true_label, num_classes: int) -> np.ndarray:
    """K×K float64: ``R[t, k]`` = mean of ``ratings[a, k]`` over the answers ``a`` with
    ``true_label[a] == t`` (row = true class, column = rated class); answers whose true label is
    −1 (unknown) are left out; a class without answers gives a row of NaN.

    Sums are taken over integers, so the result does not depend on the order of the answers.
    The soft-label study's Table 4 / Figure 5 (docs/methods.md §1).
    """
    where = "rating_matrix"
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
        raise DataError(f"{where}: num_classes must be an integer ≥ 1, got {num_classes!r}")
    values = _ratings(ratings, where)
    if values.shape[1] != num_classes:
        raise DataError(f"{where}: ratings must have one column per class ({num_classes}), got {values.shape[1]}")
    labels = _per_answer(true_label, len(values), "true_label", where, lowest=-1)
    if len(labels) and labels.max() >= num_classes:
        raise DataError(f"{where}: true_label must lie in -1..{num_classes - 1} (-1: unknown), got {labels.max()} (answer row {int(np.argmax(labels))})")
    known = labels >= 0
    sums = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(sums, labels[known], values[known])
    counts = np.bincount(labels[known], minlength=num_classes)
    return np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], np.nan)


def mean_ratings_per_class(ratings) -> np.ndarray:
    """K float64: the mean rating of each class over all answers (NaN when there are none);
    the rating matrix's counterpart for campaigns whose images have no true labels."""
    values = _ratings(ratings, "mean_ratings_per_class")
    if not len(values):
        return np.full(values.shape[1], np.nan)
    return values.sum(axis=0) / len(values)


# -- pace ----------------------------------------------------------------------------------


def answers_per_annotator(annotator, names) -> list[tuple[str, int]]:
    """(name, number of answers) for every annotator of ``names``, in that order (0 for one who
    has not answered yet); ``annotator[a]`` is a row of ``names``."""
    where = "answers_per_annotator"
    names = _names(names, None, "names", where)
    rows = _per_answer(annotator, None, "annotator", where, lowest=0)
    if len(rows) and rows.max() >= len(names):
        raise DataError(f"{where}: annotator must be a row of names (0..{len(names) - 1}), got {rows.max()} (answer row {int(np.argmax(rows))})")
    counts = np.bincount(rows, minlength=len(names))
    return [(name, int(c)) for name, c in zip(names, counts)]


def answers_per_hour(time) -> list[tuple[str, int]]:
    """(start of the hour in UTC as ISO 8601, e.g. ``2024-05-01T13:00+00:00``; answers in that
    hour) for the hours that have answers, ascending."""
    seconds = _times(time, None, "answers_per_hour")
    hours, counts = np.unique(np.floor(seconds / 3600.0).astype(np.int64), return_counts=True)
    return [(datetime.fromtimestamp(int(h) * 3600, tz=timezone.utc).isoformat(timespec="minutes"), int(c))
            for h, c in zip(hours, counts)]


def median_seconds_between_answers(annotator, time) -> float:
    """A participant's pace: the median of the gaps between each participant's consecutive
    answers (sorted by time), pooled over all participants; NaN when nobody answered twice.
    3600 / this is the answers an hour (the study: about 200, i.e. 18 s)."""
    where = "median_seconds_between_answers"
    seconds = _times(time, None, where)
    people = _per_answer(annotator, len(seconds), "annotator", where, lowest=0)
    order = np.lexsort((seconds, people))  # by participant, then by time
    same = people[order][1:] == people[order][:-1]
    gaps = np.diff(seconds[order])[same]
    return float(np.median(gaps)) if len(gaps) else math.nan


# -- agreement -------------------------------------------------------------------------------


def jensen_shannon_divergence(p, q) -> np.ndarray | float:
    """Jensen–Shannon divergence in bits of probability vectors (the last axis; rows broadcast):
    ``JSD(p, q) = ½ KL(p‖m) + ½ KL(q‖m)``, ``m = (p + q)/2``, ``KL(p‖m) = Σ p log₂(p/m)``.

    Symmetric, 0 for equal vectors and 1 for disjoint supports. Written here (with
    ``scipy.special.rel_entr``) rather than as ``scipy.spatial.distance.jensenshannon(p, q,
    base=2) ** 2``, which it equals, because that one takes a square root of a sum that rounding
    can make slightly negative (NaN); this one is clipped to [0, 1] instead.
    """
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    for name, v in (("p", p), ("q", q)):
        if v.ndim < 1 or v.shape[-1] < 1 or not np.isfinite(v).all() or (v < 0).any():
            raise DataError(f"jensen_shannon_divergence: {name} must be vectors of finite numbers ≥ 0, got shape {v.shape}")
        if not np.allclose(v.sum(axis=-1), 1.0, atol=1e-6):
            raise DataError(f"jensen_shannon_divergence: {name} must sum to 1 along the last axis (probabilities), got sums {np.unique(v.sum(axis=-1))[:3]}")
    if p.shape[-1] != q.shape[-1]:
        raise DataError(f"jensen_shannon_divergence: p and q must have the same number of classes, got {p.shape[-1]} and {q.shape[-1]}")
    # entries below 1e-300 are 0 for this purpose: halving a subnormal underflows m to 0, and
    # rel_entr(q, 0) would be infinite for a mass no rating can produce
    p, q = np.where(p < 1e-300, 0.0, p), np.where(q < 1e-300, 0.0, q)
    m = (p + q) / 2
    bits = (rel_entr(p, m).sum(axis=-1) + rel_entr(q, m).sum(axis=-1)) / (2 * math.log(2))
    result = np.clip(bits, 0.0, 1.0)
    return float(result) if result.ndim == 0 else result


def _agreement_inputs(ratings, image, annotator, where: str, max_rating: int | None = None):
    values = _ratings(ratings, where, max_rating)
    images = _per_answer(image, len(values), "image", where, lowest=0)
    people = _per_answer(annotator, len(values), "annotator", where, lowest=0)
    return values, images, people


def _answers_by_image(images: np.ndarray, people: np.ndarray, rows: np.ndarray) -> dict[int, list[int]]:
    """image → the answer rows (of ``rows``) of the images answered by ≥ 2 different annotators."""
    by_image: dict[int, list[int]] = defaultdict(list)
    for row in rows.tolist():
        by_image[int(images[row])].append(row)
    return {i: r for i, r in by_image.items() if len(set(people[r].tolist())) >= 2}


def pairwise_jensen_shannon(ratings, image, annotator) -> tuple[float, int]:
    """(mean, number of pairs): the Jensen–Shannon divergence (bits, in [0, 1]) between the
    normalised answers ``ratings / Σ ratings`` of every two different annotators of the same
    image, averaged over all such pairs of all images. All-zero answers carry no distribution and
    are left out, as are pairs of one annotator's own answers; (NaN, 0) when no pair exists."""
    values, images, people = _agreement_inputs(ratings, image, annotator, "pairwise_jensen_shannon")
    totals = values.sum(axis=1)
    first, second = [], []
    for rows in _answers_by_image(images, people, np.flatnonzero(totals > 0)).values():
        for a, b in combinations(rows, 2):
            if people[a] != people[b]:
                first.append(a)
                second.append(b)
    if not first:
        return math.nan, 0
    dist = values / np.maximum(totals, 1)[:, None]
    return float(np.mean(jensen_shannon_divergence(dist[first], dist[second]))), len(first)


def _one_answer_each(images: np.ndarray, people: np.ndarray, where: str) -> None:
    """Each annotator rates a unit at most once (a revision replaces the earlier answer)."""
    pairs = np.stack([images, people], axis=1)
    _, first, inverse = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    if len(first) < len(pairs):
        inverse = inverse.reshape(-1)
        twice = int(np.flatnonzero(first[inverse] != np.arange(len(pairs)))[0])
        earlier = int(first[inverse[twice]])
        raise DataError(f"{where}: annotator {people[twice]} answered image {images[twice]} twice (answer rows {earlier} and {twice}); "
                        "expected one answer per annotator and image (keep the latest)")


def krippendorff_alpha(ratings, image, annotator, level: str = "ordinal", *, max_rating: int = MAX_RATING) -> tuple[float, int]:
    """(alpha, number of units): Krippendorff's alpha of the raw ratings.

    Reliability data: rows = annotators, columns = the units (image, class) of the images
    answered by two or more annotators, values = the ratings, NaN where an annotator did not
    answer the image; value domain 0..max_rating; distance of the ``level`` (``ordinal`` by
    default: a 0..4 scale is ordered, its steps need not be equal). ``alpha = 1 − D_o / D_e``
    (Krippendorff, "Computing Krippendorff's Alpha-Reliability", 2011): 1 = perfect agreement,
    0 = agreement at chance level, computed by the ``krippendorff`` package from the value
    counts of each unit (the same numbers it derives from that matrix, without building an
    annotators × units array). All-zero answers are ratings too and count. (NaN, 0) when no image
    has two annotators; (NaN, units) when every rating is the same value, where alpha is 0/0.
    An annotator who answered one image twice is refused (DataError).
    """
    where = "krippendorff_alpha"
    if level not in LEVELS:
        raise ConfigError(f"{where}: level must be one of {', '.join(LEVELS)}, got {level!r}")
    top = _max_rating(max_rating, where)
    values, images, people = _agreement_inputs(ratings, image, annotator, where, top)
    _one_answer_each(images, people, where)
    shared = _answers_by_image(images, people, np.arange(len(values)))
    if not shared:
        return math.nan, 0
    k = values.shape[1]
    unit_of_image = {img: u for u, img in enumerate(shared)}
    rows = np.array([r for rs in shared.values() for r in rs], dtype=np.int64)
    units = np.array([unit_of_image[int(images[r])] for r in rows], dtype=np.int64)[:, None] * k + np.arange(k)
    counts = np.zeros((len(shared) * k, top + 1), dtype=np.int64)  # units × values: coders per value
    np.add.at(counts, (units.ravel(), values[rows].ravel()), 1)
    if np.count_nonzero(counts.sum(axis=0)) < 2:  # one value everywhere: D_o = D_e = 0
        return math.nan, counts.shape[0]
    alpha = krippendorff.alpha(value_counts=counts, value_domain=np.arange(top + 1), level_of_measurement=level)
    return float(alpha), counts.shape[0]


# -- everything for one campaign -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CampaignStats:
    """Every statistic of the module doc for one campaign's answers."""

    campaign: str
    class_names: tuple[str, ...]
    max_rating: int
    answers: int
    images: int
    images_rated_twice: int  # answered by two or more annotators
    all_zero_answers: int
    min_nonzero: int  # the campaign's minimum of non-zero classes (the study asked for 3)
    below_min_nonzero: int  # answers with fewer than min_nonzero non-zero classes, all-zero ones included
    matrix: np.ndarray  # K×K rating matrix, NaN rows for classes without answers (or true labels)
    mean_ratings: np.ndarray  # K, over all answers
    per_annotator: list[tuple[str, int]]
    per_hour: list[tuple[str, int]]
    median_seconds: float  # median_seconds_between_answers
    jensen_shannon: float
    jensen_shannon_pairs: int
    alpha: float  # ordinal
    alpha_units: int

    @property
    def answers_per_hour_at_median_pace(self) -> float:
        """3600 / median seconds between answers (the study: about 200)."""
        return 3600.0 / self.median_seconds if self.median_seconds > 0 else math.nan


def _campaign_arrays(ratings, image, annotator, true_label, time, class_names, annotator_names, max_rating: int):
    """The inputs of ``campaign_stats``, checked together (one error names ``campaign_stats``)."""
    where = "campaign_stats"
    top = _max_rating(max_rating, where)
    values = _ratings(ratings, where, top)
    names = _names(class_names, values.shape[1], "class_names", where)
    people_names = _names(annotator_names, None, "annotator_names", where)
    images = _per_answer(image, len(values), "image", where, lowest=0)
    seconds = _times(time, len(values), where)
    people = _per_answer(annotator, len(values), "annotator", where, lowest=0)
    if len(people) and people.max() >= len(people_names):
        raise DataError(f"{where}: annotator must be a row of annotator_names (0..{len(people_names) - 1}), got {people.max()} (answer row {int(np.argmax(people))})")
    labels = _per_answer(true_label, len(values), "true_label", where, lowest=-1)
    if len(labels) and labels.max() >= len(names):
        raise DataError(f"{where}: true_label must lie in -1..{len(names) - 1} (-1: unknown), got {labels.max()} (answer row {int(np.argmax(labels))})")
    _one_answer_each(images, people, where)
    return top, values, names, people_names, images, seconds, people, labels


def campaign_stats(ratings, image, annotator, true_label, time, class_names, annotator_names, *,
                   max_rating: int = MAX_RATING, campaign: str = "", min_nonzero: int | None = None) -> CampaignStats:
    """All statistics of one campaign's answers (the arrays of the module doc); ``min_nonzero``
    defaults to the study's 3, or the number of classes if that is smaller."""
    top, values, names, people_names, images, seconds, people, labels = _campaign_arrays(
        ratings, image, annotator, true_label, time, class_names, annotator_names, max_rating)
    min_nonzero = min(MIN_NONZERO, len(names)) if min_nonzero is None else min_nonzero
    if not isinstance(min_nonzero, int) or isinstance(min_nonzero, bool) or not 0 <= min_nonzero <= len(names):
        raise ConfigError(f"campaign_stats: min_nonzero must be an integer in 0..{len(names)} (the number of classes), got {min_nonzero!r}")
    jsd, pairs = pairwise_jensen_shannon(values, images, people)
    alpha, units = krippendorff_alpha(values, images, people, "ordinal", max_rating=top)
    nonzero = (values > 0).sum(axis=1)
    return CampaignStats(
        campaign=campaign, class_names=names, max_rating=top, answers=len(values),
        images=len(np.unique(images)), images_rated_twice=len(_answers_by_image(images, people, np.arange(len(values)))),
        all_zero_answers=int((nonzero == 0).sum()), min_nonzero=int(min_nonzero),
        below_min_nonzero=int((nonzero < min_nonzero).sum()),
        matrix=rating_matrix(values, labels, len(names)), mean_ratings=mean_ratings_per_class(values),
        per_annotator=answers_per_annotator(people, people_names), per_hour=answers_per_hour(seconds),
        median_seconds=median_seconds_between_answers(people, seconds),
        jensen_shannon=jsd, jensen_shannon_pairs=pairs, alpha=alpha, alpha_units=units,
    )


def campaign_stats_of(engine: Engine, campaign: Campaign) -> CampaignStats:
    """``campaign_stats`` of a campaign in a store (what the stats page and ``annotate stats`` show)."""
    from labelrobust.annotate.store import answer_table  # the store is needed only here

    t = answer_table(engine, campaign)
    return campaign_stats(t.ratings, t.image, t.annotator, t.true_label, t.time, campaign.class_names, t.annotator_names,
                          max_rating=campaign.max_rating, campaign=campaign.name, min_nonzero=campaign.min_nonzero)
