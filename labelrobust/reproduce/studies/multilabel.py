"""The multi-label robustness study (methods.md §5; Mour, thesis proposal advised by
Drachsler-Cohen), end to end on DOUBLE-MNIST.

The study's setting: a multi-label classifier (2 convolutions, 1 max-pool, 1 fully connected
layer; ``multilabel-cnn``) names both digits of a DOUBLE-MNIST image (``double-mnist``,
``multilabel`` label space: the predicted set is the top-2 logits). The property: the *target*
digit (object 0) stays in the predicted set while the *other* digit (object 1) and the rings
of pixels around it are perturbed. Three training variants: no defence, an L0 defence (a
random black rectangle in every training image, ``black-rectangle``) and PGD adversarial
training. A complete MILP verifier (MIPVerify-style, HiGHS) decides robustness; the maximal
robust *layered neighbourhood* (radius ε_d for the ring of pixels at Chebyshev distance d from
object 1, maximising w·ε) is found by the study's gradient-guided CEGIS search, with fixed or
sensitivity cutting weights, or by per-layer binary search (the slow baseline), and drawn as
ε heat maps. The proposal reports no numbers; its expectations are stated in words.

Parts of the report (one section each):

1. **Clean accuracy**: set accuracy (both digits right) and target accuracy (the target in the
   top-2 set: the study's property, and what "correct" means for every attack).
2. **Robust accuracy under attack** (L∞ over the whole image): the study's attack — PGD on the
   model's own loss (summed BCE), the inner maximisation of its PGD training — and adaptive
   attacks on the class scores: PGD on the ``top2-margin`` (the verifier's objective), PGD on
   the CW margin, APGD-schedule PGD on the top2-margin, the published APGD-CE and AutoAttack,
   and the black-box Square attack; the per-sample worst case and the gradient-masking checks.
3. **Complete verification** (``verify_run``): proved robust / not robust (a checked
   counterexample) / unknown per model and radius, next to the attacks' robust share on the
   same samples (a proof can never disagree with an attack; the table counts disagreements).
4. **Maximal robust layered neighbourhoods** (``neighbourhood_run``): per model and image, the
   size w·ε, ε per layer, verifier calls and seconds of the search with fixed and with
   sensitivity cutting weights and of binary search; heat maps of ε over the image.

Scales (``MultilabelScale``; the proposal gives no data sizes, widths, schedules or radii, so
every one of them is ours):

- ``ci`` (≈ 30 s on 2 CPU cores; the test suite runs it): 1,000 generated training pairs from
  the shared 6,309 MNIST training images, a ``multilabel-cnn`` with 4 and 8 channels, 3 epochs,
  PGD-AT with 3 steps; PGD-10 on 32 test images at eps 0.02 / 0.05 / 0.1, AutoAttack with a
  token budget; 8 images verified at eps 0.02 (0.5 s per query); neighbourhoods of 1 image
  with 2 layers (ε_0, ε_1) and at most 12 verifier calls per search.
- ``small`` (≈ 30 minutes single-threaded, estimated from timed pieces; docs/reproduce-multilabel.md):
  6,000 training pairs, 8 and 16 channels, 8 epochs, PGD-AT with 7 steps; PGD-20 on 200 test
  images, AutoAttack with a reduced budget (50 iterations, 3 targets, 1,000 Square queries);
  30 images verified at eps 0.02 and 0.05 (5 s per query); neighbourhoods of 3 images with 3
  layers and at most 28 verifier calls per search.
- ``paper``: the proposal's network at our default width (16 and 32 channels), 60,000 training
  pairs drawn from the full MNIST training set (``--data-root``), 30 epochs (SGD lr 0.05, cosine
  schedule, batch 128), PGD-AT with 10 steps
  at eps 0.1; PGD-50 on 1,000 test images, the published AutoAttack; 100 images verified (120 s
  per query, 4 CPU workers when ``--device cpu``); neighbourhoods of 10 images with 4 layers and
  the CLI's search settings (60 calls, tolerance 0.002). Training and attacks run on the
  device; the bounds and MILPs always run on the CPU (hours of solver time).

Checkpoints are never selected: every evaluation uses the last epoch's weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from labelrobust.analysis.figures import pyplot, save_figure
from labelrobust.config import TrainConfig
from labelrobust.errors import ConfigError
from labelrobust.evaluation import DIAGNOSTIC_ROLE, HALF_DIAMETER, AttackSpec, RobustReport, robust_evaluate_run
from labelrobust.evaluation.suites import probe
from labelrobust.metrics.clean import evaluate_run
from labelrobust.reproduce.claims import CONTRADICTED, NOT_TESTABLE, SUPPORTED, Claim, greater, majority
from labelrobust.reproduce.evidence import WORST, attack_cells, flagged, masking_table
from labelrobust.reproduce.report import Figure, Report, Section, Table
from labelrobust.reproduce.study import STUDIES, Study, StudyContext
from labelrobust.verify.campaign import QuerySpec, verify_run
from labelrobust.verify.neighbourhood import SearchSettings
from labelrobust.verify.neighbourhood_runs import NeighbourhoodSpec, RunResult, compare_figure, neighbourhood_run
from labelrobust.verify.pipeline import VerifyConfig
from labelrobust.verify.verdict import NOT_ROBUST, ROBUST, UNKNOWN

MODELS = {"none": "no defence", "l0": "L0 defence (black rectangle)", "pgd": "PGD adversarial training"}
EXPECTED = {"none": "least robust", "l0": "more robust than no defence, less than PGD", "pgd": "most robust"}
"""The proposal gives no numbers: what it expects of each model, in words (the *study* column)."""
OWN = "PGD own loss (study)"
TOP2, MARGIN, FEW, FGSM = "PGD top2-margin", "PGD margin (CW)", "PGD-5 top2-margin", "FGSM own loss"
APGD, APGD_CE, AUTOATTACK, SQUARE, LARGE = "APGD top2-margin", "APGD-CE (published)", "AutoAttack (published)", "Square", "large-eps"
SEARCHES = {"search-fixed": ("search", "fixed"), "search-sensitivity": ("search", "sensitivity"), "binary": ("binary", "fixed")}
"""The three neighbourhood searches of the report: (method, cutting weights). Binary search
ignores the cutting weights; it runs once, in the folder of the fixed weights."""
MIN_PAIRS = 3
"""Paired comparisons (neighbourhood sizes, times) decide only on at least this many pairs."""
AS_LARGE = 0.1
"""\"As large as\": the search's mean size within 10% of binary search's (non-inferiority margin)."""
MUCH_FASTER = 2.0
"""\"Much faster\": at least this factor less time (geometric mean over the pairs)."""


