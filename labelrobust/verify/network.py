"""The verifier's view of a network: a flat sequence of affine maps, ReLUs and max-pools on
flattened float64 vectors.

``from_torch(model, input_shape)`` reads any ``nn.Sequential``-like network built from
``Linear``, ``Conv2d``, ``ReLU``, ``MaxPool2d``, ``Flatten``, ``BatchNorm1d/2d`` (eval mode),
``Dropout``/``Identity`` (no-ops at evaluation) and labelrobust's input normalisation
(``models.base.Normalized``), plus ``verify.modules.ElementwiseAffine`` (``scale ⊙ x + shift``,
what imported ONNX elementwise arithmetic becomes); any other module is refused with its name
and position.

Every layer maps a flattened input of ``in_size`` values to ``out_size`` values (the image
layout ``C×H×W`` is kept in ``in_shape``/``out_shape`` for the layers that need it), so the
bound propagation and the MILP encoder see one uniform interface:

- an **affine** layer ``y = W x + b`` (``LinearMap``, ``ConvMap``, ``DiagonalMap``) offers
  ``apply(x)`` (``W x + b``, batched N×in → N×out), ``apply_transposed(A)`` (``A W``, M×out →
  M×in, without the bias: the back-substitution step of CROWN/DeepPoly), ``apply_abs(r)``
  (``|W| r``, the radius step of interval arithmetic) and ``matrix()`` (``W`` as a SciPy
  sparse CSR matrix, for the MILP);
- ``ReLU``: ``y = max(x, 0)`` elementwise;
- ``MaxPool``: ``y_o = max_{i ∈ windows[o]} x_i`` with ``windows`` an ``out_size × k`` index
  array into the flattened input (−1 marks a padding position, which never wins).

Normalisation and batch norm are diagonal affine maps; they are folded into the following
(normalisation) or preceding (batch norm) ``Linear``/``Conv2d`` where that is exact (a
convolution with zero padding is not exact to fold a shift into, so it keeps its own layer).
All parameters are float64 copies: the verifier never reads the live module again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labelrobust.errors import ConfigError
from labelrobust.models.base import Normalized
from labelrobust.verify.modules import ElementwiseAffine

DTYPE = torch.float64


@dataclass(frozen=True, eq=False)
class LinearMap:
    """``y = W x + b`` with a dense ``W`` (out×in)."""

    weight: Tensor
    bias: Tensor
    in_shape: tuple[int, ...]
    source: str = "Linear"

    @property
    def in_size(self) -> int:
        return self.weight.shape[1]

    @property
    def out_size(self) -> int:
        return self.weight.shape[0]

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (self.out_size,)

    def apply(self, x: Tensor) -> Tensor:
        return x @ self.weight.T + self.bias

    def apply_transposed(self, a: Tensor) -> Tensor:
        return a @ self.weight

    def apply_abs(self, r: Tensor) -> Tensor:
        return r @ self.weight.abs().T

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix(self.weight.numpy())


@dataclass(frozen=True, eq=False)
class DiagonalMap:
    """``y = s ⊙ x + t`` (normalisation, batch norm): ``scale``/``shift`` of length in_size."""

    scale: Tensor
    shift: Tensor
    in_shape: tuple[int, ...]
    source: str = "Normalized"

    @property
    def in_size(self) -> int:
        return self.scale.numel()

    @property
    def out_size(self) -> int:
        return self.scale.numel()

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.in_shape

    @property
    def bias(self) -> Tensor:
        return self.shift

    def apply(self, x: Tensor) -> Tensor:
        return x * self.scale + self.shift

    def apply_transposed(self, a: Tensor) -> Tensor:
        return a * self.scale

    def apply_abs(self, r: Tensor) -> Tensor:
        return r * self.scale.abs()

    def matrix(self) -> sp.csr_matrix:
        return sp.diags(self.scale.numpy()).tocsr()


@dataclass(frozen=True, eq=False)
class ConvMap:
    """A 2-D convolution ``y = conv(x, kernel) + b`` on C×H×W inputs (flattened C-major)."""

    kernel: Tensor
    conv_bias: Tensor
    in_shape: tuple[int, int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    out_shape: tuple[int, int, int] = field(init=False)
    source: str = "Conv2d"

    def __post_init__(self) -> None:
        probe = F.conv2d(torch.zeros((1, *self.in_shape), dtype=DTYPE), self.kernel, None, self.stride, self.padding, self.dilation, self.groups)
        object.__setattr__(self, "out_shape", tuple(probe.shape[1:]))

    @property
    def in_size(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_size(self) -> int:
        return math.prod(self.out_shape)

    @property
    def bias(self) -> Tensor:
        """The bias of every output unit (the per-channel bias repeated over H×W)."""
        _, h, w = self.out_shape
        return self.conv_bias.repeat_interleave(h * w)

    def _conv(self, x: Tensor, kernel: Tensor, bias: Tensor | None) -> Tensor:
        y = F.conv2d(x.reshape(-1, *self.in_shape), kernel, bias, self.stride, self.padding, self.dilation, self.groups)
        return y.reshape(x.shape[0], -1)

    def apply(self, x: Tensor) -> Tensor:
        return self._conv(x, self.kernel, self.conv_bias)

    def apply_abs(self, r: Tensor) -> Tensor:
        return self._conv(r, self.kernel.abs(), None)

    def apply_transposed(self, a: Tensor) -> Tensor:
        # A·W for a linear map W is the vector-Jacobian product of W with each row of A.
        c, h, w = self.in_shape
        out_h, out_w = self.out_shape[1:]
        pad_h = h - ((out_h - 1) * self.stride[0] - 2 * self.padding[0] + self.dilation[0] * (self.kernel.shape[2] - 1) + 1)
        pad_w = w - ((out_w - 1) * self.stride[1] - 2 * self.padding[1] + self.dilation[1] * (self.kernel.shape[3] - 1) + 1)
        y = F.conv_transpose2d(
            a.reshape(-1, *self.out_shape), self.kernel, None, self.stride, self.padding,
            (pad_h, pad_w), self.groups, self.dilation,
        )
        return y.reshape(a.shape[0], -1)

    def matrix(self) -> sp.csr_matrix:
        """``W`` as a sparse matrix: the convolution applied to the index image of every input."""
        # Each output unit reads at most k_h·k_w·C/groups inputs; build (row, col, value) triples
        # by convolving one-hot "which input" images channel by channel would be O(in²), so
        # unfold the input index grid instead.
        c, h, w = self.in_shape
        index = torch.arange(c * h * w, dtype=DTYPE).reshape(1, c, h, w) + 1  # 0 marks padding
        cols = F.unfold(index, self.kernel.shape[2:], self.dilation, self.padding, self.stride)  # 1×(C·kh·kw)×L
        cols = cols[0].to(torch.int64) - 1
        out_c = self.kernel.shape[0]
        per_group_in = c // self.groups
        taps = per_group_in * self.kernel.shape[2] * self.kernel.shape[3]
        rows, col_idx, values = [], [], []
        length = cols.shape[1]
        for o in range(out_c):
            g = o // (out_c // self.groups)
            block = cols[g * taps:(g + 1) * taps]  # taps×L input indices (−1: padding)
            weights = self.kernel[o].reshape(-1, 1).expand(-1, length)
            keep = block >= 0
            out_index = (o * length + torch.arange(length)).expand(taps, -1)
            rows.append(out_index[keep])
            col_idx.append(block[keep])
            values.append(weights[keep])
        data = torch.cat(values).numpy()
        return sp.csr_matrix((data, (torch.cat(rows).numpy(), torch.cat(col_idx).numpy())), shape=(self.out_size, self.in_size))


@dataclass(frozen=True)
class ReLU:
    """``y = max(x, 0)`` on ``size`` units."""

    in_shape: tuple[int, ...]
    source: str = "ReLU"

    @property
    def in_size(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_size(self) -> int:
        return self.in_size

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.in_shape


@dataclass(frozen=True, eq=False)
class MaxPool:
    """``y_o = max_{i ∈ windows[o]} x_i``; ``windows`` is out_size×k int64, −1 = padding."""

    windows: Tensor
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    source: str = "MaxPool2d"

    @property
    def in_size(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_size(self) -> int:
        return math.prod(self.out_shape)

    def apply(self, x: Tensor) -> Tensor:
        padded = torch.cat([x, torch.full((x.shape[0], 1), -math.inf, dtype=x.dtype)], dim=1)
        return padded[:, self.windows].amax(dim=2)  # index −1 reads the −inf column


AFFINE = (LinearMap, ConvMap, DiagonalMap)
Layer = LinearMap | ConvMap | DiagonalMap | ReLU | MaxPool


@dataclass(frozen=True, eq=False)
class Network:
    """The layers in order, the input shape (no batch dimension) and the number of outputs."""

    layers: tuple[Layer, ...]
    input_shape: tuple[int, ...]

    @property
    def input_size(self) -> int:
        return math.prod(self.input_shape)

    @property
    def num_outputs(self) -> int:
        return self.layers[-1].out_size if self.layers else self.input_size

    def forward(self, x: Tensor) -> Tensor:
        """Outputs for flattened inputs ``x`` (N×D, float64)."""
        for values in self.activations(x):
            x = values
        return x

    def activations(self, x: Tensor):
        """The output of every layer in turn, for flattened float64 inputs N×D."""
        x = x.to(DTYPE).reshape(x.shape[0], -1)
        for layer in self.layers:
            x = x.clamp_min(0) if isinstance(layer, ReLU) else layer.apply(x)
            yield x

    def describe(self) -> list[str]:
        """One line per layer: kind, source module and sizes (for reports and errors)."""
        return [f"{type(layer).__name__}({layer.source}) {layer.in_size}→{layer.out_size}" for layer in self.layers]


# -- reading a torch module -------------------------------------------------------------------


def from_torch(model: nn.Module, input_shape: tuple[int, ...]) -> Network:
    """The verifier's network for ``model`` on inputs of ``input_shape`` (no batch dimension).

    ``model`` must be in eval mode where that matters (batch norm uses its running statistics,
    dropout is skipped); a module the verifier cannot encode is a ``ConfigError`` naming it.
    """
    shape = tuple(int(s) for s in input_shape)
    layers: list[Layer] = []
    for position, module in _leaves(model):
        before = len(layers)
        shape = _append(layers, module, position, shape)
        for layer in layers[before:]:
            _check_finite(layer, position, module)
    return Network(tuple(_fold(layers)), tuple(int(s) for s in input_shape))


def _leaves(module: nn.Module, prefix: str = ""):
    """(position, leaf module) in execution order; Normalized contributes its statistics first."""
    if isinstance(module, Normalized):
        yield (prefix or "input normalisation", module)
        yield from _leaves(module.net, f"{prefix}net." if prefix else "net.")
        return
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            yield from _leaves(child, f"{prefix}{name}.")
        return
    yield (prefix.rstrip(".") or type(module).__name__, module)


SUPPORTED = "Linear, Conv2d, ReLU, MaxPool2d, Flatten, BatchNorm1d/2d (eval), Dropout, Identity, Normalized, ElementwiseAffine, Sequential"


def _append(layers: list[Layer], module: nn.Module, position: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Add ``module``'s layer(s) for inputs of ``shape``; return its output shape."""
    with torch.no_grad():
        if isinstance(module, Normalized):
            return _add(layers, _normalisation(module, shape))
        if isinstance(module, ElementwiseAffine):
            return _add(layers, _elementwise(module, position, shape))
        if isinstance(module, (nn.Flatten, nn.Identity)) or (isinstance(module, nn.Dropout) and not module.training):
            return (math.prod(shape),) if isinstance(module, nn.Flatten) else shape
        if isinstance(module, nn.Linear):
            _check_size(position, module, math.prod(shape), module.in_features)
            bias = module.bias if module.bias is not None else torch.zeros(module.out_features)
            return _add(layers, LinearMap(module.weight.detach().to(DTYPE).cpu().clone(), bias.detach().to(DTYPE).cpu().clone(), (module.in_features,)))
        if isinstance(module, nn.Conv2d):
            return _add(layers, _conv(module, position, shape))
        if isinstance(module, nn.ReLU):
            return _add(layers, ReLU(shape))
        if isinstance(module, nn.MaxPool2d):
            return _add(layers, _maxpool(module, position, shape))
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return _add(layers, _batch_norm(module, position, shape))
    state = " in training mode (call model.eval())" if isinstance(module, nn.Dropout) else ""
    raise ConfigError(f"the verifier cannot encode layer {position} ({type(module).__name__}){state}; supported layers: {SUPPORTED}")


