"""The WPGD study's 3-class toy (Terzi, Susto, Chaudhari; methods.md §4): which decision
boundaries do PGD training and WPGD move?

    run_toy(out_dir, eps=(0.1, 0.2), powers=(1.0, 2.5, 10.0))   # labelrobust analyze toy

On ``toy3`` (three curved sectors of the unit disk, every pair sharing a boundary;
``labelrobust.data.toy3``) a small ``mlp`` (3 × 64 ReLU units; SGD, momentum 0.9, lr 0.05 on a
cosine schedule, so every model ends converged rather than wherever a constant rate left it) is
trained through ``labelrobust.training.train`` with standard training, with PGD-AT (``at``,
PGD-10) at each eps, and with WPGD (``wpgd``, PGD-10) at each eps × power p under the study's
label metric

    C = [[0, 10, 0.01], [10, 0, 1], [0.01, 1, 0]]   (a–b expensive, a–c cheap, b–c middle).

WPGD's inner attack maximises ``ℓ_W = C^{⊙p}_y · softmax(f(x'))`` (minus an entropy term), so it
pushes a sample toward the classes far from its own under ``C``; the outer loss is cross-entropy.
The study's claim: PGD training flattens every boundary, WPGD only some of them.

Measured per model (``toy-summary.csv``; one row per eps, the standard model once per eps):

* ``clean_accuracy`` on the test points, and ``robust_accuracy`` under PGD-20 (L∞, random
  start, step 2.5·eps/20, cross-entropy) at the row's eps: clean prediction right and unchanged.
* **boundary displacement** ``changed_X_Y`` for each pair of classes {X, Y}: the share of a
  dense grid over the data support (the disk ``‖x‖ ≤ 1``) predicted X by the standard model and Y
  by this model, or Y and X — the area that moved from one side of the X–Y boundary to the other,
  as a fraction of the disk. ``changed_total`` is the share of the disk whose prediction changed
  at all (the three pairs add up to it). A pair whose boundary stayed where standard training put
  it has ``changed_X_Y ≈ 0``; the claim reads "PGD: every pair clearly > 0; WPGD: mostly the
  pairs with small C".
* ``flip_X_Y``: among test points of class X or Y that the model classifies correctly, the share
  the PGD attack at the row's eps moves to the other class of the pair — how easily that boundary
  is crossed.

``toy-boundaries.png``: rows = eps, columns = standard / PGD / WPGD p=…; each panel shows the
arg-max regions on the grid over the whole domain, this model's boundaries (coloured by pair,
solid), the standard model's (black, dashed) and the training points (light).

Runs live under ``out_dir/runs/``; a finished run with the same settings is reused, an unfinished
one resumed, and one with other settings is refused unless ``force`` (which retrains every run).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import torch
from torch import Tensor

from labelrobust.atomic import atomic_write_text, require_writable_dir
from labelrobust.attacks import make_attack
from labelrobust.config import RUN_LOCATION_KEYS, TrainConfig, as_config, to_dict
from labelrobust.data.toy3 import DOMAIN, in_support
from labelrobust.devices import check_device_name, one_thread
from labelrobust.domain import Box
from labelrobust.errors import ConfigError
from labelrobust.labels import LabelSpace
from labelrobust.metrics.robustness import robust_accuracy
from labelrobust.runs import Experiment, RunPaths, load_run, read_config
from labelrobust.training import train

log = logging.getLogger(__name__)

STUDY_COST = [[0.0, 10.0, 0.01], [10.0, 0.0, 1.0], [0.01, 1.0, 0.0]]
"""The label metric of the study's toy (methods.md §4): class a–b 10, a–c 0.01, b–c 1."""

PAIRS = ((0, 1), (0, 2), (1, 2))
FIGURE = "toy-boundaries.png"
SUMMARY = "toy-summary.csv"


@dataclass(frozen=True)
class ToyBudget:
    """The size of the toy: data, network, optimiser, attacks and grid (defaults: ~1–3 min on one core)."""

    n_train: int = 600
    n_test: int = 600
    hidden: int = 64
    depth: int = 3
    lr: float = 0.05
    schedule: str = "cosine"
    batch_size: int = 32
    inner_steps: int = 10
    eval_steps: int = 20
    resolution: int = 200