@dataclass(frozen=True)
class MultilabelScale:
    """The settings of one scale. Training: ``n_train``/``n_test`` generated DOUBLE-MNIST pairs,
    ``channels`` of the two convolutions, SGD ``lr``/``epochs``/``batch_size``, the L0
    defence's rectangle sides ``rectangle`` (min, max), PGD-AT at ``at_eps`` with ``at_steps``."""

    n_train: int
    n_test: int
    channels: tuple[int, int]
    epochs: int
    batch_size: int
    lr: float
    rectangle: tuple[int, int]
    at_eps: float
    at_steps: int
    eps: tuple[float, ...]
    """L∞ radii of the attacks (over the whole image, pixel scale [0, 1])."""
    steps: int
    """Steps of the PGD probes (the study's attack and the adaptive ones)."""
    attack_n: int
    """Test images attacked (the first ones of the test split, the same for every model)."""
    apgd_restarts: int
    autoattack: dict
    """Parameters of the published AutoAttack ({}: its published budget)."""
    square_queries: int
    verify_eps: tuple[float, ...]
    """L∞ radii of the complete verification (each also an attack radius)."""
    verify_n: int
    timeout: float
    """Seconds per verifier query (the MILP may overrun it slightly: HiGHS checks between cut rounds)."""
    verifier_attack_steps: int
    neighbourhood_n: int
    """Images searched: the first test images every model classifies correctly at the clean input."""
    layers: int
    max_calls: int
    tolerance: float
    workers: int
    """Verifier processes on the CPU (``verify_run`` workers)."""
    schedule: str = "constant"
    """The learning-rate schedule (``optim.schedule``)."""

    def __post_init__(self) -> None:
        missing = [e for e in self.verify_eps if e not in self.eps]
        if missing:
            raise ConfigError(f"multilabel scale: verify_eps {missing} must also be attack radii (eps {list(self.eps)}), so the "
                              "verification table can set proofs against the attacks")


