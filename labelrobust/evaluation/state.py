"""The per-sample store behind one results file (``robust-NAME.state.json``).

Every (attack, eps, norm, target) cell ever computed is kept, each with the model (weights
SHA-256) and the samples it was computed on. A cell is replaced only by a recomputation of the
same cell on the same model and samples; cells of other models or samples stay and come back
as *stale*. Saved atomically after every cell, so an interrupted evaluation resumes.

Format ``labelrobust-robust-state-3``. Older files are read, never rewritten in their format:
format 2 (which attacked the true label and stored no attack description) and format 1 (one
``_tag``) come back as stale cells that say which format they are from.
"""

from __future__ import annotations

import json
from pathlib import Path

from labelrobust.atomic import atomic_write_text
from labelrobust.errors import ConfigError
from labelrobust.evaluation.specs import DIAGNOSTIC_ROLE, eps_text

STATE_FORMAT = "labelrobust-robust-state-3"
OLD_FORMATS = ("labelrobust-robust-state-2",)


def cell_key(entry: dict) -> tuple:
    return (entry["label"], float(entry["eps"]), entry["norm"], entry.get("target"), entry["model"].get("sha256"), entry["samples"].get("sha256"))


class EvaluationState:
    """The cells of one state file (see the module docstring)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self.entries: list[dict] = read_entries(self.path)

    def find(self, key: tuple) -> dict | None:
        return next((e for e in self.entries if cell_key(e) == key), None)

    def put(self, entry: dict) -> None:
        """Add (or replace) one cell and save; the file is read again first, so cells another
        process saved meanwhile (a second evaluation of the same run) are kept too."""
        key = cell_key(entry)
        current = self.entries if self.path is None else read_entries(self.path)
        self.entries = [e for e in current if cell_key(e) != key] + [entry]
        if self.path is not None:
            atomic_write_text(self.path, json.dumps({"format": STATE_FORMAT, "entries": self.entries}))


    def save_metrics(self, metrics: dict[tuple, dict]) -> None:
        """Store each cell's counted metrics in its entry (so a cell that later turns stale still
        shows its numbers) and save once."""
        changed = False
        for entry in self.entries:
            value = metrics.get(cell_key(entry))
            if value is not None and entry.get("metrics") != value:
                entry["metrics"], changed = value, True
        if changed and self.path is not None:
            atomic_write_text(self.path, json.dumps({"format": STATE_FORMAT, "entries": self.entries}))


def read_entries(path: Path | None) -> list[dict]:
    if path is None or not path.is_file():
        return []
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"evaluation state {path} is not valid JSON ({err}); move it away to start over") from None
    if isinstance(state, dict) and state.get("format") == STATE_FORMAT and isinstance(state.get("entries"), list):
        return state["entries"]
    if isinstance(state, dict) and state.get("format") in OLD_FORMATS and isinstance(state.get("entries"), list):
        return [_from_format_2(e) for e in state["entries"]]
    if isinstance(state, dict) and "_tag" in state:
        return _from_format_1(state)
    raise ConfigError(f"evaluation state {path} is not a labelrobust state file (no format {STATE_FORMAT!r}); move it away to start over")


def _from_format_2(entry: dict) -> dict:
    """A format-2 cell: every sample attacked against its true label, the attack known only by
    its registry name. Kept for reference as a stale cell."""
    description = {"name": entry.get("attack", ""), "kind": entry.get("kind", ""), "objective": entry.get("objective", ""),
                   "adaptive": entry.get("objective") not in ("loss", ""), "budget": {}}
    return {
        "label": entry["label"], "role": DIAGNOSTIC_ROLE, "description": description, "norm": entry["norm"],
        "eps": float(entry["eps"]), "eps_text": entry.get("eps_text") or eps_text(float(entry["eps"])), "target": entry.get("target"),
        "fixed_eps": entry.get("fixed_eps", False), "order": 0, "decisions": entry.get("adv_pred", []), "cost": {},
        "seconds": entry.get("seconds", 0.0), "model": {**entry.get("model", {}), "format": 2}, "samples": entry.get("samples", {}),
        "metrics": entry.get("metrics") or {},
    }


def _from_format_1(state: dict) -> list[dict]:
    """Cells of a format-1 state (keys ``label@eps@norm@target``, one ``_tag``)."""
    sha, _, n = str(state["_tag"]).partition(":")
    entries = []
    for key, done in state.items():
        if key == "_tag":
            continue
        label, eps, norm, target = key.rsplit("@", 3)
        entries.append(_from_format_2({
            "label": label, "norm": norm, "eps": float(eps), "target": None if target == "None" else int(target),
            "model": {"sha256": sha, "legacy": True}, "samples": {"n": int(n or 0)}, **done,
        }))
    return entries


def stale_reason(entry: dict, model_id: dict, samples: dict) -> str | None:
    """Why a saved cell does not describe this model on these samples (None: it does)."""
    model = entry["model"]
    if model.get("legacy"):
        return f"from an older labelrobust (state format 1, weights sha256 {str(model.get('sha256', ''))[:12]})"
    if model.get("format") == 2:
        return "from an older labelrobust (state format 2: attacked the true label, not the clean prediction)"
    if model.get("sha256") != model_id.get("sha256"):
        return f"other weights: {model.get('weights') or 'weights'} sha256 {str(model.get('sha256'))[:12]}"
    if entry["samples"].get("sha256") != samples["sha256"]:
        return f"other samples: n={entry['samples'].get('n')}"
    return None
