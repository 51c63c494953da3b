"""The confused-label reweighting study (methods.md §3; Qiu, Wang, Ma, Hou, Li, Li — "Instance
Reweighting Adversarial Training Based on Confused Label"), end to end.

Nine adversarially trained models — AT, TRADES, MART, their MAIL versions (weights from the
probability margin PM) and their CLIR versions (weights from the confused-label margin CL-PM:
CLIRAT, CLIR-TRADES, CLIR-MART) — are attacked at eps 8/255 under the study's attacks, each run
on its own over the same test images: NAT (clean), PGD-20, PGD-100 (cross-entropy), CW (PGD-20
on the CW margin of the class scores), APGD-CE and the published AutoAttack, plus FGSM and a
half-diameter PGD for the sanity checks; *worst case* is, per sample, the worst of them all.
Next to them: the study's ResNet-18 numbers, the gradient-masking checks (docs/flags.md), a
robust-accuracy-vs-eps curve (PGD-20 on the loss and on the margin), and the study's training
diagnostic — among the misclassified adversarial training examples of each epoch, how many
have a single confused label and how many several (``metrics.jsonl``: ``single_cl`` /
``multi_cl``, ``training/diagnostics.py``).

Scales (each a ``ClirScale`` below; all at eps 8/255 on CIFAR-10, crop-flip augmentation, SGD
momentum 0.9, the last epoch's weights evaluated):

- ``ci`` (the test suite; well under a minute on 2 cores): 384 training images of the shared
  ``data_batch_1``, a width-8 ``mnist-cnn``, 2 epochs of PGD-3 training (burn-in 1, so the
  weights act in epoch 2); attacks on the first 100 test images with cut budgets (PGD-100 =
  PGD-40, APGD-CE 10 iterations, AutoAttack standard with 10 iterations, 2 target classes and
  50 Square queries). The models are near chance: this scale checks the pipeline, not the study.
- ``small`` (about 25 minutes single-threaded): 3,000 training images, a width-8 ``mnist-cnn``,
  the study's inner attack (PGD-10, step 2/255) and its schedule shrunk to 10 epochs (lr 0.05
  ÷10 at epochs 7 and 9, burn-in 7: the study's 75/90/75 of 100); PGD-20/-100, CW and APGD-CE at
  their published budgets, AutoAttack's APGD-CE + APGD-T (FAB-T and Square left out for time),
  on the first 250 test images.
- ``paper``: the study's setting — all 50,000 training images (from ``--data-root``), ResNet-18,
  PGD-10 step 2/255, batch 128, lr 0.01 ÷10 at epochs 75 and 90 of 100, weight decay 3.5e-3,
  burn-in 75, CLIRAT / MAIL-AT γ=10 β=−0.5, CLIR-/MAIL-TRADES and -MART γ=2 β=0 (the presets),
  TRADES β=5, MART λ=6; AutoAttack standard and every other attack on the whole test set.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from labelrobust.analysis.figures import pyplot, save_figure
from labelrobust.attacks import parse_eps
from labelrobust.config import TrainConfig
from labelrobust.evaluation import HALF_DIAMETER, AttackSpec, RobustReport, robust_evaluate_run
from labelrobust.evaluation.suites import probe
from labelrobust.reproduce.claims import CONTRADICTED, NOT_TESTABLE, SUPPORTED, Claim, at_study_setting, greater, majority, pct
from labelrobust.reproduce.evidence import WORST, attack_cells, flagged
from labelrobust.reproduce.report import Figure, Report, Section, Table
from labelrobust.reproduce.study import STUDIES, Study, StudyContext
from labelrobust.runs import read_metrics

EPS = "8/255"
METHODS = {  # the report's name → the registered method or preset (labelrobust list methods)
    "AT": "at", "TRADES": "trades", "MART": "mart",
    "MAIL-AT": "mail-at", "MAIL-TRADES": "mail-trades", "MAIL-MART": "mail-mart",
    "CLIRAT": "clirat", "CLIR-TRADES": "clir-trades", "CLIR-MART": "clir-mart",
}
FAMILIES = ("AT", "TRADES", "MART")
FAMILY = {"AT": "AT", "TRADES": "TRADES", "MART": "MART", "MAIL-AT": "AT", "MAIL-TRADES": "TRADES", "MAIL-MART": "MART",
          "CLIRAT": "AT", "CLIR-TRADES": "TRADES", "CLIR-MART": "MART"}
MAIL = {"AT": "MAIL-AT", "TRADES": "MAIL-TRADES", "MART": "MAIL-MART"}
CLIR = {"AT": "CLIRAT", "TRADES": "CLIR-TRADES", "MART": "CLIR-MART"}
NAT, PGD20, PGD100, CW, APGD, AA = "NAT", "PGD-20", "PGD-100", "CW", "APGD-CE", "AA"
ATTACKS = (PGD20, PGD100, CW, APGD, AA)
"""The study's attack columns (NAT is the clean accuracy of the same samples)."""
FGSM, LARGE = "FGSM", "PGD-20 @half-diameter"
CURVE_LOSS, CURVE_MARGIN = "PGD-20 loss", "PGD-20 margin"

