"""PGD-AT training throughput: labelrobust's training loop against a minimal hand-written loop.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/train_speed.py [--repeats 3] [--device cpu|cuda] [--out result.json]

Both sides train the same ``mnist-cnn`` from the same initial weights on the same MNIST
training images (the real files under ``--data-root``), one epoch of Madry PGD adversarial
training each: batch 128, L∞ eps 0.3 (``--eps``), PGD-10 (``--steps``) with step 2.5·eps/K from
a uniform random start, the last iterate trained on with cross-entropy, SGD (lr 0.05, momentum
0.9, weight decay 5e-4), the inner attack with the model in eval mode.

- *labelrobust*: ``labelrobust.training.train`` with ``method: at``, timed twice: the epoch as
  the loop records it in ``metrics.jsonl`` (``seconds``: batches only, the figure the target is
  about) and the whole call (data loading, model building, checkpoint and weight files).
  It also logs the adversarial training accuracy and the PM / CL-PM diagnostics of every
  batch, and the clean accuracy of the end-of-epoch model on 1,024 training images, which the
  minimal loop does not.
- *minimal*: the loop below, ``minimal_madry_epoch``: nothing but the PGD steps, the forward,
  the backward and the optimiser step.

``--precision bf16|fp16`` and ``--channels-last`` apply to both sides (autocast, loss scaling
for fp16, N×H×W×C layout), for GPU images/s; on a CPU, bf16 pays off only with bfloat16
instructions (AVX512-BF16, AMX), and fp16 is slow.

The two alternate (``--repeats`` each, the first of each discarded as warm-up when
``--repeats`` > 1). Target (issue 4): labelrobust's throughput ≥ 0.95× the minimal loop's.
"""

from __future__ import annotations

import argparse
import datetime
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

from labelrobust.config import load_config  # noqa: E402
from labelrobust.data import load_dataset  # noqa: E402
from labelrobust.models import build_model  # noqa: E402
from labelrobust.runs import read_metrics  # noqa: E402
from labelrobust.training import train  # noqa: E402
from labelrobust.training.loop import epoch_order  # noqa: E402
from labelrobust.training.precision import PRECISIONS  # noqa: E402
from machine import available_cores, cpu_model, load_average, timed  # noqa: E402

TARGET = 0.95


def minimal_madry_epoch(model, x_train, y_train, order, *, eps, steps, batch_size, device, dtype=None, channels_last=False):
    """MINIMAL HAND-WRITTEN MADRY PGD-AT EPOCH, the peer: no validation, logging or files.
    ``dtype``: autocast dtype (None: float32); ``channels_last``: N×H×W×C weights and inputs."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
    alpha = 2.5 * eps / steps
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=layout)

    def mixed_forward(x):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            return model(x.contiguous(memory_format=layout)).float()

    forward = model if dtype is None and not channels_last else mixed_forward  # float32: nothing in between
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        x, y = x_train[idx].to(device), y_train[idx].to(device)
        model.eval()
        x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0.0, 1.0)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(forward(x_adv), y), x_adv)
            x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0.0, 1.0)
        model.train()
        loss = F.cross_entropy(forward(x_adv), y)
        opt.zero_grad(set_to_none=True)
        if scaler.is_enabled():
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--data-root", type=Path, default=Path(os.environ.get("LABELROBUST_DATA_ROOT", REPO.parent / "shared" / "datasets")))
    p.add_argument("--eps", type=float, default=0.3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3, help="timed epochs of each side")
    p.add_argument("--precision", default="fp32", choices=sorted(PRECISIONS), help="training precision of both sides")
    p.add_argument("--channels-last", action="store_true", help="N×H×W×C layout on both sides")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    torch.set_num_threads(args.threads or available_cores())
    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:7.1f}s] {msg}", flush=True)

    data = load_dataset("mnist", root=args.data_root, test_size=100, seed=args.seed)
    x_train, y_train = data.train.float_images(), data.train.labels
    n = len(x_train)
    order = epoch_order(args.seed, 0, n)  # the batch order labelrobust's first epoch uses
    log(f"MNIST {n} training images, batch {args.batch_size}, PGD-{args.steps} at eps {args.eps}, device {device}, "
        f"precision {args.precision}{' channels-last' if args.channels_last else ''}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), CPU {cpu_model()}, load {load_average()}")

    out_root = Path(tempfile.mkdtemp(prefix="labelrobust-train-speed-"))
    ours_epoch, ours_call, minimal = [], [], []
    for r in range(args.repeats):
        cfg = load_config(None, [
            ("data.name", "mnist"), ("data.root", str(args.data_root)), ("data.test_size", 100), ("model.name", "mnist-cnn"),
            ("method.name", "at"), ("method.params.eps", args.eps), ("method.params.steps", args.steps), ("epochs", 1),
            ("batch_size", args.batch_size), ("optim.lr", 0.05), ("seed", args.seed), ("device", str(device)),
            ("out", str(out_root)), ("name", f"ours-{r}"), ("precision", args.precision), ("channels_last", args.channels_last),
        ])
        seconds, run_dir = timed(lambda: train(cfg, quiet=True), device)  # noqa: B023  (called at once)
        ours_call.append(seconds)
        ours_epoch.append(read_metrics(run_dir)[0]["seconds"])
        torch.manual_seed(args.seed)
        model = build_model("mnist-cnn", input_shape=data.input_shape, out_dim=data.num_classes, mean=data.mean, std=data.std).to(device)
        seconds, _ = timed(lambda: minimal_madry_epoch(model, x_train, y_train, order, eps=args.eps, steps=args.steps, batch_size=args.batch_size, device=device,  # noqa: B023  (called at once)
                                                       dtype=PRECISIONS[args.precision], channels_last=args.channels_last), device)
        minimal.append(seconds)
        log(f"repeat {r + 1}/{args.repeats}: labelrobust epoch {ours_epoch[-1]:.2f} s (whole call {ours_call[-1]:.2f} s), minimal loop {minimal[-1]:.2f} s")

    keep = slice(1, None) if args.repeats > 1 else slice(None)
    med = {k: statistics.median(v[keep]) for k, v in {"ours_epoch": ours_epoch, "ours_call": ours_call, "minimal": minimal}.items()}
    ratio_epoch = med["minimal"] / med["ours_epoch"]  # throughput ratio = inverse time ratio
    ratio_call = med["minimal"] / med["ours_call"]
    result = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "device": str(device), "cpu_model": cpu_model(), "cores": available_cores(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "python": platform.python_version(), "load_average_end": load_average(),
        "images": n, "batch_size": args.batch_size, "precision": args.precision, "channels_last": args.channels_last, "eps": args.eps, "steps": args.steps,
        "seconds": {"ours_epoch": ours_epoch, "ours_call": ours_call, "minimal": minimal}, "median": med,
        "images_per_s": {k: n / v for k, v in med.items()},
        "throughput_ratio_epoch": ratio_epoch, "throughput_ratio_call": ratio_call,
        "target": TARGET, "met": ratio_epoch >= TARGET,
    }
    print()
    print(f"{'':14}{'median s':>10}{'images/s':>10}{'vs minimal':>12}")
    for key, label in (("minimal", "minimal loop"), ("ours_epoch", "labelrobust"), ("ours_call", "  whole call")):
        print(f"{label:14}{med[key]:10.2f}{n / med[key]:10.1f}{med['minimal'] / med[key]:12.3f}")
    print(f"\nthroughput labelrobust / minimal = {ratio_epoch:.3f} (target ≥ {TARGET}): {'MET' if result['met'] else 'NOT MET'}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
        print(f"JSON written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
