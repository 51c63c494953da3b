"""The Wasserstein label-space loss: closed form against Sinkhorn, forward + backward per batch.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/wasserstein_loss.py [--device cpu|cuda] [--n 128] [--sizes 10 100 200]
                                                  [--repeats 7] [--threads T] [--out result.json]

For each K, the label metric is the distances between K random points in the plane (seeded),
power p = 1, λ = 1, and the logits are N×K normal draws. Each setting times
``space.loss(z, targets).sum().backward()`` — the forward and backward of one batch, as a
training step or an inner attack step pays it — with the device synchronised around the call,
after one warm-up call, ``--repeats`` times; the table reports the median and its ratio to the
closed form's median.

Settings (``reg`` as a fraction of ``max C^p``; "defaults" = at most 1000 iterations, stop at an
L1 marginal error ≤ 1e-5):

- ``closed``: the closed form ``C^p_y · softmax(z)`` on one-hot targets (the reference);
- ``sinkhorn`` on **one-hot** targets (what WPGD's inner attack gives it): the only coupling is
  ``softmax(z)·e_yᵀ``, so the early stop fires after two iterations;
- ``sinkhorn`` on **soft** targets (Dirichlet(0.5) rows, what the closed form cannot take), at
  several reg / iteration settings; ``reg 0.01`` makes ``max C/ε = 100`` > 50, so float32 runs the
  N×K×K log-sum-exp path instead of the kernel product (``labelrobust.labels.sinkhorn.LogKernel``),
  with a fixed, small iteration count because autograd keeps O(iterations·N·K²) values there.

``iters`` is the number of iterations the solver ran (from ``log_sinkhorn`` on the same inputs).
``max |Δ| one-hot`` is the largest deviation of the Sinkhorn loss from the closed form on one-hot
targets at that setting (zero up to rounding: for a one-hot target the entropic plan is exact).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
try:
    import labelrobust  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

from labelrobust.labels import make_label_space  # noqa: E402
from labelrobust.labels.sinkhorn import log_sinkhorn, safe_log  # noqa: E402
from machine import available_cores, cpu_model, load_average, timed  # noqa: E402

# (label, targets, reg fraction of max C^p, iterations or None for the default, tol or None)
SETTINGS = [
    ("closed", "one-hot", None, None, None),
    ("sinkhorn reg 0.05, defaults", "one-hot", 0.05, None, None),
    ("sinkhorn reg 0.05, defaults", "soft", 0.05, None, None),
    ("sinkhorn reg 0.2, defaults", "soft", 0.2, None, None),
    ("sinkhorn reg 0.05, 20 iters fixed", "soft", 0.05, 20, 0.0),
    ("sinkhorn reg 0.05, 100 iters fixed", "soft", 0.05, 100, 0.0),
    ("sinkhorn reg 0.01 (logsumexp path), 20 iters fixed", "soft", 0.01, 20, 0.0),
]


def metric(k: int, seed: int = 0) -> np.ndarray:
    points = np.random.default_rng(seed).normal(size=(k, 2))
    return np.linalg.norm(points[:, None] - points[None], axis=2)


def build(k: int, cost: np.ndarray, fraction, iters, tol):
    if fraction is None:
        return make_label_space("wasserstein", k, cost=cost)
    settings = {"solver": "sinkhorn", "reg": fraction * float(cost.max())}
    if iters is not None:
        settings["sinkhorn_iters"] = iters
    if tol is not None:
        settings["sinkhorn_tol"] = tol
    return make_label_space("wasserstein", k, cost=cost, **settings)


def time_loss(space, z: torch.Tensor, targets: torch.Tensor, device: torch.device, repeats: int) -> list[float]:
    def step():
        logits = z.detach().requires_grad_(True)
        space.loss(logits, targets).sum().backward()
        return logits.grad

    step()  # warm-up
    return [timed(step, device)[0] * 1000 for _ in range(repeats)]


def iterations_run(space, z: torch.Tensor, targets: torch.Tensor) -> int | None:
    if space.solver == "closed":
        return None
    cost = space.constant("cost_power", z.device, z.dtype)
    with torch.no_grad():
        result = log_sinkhorn(torch.log_softmax(z, 1), safe_log(targets), cost, space.reg, iters=space.sinkhorn_iters, tol=space.sinkhorn_tol)
    return result.iterations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--n", type=int, default=128, help="batch size N")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 200], help="numbers of classes K")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the cores this process may use)")
    parser.add_argument("--out", type=Path, default=None, help="write every timing to this JSON file")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    threads = args.threads or available_cores()
    torch.set_num_threads(threads)
    machine = {
        "cpu": cpu_model(),
        "cores": available_cores(),
        "threads": threads,
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "torch": torch.__version__,
        "load_start": load_average(),
    }
    print(f"machine: {machine}", flush=True)

    rows = []
    for k in args.sizes:
        cost = metric(k)
        gen = torch.Generator().manual_seed(k)
        z = torch.randn(args.n, k, generator=gen).to(device)
        labels = torch.randint(0, k, (args.n,), generator=gen)
        torch.manual_seed(k)  # the soft targets (Dirichlet draws use the global generator)
        soft = torch.distributions.Dirichlet(torch.full((k,), 0.5)).sample((args.n,))
        soft = soft / soft.sum(1, keepdim=True)
        closed = make_label_space("wasserstein", k, cost=cost)
        onehot = closed.encode(labels).to(device)
        with torch.no_grad():
            closed_loss = closed.loss(z, onehot)
        reference = None
        for label, kind, fraction, iters, tol in SETTINGS:
            space = build(k, cost, fraction, iters, tol)
            targets = onehot if kind == "one-hot" else space.encode(soft).to(device)
            times = time_loss(space, z, targets, device, args.repeats)
            median = statistics.median(times)
            reference = median if reference is None else reference
            deviation = None
            if space.solver == "sinkhorn":
                with torch.no_grad():
                    deviation = float((space.loss(z, onehot) - closed_loss).abs().max())
            row = {
                "K": k, "setting": label, "targets": kind, "iters": iterations_run(space, z, targets),
                "ms": median, "ms_min": min(times), "ratio": median / reference, "max_dev_onehot": deviation, "times_ms": times,
            }
            rows.append(row)
            print(f"K={k:4d} {label:52s} {kind:8s} {median:9.2f} ms  ×{row['ratio']:.1f}", flush=True)
    machine["load_end"] = load_average()

    print()
    print(f"N = {args.n}, device {machine['device']}, {machine['threads']} torch threads, load average (1, 5, 15 min) "
          f"{machine['load_start']} at the start, {machine['load_end']} at the end")
    print()
    print("| K | setting | targets | iters | ms / batch (median) | × closed | max \\|Δ\\| one-hot |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for r in rows:
        dev = "—" if r["max_dev_onehot"] is None else f"{r['max_dev_onehot']:.1e}"
        its = "—" if r["iters"] is None else str(r["iters"])
        print(f"| {r['K']} | {r['setting']} | {r['targets']} | {its} | {r['ms']:.2f} | {r['ratio']:.1f} | {dev} |")
    if args.out:
        args.out.write_text(json.dumps({"machine": machine, "n": args.n, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
