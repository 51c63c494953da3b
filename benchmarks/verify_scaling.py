"""Where a verification query spends its time, and how the MILP grows with width and depth.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/verify_scaling.py [--widths 16,32,64,128] [--depths 1,2,3] \
        [--eps 0.02,0.04] [--n 10] [--timeout 60] [--workers 2] [--budget 1500] [--out result.json]

For every width × depth an ``fc`` network (Flatten → depth × (Linear(width) → ReLU) →
Linear(10)) is trained briefly on MNIST (``--epochs``, default 2, SGD lr 0.05, batch 64, seed
0) with ``labelrobust.training.train`` into ``--cache`` — trained, not random, so the ReLU
patterns are realistic — and the first ``--n`` test images are verified with the full
pipeline (``VerifyConfig(timeout=--timeout)``, otherwise the defaults) for the argmax
property at every L∞ ``--eps``.

Queries run image-major (image 0 of every network and eps, then image 1, …), each starting
only while the wall-clock ``--budget`` allows one more ``--timeout``; the ones that do not fit
are reported as skipped (every cell then has the same images, give or take one), never
estimated. The table per (width, depth, eps): mean seconds per stage (bounds = interval +
CROWN, attack, MILP, over all queries), the share decided without the MILP, the MILP's mean
time over the queries that reached it (split into LP tightening and solving), the binaries
(unstable ReLUs left after tightening, plus the objective's clause selectors) and the timeouts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from verify_common import REPO, Journal, machine_meta, run_jobs, stage_seconds, trained_run  # noqa: E402

from labelrobust.runs import load_run  # noqa: E402
from labelrobust.verify.campaign import QuerySpec, sample_query_parts  # noqa: E402
from labelrobust.verify.network import from_torch, reference_model  # noqa: E402
from labelrobust.verify.pipeline import Query, VerifyConfig  # noqa: E402
from machine import load_average  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="16,32,64,128", help="hidden widths (default 16,32,64,128)")
    p.add_argument("--depths", default="1,2,3", help="hidden layer counts (default 1,2,3)")
    p.add_argument("--eps", default="0.02,0.04", help="comma-separated L∞ radii (default 0.02,0.04)")
    p.add_argument("--n", type=int, default=10, help="first N test images per network and eps (default 10)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per query (default 60)")
    p.add_argument("--epochs", type=int, default=2, help="training epochs per network (default 2)")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "labelrobust-verify-scaling", help="trained networks are kept here (run directories)")
    p.add_argument("--data-root", type=Path, default=Path(os.environ.get("LABELROBUST_DATA_ROOT", REPO.parent / "shared" / "datasets")))
    p.add_argument("--workers", type=int, default=1, help="worker processes, one query each (default 1)")
    p.add_argument("--budget", type=float, default=1500.0, help="wall seconds for the queries, training excluded (default 1500 = 25 min; 0 = no limit)")
    p.add_argument("--seed", type=int, default=0, help="training and attack seed (default 0)")
    p.add_argument("--out", type=Path, default=None, help="write every record and the summary as JSON here (records also go to FILE.partial.jsonl as they finish)")
    p.add_argument("--resume", action="store_true", help="reuse the records of FILE.partial.jsonl (same settings) from a run that was stopped")
    args = p.parse_args(argv)
    args.widths, args.depths = _ints(args.widths), _ints(args.depths)
    args.eps = [float(e) for e in args.eps.split(",") if e.strip()]
    return args


def networks(args, log) -> dict:
    """(width, depth) → (experiment, training info), trained on first use."""
    out = {}
    for depth in args.depths:
        for width in args.widths:
            overrides = [
                ("data.name", "mnist"), ("data.root", str(args.data_root)), ("model.name", "fc"),
                ("model.options.hidden", width), ("model.options.depth", depth), ("epochs", args.epochs),
                ("optim.lr", 0.05), ("batch_size", 64), ("seed", args.seed),
            ]
            run_dir, info = trained_run(args.cache, f"mnist-fc{width}x{depth}-e{args.epochs}-s{args.seed}", overrides, log)
            out[(width, depth)] = (load_run(run_dir, device="cpu"), info)
    return out


def build_jobs(args, nets: dict) -> list:
    config = VerifyConfig(timeout=args.timeout, seed=args.seed)
    prepared = {}
    for key, (exp, _) in nets.items():
        prepared[key] = (exp, from_torch(exp.model, exp.dataset.input_shape), reference_model(exp.model))
    jobs = []
    for i in range(args.n):
        for eps in args.eps:
            for (width, depth), (exp, network, reference) in prepared.items():
                test = exp.dataset.test
                box, prop = sample_query_parts(test, i, QuerySpec(property="argmax", eps=eps), network.num_outputs, exp.dataset.domain)
                query = Query(network, reference, exp.model, box, prop, "cpu", label=f"sample {i}")
                info = {"label": f"fc {width}x{depth} eps {eps:g} image {i}", "width": width, "depth": depth, "eps": eps, "index": i}
                jobs.append(((width, depth, eps, i), query, config, info, True))
    return jobs


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summarise(records: list[dict]) -> dict:
    n = len(records)
    stages = [stage_seconds(r) for r in records]
    reached = [r for r in records if r["milp"] is not None]
    return {
        "n": n,
        "robust": sum(r["status"] == "robust" for r in records),
        "not_robust": sum(r["status"] == "not robust" for r in records),
        "unknown": sum(r["status"] == "unknown" for r in records),
        "timeouts": sum(r["reason"] == "timeout" for r in records),
        "mean_seconds": _mean([r["seconds"] for r in records]),
        "mean_cpu_seconds": _mean([r["cpu_seconds"] for r in records]),
        "mean_bounds_seconds": _mean([s["bounds"] for s in stages]),
        "mean_attack_seconds": _mean([s["attack"] for s in stages]),
        "mean_milp_seconds_all": _mean([s["milp"] for s in stages]),
        "decided_without_milp": sum(r["status"] != "unknown" and r["stage"] != "milp" for r in records),
        "share_without_milp": sum(r["status"] != "unknown" and r["stage"] != "milp" for r in records) / n if n else None,
        "reached_milp": len(reached),
        "milp_decided": sum(r["status"] != "unknown" for r in reached),
        "milp_mean_seconds": _mean([r["times"].get("milp") for r in reached]),
        "milp_max_seconds": max((r["times"].get("milp", 0.0) for r in reached), default=None),
        "milp_mean_tightening_seconds": _mean([r["milp"]["tightening"]["time"] for r in reached]),
        "milp_mean_solve_seconds": _mean([r["milp"]["solve_seconds"] for r in reached]),
        "milp_mean_binaries": _mean([r["milp"]["binaries"] for r in reached]),
        "milp_mean_relu_binaries": _mean([r["milp"]["relu_binaries"] for r in reached]),
        "milp_mean_nodes": _mean([r["milp"]["nodes"] for r in reached]),
        "mean_unstable_crown": _mean([sum(r["unstable_crown"] or r["unstable_interval"] or [0]) for r in records]),
    }


def _f(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(meta, rows: list[dict], per_net: list[dict], skipped: list):
    print()
    print(f"machine: {meta['cpu_model']}, {meta['cores_available']} cores; torch {meta['torch']}, highspy {meta['highspy']}, python {meta['python']}")
    print(f"load average (1/5/15 min): {meta['load_average_start']} at start, {meta['load_average_end']} at end; {meta['workers']} worker(s), 1 thread each; "
          f"queries {meta['query_wall_seconds']:.0f} s wall, training {meta['training_wall_seconds']:.0f} s")
    print(f"fc networks on MNIST ({meta['epochs']} epochs each); argmax property, L∞ eps over [0,1], first {meta['n']} test images, {meta['timeout']:g} s per query, VerifyConfig() otherwise")
    print()
    print("| width | depth | test acc | eps | queries | robust / not / unknown | bounds s | attack s | MILP s (all) | without MILP | reached MILP | MILP s (reached) | tighten s | solve s | max MILP s | binaries | B&B nodes | unstable after CROWN | timeouts | cpu/wall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["summary"]
        ratio = s["mean_cpu_seconds"] / s["mean_seconds"] if s["mean_seconds"] else None
        print(f"| {r['width']} | {r['depth']} | {_f(r['test_accuracy'], 3)} | {r['eps']:g} | {s['n']} | {s['robust']} / {s['not_robust']} / {s['unknown']} | "
              f"{_f(s['mean_bounds_seconds'], 3)} | {_f(s['mean_attack_seconds'], 3)} | {_f(s['mean_milp_seconds_all'])} | {100 * s['share_without_milp']:.0f}% | "
              f"{s['reached_milp']} | {_f(s['milp_mean_seconds'])} | {_f(s['milp_mean_tightening_seconds'])} | {_f(s['milp_mean_solve_seconds'])} | {_f(s['milp_max_seconds'])} | "
              f"{_f(s['milp_mean_binaries'], 0)} | {_f(s['milp_mean_nodes'], 0)} | {_f(s['mean_unstable_crown'], 0)} | {s['timeouts']} | {_f(ratio)} |")
    print()
    print("Both eps together, per network (MILP columns over the queries that reached it):")
    print()
    print("| width | depth | queries | without MILP | reached MILP | decided by MILP | MILP mean s | binaries | timeouts |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in per_net:
        s = r["summary"]
        print(f"| {r['width']} | {r['depth']} | {s['n']} | {100 * s['share_without_milp']:.0f}% | {s['reached_milp']} | {s['milp_decided']} | {_f(s['milp_mean_seconds'])} | "
              f"{_f(s['milp_mean_binaries'], 0)} | {s['timeouts']} |")
    if skipped:
        print()
        print(f"skipped for the wall budget (not run, not estimated): {len(skipped)} queries, images {sorted({k[3] for k in skipped})}")


def journal(args) -> Journal:
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k in ['widths', 'depths', 'eps', 'n', 'timeout', 'epochs', 'cache', 'seed']}
    return Journal(args.out, settings, args.resume)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:7.1f}s] {msg}", flush=True)

    meta = machine_meta(sys.argv if argv is None else ["benchmarks/verify_scaling.py", *argv])
    log(f"load average {meta['load_average_start']} on {meta['cores_available']} cores ({meta['cpu_model']})")
    nets = networks(args, log)
    trained = time.perf_counter()
    jobs = build_jobs(args, nets)
    log(f"{len(jobs)} queries, {args.workers} worker(s), budget {args.budget:g} s")
    results, skipped = run_jobs(jobs, args.workers, args.budget or None, trained, log, journal(args))
    meta.update(load_average_end=load_average(), training_wall_seconds=trained - started, query_wall_seconds=time.perf_counter() - trained,
                workers=args.workers, n=args.n, timeout=args.timeout, eps=args.eps, widths=args.widths, depths=args.depths,
                epochs=args.epochs, budget=args.budget, seed=args.seed,
                training={f"{w}x{d}": info for (w, d), (_, info) in nets.items()})
    records = [results[key] for key, *_ in jobs if key in results]
    rows, per_net = [], []
    for (width, depth), (_, info) in nets.items():
        mine = [r for r in records if r["width"] == width and r["depth"] == depth]
        if mine:
            per_net.append({"width": width, "depth": depth, "summary": summarise(mine)})
        for eps in args.eps:
            cell = [r for r in mine if r["eps"] == eps]
            if cell:
                rows.append({"width": width, "depth": depth, "eps": eps, "test_accuracy": info.get("test_accuracy"), "summary": summarise(cell)})
    print_report(meta, rows, per_net, skipped)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        out = {"meta": meta, "rows": rows, "per_network": per_net,
               "skipped": [{"width": w, "depth": d, "eps": e, "index": i} for w, d, e, i in skipped], "records": records}
        args.out.write_text(json.dumps(out, indent=1))
        print(f"\nJSON written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
