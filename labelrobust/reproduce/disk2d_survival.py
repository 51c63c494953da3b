"""The soft-label study's toy experiment (methods.md §1): survival on the disk, soft vs hard.

    python -m labelrobust.reproduce.disk2d_survival [--scale ci|small] [--out DIR] [--seed N]

Two ``mlp-resnet`` models are trained on ``disk2d`` with labelrobust's own training: a *soft*
model (label space ``soft``, KL to the soft labels ``[p(x), 1 − p(x)]``) and a *hard* model
(``onehot`` on the rounded labels). Each test point is then attacked with PGD pushing it away
from its **clean predicted class**: the attack gets ``y = clean prediction``, and a point
*survives* when its predicted class does not change (the study's definition). The attack runs
in L∞ and in L2 at eps 0.5, 0.25, 0.1, 0.01 and 0.001 inside the data set's domain
``[−R, R]²``, once on the label space's own loss (what the study attacked: PGD-100 with
momentum 0.9) and once on the margin of the class scores; *worst* is the per-sample worst case
of the two.

Robust accuracy against the true label is reported as a separate metric: a point counts when
it is classified correctly on the clean input and still after the attack. For a correctly
classified point the survival attack *is* the attack on the true label (the two labels agree);
a misclassified point is never robust. So both metrics come from the same attack runs.

Next to the study's numbers the table gives the survival of the *exact-boundary* classifier
(the hard labels themselves: boundary at p = 0.5) under the optimal attack, computed in closed
form on the same test points: the geometric reference the trained models can be read against.

Runs that already finished with the same config under ``OUT/runs`` are reused; the results go
to ``OUT/survival.json`` and ``OUT/survival.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from labelrobust.atomic import atomic_write_text
from labelrobust.attacks import make_attack
from labelrobust.cli.output import emit
from labelrobust.config import TrainConfig, as_config
from labelrobust.data.disk2d import hard_boundary_radius
from labelrobust.domain import Box
from labelrobust.devices import one_thread
from labelrobust.errors import ConfigError
from labelrobust.evaluation.checks import gradient_peaks
from labelrobust.metrics.classification import accuracy
from labelrobust.metrics.robustness import robust_accuracy, survival_rate
from labelrobust.provenance import command_line, environment, now
from labelrobust.runs import Experiment, RunPaths, load_run, read_config
from labelrobust.training import train

log = logging.getLogger(__name__)

EPS = (0.5, 0.25, 0.1, 0.01, 0.001)
NORMS = ("linf", "l2")
OBJECTIVES = ("loss", "margin")
WORST = "worst"
# model name → label space; the soft model learns the soft labels, the hard one the rounded ones
MODELS = {"soft": "soft", "hard": "onehot"}

# Tyrväinen et al., toy problem (methods.md §1): survival in %, for eps 0.5/0.25/0.1/0.01/0.001.
STUDY = {
    "eps": list(EPS),
    "soft": [42.68, 59.98, 85.24, 98.10, 99.82],
    "hard": [26.16, 55.08, 82.62, 98.46, 99.70],
    "attack": "PGD, 100 iterations, momentum 0.9, on the model's own training loss (KL); survival = arg-max class unchanged",
    "norm": "not stated for the toy problem (methods.md writes the threat model as an L∞ ball)",
    "model": "a small ResNet mapping R² → R³ (details not given)",
}


@dataclass(frozen=True)
class Scale:
    """How big one run of the experiment is."""

    n_train: int
    n_test: int
    epochs: int
    batch_size: int
    width: int
    blocks: int
    lr: float
    steps: int
    momentum: float = 0.9
    weight_decay: float = 0.0
    radius: float = 1.0


SCALES = {
    # well under a minute on 2 CPU cores: what the test runs
    "ci": Scale(n_train=600, n_test=200, epochs=8, batch_size=32, width=16, blocks=2, lr=0.05, steps=20),
    # a meaningful experiment of a few minutes on 2 CPU cores
    "small": Scale(n_train=4000, n_test=3000, epochs=60, batch_size=64, width=32, blocks=3, lr=0.05, steps=100),
}


@dataclass
class SurvivalResult:
    """``summary``: everything ``survival.json`` holds. ``clean``: the attacked test points;
    ``adversarial[(model, norm, eps, objective)]``: their adversarial points (in memory only)."""

    summary: dict
    clean: Tensor
    domain: Box
    adversarial: dict[tuple[str, str, float, str], Tensor] = field(default_factory=dict)

    def rows(self, **match: object) -> list[dict]:
        return [r for r in self.summary["rows"] if all(r[k] == v for k, v in match.items())]


# -- training --------------------------------------------------------------------------------


def train_configs(scale: Scale, out: Path, seed: int = 0) -> dict[str, TrainConfig]:
    """The two training configs (same data, model, optimiser and seed; only the labels differ)."""
    configs = {}
    for name, space in MODELS.items():
        configs[name] = as_config({
            "data": {"name": "disk2d", "options": {"radius": scale.radius, "n_train": scale.n_train, "n_test": scale.n_test, "seed": seed}},
            "model": {"name": "mlp-resnet", "options": {"width": scale.width, "blocks": scale.blocks}},
            "labels": {"name": space},
            "optim": {"lr": scale.lr, "momentum": 0.9, "weight_decay": scale.weight_decay},
            "epochs": scale.epochs,
            "batch_size": scale.batch_size,
            "seed": seed,
            "out": str(out / "runs"),
            "name": name,
        })
    return configs


def train_or_reuse(cfg: TrainConfig, quiet: bool = True, force: bool = False) -> Path:
    """The run directory of ``cfg``: reused when a run with this exact config finished there
    (unless ``force``), else trained (over whatever an earlier, different run left in that directory)."""
    paths = RunPaths(Path(cfg.out) / cfg.run_name())
    if not force and paths.summary.is_file() and paths.config.is_file() and paths.weights.is_file() and read_config(paths.root) == cfg:
        log.info("reusing the finished run %s", paths.root)
        return paths.root
    return train(cfg, overwrite=True, quiet=quiet)


# -- attacks ---------------------------------------------------------------------------------


def perturbation_norm(delta: Tensor, norm: str) -> Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)


def exact_boundary_survival(points: Tensor, labels: Tensor, norm: str, eps: float, radius: float) -> Tensor:
    """Per point: does the exact-boundary classifier (centre iff ‖x‖ ≤ r₀, r₀ where p = 0.5)
    keep its class against the optimal attack of radius ``eps`` inside ``[−R, R]²``?

    A centre point is lost when some point of its ball (within the box) lies outside the
    circle: the farthest such point from the origin has coordinates ``min(|xᵢ| + eps, R)`` (L∞)
    or norm ``‖x‖ + eps`` (L2; r₀ < R keeps it in the box). A rim point is lost when its ball
    reaches the disk of radius r₀: the nearest point has coordinates ``max(|xᵢ| − eps, 0)``
    (L∞) or norm ``‖x‖ − eps`` (L2).
    """
    r0 = hard_boundary_radius(radius)
    a = points.double().abs()
    if norm == "linf":
        farthest = (a + eps).clamp(max=radius).norm(dim=1)
        nearest = (a - eps).clamp(min=0).norm(dim=1)
    else:
        r = a.norm(dim=1)
        farthest, nearest = r + eps, (r - eps).clamp(min=0)
    centre = labels == 0
    return torch.where(centre, farthest <= r0, nearest > r0)


def model_boundary_radius(exp: Experiment, radius: float, angles: int = 256, steps: int = 2001) -> dict:
    """Where a model's prediction turns from centre to rim along rays from the origin: the
    median, min and max over ``angles`` directions of the first radius predicted ``rim``."""
    theta = torch.arange(angles, dtype=torch.float64) * (2 * math.pi / angles)
    r = torch.linspace(0, radius, steps, dtype=torch.float64)
    points = torch.stack([r[None, :] * torch.cos(theta)[:, None], r[None, :] * torch.sin(theta)[:, None]], dim=-1)
    with torch.no_grad():
        pred = exp.space.decode(exp.model(points.reshape(-1, 2).float())).reshape(angles, steps)
    rim = pred != 0
    first = torch.where(rim.any(dim=1), rim.float().argmax(dim=1), torch.full((angles,), steps - 1))
    crossing = r[first]
    return {"median": float(crossing.median()), "min": float(crossing.min()), "max": float(crossing.max()), "angles": angles}


def vanishing_gradient_share(exp: Experiment, x: Tensor, y: Tensor, objective: str) -> float:
    """Share of the points where the input gradient of ``objective`` (toward leaving class
    ``y``) is below 1e-30 everywhere: a confident model's cross-entropy saturates in float32,
    its gradient underflows to exactly 0, and a sign (L∞) or normalised (L2) step cannot move."""
    return float((gradient_peaks(exp.model, exp.space, x, y, objective) < 1e-30).float().mean())


def _attack(exp: Experiment, x: Tensor, clean_pred: Tensor, norm: str, eps: float, objective: str, scale: Scale, seed: int, domain: Box):
    step_size = 2.5 * eps / scale.steps  # Madry et al.: the steps add up to 2.5·eps, enough to cross the ball
    attack = make_attack("pgd", norm=norm, eps=eps, objective=objective, steps=scale.steps, step_size=step_size, momentum=scale.momentum)
    torch.manual_seed(seed)  # the random start: the same for every model and objective
    start = time.perf_counter()
    result = attack(exp.model, exp.space, x, clean_pred, domain=domain)
    return result, attack.describe(), time.perf_counter() - start


def _description(description: object) -> dict:
    """What the attack reports about itself, without what changes from cell to cell."""
    described = {k: v for k, v in asdict(description).items() if k not in ("eps", "norm")}
    described["budget"] = dict(described["budget"], step_size="2.5·eps/steps")
    return described


def _row(model: str, norm: str, eps: float, objective: str, clean_pred: Tensor, adv_pred: Tensor, labels: Tensor, x: Tensor, x_adv: Tensor, domain: Box) -> dict:
    distance = float(perturbation_norm(x_adv - x, norm).max())
    return {
        "model": model,
        "label_space": MODELS[model],
        "norm": norm,
        "eps": eps,
        "objective": objective,
        "survival": survival_rate(clean_pred, adv_pred),
        "robust_accuracy": robust_accuracy(adv_pred, labels, clean_pred),
        "max_perturbation": distance,
        "within_eps": distance <= eps * (1 + 1e-5) + 1e-7,
        "inside_domain": bool(float(x_adv.min()) >= domain.low and float(x_adv.max()) <= domain.high),
    }


def _nested_violations(survived: dict[float, Tensor]) -> int:
    """Points lost at a smaller eps but surviving a larger one: the smaller ball's adversarial
    point lies in the larger ball too, so each is a miss of the attack at the larger eps."""
    lost_before = torch.zeros_like(next(iter(survived.values())))
    count = 0
    for eps in sorted(survived):
        count += int((lost_before & survived[eps]).sum())
        lost_before |= ~survived[eps]
    return count


# -- the experiment --------------------------------------------------------------------------


def default_out(scale: str) -> Path:
    """Where a run of ``scale`` writes when no ``--out`` is given."""
    return Path("runs") / f"disk2d-survival-{scale}"


def run_survival(
    scale: str = "ci", out: str | Path | None = None, seed: int = 0, quiet: bool = True, command: str | None = None, force: bool = False
) -> SurvivalResult:
    """Train (or reuse) both models, attack them, write ``survival.json`` and ``survival.md``.

    ``out``: the output folder (default ``runs/disk2d-survival-SCALE``); ``command``: the
    command line recorded in the results (default: this process's); ``force``: train both
    models again even where finished runs exist."""
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    s = SCALES[scale]
    out = Path(out) if out is not None else default_out(scale)
    with one_thread():
        return _run(scale, s, out, seed, quiet, command, force)


def _run(scale: str, s: Scale, out: Path, seed: int, quiet: bool, command: str | None, force: bool) -> SurvivalResult:
    started = time.perf_counter()
    experiments = {name: load_run(train_or_reuse(cfg, quiet=quiet, force=force), device="cpu") for name, cfg in train_configs(s, out, seed).items()}
    data = experiments["soft"].dataset  # both models train and are tested on the same points
    result = SurvivalResult({}, data.test.float_images(), data.domain)
    models, rows, nested, attacks = {}, [], [], {}
    for name, exp in experiments.items():
        models[name] = describe_model(exp, result.clean, s)
        found = attack_model(name, exp, result, s, seed)
        rows += found["rows"]
        nested += found["nested"]
        attacks |= found["attacks"]
    exact = [
        {"norm": norm, "eps": eps, "survival": float(exact_boundary_survival(result.clean, data.test.labels, norm, eps, s.radius).float().mean())}
        for norm in NORMS
        for eps in EPS
    ]
    result.summary = {
        "experiment": "disk2d-survival",
        "scale": scale,
        "scale_settings": asdict(s),
        "seed": seed,
        "date": now(),
        "command": command or command_line(),
        "machine": machine(),
        "environment": environment(),
        "dataset": {
            "name": "disk2d",
            "radius": s.radius,
            "n_train": s.n_train,
            "n_test": s.n_test,
            "domain": result.domain.as_dict(),
            "p": "p(x) = (e^(1 − ‖x‖/R) − 1)/(e − 1); soft label [p, 1 − p]; hard label = rim iff p < 0.5",
            "hard_boundary_radius": hard_boundary_radius(s.radius),
        },
        "models": models,
        "attack": {
            "survival": "attack y = the clean prediction; survival = predicted class unchanged",
            "robust_accuracy": "clean prediction correct and unchanged by the same attack (= the attack on the true label)",
            "worst": "per sample: lost to either objective",
            "objectives": attacks,
        },
        "study": STUDY,
        "rows": rows,
        "exact_boundary": exact,
        "soft_vs_hard": soft_vs_hard(rows, s.n_test),
        "nested_violations": nested,
        "domain_ok": all(r["inside_domain"] and r["within_eps"] for r in rows),
        "seconds": round(time.perf_counter() - started, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "survival.json", json.dumps(result.summary, indent=2) + "\n")
    atomic_write_text(out / "survival.md", markdown(result.summary))
    return result


def describe_model(exp: Experiment, x: Tensor, scale: Scale) -> dict:
    """Clean accuracy, where the decision boundary lies, and where the gradients vanish."""
    with torch.no_grad():
        clean_pred = exp.space.decode(exp.model(x))
    return {
        "label_space": exp.space.name,
        "run_dir": str(Path(exp.config.out) / exp.config.run_name()),
        "clean_accuracy": accuracy(clean_pred, exp.dataset.test.labels),
        "predicted_centre": float((clean_pred == 0).float().mean()),
        "boundary_radius": model_boundary_radius(exp, scale.radius),
        "vanishing_gradient_share": {o: vanishing_gradient_share(exp, x, clean_pred, o) for o in OBJECTIVES},
    }


def attack_model(name: str, exp: Experiment, result: SurvivalResult, scale: Scale, seed: int) -> dict:
    """Every (norm, eps, objective) attack on one model, plus the per-sample worst case; the
    adversarial points go to ``result.adversarial``. Returns the rows, the nested-eps misses
    and the attacks' descriptions."""
    x, labels, domain = result.clean, exp.dataset.test.labels, result.domain
    with torch.no_grad():
        clean_pred = exp.space.decode(exp.model(x))
    rows, nested, attacks = [], [], {}
    for norm in NORMS:
        survived: dict[str, dict[float, Tensor]] = {o: {} for o in (*OBJECTIVES, WORST)}
        for eps in EPS:
            worst_pred, worst_x = clean_pred.clone(), x.clone()
            for objective in OBJECTIVES:
                res, description, seconds = _attack(exp, x, clean_pred, norm, eps, objective, scale, seed, domain)
                attacks.setdefault(objective, _description(description))
                row = _row(name, norm, eps, objective, clean_pred, res.pred, labels, x, res.x_adv, domain)
                rows.append(row | {"forwards": res.cost.forwards, "gradients": res.cost.gradients, "seconds": round(seconds, 3)})
                result.adversarial[(name, norm, eps, objective)] = res.x_adv
                survived[objective][eps] = res.pred == clean_pred
                lost = (res.pred != clean_pred) & (worst_pred == clean_pred)
                worst_pred[lost], worst_x[lost] = res.pred[lost], res.x_adv[lost]
            rows.append(_row(name, norm, eps, WORST, clean_pred, worst_pred, labels, x, worst_x, domain))
            result.adversarial[(name, norm, eps, WORST)] = worst_x
            survived[WORST][eps] = worst_pred == clean_pred
        nested += [{"model": name, "norm": norm, "objective": o, "points": _nested_violations(v)} for o, v in survived.items()]
    return {"rows": rows, "nested": nested, "attacks": attacks}


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores}-core CPU ({platform.machine()}; the experiment runs on 1 torch thread)"


