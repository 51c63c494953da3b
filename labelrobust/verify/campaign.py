"""Verifying many samples of a trained run: the queries, parallel workers, per-sample JSON.

``sample_queries`` turns test samples into (input set, property) pairs:

- input set ``linf`` (``eps``: one radius) or ``layered`` (``layer_eps``: ε_0 … ε_r around the
  mask of ``perturbed_object``, for data sets that keep object masks, e.g. ``double-mnist``);
- property ``argmax`` (the sample's label stays the arg-max) or ``top2`` (the target object's
  class stays in the top-2 set; the target must be in the sample's label set).

Results go to ``RUN_DIR/verify/<label>/``: ``samples/<index>.json`` per sample (written
atomically as each finishes, so an interrupted campaign resumes where it stopped) and
``summary.json``. A folder that holds results of other settings or other weights is never
overwritten without ``force``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from labelrobust.atomic import atomic_write_text, require_writable_dir
from labelrobust.data.base import ImageSet
from labelrobust.domain import Box
from labelrobust.errors import ConfigError
from labelrobust.validation import integer, one_of
from labelrobust.verify.input_sets import InputSet, layer_radii, layered_neighbourhood, linf_ball
from labelrobust.verify.pipeline import Query, VerifyConfig, verify_query
from labelrobust.verify.properties import OutputProperty, argmax_property, top2_property
from labelrobust.verify.verdict import NOT_ROBUST, ROBUST, UNKNOWN, Verdict

SET_KINDS = ("linf", "layered")
PROPERTY_KINDS = ("argmax", "top2")
STAGES = ("clean", "interval", "crown", "attack", "milp")


@dataclass(frozen=True)
class QuerySpec:
    """How each sample becomes a query (the CLI flags of ``labelrobust verify RUN_DIR``)."""

    property: str = "top2"
    set_kind: str = "linf"
    eps: float | None = None
    layer_eps: tuple[float, ...] | None = None
    perturbed_object: int = 1

    def __post_init__(self) -> None:
        one_of(self.property, PROPERTY_KINDS, "verify: property")
        one_of(self.set_kind, SET_KINDS, "verify: input set")
        integer(self.perturbed_object, "verify: perturbed_object", low=0)
        if self.set_kind == "linf" and self.eps is None:
            raise ConfigError("verify: the linf input set needs --eps")
        if self.set_kind == "layered" and self.layer_eps is None:
            raise ConfigError("verify: the layered input set needs --layer-eps ε_0,ε_1,…")
        if self.layer_eps is not None:
            object.__setattr__(self, "layer_eps", layer_radii(self.layer_eps))

    def label(self) -> str:
        radius = f"eps{self.eps:g}" if self.set_kind == "linf" else "eps" + "_".join(f"{e:g}" for e in self.layer_eps)
        return f"{self.property}-{self.set_kind}-{radius}"


def target_class(images: ImageSet, i: int, spec: QuerySpec) -> int:
    """The protected class of sample ``i``: its label (object 0's class on DOUBLE-MNIST, the
    target of the study; the other object is the one perturbed)."""
    return int(images.labels[i])


def label_set_of(images: ImageSet, i: int) -> Tensor | None:
    sets = getattr(images, "label_sets", None)
    return None if sets is None else sets[i]


def object_mask(images: ImageSet, i: int, obj: int) -> Tensor:
    masks = getattr(images, "object_masks", None)
    if masks is None:
        raise ConfigError("the layered input set needs object masks, which this data set does not keep (use double-mnist, or --set linf)")
    if obj >= masks.shape[1]:
        raise ConfigError(f"perturbed object {obj} does not exist: samples hold {masks.shape[1]} objects (0..{masks.shape[1] - 1})")
    return masks[i, obj]


def sample_query_parts(images: ImageSet, i: int, spec: QuerySpec, num_outputs: int, domain: Box) -> tuple[InputSet, OutputProperty]:
    """The input set and property for test sample ``i``."""
    x = images.float_images(torch.tensor([i]))[0]
    if spec.set_kind == "linf":
        box = linf_ball(x, spec.eps, domain)
    else:
        box = layered_neighbourhood(x, object_mask(images, i, spec.perturbed_object), spec.layer_eps, domain)
    target = target_class(images, i, spec)
    if spec.property == "argmax":
        return box, argmax_property(target, num_outputs)
    return box, top2_property(target, num_outputs, label_set_of(images, i))


def check_indices(indices: list[int], n_samples: int) -> list[int]:
    for i in indices:
        if not 0 <= i < n_samples:
            raise ConfigError(f"sample index {i} is outside the test split (0..{n_samples - 1})")
    return indices


@dataclass
class CampaignResult:
    records: list[dict]
    folder: Path
    summary: dict


def results_folder(run_dir: Path, spec: QuerySpec, settings: dict, out: str | Path | None, force: bool) -> Path:
    """``RUN_DIR/verify/<label>`` (or ``out``), refusing a folder of other settings unless ``force``."""
    return guarded_folder(Path(out) if out is not None else run_dir / "verify" / spec.label(), settings, force, "verification")


def guarded_folder(folder: Path, settings: dict, force: bool, what: str) -> Path:
    """``folder`` with ``settings.json`` = ``settings``. A folder that holds results of other
    settings, or results without settings, is refused unless ``force``, which deletes them
    (``samples/``, ``summary.json``, ``heatmaps.png``) before the new settings are written."""
    saved_path, samples = folder / "settings.json", folder / "samples"
    stale = samples.is_dir() and any(samples.iterdir())
    if saved_path.is_file():
        saved = _read(saved_path)
        stale = saved != settings
        changed = ", ".join(_differences(saved, settings))
        why = f"of other settings ({changed} differ)"
    else:
        why = "but no settings.json, so they may come from other settings"
    if stale:
        if not force:
            raise ConfigError(f"{folder} holds {what} results {why}; pass --force to replace them or --out DIR for a new folder")
        shutil.rmtree(samples, ignore_errors=True)
        for name in ("summary.json", "heatmaps.png"):
            (folder / name).unlink(missing_ok=True)
    require_writable_dir(samples, f"the {what} results folder")
    atomic_write_text(saved_path, json.dumps(settings, indent=1, sort_keys=True))
    return folder


def _differences(saved: dict, wanted: dict, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ (``verifier.timeout``), for the refusal message."""
    out = []
    for key in sorted(set(saved) | set(wanted)):
        a, b = saved.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(prefix + key)
    return out