@dataclass(frozen=True)
class ToyRun:
    """One model of the toy: ``method`` is standard, at or wpgd; ``eps`` and ``power`` None where unused."""

    name: str
    method: str
    eps: float | None = None
    power: float | None = None

    @property
    def label(self) -> str:
        if self.method == "wpgd":
            return f"WPGD p={self.power:g}"
        return {"standard": "standard", "at": "PGD"}[self.method]


@dataclass(frozen=True)
class Regions:
    """Decisions on a grid: ``pred[i, j]`` is the class at ``(xs[j], ys[i])``; ``points`` the rows."""

    xs: Tensor
    ys: Tensor
    pred: Tensor

    @property
    def points(self) -> Tensor:
        gy, gx = torch.meshgrid(self.ys, self.xs, indexing="ij")
        return torch.stack([gx.flatten(), gy.flatten()], dim=1)


# -- validation ---------------------------------------------------------------------------


def _radii(values: object, what: str, domain: Box | None) -> tuple[float, ...]:
    """A non-empty list of distinct numbers in (0, domain width)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"{what} must be a non-empty list of positive numbers, got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) or v <= 0:
            raise ConfigError(f"{what} must hold positive finite numbers, got {v!r}")
        out.append(float(v))
    if len(set(out)) != len(out):
        raise ConfigError(f"{what} lists a value twice: {list(values)!r}")
    if domain is not None and max(out) >= domain.width:
        raise ConfigError(f"{what}: {max(out):g} covers the whole input domain [{domain.low:g}, {domain.high:g}]²; give radii below {domain.width:g}")
    return tuple(out)


def check_count(value: object, what: str, low: int = 1) -> int:
    """An integer ≥ ``low`` (bools refused), else a one-line ConfigError."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ConfigError(f"{what} must be an integer ≥ {low}, got {value!r}")
    return int(value)


def check_flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{what} must be true or false, got {value!r}")
    return value


# -- runs -----------------------------------------------------------------------------------


def toy_runs(eps: Sequence[float], powers: Sequence[float]) -> list[ToyRun]:
    """Standard, then PGD-AT per eps, then WPGD per eps × power."""
    runs = [ToyRun("standard", "standard")]
    runs += [ToyRun(f"at-eps{e:g}", "at", e) for e in eps]
    runs += [ToyRun(f"wpgd-eps{e:g}-p{p:g}", "wpgd", e, p) for e in eps for p in powers]
    return runs


def toy_config(run: ToyRun, runs_dir: Path, *, seed: int, epochs: int, device: str, budget: ToyBudget) -> TrainConfig:
    """The training config of one toy model; every model shares data, network, optimiser and seed."""
    params: dict = {}
    if run.method != "standard":
        params = {"eps": run.eps, "steps": budget.inner_steps}
    if run.method == "wpgd":
        params |= {"cost": [list(row) for row in STUDY_COST], "power": run.power}
    return as_config({
        "data": {"name": "toy3", "options": {"n_train": budget.n_train, "n_test": budget.n_test, "seed": seed}},
        "model": {"name": "mlp", "options": {"hidden": budget.hidden, "depth": budget.depth}},
        "optim": {"lr": budget.lr, "momentum": 0.9, "weight_decay": 0.0, "schedule": budget.schedule},
        "method": {"name": run.method, "params": params},
        "epochs": epochs,
        "batch_size": budget.batch_size,
        "seed": seed,
        "device": device,
        "out": str(runs_dir),
        "name": run.name,
    })


def _settings(cfg: TrainConfig) -> dict:
    """What a config computes: everything but where and how it runs (``RUN_LOCATION_KEYS``)."""
    flat = to_dict(cfg)
    for key in RUN_LOCATION_KEYS:
        section, _, name = key.rpartition(".")
        (flat[section] if section else flat).pop(name, None)
    return flat


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict) and key != "params":
            keys += _differences(x, y, f"{prefix}{key}.")
        elif x != y:
            keys.append(f"{prefix}{key}")
    return keys


