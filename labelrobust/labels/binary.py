"""``binary`` (RBC) and ``deepbe``: one output per bit of a class codeword.

Robust binary labels of the task-aware study (Han et al., methods.md §2): class ``k`` has a
codeword ``b_k ∈ {0,1}^B`` (``2^B ≥ K``; by default the binary expansion of ``k``), output ``i``
reads bit ``i`` as 1 iff ``o_i > t``, and the loss with scaling factor ``S`` is

    ℓ(o, b) = ‖relu(S·1 − (o − t)⊙(2b − 1))‖².

RBC uses ``t = 0`` and a large ``S`` (350 in the study). DeepBE is the ``S = 0`` special case
with ``t = 0.5``: ``‖relu(−(o − 0.5)⊙(2b − 1))‖²``. A bit pattern that is no class's codeword
decodes to ABSTAIN. Class scores (see ``regions.py``) are the negative L1 distance to the
closed orthant of each codeword, ``−Σ_i relu(−(o_i − t)(2b_ki − 1))``: the least total change
of the outputs that would make ``o`` decode to ``k``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.labels.base import numeric_param
from labelrobust.labels.regions import RegionLabelSpace
from labelrobust.labels.registry import LABEL_SPACES
from labelrobust.validation import integer, number


def binary_expansion_codebook(num_classes: int, bits: int) -> Tensor:
    """K×B codebook whose row ``k`` is the ``bits``-bit binary expansion of ``k`` (MSB first)."""
    powers = 2 ** torch.arange(bits - 1, -1, -1)
    return (torch.arange(num_classes)[:, None] // powers % 2).to(torch.float32)


def hadamard_codebook(num_classes: int, bits: int) -> Tensor:
    """K×B error-correcting codebook from the rows of a Sylvester Hadamard matrix of order ``bits``.

    Rows 1..K of H_B mapped to {0,1} (row 0, all ones, is skipped): any two codewords differ in
    exactly B/2 bits, the ECOC choice of Verma & Swami 2019. ``bits`` must be a power of 2 > K.
    """
    if bits < 1 or bits & (bits - 1) or bits <= num_classes:
        raise ConfigError(
            f"label space 'binary': a Hadamard codebook for {num_classes} classes needs bits to be "
            f"a power of 2 greater than {num_classes} (e.g. {2 ** math.ceil(math.log2(num_classes + 1))}), got {bits}"
        )
    h = torch.ones(1, 1)
    while h.shape[0] < bits:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return ((h[1 : num_classes + 1] + 1) / 2).to(torch.float32)


def validate_codebook(codebook: Any, num_classes: int) -> Tensor:
    """A user-given K×B codebook of 0/1 entries with pairwise distinct rows, as float32."""
    try:
        book = torch.as_tensor(codebook, dtype=torch.float32)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"label space 'binary': codebook must be a K×B array of 0/1, got {codebook!r}") from err
    if book.ndim != 2 or book.shape[0] != num_classes or book.shape[1] < 1:
        raise ConfigError(
            f"label space 'binary': codebook must have shape ({num_classes}, B) — one codeword per "
            f"class — got {tuple(book.shape)}"
        )
    if not ((book == 0) | (book == 1)).all():
        raise ConfigError("label space 'binary': codebook entries must be 0 or 1")
    for i in range(num_classes):
        same = (book[i + 1 :] == book[i]).all(dim=1).nonzero().flatten()
        if same.numel():
            raise ConfigError(
                f"label space 'binary': codebook rows must be distinct; classes {i} and "
                f"{int(same[0]) + i + 1} share the codeword {book[i].int().tolist()}"
            )
    return book


@LABEL_SPACES.register("binary", "RBC binary codewords, one output per bit, loss ‖relu(S − (o − t)⊙(2b − 1))‖²; abstains off-code")
class BinaryCodes(RegionLabelSpace):
    """RBC label space.

    Parameters: ``bits`` B (default ⌈log2 K⌉), ``scale`` S ≥ 0 (default 1.0; the task-aware
    study used 350 — the stable learning rate falls like S^−1.5, so scale S=1's by that: at
    S=350, lr 5e-6 with momentum 0.9 and batch 32, see the README), ``threshold`` t (default 0), ``codebook``: None for the binary
    expansion, ``"hadamard"``, or an explicit K×B list of 0/1 rows.
    """

    name = "binary"
    target_kind = "N×B codewords of 0/1"

    def __init__(
        self,
        num_classes: int,
        bits: int | None = None,
        scale: float = 1.0,
        threshold: float = 0.0,
        codebook: Any = None,
    ) -> None:
        super().__init__(num_classes)
        bits, scale, threshold = numeric_param(bits), numeric_param(scale), numeric_param(threshold)
        scale = number(scale, f"label space {self.name!r}: scale S", low=0)
        threshold = number(threshold, f"label space {self.name!r}: threshold")
        min_bits = math.ceil(math.log2(num_classes))
        bits = integer(bits, f"label space {self.name!r}: bits", low=1, allow_none=True)
        if isinstance(codebook, str) and codebook != "hadamard":
            raise ConfigError(
                f"label space {self.name!r}: codebook must be None (binary expansion), 'hadamard' "
                f"or a K×B list of 0/1 rows, got {codebook!r}"
            )
        if isinstance(codebook, str):  # "hadamard", checked above
            bits = bits if bits is not None else 2 ** math.ceil(math.log2(num_classes + 1))
            book = hadamard_codebook(num_classes, bits)
        elif codebook is None:
            bits = min_bits if bits is None else bits
            if 2**bits < num_classes:
                raise ConfigError(
                    f"label space {self.name!r}: {bits} bits encode at most {2 ** bits} classes, "
                    f"but there are {num_classes}; use bits ≥ {min_bits}"
                )
            book = binary_expansion_codebook(num_classes, bits)
        else:
            book = validate_codebook(codebook, num_classes)
            if bits is not None and bits != book.shape[1]:
                raise ConfigError(
                    f"label space {self.name!r}: bits={bits} disagrees with the codebook's "
                    f"{book.shape[1]} columns"
                )
        # Stored as plain lists so params() round-trips through YAML/JSON.
        self._codebook_param: Any = codebook if codebook is None or isinstance(codebook, str) else book.int().tolist()
        self.codebook = book
        self.bits = int(book.shape[1])
        self.scale = float(scale)
        self.threshold = float(threshold)
        # (2b − 1) ∈ {−1, +1}: the sign each class wants on each shifted output.
        self._signs = 2.0 * book - 1.0

    @property
    def out_dim(self) -> int:
        return self.bits

    @property
    def target_width(self) -> int:
        return self.bits

    def encode(self, y: Tensor) -> Tensor:
        """Hard labels → their codewords (N×B of 0/1), on the labels' device."""
        y = self.targets_from(y)
        return self.constant("codebook", y.device)[y]

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        self.check_outputs(outputs)
        self.check_targets(outputs, targets)
        signed = (outputs - self.threshold) * (2.0 * targets - 1.0)
        return torch.relu(self.scale - signed).square().sum(dim=1)

    def valid_targets(self, targets: Tensor) -> Tensor:
        return ((targets == 0) | (targets == 1)).all()

    def explain_invalid_targets(self, targets: Tensor) -> None:
        rows = ((targets != 0) & (targets != 1)).any(1).nonzero().flatten()
        raise ConfigError(
            f"label space {self.name!r}: loss targets must be codewords of 0/1 (what encode(y) returns); "
            f"rows {rows[:5].tolist()} hold other values, e.g. {targets[rows[0]].tolist()}"
        )

    def region_distance(self, outputs: Tensor) -> Tensor:
        signs = self.constant("_signs", outputs.device, outputs.dtype)
        signed = (outputs - self.threshold)[:, None, :] * signs[None]
        return torch.relu(-signed).sum(dim=2)

    def params(self) -> dict[str, Any]:
        return {
            "bits": self.bits,
            "scale": self.scale,
            "threshold": self.threshold,
            "codebook": self._codebook_param,
        }


@LABEL_SPACES.register("deepbe", "DeepBE binary codewords: binary with S = 0 and threshold 0.5")
class DeepBE(BinaryCodes):
    """DeepBE: binary codes with ``S = 0`` and threshold 0.5 (methods.md §2)."""

    name = "deepbe"

    def __init__(self, num_classes: int, bits: int | None = None, codebook: Any = None) -> None:
        super().__init__(num_classes, bits=bits, scale=0.0, threshold=0.5, codebook=codebook)

    def params(self) -> dict[str, Any]:
        return {"bits": self.bits, "codebook": self._codebook_param}
