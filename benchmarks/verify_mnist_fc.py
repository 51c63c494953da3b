"""Single-label verification baseline: an MNIST fully connected ReLU network (issue 10).

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/verify_mnist_fc.py [--run RUN_DIR] [--eps 0.03,0.05] [--n 15] \
        [--timeout 120] [--workers 2] [--budget 2100] [--out result.json]

The network is ``fc`` (2 hidden layers of 256, ``--hidden``/``--depth``) trained on MNIST with
``labelrobust.training.train`` — the same as ``labelrobust train --dataset mnist --model fc
--epochs 8 --optim.lr 0.05 --batch-size 64`` — into ``--cache`` unless ``--run`` names a run
directory. For each L∞ ``--eps`` and the first ``--n`` test images (misclassified ones
included: they are answered ``not robust`` at stage ``clean``), the argmax property is
verified with a ``--timeout`` limit per query in two configurations:

- ``full``: the whole pipeline, ``VerifyConfig()`` defaults (interval → CROWN → APGD attack →
  MILP with LP tightening);
- ``milp``: the MILP alone, ``VerifyConfig(bounds="interval", attack_steps=0, tighten="none")``.

All ``full`` queries run. ``milp`` queries (eps interleaved image by image) start only while
the wall-clock ``--budget`` allows one more ``--timeout``; the ones that do not fit are listed
as skipped, never estimated. The table gives, per eps × configuration, the decided counts,
mean/max seconds and the deciding stages; every ``unknown`` is listed with its reason, the
unstable ReLUs per layer (interval → CROWN → after tightening), the binaries, the
branch-and-bound nodes, the MILP's dual bound and the per-clause CROWN bounds.
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
from verify_common import REPO, Journal, STAGES, machine_meta, run_jobs, trained_run  # noqa: E402

from labelrobust.runs import load_run  # noqa: E402
from labelrobust.verify.campaign import QuerySpec, sample_query_parts  # noqa: E402
from labelrobust.verify.network import from_torch, reference_model  # noqa: E402
from labelrobust.verify.pipeline import Query, VerifyConfig  # noqa: E402
from machine import load_average  # noqa: E402

CONFIGS = {
    "full": lambda timeout: VerifyConfig(timeout=timeout),
    "milp": lambda timeout: VerifyConfig(timeout=timeout, bounds="interval", attack_steps=0, tighten="none"),
}
DESCRIPTIONS = {"full": "full pipeline (VerifyConfig() defaults)", "milp": "MILP alone (interval bounds, no attack, no tightening)"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=None, help="a trained fc run directory to verify (default: train one into --cache)")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "labelrobust-verify-bench", help="where the network is trained when --run is not given")
    p.add_argument("--data-root", type=Path, default=Path(os.environ.get("LABELROBUST_DATA_ROOT", REPO.parent / "shared" / "datasets")))
    p.add_argument("--hidden", type=int, default=256, help="hidden width of the trained fc network (default 256)")
    p.add_argument("--depth", type=int, default=2, help="hidden layers of the trained fc network (default 2)")
    p.add_argument("--epochs", type=int, default=8, help="training epochs (default 8)")
    p.add_argument("--eps", default="0.03,0.05", help="comma-separated L∞ radii (default 0.03,0.05)")
    p.add_argument("--n", type=int, default=15, help="first N test images (default 15)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per query (default 120)")
    p.add_argument("--configs", default="full,milp", help="comma-separated subset of full,milp (default both)")
    p.add_argument("--milp-n", type=int, default=None, help="images for the milp configuration (default --n)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, one query each (default 1)")
    p.add_argument("--budget", type=float, default=2100.0, help="wall seconds: milp queries start only while one more fits (default 2100 = 35 min; 0 = no limit)")
    p.add_argument("--seed", type=int, default=0, help="training and attack seed (default 0)")
    p.add_argument("--out", type=Path, default=None, help="write every record and the summary as JSON here (records also go to FILE.partial.jsonl as they finish)")
    p.add_argument("--resume", action="store_true", help="reuse the records of FILE.partial.jsonl (same settings) from a run that was stopped")
    args = p.parse_args(argv)
    args.eps = [float(e) for e in args.eps.split(",") if e.strip()]
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if unknown := set(args.configs) - set(CONFIGS):
        p.error(f"unknown configuration(s) {sorted(unknown)}; use full, milp")
    args.milp_n = args.n if args.milp_n is None else args.milp_n
    return args


def network_run(args, log) -> tuple[Path, dict]:
    if args.run is not None:
        return args.run, {"run_dir": str(args.run), "cached": True, "test_accuracy": _accuracy(args.run)}
    overrides = [
        ("data.name", "mnist"), ("data.root", str(args.data_root)), ("model.name", "fc"),
        ("model.options.hidden", args.hidden), ("model.options.depth", args.depth), ("epochs", args.epochs),
        ("optim.lr", 0.05), ("batch_size", 64), ("seed", args.seed),
    ]
    return trained_run(args.cache, f"mnist-fc{args.hidden}x{args.depth}-e{args.epochs}-s{args.seed}", overrides, log)


def _accuracy(run_dir: Path):
    return json.loads((run_dir / "summary.json").read_text()).get("test", {}).get("accuracy")


def build_jobs(args, run_dir: Path) -> list:
    exp = load_run(run_dir, device="cpu")
    network = from_torch(exp.model, exp.dataset.input_shape)
    reference = reference_model(exp.model)
    test = exp.dataset.test
    jobs = []
    for config_name in args.configs:
        count = args.n if config_name == "full" else args.milp_n
        for i in range(min(count, len(test))):
            for eps in args.eps:  # eps interleaved per image: a budget cut leaves both alike
                box, prop = sample_query_parts(test, i, QuerySpec(property="argmax", eps=eps), network.num_outputs, exp.dataset.domain)
                query = Query(network, reference, exp.model, box, prop, "cpu", label=f"sample {i}")
                info = {"label": f"{config_name} eps {eps:g} image {i}", "config": config_name, "eps": eps, "index": i,
                        "target": int(test.labels[i])}
                jobs.append(((config_name, eps, i), query, CONFIGS[config_name](args.timeout), info, config_name != "full"))
    return jobs


def summarise(records: list[dict]) -> dict:
    n = len(records)
    seconds = [r["seconds"] for r in records]
    return {
        "n": n,
        "robust": sum(r["status"] == "robust" for r in records),
        "not_robust": sum(r["status"] == "not robust" for r in records),
        "unknown": sum(r["status"] == "unknown" for r in records),
        "mean_seconds": sum(seconds) / n if n else None,
        "max_seconds": max(seconds) if n else None,
        "mean_cpu_seconds": sum(r["cpu_seconds"] for r in records) / n if n else None,
        "decided_by": {s: sum(r["status"] != "unknown" and r["stage"] == s for r in records) for s in STAGES},
    }


def print_report(meta, summaries, unknowns, skipped):
    print()
    print(f"machine: {meta['cpu_model']}, {meta['cores_available']} cores; torch {meta['torch']}, highspy {meta['highspy']}, python {meta['python']}")
    print(f"load average (1/5/15 min): {meta['load_average_start']} at start, {meta['load_average_end']} at end; {meta['workers']} worker(s), 1 thread each; wall {meta['wall_seconds']:.0f} s")
    print(f"network: {meta['network']} (test accuracy {meta['test_accuracy']}); argmax property, L∞ eps over [0,1], first {meta['n']} test images, {meta['timeout']:g} s per query")
    print()
    print("| eps | configuration | queries | robust | not robust | unknown | mean s | max s | mean cpu s | decided by (clean/interval/crown/attack/milp) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (eps, config), s in summaries.items():
        by = "/".join(str(s["decided_by"][st]) for st in STAGES)
        print(f"| {eps:g} | {config} | {s['n']} | {s['robust']} | {s['not_robust']} | {s['unknown']} | {s['mean_seconds']:.1f} | {s['max_seconds']:.1f} | {s['mean_cpu_seconds']:.1f} | {by} |")
    if skipped:
        print()
        print(f"skipped for the wall budget (not run, not estimated): {len(skipped)} queries: " + ", ".join(f"{c} eps {e:g} image {i}" for c, e, i in skipped))
    if unknowns:
        print()
        print("Unknowns: unstable ReLUs per hidden layer after interval bounds → CROWN → the MILP's LP tightening; open clauses = argmax clauses whose CROWN bound is ≥ 0 (of 9)")
        print()
        print("| eps | configuration | image | reason | unstable interval | CROWN | after tightening | binaries | B&B nodes | MILP dual bound | CROWN bound | open clauses | tightening s | cpu s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in unknowns:
            m, a = r["milp"] or {}, r.get("clause_analysis") or {}
            tight = (m.get("tightening") or {}).get("time")
            print(f"| {r['eps']:g} | {r['config']} | {r['index']} | {r['reason']} | {r['unstable_interval']} | {r['unstable_crown'] or '-'} | "
                  f"{m.get('unstable_after_tightening', '-')} | {m.get('binaries', '-')} | {m.get('nodes', '-')} | {_num(m.get('bound'))} | "
                  f"{_num(a.get('crown_bound'))} | {a.get('open_clauses', '-')} | {_num(tight, 1)} | {r['cpu_seconds']:.0f} |")


def _num(value, digits: int = 3) -> str:
    return "-" if value is None else (value if isinstance(value, str) else f"{value:.{digits}f}")


def journal(args) -> Journal:
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k in ['run', 'cache', 'hidden', 'depth', 'epochs', 'eps', 'n', 'timeout', 'configs', 'milp_n', 'seed']}
    return Journal(args.out, settings, args.resume)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:7.1f}s] {msg}", flush=True)

    meta = machine_meta(sys.argv if argv is None else ["benchmarks/verify_mnist_fc.py", *argv])
    log(f"load average {meta['load_average_start']} on {meta['cores_available']} cores ({meta['cpu_model']})")
    run_dir, training = network_run(args, log)
    jobs = build_jobs(args, run_dir)
    log(f"{len(jobs)} queries ({', '.join(args.configs)}), {args.workers} worker(s), budget {args.budget:g} s")
    results, skipped = run_jobs(jobs, args.workers, args.budget or None, started, log, journal(args))
    meta.update(load_average_end=load_average(), wall_seconds=time.perf_counter() - started, workers=args.workers, n=args.n,
                milp_n=args.milp_n, timeout=args.timeout, eps=args.eps, configs=args.configs, budget=args.budget, seed=args.seed,
                network=f"fc {args.hidden}x{args.depth}" if args.run is None else f"run {run_dir}", test_accuracy=training.get("test_accuracy"),
                training=training)
    records = [results[key] for key, *_ in jobs if key in results]
    summaries = {(eps, c): summarise([r for r in records if r["eps"] == eps and r["config"] == c]) for c in args.configs for eps in args.eps}
    summaries = {k: v for k, v in summaries.items() if v["n"]}
    unknowns = [r for r in records if r["status"] == "unknown"]
    print_report(meta, summaries, unknowns, skipped)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        out = {"meta": meta, "summary": [{"eps": e, "config": c, **s} for (e, c), s in summaries.items()],
               "skipped": [{"config": c, "eps": e, "index": i} for c, e, i in skipped], "records": records}
        args.out.write_text(json.dumps(out, indent=1))
        print(f"\nJSON written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