def train_or_reuse(cfg: TrainConfig, *, force: bool = False, quiet: bool = True) -> Path:
    """The run directory of ``cfg``: reused when it holds a finished run with the same settings,
    resumed when it holds an unfinished one, trained when it holds none; ``force`` retrains it.

    A directory with results of *other* settings is never trained over without ``force``
    (one-line ConfigError naming the settings that differ)."""
    paths = RunPaths(Path(cfg.out) / cfg.run_name())
    if force:
        return train(cfg, overwrite=True, quiet=quiet)
    if not paths.results():
        return train(cfg, quiet=quiet)
    differ = _differences(_settings(read_config(paths.root)), _settings(cfg)) if paths.config.is_file() else ["config.yaml missing"]
    if differ:
        raise ConfigError(
            f"run directory {paths.root} holds a run with other settings ({', '.join(differ)}); pass force=True (--force) to retrain it, or use another output folder"
        )
    if paths.summary.is_file() and paths.weights.is_file():
        log.info("reusing the finished run %s", paths.root)
        return paths.root
    return train(cfg, resume=True, quiet=quiet)


# -- decision regions and measures -----------------------------------------------------------


def decision_regions(model: torch.nn.Module, space: LabelSpace, domain: Box, resolution: int = 200, batch_size: int = 8192) -> Regions:
    """The decoded class (``space.decode``, the arg-max for one-hot) at every point of a
    ``resolution`` × ``resolution`` grid spanning ``domain`` in both coordinates (edges included)."""
    resolution = check_count(resolution, "resolution", 2)
    axis = torch.linspace(domain.low, domain.high, resolution)
    regions = Regions(axis, axis.clone(), torch.empty(0))
    points = regions.points
    device = next(iter(model.parameters()), torch.empty(0)).device
    decisions = []
    with torch.no_grad():
        for start in range(0, len(points), batch_size):
            decisions.append(space.decode(model(points[start : start + batch_size].to(device))).cpu())
    return dataclasses.replace(regions, pred=torch.cat(decisions).reshape(resolution, resolution))


def boundary_change(reference: Tensor, pred: Tensor, support: Tensor, pairs: Sequence[tuple[int, int]] = PAIRS) -> dict[tuple[int, int], float]:
    """Per pair {a, b}: the share of the ``support`` grid points predicted a by ``reference`` and
    b by ``pred``, or b and a (see the module doc)."""
    n = int(support.sum())
    if n == 0:
        raise ConfigError("boundary_change: the support holds no grid point")
    ref, new = reference[support], pred[support]
    return {(a, b): float((((ref == a) & (new == b)) | ((ref == b) & (new == a))).sum()) / n for a, b in pairs}


def pair_flips(labels: Tensor, clean_pred: Tensor, adv_pred: Tensor, pairs: Sequence[tuple[int, int]] = PAIRS) -> dict[tuple[int, int], float]:
    """Per pair {a, b}: among points of class a or b classified correctly, the share whose
    adversarial decision is the pair's other class (NaN when there is none)."""
    out = {}
    for a, b in pairs:
        correct = ((labels == a) | (labels == b)) & (clean_pred == labels)
        other = torch.where(labels == a, b, a)
        flipped = correct & (adv_pred == other)
        out[(a, b)] = float(flipped.sum()) / int(correct.sum()) if correct.any() else math.nan
    return out


def attack_test(exp: Experiment, eps: float, steps: int, seed: int) -> dict:
    """Clean and PGD robust accuracy on the test split, and the per-pair flips."""
    test, domain = exp.dataset.test, exp.dataset.domain
    x, y = test.float_images(), test.labels
    with torch.no_grad():
        clean = exp.space.decode(exp.model(x))
    attack = make_attack("pgd", norm="linf", eps=eps, steps=steps)
    torch.manual_seed(seed)  # the random start: the same for every model
    adv = attack(exp.model, exp.space, x, y, domain=domain).pred
    return {
        "clean_accuracy": float((clean == y).float().mean()),
        "robust_accuracy": robust_accuracy(adv, y, clean),
        "flips": pair_flips(y, clean, adv),
    }


# -- outputs ----------------------------------------------------------------------------------