@STUDIES.register("multilabel", "multi-label DOUBLE-MNIST: three defences, attacks, MILP verification, layered neighbourhoods (Mour)")
class MultilabelStudy(Study):
    name = "multilabel"
    title = "Robustness of multi-label classifiers (DOUBLE-MNIST)"
    source = "Mour, thesis proposal advised by Drachsler-Cohen — \"Robustness of multi-label classifiers\" (methods.md §5)"
    scales = {
        "ci": MultilabelScale(
            n_train=1000, n_test=200, channels=(4, 8), epochs=3, batch_size=32, lr=0.05, rectangle=(4, 12), at_eps=0.1, at_steps=3,
            eps=(0.02, 0.05, 0.1), steps=10, attack_n=32, apgd_restarts=1, autoattack={"n_iter": 5, "n_target_classes": 1, "n_queries": 50},
            square_queries=50, verify_eps=(0.02,), verify_n=8, timeout=0.5, verifier_attack_steps=10,
            neighbourhood_n=1, layers=1, max_calls=12, tolerance=0.02, workers=1),
        "small": MultilabelScale(
            n_train=6000, n_test=1000, channels=(8, 16), epochs=8, batch_size=64, lr=0.05, rectangle=(4, 12), at_eps=0.1, at_steps=7,
            eps=(0.02, 0.05, 0.1), steps=20, attack_n=200, apgd_restarts=2, autoattack={"n_iter": 50, "n_target_classes": 3, "n_queries": 1000},
            square_queries=500, verify_eps=(0.02, 0.05), verify_n=30, timeout=5.0, verifier_attack_steps=30,
            neighbourhood_n=3, layers=2, max_calls=28, tolerance=0.005, workers=1),
        "paper": MultilabelScale(
            n_train=60000, n_test=10000, channels=(16, 32), epochs=30, batch_size=128, lr=0.05, rectangle=(4, 12), at_eps=0.1, at_steps=10,
            eps=(0.02, 0.05, 0.1), steps=50, attack_n=1000, apgd_restarts=2, autoattack={},
            square_queries=5000, verify_eps=(0.02, 0.05), verify_n=100, timeout=120.0, verifier_attack_steps=50,
            neighbourhood_n=10, layers=3, max_calls=60, tolerance=0.002, workers=4, schedule="cosine"),
    }

    def scale_difference(self, ctx: StudyContext) -> str:
        s = ctx.settings
        common = ("The proposal reports no numbers, so the study columns state its expectations in words. "
                  f"The L∞ attacks perturb the whole image; the layered neighbourhoods perturb object 1 and {s.layers} rings around it. "
                  "PGD-AT uses eps 0.1 (the proposal gives no radius); the L0 defence draws rectangles of side "
                  f"{s.rectangle[0]}–{s.rectangle[1]} pixels.")
        if ctx.scale == "paper":
            return ("The study's network (2 convolutions of 16 and 32 channels — the proposal gives no widths —, 1 max-pool, 1 linear "
                    f"layer) on {s.n_train:,} DOUBLE-MNIST training pairs drawn from the MNIST training set of the data root (the full "
                    f"60,000 images; the shared folder has only 6,309), {s.epochs} epochs with a {s.schedule} learning rate from {s.lr:g} "
                    f"(our schedule: the proposal gives none); {s.attack_n} attacked test images, {s.verify_n} verified, "
                    f"{s.neighbourhood_n} searched with the verifier's default settings. " + common)
        return (f"Much smaller than the study: {s.n_train:,} DOUBLE-MNIST training pairs from the shared 6,309 MNIST training images "
                f"(the study: all 60,000), a multilabel-cnn with {s.channels[0]} and {s.channels[1]} channels, {s.epochs} epochs, "
                f"PGD-AT with {s.at_steps} steps; PGD-{s.steps} on the first {s.attack_n} test images, AutoAttack with "
                f"{'its published budget' if not s.autoattack else f'a reduced budget {s.autoattack}'}; {s.verify_n} images verified "
                f"at eps {', '.join(f'{e:g}' for e in s.verify_eps)} with {s.timeout:g} s per query; neighbourhoods of "
                f"{s.neighbourhood_n} image(s) with at most {s.max_calls} verifier calls per search and tolerance {s.tolerance:g}. "
                "Comparisons on so few images are mostly inside the noise band. " + common)

    def offline_shape(self, cfg: TrainConfig) -> tuple[tuple[int, ...], int] | None:
        """DOUBLE-MNIST side by side: one 28×56 grey channel, ten digits (a dry run without MNIST)."""
        return (1, 28, 56), 10

    def configs(self, ctx: StudyContext) -> dict[str, TrainConfig]:
        s = ctx.settings
        variants = {
            "none": ({}, {}),
            "l0": ({"augment": "black-rectangle", "augment_options": {"min_size": s.rectangle[0], "max_size": s.rectangle[1]}}, {}),
            "pgd": ({}, {"name": "at", "params": {"eps": s.at_eps, "steps": s.at_steps}}),
        }
        return {label: ctx.config({
            "data": ctx.data(name="double-mnist", options={"n_train": s.n_train, "n_test": s.n_test}, **data),
            "model": {"name": "multilabel-cnn", "options": {"channels": list(s.channels)}},
            "labels": {"name": "multilabel"},
            "method": method or {"name": "standard"},
            "optim": {"lr": s.lr, "momentum": 0.9, "weight_decay": 5e-4, "schedule": s.schedule},
            "epochs": s.epochs,
            "batch_size": s.batch_size,
            "seed": 0,
        }) for label, (data, method) in variants.items()}

    def run(self, ctx: StudyContext) -> Report:
        runs = ctx.train_all()
        report = Report(self.name, self.title, self.source, ctx.scale, self.scale_difference(ctx))
        clean = {m: evaluate_run(d, device=ctx.device) for m, d in runs.items()}
        attacks = {m: robust_evaluate_run(d, attack_specs(ctx.settings), list(ctx.settings.eps), name="multilabel", n=ctx.settings.attack_n,
                                          device=ctx.device, quiet=ctx.quiet, plot=False) for m, d in runs.items()}
        verified = {m: verify_all(ctx, d) for m, d in runs.items()}
        chosen = neighbourhood_images(attacks, ctx.settings.neighbourhood_n)
        searches = {m: search_all(ctx, d, chosen) for m, d in runs.items()}
        report.sections += [clean_section(clean), attack_section(ctx, attacks), verify_section(ctx, verified, attacks),
                            neighbourhood_section(ctx, searches, chosen)]
        report.claims += attack_claims(ctx, attacks) + verify_claims(ctx, verified) + neighbourhood_claims(searches, ctx.settings.tolerance)
        return report


