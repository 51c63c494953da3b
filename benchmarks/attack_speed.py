"""PGD evaluation speed: labelrobust's PGD against ``torchattacks.PGD``, and against the floor.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/attack_speed.py [--quick] [--device cpu|cuda] [--out result.json]

Two measurements, both on MNIST (the real files under ``--data-root``) with the ``mnist-cnn`` model:

1. **Evaluation wall time.** PGD-K robust accuracy of the same model on the same test images
   with the same eps, steps, step size, random start and batch size, once with
   ``labelrobust`` (``make_attack("pgd", ...)``, active set on) and once with
   ``torchattacks.PGD`` followed by a prediction on its output. Both are timed end to end
   (attack plus the prediction that gives robust accuracy), interleaved in one process,
   median over ``--repeats``. Done for two models:

   - *standard*: trained with ``labelrobust.training.train`` (cross-entropy, no attack);
   - *adversarial*: trained with ``labelrobust.training.train``, method ``at`` (Madry PGD-AT).

   Targets (from the issue): time ratio labelrobust / torchattacks ≤ 0.5 on the standard
   model and ≤ 1.0 on the adversarial one, each at a robust accuracy no higher than
   torchattacks' + 0.5 points.

2. **Cost of one PGD step against the floor.** On one batch, the time of labelrobust's PGD with
   ``early_stop=False`` (full trajectories, no active set) divided by K, against the time of one
   forward pass + ``torch.autograd.grad`` with respect to the input (the least any gradient
   step must cost), and against one forward + full backward (parameter gradients too).
   Target: ≤ 1.1× the input-gradient floor.

Trained weights are cached as safetensors under ``--cache`` (nothing is pickled).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
try:
    import labelrobust  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

from labelrobust.attacks import make_attack  # noqa: E402
from labelrobust.config import load_config  # noqa: E402
from labelrobust.data import load_dataset  # noqa: E402
from labelrobust.runs import load_run  # noqa: E402
from labelrobust.training import train  # noqa: E402
from machine import available_cores, cpu_model, load_average, timed  # noqa: E402

ROBUST_ACC_SLACK = 0.5  # points: ours may be at most this much above torchattacks'
TARGET_RATIO = {"standard": 0.5, "adversarial": 1.0}
TARGET_STEP_FLOOR = 1.1


def median_time(fn, device: torch.device, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        timed(fn, device)
    return [timed(fn, device)[0] for _ in range(repeats)]


# -- models ----------------------------------------------------------------------------------


def key_of(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def trained_model(kind: str, args, cache: Path, device: torch.device, log):
    """The ``kind`` model (standard or adversarial), trained with ``labelrobust.training.train``
    and cached as a run directory whose name hashes the training settings."""
    if kind == "standard":
        epochs, method = args.std_epochs, [("method.name", "standard")]
    else:  # Madry PGD-AT, eps ramped up over the first epoch so the small CNN does not stall
        epochs = args.at_epochs
        method = [("method.name", "at"), ("method.params.eps", args.at_eps), ("method.params.steps", args.at_steps), ("method.params.eps_warmup", 1)]
    overrides = [
        ("data.name", "mnist"),
        ("data.root", str(args.data_root)),
        ("model.name", "mnist-cnn"),
        ("labels.name", "onehot"),
        ("epochs", epochs),
        ("batch_size", 128),
        ("optim.lr", 0.05),
        ("seed", args.seed),
        ("device", str(device)),
        *method,
    ]
    name = f"{kind}-mnist-cnn-{key_of(dict(overrides[2:]))}"
    run_dir = cache / name
    info = {"trainer": "labelrobust.training.train", "run_dir": str(run_dir), "settings": dict(overrides)}
    if (run_dir / "summary.json").is_file():
        log(f"{kind} model: cached in {run_dir}")
        info["cached"] = True
    else:
        cfg = load_config(None, overrides + [("out", str(cache)), ("name", name)])
        log(f"{kind} model: training {epochs} epoch(s) with labelrobust.training.train ({dict(method)}) ...")
        seconds, _ = timed(lambda: train(cfg, quiet=True, resume=(run_dir / "checkpoint.safetensors").is_file()), device)
        log(f"{kind} model: trained in {seconds:.1f} s -> {run_dir}")
        info.update(cached=False, train_seconds=round(seconds, 2))
    exp = load_run(run_dir)
    exp.model.to(device).eval()
    return exp.model, exp.space, info


# -- the two evaluations ---------------------------------------------------------------------


def batch_labelrobust(attack, model, space, xb, yb):
    """Robust samples of one batch as labelrobust reports them (not ``success``), and steps spent."""
    result = attack(model, space, xb, yb)
    return int((~result.success).sum()), result.cost.gradients


def batch_torchattacks(attack, model, xb, yb):
    """Robust samples of one batch with torchattacks: its adversarial batch, then one prediction."""
    adv = attack(xb, yb)
    with torch.no_grad():
        return int((model(adv).argmax(1) == yb).sum()), None


class CountForwards:
    """Counts the samples pushed through the model's forward pass (used untimed, on the warm-up)."""

    def __init__(self, model):
        self.samples = 0
        self.handle = model.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        self.samples += inputs[0].shape[0]

    def close(self):
        self.handle.remove()