def _check_finite(layer: Layer, position: str, module: nn.Module) -> None:
    """NaN/inf parameters would only surface deep inside the MILP; refuse them here."""
    for name in ("weight", "bias", "kernel", "conv_bias", "scale", "shift"):
        value = getattr(layer, name, None)
        if isinstance(value, Tensor) and not torch.isfinite(value).all():
            raise ConfigError(f"layer {position} ({type(module).__name__}) has NaN or inf parameters (statistics); the verifier needs finite weights")


def _add(layers: list[Layer], layer: Layer) -> tuple[int, ...]:
    layers.append(layer)
    return layer.out_shape


def _check_size(position: str, module: nn.Module, got: int, expected: int) -> None:
    if got != expected:
        raise ConfigError(f"layer {position} ({type(module).__name__}) expects {expected} inputs but receives {got}; check input_shape")


def _normalisation(module: Normalized, shape: tuple[int, ...]) -> DiagonalMap:
    mean = module.mean.detach().to(DTYPE).cpu()
    std = module.std.detach().to(DTYPE).cpu()
    if len(shape) != module.input_ndim or shape[0] != mean.shape[0]:
        raise ConfigError(f"the input normalisation expects {module.input_ndim}-D inputs with {mean.shape[0]} channels, got input shape {shape}; check input_shape")
    ones = torch.ones(shape, dtype=DTYPE)
    scale = (ones / std).flatten()
    return DiagonalMap(scale, (-(ones * mean) / std).flatten(), shape, "Normalized")


