"""The LabelSpace interface: how a class is represented, scored and decoded.

Every attack, training method, metric and verifier in labelrobust talks to a label space only
through these five members, so any method works with any label space:

- ``out_dim``: the width of the model head the space needs;
- ``encode(y)``: hard labels (int64, shape N) → training targets (soft spaces also accept
  per-sample distributions, N×K);
- ``loss(outputs, targets)``: per-sample losses, shape N (never reduced, so training methods
  can reweight samples); ``targets`` must be what ``encode`` returns, which ``check_targets``
  enforces for API and CLI alike (hard labels, wrong shapes, rows off the simplex, non-0/1
  codewords are one-line errors);
- ``decode(outputs)``: predicted class per sample, ``ABSTAIN`` (-1) where no class matches;
- ``scores(outputs)``: N×K class scores whose arg-max equals ``decode`` wherever ``decode``
  does not abstain.

Derived from the scores, for the methods that need class probabilities (TRADES, MART, the
reweighting margins, the training diagnostics): ``log_probabilities(outputs)`` =
``log_softmax(scores)``, computed stably, and ``probabilities(outputs)`` = its exponential.

What attacks, the evaluation and the metrics count as correct: ``decide(outputs, y)``, the
decision about class ``y``; ``decide == y`` means "the output keeps y". For every
single-label space it is ``decode``; a multi-label space (``multi_label``) returns ``y`` while
``y`` is in its predicted set (``docs/multilabel.md``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from numbers import Integral, Real
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.validation import integer
from labelrobust.yaml_values import float_from_text

ABSTAIN = -1
"""The class index ``decode`` returns for an output that matches no class."""

SIMPLEX_TOLERANCE = 1e-4
"""How far a soft label's row sum may be from 1 (float32 survey ratios are exact to ~1e-7)."""

def numeric_param(value: Any) -> Any:
    """A numeric label-space parameter as a plain Python number, whatever its spelling.

    Text that spells a number becomes that number: ``"3.5e2"`` → 350.0, ``"4"`` → 4,
    ``"inf"``/``".inf"`` → inf (Python's and YAML's spellings), so the Python API accepts
    what a config file or a shell would pass. NumPy scalars become ``int``/``float``.
    Anything else (a word, a list, None, a bool) is returned unchanged, so that each
    parameter's own check refuses it with its usual message.
    """
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            number = float_from_text(value)
            return value if number is None else number
    if isinstance(value, bool):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    return value


def on_simplex(q: Tensor) -> Tensor:
    """0-d boolean tensor: every entry of the N×K ``q`` finite and ≥ 0, every row summing to 1.

    ``0 ≤ q < inf`` is False for NaN, −inf and +inf alike, so one comparison pair covers
    finiteness and sign; the three conditions reduce to one boolean, read with one host sync.
    """
    in_range = ((q >= 0) & (q < math.inf)).all()
    return in_range & ((q.sum(dim=1) - 1).abs() <= SIMPLEX_TOLERANCE).all()


