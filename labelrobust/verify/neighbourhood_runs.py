"""Maximal robust layered neighbourhoods of a trained run's test images: what
``labelrobust neighbourhood RUN_DIR ...`` does (the searches are in ``neighbourhood.py``).

Per image i of the first ``n`` test samples: the perturbed object's mask (object 1 of
``double-mnist``, the second digit), the target class (the sample's label, object 0's digit;
it must be in the image's label set for ``top2``), the property, and the searches
(``search``, ``binary``), each with its own budget of verifier calls.

Results go to ``RUN_DIR/neighbourhood/<label>/`` (``<label>`` names the property, r, the
weights and the cutting weights): ``settings.json`` (everything that changes a result: the
query, the search settings, the verifier's settings and the weights' SHA-256);
``samples/<i>.<method>.json`` per image and method, written atomically as each finishes, so an
interrupted run resumes at the next image; ``summary.json``; ``heatmaps.png`` (one row per
image, one column per method). A folder holding results of other settings is refused unless
``force`` (which deletes its samples).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from labelrobust.atomic import atomic_write_text
from labelrobust.errors import ConfigError
from labelrobust.validation import integer, one_of
from labelrobust.verify.campaign import PROPERTY_KINDS, check_indices, check_scores_are_outputs, guarded_folder, label_set_of, object_mask, target_class
from labelrobust.verify.heatmaps import HeatPanel, epsilon_map, heatmap_grid
from labelrobust.verify.input_sets import chebyshev_layers
from labelrobust.verify.neighbourhood import METHODS, LayeredProblem, SearchSettings, layer_weights, run_search, start_radii, verifier_problem
from labelrobust.verify.properties import argmax_property, top2_property
from labelrobust.verify.verdict import ROBUST


@dataclass(frozen=True)
class NeighbourhoodSpec:
    """The question asked of every image: ``layers`` r (ε has r + 1 radii, default 3), the
    weights w (None: ``default_layer_weights``), the property, which object is perturbed
    and an optional starting ε."""

    layers: int = 3
    weights: tuple[float, ...] | None = None
    property: str = "top2"
    perturbed_object: int = 1
    start: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        integer(self.layers, "neighbourhood: layers", low=0)
        one_of(self.property, PROPERTY_KINDS, "neighbourhood: property")
        integer(self.perturbed_object, "neighbourhood: perturbed_object", low=0)
        object.__setattr__(self, "weights", layer_weights(self.weights, self.layers + 1))
        if self.start is not None:
            object.__setattr__(self, "start", start_radii(self.start, self.layers + 1))

    def label(self, cut: str) -> str:
        return f"{self.property}-r{self.layers}-w" + "_".join(f"{w:g}" for w in self.weights) + f"-{cut}"


@dataclass
class ImageQuery:
    """One test image, ready to search: its problem and what its heat map needs."""

    index: int
    target: int
    problem: LayeredProblem
    distance: Tensor
    masks: Tensor


@dataclass
class PreparedRun:
    """A run whose every image was checked (before any solving) and whose results folder is open."""

    run_dir: Path
    title: str
    images: list[ImageQuery]
    folder: Path
    settings: dict


@dataclass
class RunResult:
    prepared: PreparedRun
    records: dict[str, list[dict]] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    figure: Path | None = None


def _property(spec: NeighbourhoodSpec, target: int, num_outputs: int, label_set):
    if spec.property == "argmax":
        return argmax_property(target, num_outputs)
    return top2_property(target, num_outputs, label_set)


def prepare_run(run_dir: str | Path, spec: NeighbourhoodSpec, search: SearchSettings, config=None, *, n: int = 5, indices: Sequence[int] | None = None, weights: str = "latest", device: str | None = None, force: bool = False) -> PreparedRun:
    """Load the run, build and check every image's problem, open the results folder."""
    from labelrobust.runs import RunPaths, load_run, weights_sha256
    from labelrobust.verify.network import from_torch, reference_model
    from labelrobust.verify.pipeline import VerifyConfig

    config = config or VerifyConfig()
    exp = load_run(run_dir, weights=weights, device=device)
    check_scores_are_outputs(exp.space)
    test = exp.dataset.test
    if getattr(test, "object_masks", None) is None:
        raise ConfigError(f"run {run_dir}: data set {exp.dataset.name!r} keeps no object masks, so it has no layered neighbourhoods; use a run trained on double-mnist")
    chosen = check_indices(list(indices) if indices is not None else list(range(min(integer(n, "neighbourhood: n", low=1), len(test)))), len(test))
    network = from_torch(exp.model, exp.dataset.input_shape)
    reference = reference_model(exp.model)
    images = [_image(exp, i, spec, config, network, reference) for i in chosen]
    paths = RunPaths(Path(run_dir))
    digest = weights_sha256(paths.weights if weights == "latest" else paths.best_weights)
    settings = json.loads(json.dumps({"query": asdict(spec), "search": asdict(search), "verifier": asdict(config), "weights_sha256": digest}))
    folder = results_folder(Path(run_dir) / "neighbourhood" / spec.label(search.cut), settings, force)
    return PreparedRun(Path(run_dir), run_title(exp, Path(run_dir)), images, folder, settings)


