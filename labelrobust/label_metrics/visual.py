"""Visual label metrics of a trained run: how close the *model* puts two classes.

Three kinds (``labelrobust metric RUN_DIR --kind ...``), all on the run's test split, all
through the run's LabelSpace (``scores``, ``decode``, ``probabilities``):

- ``boundary``: ``d_kj`` = mean L2 distance from correctly classified class-k test points to the
  region the model assigns to class j, found by a targeted minimal-norm margin attack (DeepFool
  steps on ``m_t(x) = s_t(x) − max_{i≠t} s_i(x)``, Moosavi-Dezfooli et al. 2016, targeted);
  ``C_kj = (d_kj + d_jk) / 2``. The visual metric of the directional study (methods.md §4).
- ``centroid``: ``C_kj = ‖μ_k − μ_j‖₂`` between the class means of the penultimate features
  (the input of the model's last ``nn.Linear``) of the test points of each class.
- ``confusion``: with ``M_kj`` = mean predicted probability of class j over class-k test points
  (a soft confusion matrix; dense, unlike counts), ``S = (M + Mᵀ)/2`` off the diagonal and
  ``C_kj = 1 − (1 − δ) · S_kj / max_{i≠l} S_il`` with δ = 0.05: the classes the model confuses
  most are closest (δ, not 0, so that no confusion is free for a cost-sensitive loss).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from labelrobust.atomic import atomic_write_text
from labelrobust.errors import ConfigError
from labelrobust.label_metrics.io import read_metric, write_metric_csv
from labelrobust.label_metrics.metric import LabelMetric
from labelrobust.metrics.inference import eval_mode, first_samples, model_outputs, positive_int
from labelrobust.models.features import penultimate_features

KINDS = ("boundary", "centroid", "confusion")
CONFUSION_FLOOR = 0.05
"""δ: the ``confusion`` distance of the most-confused pair (a zero cost would make it free)."""


@dataclass(frozen=True)
class BoundarySearch:
    """Settings of the ``boundary`` kind: ``n_per_class`` points per class, at most ``steps``
    DeepFool steps, each overshooting the linearised crossing by ``overshoot``."""

    n_per_class: int = 20
    steps: int = 50
    overshoot: float = 0.02

    def __post_init__(self) -> None:
        positive_int(self.n_per_class, "n_per_class")
        positive_int(self.steps, "steps")
        if not (isinstance(self.overshoot, (int, float)) and 0 <= self.overshoot < 1):
            raise ConfigError(f"overshoot must be a number in [0, 1), got {self.overshoot!r}")


def visual_metric(exp, kind: str, *, n: int | None = None, search: BoundarySearch = BoundarySearch(), batch_size: int = 256) -> LabelMetric:
    """The ``kind`` metric of a loaded run (``labelrobust.runs.load_run``); ``n``: use the first
    n test samples (None: all) for ``centroid`` and ``confusion``."""
    if kind not in KINDS:
        raise ConfigError(f"unknown visual metric kind {kind!r}; expected one of {', '.join(KINDS)}")
    test = first_samples(exp.dataset.test, n)
    if kind == "boundary":
        matrix, details = boundary_matrix(exp, test, search)
    elif kind == "centroid":
        matrix, details = centroid_matrix(exp.model, test, exp.dataset.num_classes, batch_size)
    else:
        matrix, details = confusion_matrix_metric(exp, test, batch_size)
    return LabelMetric(matrix.double().numpy(), exp.dataset.class_names, source=f"visual:{kind}", details=details)


def cached_visual_metric(run_dir: str | Path, kind: str, *, device: str | None = None) -> LabelMetric:
    """``visual_metric`` of the run at its defaults, kept in ``RUN_DIR/label-metrics/<kind>.csv``
    (with a ``.json`` of the weights it came from); recomputed when the weights changed."""
    from labelrobust.runs import RunPaths, load_run, weights_sha256

    if kind not in KINDS:
        raise ConfigError(f"unknown visual metric kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not str(run_dir).strip():
        raise ConfigError(f"visual:{kind}: needs a run directory, e.g. visual:{kind}:runs/standard")
    paths = RunPaths(Path(run_dir))
    defaults = settings_record(None, BoundarySearch())
    sha = weights_sha256(paths.weights) if paths.weights.is_file() else None  # before loading: a run still training may move on
    cached = _cached(run_dir, kind, sha, defaults)
    if cached is not None:
        return cached
    exp = load_run(run_dir, device=device)
    metric = visual_metric(exp, kind)
    write_visual_metric(run_dir, kind, metric, sha, defaults)
    return metric


def _cached(run_dir, kind: str, sha: str | None, settings: dict) -> LabelMetric | None:
    """The cached metric when its sidecar names these weights and settings; None when it is
    missing, stale or unreadable (then it is recomputed and rewritten)."""
    csv_path, info_path = metric_paths(run_dir, kind)
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return None
    if sha is None or not isinstance(info, dict) or info.get("weights_sha256") != sha or info.get("settings") != settings:
        return None
    try:
        metric = read_metric(csv_path, who=f"visual metric of {run_dir}")
    except ConfigError:
        return None
    details = info.get("details") if isinstance(info.get("details"), dict) else {}
    return LabelMetric(metric.matrix, metric.class_names, source=f"visual:{kind}", details=details)


def settings_record(n: int | None, search: BoundarySearch) -> dict:
    """What the cache sidecar records of the settings, to reuse a metric only at the same ones."""
    return {"n": n, **asdict(search)}


def metric_paths(run_dir: str | Path, kind: str) -> tuple[Path, Path]:
    folder = Path(run_dir) / "label-metrics"
    return folder / f"{kind}.csv", folder / f"{kind}.json"


def write_visual_metric(run_dir: str | Path, kind: str, metric: LabelMetric, weights_sha: str | None, settings: dict) -> Path:
    csv_path, info_path = metric_paths(run_dir, kind)
    write_metric_csv(csv_path, metric)
    record = {"kind": kind, "weights_sha256": weights_sha, "settings": settings, "details": metric.details}
    atomic_write_text(info_path, json.dumps(record, indent=2) + "\n")
    return csv_path


# --- boundary --------------------------------------------------------------------------


def boundary_matrix(exp, test, search: BoundarySearch) -> tuple[Tensor, dict]:
    """``C_kj = (d_kj + d_jk)/2`` from targeted DeepFool distances (module docstring)."""
    model, space, k = exp.model, exp.space, exp.dataset.num_classes
    device = next(model.parameters()).device
    x, y = correct_points_per_class(exp, test, search.n_per_class)
    d = torch.full((k, k), float("nan"), dtype=torch.float64)
    found = torch.zeros((k, k), dtype=torch.int64)
    for t in range(k):
        keep = y != t
        _, dist, ok = targeted_deepfool(model, space, x[keep].to(device), t, search, exp.dataset.domain)
        for c in range(k):
            rows = y[keep] == c
            if c != t and (rows & ok).any():
                d[c, t] = dist[rows & ok].double().mean()
            found[c, t] = int((rows & ok).sum())
    missing = [(a, b) for a in range(k) for b in range(k) if a != b and torch.isnan(d[a, b]) and torch.isnan(d[b, a])]
    if missing:
        a, b = missing[0]
        names = exp.dataset.class_names
        raise ConfigError(
            f"boundary metric: no point of {names[a]!r} reached {names[b]!r} or back within {search.steps} steps; raise steps"
        )
    sym = torch.where(torch.isnan(d), d.T, d)  # one direction found: use it for both
    matrix = (sym + sym.T) / 2
    matrix.fill_diagonal_(0)
    return matrix, {"n_per_class": search.n_per_class, "steps": search.steps, "overshoot": search.overshoot, "found": found.tolist()}


def correct_points_per_class(exp, test, n_per_class: int) -> tuple[Tensor, Tensor]:
    """The first ``n_per_class`` correctly classified test points of every class (on the CPU)."""
    pred = exp.space.decode(model_outputs(exp.model, test))
    labels = test.labels
    chosen = []
    for c in range(exp.dataset.num_classes):
        idx = ((labels == c) & (pred == labels)).nonzero().flatten()[:n_per_class]
        if len(idx) == 0:
            raise ConfigError(f"boundary metric: the model classifies no test point of class {exp.dataset.class_names[c]!r} correctly")
        chosen.append(idx)
    idx = torch.cat(chosen)
    return test.float_images(idx), labels[idx]


def targeted_deepfool(model, space, x: Tensor, target: int, search: BoundarySearch, domain) -> tuple[Tensor, Tensor, Tensor]:
    """Per point: the first point found in ``target``'s region (the last iterate where none
    was), its L2 distance from ``x`` and whether it was found (distances and flags on the CPU). Each step moves along ∇m by the linearised distance to ``m = 0``, times
    ``1 + overshoot``, then clips to the input domain."""
    x_adv = x.clone()
    done = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    t = torch.full((len(x),), target, dtype=torch.int64, device=x.device)
    with eval_mode(model):
        for _ in range(search.steps + 1):
            m, grad = _target_margin(model, space, x_adv, t)
            done |= m > 0
            if done.all():
                break
            norm2 = grad.flatten(1).pow(2).sum(1).clamp_min(1e-24)
            step = ((-m).clamp_min(0) + 1e-6) / norm2 * (1 + search.overshoot)
            move = (~done).to(x.dtype) * step
            x_adv = domain.clip(x_adv + move.view(-1, *[1] * (x.ndim - 1)) * grad)
    dist = (x_adv - x).flatten(1).norm(dim=1)
    return x_adv, dist.cpu(), done.cpu()


def _target_margin(model, space, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        s = space.scores(model(x))
        other = s.masked_fill(torch.nn.functional.one_hot(t, s.shape[1]).bool(), float("-inf")).amax(1)
        m = s.gather(1, t[:, None]).squeeze(1) - other
        (grad,) = torch.autograd.grad(m.sum(), x)
    return m.detach(), grad


# --- centroid and confusion -------------------------------------------------------------


def centroid_matrix(model, test, num_classes: int, batch_size: int) -> tuple[Tensor, dict]:
    feats = penultimate_features(model, test, batch_size)[0].double()
    labels = test.labels
    means = []
    for c in range(num_classes):
        rows = labels == c
        if not rows.any():
            raise ConfigError(f"centroid metric: the test split has no sample of class {c}")
        means.append(feats[rows].mean(0))
    means = torch.stack(means)
    matrix = torch.cdist(means, means)
    matrix = (matrix + matrix.T) / 2
    matrix.fill_diagonal_(0)
    return matrix, {"n_test": len(labels), "feature_dim": int(feats.shape[1])}


def confusion_matrix_metric(exp, test, batch_size: int) -> tuple[Tensor, dict]:
    probs = exp.space.probabilities(model_outputs(exp.model, test, batch_size)).double()
    k = exp.dataset.num_classes
    m = torch.zeros((k, k), dtype=torch.float64)
    for c in range(k):
        rows = test.labels == c
        if not rows.any():
            raise ConfigError(f"confusion metric: the test split has no sample of class {exp.dataset.class_names[c]!r}")
        m[c] = probs[rows].mean(0)
    s = (m + m.T) / 2
    s.fill_diagonal_(0)
    top = s.max()
    if top <= 0:
        raise ConfigError("confusion metric: the model never gives probability to a wrong class, so no class is closer than another")
    matrix = 1 - (1 - CONFUSION_FLOOR) * s / top
    matrix.fill_diagonal_(0)
    return matrix, {"n_test": len(test.labels)}