def _elementwise(module: ElementwiseAffine, position: str, shape: tuple[int, ...]) -> DiagonalMap:
    ones = torch.ones(shape, dtype=DTYPE)
    try:
        scale = ones * module.scale.detach().to("cpu", DTYPE)
        shift = ones * module.shift.detach().to("cpu", DTYPE)
    except RuntimeError:
        scale = shift = None
    if scale is None or scale.shape != shape or shift.shape != shape:
        raise ConfigError(f"layer {position} (ElementwiseAffine) has scale/shift of shapes {tuple(module.scale.shape)}/{tuple(module.shift.shape)}, which do not broadcast to its input shape {shape}")
    return DiagonalMap(scale.flatten(), shift.flatten(), shape, "ElementwiseAffine")


def _image_shape(position: str, module: nn.Module, shape: tuple[int, ...], channels: int) -> tuple[int, int, int]:
    if len(shape) != 3 or shape[0] != channels:
        raise ConfigError(f"layer {position} ({type(module).__name__}) needs C×H×W inputs with C={channels}, got shape {shape}")
    return shape  # type: ignore[return-value]


def _conv(module: nn.Conv2d, position: str, shape: tuple[int, ...]) -> ConvMap:
    if module.padding_mode != "zeros" or isinstance(module.padding, str):
        raise ConfigError(f"layer {position} (Conv2d): only numeric zero padding is supported, got padding={module.padding!r}, padding_mode={module.padding_mode!r}")
    in_shape = _image_shape(position, module, shape, module.in_channels)
    bias = module.bias if module.bias is not None else torch.zeros(module.out_channels)
    return ConvMap(
        module.weight.detach().to(DTYPE).cpu().clone(), bias.detach().to(DTYPE).cpu().clone(), in_shape,
        tuple(module.stride), tuple(module.padding), tuple(module.dilation), module.groups,
    )


