"""The weighted robustness score of runs under a label metric (Terzi, Susto, Chaudhari,
"Directional adversarial training for cost sensitive deep learning classification
applications"; methods.md §4): the cost of the mistakes an attack causes.

    S = Σ_i [ Σ_j c_ij m_ij + a_i · max_j c_ij ],   c = C^{⊙p}

- ``m_ij``: the row-normalised adversarial confusion matrix, the share of the test samples of
  true class ``i`` that the model decides as class ``j`` at the attacked point (every sample
  is attacked, including those already wrong on the clean input); ``a_i`` the share of class
  ``i`` that abstains there (a space that cannot abstain has ``a_i = 0``; an abstention costs
  the largest cost of its row, as much as the worst mistake).
- ``c_ij``: the label metric raised element-wise to the power ``p`` (reported with every
  score). Each row of ``m`` is a distribution over decisions, so ``Σ_j c_ij m_ij`` is the
  expected cost for class ``i`` and ``S`` the sum over the K classes (the study's
  ``Σ_ij c_ij m_ij``) — class-balanced, in the metric's units. With the 0-1 metric ``1 − I``
  and p = 1, ``S`` is the sum of the per-class errors at the attacked points.

The attacks, both PGD with a random start and the same steps, step size and seed, differing
only in what they maximise, computed through the label space only:

- ``wasserstein``: the Wasserstein loss of the attacked class under the *same* metric (the
  attacker knows the costs), ``ℓ_W = C^{⊙p}_y · softmax(s(x')) − H(softmax(s(x')))/(λ log K)``
  with ``s = space.scores``; λ = inf (the default) drops the entropy term, leaving the
  expected cost of the prediction;
- ``pgd-loss`` (or ``pgd-ce``): plain PGD on the label space's own loss (cross-entropy for
  one-hot) or on the cross-entropy of its scores.

Every attack keeps its last PGD iterate (``GradientAttack.maximize``, the study's 20-step PGD
with random start). The ``clean`` rows score the clean decisions. Relative to a reference run
(the study's PGD model): ``S − S_ref`` (0 for the reference, as the study reports it) and
``S / S_ref`` (NaN when ``S_ref = 0``), per attack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from labelrobust.analysis.confusion import AnalysedRun, RunLike, attacked_outputs, check_same_classes, decisions, load_runs, resolve_for, row_normalised, warn_if_other_samples
from labelrobust.analysis.figures import csv_text, markdown_table, matrix_csv_text, prepare_out_dir, pyplot, save_figure, write_json, write_text
from labelrobust.attacks import GradientAttack, make_inner_maximizer
from labelrobust.attacks.objectives import OBJECTIVES
from labelrobust.errors import ConfigError
from labelrobust.label_metrics.metric import LabelMetric
from labelrobust.labels import make_label_space
from labelrobust.metrics.classification import accuracy, confusion_matrix
from labelrobust.metrics.inference import positive_int
from labelrobust.metrics.robustness import robust_accuracy
from labelrobust.validation import number

CLEAN, WASSERSTEIN = "clean", "wasserstein"
PLAIN_OBJECTIVES = ("loss", "ce")


@dataclass(frozen=True)
class ScoreRow:
    """One run under one attack (``clean``: no attack, eps 0). ``wasserstein_clean``/``_adv``: the mean
    Wasserstein loss ℓ_W over the samples at the clean and at the attacked points."""

    run: str
    attack: str
    power: float
    eps: float
    n: int
    score: float
    score_minus_ref: float | None
    score_over_ref: float | None
    clean_accuracy: float
    robust_accuracy: float
    abstain_rate: float
    wasserstein_clean: float
    wasserstein_adv: float


@dataclass(frozen=True)
class ScoreResult:
    """The score table; per ``(run, attack)`` the row-normalised K×(K+1) adversarial confusion
    (last column: abstained) and the decisions; the labels of the attacked samples per run."""

    rows: list[ScoreRow]
    metric: LabelMetric
    power: float
    settings: dict
    reference: str | None = None
    confusions: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    predictions: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict)
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)

    def row(self, run: str, attack: str) -> ScoreRow:
        return next(r for r in self.rows if r.run == run and r.attack == attack)

    def table(self) -> list[dict]:
        return [asdict(r) for r in self.rows]


def weighted_score(confusion: np.ndarray, cost: np.ndarray) -> float:
    """``S = Σ_i [Σ_j c_ij m_ij + a_i max_j c_ij]`` from a row-normalised confusion ``m``
    (K×K, or K×(K+1) whose last column ``a`` is the abstain share) and a K×K cost ``c``."""
    m, c = np.asarray(confusion, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    k = c.shape[0]
    if c.shape != (k, k) or m.shape not in ((k, k), (k, k + 1)):
        raise ConfigError(f"the confusion matrix must be K×K or K×(K+1) for a K×K cost, got {m.shape} and {c.shape}")
    per_class = (m[:, :k] * c).sum(axis=1)
    if m.shape[1] == k + 1:
        per_class = per_class + m[:, k] * c.max(axis=1)
    return float(per_class.sum())


def wasserstein_objective(metric: LabelMetric, power: float, lam: float = math.inf):
    """The attack objective ``ℓ_W(s(x'), y)`` (per sample, through ``space.scores``) of the
    ``wasserstein`` label space with cost ``metric``, power ``power`` and entropy weight ``lam``."""
    loss_space = make_label_space("wasserstein", metric.num_classes, cost=metric.matrix.tolist(), power=power, lam=lam)

    def objective(space, outputs, y, target):
        return loss_space.loss(space.scores(outputs), loss_space.encode(y))

    return objective


def make_pgd(norm: str, eps: float | str, steps: int, step_size: float | None) -> GradientAttack:
    """PGD with a random start (the study's test attack), validated before any run loads."""
    params = {"steps": steps, "random_start": True}
    if step_size is not None:
        params["step_size"] = step_size
    return make_inner_maximizer("pgd", norm=norm, eps=eps, **params)


def weighted_scores(
    runs: Sequence[RunLike],
    metric,
    power: float,
    eps: float | str,
    steps: int = 20,
    reference: RunLike | None = None,
    *,
    step_size: float | None = None,
    norm: str = "linf",
    plain_objective: str = "loss",
    lam: float = math.inf,
    n: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    weights: str = "latest",
    device: str | None = None,
) -> ScoreResult:
    """``S`` (module docstring) of every run on its first ``n`` test samples: clean, under PGD
    on the Wasserstein loss of ``metric`` with power ``power`` and under plain PGD on
    ``plain_objective`` (``loss``: the label space's own; ``ce``), both at radius ``eps``.

    ``reference``: a run (one of ``runs``, else added) that the relative scores refer to."""
    power = number(power, "--power", low=0, low_open=True)
    lam = number(lam, "--lam", low=0, low_open=True, allow_inf=True)
    positive_int(batch_size, "batch_size")
    if plain_objective not in PLAIN_OBJECTIVES:
        raise ConfigError(f"plain_objective must be one of {', '.join(PLAIN_OBJECTIVES)}, got {plain_objective!r}")
    attack = make_pgd(norm, eps, steps, step_size)
    listed = list(runs) + ([] if reference is None or _position(runs, reference) is not None else [reference])
    loaded = load_runs(listed, weights=weights, device=device)
    names = check_same_classes(loaded)
    base = resolve_for(metric, names, loaded[0], device)
    cost = base.power(power).matrix
    measure = wasserstein_objective(base, power, lam)
    attacks = {WASSERSTEIN: measure, f"pgd-{plain_objective}": None if plain_objective == "loss" else OBJECTIVES.get(plain_objective)}
    images = [r.test_images(n) for r in loaded]
    warn_if_other_samples(loaded, images)
    scored = [_score_run(run, im, attack, attacks, measure, cost, power, batch_size=batch_size, seed=seed) for run, im in zip(loaded, images)]
    rows = [row for run_rows, _, _ in scored for row in run_rows]
    confusions = {k: v for _, run_confusions, _ in scored for k, v in run_confusions.items()}
    predictions = {k: v for _, _, run_predictions in scored for k, v in run_predictions.items()}
    labels = {r.label: im.labels.cpu().to(torch.int64) for r, im in zip(loaded, images)}
    ref_label = None if reference is None else loaded[_position(listed, reference)].label
    settings = {
        "norm": norm, "eps": attack.threat.eps, "steps": attack.steps, "step_size": attack.step_size, "random_start": True,
        "plain_objective": plain_objective, "lam": "inf" if math.isinf(lam) else lam, "seed": seed, "n": n, "power": power,
    }
    return ScoreResult(_relative(rows, ref_label), base, power, settings, ref_label, confusions, predictions, labels,
                       [r.record(im) for r, im in zip(loaded, images)])


def _score_run(run: AnalysedRun, images, attack: GradientAttack, attacks: dict, measure, cost: np.ndarray, power: float, *, batch_size: int, seed: int):
    """The rows of one run (clean, then each attack), its confusions and decisions by attack."""
    space = run.experiment.space
    y = space.check_hard_labels(images.labels.cpu().to(torch.int64))
    outputs, clean = decisions(run, images, batch_size)
    clean_measure = measure(space, outputs, y, None).float()
    found = {CLEAN: (clean, clean_measure)}
    for name, objective in attacks.items():
        adv = attacked_outputs(run, images, attack, objective, batch_size=batch_size, seed=seed)
        found[name] = (space.decide(adv, y), measure(space, adv, y, None).float())
    rows, confusions, predictions = [], {}, {}
    for name, (pred, values) in found.items():
        counts = confusion_matrix(pred, y, run.num_classes).numpy()
        row_normalised(counts, run.class_names, f"first {len(images)} test samples of {run.label}")  # refuses a class without samples
        m = counts / counts.sum(axis=1, keepdims=True)
        confusions[run.label, name], predictions[run.label, name] = m, pred
        rows.append(ScoreRow(
            run.label, name, power, 0.0 if name == CLEAN else attack.threat.eps, len(images), weighted_score(m, cost), None, None,
            accuracy(clean, y), robust_accuracy(pred, y, clean), float((pred == -1).float().mean()), float(clean_measure.mean()), float(values.mean()),
        ))
    return rows, confusions, predictions


def _position(runs: Sequence[RunLike], run: RunLike) -> int | None:
    for i, other in enumerate(runs):
        if other is run or (isinstance(other, (str, Path)) and isinstance(run, (str, Path)) and Path(other).resolve() == Path(run).resolve()):
            return i
    return None


def _relative(rows: list[ScoreRow], reference: str | None) -> list[ScoreRow]:
    """Fill ``S − S_ref`` and ``S / S_ref`` (NaN when ``S_ref = 0``), per attack."""
    if reference is None:
        return rows
    ref = {r.attack: r.score for r in rows if r.run == reference}
    out = []
    for r in rows:
        s_ref = ref[r.attack]
        ratio = r.score / s_ref if s_ref != 0 else math.nan
        out.append(ScoreRow(**{**asdict(r), "score_minus_ref": r.score - s_ref, "score_over_ref": ratio}))
    return out


def write_score_report(result: ScoreResult, out_dir: str | Path, *, force: bool = False) -> list[Path]:
    """``scores.csv``, ``scores.md``, ``scores.png``, ``summary.json`` and one labelled
    ``confusion-<run>-<attack>.csv`` per run and attack (rows normalised, last column abstained)."""
    out = prepare_out_dir(out_dir, force)
    written = [
        write_text(out / "scores.csv", csv_text(result.table())),
        write_text(out / "scores.md", score_markdown(result)),
        plot_scores(result, out / "scores.png"),
    ]
    names = result.metric.class_names
    for (run, attack), m in result.confusions.items():
        text = matrix_csv_text(m, names, [*names, "abstain"], "true \\ decided")
        written.append(write_text(out / f"confusion-{_safe(run)}-{attack}.csv", text))
    summary = {
        "analysis": "weighted-robustness-score",
        "definition": "S = sum_i [sum_j c_ij m_ij + a_i max_j c_ij], c = C^p, m row-normalised adversarial confusion, a abstain share",
        "power": result.power, "reference": result.reference, "relative": "score_minus_ref = S - S_ref; score_over_ref = S / S_ref (per attack)",
        "settings": result.settings, "runs": result.runs,
        "metric": {"source": result.metric.source, "details": result.metric.details, "fingerprint": result.metric.fingerprint()},
        "rows": result.table(),
    }
    written.append(write_json(out / "summary.json", summary))
    return written


def _safe(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)


def score_markdown(result: ScoreResult) -> str:
    s = result.settings
    ref = f"; relative to {result.reference}: S − S_ref and S / S_ref" if result.reference else ""
    return (
        f"# Weighted robustness score (p = {result.power:g})\n\n"
        f"S = Σ_i Σ_j c_ij m_ij with c = C^p ({result.metric.source}) and m the row-normalised adversarial confusion "
        f"(abstentions cost the row's largest c); PGD {s['norm']} eps {s['eps']:g}, {s['steps']} steps, random start{ref}.\n\n"
        + markdown_table(result.table())
    )


def plot_scores(result: ScoreResult, path: Path) -> Path:
    """Bars of ``S`` per run, one per attack (clean included)."""
    plt = pyplot()
    runs = list(dict.fromkeys(r.run for r in result.rows))
    attacks = list(dict.fromkeys(r.attack for r in result.rows))
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(runs) + 2), 4), dpi=120)
    width = 0.8 / len(attacks)
    for a, attack in enumerate(attacks):
        values = [result.row(run, attack).score for run in runs]
        ax.bar(np.arange(len(runs)) + (a - (len(attacks) - 1) / 2) * width, values, width, label=attack, edgecolor="black", linewidth=0.5)
    ax.set_xticks(range(len(runs)))
    ax.set_xticklabels(runs, rotation=20 if len(runs) > 3 else 0, fontsize=8)
    ax.set_ylabel(f"S (p = {result.power:g})")
    ax.set_title(f"weighted robustness score, eps {result.settings['eps']:g} ({result.settings['norm']})", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return save_figure(fig, path, f"S per run and attack, p = {result.power:g}")
