"""Torch modules the verifier reads besides the standard layers.

``ElementwiseAffine`` is what an imported ONNX network's elementwise arithmetic with constants
becomes (``Sub``/``Div``/``Mul``/``Add`` by a tensor, e.g. the per-feature input normalisation
of the VNN-COMP ACAS-Xu networks, which is not per-channel and so not a ``Normalized``).
``from_torch`` encodes it as a ``DiagonalMap``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ElementwiseAffine(nn.Module):
    """``y = scale ⊙ x + shift``; ``scale`` and ``shift`` have the shape of one sample (or a
    shape that broadcasts to it) and broadcast over the batch."""

    def __init__(self, scale: Tensor, shift: Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale).clone())
        self.register_buffer("shift", torch.as_tensor(shift).clone())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale + self.shift

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"