def _maxpool(module: nn.MaxPool2d, position: str, shape: tuple[int, ...]) -> MaxPool:
    if module.ceil_mode or module.return_indices:
        raise ConfigError(f"layer {position} (MaxPool2d): ceil_mode and return_indices are not supported")
    if len(shape) != 3:
        raise ConfigError(f"layer {position} (MaxPool2d) needs C×H×W inputs, got shape {shape}")
    c, h, w = shape
    index = torch.arange(c * h * w, dtype=DTYPE).reshape(1, c, h, w) + 1  # 0 marks padding
    pair = nn.modules.utils._pair
    kernel, stride, padding, dilation = (pair(v) for v in (module.kernel_size, module.stride or module.kernel_size, module.padding, module.dilation))
    cols = F.unfold(index.reshape(c, 1, h, w), kernel, dilation, padding, stride)  # C×k×L
    out_h = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    out_w = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    windows = (cols.permute(0, 2, 1).reshape(c * out_h * out_w, -1) - 1).to(torch.int64)
    return MaxPool(windows, shape, (c, out_h, out_w))


def _batch_norm(module: nn.modules.batchnorm._BatchNorm, position: str, shape: tuple[int, ...]) -> DiagonalMap:
    if module.training or module.running_mean is None:
        raise ConfigError(f"layer {position} ({type(module).__name__}) must be in eval mode with running statistics (call model.eval())")
    if shape[0] != module.num_features:
        raise ConfigError(f"layer {position} ({type(module).__name__}) has {module.num_features} features but receives shape {shape}")
    inv = (module.running_var.detach().to(DTYPE) + module.eps).rsqrt()
    gamma = module.weight.detach().to(DTYPE) if module.weight is not None else torch.ones_like(inv)
    beta = module.bias.detach().to(DTYPE) if module.bias is not None else torch.zeros_like(inv)
    scale_c, shift_c = gamma * inv, beta - gamma * inv * module.running_mean.detach().to(DTYPE)
    per_channel = (-1,) + (1,) * (len(shape) - 1)
    ones = torch.ones(shape, dtype=DTYPE)
    return DiagonalMap((ones * scale_c.reshape(per_channel)).flatten(), (ones * shift_c.reshape(per_channel)).flatten(), shape, type(module).__name__)