def soft_vs_hard(rows: list[dict], n: int) -> list[dict]:
    """Per norm, eps and objective: does soft ≥ hard hold? ``noise`` is two standard errors of
    the difference of two survival rates on ``n`` points each."""
    table = {(r["model"], r["norm"], r["eps"], r["objective"]): r["survival"] for r in rows}
    verdicts = []
    for norm in NORMS:
        for objective in (*OBJECTIVES, WORST):
            for eps in EPS:
                soft, hard = table[("soft", norm, eps, objective)], table[("hard", norm, eps, objective)]
                noise = 2 * math.sqrt((soft * (1 - soft) + hard * (1 - hard)) / n)
                verdicts.append({
                    "norm": norm, "eps": eps, "objective": objective, "soft": soft, "hard": hard,
                    "difference": soft - hard, "noise": noise, "soft_ge_hard": soft >= hard,
                })
    return verdicts


# -- the report ------------------------------------------------------------------------------

NORM_TITLE = {"linf": "L∞", "l2": "L2"}


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _verdict(v: dict) -> str:
    word = "yes" if v["soft_ge_hard"] else "**no**"
    within = " (within noise)" if abs(v["difference"]) <= v["noise"] else ""
    return f"{word}, {100 * v['difference']:+.1f}{within}"


def markdown(summary: dict) -> str:
    """The survival tables (one per norm), robust accuracy, and the soft ≥ hard verdicts."""
    s = summary["scale_settings"]
    survival = {(r["model"], r["norm"], r["eps"], r["objective"]): r for r in summary["rows"]}
    exact = {(e["norm"], e["eps"]): e["survival"] for e in summary["exact_boundary"]}
    verdicts = {(v["norm"], v["eps"], v["objective"]): v for v in summary["soft_vs_hard"]}
    study = {eps: (soft, hard) for eps, soft, hard in zip(STUDY["eps"], STUDY["soft"], STUDY["hard"])}
    lines = [
        f"## disk2d survival, scale `{summary['scale']}`",
        "",
        f"- Command: `{summary['command']}`; {summary['date']}; {summary['machine']}; {summary['seconds']:.0f} s.",
        f"- Data: disk2d, R = {s['radius']:g}, {s['n_train']} train / {s['n_test']} test points, domain "
        f"[{summary['dataset']['domain']['low']:g}, {summary['dataset']['domain']['high']:g}]²; "
        f"{summary['dataset']['p']}; the hard boundary is ‖x‖ = {summary['dataset']['hard_boundary_radius']:.3f}.",
        f"- Models: `mlp-resnet` (width {s['width']}, {s['blocks']} blocks), SGD lr {s['lr']:g}, momentum 0.9, "
        f"{s['epochs']} epochs, batch {s['batch_size']}.",
    ]
    for name, m in summary["models"].items():
        b = m["boundary_radius"]
        lines.append(
            f"  - {name} (`{m['label_space']}`): clean accuracy {_pct(m['clean_accuracy'])}, predicts centre for "
            f"{_pct(m['predicted_centre'])} of the test points; boundary radius median {b['median']:.3f} "
            f"(min {b['min']:.3f}, max {b['max']:.3f} over {b['angles']} directions); input gradient < 1e-30 at "
            + ", ".join(f"{_pct(v)} ({'own loss' if o == 'loss' else o})" for o, v in m["vanishing_gradient_share"].items())
            + " of the clean points."
        )
    lines += [
        f"- Attack: PGD-{s['steps']}, momentum {s['momentum']:g}, step 2.5·eps/{s['steps']}, one random start, inside the domain; "
        "y = the clean prediction; survival = the predicted class did not change. *own loss* is the label space's training "
        "loss (what the study attacked, with PGD-100 and momentum 0.9), *margin* the margin of the class scores, *worst* the "
        "per-sample worst case of the two.",
        "- *exact boundary*: survival of the classifier whose boundary is exactly p = 0.5 (the hard labels) against the "
        "optimal attack, in closed form on the same test points.",
        "- *soft ≥ hard?*: on the named objective; the number is soft − hard in points, *within noise* when it is under two "
        "standard errors of the difference.",
        f"- Study: {STUDY['attack']}; norm {STUDY['norm']}.",
        "",
    ]
    for norm in NORMS:
        lines += [
            f"### Survival, {NORM_TITLE[norm]}",
            "",
            "| eps | soft: own loss | soft: margin | soft: worst | hard: own loss | hard: margin | hard: worst "
            "| study soft | study hard | exact boundary | soft ≥ hard? (own loss) | soft ≥ hard? (worst) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for eps in EPS:
            cells = [_pct(survival[(m, norm, eps, o)]["survival"]) for m in MODELS for o in (*OBJECTIVES, WORST)]
            ref = study.get(eps, ("–", "–"))
            lines.append(
                f"| {eps:g} | " + " | ".join(cells) + f" | {ref[0]:.2f}% | {ref[1]:.2f}% | {_pct(exact[(norm, eps)])} "
                f"| {_verdict(verdicts[(norm, eps, 'loss')])} | {_verdict(verdicts[(norm, eps, WORST)])} |"
            )
        lines.append("")
    lines += [
        "### Robust accuracy against the true label (worst of both objectives)",
        "",
        "A point counts when its clean prediction is right and the attack does not change it.",
        "",
        "| norm | eps | soft | hard |",
        "|---|---|---|---|",
    ]
    for norm in NORMS:
        for eps in EPS:
            lines.append(
                f"| {NORM_TITLE[norm]} | {eps:g} | {_pct(survival[('soft', norm, eps, WORST)]['robust_accuracy'])} "
                f"| {_pct(survival[('hard', norm, eps, WORST)]['robust_accuracy'])} |"
            )
    lines += ["", "### Does soft ≥ hard hold?", ""]
    for norm in NORMS:
        for objective, label in (("loss", "own loss (the study's attack)"), (WORST, "worst case")):
            held = [f"{eps:g}" for eps in EPS if verdicts[(norm, eps, objective)]["soft_ge_hard"]]
            failed = [f"{eps:g}" for eps in EPS if not verdicts[(norm, eps, objective)]["soft_ge_hard"]]
            lines.append(
                f"- {NORM_TITLE[norm]}, {label}: holds at eps {', '.join(held) or 'none'}; "
                f"fails at eps {', '.join(failed) or 'none'}."
            )
    misses = ", ".join(
        f"{v['model']} {NORM_TITLE[v['norm']]} {v['objective']}: {v['points']}" for v in summary["nested_violations"] if v["points"]
    )
    lines += [
        "",
        "Attack checks: every adversarial point lies in the domain and within eps of its clean point: "
        f"{'yes' if summary['domain_ok'] else '**NO**'}. Points lost at a smaller eps but surviving a larger one "
        f"(attack misses): {misses or 'none'}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labelrobust.reproduce.disk2d_survival",
        description="The soft-label study's disk experiment: survival of a soft and a hard model under PGD.",
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="ci", help="ci: well under a minute (the test); small: a few minutes")
    parser.add_argument("--out", default=None, help="output folder (default runs/disk2d-survival-SCALE)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the training and the random starts")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    command = shlex.join(["python", "-m", "labelrobust.reproduce.disk2d_survival", *argv])
    result = run_survival(args.scale, args.out, args.seed, command=command)
    out = Path(args.out) if args.out is not None else default_out(args.scale)
    emit(markdown(result.summary))
    emit(f"written: {out / 'survival.json'}, {out / 'survival.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