class LabelSpace(ABC):
    """Base class of all label spaces; subclasses set ``name`` and implement the abstract methods."""

    name: ClassVar[str]
    accepts_soft_targets: ClassVar[bool] = False
    """Whether ``encode`` takes N×K target distributions as well as hard labels."""
    requires_soft_targets: ClassVar[bool] = False
    """Whether the space is meant for data with per-sample soft labels (training refuses others)."""
    requires_label_sets: ClassVar[bool] = False
    """Whether the space trains on multi-label sets (``ImageSet.label_sets``; training refuses data without them)."""
    multi_label: ClassVar[bool] = False
    """Whether the space predicts label sets (``predict_sets``) and judges ``decide`` by set membership."""
    can_abstain: ClassVar[bool] = False
    """Whether ``decode`` may return ``ABSTAIN``."""
    scores_are_outputs: ClassVar[bool] = False
    """Whether ``scores(outputs)`` is ``outputs`` itself (K logits), so a linear property of the
    network outputs (the verifier's argmax/top2) is a property of the class scores."""
    metric_params: ClassVar[tuple[str, ...]] = ()
    """Parameters that hold a label metric (``wasserstein``'s ``cost``): a name such as
    ``wordnet`` or a CSV with class names is resolved against the dataset before the space is made
    (``labelrobust.label_metrics.resolve_metric``)."""
    target_kind: ClassVar[str] = "targets"
    """What ``encode`` returns, for error messages (e.g. "N×K distributions")."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = integer(num_classes, f"label space {self.name!r}: num_classes", low=2)

    # -- the interface -------------------------------------------------------------------

    @property
    @abstractmethod
    def out_dim(self) -> int:
        """Number of model outputs this label space reads."""

    @abstractmethod
    def encode(self, y: Tensor) -> Tensor:
        """Training targets for hard labels ``y`` (or soft targets, where accepted)."""

    @abstractmethod
    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Per-sample training loss, shape N."""

    @abstractmethod
    def scores(self, outputs: Tensor) -> Tensor:
        """N×K class scores; larger means more of that class."""

    def decode(self, outputs: Tensor) -> Tensor:
        """Predicted class per sample (int64, shape N); this default never abstains."""
        return self.scores(outputs).argmax(dim=1)

    def decide(self, outputs: Tensor, y: Tensor) -> Tensor:
        """The decision about class ``y`` per sample: equals ``y`` exactly when the output keeps
        ``y`` (what attacks and metrics count as correct). Here ``decode(outputs)``; multi-label
        spaces return ``y`` while ``y`` is in the predicted set."""
        return self.decode(outputs)

    def log_probabilities(self, outputs: Tensor) -> Tensor:
        """Log class probabilities ``log_softmax(scores)``, computed stably (never ``log`` of a
        probability that underflowed to 0).

        For distribution spaces this is the log of the model's predicted label vector; for
        code-based spaces (binary, interval) it is a monotone summary of the scores — the
        softmax of the negative distances to each class's code or interval — that the methods
        needing probabilities (TRADES, MART, probability margins) use.
        """
        return F.log_softmax(self.scores(outputs), dim=1)

    def probabilities(self, outputs: Tensor) -> Tensor:
        """Class probabilities: ``exp(log_probabilities(outputs))`` = ``softmax(scores)``."""
        return self.log_probabilities(outputs).exp()

    def params(self) -> dict[str, Any]:
        """The constructor parameters, as plain JSON-able values (for run directories)."""
        return {}

    # -- shared checks -------------------------------------------------------------------

    def check_outputs(self, outputs: Tensor) -> None:
        """Refuse model outputs of the wrong shape before they produce a silent broadcast."""
        if outputs.ndim != 2 or outputs.shape[1] != self.out_dim:
            raise ConfigError(
                f"label space {self.name!r} reads outputs of shape (N, {self.out_dim}), "
                f"got {tuple(outputs.shape)}; the model head must have out_dim={self.out_dim}"
            )

    def check_hard_labels(self, y: Tensor) -> Tensor:
        """Validate hard labels: integer dtype, one dimension, values in 0..K-1."""
        if not isinstance(y, Tensor):
            y = torch.as_tensor(y)
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.dtype.is_complex:
            raise ConfigError(
                f"label space {self.name!r}: hard labels must be an integer tensor, got {y.dtype}"
            )
        if y.ndim != 1:
            raise ConfigError(
                f"label space {self.name!r}: hard labels must have shape (N,), got {tuple(y.shape)}"
            )
        outside = (y < 0) | (y >= self.num_classes)
        if y.numel() and bool(outside.any()):  # one host sync on a GPU
            bad = y[outside]
            raise ConfigError(
                f"label space {self.name!r}: labels must lie in 0..{self.num_classes - 1}, "
                f"got {bad[:5].tolist()}"
            )
        return y.to(torch.int64)

    def check_soft_labels(self, q: Tensor, what: str = "soft targets") -> Tensor:
        """Validate per-sample distributions: N×K, finite, non-negative, rows summing to 1.

        ``what`` names them in the messages, which name the first failed condition and rows.
        """
        if q.ndim != 2 or q.shape[1] != self.num_classes:
            raise ConfigError(
                f"label space {self.name!r}: {what} must have shape (N, {self.num_classes}), "
                f"got {tuple(q.shape)}"
            )
        q = q.to(torch.float32)
        if bool(on_simplex(q)):  # the common case: one check, one host sync
            return q
        if not torch.isfinite(q).all():
            rows = (~torch.isfinite(q)).any(1).nonzero().flatten()
            raise ConfigError(
                f"label space {self.name!r}: {what} contain NaN/inf in rows {rows[:5].tolist()}"
            )
        if (q < 0).any():
            rows = (q < 0).any(1).nonzero().flatten()
            raise ConfigError(
                f"label space {self.name!r}: {what} must be non-negative; negative entries "
                f"in rows {rows[:5].tolist()}"
            )
        sums = q.sum(1)
        off = (sums - 1).abs() > SIMPLEX_TOLERANCE
        if off.any():
            rows = off.nonzero().flatten()
            raise ConfigError(
                f"label space {self.name!r}: {what} must sum to 1 per row "
                f"(±{SIMPLEX_TOLERANCE}); rows {rows[:5].tolist()} sum to {sums[rows[:5]].tolist()}"
            )
        return q

    def check_targets(self, outputs: Tensor, targets: Tensor) -> None:
        """Validate the targets ``loss`` receives: what ``encode`` returns, for these outputs.

        Shape, dtype and device are checked without reading the values (no host sync). The values are
        checked with one combined boolean (``valid_targets``, a single host sync on a GPU); only
        when it fails does ``explain_invalid_targets`` look for the offending rows to name them.
        """
        name, width = self.name, self.target_width
        if not isinstance(targets, Tensor):
            raise ConfigError(
                f"label space {name!r}: loss targets must be a tensor ({self.target_kind}, what encode(y) "
                f"returns), got {type(targets).__name__}; call space.loss(outputs, space.encode(y))"
            )
        if targets.ndim == 1:
            raise ConfigError(
                f"label space {name!r}: loss() takes encode(y) targets ({self.target_kind}, shape (N, {width})), "
                f"not hard labels (shape {tuple(targets.shape)}, {targets.dtype}); call space.loss(outputs, space.encode(y))"
            )
        if targets.ndim != 2 or targets.shape[1] != width:
            raise ConfigError(
                f"label space {name!r}: loss targets must have shape (N, {width}) ({self.target_kind}, what "
                f"encode(y) returns), got {tuple(targets.shape)}"
            )
        if not targets.dtype.is_floating_point:
            raise ConfigError(
                f"label space {name!r}: loss targets must be a floating-point tensor ({self.target_kind}), "
                f"got {targets.dtype}; call space.loss(outputs, space.encode(y))"
            )
        if targets.shape[0] != outputs.shape[0]:
            raise ConfigError(
                f"label space {name!r}: {outputs.shape[0]} outputs but {targets.shape[0]} targets; "
                f"loss needs one target row per output row"
            )
        if targets.device != outputs.device:
            raise ConfigError(
                f"label space {name!r}: the targets are on {targets.device} but the outputs on "
                f"{outputs.device}; move them with targets.to(outputs.device)"
            )
        if not bool(self.valid_targets(targets)):
            self.explain_invalid_targets(targets)
            raise ConfigError(f"label space {name!r}: invalid loss targets; expected {self.target_kind}")

    @property
    def target_width(self) -> int:
        """Columns of the targets ``encode`` returns (and ``loss`` takes)."""
        return self.num_classes

    def valid_targets(self, targets: Tensor) -> Tensor:
        """A 0-d boolean tensor: whether every value of these (well-shaped) targets is valid."""
        return torch.isfinite(targets).all()

    def explain_invalid_targets(self, targets: Tensor) -> None:
        """Raise a ConfigError that names the invalid rows (called only when ``valid_targets`` fails)."""
        rows = (~torch.isfinite(targets)).any(1).nonzero().flatten()
        raise ConfigError(f"label space {self.name!r}: loss targets contain NaN/inf in rows {rows[:5].tolist()}")

    def constant(self, name: str, device: torch.device, dtype: torch.dtype | None = None) -> Tensor:
        """The constant table ``self.<name>`` (codebook, bounds, cost) on ``device``.

        Tables are built once on the CPU; labels, targets and outputs may live on any device.
        The copy is made once per (device, dtype) and kept, outside inference mode so that a
        copy first made under ``torch.inference_mode`` can still be used in training.
        """
        table = getattr(self, name)
        key = (name, id(table), torch.device(device), dtype or table.dtype)
        cache = self.__dict__.setdefault("_constants", {})
        if key not in cache:
            with torch.inference_mode(False):
                cache[key] = table.to(device=device, dtype=dtype or table.dtype)
        return cache[key]

    def targets_from(self, y: Tensor) -> Tensor:
        """Hard labels (N,) or, where accepted, soft targets (N×K) → validated targets tensor."""
        if isinstance(y, Tensor) and y.ndim == 2:
            if not self.accepts_soft_targets:
                raise ConfigError(
                    f"label space {self.name!r} takes hard labels of shape (N,), not soft "
                    f"targets of shape {tuple(y.shape)}; use 'soft' or 'smoothing' for distributions"
                )
            return self.check_soft_labels(y)
        return self.check_hard_labels(y)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items() if k != "codebook")
        return f"{type(self).__name__}(num_classes={self.num_classes}{', ' if args else ''}{args})"