# -- attacks -----------------------------------------------------------------------------------


def attack_specs(s: MultilabelScale) -> list[AttackSpec]:
    """The study's attack (PGD on the own loss, as in its PGD training) and the adaptive ones on
    the class scores. Probes run un-nested on every sample (the sanity checks compare them);
    the ensemble runs on what the probes left standing. ``large-eps`` runs the top2-margin at
    half the domain's diameter, where robust accuracy must be ~0."""
    top2 = {"objective": "top2-margin"}
    return [
        probe(FGSM, "fgsm"),
        probe(OWN, "pgd", {"steps": s.steps}),
        probe(TOP2, "pgd", {"steps": s.steps, **top2}),
        probe(MARGIN, "pgd", {"steps": s.steps, "objective": "margin"}),
        probe(FEW, "pgd", {"steps": 5, **top2}),
        AttackSpec(LARGE, "pgd", {"steps": s.steps, **top2}, role=DIAGNOSTIC_ROLE, eps=HALF_DIAMETER, nested=False),
        AttackSpec(APGD, "pgd", {"steps": 2 * s.steps, "schedule": "apgd", "restarts": s.apgd_restarts, **top2}),
        AttackSpec(APGD_CE, "apgd-ce", {"n_iter": 2 * s.steps}),
        AttackSpec(AUTOATTACK, "autoattack", dict(s.autoattack)),
        AttackSpec(SQUARE, "square", {"n_queries": s.square_queries}),
    ]


ATTACK_ORDER = (FGSM, OWN, MARGIN, FEW, TOP2, APGD, APGD_CE, AUTOATTACK, SQUARE)


def attack_value(report: RobustReport, label: str, eps: float) -> float | None:
    """Robust accuracy of ``label`` at ``eps`` (``WORST``: the per-sample worst case). An
    ensemble attack's cell is the worst case *after* it (it only attacks what still stands)."""
    return attack_cells(report).get((label, report.eps_texts().get(eps, f"{eps:g}")))


def robust_n(report: RobustReport) -> int:
    return len(report.labels)


def attack_section(ctx: StudyContext, attacks: dict[str, RobustReport]) -> Section:
    """One table per radius: robust accuracy (the target stays in the top-2 set) of each model
    under each attack, the worst case and what the study expects; then the masking checks."""
    s = ctx.settings
    tables = []
    for eps in s.eps:
        columns = ["model", "clean", *ATTACK_ORDER, WORST, "study expects"]
        rows = [[m, r.clean_accuracy, *[attack_value(r, a, eps) for a in ATTACK_ORDER], attack_value(r, WORST, eps), EXPECTED[m]]
                for m, r in attacks.items()]
        tables.append(Table(f"Robust accuracy at eps {eps:g} (L∞, whole image)", columns, rows, percent=tuple(columns[1:-1]),
                            note=f"Robust = the target digit is in the clean top-2 set and stays there; first {s.attack_n} test images. "
                                 f"{OWN} is the study's attack (its PGD training's inner maximisation); the others attack the class "
                                 f"scores. {APGD}, {APGD_CE}, {AUTOATTACK} and {SQUARE} run in that order on the samples no earlier "
                                 "attack broke, so each shows the worst case after it. The published APGD-CE and AutoAttack stop at "
                                 "their own arg-max test, which is weak for a top-2 property (docs/multilabel.md)."))
    tables.append(masking_table(attacks))
    flags = {m: flagged(r) for m, r in attacks.items()}
    text = "Failed sanity checks — " + "; ".join(f"{m}: {', '.join(f) or 'no check failed'}" for m, f in flags.items()) + ". " + \
        "own-loss-only means an attack on the class scores broke significantly more samples than the study's attack with the same budget."
    return Section("Robust accuracy under the study's attack and adaptive attacks", text, tables, [attack_figure(ctx, attacks)])


def attack_figure(ctx: StudyContext, attacks: dict[str, RobustReport]) -> Figure:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    eps = list(ctx.settings.eps)
    for m, r in attacks.items():
        line = ax.plot(eps, [100 * (attack_value(r, WORST, e) or 0) for e in eps], "-o", markersize=3, label=f"{m}: worst case")[0]
        ax.plot(eps, [100 * (attack_value(r, OWN, e) or 0) for e in eps], "--", color=line.get_color(), label=f"{m}: study's attack")
    ax.set_xlabel("eps (L∞)")
    ax.set_ylabel("robust accuracy (%)")
    ax.legend(fontsize=7)
    path = ctx.folder("figures") / "robust-accuracy.png"
    save_figure(fig, path, "multilabel robust accuracy vs eps")
    return Figure("Robust accuracy vs eps", path, "Solid: the per-sample worst case over every attack; dashed: the study's attack (PGD on the own loss).")


