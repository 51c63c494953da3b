"""Statistics of a campaign's answers: the rating matrix, pace, and agreement between participants.

- **Rating matrix** (the soft-label study's Table 4 / Figure 5): ``R[t, k]`` = mean rating of
  class k over the answers of images whose true class is t. The published survey gives the
  diagonal plane 3.21, car 3.55, bird 3.15, …, truck 3.38 (methods.md §1).
- **Pace**: answers per participant and per hour (UTC); a participant's median time between
  consecutive answers (the study reports about 200 images an hour, 18 s each).
- **Agreement**, over the images rated by two or more participants:
  mean pairwise Jensen–Shannon divergence of the normalised answers,
  ``JSD(p, q) = ½ KL(p‖m) + ½ KL(q‖m)``, ``m = (p+q)/2``, in bits (0 = same, 1 = disjoint;
  ``scipy.spatial.distance.jensenshannon(p, q, base=2)²``), and Krippendorff's alpha on the raw
  ratings (``krippendorff.alpha``, ordinal level; units = (image, class) pairs), which is 1 for
  perfect agreement and 0 for agreement at chance level.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import combinations

import krippendorff
import numpy as np
from scipy.spatial.distance import jensenshannon
from sqlalchemy.engine import Engine

from labelrobust.annotate.store import AnswerTable, Campaign, answer_table
from labelrobust.errors import DataError


def _check(table: AnswerTable, num_classes: int) -> None:
    m = len(table)
    if table.ratings.ndim != 2 or table.ratings.shape != (m, num_classes):
        raise DataError(f"ratings must be M×{num_classes} (one column per class), got shape {table.ratings.shape}")
    if m and table.ratings.min() < 0:
        raise DataError("ratings must be ≥ 0")
    for name in ("image", "annotator", "true_label", "time"):
        if getattr(table, name).shape != (m,):
            raise DataError(f"{name} must have one entry per answer ({m}), got shape {getattr(table, name).shape}")
    if m and (table.true_label.min() < -1 or table.true_label.max() >= num_classes):
        raise DataError(f"true labels must lie in -1..{num_classes - 1} (-1: unknown)")


def rating_matrix(ratings: np.ndarray, true_label: np.ndarray, num_classes: int) -> np.ndarray:
    """K×K float64: row t = mean ratings of the answers whose image's true class is t (NaN: none)."""
    out = np.full((num_classes, num_classes), np.nan)
    for t in range(num_classes):
        rows = ratings[true_label == t]
        if len(rows):
            out[t] = rows.mean(axis=0)
    return out


def answers_per_hour(time: np.ndarray) -> list[tuple[str, int]]:
    """(hour start in UTC, ISO format; answers in that hour), hours with answers only, ascending."""
    hours = np.floor(np.asarray(time, dtype=np.float64) / 3600.0).astype(np.int64)
    values, counts = np.unique(hours, return_counts=True)
    return [(datetime.fromtimestamp(int(h) * 3600, tz=timezone.utc).strftime("%Y-%m-%d %H:00"), int(c)) for h, c in zip(values, counts)]


def median_seconds_between_answers(annotator: np.ndarray, time: np.ndarray) -> float:
    """Median gap between one participant's consecutive answers, over all participants (NaN: too few)."""
    gaps = [np.diff(np.sort(time[annotator == a])) for a in np.unique(annotator)]
    gaps = np.concatenate(gaps) if gaps else np.array([])
    return float(np.median(gaps)) if len(gaps) else float("nan")


def _repeated(table: AnswerTable) -> dict[int, list[int]]:
    """image → rows of its answers, for images answered by two or more participants."""
    rows: dict[int, list[int]] = defaultdict(list)
    for row, image in enumerate(table.image.tolist()):
        rows[image].append(row)
    return {i: r for i, r in rows.items() if len(set(table.annotator[r].tolist())) >= 2}


def pairwise_jensen_shannon(table: AnswerTable) -> tuple[float, int]:
    """(mean JSD in bits over every pair of different participants' answers of one image, pairs);
    all-zero answers (no distribution) are left out; (NaN, 0) when no pair exists."""
    values = []
    for rows in _repeated(table).values():
        for a, b in combinations(rows, 2):
            p, q = table.ratings[a].astype(float), table.ratings[b].astype(float)
            if table.annotator[a] != table.annotator[b] and p.sum() > 0 and q.sum() > 0:
                values.append(jensenshannon(p / p.sum(), q / q.sum(), base=2) ** 2)
    return (float(np.mean(values)), len(values)) if values else (float("nan"), 0)


def krippendorff_alpha(table: AnswerTable, max_rating: int, level: str = "ordinal") -> tuple[float, int]:
    """(alpha, units): reliability matrix participants × (image, class) units of the images rated
    more than once; a participant who rated an image twice (a revision is one answer) counts once."""
    repeated = _repeated(table)
    if not repeated:
        return float("nan"), 0
    k = table.ratings.shape[1]
    people = {a: i for i, a in enumerate(np.unique(table.annotator).tolist())}
    data = np.full((len(people), len(repeated) * k), np.nan)
    for u, rows in enumerate(repeated.values()):
        for r in rows:
            data[people[int(table.annotator[r])], u * k:(u + 1) * k] = table.ratings[r]
    if np.unique(data[~np.isnan(data)]).size < 2:  # one value everywhere: agreement is perfect
        return 1.0, data.shape[1]
    alpha = krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=list(range(max_rating + 1)))
    return float(alpha), data.shape[1]


@dataclass(frozen=True)
class CampaignStats:
    campaign: str
    class_names: tuple[str, ...]
    answers: int
    images: int
    images_rated_twice: int
    all_zero_answers: int
    below_three_nonzero: int
    matrix: np.ndarray  # K×K, NaN rows for classes without answers (or without true labels)
    mean_ratings: np.ndarray  # K, over all answers
    per_annotator: list[tuple[str, int]]
    per_hour: list[tuple[str, int]]
    median_seconds: float
    jensen_shannon: float
    jensen_shannon_pairs: int
    alpha: float
    alpha_units: int


def campaign_stats(table: AnswerTable, campaign: Campaign) -> CampaignStats:
    """Every statistic of the module doc for one campaign's answers."""
    k = len(campaign.class_names)
    _check(table, k)
    jsd, pairs = pairwise_jensen_shannon(table)
    alpha, units = krippendorff_alpha(table, campaign.max_rating)
    counts = np.bincount(table.annotator, minlength=len(table.annotator_names)) if len(table) else np.zeros(len(table.annotator_names), int)
    nonzero = (table.ratings > 0).sum(axis=1)
    return CampaignStats(
        campaign=campaign.name, class_names=tuple(campaign.class_names), answers=len(table),
        images=len(np.unique(table.image)), images_rated_twice=len(_repeated(table)),
        all_zero_answers=int((nonzero == 0).sum()), below_three_nonzero=int((nonzero < 3).sum()),
        matrix=rating_matrix(table.ratings, table.true_label, k),
        mean_ratings=table.ratings.mean(axis=0) if len(table) else np.full(k, np.nan),
        per_annotator=[(n, int(c)) for n, c in zip(table.annotator_names, counts)],
        per_hour=answers_per_hour(table.time), median_seconds=median_seconds_between_answers(table.annotator, table.time),
        jensen_shannon=jsd, jensen_shannon_pairs=pairs, alpha=alpha, alpha_units=units,
    )


def campaign_stats_of(engine: Engine, campaign: Campaign) -> CampaignStats:
    return campaign_stats(answer_table(engine, campaign), campaign)