# methods.md §3: ResNet-18 on CIFAR-10, last epoch, eps 8/255 (NAT, PGD-20, PGD-100, CW, APGD-CE, AA)
STUDY = {
    "AT": (0.8564, 0.5208, 0.4933, 0.5194, 0.4853, 0.4687),
    "MAIL-AT": (0.8374, 0.5856, 0.5763, 0.5072, 0.5570, 0.4647),
    "CLIRAT": (0.8360, 0.6031, 0.5933, 0.5066, 0.5883, 0.4550),
}
ABSOLUTE_TOLERANCE = 0.02
"""How close an absolute number of ours must come to the study's at the paper scale."""


@dataclass(frozen=True)
class ClirScale:
    train_size: int | None
    """Seeded stratified subset of the training split (None: all of it)."""
    test_size: int | None
    model: str
    model_options: dict
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    milestones: tuple[int, ...]
    """Epochs at which the lr is divided by 10 (the study: 75 and 90 of 100)."""
    burn_in: int
    """Epochs of weight 1 before the MAIL / CLIR weights act (the study: 75)."""
    train_steps: int
    train_step_size: str
    attack_n: int | None
    """Test images attacked (the first ones of the test split; None: all)."""
    autoattack: dict = field(default_factory=dict)
    """Parameters of the ``autoattack`` attack ({}: the standard version at its published budget)."""
    long_steps: int = 100
    """Steps of the study's PGD-100 column."""
    apgd_iter: int = 100
    curve_eps: tuple[str, ...] = ("2/255", "4/255", EPS)
    curve_n: int | None = 200


