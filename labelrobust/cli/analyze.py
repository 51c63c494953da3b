"""``labelrobust analyze``: analyses of trained runs under a label metric (WPGD study,
methods.md §4; definitions and output files in docs/analysis.md).

    labelrobust analyze gap RUN_A RUN_B --metric SPEC --out DIR [--n N]
    labelrobust analyze score RUN [RUN ...] --metric SPEC --power P --eps E [--steps 20] [--reference RUN] --out DIR
    labelrobust analyze entropy RUN [RUN ...] --out DIR [--eps E] [--normalise]
    labelrobust analyze embedding RUN_STANDARD RUN_ROBUST --out DIR [--n 2000]
    labelrobust analyze toy --out DIR [--eps 0.1,0.2] [--powers 1,2.5,10]
    labelrobust analyze imbalance --out DIR [--dataset mnist] [--pairs 0:7,3:5] [--ratio 0.3]

Each writes CSV, markdown and PNG files into ``--out`` (created; a folder that already holds
files is refused unless ``--force``) and prints its table. ``--metric`` takes ``wordnet``,
``wordnet:SIM``, ``linear-boundary``, ``visual:[KIND:]RUN_DIR`` or a .csv/.npy file.
"""

from __future__ import annotations

import argparse

from labelrobust.cli.output import emit, format_table
from labelrobust.cli.robust_output import NonNegativeInt, PositiveFloat, PositiveInt, add_device_flag, split_eps
from labelrobust.errors import ConfigError


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="analyses of the WPGD study: accuracy gap, weighted score, entropy, embedding, toy, imbalance", description=__doc__.split("\n\n")[0])
    analyses = p.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS", help="gap, score, entropy, embedding, toy or imbalance")
    for analysis, (adder, _) in ANALYSES.items():
        q = adder(analyses, analysis)
        q.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="also log debugging details to stderr")


def run(args: argparse.Namespace) -> int:
    return ANALYSES[args.analysis][1](args)


# -- shared flags ---------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, *, n_default: int | None = None, seed: bool = True) -> None:
    p.add_argument("--out", metavar="DIR", required=True, help="output folder (created; one that holds files is refused unless --force)")
    shown = "all" if n_default is None else n_default
    p.add_argument("--n", action=PositiveInt, default=n_default, help=f"use the first N test samples, in order (default: {shown})")
    p.add_argument("--batch-size", action=PositiveInt, default=256, help="samples per forward pass and attack batch (default: 256)")
    if seed:
        p.add_argument("--seed", action=NonNegativeInt, default=0, help="seed of the random starts / t-SNE (default: 0)")
    p.add_argument("--weights", default="latest", choices=["latest", "best-val"], help="which weights of each run (default: latest)")
    add_device_flag(p)
    p.add_argument("--force", action="store_true", help="overwrite the files of an output folder that already holds results")


def _metric_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metric", required=True, metavar="SPEC", help="the label metric: wordnet[:SIM], linear-boundary, visual:[KIND:]RUN_DIR, or a .csv (header of class names)/.npy file")


def _prepare(args: argparse.Namespace):
    """The output folder, checked (and created) before any run loads."""
    from labelrobust.analysis.figures import prepare_out_dir

    return prepare_out_dir(args.out, args.force)


def _written(paths) -> None:
    emit("written: " + ", ".join(str(p) for p in paths))


# -- gap ------------------------------------------------------------------------------------


def _add_gap(analyses, name: str) -> argparse.ArgumentParser:
    p = analyses.add_parser(name, help="accuracy gap G = |C_A − C_B| of two runs and its correlation with a label metric")
    p.add_argument("run_a", metavar="RUN_A", help="a run directory (e.g. the PGD-trained run)")
    p.add_argument("run_b", metavar="RUN_B", help="a run directory on the same classes (e.g. the standard run)")
    _metric_flag(p)
    _common(p, seed=False)
    return p