def summary_rows(runs: list[ToyRun], eps: Sequence[float], measured: dict, changes: dict, names: Sequence[str]) -> list[dict]:
    """One row per (model, eps): the standard model once per eps, every other model at its own."""
    rows = []
    for e in eps:
        for run in runs:
            if run.eps not in (None, e):
                continue
            m = measured[(run.name, e)]
            row = {"run": run.name, "method": run.method, "eps": e, "p": "" if run.power is None else run.power,
                   "clean_accuracy": m["clean_accuracy"], "robust_accuracy": m["robust_accuracy"]}
            row |= {f"changed_{names[a]}_{names[b]}": v for (a, b), v in changes[run.name].items()}
            row["changed_total"] = sum(changes[run.name].values())
            row |= {f"flip_{names[a]}_{names[b]}": v for (a, b), v in m["flips"].items()}
            rows.append(row)
    return rows


def csv_text(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
    return out.getvalue()


def pyplot():
    """matplotlib's pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


PAIR_COLOURS = {(0, 1): "tab:red", (0, 2): "tab:green", (1, 2): "tab:orange"}
CLASS_COLOURS = ("#9ecae1", "#fdd0a2", "#c7e9c0")
POINT_COLOURS = ("tab:blue", "tab:orange", "tab:green")


def _pair_boundaries(ax, regions: Regions, colour: str | None = None, **style) -> None:
    """The boundary of each pair {a, b} (in its pair colour, or ``colour``): the 0-level line of a
    field that is +1 on a, −1 on b and NaN on the third class, so a line is drawn only where a meets b."""
    for (a, b), pair_colour in PAIR_COLOURS.items():
        field = torch.full(regions.pred.shape, math.nan)
        field[regions.pred == a], field[regions.pred == b] = 1.0, -1.0
        if (field == 1).any() and (field == -1).any():
            ax.contour(regions.xs.numpy(), regions.ys.numpy(), field.numpy(), levels=[0.0], colors=[colour or pair_colour], **style)


def plot_boundaries(path: Path, panels: list[list[tuple[str, Regions, str]]], standard: Regions, train_points: Tensor, train_labels: Tensor, names: Sequence[str], footer: str) -> Path:
    """The figure: ``panels[row][col] = (title, regions, caption)``."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows, cols = len(panels), len(panels[0])
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.75 * rows + 0.6), dpi=110, squeeze=False)
    cmap = ListedColormap(CLASS_COLOURS)
    for r, row in enumerate(panels):
        for c, (title, regions, caption) in enumerate(row):
            ax = axes[r][c]
            ax.contourf(regions.xs.numpy(), regions.ys.numpy(), regions.pred.numpy(), levels=[-0.5, 0.5, 1.5, 2.5], cmap=cmap)
            ax.scatter(train_points[:, 0], train_points[:, 1], c=[POINT_COLOURS[i] for i in train_labels.tolist()], s=1.5, linewidths=0, alpha=0.45)
            _pair_boundaries(ax, standard, "black", linestyles="dashed", linewidths=0.8)
            _pair_boundaries(ax, regions, linewidths=1.6)
            ax.set_title(title, fontsize=8)
            ax.text(0.02, 0.02, caption, transform=ax.transAxes, fontsize=5.5, va="bottom", bbox={"facecolor": "white", "alpha": 0.75, "linewidth": 0})
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
    handles = [Patch(facecolor=CLASS_COLOURS[k], label=f"class {name}") for k, name in enumerate(names)]
    handles += [Line2D([], [], color=PAIR_COLOURS[(a, b)], lw=1.6, label=f"{names[a]}–{names[b]} boundary (C = {STUDY_COST[a][b]:g})") for a, b in PAIRS]
    handles.append(Line2D([], [], color="black", lw=0.8, ls="--", label="standard model's boundaries"))
    fig.legend(handles=handles, loc="lower center", ncol=7, fontsize=7, frameon=False)
    fig.text(0.01, 0.005, footer, fontsize=5.5, color="0.35")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, metadata={"Description": footer})
    plt.close(fig)
    return path