def spread(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "times_s": times}


def compare(kind, model, space, x, y, args, device, log):
    """Target 1: labelrobust vs torchattacks end-to-end PGD-K evaluation on ``model``.

    Each repeat attacks the whole test subset with both libraries. The two are interleaved batch
    by batch (alternating which goes first), so a change in machine load hits both alike; a
    repeat's time for a library is the sum of its batch times.
    """
    import torchattacks

    ours = make_attack("pgd", norm="linf", eps=args.eps, steps=args.steps, step_size=args.step_size, random_start=True)
    theirs = torchattacks.PGD(model, eps=args.eps, alpha=args.step_size, steps=args.steps, random_start=True)
    bs = args.batch_size
    batches = [(x[i : i + bs], y[i : i + bs]) for i in range(0, len(x), bs)]
    run = {
        "labelrobust": lambda xb, yb: batch_labelrobust(ours, model, space, xb, yb),
        "torchattacks": lambda xb, yb: batch_torchattacks(theirs, model, xb, yb),
    }
    with torch.no_grad():
        clean = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in batches) / len(x)

    # warm-up on the first batch; count the samples each library pushes through the model
    counter = CountForwards(model)
    forwards = {}
    for lib in run:
        counter.samples = 0
        run[lib](*batches[0])
        forwards[lib] = counter.samples / len(batches[0][0])
    counter.close()

    records = {lib: [] for lib in run}
    k = 0
    for r in range(args.repeats):
        seconds = {lib: 0.0 for lib in run}
        robust = {lib: 0 for lib in run}
        steps = 0
        for b, (xb, yb) in enumerate(batches):
            order = list(run) if k % 2 == 0 else list(reversed(run))
            k += 1
            for lib in order:
                torch.manual_seed(args.seed + 1000 * r + b)
                t, (n_robust, spent) = timed(lambda: run[lib](xb, yb), device)  # noqa: B023  (called at once)
                seconds[lib] += t
                robust[lib] += n_robust
                steps += spent or 0
        for lib in run:
            records[lib].append({"seconds": seconds[lib], "robust_acc": robust[lib] / len(x)})
        records["labelrobust"][-1]["gradient_steps"] = steps
        log(f"  {kind:11s} repeat {r + 1}/{args.repeats}: "
            + ", ".join(f"{lib} {seconds[lib]:.2f} s (robust {100 * robust[lib] / len(x):.2f}%)" for lib in run))

    def summary(lib):
        accs = [rec["robust_acc"] for rec in records[lib]]
        return spread([rec["seconds"] for rec in records[lib]]) | {"robust_acc_mean": statistics.fmean(accs), "robust_acc": accs}

    s_ours, s_theirs = summary("labelrobust"), summary("torchattacks")
    ratio = s_ours["median_s"] / s_theirs["median_s"]
    ratio_min = s_ours["min_s"] / s_theirs["min_s"]
    paired = statistics.median(a["seconds"] / b["seconds"] for a, b in zip(records["labelrobust"], records["torchattacks"]))
    acc_gap = 100 * (s_ours["robust_acc_mean"] - s_theirs["robust_acc_mean"])
    target = TARGET_RATIO[kind]
    return {
        "model": kind,
        "clean_acc": clean,
        "labelrobust": s_ours,
        "torchattacks": s_theirs,
        "gradient_steps_labelrobust": [rec["gradient_steps"] for rec in records["labelrobust"]],
        "forwards_per_sample_warmup_batch": forwards,
        "time_ratio": ratio,
        "time_ratio_of_mins": ratio_min,
        "time_ratio_paired_median": paired,
        "robust_acc_gap_points": acc_gap,
        "target_ratio": target,
        "time_target_met": ratio <= target,
        "accuracy_condition_met": acc_gap <= ROBUST_ACC_SLACK,
        "target_met": ratio <= target and acc_gap <= ROBUST_ACC_SLACK,
    }