def clean_section(clean: dict) -> Section:
    """Set accuracy (the predicted top-2 set is the label set) and target accuracy (the target
    is in the set) on the whole generated test split."""
    rows = [[m, MODELS[m], c.set_accuracy, c.target_accuracy, c.n] for m, c in clean.items()]
    table = Table("Clean accuracy", ["model", "training", "set accuracy", "target accuracy", "test n"], rows,
                  percent=("set accuracy", "target accuracy"),
                  note="Set accuracy: both digits right; target accuracy: object 0's digit is in the predicted top-2 set (the "
                       "study's property). The proposal reports no clean accuracy.")
    return Section("Clean accuracy of the three DOUBLE-MNIST models", "", [table])


# -- verification ------------------------------------------------------------------------------


def verifier_config(s: MultilabelScale) -> VerifyConfig:
    return VerifyConfig(timeout=s.timeout, attack_steps=s.verifier_attack_steps, attack_restarts=1)


def verify_all(ctx: StudyContext, run_dir: Path) -> dict[float, list[dict]]:
    """Per radius, the complete verifier's record of each of the first ``verify_n`` test images
    (top-2 property, L∞ ball over the whole image); saved per sample, so a rerun resumes."""
    s = ctx.settings
    workers = s.workers if ctx.device == "cpu" else 1
    return {eps: verify_run(run_dir, QuerySpec(property="top2", set_kind="linf", eps=eps), verifier_config(s), n=s.verify_n,
                            workers=workers, device=ctx.device, force=ctx.force, quiet=ctx.quiet).records for eps in s.verify_eps}


def verify_row(model: str, eps: float, records: list[dict], attack: RobustReport | None) -> list:
    """One row: counts per verdict, the proved-robust share and the share not refuted, the
    attacks' worst-case robust share on the same images, and how many images the verifier
    proved robust although an attack broke them (must be 0)."""
    n = len(records)
    counts = {v: sum(r["status"] == v for r in records) for v in (ROBUST, NOT_ROBUST, UNKNOWN)}
    stages = ", ".join(f"{k} {v}" for k, v in _stage_counts(records).items())
    attacked, disagree = None, None
    if attack is not None and eps in attack.radii():
        kept = (attack.worst_pred(eps) == attack.labels) & (attack.clean_pred == attack.labels)
        indices = [r["index"] for r in records if r["index"] < len(kept)]
        attacked = float(kept[indices].float().mean()) if indices else None
        disagree = sum(1 for r in records if r["status"] == ROBUST and r["index"] < len(kept) and not bool(kept[r["index"]]))
    seconds = sum(sum(r["times"].values()) for r in records) / max(n, 1)
    return [model, eps, n, counts[ROBUST], counts[NOT_ROBUST], counts[UNKNOWN], counts[ROBUST] / max(n, 1), 1 - counts[NOT_ROBUST] / max(n, 1),
            attacked, disagree, stages, seconds, EXPECTED[model]]


def _stage_counts(records: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        key = r["stage"] if r["status"] != UNKNOWN else f"unknown ({r.get('reason') or '?'})"
        out[key] = out.get(key, 0) + 1
    return out


def verify_section(ctx: StudyContext, verified: dict, attacks: dict[str, RobustReport]) -> Section:
    columns = ["model", "eps", "n", "robust", "not robust", "unknown", "proved robust", "not refuted", "attack robust", "proof vs attack conflicts",
               "decided by", "mean seconds", "study expects"]
    rows = [verify_row(m, eps, records, attacks.get(m)) for m, per_eps in verified.items() for eps, records in per_eps.items()]
    table = Table("Complete verification (MILP, top-2 property, L∞ ball over the whole image)", columns, rows,
                  percent=("proved robust", "not refuted", "attack robust"),
                  note=f"The first {ctx.settings.verify_n} test images; {ctx.settings.timeout:g} s per query. The true robust share lies "
                       "between *proved robust* and *not refuted* (unknown = timeout or numerical trouble, never counted robust); "
                       "*attack robust* (the attacks' worst case on the same images) can only overstate it, so *proof vs attack "
                       "conflicts* (proved robust, yet an attack broke it) must be 0.")
    return Section("Complete verification", "", [table], [verify_figure(ctx, rows)])


def verify_figure(ctx: StudyContext, rows: list[list]) -> Figure:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    names = [f"{r[0]}\neps {r[1]:g}" for r in rows]
    bottom = [0.0] * len(rows)
    for column, label, colour in ((3, "robust", "#4daf4a"), (4, "not robust", "#e41a1c"), (5, "unknown", "#999999")):
        values = [r[column] / max(r[2], 1) * 100 for r in rows]
        ax.bar(names, values, bottom=bottom, label=label, color=colour)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("share of verified images (%)")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7)
    path = ctx.folder("figures") / "verification.png"
    save_figure(fig, path, "multilabel verification verdicts")
    return Figure("Verification verdicts", path, "Per model and radius: proved robust, refuted by a checked counterexample, or unknown.")


# -- neighbourhoods ----------------------------------------------------------------------------