# -- folding diagonal maps ----------------------------------------------------------------------


def _fold(layers: list[Layer]) -> list[Layer]:
    """Fold each diagonal map into a neighbouring Linear/Conv2d where that is exact."""
    out: list[Layer] = []
    for layer in layers:
        previous = out[-1] if out else None
        if isinstance(layer, DiagonalMap) and isinstance(previous, (LinearMap, ConvMap)):
            out[-1] = _diagonal_after(previous, layer)
        elif isinstance(previous, DiagonalMap) and isinstance(layer, LinearMap):
            out[-1] = LinearMap(layer.weight * previous.scale, layer.apply(previous.shift[None])[0], previous.in_shape, layer.source)
        elif isinstance(previous, DiagonalMap) and isinstance(layer, ConvMap) and _per_channel(previous) and layer.padding == (0, 0):
            out[-1] = _conv_after_diagonal(previous, layer)
        else:
            out.append(layer)
    return out


def _per_channel(diag: DiagonalMap) -> bool:
    """Whether scale and shift are constant over each channel's pixels."""
    c = diag.in_shape[0]
    s, t = diag.scale.reshape(c, -1), diag.shift.reshape(c, -1)
    return bool((s == s[:, :1]).all() and (t == t[:, :1]).all())


def _diagonal_after(affine: LinearMap | ConvMap, diag: DiagonalMap) -> LinearMap | ConvMap:
    """``s ⊙ (W x + b) + t`` as one map (batch norm after a layer)."""
    if isinstance(affine, LinearMap):
        return LinearMap(affine.weight * diag.scale[:, None], affine.bias * diag.scale + diag.shift, affine.in_shape, affine.source)
    if not _per_channel(diag):
        raise ConfigError("a per-pixel diagonal map after a convolution cannot be folded")
    c = diag.in_shape[0]
    s, t = diag.scale.reshape(c, -1)[:, 0], diag.shift.reshape(c, -1)[:, 0]
    return ConvMap(affine.kernel * s[:, None, None, None], affine.conv_bias * s + t, affine.in_shape, affine.stride, affine.padding, affine.dilation, affine.groups, source=affine.source)


