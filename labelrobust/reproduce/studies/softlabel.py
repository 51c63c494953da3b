"""The soft-label study (methods.md §1; Tyrväinen et al., "Using Soft Labeling to Defend Against
Adversarial Attacks"), end to end.

Parts of the report:

1. **The disk** (``reproduce/disk2d_survival.py``): a soft and a hard ``mlp-resnet`` on
   ``disk2d``; survival under PGD at eps 0.5 … 0.001, next to the study's table.
2. **CIFAR-10**: a *hard* (one-hot), a *soft* (KL to the human soft labels) and an *LSR* (label
   smoothing, ε = 0.1 — the study does not give its ε) model, trained on the soft CIFAR-10
   survey split (``softcifar10``: 7,000 train / 1,000 test of CIFAR-10 batch 1) and on CIFAR-10H
   (``cifar10h``: 9,000 / 1,000 CIFAR-10 test images with CIFAR-10H's soft labels; the study did
   not use it). For each: clean accuracy and the l1/l2/l∞ distances of the predicted
   distribution to the human soft labels; untargeted survival (the arg-max class is unchanged)
   at eps 0.1, 0.05, 0.01, 0.005, 0.001 under the study's attack — PGD-100 with momentum 0.9 on
   the model's own loss (KL) — and under the adaptive margin attack on the class scores, with
   the per-sample worst case; targeted survival per target class (the study's objective
   ``ℓ(f(x+δ), y) − ℓ(f(x+δ), t)``, samples of the target class left out) and the confusion
   matrices of clean vs attacked decisions per target.

Scales: ``ci`` (a small CNN, a few hundred images, PGD-10: minutes), ``small`` (the whole survey
split and CIFAR-10H split with a small CNN, PGD-100 on a few hundred test images: about an hour
on 2 CPU cores), ``paper`` (the study's ResNet-18, SGD lr 0.1 constant, momentum 0.9, weight
decay 5e-4, batch 32, 300 epochs; PGD-100 on 500 random test images).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from labelrobust.analysis.figures import pyplot, save_figure
from labelrobust.config import TrainConfig
from labelrobust.evaluation import RobustReport, robust_evaluate_run, robust_evaluate_targets
from labelrobust.evaluation.suites import probe
from labelrobust.metrics.clean import evaluate_run
from labelrobust.metrics.robustness import adversarial_confusion
from labelrobust.reproduce import disk2d_survival
from labelrobust.reproduce.claims import NOT_TESTABLE, SUPPORTED, CONTRADICTED, Claim, at_study_setting, greater, majority, noise, pct
from labelrobust.reproduce.evidence import masking_table
from labelrobust.reproduce.report import Figure, Report, Section, Table
from labelrobust.reproduce.study import STUDIES, Study, StudyContext
from labelrobust.runs import load_run

EPS = (0.1, 0.05, 0.01, 0.005, 0.001)
HEADLINE_EPS = 0.01
MODELS = {"hard": ("onehot", {}), "soft": ("soft", {}), "lsr": ("smoothing", {"eps": 0.1})}
DATASETS = {"softcifar10": "soft CIFAR-10 survey split", "cifar10h": "CIFAR-10H"}
OWN, MARGIN, WORST = "own loss", "margin", "worst"

# methods.md §1: the study's CIFAR-10 numbers (soft CIFAR-10 survey split, ResNet-18)
STUDY_CLEAN = {"hard": 0.8387, "soft": 0.7429, "lsr": 0.8448}
STUDY_UNTARGETED = {"hard": 0.771, "soft": 0.761, "lsr": 0.763}  # survival at eps 0.01
STUDY_TARGETED = {"hard": (0.65, 0.77), "soft": (0.74, 0.84), "lsr": (0.60, 0.68)}  # range over targets at eps 0.01


@dataclass(frozen=True)
class SoftLabelScale:
    disk2d: str
    """The scale of the disk experiment (``disk2d_survival.SCALES``)."""
    train_size: int | None
    test_size: int | None
    model: str
    model_options: dict
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    steps: int
    """PGD steps of every attack (the study: 100)."""
    attack_n: int
    """Test images attacked untargeted (the first ones of the seeded test subset)."""
    targeted_n: int
    """Test images of the targeted attacks, before those of the target class are left out."""
    targeted_eps: tuple[float, ...]


@STUDIES.register("softlabel", "soft vs hard vs LSR labels: survival on the disk and on CIFAR-10 (Tyrväinen et al.)")
class SoftLabelStudy(Study):
    name = "softlabel"
    title = "Soft labels against adversarial attacks"
    source = ("Tyrväinen, Lensink, Greif, Haber, Tenorio — \"Using Soft Labeling to Defend Against Adversarial Attacks\" "
              "(methods.md §1)")
    scales = {
        "ci": SoftLabelScale("ci", 300, 100, "mnist-cnn", {"width": 8}, 2, 32, 0.05, 5e-4, 10, 60, 40, (HEADLINE_EPS,)),
        "small": SoftLabelScale("small", None, None, "mnist-cnn", {"width": 16}, 12, 32, 0.02, 5e-4, 100, 300, 150, (HEADLINE_EPS,)),
        "paper": SoftLabelScale("small", None, None, "resnet18", {}, 300, 32, 0.1, 5e-4, 100, 500, 500, EPS),
    }

    def scale_difference(self, ctx: StudyContext) -> str:
        s = ctx.settings
        if ctx.scale == "paper":
            return ("The study's setting: ResNet-18, SGD lr 0.1 constant, momentum 0.9, weight decay 5e-4, batch 32, 300 epochs; "
                    "PGD-100 with momentum 0.9 on 500 test images. The attacked images are the first 500 of the test split, not "
                    "a random draw; the step size is 2.5·eps/100 (the study's \"learning rate 10\" has no stated pixel scale); the "
                    "LSR ε is 0.1 (not stated in the study). CIFAR-10H was not part of the study.")
        sizes = "all" if s.train_size is None else f"{s.train_size} training and {s.test_size} test"
        return (f"Much smaller than the study: a {s.model} ({s.model_options}) instead of a ResNet-18, {sizes} images of each "
                f"split, {s.epochs} epochs at lr {s.lr:g} (the study: 300 epochs at lr 0.1, batch 32); PGD-{s.steps}{'' if s.steps == 100 else ' instead of PGD-100'} "
                f"on the first {s.attack_n} test images untargeted and {s.targeted_n} targeted (targeted only at eps "
                f"{', '.join(f'{e:g}' for e in s.targeted_eps)}); the disk at its `{s.disk2d}` scale. Absolute accuracies are "
                "therefore not comparable with the study's; the comparisons between the three label encodings are.")

    def configs(self, ctx: StudyContext) -> dict[str, TrainConfig]:
        s = ctx.settings
        configs = {}
        for dataset in DATASETS:
            for model, (space, params) in MODELS.items():
                configs[f"{dataset}-{model}"] = ctx.config({
                    "data": ctx.data(name=dataset, train_size=s.train_size, test_size=s.test_size),
                    "model": {"name": s.model, "options": s.model_options},
                    "labels": {"name": space, "params": params},
                    "optim": {"lr": s.lr, "momentum": 0.9, "weight_decay": s.weight_decay},
                    "epochs": s.epochs,
                    "batch_size": s.batch_size,
                    "seed": 0,
                })
        return configs

    def run(self, ctx: StudyContext) -> Report:
        s = ctx.settings
        disk_section, disk_claims = disk_part(ctx)
        runs = ctx.train_all()
        report = Report(self.name, self.title, self.source, ctx.scale, self.scale_difference(ctx))
        report.sections.append(disk_section)
        report.claims += disk_claims
        for dataset, title in DATASETS.items():
            models = {m: runs[f"{dataset}-{m}"] for m in MODELS}
            clean = {m: evaluate_run(d, device=ctx.device) for m, d in models.items()}
            untargeted = {m: robust_evaluate_run(d, untargeted_specs(s), list(EPS), name="softlabel-untargeted", n=s.attack_n,
                                                 device=ctx.device, quiet=ctx.quiet) for m, d in models.items()}
            targeted = {m: robust_evaluate_targets(d, [probe(OWN, "pgd", {"steps": s.steps, "momentum": 0.9})], list(s.targeted_eps),
                                                   list(range(10)), name="softlabel-targeted", n=s.targeted_n, device=ctx.device,
                                                   quiet=ctx.quiet) for m, d in models.items()}
            names = _class_names(models["hard"])
            report.sections.append(cifar_section(ctx, dataset, title, clean, untargeted, targeted, names))
            report.claims += cifar_claims(ctx, dataset, title, clean, untargeted, targeted)
        return report


def untargeted_specs(s: SoftLabelScale) -> list:
    """The study's attack (PGD on the own loss, momentum 0.9) and the adaptive margin attack on
    the class scores, both un-nested probes so each is one honest run per eps."""
    return [
        probe(OWN, "pgd", {"steps": s.steps, "momentum": 0.9}),
        probe(MARGIN, "pgd", {"steps": s.steps, "momentum": 0.9, "objective": "margin"}),
    ]


def _class_names(run_dir: Path) -> list[str]:
    return list(load_run(run_dir, device="cpu").dataset.class_names)


# -- the disk ----------------------------------------------------------------------------------


def disk_part(ctx: StudyContext) -> tuple[Section, list[Claim]]:
    """The disk's survival table (L∞, the study's norm) and the soft ≥ hard claims."""
    s = ctx.settings
    summary = disk_summary(ctx)
    cell = {(r["model"], r["norm"], r["eps"], r["objective"]): r["survival"] for r in summary["rows"]}
    study = dict(zip(disk2d_survival.STUDY["eps"], zip(disk2d_survival.STUDY["soft"], disk2d_survival.STUDY["hard"])))
    rows = [[eps, cell[("soft", "linf", eps, "loss")], cell[("hard", "linf", eps, "loss")], study[eps][0] / 100, study[eps][1] / 100,
             cell[("soft", "linf", eps, "worst")], cell[("hard", "linf", eps, "worst")]] for eps in disk2d_survival.EPS]
    columns = ["eps", "soft: own loss", "hard: own loss", "study soft", "study hard", "soft: worst", "hard: worst"]
    table = Table("Survival on the disk (L∞)", columns, rows, percent=tuple(columns[1:]),
                  note=f"PGD-{disk2d_survival.SCALES[s.disk2d].steps}, momentum 0.9, y = the clean prediction; own loss = the "
                       "study's attack, worst = per sample the worst of own loss and the margin of the class scores. "
                       f"{summary['dataset']['n_test']} test points; L2 and robust accuracy: disk2d/survival.md.")
    figure = _disk_figure(ctx, rows)
    section = Section("The disk (toy problem)", f"Soft and hard mlp-resnet models on disk2d; {disk2d_survival.STUDY['model']} in the study.",
                      [table], [figure])
    n = summary["dataset"]["n_test"]
    claims = []
    for objective, words in (("loss", "the study's attack (own loss)"), ("worst", "the worst case with the margin attack")):
        per_eps = [greater("", ("soft", cell[("soft", "linf", e, objective)], n), ("hard", cell[("hard", "linf", e, objective)], n),
                           where=f"eps {e:g}") for e in disk2d_survival.EPS]
        claims.append(majority(f"On the disk, soft labels keep more points on their side than hard labels, under {words}", per_eps,
                               where="L∞ survival"))
    ctx.runs.append({"run": "disk2d (soft, hard)", "what": f"disk2d_survival scale {s.disk2d}", "directory": "disk2d/runs",
                     "seconds": summary["seconds"], "status": "see disk2d/survival.json"})
    return section, claims


def disk_summary(ctx: StudyContext) -> dict:
    """``disk2d/survival.json`` of an earlier run of the same disk settings (unless ``force``),
    else the disk experiment run now. The disk is a 2-D MLP: it trains and is attacked on the
    CPU whatever the device."""
    s = ctx.settings
    folder = ctx.out / "disk2d"
    try:
        saved = json.loads((folder / "survival.json").read_text())
    except (OSError, json.JSONDecodeError):
        saved = None
    settings = asdict(disk2d_survival.SCALES[s.disk2d])
    if not ctx.force and isinstance(saved, dict) and saved.get("scale_settings") == settings and saved.get("seed") == 0:
        return saved
    return disk2d_survival.run_survival(s.disk2d, folder, quiet=ctx.quiet, force=ctx.force).summary


def _disk_figure(ctx: StudyContext, rows: list[list]) -> Figure:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    eps = [r[0] for r in rows]
    for index, label, style in ((1, "soft: own loss", "-o"), (2, "hard: own loss", "-s"), (3, "study soft", ":o"), (4, "study hard", ":s"),
                                (5, "soft: worst", "--o"), (6, "hard: worst", "--s")):
        ax.plot(eps, [100 * r[index] for r in rows], style, label=label, markersize=3)
    ax.set_xscale("log")
    ax.set_xlabel("eps (L∞)")
    ax.set_ylabel("survival (%)")
    ax.legend(fontsize=7)
    path = ctx.folder("figures") / "disk2d-survival.png"
    save_figure(fig, path, "disk2d survival vs eps")
    return Figure("Disk survival vs eps", path, "Ours (solid: the study's attack; dashed: worst case) and the study's (dotted).")


# -- CIFAR-10 ----------------------------------------------------------------------------------


def survival(report: RobustReport, label: str, eps: float) -> float | None:
    """The survival of attack ``label`` at ``eps`` (``WORST``: the per-sample worst case)."""
    if label == WORST:
        return report.worst_case_metrics().get(eps, {}).get("survival")
    return next((o.metrics.get("survival") for o in report.outcomes if o.label == label and o.eps == eps), None)


def eligible(report: RobustReport) -> int:
    """How many samples a survival rate of ``report`` is measured on."""
    from labelrobust.metrics.robustness import survival_eligible

    return int(survival_eligible(report.clean_pred, report.labels, report.target).sum())


def cifar_section(ctx, dataset, title, clean, untargeted, targeted, names) -> Section:
    s = ctx.settings
    study = dataset == "softcifar10"
    clean_rows = [[m, c.accuracy, STUDY_CLEAN[m] if study else None, *_distances(c), c.n] for m, c in clean.items()]
    clean_table = Table(f"Clean accuracy and distances to the human soft labels — {title}",
                        ["model", "clean accuracy", "study", "l1", "l2", "l∞", "KL", "test n"], clean_rows, percent=("clean accuracy", "study"),
                        note="Distances: mean over the test split of ‖p − t‖ between the predicted distribution p and the human soft label t.")
    columns = ["model"] + [f"{a} @{e:g}" for a in (OWN, MARGIN, WORST) for e in EPS] + (["study @0.01"] if study else [])
    rows = [[m] + [survival(r, a, e) for a in (OWN, MARGIN, WORST) for e in EPS] + ([STUDY_UNTARGETED[m]] if study else [])
            for m, r in untargeted.items()]
    untargeted_table = Table(f"Untargeted survival — {title}", columns, rows, percent=tuple(columns[1:]),
                             note=f"Survival = the arg-max class is unchanged; PGD-{s.steps}, momentum 0.9, on the first {s.attack_n} test "
                                  "images. own loss = the study's attack; margin = the adaptive attack on the class scores; worst = per "
                                  "sample, either attack at this eps or a smaller one.")
    tables = [clean_table, untargeted_table]
    for eps in s.targeted_eps:
        t_columns = ["model", *names, "min", "max"] + (["study range"] if study else [])
        t_rows = []
        for m, per_target in targeted.items():
            values = [survival(per_target[t], OWN, eps) for t in range(10)]
            found = [v for v in values if v is not None]
            t_rows.append([m, *values, min(found, default=None), max(found, default=None)]
                          + ([f"{pct(STUDY_TARGETED[m][0])}–{pct(STUDY_TARGETED[m][1])}"] if study and eps == HEADLINE_EPS else [None] * study))
        tables.append(Table(f"Targeted survival per target class at eps {eps:g} — {title}", t_columns, t_rows, percent=tuple(t_columns[1:-1] if study else t_columns[1:]),
                            note="The study's targeted objective ℓ(f(x+δ), y) − ℓ(f(x+δ), t) with the own loss; samples of the target class "
                                 "(and those already predicted as it) are left out."))
    tables.append(masking_table(untargeted, f"Gradient-masking checks (untargeted) — {title}"))
    figures = [_survival_figure(ctx, dataset, title, untargeted)]
    figures += [_confusion_figure(ctx, dataset, title, m, per_target, names, s.targeted_eps[0]) for m, per_target in targeted.items()]
    return Section(f"CIFAR-10: hard, soft and LSR models on the {title}", "", tables, figures)


def _distances(clean) -> list[float | None]:
    """l1, l2, l∞ and KL to the soft labels (None where the split has none)."""
    d = clean.soft_distances
    return [None] * 4 if d is None else [d["l1"], d["l2"], d["linf"], d["kl"]]


def _survival_figure(ctx, dataset, title, untargeted) -> Figure:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for m, report in untargeted.items():
        line = ax.plot(EPS, [100 * (survival(report, OWN, e) or 0) for e in EPS], "-o", markersize=3, label=f"{m}: own loss")[0]
        ax.plot(EPS, [100 * (survival(report, WORST, e) or 0) for e in EPS], "--", color=line.get_color(), label=f"{m}: worst")
    ax.set_xscale("log")
    ax.set_xlabel("eps (L∞)")
    ax.set_ylabel("survival (%)")
    ax.legend(fontsize=7)
    path = ctx.folder("figures") / f"{dataset}-survival.png"
    save_figure(fig, path, f"untargeted survival, {title}")
    return Figure(f"Untargeted survival vs eps — {title}", path, "Solid: the study's attack (own loss); dashed: worst case with the margin attack.")


def _confusion_figure(ctx, dataset, title, model, per_target, names, eps) -> Figure:
    """One panel per target: row = clean decision, column = decision after the targeted attack,
    each row normalised (the study's confusion matrices of one-hot-ised outputs)."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 5, figsize=(12, 5.4))
    for t, ax in enumerate(axes.flat):
        report = per_target[t]
        cell = next((o for o in report.outcomes if o.eps == eps), None)
        if cell is None or cell.adv_pred is None:
            ax.set_axis_off()
            continue
        counts = adversarial_confusion(report.clean_pred, cell.adv_pred, 10).numpy()[:10, :10].astype(float)
        rows = counts / np.maximum(counts.sum(1, keepdims=True), 1)
        ax.imshow(rows, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"target {names[t]}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{model} — {title}: clean (rows) vs attacked (columns) decisions, eps {eps:g}", fontsize=9)
    path = ctx.folder("figures") / f"{dataset}-{model}-targeted-confusion.png"
    save_figure(fig, path, f"targeted confusion, {model}, {title}")
    return Figure(f"Targeted confusion matrices — {model}, {title}", path,
                  f"Row-normalised counts; a bright column at the target class means the attack reaches it. Class order: {', '.join(names)}.")


# -- claims ------------------------------------------------------------------------------------


def cifar_claims(ctx, dataset, title, clean, untargeted, targeted) -> list[Claim]:
    s = ctx.settings
    where = title
    n = {m: c.n for m, c in clean.items()}
    acc = {m: c.accuracy for m, c in clean.items()}
    claims = [
        greater(f"Hard labels give a higher clean accuracy than soft labels ({where})", ("hard", acc["hard"], n["hard"]), ("soft", acc["soft"], n["soft"])),
        greater(f"LSR gives a higher clean accuracy than soft labels ({where})", ("lsr", acc["lsr"], n["lsr"]), ("soft", acc["soft"], n["soft"])),
        closest_to_soft_labels(clean, where),
    ]
    u = {m: survival(r, OWN, HEADLINE_EPS) for m, r in untargeted.items()}
    n_u = {m: eligible(r) for m, r in untargeted.items()}
    claims.append(about_equal(f"Untargeted survival at eps 0.01 is about the same for the three encodings ({where})", u, n_u))
    w = {m: survival(r, WORST, HEADLINE_EPS) for m, r in untargeted.items()}
    claims.append(about_equal(f"… and stays about the same under the adaptive worst case ({where})", w, n_u))
    for other in ("hard", "lsr"):
        per_target = [greater("", ("soft", survival(targeted["soft"][t], OWN, HEADLINE_EPS), eligible(targeted["soft"][t])),
                              (other, survival(targeted[other][t], OWN, HEADLINE_EPS), eligible(targeted[other][t])), where=f"target {t}")
                      for t in range(10) if HEADLINE_EPS in s.targeted_eps]
        claims.append(majority(f"Soft labels raise targeted survival over {other} labels at eps 0.01 ({where})", per_target)
                      if per_target else Claim(f"Soft labels raise targeted survival over {other} labels ({where})", NOT_TESTABLE, "no targeted attack at eps 0.01"))
    if dataset == "softcifar10":
        claims.append(at_study_setting("The hard model reaches 83.87% clean accuracy on the survey split (ResNet-18)", acc["hard"], STUDY_CLEAN["hard"],
                                       ctx.scale == "paper", 0.03, "hard clean accuracy"))
    return claims


def closest_to_soft_labels(clean, where: str) -> Claim:
    """The soft model's predicted distributions lie closest to the human soft labels in l1, l2 and l∞."""
    claim = f"The soft model's predictions are closest to the human soft labels in l1, l2 and l∞ ({where})"
    distances = {m: c.soft_distances for m, c in clean.items()}
    if any(d is None for d in distances.values()):
        return Claim(claim, NOT_TESTABLE, "the test split has no soft labels")
    lowest = {norm: min(distances, key=lambda m: distances[m][norm]) for norm in ("l1", "l2", "linf")}
    evidence = "; ".join(f"{norm}: " + ", ".join(f"{m} {distances[m][norm]:.3f}" for m in distances) for norm in lowest)
    wins = sum(v == "soft" for v in lowest.values())
    verdict = SUPPORTED if wins == 3 else CONTRADICTED if wins == 0 else NOT_TESTABLE
    return Claim(claim, verdict, f"lowest in {wins} of 3 — {evidence}")


def about_equal(claim: str, rates: dict[str, float | None], n: dict[str, int]) -> Claim:
    """Supported when every pair of rates differs by less than the noise band, contradicted when
    some pair differs by more."""
    if any(v is None for v in rates.values()):
        return Claim(claim, NOT_TESTABLE, "not measured")
    models = list(rates)
    gaps = [(a, b, abs(rates[a] - rates[b]), noise(rates[a], rates[b], n[a], n[b])) for i, a in enumerate(models) for b in models[i + 1:]]
    evidence = ", ".join(f"{m} {pct(rates[m])}" for m in models) + "; " + "; ".join(f"|{a}−{b}| {100 * g:.1f} (noise ±{100 * z:.1f})" for a, b, g, z in gaps)
    return Claim(claim, CONTRADICTED if any(g > z for _, _, g, z in gaps) else SUPPORTED, evidence)