def neighbourhood_images(attacks: dict[str, RobustReport], k: int) -> list[int]:
    """The first ``k`` test images whose target every model keeps in its clean top-2 set (a
    neighbourhood exists only around a correctly classified input; the same images for all)."""
    reports = list(attacks.values())
    n = min(len(r.labels) for r in reports)
    common = [i for i in range(n) if all(bool(r.clean_pred[i] == r.labels[i]) for r in reports)]
    return common[:k]


@dataclass
class Searches:
    """One model's neighbourhood searches: search name (``SEARCHES``) → one record per image
    (ε, weighted size, calls, seconds, the final verdict), and the ``RunResult`` per cutting
    weights (for the heat maps)."""

    records: dict[str, list[dict]]
    results: dict[str, RunResult]


def search_all(ctx: StudyContext, run_dir: Path, chosen: list[int]) -> Searches:
    """Each search of ``SEARCHES`` on the ``chosen`` images, saved per image so a rerun resumes."""
    found = Searches({name: [] for name in SEARCHES}, {})
    if not chosen:
        return found
    s = ctx.settings
    for cut, methods in (("fixed", ("search", "binary")), ("sensitivity", ("search",))):
        settings = SearchSettings(tolerance=s.tolerance, max_calls=s.max_calls, cut=cut)
        result = neighbourhood_run(run_dir, NeighbourhoodSpec(layers=s.layers), settings, verifier_config(s), methods=methods,
                                   indices=chosen, device=ctx.device, force=ctx.force)
        found.results[cut] = result
        for name, (method, which) in SEARCHES.items():
            if which == cut and method in methods:
                found.records[name] = result.records[method]
    return found


def neighbourhood_section(ctx: StudyContext, searches: dict, chosen: list[int]) -> Section:
    s = ctx.settings
    summary = [summary_row(m, name, per.records[name]) for m, per in searches.items() for name in SEARCHES]
    columns = ["model", "search", "images", "mean w·ε", *[f"mean ε_{d}" for d in range(s.layers + 1)], "mean calls", "mean seconds", "study expects"]
    summary_table = Table("Maximal robust layered neighbourhoods: summary", columns, summary,
                          note=f"Layers 0..{s.layers} around object 1 (the digit the attacker owns), weights w = "
                               f"({', '.join(f'{w:.3g}' for w in NeighbourhoodSpec(layers=s.layers).weights)}); at most {s.max_calls} verifier calls per search, tolerance "
                               f"{s.tolerance:g}, {s.timeout:g} s per query. Every reported ε is certified by a complete verifier call on "
                               "exactly that ε. Study: the gradient-guided search finds neighbourhoods as large as binary search, much "
                               "faster; the proposal offers sensitivity cutting weights as the alternative to fixed ones.")
    detail = [[m, r["index"], r["target"], name, r["status"], r["weighted_size"], " ".join(f"{e:.3f}" for e in r["eps"]), r["calls"],
               r["seconds"], r["stop"]] for m, per in searches.items() for name in SEARCHES for r in per.records[name]]
    detail_table = Table("Maximal robust layered neighbourhoods: every image", ["model", "image", "target", "search", "clean status", "w·ε",
                         "ε per layer", "calls", "seconds", "why it stopped"], detail)
    figures = heatmap_figures(ctx, searches) + ([search_figure(ctx, searches)] if chosen else [])
    text = f"Images {chosen} (the first test images every model classifies correctly)." if chosen else "No test image is classified correctly by every model: nothing to search."
    return Section("Maximal robust layered neighbourhoods", text, [summary_table, detail_table], figures)


def searched(records: list[dict]) -> list[dict]:
    """The images whose clean input the verifier proved robust (the others have no neighbourhood)."""
    return [r for r in records if r["status"] == ROBUST]


def summary_row(model: str, name: str, records: list[dict]) -> list:
    rows = searched(records)
    k = len(rows)

    def mean(values):
        return sum(values) / k if k else None

    layers = len(records[0]["eps"]) if records else 0
    expects = {"search-fixed": "as large as binary, much faster", "search-sensitivity": "larger than fixed weights", "binary": "slow baseline"}[name]
    return [model, name, k, mean([r["weighted_size"] for r in rows]), *[mean([r["eps"][d] for r in rows]) for d in range(layers)],
            mean([r["calls"] for r in rows]), mean([r["seconds"] for r in rows]), expects]


def heatmap_figures(ctx: StudyContext, searches: dict) -> list[Figure]:
    """ε heat maps, one column per model and one row per image, for each search."""
    figures = []
    for name, (method, cut) in SEARCHES.items():
        results = [per.results[cut] for per in searches.values() if cut in per.results]
        if not results or len(results) != len(searches):
            continue
        path = compare_figure(results, method, ctx.folder("figures") / f"heatmaps-{name}.png")
        figures.append(Figure(f"ε heat maps — {name}", path, f"ε_d painted on the pixels of layer d around the perturbed digit (dashed red); the target digit solid cyan. {name}: method {method}, cutting weights {cut}."))
    return figures