@STUDIES.register("clirat", "AT, TRADES, MART and their MAIL / confused-label reweighted versions under PGD … AutoAttack (Qiu et al.)")
class ClirStudy(Study):
    name = "clirat"
    title = "Instance reweighting adversarial training based on confused labels"
    source = ("Qiu, Wang, Ma, Hou, Li, Li — \"Instance Reweighting Adversarial Training Based on Confused Label\" "
              "(methods.md §3)")
    scales = {
        "ci": ClirScale(384, 200, "mnist-cnn", {"width": 8}, 2, 64, 0.05, 5e-4, (), 1, 3, "3/255", 100,
                        {"n_iter": 10, "n_queries": 50, "n_target_classes": 2}, long_steps=40, apgd_iter=10, curve_eps=("4/255", EPS), curve_n=50),
        "small": ClirScale(3000, 1000, "mnist-cnn", {"width": 8}, 10, 64, 0.05, 5e-4, (7, 9), 7, 10, "2/255", 250,
                           {"version": "custom", "attacks": ["apgd-ce", "apgd-t"]}, curve_n=100),
        "paper": ClirScale(None, None, "resnet18", {}, 100, 128, 0.01, 3.5e-3, (75, 90), 75, 10, "2/255", None, curve_n=1000),
    }

    def scale_difference(self, ctx: StudyContext) -> str:
        s = ctx.settings
        if ctx.scale == "paper":
            return ("The study's setting (ResNet-18, CIFAR-10, 100 epochs, PGD-10 training at 8/255 with step 2/255, lr 0.01 ÷10 at "
                    "epochs 75 and 90, weight decay 3.5e-3, batch 128, crop-flip, burn-in 75), every attack on the whole test set. "
                    "Choices the study leaves open: plain TRADES uses β=5 like CLIR-TRADES; the MAIL versions use the same burn-in; "
                    "PGD-20/-100 take step 2/255 from a random start; CW is PGD-20 on the CW margin; only the last epoch's weights "
                    "are evaluated, as in the study's table.")
        return (f"Much smaller than the study: {s.train_size} CIFAR-10 training images (of the shared folder's data_batch_1; the "
                f"study: 50,000) and a {s.model} {s.model_options} instead of a ResNet-18; {s.epochs} epochs, batch {s.batch_size}, "
                f"lr {s.lr:g} {_schedule(s)}, weight decay {s.weight_decay:g}, burn-in {s.burn_in} "
                f"(the study: 100 epochs, batch 128, lr 0.01 ÷10 at 75 and 90, 3.5e-3, burn-in 75); PGD-{s.train_steps} with step "
                f"{s.train_step_size} inside (the study: PGD-10, 2/255); the attacks on the first {s.attack_n} test images (the "
                f"study: 10,000), with {_budgets(s)}. Absolute accuracies are therefore far below the study's and not comparable; "
                "the comparisons between the nine methods, trained and attacked alike, are the test, and with this few test "
                "images only large gaps leave the noise band.")

    def configs(self, ctx: StudyContext) -> dict[str, TrainConfig]:
        """One run per method, labelled by its registered name."""
        return {METHODS[m]: ctx.config(self.config_mapping(ctx, m)) for m in METHODS}

    def config_mapping(self, ctx: StudyContext, method: str) -> dict:
        s = ctx.settings
        params: dict = {"eps": EPS, "steps": s.train_steps, "step_size": s.train_step_size}
        if FAMILY[method] == "TRADES":
            params["trades_beta"] = 5.0
        if FAMILY[method] == "MART":
            params["mart_lambda"] = 6.0
        if method not in FAMILIES:
            params["burn_in"] = s.burn_in
        optim = {"lr": s.lr, "momentum": 0.9, "weight_decay": s.weight_decay}
        if s.milestones:
            optim |= {"schedule": "multistep", "milestones": list(s.milestones), "gamma": 0.1}
        return {
            "data": ctx.data(name="cifar10", train_size=s.train_size, test_size=s.test_size, augment="crop-flip"),
            "model": {"name": s.model, "options": s.model_options},
            "method": {"name": METHODS[method], "params": params},
            "optim": optim,
            "epochs": s.epochs,
            "batch_size": s.batch_size,
            "seed": 0,
        }

    def run(self, ctx: StudyContext) -> Report:
        runs = {m: ctx.train(METHODS[m], cfg) for m, cfg in zip(METHODS, self.configs(ctx).values())}
        main = {m: evaluate_main(ctx, d) for m, d in runs.items()}
        curve = {m: evaluate_curve(ctx, d) for m, d in runs.items()}
        history = {m: read_metrics(d) for m, d in runs.items()}
        report = Report(self.name, self.title, self.source, ctx.scale, self.scale_difference(ctx))
        report.sections += [robust_section(ctx, main), curve_section(ctx, curve), masking_section(main, curve),
                            confusion_section(ctx, history)]
        report.claims = claims(ctx, main, runs, history)
        return report


def _schedule(s: ClirScale) -> str:
    return "÷10 at epochs " + " and ".join(map(str, s.milestones)) if s.milestones else "constant"


