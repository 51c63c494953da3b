"""Telling the user how long an evaluation will take: a bar over the (attack, eps) cells and an
estimate of the time left, first after the first batch, then after every cell.

The estimate counts each cell's *budget* in gradient-pass units per sample — a gradient step
is 1, a forward-only query (Square) is 1/3, since a backward pass costs about twice a forward
one — and divides by the measured seconds per unit. It is an upper bound: early stopping, the
active set and nested radii usually leave much of a budget unspent.
"""

from __future__ import annotations

import logging
import time

from tqdm.auto import tqdm

from labelrobust.attacks import AttackDescription

log = logging.getLogger(__name__)
FORWARD_UNIT = 1.0 / 3.0


def budget_units(description: AttackDescription) -> float:
    """Gradient-pass units one sample may cost under ``description``'s budget."""
    b = description.budget
    if description.name == "autoattack":
        targets = b.get("n_target_classes", 9)
        per = {"apgd-ce": b["n_iter"] * b["n_restarts"], "apgd-dlr": b["n_iter"] * b["n_restarts"], "apgd-t": b["n_iter"] * targets,
               "fab": b["n_iter"] * b["n_restarts"], "fab-t": b["n_iter"] * targets, "square": b["n_queries"] * FORWARD_UNIT}
        return float(sum(per[a] for a in b["attacks"]))
    if "n_queries" in b:
        return b["n_queries"] * b.get("n_restarts", 1) * FORWARD_UNIT
    if "n_iter" in b:
        return float(b["n_iter"] * b.get("n_restarts", 1))
    runs = max(1, b.get("targets", 0) or 0) * b.get("restarts", 1)
    return float(b.get("steps", 1) * runs)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


class Progress:
    """A bar over cells plus time estimates in the log. ``plan``: (label, eps text, units per
    sample, samples at most) for every cell still to compute."""

    def __init__(self, plan: list[tuple[str, str, float, int]], quiet: bool) -> None:
        self.plan = plan
        self.total_units = sum(u * n for _, _, u, n in plan)
        self.done_units = 0.0
        self.started = time.perf_counter()
        self.estimated = False
        self.bar = tqdm(total=len(plan), desc="evaluation", unit="cell", disable=True if quiet or not plan else None, leave=False)
        if plan:
            log.info("budget: %d (attack, eps) cell(s) to compute, at most %.0f gradient-pass units per sample over all of them "
                     "(a forward-only query counts 1/3)", len(plan), sum(u for _, _, u, _ in plan))

    def start_cell(self, label: str, text: str) -> None:
        self.bar.set_postfix_str(f"{label} eps={text}")

    def first_batch(self, units: float, seconds: float) -> None:
        """After the first attacked batch: an upper bound for the whole evaluation."""
        if self.estimated or units <= 0:
            return
        self.estimated = True
        rate = seconds / units
        log.info("estimate after the first batch: at most ~%s for %d (attack, eps) cell(s) (a budget bound; early stopping and "
                 "the active set usually cut it)", _minutes(rate * self.total_units), len(self.plan))

    def end_cell(self, units: float, seconds_so_far: float) -> None:
        self.done_units += units
        self.bar.update(1)
        left = self.total_units - self.done_units
        if self.done_units > 0 and left > 0:
            rate = seconds_so_far / self.done_units
            self.bar.set_postfix_str(f"≤ {_minutes(rate * left)} left")
            log.debug("at most ~%s left", _minutes(rate * left))

    def close(self) -> None:
        self.bar.close()
