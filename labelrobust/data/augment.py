"""Training-time augmentations of a float input batch, by name, with options.

Each registered augmentation is ``fn(x, **options) -> Tensor``; its keyword parameters are its
options, set by ``data.augment_options`` (YAML ``data: {augment: black-rectangle,
augment_options: {min_size: 4, max_size: 12}}``, flag ``--augment-option min_size=4``).
``make_augmentation`` checks the name and the options before training starts.

``crop-flip`` and ``black-rectangle`` take image batches, whose domain is [0, 1]: zero padding
and a black rectangle are inside that domain. (They refuse the vector inputs of other domains,
such as the disk.)

They draw from the global torch RNG, whose state every checkpoint saves, so a resumed run
draws the same crops, flips and rectangles as one that never stopped.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.registry import Registry
from labelrobust.validation import integer

AUGMENTATIONS: Registry[Callable[..., Tensor]] = Registry("augmentation")


def augmentation_options(name: str) -> dict[str, object]:
    """The options augmentation ``name`` takes, with their defaults."""
    parameters = list(inspect.signature(AUGMENTATIONS.get(name)).parameters.values())[1:]  # after the batch
    return {p.name: p.default for p in parameters}


def make_augmentation(name: str, options: Mapping | None = None, input_shape: tuple[int, ...] | None = None) -> Callable[[Tensor], Tensor]:
    """Augmentation ``name`` with ``options`` bound, as ``x -> x'``.

    An unknown name or option is a ConfigError that lists the known ones. With ``input_shape``
    (one input, e.g. (1, 28, 56)) the augmentation also runs once on a blank batch of that
    shape, under a forked RNG (the run's random stream is untouched), so that a bad option
    value or an input it cannot take fails here, before training, with the augmentation's own message.
    """
    fn = AUGMENTATIONS.get(name)
    if options is not None and not isinstance(options, Mapping):
        raise ConfigError(f"options of augmentation {name!r} must be a mapping of option names to values, got {options!r}")
    options = dict(options or {})
    accepted = augmentation_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        listed = ", ".join(f"{k}={v!r}" for k, v in accepted.items()) or "none"
        raise ConfigError(f"augmentation {name!r} has no option {', '.join(map(repr, unknown))}; accepted: {listed}")
    bound = functools.partial(fn, **options) if options else fn
    if input_shape is not None:
        with torch.random.fork_rng(devices=[]):
            bound(torch.zeros(1, *input_shape))
    return bound


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
    padding = integer(padding, "augmentation 'crop-flip': padding", low=0)
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


@AUGMENTATIONS.register("black-rectangle", "a random black rectangle in every image (the multi-label study's L0 defence)")
def black_rectangle(x: Tensor, min_size: int = 4, max_size: int = 12) -> Tensor:
    """Set a random rectangle of every image to 0 (black), in all channels.

    Per image: height and width independently uniform integers in ``[min_size, max_size]``
    pixels, then the top-left corner uniform among the places where the whole rectangle fits;
    every other pixel is unchanged. The L0 defence of the multi-label study (methods.md §5).
    Needs ``1 ≤ min_size ≤ max_size ≤ min(H, W)``.
    """
    if x.ndim != 4:
        raise ConfigError(f"augmentation 'black-rectangle' needs image batches N×C×H×W, got shape {tuple(x.shape)}")
    n, _, h, w = x.shape
    low = integer(min_size, "augmentation 'black-rectangle': min_size", low=1)
    high = integer(max_size, "augmentation 'black-rectangle': max_size", low=low)
    if high > min(h, w):
        raise ConfigError(f"augmentation 'black-rectangle': max_size {high} does not fit images of {h}×{w} pixels (max_size ≤ {min(h, w)})")
    sides = torch.randint(low, high + 1, (n, 2))
    top = (torch.rand(n) * (h - sides[:, 0] + 1)).floor().long()
    left = (torch.rand(n) * (w - sides[:, 1] + 1)).floor().long()
    rows, cols = torch.arange(h)[None], torch.arange(w)[None]
    in_rows = (rows >= top[:, None]) & (rows < (top + sides[:, 0])[:, None])  # N×H
    in_cols = (cols >= left[:, None]) & (cols < (left + sides[:, 1])[:, None])  # N×W
    box = (in_rows[:, :, None] & in_cols[:, None, :]).to(x.device)
    return x.masked_fill(box[:, None], 0.0)