def _budgets(s: ClirScale) -> str:
    """The attacks' budgets at a scale where they differ from the study's, in words."""
    aa = ("AutoAttack standard as published" if not s.autoattack else
          "AutoAttack's APGD-CE and APGD-T only (no FAB-T, no Square), at their published budgets"
          if s.autoattack.get("attacks") == ["apgd-ce", "apgd-t"] else f"AutoAttack standard with {s.autoattack}")
    cut = [f"PGD-100 = PGD-{s.long_steps}"] * (s.long_steps != 100) + [f"APGD-CE with {s.apgd_iter} iterations"] * (s.apgd_iter != 100)
    return ", ".join([*cut, aa])


# -- attacks -----------------------------------------------------------------------------------


def main_specs(s: ClirScale) -> list[AttackSpec]:
    """The study's attacks, each an un-nested probe so its robust accuracy is that of one honest
    run over every test image, plus FGSM (the fgsm-beats-pgd check) and PGD-20 at half the box's
    diameter (the large-eps check). PGD-20 and CW share a budget (the own-loss-only check),
    PGD-20 and PGD-100 an objective (the more-effort check)."""
    step = {"step_size": "2/255"}
    return [
        probe(FGSM, "fgsm"),
        probe(PGD20, "pgd", {"steps": 20, **step}),
        probe(PGD100, "pgd", {"steps": s.long_steps, **step}),
        probe(CW, "pgd", {"steps": 20, "objective": "margin", **step}),
        probe(APGD, "apgd-ce", {"n_iter": s.apgd_iter}),
        probe(AA, "autoattack", dict(s.autoattack)),
        AttackSpec(LARGE, "pgd", {"steps": 20}, role="diagnostic", eps=HALF_DIAMETER, nested=False),
    ]


def evaluate_main(ctx: StudyContext, run_dir: Path) -> RobustReport:
    """Every attack of ``main_specs`` at 8/255 on the first ``attack_n`` test images."""
    s = ctx.settings
    return robust_evaluate_run(run_dir, main_specs(s), [EPS], name="clirat", n=s.attack_n, device=ctx.device, quiet=ctx.quiet,
                              plot=False)


def evaluate_curve(ctx: StudyContext, run_dir: Path) -> RobustReport:
    """PGD-20 on the loss and on the margin at several radii (the eps-monotone check)."""
    s = ctx.settings
    specs = [probe(CURVE_LOSS, "pgd", {"steps": 20}), probe(CURVE_MARGIN, "pgd", {"steps": 20, "objective": "margin"})]
    return robust_evaluate_run(run_dir, specs, list(s.curve_eps), name="clirat-curve", n=s.curve_n, device=ctx.device,
                              quiet=ctx.quiet, plot=False)


def cell(report: RobustReport, attack: str, eps: str = EPS) -> float | None:
    """Robust accuracy of ``attack`` at ``eps`` (``NAT``: clean; ``WORST``: the worst case)."""
    if attack == NAT:
        return report.clean_accuracy
    return attack_cells(report).get((attack, eps))


# -- sections ----------------------------------------------------------------------------------


def robust_section(ctx: StudyContext, main: dict[str, RobustReport]) -> Section:
    """The study's table: clean and robust accuracy per method and attack at 8/255, ours next
    to the study's (methods.md §3 gives the study's numbers for AT, MAIL-AT and CLIRAT)."""
    columns = ["method"]
    for attack in (NAT, *ATTACKS):
        columns += [attack, f"study {attack}"]
    columns.append("worst case")
    rows = []
    for m, report in main.items():
        row: list = [m]
        for i, attack in enumerate((NAT, *ATTACKS)):
            row += [cell(report, attack), STUDY[m][i] if m in STUDY else None]
        rows.append([*row, cell(report, WORST)])
    n = len(next(iter(main.values())).labels)
    note = (f"eps 8/255 (L∞), last-epoch weights, the first {n} test images. Each attack ran on its own over all of them: PGD on "
            "cross-entropy with step 2/255 and a random start, CW = PGD-20 on the CW margin max_j≠y s_j − s_y of the class scores, "
            f"APGD-CE and AutoAttack from the published package; at this scale {_budgets(ctx.settings)}. worst case: per sample, "
            "broken by any of them or by FGSM. study: ResNet-18 on CIFAR-10 (– where methods.md gives no number).")
    table = Table("Clean and robust accuracy at eps 8/255", columns, rows, note=note, percent=tuple(columns[1:]))
    return Section("Robust accuracy of the nine methods", "", [table], [robust_figure(ctx, main)])