def search_figure(ctx: StudyContext, searches: dict) -> Figure:
    """Weighted size against seconds of every (model, image) for each search."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, marker in zip(SEARCHES, "os^"):
        rows = [r for per in searches.values() for r in searched(per.records[name])]
        ax.scatter([r["seconds"] for r in rows], [r["weighted_size"] for r in rows], marker=marker, label=name)
    ax.set_xlabel("seconds per image")
    ax.set_ylabel("w·ε certified")
    ax.legend(fontsize=7)
    path = ctx.folder("figures") / "search-vs-binary.png"
    save_figure(fig, path, "neighbourhood size vs time")
    return Figure("Search vs binary search", path, "Each point one (model, image): the certified weighted size and the time the search took.")


# -- claims ------------------------------------------------------------------------------------


def every(claim: str, outcomes: list[Claim]) -> Claim:
    """A claim that needs every comparison (\"the most robust\" = more robust than each other
    model): supported when all are supported, contradicted when any is contradicted."""
    verdicts = [o.verdict for o in outcomes]
    verdict = CONTRADICTED if CONTRADICTED in verdicts else SUPPORTED if verdicts and all(v == SUPPORTED for v in verdicts) else NOT_TESTABLE
    return Claim(claim, verdict, " | ".join(f"[{o.verdict}] {o.evidence}" for o in outcomes))


def over_eps(ctx: StudyContext, claim: str, a: str, b: str, attacks: dict[str, RobustReport], label: str) -> Claim:
    """Model ``a`` keeps more targets than model ``b`` under attack ``label``: one comparison
    per eps, decided by the majority of those that decide."""
    def rate(m: str, eps: float) -> tuple[str, float, int]:
        value = attack_value(attacks[m], label, eps)
        return m, math.nan if value is None else value, robust_n(attacks[m])

    return majority(claim, [greater("", rate(a, e), rate(b, e), where=f"eps {e:g}") for e in ctx.settings.eps], where=label)


def attack_claims(ctx: StudyContext, attacks: dict[str, RobustReport]) -> list[Claim]:
    """PGD-AT beats both others (under the study's attack and under the worst case); the L0
    defence beats no defence (its threat model is L0, so an L∞ attack is the harder test)."""
    claims = [every(f"The PGD-trained model is the most robust of the three {words}",
                    [over_eps(ctx, f"pgd > {other}", "pgd", other, attacks, label) for other in ("none", "l0")])
              for label, words in ((OWN, "under the study's attack (PGD on the own loss)"), (WORST, "under the worst case of all attacks"))]
    claims.append(over_eps(ctx, "The L0 defence (black rectangle) is more robust than no defence (L∞ worst case)", "l0", "none", attacks, WORST))
    return claims


def verify_claims(ctx: StudyContext, verified: dict) -> list[Claim]:
    """The PGD model has the largest share of proved-robust images, at each verified radius."""
    def share(m: str, eps: float) -> tuple[str, float, int]:
        records = verified[m][eps]
        return m, sum(r["status"] == ROBUST for r in records) / max(len(records), 1), len(records)

    outcomes = [majority(f"pgd > {other}", [greater("", share("pgd", e), share(other, e), where=f"eps {e:g}") for e in ctx.settings.verify_eps],
                         where="proved robust") for other in ("none", "l0")]
    return [every("The PGD-trained model is the most robust under complete verification", outcomes)]


def paired(diffs: list[float]) -> tuple[float, float]:
    """Mean of paired differences and two standard errors (inf below ``MIN_PAIRS`` pairs)."""
    n = len(diffs)
    if n < MIN_PAIRS:
        return (sum(diffs) / n if n else math.nan), math.inf
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    return mean, 2 * math.sqrt(var / n)


def _pairs(searches: dict[str, Searches], a: str, b: str) -> list[tuple[dict, dict]]:
    """(record of search ``a``, record of search ``b``) on the same model and image, both searched."""
    out = []
    for per in searches.values():
        by_index = {r["index"]: r for r in searched(per.records[b])}
        out += [(r, by_index[r["index"]]) for r in searched(per.records[a]) if r["index"] in by_index]
    return out


def _across(best: dict[str, list[dict]], a: str, b: str) -> list[tuple[dict, dict]]:
    """(model ``a``'s record, model ``b``'s record) on the same image, both searched."""
    other = {r["index"]: r for r in searched(best[b])}
    return [(r, other[r["index"]]) for r in searched(best[a]) if r["index"] in other]


def best_found(per: Searches) -> list[dict]:
    """Per image, the record of the search that certified the largest w·ε."""
    rows = zip(*(per.records[name] for name in SEARCHES))
    return [max(records, key=lambda r: r["weighted_size"]) for records in rows]


def with_note(claim: Claim, note: str) -> Claim:
    return Claim(claim.claim, claim.verdict, claim.evidence + note)


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def larger(claim: str, a: str, b: str, pairs: list[tuple[dict, dict]], margin: float = 0.0) -> Claim:
    """``a`` certifies a larger w·ε than ``b``, paired over the same images. With ``margin`` > 0
    the claim is *as large as*: ``a`` is not smaller than ``b`` by more than ``margin`` × b's
    mean size (supported when even the low end of the noise band clears it, contradicted when
    even the high end does not). Without a margin, ties on every pair contradict *larger*."""
    diffs = [x["weighted_size"] - y["weighted_size"] for x, y in pairs]
    mean, band = paired(diffs)
    base = _mean(y["weighted_size"] for _, y in pairs)
    threshold = -margin * base if margin else 0.0
    evidence = (f"{len(pairs)} (model, image) pairs: mean w·ε {a} {_mean(x['weighted_size'] for x, _ in pairs):.4f} vs {b} {base:.4f} "
                f"(difference {mean:+.4f}, noise ±{band:.4f}" + (f", allowed shortfall {-threshold:.4f}" if margin else "") + ")")
    if len(pairs) < MIN_PAIRS:
        return Claim(claim, NOT_TESTABLE, evidence + f"; fewer than {MIN_PAIRS} pairs")
    tied = not margin and band == 0 and mean == 0
    if mean - band > threshold:
        return Claim(claim, SUPPORTED, evidence)
    if mean + band < threshold or tied:
        return Claim(claim, CONTRADICTED, evidence + ("; every pair tied" if tied else ""))
    return Claim(claim, NOT_TESTABLE, evidence + "; within noise")


def faster(claim: str, pairs: list[tuple[dict, dict]]) -> Claim:
    """The search (first of each pair) took at least ``MUCH_FASTER`` times less time than binary
    search: the paired log ratios of seconds, their mean against log(``MUCH_FASTER``)."""
    logs = [math.log(max(y["seconds"], 1e-6) / max(x["seconds"], 1e-6)) for x, y in pairs]
    mean, band = paired(logs)
    evidence = (f"{len(pairs)} pairs: mean seconds search {_mean(x['seconds'] for x, _ in pairs):.2f} vs binary {_mean(y['seconds'] for _, y in pairs):.2f}, "
                f"verifier calls {_mean(x['calls'] for x, _ in pairs):.1f} vs {_mean(y['calls'] for _, y in pairs):.1f}; geometric-mean speed-up "
                f"{math.exp(mean) if pairs else math.nan:.2f}× (claimed ≥ {MUCH_FASTER:g}×, noise ×/÷{math.exp(min(band, 50)):.2f})")
    if len(pairs) < MIN_PAIRS:
        return Claim(claim, NOT_TESTABLE, evidence + f"; fewer than {MIN_PAIRS} pairs")
    if mean - band > math.log(MUCH_FASTER):
        return Claim(claim, SUPPORTED, evidence)
    if mean + band < math.log(MUCH_FASTER):
        return Claim(claim, CONTRADICTED, evidence)
    return Claim(claim, NOT_TESTABLE, evidence + "; within noise")


def rejected(record: dict) -> int:
    """Verifier calls of a search that rejected a candidate (the clean check left out): only
    after a rejection do the cutting weights shrink anything."""
    return sum(not p["accepted"] for p in record["probes"][1:])


def capped(pairs: list[tuple[dict, dict]]) -> str:
    """How often binary search (the second of each pair) stopped at the verifier-call limit,
    which truncates its size and its time."""
    hit = sum(y["stop"].startswith("verifier-call limit") for _, y in pairs)
    return f"; binary search stopped at the call limit on {hit} of {len(pairs)}" if hit else ""


def cutting_claim(pairs: list[tuple[dict, dict]], tolerance: float) -> Claim:
    """Sensitivity vs fixed cutting weights, on the (model, image) pairs where either search
    was rejected at least once; elsewhere both searches are the same by construction."""
    informative = [(x, y) for x, y in pairs if rejected(x) or rejected(y)]
    result = larger("Sensitivity cutting weights give larger neighbourhoods than fixed cutting weights", "sensitivity", "fixed", informative)
    left_out = len(pairs) - len(informative)
    note = f"; {left_out} pair(s) without any rejection (the cutting weights never acted) left out" if left_out else ""
    return with_note(result, note + f"; sizes resolved to the search tolerance {tolerance:g} per layer")


def neighbourhood_claims(searches: dict[str, Searches], tolerance: float) -> list[Claim]:
    """The search's claims (pooled over models and images) and the models' (per image, the
    largest w·ε any search certified)."""
    best = {m: best_found(per) for m, per in searches.items()}
    search_binary = _pairs(searches, "search-fixed", "binary")
    return [
        with_note(larger(f"The gradient-guided search finds neighbourhoods as large as binary search (within {AS_LARGE:.0%})", "search", "binary",
                         search_binary, margin=AS_LARGE), capped(search_binary)),
        with_note(faster(f"The gradient-guided search is much faster than per-layer binary search (≥ {MUCH_FASTER:g}× less time)", search_binary),
                  capped(search_binary)),
        cutting_claim(_pairs(searches, "search-sensitivity", "search-fixed"), tolerance),
        every("The PGD-trained model has the largest maximal robust layered neighbourhoods (best certified w·ε per image)",
              [larger(f"pgd > {other}", "pgd", other, _across(best, "pgd", other)) for other in ("none", "l0")]),
        larger("The L0 defence gives larger maximal robust layered neighbourhoods than no defence", "l0", "none", _across(best, "l0", "none")),
    ]