def _image(exp, i: int, spec: NeighbourhoodSpec, config, network, reference) -> ImageQuery:
    test = exp.dataset.test
    mask = object_mask(test, i, spec.perturbed_object)
    if not mask.any():
        raise ConfigError(f"test sample {i}: the mask of object {spec.perturbed_object} is empty, so it has no layered neighbourhood")
    distance = chebyshev_layers(mask)
    deepest = int(distance.max())
    if spec.layers > deepest:
        raise ConfigError(f"--layers {spec.layers}: test sample {i} has only layers 0..{deepest} around object {spec.perturbed_object}; use at most --layers {deepest}")
    target = target_class(test, i, None)
    prop = _property(spec, target, network.num_outputs, label_set_of(test, i))
    x = test.float_images(torch.tensor([i]))[0]
    problem = verifier_problem(exp.model, x, mask, prop, spec.weights, config, network=network, reference=reference, device=exp.config.device, domain=exp.dataset.domain)
    return ImageQuery(i, target, problem, distance, test.object_masks[i].to(torch.bool).cpu())


def run_title(exp, run_dir: Path) -> str:
    """``NAME (method[, augmentation])``: which defence a column shows."""
    cfg = exp.config
    parts = [cfg.method.name] + ([cfg.data.augment] if cfg.data.augment not in (None, "none") else [])
    return f"{run_dir.name} ({', '.join(parts)})"


def results_folder(folder: Path, settings: dict, force: bool) -> Path:
    """``folder``, refusing one that holds results of other settings unless ``force``."""
    return guarded_folder(folder, settings, force, "neighbourhood")


def solve_run(prepared: PreparedRun, methods: Sequence[str], search: SearchSettings, *, on_done: Callable[[dict], None] | None = None) -> RunResult:
    """Search every image with every method (skipping saved results), then write the summary and the heat maps."""
    methods = [one_of(m, METHODS, "neighbourhood: method") for m in methods]
    result = RunResult(prepared, {m: [] for m in methods})
    start = prepared.settings["query"]["start"]
    for image in prepared.images:
        for method in methods:
            path = prepared.folder / "samples" / f"{image.index}.{method}.json"
            record = _read(path) if path.is_file() else None
            if record is None:
                found = run_search(method, image.problem, search, start)
                record = {"index": image.index, "target": image.target, "layer_pixels": image.problem.counts, "weights": list(image.problem.weights), "saturation": list(image.problem.saturation), **found.as_dict()}
                atomic_write_text(path, json.dumps(record, indent=1))
            result.records[method].append(record)
            if on_done:
                on_done(record)
    result.summary = summarise(result.records)
    atomic_write_text(prepared.folder / "summary.json", json.dumps(result.summary, indent=1))
    result.figure = heatmap_grid(
        [[panel(image, result.records[m][k]) for m in methods] for k, image in enumerate(prepared.images)],
        prepared.folder / "heatmaps.png", column_titles=methods, row_titles=[row_title(i) for i in prepared.images], title=prepared.title,
    )
    return result


def panel(image: ImageQuery, record: dict) -> HeatPanel:
    caption = f"w·ε {record['weighted_size']:.3f}, {record['calls']} calls" if record["status"] == ROBUST else f"clean input {record['status']}"
    return HeatPanel(epsilon_map(image.distance, record["eps"]), image.masks, caption)


def row_title(image: ImageQuery) -> str:
    return f"sample {image.index}\n(target {image.target})"


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the saved neighbourhood result {path}: {exc}; delete it to search that image again") from None


def summarise(records: dict[str, list[dict]]) -> dict:
    """Per method: images, how many were robust at the clean input (the searched ones), and
    over those the mean weighted size, verifier calls and seconds."""
    out = {}
    for method, rows in records.items():
        searched = [r for r in rows if r["status"] == ROBUST]
        k = max(len(searched), 1)
        out[method] = {
            "n": len(rows), "searched": len(searched),
            "mean_weighted_size": sum(r["weighted_size"] for r in searched) / k,
            "mean_calls": sum(r["calls"] for r in searched) / k,
            "mean_seconds": sum(r["seconds"] for r in searched) / k,
            "mean_eps": [sum(r["eps"][d] for r in searched) / k for d in range(len(rows[0]["eps"]))] if rows else [],
        }
    return out


def compare_figure(results: Sequence[RunResult], method: str, path: str | Path) -> Path:
    """One column per run (the defences side by side), one row per image, for ``method``."""
    rows = min(len(r.prepared.images) for r in results)
    panels = [[panel(r.prepared.images[k], r.records[method][k]) for r in results] for k in range(rows)]
    first = results[0].prepared.images
    titles = [f"sample {first[k].index}" + ("" if all(r.prepared.images[k].index == first[k].index for r in results) else " (by position)") for k in range(rows)]
    return heatmap_grid(panels, path, column_titles=[r.prepared.title for r in results], row_titles=titles, title=f"maximal robust layered neighbourhood ({method})")


def neighbourhood_run(run_dir: str | Path, spec: NeighbourhoodSpec, search: SearchSettings | None = None, config=None, *, methods: Sequence[str] = METHODS, n: int = 5, indices: Sequence[int] | None = None, weights: str = "latest", device: str | None = None, force: bool = False) -> RunResult:
    """``prepare_run`` then ``solve_run``: the API form of ``labelrobust neighbourhood RUN_DIR``."""
    search = search or SearchSettings()
    prepared = prepare_run(run_dir, spec, search, config, n=n, indices=indices, weights=weights, device=device, force=force)
    return solve_run(prepared, methods, search)