def step_cost(kind, model, space, x, y, args, device, log):
    """Target 2: one step of labelrobust PGD (early_stop=False) against forward+backward.

    Rounds of (forward, forward+grad(x), forward+full backward) × ``--floor-repeats`` followed
    by one whole PGD-K run, so floor and PGD are measured under the same machine load.
    """
    xb, yb = x[: args.batch_size], y[: args.batch_size]
    full_pgd = make_attack("pgd", norm="linf", eps=args.eps, steps=args.steps, step_size=args.step_size, early_stop=False)
    last = {}

    def pgd_run():
        last["result"] = full_pgd(model, space, xb, yb)

    def input_grad():
        xi = xb.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xi), yb, reduction="sum"), xi)
        return g

    def full_backward():
        model.zero_grad(set_to_none=True)
        xi = xb.detach().requires_grad_(True)
        F.cross_entropy(model(xi), yb, reduction="sum").backward()
        return xi.grad

    def forward_only():
        with torch.no_grad():
            return model(xb)

    floors = {"forward_only": forward_only, "input_grad": input_grad, "full_backward": full_backward}
    times = {name: [] for name in [*floors, "pgd"]}
    for fn in [*floors.values(), pgd_run]:  # warm-up
        timed(fn, device)
    for _ in range(args.pgd_repeats):
        for _ in range(args.floor_repeats):
            for name, fn in floors.items():
                times[name].append(timed(fn, device)[0])
        times["pgd"].append(timed(pgd_run, device)[0])
    model.zero_grad(set_to_none=True)
    spent = last["result"].cost.gradients // max(1, len(last["result"].pred))
    med = {name: statistics.median(t) for name, t in times.items()}
    mins = {name: min(t) for name, t in times.items()}
    per_step, per_step_min = med["pgd"] / args.steps, mins["pgd"] / args.steps
    result = {
        "model": kind,
        "batch_size": len(xb),
        "steps": args.steps,
        "pgd_gradient_evaluations": spent,
        "times_s": times,
        "median_s": med,
        "min_s": mins,
        "per_step_s": per_step,
        "per_step_min_s": per_step_min,
        "per_gradient_evaluation_s": med["pgd"] / spent,
        "ratio_step_vs_input_grad": per_step / med["input_grad"],
        "ratio_step_vs_input_grad_of_mins": per_step_min / mins["input_grad"],
        "ratio_step_vs_full_backward": per_step / med["full_backward"],
        "ratio_step_vs_full_backward_of_mins": per_step_min / mins["full_backward"],
        "ratio_gradient_evaluation_vs_input_grad": med["pgd"] / spent / med["input_grad"],
        "target_ratio": TARGET_STEP_FLOOR,
        "target_met": per_step / med["input_grad"] <= TARGET_STEP_FLOOR,
    }
    log(f"  {kind:11s} PGD step {1e3 * per_step:.1f} ms; fwd+grad(x) {1e3 * med['input_grad']:.1f} ms, "
        f"fwd+full bwd {1e3 * med['full_backward']:.1f} ms, fwd {1e3 * med['forward_only']:.1f} ms (medians)")
    return result