def _run_gap(args: argparse.Namespace) -> int:
    from labelrobust.analysis.accuracy_gap import accuracy_gap, write_gap_report

    _prepare(args)
    result = accuracy_gap(args.run_a, args.run_b, args.metric, n=args.n, batch_size=args.batch_size, weights=args.weights, device=args.device)
    emit(format_table([result.pearson.row(), result.spearman.row()]))
    emit(f"G = |C_{result.labels[0]} − C_{result.labels[1]}| (row-normalised clean test confusions), correlated with {result.metric.source} over the pairs i ≠ j")
    _written(write_gap_report(result, args.out, force=args.force))
    return 0


# -- score ----------------------------------------------------------------------------------


def _add_score(analyses, name: str) -> argparse.ArgumentParser:
    p = analyses.add_parser(name, help="weighted robustness score S = Σ c_ij m_ij under Wasserstein-PGD and plain PGD")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories on the same classes")
    _metric_flag(p)
    p.add_argument("--power", action=PositiveFloat, required=True, help="the power p > 0: costs c = C^p")
    p.add_argument("--eps", required=True, help="the attack radius, fractions allowed (8/255)")
    p.add_argument("--steps", action=PositiveInt, default=20, help="PGD steps (default: 20)")
    p.add_argument("--step-size", help="PGD step size (default: 2.5·eps/steps)")
    p.add_argument("--norm", choices=["linf", "l2"], default="linf", help="threat model (default: linf)")
    p.add_argument("--objective", choices=["loss", "ce"], default="loss", help="what the plain PGD maximises: the label space's own loss or the cross-entropy of its scores (default: loss)")
    p.add_argument("--lam", default="inf", help="λ of the Wasserstein loss's entropy term; inf drops it (default: inf)")
    p.add_argument("--reference", metavar="RUN", help="the run the relative scores refer to (S − S_ref, S / S_ref); added to the runs if not among them")
    _common(p)
    return p


def _run_score(args: argparse.Namespace) -> int:
    from labelrobust.analysis.weighted_score import weighted_scores, write_score_report

    lam = _number(args.lam, "--lam")
    _prepare(args)
    result = weighted_scores(
        args.runs, args.metric, args.power, args.eps, args.steps, args.reference, step_size=args.step_size, norm=args.norm,
        plain_objective=args.objective, lam=lam, n=args.n, batch_size=args.batch_size, seed=args.seed, weights=args.weights, device=args.device,
    )
    columns = ["run", "attack", "score", "score_minus_ref", "score_over_ref", "clean_accuracy", "robust_accuracy", "wasserstein_clean", "wasserstein_adv"]
    emit(format_table(result.table(), columns, percent=["clean_accuracy", "robust_accuracy"]))
    ref = f"; score_minus_ref = S − S_ref and score_over_ref = S / S_ref, S_ref of {result.reference} per attack" if result.reference else ""
    emit(f"S = Σ_ij c_ij m_ij with c = C^p, p = {result.power:g} ({result.metric.source}), m the row-normalised adversarial confusion{ref}")
    _written(write_score_report(result, args.out, force=args.force))
    return 0


