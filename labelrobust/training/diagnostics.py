"""What one epoch of training did, summed batch by batch (and across processes).

Logged per epoch in ``metrics.jsonl``: the mean training loss; clean training accuracy
(``train_acc``: over the epoch's batches for methods whose loss sees the clean batch —
standard, TRADES, MART; for those that train on perturbed inputs only — AT, WPGD, noise — the
end-of-epoch model in eval mode on a fixed probe of ``CLEAN_PROBE`` training samples, which
costs a fraction of an extra forward pass per batch) and accuracy on the inputs trained on
(``adv_train_acc``: adversarial or noisy), with abstention rates; for reweighted methods the mean / min / max
instance weight; for adversarial methods histograms of PM and CL-PM of the adversarial
examples (20 bins over [−1, 1] whose end bins also hold the values beyond; CL-PM reaches below
−1 when several labels confuse) and, among misclassified adversarial examples, how many have a
single confused label and how many have several (methods.md §3's diagnostic).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from labelrobust.labels import ABSTAIN, LabelSpace
from labelrobust.training.margins import confused_label_margin, confused_labels, probability_margin

CLEAN_PROBE = 1024
"""Training samples (a fixed seeded subset) on which AT/WPGD/noise runs measure clean accuracy."""

HIST_BINS = 20
HIST_RANGE = (-1.0, 1.0)


def histogram(values: Tensor) -> list[int]:
    """Counts in ``HIST_BINS`` equal bins over ``HIST_RANGE``; values beyond go to the end bins."""
    lo, hi = HIST_RANGE
    index = ((values.float().clamp(lo, hi) - lo) / (hi - lo) * HIST_BINS).long().clamp_(0, HIST_BINS - 1)
    return torch.bincount(index.cpu(), minlength=HIST_BINS).tolist()


def histogram_edges() -> list[float]:
    lo, hi = HIST_RANGE
    return [lo + (hi - lo) * i / HIST_BINS for i in range(HIST_BINS + 1)]


@dataclass
class EpochTally:
    """Running sums of one epoch (saved as JSON in mid-epoch checkpoints)."""

    loss_sum: float = 0.0
    loss_seen: int = 0
    seen: int = 0
    correct: int = 0
    abstained: int = 0
    adv_seen: int = 0
    adv_correct: int = 0
    adv_abstained: int = 0
    weight_seen: int = 0
    weight_sum: float = 0.0
    weight_min: float = float("inf")
    weight_max: float = float("-inf")
    pm_hist: list = field(default_factory=lambda: [0] * HIST_BINS)
    clpm_hist: list = field(default_factory=lambda: [0] * HIST_BINS)
    single_cl: int = 0
    multi_cl: int = 0

    def add_loss(self, losses: Tensor) -> None:
        self.loss_sum += float(losses.detach().sum())
        self.loss_seen += len(losses)

    def add_clean(self, space: LabelSpace, outputs: Tensor, labels: Tensor) -> None:
        pred = space.decide(outputs, labels)  # decode, or for a multi-label space: the label kept in the set
        self.seen += len(labels)
        self.correct += int((pred == labels).sum())
        self.abstained += int((pred == ABSTAIN).sum())

    def add_attacked(self, space: LabelSpace, outputs: Tensor, labels: Tensor, margins: bool) -> None:
        pred = space.decide(outputs, labels)
        self.adv_seen += len(labels)
        self.adv_correct += int((pred == labels).sum())
        self.adv_abstained += int((pred == ABSTAIN).sum())
        if margins:
            probs = space.probabilities(outputs)
            self.pm_hist = [a + b for a, b in zip(self.pm_hist, histogram(probability_margin(probs, labels)), strict=True)]
            self.clpm_hist = [a + b for a, b in zip(self.clpm_hist, histogram(confused_label_margin(probs, labels)), strict=True)]
            count = confused_labels(probs, labels).sum(dim=1)
            self.single_cl += int((count == 1).sum())
            self.multi_cl += int((count > 1).sum())

    def add_weights(self, weights: Tensor) -> None:
        self.weight_seen += len(weights)
        self.weight_sum += float(weights.sum())
        if len(weights):
            self.weight_min = min(self.weight_min, float(weights.min()))
            self.weight_max = max(self.weight_max, float(weights.max()))

    def to_json(self) -> dict:
        # JSON has no infinity: an empty min/max travels as None
        out = asdict(self)
        for key in ("weight_min", "weight_max"):
            if out[key] in (float("inf"), float("-inf")):
                out[key] = None
        return out

    @classmethod
    def from_json(cls, data: dict) -> EpochTally:
        data = dict(data)
        if data.get("weight_min") is None:
            data["weight_min"] = float("inf")
        if data.get("weight_max") is None:
            data["weight_max"] = float("-inf")
        return cls(**data)

    @classmethod
    def combine(cls, tallies: list[EpochTally]) -> EpochTally:
        """One tally of several processes' tallies: sums, and min / max of the extremes."""
        out = cls()
        for t in tallies:
            for key, value in asdict(t).items():
                if key == "weight_min":
                    out.weight_min = min(out.weight_min, value)
                elif key == "weight_max":
                    out.weight_max = max(out.weight_max, value)
                elif isinstance(value, list):
                    setattr(out, key, [a + b for a, b in zip(getattr(out, key), value, strict=True)])
                else:
                    setattr(out, key, getattr(out, key) + value)
        return out

    def to_tensor(self, device: str | torch.device = "cpu") -> Tensor:
        """A flat float64 vector on ``device``, so processes can exchange tallies with one
        all_gather (NCCL, the CUDA backend, gathers CUDA tensors only: pass the rank's device)."""
        flat = []
        for value in asdict(self).values():
            flat.extend(value if isinstance(value, list) else [value])
        return torch.tensor(flat, dtype=torch.float64, device=device)

    @classmethod
    def from_tensor(cls, flat: Tensor) -> EpochTally:
        values, i, kwargs = flat.tolist(), 0, {}
        for key, value in asdict(cls()).items():
            if isinstance(value, list):
                kwargs[key] = [int(v) for v in values[i : i + len(value)]]
                i += len(value)
            else:
                kwargs[key] = type(value)(values[i])
                i += 1
        return cls(**kwargs)

    def record(self, adversarial: bool, weighted: bool) -> dict:
        n, m = max(self.seen, 1), max(self.adv_seen, 1)
        out = {"train_loss": self.loss_sum / max(self.loss_seen, 1), "train_acc": self.correct / n, "train_abstain": self.abstained / n}
        if self.adv_seen:
            out.update(adv_train_acc=self.adv_correct / m, adv_train_abstain=self.adv_abstained / m)
        if weighted and self.weight_seen:
            out.update(weight_mean=self.weight_sum / self.weight_seen, weight_min=self.weight_min, weight_max=self.weight_max)
        if adversarial:
            out.update(pm_hist=self.pm_hist, clpm_hist=self.clpm_hist, single_cl=self.single_cl, multi_cl=self.multi_cl)
        return out
