"""Training-time augmentations of a float input batch, by name.

``crop-flip`` takes image batches, whose domain is [0, 1]: its zero padding is a black border,
inside that domain. (It refuses the vector inputs of other domains, such as the disk.)

They draw from the global torch RNG, whose state every checkpoint saves, so a resumed run
draws the same crops and flips as one that never stopped.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.registry import Registry

AUGMENTATIONS: Registry[Callable[[Tensor], Tensor]] = Registry("augmentation")


@AUGMENTATIONS.register("none", "no augmentation")
def no_augmentation(x: Tensor) -> Tensor:
    return x


@AUGMENTATIONS.register("crop-flip", "random crop after 4-pixel zero padding, then a random horizontal flip")
def crop_flip(x: Tensor, padding: int = 4) -> Tensor:
    """Random crop after zero padding by ``padding`` pixels, then a random horizontal flip.

    The standard CIFAR augmentation of ResNet/WRN training (He et al. 2016; Zagoruyko &
    Komodakis 2016), used by every adversarial-training study in methods.md.
    """
    if x.ndim != 4:
        raise ConfigError(f"augmentation 'crop-flip' needs image batches N×C×H×W, got shape {tuple(x.shape)}")
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n,))
    dx = torch.randint(0, 2 * padding + 1, (n,))
    rows = (dy[:, None] + torch.arange(h)[None]).to(x.device)  # N×H
    cols = (dx[:, None] + torch.arange(w)[None]).to(x.device)  # N×W
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    flip = (torch.rand(n) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], out.flip(3), out).contiguous()