# -- main ------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small run: fewer test images, epochs and repeats")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the cores this process may use)")
    p.add_argument("--data-root", type=Path, default=Path(os.environ.get("LABELROBUST_DATA_ROOT", REPO.parent / "shared" / "datasets")))
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "labelrobust-attack-speed", help="trained weights (safetensors) are kept here")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--models", default="standard,adversarial", help="comma-separated subset of standard,adversarial")
    p.add_argument("--eps", type=float, default=0.3)
    p.add_argument("--steps", type=int, default=10, help="K of PGD-K in the evaluation")
    p.add_argument("--step-size", type=float, default=None, help="default 2.5·eps/steps")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--n-eval", type=int, default=None, help="test images attacked (default 1000, --quick 250)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats of each evaluation (default 3)")
    p.add_argument("--floor-repeats", type=int, default=3, help="floor timings per round (one round per PGD run)")
    p.add_argument("--pgd-repeats", type=int, default=5, help="timed early_stop=False PGD runs (rounds)")
    p.add_argument("--std-epochs", type=int, default=None, help="standard training epochs (default 4, --quick 2)")
    p.add_argument("--at-epochs", type=int, default=None, help="PGD-AT epochs (default 3, --quick 1)")
    p.add_argument("--at-steps", type=int, default=5, help="PGD steps inside PGD-AT")
    p.add_argument("--at-eps", type=float, default=None, help="PGD-AT eps (default --eps)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.n_eval = args.n_eval or (250 if args.quick else 1000)
    args.repeats = args.repeats or 3
    args.std_epochs = args.std_epochs or (2 if args.quick else 4)
    args.at_epochs = args.at_epochs or (1 if args.quick else 3)
    args.at_eps = args.eps if args.at_eps is None else args.at_eps
    args.step_size = 2.5 * args.eps / args.steps if args.step_size is None else args.step_size
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if unknown := set(args.models) - set(TARGET_RATIO):
        p.error(f"unknown model kind(s) {sorted(unknown)}; use standard, adversarial")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import torchattacks

    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device is available", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    threads = args.threads or available_cores()
    torch.set_num_threads(threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:7.1f}s] {msg}", flush=True)

    meta = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cpu_model": cpu_model(),
        "cores_available": available_cores(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchattacks": torchattacks.__version__,
        "python": platform.python_version(),
        "load_average_start": load_average(),
        "model": "mnist-cnn",
        "dataset": "mnist",
        "eps": args.eps,
        "steps": args.steps,
        "step_size": args.step_size,
        "random_start": True,
        "batch_size": args.batch_size,
        "n_eval": args.n_eval,
        "repeats": args.repeats,
        "quick": args.quick,
    }
    log(f"torch {torch.__version__} (threads {torch.get_num_threads()} of {available_cores()} cores), torchattacks {torchattacks.__version__}, device {device}, CPU {meta['cpu_model']}")
    log(f"load average {meta['load_average_start']}")

    data = load_dataset("mnist", root=args.data_root, test_size=args.n_eval, seed=args.seed)
    x = data.test.float_images().to(device)
    y = data.test.labels.to(device)
    log(f"MNIST: {len(data.train)} training images, {len(x)} test images attacked; PGD-{args.steps}, eps {args.eps:g}, step {args.step_size:g}, batch {args.batch_size}")

    models = {kind: trained_model(kind, args, args.cache, device, log) for kind in args.models}

    comparisons, floors = [], []
    for kind, (model, space, info) in models.items():
        log(f"{kind}: end-to-end evaluation, labelrobust vs torchattacks ...")
        comparisons.append(compare(kind, model, space, x, y, args, device, log) | {"training": info})
    for kind, (model, space, _) in models.items():
        log(f"{kind}: one PGD step vs the forward+backward floor ...")
        floors.append(step_cost(kind, model, space, x, y, args, device, log))
    meta["load_average_end"] = load_average()
    meta["total_seconds"] = round(time.perf_counter() - started, 1)

    print_report(meta, comparisons, floors)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"meta": meta, "evaluation": comparisons, "step_cost": floors}, indent=2))
        print(f"\nJSON written to {args.out}")
    return 0