def robust_figure(ctx: StudyContext, main: dict[str, RobustReport]) -> Figure:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    attacks = (NAT, *ATTACKS)
    width = 0.8 / len(main)
    for i, (m, report) in enumerate(main.items()):
        xs = [a + (i - len(main) / 2 + 0.5) * width for a in range(len(attacks))]
        ax.bar(xs, [100 * (cell(report, a) or 0) for a in attacks], width, label=m)
        if m in STUDY:
            ax.scatter(xs, [100 * v for v in STUDY[m]], marker="_", s=120, color="black", zorder=3)
    ax.set_xticks(range(len(attacks)), attacks)
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7, ncol=3)
    path = ctx.folder("figures") / "robust-accuracy.png"
    save_figure(fig, path, "clean and robust accuracy per method and attack")
    return Figure("Clean and robust accuracy per method and attack", path,
                  "Bars: ours; black ticks: the study's ResNet-18 numbers (AT, MAIL-AT, CLIRAT).")


def curve_section(ctx: StudyContext, curve: dict[str, RobustReport]) -> Section:
    """Robust accuracy vs eps under PGD-20 on the loss and on the margin (not in the study: the
    eps-monotone check, and whether a method's ranking holds at other radii)."""
    s = ctx.settings
    columns = ["method", "clean"] + [f"{a} @{e}" for a in (CURVE_LOSS, CURVE_MARGIN) for e in s.curve_eps]
    rows = [[m, r.clean_accuracy] + [cell(r, a, e) for a in (CURVE_LOSS, CURVE_MARGIN) for e in s.curve_eps] for m, r in curve.items()]
    n = len(next(iter(curve.values())).labels)
    table = Table("Robust accuracy vs eps (PGD-20, step 2.5·eps/20)", columns, rows, percent=tuple(columns[1:]),
                  note=f"The first {n} test images; loss = cross-entropy, margin = the CW margin of the class scores.")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    radii = [0.0, *(float(parse_eps(e)) for e in s.curve_eps)]
    for m, r in curve.items():
        loss, margin = ([100 * r.clean_accuracy] + [100 * (cell(r, a, e) or 0) for e in s.curve_eps] for a in (CURVE_LOSS, CURVE_MARGIN))
        line = ax.plot(radii, loss, "-o", markersize=3, label=m)[0]
        ax.plot(radii, margin, "--", color=line.get_color())
    ax.set_xlabel("eps (L∞)")
    ax.set_ylabel("robust accuracy (%)")
    ax.legend(fontsize=6, ncol=2)
    path = ctx.folder("figures") / "robust-vs-eps.png"
    save_figure(fig, path, "robust accuracy vs eps")
    figure = Figure("Robust accuracy vs eps", path, "Solid: PGD-20 on cross-entropy; dashed: on the margin of the class scores.")
    return Section("Robust accuracy vs eps", "", [table], [figure])


