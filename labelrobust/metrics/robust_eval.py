"""Running a list of attacks over a split at several radii: per-sample outcomes, worst case, resume.

Every (attack, eps) pair is attacked batch by batch with the model in eval mode (restored
afterwards) and the torch RNG seeded from (seed, attack, eps), so results do not depend on
the order of attacks or on resuming. The adversarial decision of every sample is kept, so the
worst case per sample over all attacks, survival and confusion matrices come from the same run.
With a ``state_path``, each finished (attack, eps) pair is saved atomically and skipped when
the evaluation is run again (AutoAttack's EvaluationState, one level up).
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from labelrobust.atomic import atomic_write_text
from labelrobust.attacks import make_attack, parse_eps
from labelrobust.data import ImageSet
from labelrobust.errors import ConfigError
from labelrobust.labels import ABSTAIN, LabelSpace
from labelrobust.metrics.inference import eval_mode, model_outputs
from labelrobust.metrics.robustness import stability_ratio, survival_rate

ADAPTIVE_OBJECTIVES = ("margin", "dlr", "ce")


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
    eps: float | None = None
    """A fixed radius for this spec alone (e.g. the large-eps check), instead of the eps list."""

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
    """The result of one attack at one radius over the whole split."""

    label: str
    attack: str
    objective: str
    kind: str
    norm: str
    eps: float
    n: int
    robust_accuracy: float
    attack_success: float | None
    abstain_rate: float
    survival: float
    steps: int
    seconds: float
    adv_pred: list[int] = field(repr=False)
    effort: int = 1
    """The attack's budget (steps × restarts), to order weaker and stronger runs of one attack."""
    flags: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("adv_pred")
        row["flags"] = ";".join(self.flags)
        return row


@dataclass
class RobustReport:
    """Clean decisions, one Outcome per (attack, eps), and the worst case per sample."""

    labels: Tensor
    clean_pred: Tensor
    outcomes: list[Outcome]
    norm: str
    target: int | None = None
    checks: list = field(default_factory=list)

    @property
    def clean_accuracy(self) -> float:
        return (self.clean_pred == self.labels).float().mean().item()

    def worst_case(self) -> dict[float, float]:
        """Robust accuracy per eps when a sample counts as robust only if it survives every attack."""
        out = {}
        for eps in sorted({o.eps for o in self.outcomes}):
            robust = self.clean_pred == self.labels
            for o in self.outcomes:
                if o.eps == eps:
                    robust &= torch.tensor(o.adv_pred) == self.labels
            out[eps] = robust.float().mean().item()
        return out

    def rows(self) -> list[dict[str, Any]]:
        """Table rows, with the stability ratio ``R = acc_adv / acc_clean`` (task-aware study)."""
        clean = self.clean_accuracy
        return [{**o.row(), "stability_ratio": stability_ratio(o.robust_accuracy, clean) if clean > 0 else None} for o in self.outcomes]


def _seed_for(seed: int, label: str, eps: float) -> int:
    return (seed * 1_000_003 + zlib.crc32(f"{label}@{eps!r}".encode())) % (2**31)


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
    device: str = "cpu",
    seed: int = 0,
    state_path: str | Path | None = None,
    state_tag: str = "",
    quiet: bool = False,
) -> RobustReport:
    """Attack ``images`` with every spec at every eps; see the module docstring.

    ``target``: a class index for targeted attacks; samples of that class are left out.
    ``state_tag``: identifies the model and data (e.g. a hash of the weights); a saved state
    with another tag is stale and is discarded rather than reused.
    """
    if not eps_values and any(spec.eps is None for spec in specs):
        raise ConfigError("give at least one eps (e.g. --eps 8/255)")
    eps_list = [parse_eps(e) for e in eps_values]
    labels_all = images.labels
    if target is not None:
        if not 0 <= target < space.num_classes:
            raise ConfigError(f"target class must lie in 0..{space.num_classes - 1}, got {target}")
        images = images.subset((labels_all != target).nonzero().flatten())
    labels = images.labels
    clean_pred = space.decode(model_outputs(model, images, batch_size, device))
    state = _load_state(state_path)
    if state.get("_tag") != state_tag:
        state = {"_tag": state_tag}
    outcomes = []
    for spec in specs:
        for eps in eps_list if spec.eps is None else [spec.eps]:
            key = f"{spec.label}@{eps!r}@{norm}@{target}"
            if key not in state:
                state[key] = _run_one(model, space, images, spec, norm, eps, target, batch_size, device, _seed_for(seed, spec.label, eps), quiet)
                if state_path is not None:
                    atomic_write_text(state_path, json.dumps(state))
            done = state[key]
            adv_pred = torch.tensor(done["adv_pred"])
            correct = clean_pred == labels
            outcomes.append(
                Outcome(
                    label=spec.label,
                    attack=spec.attack,
                    objective=spec.objective,
                    kind=spec.kind,
                    norm=norm,
                    eps=eps,
                    n=len(labels),
                    robust_accuracy=(adv_pred == labels).float().mean().item(),
                    attack_success=(adv_pred[correct] != labels[correct]).float().mean().item() if correct.any() else None,
                    abstain_rate=(adv_pred == ABSTAIN).float().mean().item(),
                    survival=survival_rate(clean_pred, adv_pred),
                    steps=done["steps"],
                    seconds=done["seconds"],
                    adv_pred=done["adv_pred"],
                    effort=spec.effort,
                )
            )
    return RobustReport(labels, clean_pred, outcomes, norm, target)


def _run_one(model, space, images: ImageSet, spec: AttackSpec, norm: str, eps: float, target: int | None, batch_size: int, device: str, seed: int, quiet: bool) -> dict:
    attack = make_attack(spec.attack, norm=norm, eps=eps, **spec.params)
    torch.manual_seed(seed)
    preds, steps = [], 0
    started = time.perf_counter()
    bar = tqdm(total=len(images), desc=f"{spec.label} eps={eps:.4g}", unit="img", disable=True if quiet else None, leave=False)
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
    return {"adv_pred": torch.cat(preds).tolist(), "steps": steps, "seconds": round(time.perf_counter() - started, 3)}


def _load_state(path: str | Path | None) -> dict:
    if path is None or not Path(path).is_file():
        return {}
    try:
        state = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"evaluation state {path} is not valid JSON ({err}); delete it to start over") from err
    if not isinstance(state, dict):
        raise ConfigError(f"evaluation state {path} is not a mapping; delete it to start over")
    return state
