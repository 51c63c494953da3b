"""Building a registered network, with the data set's normalisation inside it.

Normalisation is part of the model (``Normalized``) rather than of the data pipeline, so
that attacks, projections and clipping all happen in pixel space ``[0, 1]`` where ``eps``
is defined, and a saved checkpoint carries the statistics it was trained with.
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from labelrobust.errors import ConfigError
from labelrobust.models.registry import MODELS

# The two leading parameters of every builder; everything after them is an option.
_BUILDER_ARGUMENTS = ("input_shape", "out_dim")


class Normalized(nn.Module):
    """``forward(x) = net((x - mean) / std)`` with per-channel (or per-feature) statistics.

    ``mean`` and ``std`` are stored as buffers shaped ``(C, 1, 1)`` for image inputs
    (``input_ndim == 3``) and ``(D,)`` for vector inputs (``input_ndim == 1``), so they
    broadcast over a batch, follow ``.to(device)`` and are saved in the state dict.
    """

    def __init__(
        self,
        net: nn.Module,
        mean: Sequence[float] | Tensor,
        std: Sequence[float] | Tensor,
        *,
        input_ndim: int = 3,
    ) -> None:
        super().__init__()
        mean_f, std_f = _floats(mean, "mean"), _floats(std, "std")
        if len(mean_f) != len(std_f):
            raise ConfigError(
                f"mean has {len(mean_f)} values but std has {len(std_f)}; "
                "both need one value per input channel"
            )
        if not all(s > 0 for s in std_f):
            raise ConfigError(f"std must be > 0 in every channel, got {list(std_f)}")
        # One statistic per channel, broadcast over the remaining (spatial) dimensions.
        shape = (len(mean_f),) + (1,) * (input_ndim - 1)
        self.net = net
        self.input_ndim = input_ndim
        self.register_buffer("mean", torch.tensor(mean_f, dtype=torch.float32).reshape(shape))
        self.register_buffer("std", torch.tensor(std_f, dtype=torch.float32).reshape(shape))

    def forward(self, x: Tensor) -> Tensor:
        # Without this check a 1-channel batch would broadcast against 3-channel statistics
        # and silently become a 3-channel input.
        if x.ndim != self.input_ndim + 1 or x.shape[1] != self.mean.shape[0]:
            raise ConfigError(
                f"model input must have shape (N, {self.mean.shape[0]}, ...) with {self.input_ndim} "
                f"dimensions after the batch, got {tuple(x.shape)}"
            )
        return self.net((x - self.mean) / self.std)

    def extra_repr(self) -> str:
        if self.mean.is_meta:  # a shape-only model has no values to show
            return f"channels={self.mean.shape[0]}"
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


def available_models() -> list[str]:
    """The registered model names, sorted."""
    return MODELS.available()


def build_model(
    name: str,
    *,
    input_shape: Sequence[int],
    out_dim: int,
    mean: Sequence[float],
    std: Sequence[float],
    **options: object,
) -> Normalized:
    """The network ``name`` for inputs of ``input_shape`` (no batch dimension) with ``out_dim``
    outputs, wrapped in ``Normalized(net, mean, std)``.

    ``out_dim`` comes from the label space (K logits, B code bits, one interval output...),
    so it has no default. Everything is validated before the network is built.
    """
    builder = MODELS.get(name)
    check_options(name, builder, options)
    if _as_int(out_dim) is None or out_dim < 1:
        raise ConfigError(
            f"out_dim must be an integer >= 1 (the label space's output size), got {out_dim!r}"
        )
    out_dim = _as_int(out_dim)
    shape = check_input_shape(input_shape)
    mean_f, std_f = _check_statistics(mean, std, shape)
    net = builder(shape, out_dim, **options)
    return Normalized(net, mean_f, std_f, input_ndim=len(shape))


def check_options(name: str, builder: object, options: dict[str, object]) -> None:
    """Reject options that ``builder`` does not take, naming the accepted ones."""
    accepted = [p for p in inspect.signature(builder).parameters if p not in _BUILDER_ARGUMENTS]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"unknown option {', '.join(map(repr, unknown))} for model {name!r}; "
            f"accepted options: {', '.join(accepted) if accepted else 'none'}"
        )


def check_input_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints (a YAML list is fine)."""
    try:
        shape = tuple(_as_int(s) for s in input_shape)
    except TypeError:
        shape = ()
    if not shape or any(s is None or s < 1 for s in shape):
        raise ConfigError(
            f"input_shape must be a non-empty sequence of positive ints without the batch "
            f"dimension, e.g. (3, 32, 32) or (2,); got {input_shape!r}"
        )
    return shape


def _as_int(value: object) -> int | None:
    # Integers of any kind (a NumPy shape entry too), but not bools and not floats.
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _floats(values: Sequence[float] | Tensor, label: str) -> tuple[float, ...]:
    # Plain Python floats, so that validation works the same under any default device
    # (a model built inside ``with torch.device("meta")`` included).
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(f"{label} must be a sequence of numbers, got {values!r}") from None


def _check_statistics(
    mean: Sequence[float], std: Sequence[float], shape: tuple[int, ...]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    channels = shape[0]
    what = "channel" if len(shape) > 1 else "feature"
    stats = {}
    for label, values in (("mean", mean), ("std", std)):
        floats = _floats(values, label)
        if len(floats) != channels:
            raise ConfigError(
                f"{label} has {len(floats)} values but input_shape {shape} has {channels} "
                f"input {what}s; give one {label} per {what}"
            )
        if not all(math.isfinite(v) for v in floats):
            raise ConfigError(f"{label} must be finite, got {list(floats)}")
        stats[label] = floats
    if not all(v > 0 for v in stats["std"]):
        raise ConfigError(f"std must be > 0 in every {what}, got {list(stats['std'])}")
    return stats["mean"], stats["std"]


def image_shape(input_shape: tuple[int, ...], model: str, min_size: int) -> tuple[int, int, int]:
    """``(C, H, W)`` of an image input with ``H, W >= min_size``; a ConfigError says why not."""
    if len(input_shape) != 3:
        raise ConfigError(
            f"model {model!r} takes images: input_shape must be (C, H, W), got {input_shape}"
        )
    c, h, w = input_shape
    if h < min_size or w < min_size:
        raise ConfigError(
            f"model {model!r} needs images of at least {min_size}x{min_size} pixels, "
            f"got input_shape {input_shape}"
        )
    return c, h, w


def vector_shape(input_shape: tuple[int, ...], model: str) -> int:
    """``D`` of a vector input ``(D,)``, or a ConfigError saying why not."""
    if len(input_shape) != 1:
        hint = f" (flatten it to ({math.prod(input_shape)},) first)" if len(input_shape) > 1 else ""
        raise ConfigError(
            f"model {model!r} takes vectors: input_shape must be 1-D like (2,), "
            f"got {input_shape}{hint}"
        )
    return input_shape[0]


def positive_int(value: object, option: str, model: str) -> int:
    """An option that must be an integer >= 1."""
    n = _as_int(value)
    if n is None or n < 1:
        raise ConfigError(
            f"option {option!r} of model {model!r} must be an integer >= 1, got {value!r}"
        )
    return n