def masking_section(main: dict[str, RobustReport], curve: dict[str, RobustReport]) -> Section:
    """The sanity checks (docs/flags.md) of both evaluations of every method; the eps curve is
    the one with several radii (eps-monotone)."""
    rows, bad = [], []
    for m in main:
        for evaluation, report in (("attacks @8/255", main[m]), ("eps curve", curve[m])):
            rows += [[m, evaluation, f.name, f.verdict, f.detail] for f in report.checks if f.ok is not None]
            bad += [f"{m} {name} ({evaluation})" for name in flagged(report)]
    table = Table("Gradient-masking checks", ["method", "evaluation", "check", "verdict", "detail"], rows,
                  note="FLAG: the check failed, a sign of gradient masking or of a weak attack (docs/flags.md); checks that do not "
                       "apply to an evaluation (n/a) are left out.")
    text = ("Flagged: " + ", ".join(bad) + ".") if bad else "No evaluation of any method failed a check."
    return Section("Gradient masking", text, [table])


def confusion_section(ctx: StudyContext, history: dict[str, list[dict]]) -> Section:
    """The study's training diagnostic: per epoch, the misclassified adversarial training
    examples with one confused label (a class more probable than the true one) and with several
    (methods.md §3); CL-PM differs from PM only on the latter."""
    columns = ["method", "epochs", "misclassified adv. examples (last epoch)", "single CL", "several CLs", "share with several",
               "adv. train acc", "weight min", "weight max"]
    rows = []
    for m, records in history.items():
        last = records[-1]
        wrong = last["single_cl"] + last["multi_cl"]
        rows.append([m, len(records), wrong, last["single_cl"], last["multi_cl"], last["multi_cl"] / wrong if wrong else None,
                     last.get("adv_train_acc"), last.get("weight_min"), last.get("weight_max")])
    table = Table("Confused labels of the misclassified adversarial training examples", columns, rows,
                  percent=("share with several", "adv. train acc"),
                  note="Counted over every training batch of the last epoch (metrics.jsonl: single_cl, multi_cl); weights: the "
                       "MAIL / CLIR instance weights of the last epoch (all 1 during the burn-in; – for the unweighted methods).")
    return Section("Single vs several confused labels during training", "", [table], [confusion_figure(ctx, history)])


def confusion_figure(ctx: StudyContext, history: dict[str, list[dict]]) -> Figure:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    for m, records in history.items():
        epochs = [r["epoch"] for r in records]
        line = left.plot(epochs, [r["single_cl"] for r in records], "-o", markersize=3, label=m)[0]
        left.plot(epochs, [r["multi_cl"] for r in records], "--s", markersize=3, color=line.get_color())
        shares = [100 * r["multi_cl"] / max(r["single_cl"] + r["multi_cl"], 1) for r in records]
        right.plot(epochs, shares, "-o", markersize=3, color=line.get_color(), label=m)
    left.set_xlabel("epoch")
    left.set_ylabel("misclassified adv. training examples")
    left.set_title("solid: one confused label; dashed: several", fontsize=8)
    right.set_xlabel("epoch")
    right.set_ylabel("share with several confused labels (%)")
    for ax in (left, right):
        ax.xaxis.get_major_locator().set_params(integer=True)
    right.legend(fontsize=6, ncol=2)
    path = ctx.folder("figures") / "confused-labels.png"
    save_figure(fig, path, "single vs several confused labels per epoch")
    return Figure("Single vs several confused labels per epoch", path,
                  "Among the misclassified adversarial training examples of each epoch, per method.")


# -- claims ------------------------------------------------------------------------------------


def compare(main: dict[str, RobustReport], a: str, b: str, attack: str) -> Claim:
    """``a`` beats ``b`` under ``attack`` (a study column), beyond the two-standard-error band."""
    return greater("", (a, cell(main[a], attack), len(main[a].labels)), (b, cell(main[b], attack), len(main[b].labels)), where=attack)


def study_says(a: str, b: str, attack: str) -> str:
    i = (NAT, *ATTACKS).index(attack)
    return f"study {attack}: {a} {pct(STUDY[a][i])} vs {b} {pct(STUDY[b][i])}"


def named(attack: str) -> str:
    return "AutoAttack" if attack == AA else attack


def _with_study(claim: Claim, study: str) -> Claim:
    return Claim(claim.claim, claim.verdict, f"{claim.evidence} ({study})")