def yes(flag: bool) -> str:
    return "MET" if flag else "NOT MET"


def print_report(meta, comparisons, floors):
    print()
    print(f"machine: {meta['cpu_model']}, {meta['cores_available']} cores, torch threads {meta['torch_threads']}, device {meta['device']}"
          + (f" ({meta['gpu']})" if meta["gpu"] else ""))
    print(f"torch {meta['torch']}, torchattacks {meta['torchattacks']}, python {meta['python']}; "
          f"load average (1/5/15 min) {meta['load_average_start']} at start, {meta['load_average_end']} at end")
    print(f"model mnist-cnn on MNIST; L∞ eps {meta['eps']:g}, PGD-{meta['steps']}, step {meta['step_size']:g}, random start, batch {meta['batch_size']}")
    if comparisons:
        print()
        print(f"1. PGD-{meta['steps']} evaluation of {meta['n_eval']} test images, attack + prediction, "
              f"median of {meta['repeats']} repeats (ratio = labelrobust / torchattacks)")
        head = (f"{'model':<12}{'clean':>7}{'ours s':>8}{'tatk s':>8}{'ratio':>7}{'(min)':>7}{'target':>7}"
                f"{'rob ours':>9}{'rob tatk':>9}{'gap pt':>8}{'fwd/img':>10}  result")
        print(head)
        print("-" * (len(head) + 30))
        for c in comparisons:
            fw = c["forwards_per_sample_warmup_batch"]
            print(f"{c['model']:<12}{100 * c['clean_acc']:>6.1f}%{c['labelrobust']['median_s']:>8.2f}{c['torchattacks']['median_s']:>8.2f}"
                  f"{c['time_ratio']:>7.2f}{c['time_ratio_of_mins']:>7.2f}{'≤' + format(c['target_ratio'], 'g'):>7}"
                  f"{100 * c['labelrobust']['robust_acc_mean']:>8.2f}%{100 * c['torchattacks']['robust_acc_mean']:>8.2f}%"
                  f"{c['robust_acc_gap_points']:>+8.2f}{fw['labelrobust']:>5.1f}/{fw['torchattacks']:<4.1f}  "
                  f"time {yes(c['time_target_met'])}, accuracy {yes(c['accuracy_condition_met'])}")
    if floors:
        f0 = floors[0]
        print()
        print(f"2. One PGD step (labelrobust, early_stop=False: whole run / {f0['steps']}) vs one forward+backward of the same "
              f"batch of {f0['batch_size']} (medians; (min) = ratio of minimums)")
        head = (f"{'model':<12}{'step ms':>8}{'fwd+grad(x)':>12}{'ratio':>7}{'(min)':>7}{'fwd+full bwd':>13}{'ratio':>7}{'(min)':>7}"
                f"{'fwd ms':>8}{'grad evals':>11}  result (≤{TARGET_STEP_FLOOR:g}× fwd+grad(x))")
        print(head)
        print("-" * len(head))
        for f in floors:
            print(f"{f['model']:<12}{1e3 * f['per_step_s']:>8.1f}{1e3 * f['median_s']['input_grad']:>12.1f}{f['ratio_step_vs_input_grad']:>7.2f}"
                  f"{f['ratio_step_vs_input_grad_of_mins']:>7.2f}{1e3 * f['median_s']['full_backward']:>13.1f}{f['ratio_step_vs_full_backward']:>7.2f}"
                  f"{f['ratio_step_vs_full_backward_of_mins']:>7.2f}{1e3 * f['median_s']['forward_only']:>8.1f}{f['pgd_gradient_evaluations']:>11d}  "
                  f"{yes(f['target_met'])}")
    print(f"\n(total {meta['total_seconds']} s)")


if __name__ == "__main__":
    sys.exit(main())
