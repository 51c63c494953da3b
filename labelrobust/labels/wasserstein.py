"""``wasserstein``: cost-sensitive targets under a label metric (Terzi, Susto, Chaudhari; WPGD).

With a symmetric, non-negative label metric ``C`` (K×K, zero diagonal) and power ``p``, the
p-Wasserstein distance from the softmax output ``ŷ`` to a one-hot target has a closed form,
``W_p^p(ŷ, onehot(y)) = C^{⊙p}_y · ŷ`` (all mass must move to ``y``). The loss of methods.md §4:

    ℓ_W(z, y) = C^{⊙p}_y · softmax(z) − (1 / (λ · log K)) · H(softmax(z)),

with H the Shannon entropy (natural log), so the entropic term lies in [0, 1/λ]. Targets
must be hard labels: for a soft target the closed form no longer holds. Scores are the
logits and decode is their arg-max, as for cross-entropy models.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.labels.base import LabelSpace, numeric_param
from labelrobust.labels.registry import LABEL_SPACES
from labelrobust.validation import number
from labelrobust.yaml_values import float_from_text


NPY_MAGIC = b"\x93NUMPY"
"""The first bytes of every ``.npy`` file (NumPy's format spec); numpy's own error for a file
without them talks about pickles, which says nothing useful about a misnamed file."""


def load_cost_matrix(cost: Any, num_classes: int) -> Tensor:
    """Read and validate a label metric: an array-like, or a path to a ``.npy``/``.csv``/``.txt`` file.

    The matrix must be square K×K, finite, non-negative, symmetric and zero on the diagonal;
    the error names the first condition that fails (and the file and line it came from).
    """
    where = "cost matrix"
    if isinstance(cost, (str, Path)):
        path = Path(cost)
        where = f"cost matrix {path}"
        cost = read_cost_file(path)
    try:
        c = torch.as_tensor(np.asarray(cost, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"label space 'wasserstein': {where} is not a numeric matrix ({err}); expected a "
            f"{num_classes}×{num_classes} matrix of numbers"
        ) from None
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ConfigError(f"label space 'wasserstein': {where} must be square, got shape {tuple(c.shape)}")
    if c.shape[0] != num_classes:
        raise ConfigError(
            f"label space 'wasserstein': {where} must be {num_classes}×{num_classes} "
            f"(one row per class), got {c.shape[0]}×{c.shape[1]}"
        )
    if not torch.isfinite(c).all():
        raise ConfigError(f"label space 'wasserstein': {where} must be finite; it has NaN/inf entries")
    if (c < 0).any():
        i, j = (c < 0).nonzero()[0].tolist()
        raise ConfigError(f"label space 'wasserstein': {where} must be non-negative; C[{i},{j}] = {c[i, j].item()}")
    if not torch.allclose(c, c.T, rtol=1e-6, atol=1e-9):
        i, j = ((c - c.T).abs() > 1e-9).nonzero()[0].tolist()
        raise ConfigError(
            f"label space 'wasserstein': {where} must be symmetric; C[{i},{j}] = {c[i, j].item()} "
            f"but C[{j},{i}] = {c[j, i].item()}"
        )
    if (c.diagonal() != 0).any():
        i = int((c.diagonal() != 0).nonzero()[0])
        raise ConfigError(f"label space 'wasserstein': {where} must be zero on the diagonal; C[{i},{i}] = {c[i, i].item()}")
    return c.to(torch.float32)


def read_cost_file(path: Path) -> np.ndarray | list[list[float]]:
    """The matrix in ``path``: a ``.npy`` array, or text with one row per line, numbers separated
    by commas (``.csv``) or whitespace (any other suffix); blank lines and ``#`` comments are
    skipped. Every failure is a one-line ConfigError naming the file (and the line)."""
    if path.is_dir():
        raise ConfigError(f"label space 'wasserstein': cost matrix {path} is a folder; expected a .npy or .csv file")
    if not path.is_file():
        raise ConfigError(f"label space 'wasserstein': cost matrix {path} does not exist")
    if path.suffix == ".npy":
        try:
            with path.open("rb") as f:
                if f.read(len(NPY_MAGIC)) != NPY_MAGIC:
                    raise ValueError("it does not start with the NumPy file header")
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise ConfigError(
                f"label space 'wasserstein': cost matrix {path} is not a readable .npy array ({err}); "
                f"expected a K×K numeric matrix saved with numpy.save"
            ) from None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"label space 'wasserstein': cost matrix {path} cannot be read as text ({err}); expected a "
            f"K×K numeric matrix, comma-separated (.csv), or a .npy file"
        ) from None
    return _parse_matrix_text(text, path)


def _parse_matrix_text(text: str, path: Path) -> list[list[float]]:
    comma = path.suffix == ".csv"
    layout = "comma-separated" if comma else "whitespace-separated"
    rows: list[list[float]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        fields = [f.strip() for f in content.split(",")] if comma else content.split()
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            word = next(f for f in fields if float_from_text(f) is None)
            raise ConfigError(
                f"label space 'wasserstein': cost matrix {path}, line {line_no}: {word!r} is not a number; "
                f"expected a K×K numeric matrix, {layout}, one row per line, without a header row"
            ) from None
        if len(rows[-1]) != len(rows[0]):
            raise ConfigError(
                f"label space 'wasserstein': cost matrix {path}, line {line_no} has {len(rows[-1])} "
                f"numbers but the first row has {len(rows[0])}; expected a K×K numeric matrix, {layout}"
            )
    if not rows:
        raise ConfigError(f"label space 'wasserstein': cost matrix {path} holds no numbers; expected a K×K numeric matrix, {layout}")
    return rows


@LABEL_SPACES.register("wasserstein", "cost-sensitive: C^p_y·softmax(z) − H/(λ log K) under a label metric C")
class WassersteinTargets(LabelSpace):
    """Parameters: ``cost`` C (default the 0-1 metric ``1 − I``), ``power`` p > 0 (default 1),
    ``lam`` λ > 0 (default 1.0; ``.inf`` in YAML drops the entropic term)."""

    scores_are_outputs = True

    name = "wasserstein"
    target_kind = "N×K one-hot rows"

    def __init__(self, num_classes: int, cost: Any = None, power: float = 1.0, lam: float = 1.0) -> None:
        super().__init__(num_classes)
        power, lam = numeric_param(power), numeric_param(lam)
        power = number(power, "label space 'wasserstein': power p", low=0, low_open=True)
        lam = number(lam, "label space 'wasserstein': lam (λ)", low=0, low_open=True, allow_inf=True)
        if cost is None:
            self.cost = 1.0 - torch.eye(num_classes)
        else:
            self.cost = load_cost_matrix(cost, num_classes)
        self._cost_param = cost if cost is None or isinstance(cost, (str, Path)) else self.cost.tolist()
        self.power = float(power)
        self.lam = float(lam)
        self.cost_power = self.cost.pow(self.power)

    @property
    def out_dim(self) -> int:
        return self.num_classes

    def encode(self, y: Tensor) -> Tensor:
        """Hard labels → one-hot targets (N×K)."""
        return F.one_hot(self.targets_from(y), self.num_classes).to(torch.float32)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        self.check_outputs(outputs)
        self.check_targets(outputs, targets)
        log_probs = self.log_probabilities(outputs)
        probs = log_probs.exp()
        # C^p follows the outputs' dtype and device, and so do the one-hot targets (encode gives
        # float32; a float64 or half-precision model's outputs would not multiply with them)
        cost = self.constant("cost_power", outputs.device, outputs.dtype)
        transport = ((targets.to(outputs.dtype) @ cost) * probs).sum(dim=1)
        if math.isinf(self.lam):
            return transport
        entropy = -(probs * log_probs).sum(dim=1)
        return transport - entropy / (self.lam * math.log(self.num_classes))

    def valid_targets(self, targets: Tensor) -> Tensor:
        # one-hot: every entry 0 or 1, one 1 per row (the closed form holds for these only)
        return ((targets == 0) | (targets == 1)).all() & (targets.sum(dim=1) == 1).all()

    def explain_invalid_targets(self, targets: Tensor) -> None:
        bad = ~(((targets == 0) | (targets == 1)).all(1) & (targets.sum(dim=1) == 1))
        rows = bad.nonzero().flatten()
        raise ConfigError(
            f"label space 'wasserstein': loss targets must be one-hot rows (encode(y) of hard labels; the "
            f"closed form C^p_y·p holds for one-hot targets only); rows {rows[:5].tolist()} are not, "
            f"e.g. {targets[rows[0]].tolist()}"
        )

    def scores(self, outputs: Tensor) -> Tensor:
        self.check_outputs(outputs)
        return outputs

    def params(self) -> dict[str, Any]:
        cost = str(self._cost_param) if isinstance(self._cost_param, Path) else self._cost_param
        return {"cost": cost, "power": self.power, "lam": self.lam}