def claims(ctx: StudyContext, main: dict[str, RobustReport], runs: dict[str, Path], history: dict[str, list[dict]]) -> list[Claim]:
    """The study's headline claims, each decided on our rows; where the study's own numbers say
    something about the claim, the evidence quotes them."""
    out = []
    for other in ("AT", "MAIL-AT"):
        outcome = majority(f"CLIRAT is more robust than {other} under PGD-20 and PGD-100",
                           [compare(main, "CLIRAT", other, a) for a in (PGD20, PGD100)])
        out.append(_with_study(outcome, "; ".join(study_says("CLIRAT", other, a) for a in (PGD20, PGD100))))
    out.append(_with_study(majority("CL-PM reweighting beats PM reweighting under AutoAttack (CLIR-X vs MAIL-X)",
                                    [compare(main, CLIR[f], MAIL[f], AA) for f in FAMILIES]), study_says("CLIRAT", "MAIL-AT", AA)))
    out.append(_with_study(majority("CLIRAT's gain over AT survives AutoAttack", [compare(main, "CLIRAT", "AT", AA)]),
                           study_says("CLIRAT", "AT", AA)))
    out.append(clean_cost_claim(runs))
    for attack in (PGD20, AA):
        out.append(majority(f"CLIR-TRADES / CLIR-MART improve on TRADES / MART under {named(attack)}",
                            [compare(main, CLIR[f], f, attack) for f in ("TRADES", "MART")]))
    out.append(single_confused_label_claim(history))
    comparable = ctx.scale == "paper"
    for attack, i in ((PGD20, 1), (AA, 5)):
        out.append(at_study_setting(f"CLIRAT reaches {100 * STUDY['CLIRAT'][i]:.2f}% under {named(attack)} (ResNet-18, CIFAR-10)",
                                    cell(main["CLIRAT"], attack), STUDY["CLIRAT"][i], comparable, ABSOLUTE_TOLERANCE, f"CLIRAT {attack}"))
    return out


def clean_cost_claim(runs: dict[str, Path]) -> Claim:
    """Reweighting (MAIL or CLIR) lowers clean accuracy against the unweighted method of its
    family, measured on each run's whole test split (``summary.json``)."""
    clean = {m: test_accuracy(d) for m, d in runs.items()}
    outcomes = [greater("", (FAMILY[w], *clean[FAMILY[w]]), (w, *clean[w]), where="clean") for w in METHODS if w not in FAMILIES]
    study = f"study: AT {pct(STUDY['AT'][0])}, MAIL-AT {pct(STUDY['MAIL-AT'][0])}, CLIRAT {pct(STUDY['CLIRAT'][0])}"
    return _with_study(majority("Reweighting costs clean accuracy (each MAIL-/CLIR- method vs its unweighted base)", outcomes), study)


def test_accuracy(run_dir: Path) -> tuple[float, int]:
    """Clean accuracy on the run's whole test split and its size, as training recorded them."""
    test = json.loads((run_dir / "summary.json").read_text())["test"]
    return float(test["accuracy"]), int(test["n"])


def single_confused_label_claim(history: dict[str, list[dict]]) -> Claim:
    """At each method's last epoch, the share of misclassified adversarial training examples
    with a single confused label against one half (two standard errors of a proportion).
    methods.md records the study's diagnostic but not its counts: the verdict rests on ours."""
    outcomes = []
    for m, records in history.items():
        single, several = records[-1]["single_cl"], records[-1]["multi_cl"]
        n = single + several
        share = single / n if n else 0.5
        band = 2 * math.sqrt(share * (1 - share) / n) if n else math.inf
        verdict = SUPPORTED if share - 0.5 > band else CONTRADICTED if 0.5 - share > band else NOT_TESTABLE
        outcomes.append(Claim("", verdict, f"{m} {pct(share)} single of {n} (noise ±{100 * band:.1f})"))
    return majority("Most misclassified adversarial training examples have a single confused label", outcomes, where="last epoch")