def _conv_after_diagonal(diag: DiagonalMap, conv: ConvMap) -> ConvMap:
    """``conv(s ⊙ x + t)`` as one convolution: exact without padding (every tap reads a pixel)."""
    c = diag.in_shape[0]
    s, t = diag.scale.reshape(c, -1)[:, 0], diag.shift.reshape(c, -1)[:, 0]
    groups_in = c // conv.groups
    out_c = conv.kernel.shape[0]
    channel = (torch.arange(out_c)[:, None] // (out_c // conv.groups)) * groups_in + torch.arange(groups_in)[None]  # out_c×in/g
    kernel = conv.kernel * s[channel][:, :, None, None]
    bias = conv.conv_bias + (conv.kernel * t[channel][:, :, None, None]).sum(dim=(1, 2, 3))
    return ConvMap(kernel, bias, conv.in_shape, conv.stride, conv.padding, conv.dilation, conv.groups, source=conv.source)


def reference_model(model: nn.Module) -> nn.Module:
    """A float64 CPU copy of ``model`` in eval mode: what every counterexample is re-checked on."""
    import copy

    return copy.deepcopy(model).to("cpu", DTYPE).eval()


def float64_outputs(reference: nn.Module, x: Tensor, input_shape: tuple[int, ...]) -> Tensor:
    """Outputs of the float64 reference model for flattened inputs ``x`` (N×D)."""
    with torch.no_grad():
        return reference(x.to("cpu", DTYPE).reshape(-1, *input_shape))


def as_numpy(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", DTYPE).numpy()


def check_query_parts(who: str, network: Network, input_set, prop=None) -> None:
    """Refuse a network, input set and property that do not fit together (``who`` names the
    caller in the message: ``bounds``, ``solve_milp``, ``the query``)."""
    from labelrobust.verify.input_sets import InputSet
    from labelrobust.verify.properties import OutputProperty

    if not isinstance(network, Network):
        raise ConfigError(f"{who} needs a verifier Network (labelrobust.verify.network.from_torch), got {type(network).__name__}")
    if not isinstance(input_set, InputSet):
        raise ConfigError(f"{who} needs an InputSet (labelrobust.verify.input_sets), got {type(input_set).__name__}")
    if input_set.size != network.input_size:
        raise ConfigError(f"the input set has {input_set.size} values (shape {input_set.shape}) but the network reads {network.input_size} inputs (shape {network.input_shape})")
    if prop is None:
        return
    if not isinstance(prop, OutputProperty):
        raise ConfigError(f"{who} needs an OutputProperty (labelrobust.verify.properties), got {type(prop).__name__}")
    if prop.num_outputs != network.num_outputs:
        raise ConfigError(f"the property reads {prop.num_outputs} outputs, the network has {network.num_outputs}")
