"""What the verifier benchmarks share: cached training runs, the per-query record, and a
process pool that runs queries under a wall-clock budget.

A query is verified in a worker process (forked, so the networks are inherited, not sent),
with one torch thread and one HiGHS thread, the way ``labelrobust verify --workers`` runs it.
Each record keeps the wall seconds of ``verify_query``, the CPU seconds the worker process
spent on it (on a shared machine the ratio says how much of a core the query really got),
the stage times, and the pieces of ``verdict.details`` that explain an ``unknown``: unstable
ReLUs per layer after interval bounds, after CROWN and after the MILP's LP tightening, the
binaries, the branch-and-bound nodes, the MILP's dual bound, and (computed after the verdict,
not timed) the per-clause CROWN upper bounds of the argmax property.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import multiprocessing
import platform
import resource
import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
try:
    import labelrobust  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

from labelrobust.config import load_config  # noqa: E402
from labelrobust.training import train  # noqa: E402
from labelrobust.verify.bounds import crown_bounds, interval_bounds, property_upper_bound  # noqa: E402
from labelrobust.verify.pipeline import verify_query  # noqa: E402
from labelrobust.verify.properties import OutputProperty  # noqa: E402
from machine import available_cores, cpu_model, load_average  # noqa: E402

STAGES = ("clean", "interval", "crown", "attack", "milp")
_JOBS: dict = {}
"""key → (Query, VerifyConfig, info dict); filled before the pool forks, read by the workers."""


# -- machine and training -----------------------------------------------------------------------


def machine_meta(argv: list[str]) -> dict:
    import highspy

    return {
        "command": " ".join([Path(sys.executable).name, *argv]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cores_available": available_cores(),
        "torch": torch.__version__,
        "highspy": _version("highspy", highspy),
        "python": platform.python_version(),
        "load_average_start": load_average(),
    }


def _version(name: str, module) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - metadata missing: fall back to the module
        return getattr(module, "__version__", "unknown")


def key_of(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def trained_run(cache: Path, name: str, overrides: list[tuple[str, object]], log) -> tuple[Path, dict]:
    """The run directory ``cache/name``, trained with ``labelrobust.training.train`` from
    ``overrides`` when it has no ``summary.json`` yet (same as ``labelrobust train ...``)."""
    run_dir = cache / name
    info = {"run_dir": str(run_dir), "settings": {k: v for k, v in overrides}}
    if (run_dir / "summary.json").is_file():
        info["cached"] = True
    else:
        cfg = load_config(None, [*overrides, ("out", str(cache)), ("name", name)])
        log(f"training {name} ...")
        start = time.perf_counter()
        train(cfg, quiet=True, resume=(run_dir / "checkpoint.safetensors").is_file())
        info.update(cached=False, train_seconds=round(time.perf_counter() - start, 1))
        log(f"trained {name} in {info['train_seconds']} s")
    info["test_accuracy"] = json.loads((run_dir / "summary.json").read_text()).get("test", {}).get("accuracy")
    return run_dir, info


# -- one query ----------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _verify(key):
    query, config, info = _JOBS[key]
    torch.set_num_threads(1)
    cpu, start = _cpu_seconds(), time.perf_counter()
    verdict = verify_query(query, config)
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    record = {**info, **query_record(verdict, wall, cpu)}
    if verdict.stage == "milp" or verdict.status == "unknown":
        record["clause_analysis"] = clause_analysis(query)
    return key, record


def query_record(verdict, wall: float, cpu: float) -> dict:
    d = verdict.details
    milp = d.get("milp") or {}
    tightening = milp.get("tightening") or {}
    return {
        "status": verdict.status, "stage": verdict.stage, "reason": verdict.reason,
        "seconds": wall, "cpu_seconds": cpu, "times": dict(verdict.times),
        "upper_bound": _finite(verdict.upper_bound), "lower_bound": _finite(verdict.lower_bound),
        "clean_margin": d.get("clean_margin"),
        "unstable_interval": d.get("unstable_interval"), "unstable_crown": d.get("unstable_crown"),
        "milp": None if not milp else {
            "status": milp.get("status"), "objective": _finite(milp.get("objective")), "bound": _finite(milp.get("bound")),
            "unstable_before_tightening": milp.get("unstable_before"), "unstable_after_tightening": milp.get("unstable"),
            "binaries": milp.get("binaries"), "relu_binaries": milp.get("relu_binaries"), "objective_binaries": milp.get("objective_binaries"),
            "clauses": milp.get("clauses"), "variables": milp.get("variables"), "constraints": milp.get("constraints"),
            "nonzeros": milp.get("nonzeros"), "nodes": milp.get("nodes"), "solver_status": milp.get("solver_status"),
            "solve_seconds": milp.get("solve_time"), "encode_seconds": milp.get("encode_time"),
            "tightening": {k: tightening.get(k) for k in ("method", "solves", "tightened", "stabilised", "time")},
        },
    }


def clause_analysis(query) -> dict:
    """Per clause of the property, the CROWN upper bound of its margin (from interval + CROWN
    bounds of the query's set): the clauses with a bound ≥ 0 are the only ones a MILP needs."""
    net, box, prop = query.network, query.input_set, query.prop
    bounds = crown_bounds(net, box, interval_bounds(net, box))
    per_clause = [property_upper_bound(net, box, OutputProperty((c,), prop.num_outputs, prop.kind, prop.target), bounds) for c in prop.clauses]
    low, up = bounds.outputs
    box_bound = max(float((c.coefficients.clamp_min(0) @ up + c.coefficients.clamp_max(0) @ low + c.offsets).min()) for c in prop.clauses)
    return {"crown_per_clause": per_clause, "open_clauses": sum(b >= 0 for b in per_clause), "crown_bound": max(per_clause),
            "output_box_bound": box_bound}


def _finite(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else (None if math.isnan(value) else ("inf" if value > 0 else "-inf"))


# -- many queries under a budget ----------------------------------------------------------------


class Journal:
    """Records as they finish, one JSON line each (``FILE.partial.jsonl`` next to ``--out``),
    so a killed run keeps its queries; ``resume`` reads back those of the same settings."""

    def __init__(self, out: Path | None, settings: dict, resume: bool) -> None:
        self.path = None if out is None else out.with_name(out.name + ".partial.jsonl")
        self.done: dict = {}
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        settings = json.loads(json.dumps(settings))
        if resume and self.path.is_file():
            lines = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
            if not lines or lines[0].get("settings") != settings:
                raise SystemExit(f"{self.path} holds records of other settings; delete it or run without --resume")
            self.done = {tuple(r["key"]): r["record"] for r in lines[1:]}
            return
        self.path.write_text(json.dumps({"settings": settings}) + "\n")

    def add(self, key, record: dict) -> None:
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps({"key": list(key), "record": record}) + "\n")


def run_jobs(jobs: list[tuple[object, object, object, dict, bool]], workers: int, budget: float | None, started: float, log, journal: Journal | None = None) -> tuple[dict, list]:
    """Run ``(key, query, config, info, optional)`` jobs in order on ``workers`` processes.

    An optional job starts only if ``elapsed + its timeout ≤ budget`` (seconds since
    ``started``), so the run cannot exceed the budget by more than the last required job's
    limit; skipped keys are returned, never estimated. Keys already in ``journal`` are not
    run again (their saved records are returned)."""
    done = dict(journal.done) if journal else {}
    jobs = [job for job in jobs if job[0] not in done]
    if done:
        log(f"resuming: {len(done)} records read back from {journal.path}")
    _JOBS.clear()
    _JOBS.update({key: (query, config, info) for key, query, config, info, _ in jobs})
    optional = {key: opt for key, _, _, _, opt in jobs}
    limits = {key: config.timeout for key, _, config, _, _ in jobs}
    pending, running, results, skipped = deque(key for key, *_ in jobs), set(), done, []
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        while pending or running:
            while pending and len(running) < workers:
                key = pending.popleft()
                if optional[key] and budget is not None and time.perf_counter() - started + limits[key] > budget:
                    skipped.append(key)
                    continue
                running.add(pool.submit(_verify, key))
            if not running:
                break
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                key, record = future.result()
                results[key] = record
                if journal:
                    journal.add(key, record)
                log(describe(record))
    return results, skipped


def describe(r: dict) -> str:
    unstable = r["unstable_crown"] or r["unstable_interval"]
    m = r["milp"]
    tail = f" milp: {m['status']}, {m['binaries']} binaries, {m['nodes']} nodes, bound {m['bound']}" if m else ""
    why = f" ({r['reason']})" if r["reason"] else ""
    return (f"{r['label']}: {r['status']}{why} at {r['stage']} in {r['seconds']:.1f} s (cpu {r['cpu_seconds']:.1f} s), "
            f"unstable {unstable}{tail}")


def stage_seconds(r: dict) -> dict:
    t = r["times"]
    return {"bounds": t.get("interval", 0.0) + t.get("crown", 0.0), "attack": t.get("attack", 0.0), "milp": t.get("milp", 0.0)}
