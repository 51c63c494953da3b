"""Mixed precision and the channels-last memory format for training.

``precision: bf16`` or ``fp16`` runs every training forward pass — the inner attack's and the
outer loss's — under ``torch.autocast`` (Micikevicius et al. 2018, "Mixed Precision
Training"): convolutions and matrix products in 16 bits, the weights and the optimiser in 32.
The network's outputs are cast back to float32 before anything else sees them, so label-space
losses, margins, instance weights and attack objectives are computed in full precision.
``fp16`` also scales the loss (``torch.amp.GradScaler``) so small gradients do not underflow;
its state is checkpointed, so a resumed run continues exactly. ``channels_last: true`` stores
convolution weights and image batches as N×H×W×C, the layout tensor cores and oneDNN prefer.

Evaluation (clean metrics, attacks, AutoAttack) always runs in float32: an attack whose
gradients are rounded to 16 bits is weaker, and a weaker attack overstates robustness.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from labelrobust.errors import ConfigError

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of ``precision`` (None: full float32)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return PRECISIONS[precision]


class TrainingForward(nn.Module):
    """``net`` as training runs it: the input batch in channels-last layout (4-D inputs only),
    the forward pass under autocast to ``dtype``, the outputs returned as float32. It owns no
    parameters of its own, so the optimiser and the checkpoints keep working on ``net``."""

    def __init__(self, net: nn.Module, device_type: str, dtype: torch.dtype | None, channels_last: bool) -> None:
        super().__init__()
        self.net, self.device_type, self.dtype, self.channels_last = net, device_type, dtype, channels_last

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None):
            out = self.net(x)
        return out.float()


def training_forward(net: nn.Module, device: str, precision: str, channels_last: bool) -> nn.Module:
    """``net`` itself for float32 in the default layout (no wrapper, no cost); else a
    ``TrainingForward`` around it, with its weights converted to channels-last if asked."""
    dtype = autocast_dtype(precision)
    if dtype is None and not channels_last:
        return net
    if channels_last:
        net.to(memory_format=torch.channels_last)
    return TrainingForward(net, torch.device(device).type, dtype, channels_last)


def grad_scaler(device: str, precision: str) -> torch.amp.GradScaler:
    """Loss scaling for ``fp16``; a disabled scaler (``scale`` is the identity, ``step`` the plain
    optimiser step) for the other precisions, so the loop has one code path."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=autocast_dtype(precision) is torch.float16)
