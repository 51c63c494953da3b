"""Running a list of attacks over a split at several radii: per-sample outcomes, worst case, resume.

Every (attack, eps) pair is attacked batch by batch with the model in eval mode (restored
afterwards) and the torch RNG seeded from (seed, attack, eps), so results do not depend on
the order of attacks or on resuming. The adversarial decision of every sample is kept, so the
worst case per sample over all attacks, survival and confusion matrices come from the same run.

With a ``state_path``, results *accumulate* in that file (``EvaluationState``): each finished
(attack, eps) pair is saved atomically, a later call reuses it and adds its own pairs, and
results computed on other weights or other samples are never deleted — they come back as
``stale`` outcomes, shown for reference and left out of the worst case and the checks.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from labelrobust.atomic import atomic_write_text
from labelrobust.attacks import make_attack, make_threat_model
from labelrobust.data import ImageSet
from labelrobust.errors import ConfigError
from labelrobust.labels import ABSTAIN, LabelSpace
from labelrobust.metrics.inference import eval_mode, model_device, model_outputs, positive_int, sample_identity
from labelrobust.metrics.robustness import stability_ratio, survival_rate
from labelrobust.provenance import now

log = logging.getLogger(__name__)
ADAPTIVE_OBJECTIVES = ("margin", "dlr", "ce")
STATE_FORMAT = "labelrobust-robust-state-2"
HALF_DIAMETER = "half-diameter"
"""A fixed spec radius: half the input domain's diameter in the attack's norm (L∞ 0.5, L2 √D/2),
where any image can be pushed to mid-gray — the radius of the large-eps sanity check."""


def eps_text(value: float | str) -> str:
    """A radius as the user wrote it (``"8/255"``), or compactly when given as a number."""
    return value.strip() if isinstance(value, str) else f"{float(value):g}"


def half_diameter(norm: str, input_shape: tuple[int, ...]) -> float:
    """Half the largest ``norm`` distance between two inputs of ``[0, 1]^input_shape``."""
    return 0.5 * make_threat_model(norm, 0).diameter(tuple(input_shape))


@dataclass(frozen=True)
class AttackSpec:
    """One attack of an evaluation: a display ``label``, a registered ``attack`` and its params.

    ``kind`` is ``white-box``, ``black-box`` or ``transfer`` (the sanity checks compare them).
    The objective is ``params["objective"]`` where the attack takes one (``loss`` = the label
    space's own loss); AutoAttack-family attacks use their own losses on the scores.
    """

    label: str
    attack: str
    params: dict = field(default_factory=dict)
    kind: str = "white-box"
    eps: float | str | None = None
    """A fixed radius for this spec alone (a sanity run such as the large-eps check) instead of
    the eps list: a number, a fraction like ``"1/2"``, or ``HALF_DIAMETER``."""

    @property
    def objective(self) -> str:
        if self.attack in ("autoattack", "apgd-ce", "apgd-dlr", "square"):
            return "scores"
        return self.params.get("objective", "margin" if self.attack == "cw" else "loss")

    @property
    def adaptive(self) -> bool:
        return self.objective in ADAPTIVE_OBJECTIVES or self.objective == "scores"

    @property
    def effort(self) -> int:
        """Gradient steps × restarts, to compare weaker and stronger runs of one attack."""
        return int(self.params.get("steps", 10)) * int(self.params.get("restarts", 1))


@dataclass
class Outcome:
    """The result of one attack at one radius over the whole split.

    ``stale`` is None for a result of the model and samples being evaluated, else why it no
    longer matches them (kept for reference, never used in the worst case or the checks)."""

    label: str
    attack: str
    objective: str
    kind: str
    norm: str
    eps: float
    n: int
    robust_accuracy: float | None
    attack_success: float | None
    abstain_rate: float | None
    survival: float | None
    steps: int
    seconds: float
    adv_pred: list[int] = field(repr=False)
    effort: int = 1
    """The attack's budget (steps × restarts), to order weaker and stronger runs of one attack."""
    flags: list[str] = field(default_factory=list)
    eps_text: str = ""
    """The radius as the user wrote it (``8/255``)."""
    target: int | None = None
    fixed_eps: bool = False
    """Whether the radius was the spec's own (a sanity run) rather than one of the eps list."""
    stale: str | None = None
    clean_accuracy: float | None = None
    model: dict = field(default_factory=dict, repr=False)
    samples: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.eps_text = self.eps_text or eps_text(self.eps)

    def row(self) -> dict[str, Any]:
        """One flat table row (CSV/JSON); the per-sample decisions stay in the state file."""
        clean = self.clean_accuracy
        ratio = stability_ratio(self.robust_accuracy, clean) if clean and self.robust_accuracy is not None else None
        return {
            "label": self.label, "attack": self.attack, "objective": self.objective, "kind": self.kind,
            "norm": self.norm, "eps": self.eps, "eps_text": self.eps_text, "target": self.target, "n": self.n,
            "robust_accuracy": self.robust_accuracy, "attack_success": self.attack_success,
            "abstain_rate": self.abstain_rate, "survival": self.survival, "stability_ratio": ratio,
            "steps": self.steps, "seconds": self.seconds, "effort": self.effort, "fixed_eps": self.fixed_eps,
            "flags": ";".join(self.flags), "stale": self.stale is not None, "stale_reason": self.stale or "",
            "weights": self.model.get("weights"), "weights_sha256": self.model.get("sha256"),
            "samples_sha256": self.samples.get("sha256"),
        }


@dataclass
class RobustReport:
    """Clean decisions, one Outcome per (attack, eps) of the evaluated model and samples, the
    worst case per sample, and the ``stale`` outcomes kept from other weights or samples."""

    labels: Tensor
    clean_pred: Tensor
    outcomes: list[Outcome]
    norm: str
    target: int | None = None
    checks: list = field(default_factory=list)
    stale: list[Outcome] = field(default_factory=list)
    input_shape: tuple[int, ...] | None = None
    model: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)

    @property
    def clean_accuracy(self) -> float:
        return (self.clean_pred == self.labels).float().mean().item()

    def worst_case(self) -> dict[float, float]:
        """Robust accuracy per eps when a sample counts as robust only if it survives every attack
        at that eps; only at radii of the eps list (a sanity run alone is no evaluation)."""
        out = {}
        for eps in sorted({o.eps for o in self.outcomes if not o.fixed_eps}):
            robust = self.clean_pred == self.labels
            for o in self.outcomes:
                if o.eps == eps:
                    robust &= torch.tensor(o.adv_pred, dtype=torch.int64) == self.labels
            out[eps] = robust.float().mean().item()
        return out

    def eps_texts(self) -> dict[float, str]:
        """Each radius of the outcomes as the user wrote it."""
        return {o.eps: o.eps_text for o in self.outcomes}

    def rows(self) -> list[dict[str, Any]]:
        """Table rows: the current outcomes, then the stale ones (marked ``stale``)."""
        return [o.row() for o in [*self.outcomes, *self.stale]]