def _verify_one(args: tuple[int, Query, VerifyConfig]) -> tuple[int, dict]:
    index, query, config = args
    torch.set_num_threads(1)  # one solver and one torch thread per worker process
    verdict = verify_query(query, config)
    return index, sample_record(index, query, verdict)


def sample_record(index: int, query: Query, verdict: Verdict) -> dict:
    """What ``samples/<index>.json`` holds."""
    record = {"index": index, "target": query.prop.target, "property": query.prop.kind, "input_set": query.input_set.description, **verdict.as_dict()}
    if verdict.counterexample is not None:
        record["counterexample"] = verdict.counterexample.tolist()
        record["counterexample_margin_float64"] = verdict.lower_bound
    return record


def run_queries(items: list[tuple[int, Query]], config: VerifyConfig, folder: Path, workers: int = 1, on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Verify each (index, query), skipping those already in ``folder/samples``; records in index order."""
    workers = integer(workers, "verify: workers", low=1)
    if workers > 1 and any(q.device != "cpu" for _, q in items):
        raise ConfigError("--workers > 1 runs queries in forked CPU processes; pass --device cpu with it (the verifier's bounds and MILP run on the CPU anyway)")
    done = {i: _read(folder / "samples" / f"{i}.json") for i, _ in items if (folder / "samples" / f"{i}.json").is_file()}
    todo = [(i, q, config) for i, q in items if i not in done]

    def finish(index: int, record: dict) -> None:
        atomic_write_text(folder / "samples" / f"{index}.json", json.dumps(record, indent=1))
        done[index] = record
        if on_done:
            on_done(record)

    for record in done.values():
        if on_done:
            on_done(record)
    if workers == 1 or len(todo) <= 1:
        for args in todo:
            finish(*_verify_one(args))
    else:
        import multiprocessing

        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork" if os.name == "posix" else "spawn")) as pool:
            for index, record in pool.map(_verify_one, todo):
                finish(index, record)
    return [done[i] for i, _ in items]


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the saved verification result {path}: {exc}; delete it to verify that sample again") from None


def summarise(records: list[dict]) -> dict:
    """Counts per status, mean seconds per stage, the share decided without the MILP."""
    counts = {status: sum(r["status"] == status for r in records) for status in (ROBUST, NOT_ROBUST, UNKNOWN)}
    stage_of = {stage: sum(r["status"] != UNKNOWN and r["stage"] == stage for r in records) for stage in STAGES}
    times = {stage: sum(r["times"].get(stage, 0.0) for r in records) / max(len(records), 1) for stage in STAGES}
    decided_early = sum(r["status"] != UNKNOWN and r["stage"] != "milp" for r in records)
    reasons: dict[str, int] = {}
    for r in records:
        if r["status"] == UNKNOWN:
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    return {
        "n": len(records), **counts, "decided_by": stage_of, "mean_seconds": times,
        "mean_total_seconds": sum(sum(r["times"].values()) for r in records) / max(len(records), 1),
        "share_without_milp": decided_early / max(len(records), 1), "unknown_reasons": reasons,
    }


def settings_record(spec: QuerySpec, config: VerifyConfig, weights_sha256: str) -> dict:
    # Through JSON once, so a saved copy compares equal (tuples become lists).
    return json.loads(json.dumps({"query": asdict(spec), "verifier": asdict(config), "weights_sha256": weights_sha256}))


def verify_run(
    run_dir: str | Path,
    spec: QuerySpec,
    config: VerifyConfig | None = None,
    *,
    n: int | None = None,
    indices: list[int] | None = None,
    workers: int = 1,
    weights: str = "latest",
    device: str | None = None,
    out: str | Path | None = None,
    force: bool = False,
    quiet: bool = True,
) -> CampaignResult:
    """Verify test samples of a trained run (the first ``n``, or ``indices``); what
    ``labelrobust verify RUN_DIR`` does. Every query is checked before any solving starts."""
    from tqdm.auto import tqdm

    from labelrobust.runs import RunPaths, load_run, weights_sha256
    from labelrobust.verify.network import from_torch, reference_model

    config = config or VerifyConfig()
    exp = load_run(run_dir, weights=weights, device=device)
    check_scores_are_outputs(exp.space)
    images = exp.dataset.test
    chosen = check_indices(list(indices) if indices is not None else list(range(min(integer(n or 100, "verify: n", low=1), len(images)))), len(images))
    network = from_torch(exp.model, exp.dataset.input_shape)
    reference = reference_model(exp.model)
    device_name = exp.config.device
    items = []
    for i in chosen:  # build (and so validate) every query first
        box, prop = sample_query_parts(images, i, spec, network.num_outputs, exp.dataset.domain)
        items.append((i, Query(network, reference, exp.model, box, prop, device_name, label=f"sample {i}")))
    paths = RunPaths(Path(run_dir))
    folder = results_folder(Path(run_dir), spec, settings_record(spec, config, weights_sha256(paths.weights if weights == "latest" else paths.best_weights)), out, force)
    bar = tqdm(total=len(items), desc="verify", unit="sample", disable=True if quiet else None, leave=False)
    try:
        records = run_queries(items, config, folder, workers, on_done=lambda _r: bar.update(1))
    finally:
        bar.close()
    summary = summarise(records)
    atomic_write_text(folder / "summary.json", json.dumps(summary, indent=1))
    return CampaignResult(records, folder, summary)


def check_scores_are_outputs(space) -> None:
    """The verifier states properties on the network outputs; they must be the class scores."""
    if not getattr(space, "scores_are_outputs", False):
        raise ConfigError(f"label space {space.name!r}: its class scores are not the network outputs, so output properties (argmax/top2) would not say which class wins; the verifier supports spaces whose scores are the outputs (onehot, smoothing, soft, wasserstein, multilabel)")