def _caption(m: dict, change: dict, names: Sequence[str]) -> str:
    moved = " ".join(f"{names[a]}{names[b]} {100 * v:.1f}%" for (a, b), v in change.items())
    return f"clean {100 * m['clean_accuracy']:.0f}%  robust {100 * m['robust_accuracy']:.0f}%\nmoved: {moved}"


# -- the analysis ---------------------------------------------------------------------------------


def run_toy(
    out_dir: str | Path,
    *,
    eps: Sequence[float] = (0.1, 0.2),
    powers: Sequence[float] = (1.0, 2.5, 10.0),
    seed: int = 0,
    epochs: int = 60,
    device: str = "cpu",
    force: bool = False,
    budget: ToyBudget | None = None,
    quiet: bool = True,
) -> Path:
    """Train (or reuse) the toy's models, measure them, write ``toy-boundaries.png`` and
    ``toy-summary.csv`` into ``out_dir``; return ``out_dir``.

    ``eps``: the L∞ radii of PGD-AT and WPGD (each < 2.4, the domain's width), also the radii of
    the evaluation attack; ``powers``: WPGD's powers p of the metric; ``seed``: data, initial
    weights, batch order and random starts; ``epochs``: training epochs of every model;
    ``force``: retrain every run; ``budget``: data, network and grid sizes (``ToyBudget``).
    Definitions of every column: the module doc (methods.md §4, Terzi et al.)."""
    eps = _radii(eps, "eps", DOMAIN)
    powers = _radii(powers, "powers", None)
    seed = check_count(seed, "seed", 0)
    epochs = check_count(epochs, "epochs", 1)
    check_device_name(device)
    force = check_flag(force, "force")
    budget = budget or ToyBudget()
    if not isinstance(budget, ToyBudget):
        raise ConfigError(f"budget must be a ToyBudget, got {budget!r}")
    out = require_writable_dir(Path(out_dir), "output folder")
    runs = toy_runs(eps, powers)
    configs = {run.name: toy_config(run, out / "runs", seed=seed, epochs=epochs, device=device, budget=budget) for run in runs}
    with one_thread():
        experiments = {name: load_run(train_or_reuse(cfg, force=force), device=device) for name, cfg in configs.items()}
        _write_outputs(out, runs, eps, experiments, budget, seed)
    return out


def training_seconds(run_dirs: Sequence[Path]) -> float:
    """The training time the runs' ``summary.json`` files record, summed."""
    return sum(json.loads(RunPaths(Path(d)).summary.read_text())["seconds"] for d in run_dirs)


def _write_outputs(out: Path, runs: list[ToyRun], eps: tuple[float, ...], experiments: dict[str, Experiment], budget: ToyBudget, seed: int) -> None:
    data = experiments["standard"].dataset
    names = data.class_names
    regions = {name: decision_regions(exp.model, exp.space, data.domain, budget.resolution) for name, exp in experiments.items()}
    support = in_support(regions["standard"].points).reshape(regions["standard"].pred.shape)
    changes = {name: boundary_change(regions["standard"].pred, r.pred, support) for name, r in regions.items()}
    measured = {(run.name, e): attack_test(experiments[run.name], e, budget.eval_steps, seed) for run in runs for e in eps if run.eps in (None, e)}
    atomic_write_text(out / SUMMARY, csv_text(summary_rows(runs, eps, measured, changes, names)))
    panels = []
    for e in eps:
        row = [run for run in runs if run.eps in (None, e)]
        panels.append([(f"{run.label}" + ("" if run.eps is None else f", eps {e:g}"), regions[run.name], _caption(measured[(run.name, e)], changes[run.name], names)) for run in row])
    trained = training_seconds([Path(e.config.out) / e.config.run_name() for e in experiments.values()])
    footer = (f"toy3 ({budget.n_train} train points), mlp {budget.depth}×{budget.hidden}, {experiments['standard'].config.epochs} epochs, "
              f"PGD-{budget.inner_steps} training, PGD-{budget.eval_steps} evaluation at the row's eps; 'moved': share of the disk that changed side of that pair's boundary "
              f"vs the standard model; training {trained:.0f} s (all runs)")
    plot_boundaries(out / FIGURE, panels, regions["standard"], data.train.images, data.train.labels, names, footer)