def _number(text: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{flag} must be a number, got {text!r}") from None


# -- entropy --------------------------------------------------------------------------------


def _add_entropy(analyses, name: str) -> argparse.ArgumentParser:
    p = analyses.add_parser(name, help="entropy of the predictions per true class: histograms of several runs, mean per class")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories on the same classes")
    p.add_argument("--eps", help="attack the inputs first: plain PGD on the label space's loss at this radius (default: clean inputs)")
    p.add_argument("--steps", action=PositiveInt, help="PGD steps with --eps (default: 20)")
    p.add_argument("--norm", choices=["linf", "l2"], help="threat model with --eps (default: linf)")
    p.add_argument("--normalise", action="store_true", help="divide the entropy by log K (values in [0, 1])")
    p.add_argument("--bins", action=PositiveInt, default=20, help="histogram bins over [0, log K] (default: 20)")
    _common(p)
    return p


def _run_entropy(args: argparse.Namespace) -> int:
    from labelrobust.analysis.entropy import entropy_histograms, write_entropy_report

    given = [flag for flag, value in (("--steps", args.steps), ("--norm", args.norm)) if value is not None]
    if given and args.eps is None:
        raise ConfigError(f"{', '.join(given)} only set{'s' if len(given) == 1 else ''} up the attack of --eps; add --eps (or leave {'it' if len(given) == 1 else 'them'} out for clean inputs)")
    _prepare(args)
    result = entropy_histograms(
        args.runs, eps=args.eps, norm=args.norm or "linf", steps=args.steps or 20, normalise=args.normalise, bins=args.bins, n=args.n,
        batch_size=args.batch_size, seed=args.seed, weights=args.weights, device=args.device,
    )
    emit(format_table(result.pivot()))
    emit(f"mean prediction entropy ({result.unit}) per true class and run")
    _written(write_entropy_report(result, args.out, force=args.force))
    return 0


# -- embedding ------------------------------------------------------------------------------


def _add_embedding(analyses, name: str) -> argparse.ArgumentParser:
    p = analyses.add_parser(name, help="t-SNE of the penultimate features of runs (e.g. standard and robust), side by side")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories on the same classes, e.g. RUN_STANDARD RUN_ROBUST")
    p.add_argument("--perplexity", action=PositiveFloat, default=30.0, help="t-SNE perplexity, capped at (n − 1)/3 (default: 30)")
    _common(p, n_default=2000)
    return p


def _run_embedding(args: argparse.Namespace) -> int:
    from labelrobust.analysis.embedding import feature_embedding, write_embedding_report

    _prepare(args)
    result = feature_embedding(args.runs, n=args.n, perplexity=args.perplexity, seed=args.seed, batch_size=args.batch_size, weights=args.weights, device=args.device)
    emit(format_table([{"run": r, "layer": result.layers[r], "feature_dim": result.feature_dims[r], "n": len(result.labels[r])} for r in result.runs]))
    _written(write_embedding_report(result, args.out, force=args.force))
    return 0


# -- toy ------------------------------------------------------------------------------------


def _add_toy(analyses, name: str) -> argparse.ArgumentParser:
    p = analyses.add_parser(name, help="the study's 3-class 2-D toy: which boundaries PGD training and WPGD move")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder (its runs/ are reused when their settings match)")
    p.add_argument("--eps", help="comma-separated L∞ radii of training and evaluation (default: 0.1,0.2)")
    p.add_argument("--powers", help="comma-separated WPGD powers p (default: 1,2.5,10)")
    p.add_argument("--seed", action=NonNegativeInt, help="seed of data, weights and attacks (default: 0)")
    p.add_argument("--epochs", action=PositiveInt, help="training epochs of every model (default: 60)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: cpu)")
    p.add_argument("--force", action="store_true", help="retrain every run")
    return p


def _run_toy(args: argparse.Namespace) -> int:
    from labelrobust.analysis.toy import FIGURE, SUMMARY, run_toy

    options = {"eps": _numbers(args.eps, "--eps"), "powers": _numbers(args.powers, "--powers"), "seed": args.seed, "epochs": args.epochs, "device": args.device}
    out = run_toy(args.out, force=args.force, **{k: v for k, v in options.items() if v is not None})
    _written([out / SUMMARY, out / FIGURE])
    return 0


def _numbers(text: str | None, flag: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    from labelrobust.attacks.threat import parse_eps

    values = split_eps(text)
    if not values:
        raise ConfigError(f"{flag} is empty; give comma-separated numbers, e.g. 0.1,0.2")
    try:
        return tuple(parse_eps(v) for v in values)
    except ConfigError:
        raise ConfigError(f"{flag} must be comma-separated numbers (fractions like 8/255 allowed), got {text!r}") from None


# -- imbalance ------------------------------------------------------------------------------


def _add_imbalance(analyses, name: str) -> argparse.ArgumentParser:
    p = analyses.add_parser(name, help="class imbalance on two-class subsets: standard vs PGD-AT per pair of classes")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder (its runs/ are reused when their settings match)")
    p.add_argument("--dataset", help="a registered dataset (default: mnist)")
    p.add_argument("--pairs", help="class pairs majority:minority, comma-separated, by index or name: 0:7,3:5 or cat:dog,airplane:horse (default: 0:7,3:5)")
    p.add_argument("--ratio", action=PositiveFloat, help="share of its training samples the minority keeps, in (0, 1] (default: 0.3)")
    p.add_argument("--data-root", help="data root folder (default: $LABELROBUST_DATA_ROOT, else ./data)")
    p.add_argument("--epochs", action=PositiveInt, help="training epochs of every run (default: 10)")
    p.add_argument("--eps", help="PGD-AT's L∞ radius, fractions allowed (default: 0.3 on mnist, 8/255 on cifar10)")
    p.add_argument("--model", help="a registered model (default: mnist-cnn on mnist, resnet18 on cifar10)")
    p.add_argument("--model-option", action="append", metavar="KEY=VALUE", help="a builder option of the model, repeatable (width=16)")
    p.add_argument("--train-size", action=PositiveInt, help="stratified subset of the training split (default: all)")
    p.add_argument("--val-size", action=PositiveInt, help="validation samples taken from the imbalanced training split (default: 200)")
    p.add_argument("--test-size", action=PositiveInt, help="stratified subset of the test split (default: all)")
    p.add_argument("--batch-size", action=PositiveInt, help="training batch size (default: 128)")
    p.add_argument("--lr", action=PositiveFloat, help="SGD learning rate (default: 0.05)")
    p.add_argument("--steps", action=PositiveInt, help="PGD steps of training (default: 10)")
    p.add_argument("--eps-warmup", action=NonNegativeInt, help="epochs over which eps ramps up from 0 (default: 2)")
    p.add_argument("--seed", action=NonNegativeInt, help="seed of subsets, weights and attacks (default: 0)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: cpu)")
    p.add_argument("--force", action="store_true", help="retrain every run")
    return p


def _run_imbalance(args: argparse.Namespace) -> int:
    from labelrobust.analysis.imbalance import FIGURE, SUMMARY, run_imbalance
    from labelrobust.config import parse_override

    options = {
        "dataset": args.dataset, "pairs": _pairs(args.pairs), "ratio": args.ratio, "epochs": args.epochs, "eps": args.eps, "model": args.model,
        "model_options": dict(parse_override(o) for o in args.model_option) if args.model_option else None,
        "train_size": args.train_size, "val_size": args.val_size, "test_size": args.test_size, "batch_size": args.batch_size, "lr": args.lr,
        "steps": args.steps, "eps_warmup": args.eps_warmup, "seed": args.seed, "device": args.device,
    }
    out = run_imbalance(args.out, data_root=args.data_root, force=args.force, **{k: v for k, v in options.items() if v is not None})
    _written([out / SUMMARY, out / FIGURE])
    return 0


def _pairs(text: str | None) -> list[tuple[int | str, int | str]] | None:
    """``"0:7,cat:dog"`` → ``[(0, 7), ("cat", "dog")]``: digits are class indices, other words names."""
    if text is None:
        return None
    pairs = []
    for item in split_eps(text):
        parts = [part.strip() for part in item.split(":")]
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"--pairs: {item!r} is not a pair; write majority:minority, e.g. 0:7,3:5 or cat:dog")
        pairs.append(tuple(int(part) if part.isdigit() else part for part in parts))
    if not pairs:
        raise ConfigError("--pairs is empty; give pairs like 0:7,3:5")
    return pairs


ANALYSES = {
    "gap": (_add_gap, _run_gap),
    "score": (_add_score, _run_score),
    "entropy": (_add_entropy, _run_entropy),
    "embedding": (_add_embedding, _run_embedding),
    "toy": (_add_toy, _run_toy),
    "imbalance": (_add_imbalance, _run_imbalance),
}