class EvaluationState:
    """The per-sample store behind one results file: every (attack, eps, norm, target) ever
    computed, each with the model (weights SHA-256) and the samples it was computed on.

    An entry is replaced only by a recomputation of the same cell on the same model and
    samples; entries of other models or samples stay. Saved atomically after every change.
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self.entries: list[dict] = _read_entries(self.path)

    def find(self, key: tuple) -> dict | None:
        return next((e for e in self.entries if _key(e) == key), None)

    def put(self, entry: dict) -> None:
        """Add (or replace) one entry and save; the file is read again first, so entries another
        process saved meanwhile (a second evaluation of the same run) are kept too."""
        key = _key(entry)
        current = self.entries if self.path is None else _read_entries(self.path)
        self.entries = [e for e in current if _key(e) != key] + [entry]
        if self.path is not None:
            atomic_write_text(self.path, json.dumps({"format": STATE_FORMAT, "entries": self.entries}))


def _key(entry: dict) -> tuple:
    return (entry["label"], float(entry["eps"]), entry["norm"], entry.get("target"), entry["model"].get("sha256"), entry["samples"].get("sha256"))


def _read_entries(path: Path | None) -> list[dict]:
    if path is None or not path.is_file():
        return []
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"evaluation state {path} is not valid JSON ({err}); move it away to start over") from None
    if isinstance(state, dict) and state.get("format") == STATE_FORMAT and isinstance(state.get("entries"), list):
        return state["entries"]
    if isinstance(state, dict) and "_tag" in state:
        return _legacy_entries(state)
    raise ConfigError(f"evaluation state {path} is not a labelrobust state file (no format {STATE_FORMAT!r}); move it away to start over")


def _legacy_entries(state: dict) -> list[dict]:
    """Entries of a format-1 state (keys ``label@eps@norm@target``, one ``_tag``): kept as stale."""
    sha, _, n = str(state["_tag"]).partition(":")
    entries = []
    for key, done in state.items():
        if key == "_tag":
            continue
        label, eps, norm, target = key.rsplit("@", 3)
        entries.append({
            "label": label, "attack": "", "objective": "", "kind": "", "effort": 1, "norm": norm, "eps": float(eps),
            "eps_text": eps_text(float(eps)), "target": None if target == "None" else int(target), "fixed_eps": False,
            "model": {"sha256": sha, "legacy": True}, "samples": {"n": int(n or 0)}, "metrics": {}, **done,
        })
    return entries


def evaluate_attacks(
    model: torch.nn.Module,
    space: LabelSpace,
    images: ImageSet,
    specs: list[AttackSpec],
    eps_values: list[float | str],
    norm: str = "linf",
    *,
    target: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    state_path: str | Path | None = None,
    model_id: dict | None = None,
    quiet: bool = False,
) -> RobustReport:
    """Attack ``images`` with every spec at every eps; see the module docstring.

    ``eps_values``: numbers or texts (``"8/255"``); each must lie inside the input domain.
    ``target``: a class index for targeted attacks; samples of that class are left out.
    ``device``: where batches are attacked (None: the model's device).
    ``model_id``: identifies the model (``{"weights": "latest", "sha256": ...}``); saved results
    of another ``sha256`` are returned as stale instead of reused. The report holds every
    result of ``state_path`` for this norm and target, not only those asked for now.
    """
    positive_int(batch_size, "batch_size")
    radii = _radii(specs, eps_values, norm, tuple(images.images.shape[1:]))
    images = _leave_out_target(images, target, space)
    device = model_device(model) if device is None else device
    model_id, samples = dict(model_id or {}), sample_identity(images)
    labels = images.labels
    clean_pred = space.decode(model_outputs(model, images, batch_size, device))
    state = EvaluationState(state_path)
    cells = [(spec, eps, text) for spec in specs for eps, text in radii[spec.label]]
    todo = [c for c in cells if state.find((c[0].label, c[1], norm, target, model_id.get("sha256"), samples["sha256"])) is None]
    if state_path is not None and len(todo) < len(cells):
        log.info("%d of %d (attack, eps) results already in %s: reused", len(cells) - len(todo), len(cells), state_path)
    for spec, eps, text in todo:
        done = _run_one(model, space, images, spec, norm, eps, text, target, batch_size, device, _seed_for(seed, spec.label, eps), quiet)
        entry = _entry(spec, eps, text, norm, target, model_id, samples, done)
        entry["metrics"] = _metrics(torch.tensor(done["adv_pred"], dtype=torch.int64), labels, clean_pred)
        state.put(entry)
    return _report(state.entries, labels, clean_pred, norm, target, model_id, samples, tuple(images.images.shape[1:]))


def _radii(specs: list[AttackSpec], eps_values: list[float | str], norm: str, input_shape: tuple[int, ...]) -> dict[str, list[tuple[float, str]]]:
    """Every spec's radii as (value, text), checked before any attack runs."""
    if not eps_values and any(spec.eps is None for spec in specs):
        raise ConfigError("give at least one eps (e.g. --eps 8/255)")
    listed = list({r[0]: r for r in (_radius(e, norm, input_shape) for e in eps_values)}.values())
    return {spec.label: listed if spec.eps is None else [_radius(spec.eps, norm, input_shape)] for spec in specs}


def _radius(value: float | str, norm: str, input_shape: tuple[int, ...]) -> tuple[float, str]:
    if value == HALF_DIAMETER:
        radius = half_diameter(norm, input_shape)
        return radius, f"{radius:.4g}"
    threat = make_threat_model(norm, value)
    threat.check_domain(input_shape, "eps")
    return threat.eps, eps_text(value)


def _leave_out_target(images: ImageSet, target: int | None, space: LabelSpace) -> ImageSet:
    if target is None:
        return images
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < space.num_classes:
        raise ConfigError(f"target class must lie in 0..{space.num_classes - 1}, got {target}")
    return images.subset((images.labels != target).nonzero().flatten())


def _entry(spec: AttackSpec, eps: float, text: str, norm: str, target: int | None, model_id: dict, samples: dict, done: dict) -> dict:
    """One state entry: what was attacked, on which model and samples, and the per-sample result."""
    return {
        "label": spec.label, "attack": spec.attack, "params": json.loads(json.dumps(spec.params, default=str)),
        "objective": spec.objective, "kind": spec.kind, "effort": spec.effort, "norm": norm, "eps": eps,
        "eps_text": text, "target": target, "fixed_eps": spec.eps is not None, "model": model_id, "samples": samples,
        "computed": now(), **done,
    }


def _metrics(adv_pred: Tensor, labels: Tensor, clean_pred: Tensor) -> dict[str, float | None]:
    correct = clean_pred == labels
    return {
        "robust_accuracy": (adv_pred == labels).float().mean().item(),
        "attack_success": (adv_pred[correct] != labels[correct]).float().mean().item() if correct.any() else None,
        "abstain_rate": (adv_pred == ABSTAIN).float().mean().item(),
        "survival": survival_rate(clean_pred, adv_pred),
        "clean_accuracy": correct.float().mean().item(),
    }


def _report(entries: list[dict], labels: Tensor, clean_pred: Tensor, norm: str, target: int | None, model_id: dict, samples: dict, input_shape: tuple[int, ...]) -> RobustReport:
    """The report of one norm and target: current outcomes (metrics recomputed against this
    model's clean decisions) first, then the stale ones, each group by attack and eps."""
    mine = [e for e in entries if e["norm"] == norm and e.get("target") == target]
    order: dict[str, int] = {}
    for e in mine:
        order.setdefault(e["label"], len(order))
    mine.sort(key=lambda e: (order[e["label"]], float(e["eps"])))
    current, stale = [], []
    for e in mine:
        reason = _stale_reason(e, model_id, samples)
        if reason is None:
            metrics = _metrics(torch.tensor(e["adv_pred"], dtype=torch.int64), labels, clean_pred)
            current.append(_outcome(e, metrics, None))
        else:
            stale.append(_outcome(e, e.get("metrics") or {}, reason))
    return RobustReport(labels, clean_pred, current, norm, target, stale=stale, input_shape=input_shape, model=model_id, samples=samples)


def _stale_reason(entry: dict, model_id: dict, samples: dict) -> str | None:
    """Why a saved result does not describe this model on these samples (None: it does)."""
    model = entry["model"]
    if model.get("legacy"):
        return f"from an older labelrobust (state format 1, weights sha256 {model.get('sha256', '')[:12]})"
    if model.get("sha256") != model_id.get("sha256"):
        return f"other weights: {model.get('weights') or 'weights'} sha256 {str(model.get('sha256'))[:12]}"
    if entry["samples"].get("sha256") != samples["sha256"]:
        return f"other samples: n={entry['samples'].get('n')}"
    return None


def _outcome(entry: dict, metrics: dict, stale: str | None) -> Outcome:
    return Outcome(
        label=entry["label"], attack=entry.get("attack", ""), objective=entry.get("objective", ""), kind=entry.get("kind", ""),
        norm=entry["norm"], eps=float(entry["eps"]), n=len(entry["adv_pred"]),
        robust_accuracy=metrics.get("robust_accuracy"), attack_success=metrics.get("attack_success"),
        abstain_rate=metrics.get("abstain_rate"), survival=metrics.get("survival"),
        steps=entry["steps"], seconds=entry["seconds"], adv_pred=entry["adv_pred"], effort=entry.get("effort", 1),
        eps_text=entry.get("eps_text", ""), target=entry.get("target"), fixed_eps=entry.get("fixed_eps", False),
        stale=stale, clean_accuracy=metrics.get("clean_accuracy"), model=entry["model"], samples=entry["samples"],
    )


def _seed_for(seed: int, label: str, eps: float) -> int:
    return (seed * 1_000_003 + zlib.crc32(f"{label}@{eps!r}".encode())) % (2**31)


def _run_one(model, space, images: ImageSet, spec: AttackSpec, norm: str, eps: float, text: str, target: int | None, batch_size: int, device, seed: int, quiet: bool) -> dict:
    attack = make_attack(spec.attack, norm=norm, eps=eps, **spec.params)
    torch.manual_seed(seed)
    preds, steps = [], 0
    started = time.perf_counter()
    bar = tqdm(total=len(images), desc=f"{spec.label} eps={text}", unit="img", disable=True if quiet else None, leave=False)
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            x = images.float_images(slice(start, start + batch_size)).to(device)
            y = images.labels[start : start + batch_size].to(device)
            t = None if target is None else torch.full_like(y, target)
            result = attack(model, space, x, y, t)
            preds.append(result.pred.cpu())
            steps += result.steps
            bar.update(len(y))
    bar.close()
    return {"adv_pred": torch.cat(preds).tolist() if preds else [], "steps": steps, "seconds": round(time.perf_counter() - started, 3)}
