"""Sound bounds on every layer of a verifier network over an input box, and on a property margin.

``Bounds.lower[i] ≤ z_i ≤ Bounds.upper[i]`` for every point of the input set, where ``z_i`` is
the flattened **input of layer i** (``z_0`` = the network input, ``z_n`` = its outputs).

**Interval arithmetic** (``interval_bounds``) in center/radius form: for an affine layer
``z' = W z + b`` with ``z ∈ [c − r, c + r]``, ``z' ∈ [c' − r', c' + r']`` with ``c' = W c + b``,
``r' = |W| r`` (exact for one affine layer of a box); ReLU clamps both ends at 0; a max-pool
takes the max of its window's lowers and of its window's uppers (exact, the max is monotone).

**Linear relaxation with back-substitution** (``crown_bounds``; CROWN, Zhang et al. 2018, and
DeepPoly, Singh et al. 2019). Every nonlinear unit gets one linear lower and one linear upper
bound in terms of its input, valid on the unit's input interval ``[l, u]``:

- ReLU, ``l ≥ 0``: ``y = x``; ``u ≤ 0``: ``y = 0``; ``l < 0 < u``: ``α x ≤ y ≤ u (x − l)/(u − l)``
  with ``α = 1`` if ``u ≥ −l`` else ``0`` (CROWN-Ada: the lower line of smaller area).
- Max-pool ``y = max_{j∈w} x_j`` (see ``_pool_relaxation``): if one input's lower bound is at
  least every other input's upper bound, ``y = x_{i*}`` exactly. Otherwise the lower line is
  ``y ≥ x_m`` for the input ``m`` with the largest lower bound (``y`` is the max, so it is ≥ any
  input), and the upper line is the constant ``y ≤ u_M = max_j u_j``, or, where that is the
  tighter choice, ``y ≤ x_M + (u_2 − l_M)⁺`` with ``M`` the input of largest upper bound and
  ``u_2`` the largest upper bound of the others. Soundness: if ``x_M`` is the max, ``y = x_M``;
  otherwise ``y = x_j ≤ u_j ≤ u_2 = l_M + (u_2 − l_M) ≤ x_M + (u_2 − l_M)``. The line lies
  below the constant for ``x_M < u_M − u_2 + l_M``, i.e. on more than half of ``[l_M, u_M]``
  exactly when ``u_2 < (l_M + u_M)/2``, and that is when it is chosen (the max-pool analogue of
  CROWN-Ada's area rule).

To bound ``a·z_k + c`` from above, the row ``a`` is carried back layer by layer: through an
affine layer ``a ← a W``, ``c ← c + a·b``; through a relaxed layer, each coefficient uses the
upper line where it is positive and the lower line where it is negative (``a⁺ ⊙ (s_u x + t_u) +
a⁻ ⊙ (s_l x + t_l)``). At the input box the linear function is concretised:
``max a·x + c = c + a·l + a⁺·(u − l)`` — only the free inputs (``l < u``) enter the second term,
the fixed ones of a layered neighbourhood are a constant. A lower bound is minus the upper
bound of ``−a``.

Scale: rows are back-substituted only for the units whose bound can change a decision (ReLU
inputs with ``l < 0 < u``, max-pool inputs that can still win an undecided window, and the
outputs), in chunks of bounded memory. A row that starts at a convolution output only touches
the unit's receptive field, so while the back-substitution runs through convolutions, ReLUs and
diagonal maps in image layout it is kept as a small **patch** (the coefficients over a window
of the layer plus the window's position); it becomes a dense row only at a max-pool or a fully
connected layer. Every bound is intersected with the interval bounds (and ``start``), so CROWN
is never looser than either.

Round-off: everything is float64 with round-to-nearest. Every computed bound of an affine layer
is widened by ``ROUND_OFF·(1 + |bound|)`` as a guard against accumulated rounding; this is a
safety margin, not a directed-rounding proof, so a caller should still treat an upper bound
within solver tolerance of 0 as undecided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import Tensor

from labelrobust.errors import ConfigError
from labelrobust.verify.input_sets import InputSet
from labelrobust.verify.network import AFFINE, ConvMap, DiagonalMap, Layer, MaxPool, Network, ReLU, check_query_parts
from labelrobust.verify.properties import OutputProperty

DTYPE = torch.float64
ROUND_OFF = 1e-12
ROW_BUDGET = 1 << 22
"""Float64 entries of one block of back-substituted rows (32 MiB): bounds the chunk size."""
MAX_ROWS = 1024
"""Most rows back-substituted at once (more rows only add memory, not speed)."""
METHODS = ("interval", "crown")


# -- the bounds container -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Bounds:
    """``lower[i] ≤ z_i ≤ upper[i]``: bounds on the input of layer i (float64 flat vectors);
    index 0 is the input box, index ``len(layers)`` the network outputs."""

    lower: list[Tensor]
    upper: list[Tensor]

    def __post_init__(self) -> None:
        if len(self.lower) != len(self.upper) or not self.lower:
            raise ConfigError(f"bounds need as many lower as upper vectors (at least one), got {len(self.lower)} and {len(self.upper)}")
        for i, (lo, hi) in enumerate(zip(self.lower, self.upper)):
            if lo.ndim != 1 or lo.shape != hi.shape:
                raise ConfigError(f"bounds of layer input {i} must be two flat vectors of one length, got shapes {tuple(lo.shape)} and {tuple(hi.shape)}")

    def __len__(self) -> int:
        return len(self.lower)

    def layer(self, i: int) -> tuple[Tensor, Tensor]:
        """``(lower, upper)`` of the input of layer ``i`` (``len(layers)``: the outputs)."""
        return self.lower[i], self.upper[i]

    @property
    def outputs(self) -> tuple[Tensor, Tensor]:
        return self.lower[-1], self.upper[-1]

    def tighten(self, other: Bounds) -> Bounds:
        """The elementwise intersection with ``other`` (max of lowers, min of uppers).

        Both are claimed sound, so a crossing (``max lower > min upper``) can only be round-off
        or a solver tolerance; there the hull of both is kept, which is sound whichever is right.
        """
        if len(other) != len(self) or any(a.shape != b.shape for a, b in zip(self.lower, other.lower)):
            raise ConfigError("cannot intersect bounds of different networks: the layer counts or sizes differ")
        pairs = [_intersect(l1, u1, l2, u2) for l1, u1, l2, u2 in zip(self.lower, self.upper, other.lower, other.upper)]
        return Bounds([p[0] for p in pairs], [p[1] for p in pairs])

    def check(self, network: Network, what: str = "bounds") -> None:
        """``ConfigError`` unless these bounds have one entry per layer input of ``network``."""
        sizes = [layer.in_size for layer in network.layers] + [network.num_outputs]
        if len(self) != len(sizes):
            raise ConfigError(f"{what} have {len(self)} entries but the network has {len(network.layers)} layers (expected {len(sizes)} entries: every layer input plus the outputs)")
        for i, (lo, size) in enumerate(zip(self.lower, sizes)):
            if lo.numel() != size:
                raise ConfigError(f"{what} of layer input {i} have {lo.numel()} values, the network's layer {i} reads {size}")


def _intersect(l1: Tensor, u1: Tensor, l2: Tensor, u2: Tensor) -> tuple[Tensor, Tensor]:
    lower, upper = torch.maximum(l1, l2), torch.minimum(u1, u2)
    crossed = lower > upper
    if crossed.any():
        lower = torch.where(crossed, torch.minimum(l1, l2), lower)
        upper = torch.where(crossed, torch.maximum(u1, u2), upper)
    return lower, upper


def _widen(lower: Tensor, upper: Tensor) -> tuple[Tensor, Tensor]:
    """The round-off guard of every computed affine bound (see the module docstring)."""
    return lower - ROUND_OFF * (1 + lower.abs()), upper + ROUND_OFF * (1 + upper.abs())


# -- checks ---------------------------------------------------------------------------------------


def _check_query(network: Network, input_set: InputSet) -> None:
    check_query_parts("bounds", network, input_set)


def _check_covers(bounds: Bounds, input_set: InputSet, what: str) -> None:
    """The bounds must have been computed for a set containing ``input_set``, or they are unsound."""
    lo, hi = bounds.layer(0)
    if (lo > input_set.lower).any() or (hi < input_set.upper).any():
        raise ConfigError(f"{what} were computed for a smaller input set than the one given (their input box does not contain it); compute them for this input set")


# -- interval arithmetic --------------------------------------------------------------------------


def interval_bounds(network: Network, input_set: InputSet) -> Bounds:
    """Interval bounds on every layer input (center/radius form, see the module docstring)."""
    _check_query(network, input_set)
    lower, upper = [input_set.lower.clone()], [input_set.upper.clone()]
    for layer in network.layers:
        lo, hi = _interval_step(layer, lower[-1], upper[-1])
        lower.append(lo)
        upper.append(hi)
    return Bounds(lower, upper)


def _interval_step(layer: Layer, lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    if isinstance(layer, ReLU):
        return lo.clamp_min(0), hi.clamp_min(0)
    if isinstance(layer, MaxPool):
        return layer.apply(lo[None])[0], layer.apply(hi[None])[0]
    center = layer.apply(((lo + hi) / 2)[None])[0]
    radius = layer.apply_abs(((hi - lo) / 2)[None])[0]
    return _widen(center - radius, center + radius)


# -- relaxations -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _ReluRelaxation:
    """Per unit: ``low_slope·x ≤ y ≤ up_slope·x + up_bias``."""

    up_slope: Tensor
    up_bias: Tensor
    low_slope: Tensor


@dataclass(frozen=True, eq=False)
class _PoolRelaxation:
    """Per output: ``y ≥ x[low_index]``; ``y ≤ x[up_index] + up_bias`` (``up_index`` −1: ``y ≤ up_bias``)."""

    low_index: Tensor
    up_index: Tensor
    up_bias: Tensor


def _relu_relaxation(lo: Tensor, hi: Tensor) -> _ReluRelaxation:
    active, unstable = lo >= 0, (lo < 0) & (hi > 0)
    slope = torch.where(unstable, hi / torch.where(unstable, hi - lo, 1.0), active.to(DTYPE))
    bias = torch.where(unstable, -slope * lo, 0.0)
    low = torch.where(unstable, (hi >= -lo).to(DTYPE), active.to(DTYPE))
    return _ReluRelaxation(slope, bias, low)


@dataclass(frozen=True, eq=False)
class _Windows:
    """Each max-pool window's bounds (padding reads −inf) and its decisive inputs."""

    low: Tensor
    up: Tensor
    best_low: Tensor
    at_best_low: Tensor
    best_up: Tensor
    at_best_up: Tensor
    second_up: Tensor
    """The largest upper bound of the inputs other than ``at_best_up``."""
    winner: Tensor
    """The window position of the input that is always the max, −1 where none is."""


def _windows(layer: MaxPool, lo: Tensor, hi: Tensor) -> _Windows:
    valid = layer.windows >= 0
    index = layer.windows.clamp_min(0)
    low = lo[index].masked_fill(~valid, -math.inf)
    up = hi[index].masked_fill(~valid, -math.inf)
    best_low, at_best_low = low.max(dim=1)
    best_up, at_best_up = up.max(dim=1)
    second_up = up.scatter(1, at_best_up[:, None], -math.inf).amax(dim=1)
    others_of_best_low = up.scatter(1, at_best_low[:, None], -math.inf).amax(dim=1)
    l_at_best_up = low.gather(1, at_best_up[:, None])[:, 0]
    # A window is decided when one input's lower bound reaches every other input's upper bound.
    winner = torch.where(l_at_best_up >= second_up, at_best_up, torch.where(best_low >= others_of_best_low, at_best_low, -1))
    return _Windows(low, up, best_low, at_best_low, best_up, at_best_up, second_up, winner)


def _pool_relaxation(layer: MaxPool, lo: Tensor, hi: Tensor) -> _PoolRelaxation:
    w = _windows(layer, lo, hi)
    decided = w.winner >= 0

    def position(p: Tensor) -> Tensor:  # window position → flat input index
        return layer.windows.gather(1, p.clamp_min(0)[:, None])[:, 0]

    l_at_best_up = w.low.gather(1, w.at_best_up[:, None])[:, 0]
    use_line = ~decided & (w.second_up < (l_at_best_up + w.best_up) / 2)
    low_index = torch.where(decided, position(w.winner), position(w.at_best_low))
    up_index = torch.where(decided, low_index, torch.where(use_line, position(w.at_best_up), -1))
    line_bias = (w.second_up - l_at_best_up).clamp_min(0)
    up_bias = torch.where(decided, 0.0, torch.where(use_line, line_bias, w.best_up))
    return _PoolRelaxation(low_index, up_index, up_bias)


def _relaxations(network: Network, bounds: Bounds) -> dict[int, _ReluRelaxation | _PoolRelaxation]:
    out = {}
    for i, layer in enumerate(network.layers):
        if isinstance(layer, ReLU):
            out[i] = _relu_relaxation(*bounds.layer(i))
        elif isinstance(layer, MaxPool):
            out[i] = _pool_relaxation(layer, *bounds.layer(i))
    return out


# -- dense back-substitution ------------------------------------------------------------------------


def _dense_step(layer: Layer, relax, a: Tensor, const: Tensor) -> tuple[Tensor, Tensor]:
    """``a·z_{i+1} + const`` ≤ ``a'·z_i + const'`` through layer i (upper-bound direction)."""
    if isinstance(layer, ReLU):
        pos, neg = a.clamp_min(0), a.clamp_max(0)
        return pos * relax.up_slope + neg * relax.low_slope, const + pos @ relax.up_bias
    if isinstance(layer, MaxPool):
        pos, neg = a.clamp_min(0), a.clamp_max(0)
        out = a.new_zeros(a.shape[0], layer.in_size)
        out.index_add_(1, relax.low_index, neg)
        lined = relax.up_index >= 0
        out.index_add_(1, relax.up_index[lined], pos[:, lined])
        return out, const + pos @ relax.up_bias
    return layer.apply_transposed(a), const + a @ layer.bias


def _dense_upper(network: Network, relax, k: int, a: Tensor, const: Tensor, input_set: InputSet) -> Tensor:
    """Upper bounds over the input set of each row of ``a·z_k + const``."""
    for i in range(k - 1, -1, -1):
        a, const = _dense_step(network.layers[i], relax.get(i), a, const)
    return _concretise(a, const, input_set)


def _concretise(a: Tensor, const: Tensor, input_set: InputSet) -> Tensor:
    """``max_{l≤x≤u} a·x + c = c + a·l + a⁺·(u − l)``; fixed inputs (u = l) drop out of the last term."""
    free = input_set.free
    width = (input_set.upper - input_set.lower)[free]
    return const + a @ input_set.lower + a[:, free].clamp_min(0) @ width


# -- patch back-substitution (rows that start in a convolutional layer) ----------------------------


@dataclass(frozen=True, eq=False)
class _Patch:
    """Coefficients ``coef`` (M×C×h×w) over the window of a C×H×W layer whose top-left pixel is
    ``(top, left)`` (per row; the window may reach past the image, where coefficients are 0)."""

    coef: Tensor
    top: Tensor
    left: Tensor


def _patchable(layer: Layer) -> bool:
    return isinstance(layer, ConvMap) or (isinstance(layer, (ReLU, DiagonalMap)) and len(layer.in_shape) == 3)


def _grown(layer: Layer, c: int, h: int, w: int) -> tuple[int, int, int]:
    """The patch size over a layer's input for a patch of c×h×w over its output."""
    if not isinstance(layer, ConvMap):
        return c, h, w
    kh, kw = layer.kernel.shape[2:]
    return (layer.in_shape[0], (h - 1) * layer.stride[0] + layer.dilation[0] * (kh - 1) + 1, (w - 1) * layer.stride[1] + layer.dilation[1] * (kw - 1) + 1)


@dataclass(frozen=True)
class _Plan:
    """How rows starting at index k travel: patches through layers k−1 … ``dense_from``, then
    dense rows through the rest; ``rows`` per chunk."""

    dense_from: int
    rows: int


def _plan(network: Network, k: int) -> _Plan:
    layers = network.layers
    j, largest = k, 0
    if _patchable(layers[k - 1]):
        c, h, w = layers[k - 1].out_shape[0], 1, 1
        while j > 0 and _patchable(layers[j - 1]):
            c2, h2, w2 = _grown(layers[j - 1], c, h, w)
            if c2 * h2 * w2 >= layers[j - 1].in_size:  # a patch as big as the layer: go dense
                break
            c, h, w, j = c2, h2, w2, j - 1
            largest = max(largest, c * h * w)
    if j == k:
        return _Plan(k, _dense_chunk(network, k))
    # patches (and their gathered windows, a few times their size) up to index j, dense below
    widths = [4 * largest] + ([layers[i].in_size for i in range(j + 1)] if j > 0 else [])
    return _Plan(j, max(1, min(MAX_ROWS, ROW_BUDGET // max(widths))))


def _dense_chunk(network: Network, k: int) -> int:
    """Rows per chunk for dense rows that start at index k (the widest layer input they cross)."""
    widths = [network.layers[i].in_size for i in range(k)] + [network.layers[k - 1].out_size if k else network.input_size]
    return max(1, min(MAX_ROWS, ROW_BUDGET // max(widths)))


def _grid_index(top: Tensor, left: Tensor, h: int, w: int, height: int, width: int):
    """Padding and per-row row/column indices into a zero-padded copy of a height×width grid."""
    pad_top = max(0, -int(top.min()))
    pad_bottom = max(0, int(top.max()) + h - height)
    pad_left = max(0, -int(left.min()))
    pad_right = max(0, int(left.max()) + w - width)
    rows = (top + pad_top)[:, None] + torch.arange(h)
    cols = (left + pad_left)[:, None] + torch.arange(w)
    return (pad_left, pad_right, pad_top, pad_bottom), rows, cols


def _window(values: Tensor, shape: tuple[int, ...], patch: _Patch) -> Tensor:
    """``values`` (a C×H×W layer, flat) read over each row's window: M×C×h×w, 0 outside."""
    c, height, width = shape
    _, _, h, w = patch.coef.shape
    pads, rows, cols = _grid_index(patch.top, patch.left, h, w, height, width)
    padded = F.pad(values.reshape(c, height, width), pads)
    return padded[:, rows[:, :, None], cols[:, None, :]].permute(1, 0, 2, 3)


def _inside(shape: tuple[int, ...], top: Tensor, left: Tensor, h: int, w: int) -> Tensor:
    """M×1×h×w mask of the window positions that lie in the image."""
    rows = top[:, None] + torch.arange(h)
    cols = left[:, None] + torch.arange(w)
    ok_r = (rows >= 0) & (rows < shape[1])
    ok_c = (cols >= 0) & (cols < shape[2])
    return (ok_r[:, :, None] & ok_c[:, None, :])[:, None].to(DTYPE)


def _patch_step(layer: Layer, relax, patch: _Patch, const: Tensor) -> tuple[_Patch, Tensor]:
    """The patch form of ``_dense_step`` (same formulas, over each row's window)."""
    coef = patch.coef
    if isinstance(layer, ConvMap):
        const = const + coef.sum(dim=(2, 3)) @ layer.conv_bias
        coef = F.conv_transpose2d(coef, layer.kernel, None, layer.stride, 0, 0, layer.groups, layer.dilation)
        top = patch.top * layer.stride[0] - layer.padding[0]
        left = patch.left * layer.stride[1] - layer.padding[1]
        # Window positions in the zero padding read constants 0: their coefficients drop out.
        coef = coef * _inside(layer.in_shape, top, left, coef.shape[2], coef.shape[3])
        return _Patch(coef, top, left), const
    if isinstance(layer, DiagonalMap):
        const = const + (coef * _window(layer.shift, layer.in_shape, patch)).sum(dim=(1, 2, 3))
        return _Patch(coef * _window(layer.scale, layer.in_shape, patch), patch.top, patch.left), const
    pos, neg = coef.clamp_min(0), coef.clamp_max(0)
    const = const + (pos * _window(relax.up_bias, layer.in_shape, patch)).sum(dim=(1, 2, 3))
    coef = pos * _window(relax.up_slope, layer.in_shape, patch) + neg * _window(relax.low_slope, layer.in_shape, patch)
    return _Patch(coef, patch.top, patch.left), const


def _densify(patch: _Patch, shape: tuple[int, ...]) -> Tensor:
    """The patch rows as dense M×(C·H·W) rows."""
    c, height, width = shape
    m, _, h, w = patch.coef.shape
    pads, rows, cols = _grid_index(patch.top, patch.left, h, w, height, width)
    out = patch.coef.new_zeros(m, c, height + pads[2] + pads[3], width + pads[0] + pads[1])
    out[torch.arange(m)[:, None, None, None], torch.arange(c)[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]] = patch.coef
    return out[:, :, pads[2]:pads[2] + height, pads[0]:pads[0] + width].reshape(m, -1)


def _patch_concretise(patch: _Patch, const: Tensor, input_set: InputSet, shape: tuple[int, ...]) -> Tensor:
    lower = _window(input_set.lower, shape, patch)
    width = _window(input_set.upper - input_set.lower, shape, patch)
    return const + (patch.coef * lower).sum(dim=(1, 2, 3)) + (patch.coef.clamp_min(0) * width).sum(dim=(1, 2, 3))


# -- rows of units and of linear output functions ---------------------------------------------------


def _unit_upper_bounds(network: Network, relax, k: int, units: Tensor, signs: Tensor, input_set: InputSet) -> Tensor:
    """Upper bounds of ``sign·z_k[unit]`` for each (unit, sign), chunk by chunk."""
    plan = _plan(network, k)
    out = []
    for start in range(0, len(units), plan.rows):
        s, g = units[start:start + plan.rows], signs[start:start + plan.rows]
        const = torch.zeros(len(s), dtype=DTYPE)
        if plan.dense_from < k:
            c, height, width = network.layers[k - 1].out_shape
            coef = torch.zeros(len(s), c, 1, 1, dtype=DTYPE)
            coef[torch.arange(len(s)), s // (height * width), 0, 0] = g
            patch = _Patch(coef, (s % (height * width)) // width, s % width)
            for i in range(k - 1, plan.dense_from - 1, -1):
                patch, const = _patch_step(network.layers[i], relax.get(i), patch, const)
            if plan.dense_from == 0:
                out.append(_patch_concretise(patch, const, input_set, network.layers[0].in_shape))
                continue
            a = _densify(patch, network.layers[plan.dense_from].in_shape)
        else:
            size = network.layers[k - 1].out_size if k > 0 else network.input_size
            a = torch.zeros(len(s), size, dtype=DTYPE)
            a[torch.arange(len(s)), s] = g
        out.append(_dense_upper(network, relax, plan.dense_from, a, const, input_set))
    return torch.cat(out) if out else torch.zeros(0, dtype=DTYPE)


def _row_upper_bounds(network: Network, relax, rows: Tensor, input_set: InputSet) -> Tensor:
    """Upper bounds of ``rows @ y`` (M×K rows over the network outputs y), chunk by chunk."""
    n = len(network.layers)
    chunk = _dense_chunk(network, n)
    parts = [_dense_upper(network, relax, n, rows[i:i + chunk], torch.zeros(len(rows[i:i + chunk]), dtype=DTYPE), input_set) for i in range(0, len(rows), chunk)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=DTYPE)


# -- CROWN ------------------------------------------------------------------------------------------


def crown_bounds(network: Network, input_set: InputSet, start: Bounds | None = None) -> Bounds:
    """CROWN/DeepPoly bounds on every layer input (see the module docstring), never looser than
    the interval bounds or ``start`` (sound bounds for a set containing ``input_set``)."""
    _check_query(network, input_set)
    base = interval_bounds(network, input_set)
    if start is not None:
        if not isinstance(start, Bounds):
            raise ConfigError(f"start must be Bounds (from interval_bounds or crown_bounds), got {type(start).__name__}")
        start.check(network, "start bounds")
        _check_covers(start, input_set, "start bounds")
        base = base.tighten(start)
    layers = network.layers
    lower, upper = [input_set.lower.clone()], [input_set.upper.clone()]
    relax: dict[int, _ReluRelaxation | _PoolRelaxation] = {}
    for i, layer in enumerate(layers):
        if isinstance(layer, ReLU):
            relax[i] = _relu_relaxation(lower[i], upper[i])
        elif isinstance(layer, MaxPool):
            relax[i] = _pool_relaxation(layer, lower[i], upper[i])
        lo, hi = _intersect(*_interval_step(layer, lower[i], upper[i]), base.lower[i + 1], base.upper[i + 1])
        # The first affine layer of a box is exact under interval arithmetic; after any other
        # affine layer, refine the units the next layer's relaxation depends on.
        if isinstance(layer, AFFINE) and i > 0 and (i + 1 == len(layers) or not isinstance(layers[i + 1], AFFINE)):
            lo, hi = _refine(network, relax, i + 1, lo, hi, input_set)
        lower.append(lo)
        upper.append(hi)
    return Bounds(lower, upper)


def _refine(network: Network, relax, k: int, lo: Tensor, hi: Tensor, input_set: InputSet) -> tuple[Tensor, Tensor]:
    units = _decisive_units(network, k, lo, hi)
    if not len(units):
        return lo, hi
    both = torch.cat([units, units])
    signs = torch.cat([torch.ones(len(units), dtype=DTYPE), -torch.ones(len(units), dtype=DTYPE)])
    ub = _unit_upper_bounds(network, relax, k, both, signs, input_set)
    new_lo, new_hi = _widen(-ub[len(units):], ub[:len(units)])
    lo, hi = lo.clone(), hi.clone()
    lo[units], hi[units] = _intersect(lo[units], hi[units], new_lo, new_hi)
    return lo, hi


def _decisive_units(network: Network, k: int, lo: Tensor, hi: Tensor) -> Tensor:
    """The units of z_k whose bounds can change a relaxation or the outputs."""
    if k == len(network.layers):
        return torch.arange(lo.numel())
    consumer = network.layers[k]
    if isinstance(consumer, ReLU):
        return ((lo < 0) & (hi > 0)).nonzero().flatten()
    w = _windows(consumer, lo, hi)
    # An input can matter only if it can reach the window's largest lower bound.
    can_win = (w.up >= w.best_low[:, None]) & (consumer.windows >= 0)
    index = consumer.windows[can_win]
    index = torch.unique(index)
    return index[hi[index] > lo[index]]


# -- properties ------------------------------------------------------------------------------------


def property_upper_bound(network: Network, input_set: InputSet, prop: OutputProperty, bounds: Bounds, method: str = "crown", *, combine: bool = True, shortcut: bool = True) -> float:
    """A sound upper bound on ``max_{x'∈S} m(f(x'))``, ``m(y) = max_i min_j (C_i y + d_i)_j``.

    ``max_x max_i min_j g_ij(x) ≤ max_i min_j max_x g_ij(x)``, and each ``max_x g_ij`` (a linear
    function of the outputs) is bounded by back-substituting its row (``crown``, using the
    relaxations built from ``bounds``, and never above the box bound) or from the output box
    of ``bounds`` (``interval``: ``c⁺·U + c⁻·L + d``).

    ``combine`` (CROWN only): a clause with several rows also gets its mean row, since
    ``min_j g_j ≤ mean_j g_j`` pointwise, so ``max_x min_j g_j ≤ UB(mean_j g_j)``; one linear
    function bounded jointly can be tighter than the separate maxima, which may be reached at
    different points. The clause bound is the min of all of them.

    ``shortcut`` (``kind == "top2"``, target t): with ``v_j = UB(y_j − y_t)`` the clause of pair
    {j, k} is bounded by ``min(v_j, v_k)``, and ``max_{j<k} min(v_j, v_k)`` is the 2nd-largest
    ``v_j`` (the min of two distinct entries is at most the 2nd-largest, and the top two attain
    it), so K−1 rows give exactly the pairwise bound without building C(K−1, 2) clauses. With
    ``combine`` the pair rows ``(y_j + y_k)/2 − y_t`` are bounded as well (one row per pair).
    """
    _check_query(network, input_set)
    if not isinstance(prop, OutputProperty):
        raise ConfigError(f"prop must be an OutputProperty (labelrobust.verify.properties), got {type(prop).__name__}")
    if prop.num_outputs != network.num_outputs:
        raise ConfigError(f"the property reads {prop.num_outputs} outputs but the network has {network.num_outputs}")
    if method not in METHODS:
        raise ConfigError(f"bound method must be one of {', '.join(METHODS)}, got {method!r}")
    if not isinstance(bounds, Bounds):
        raise ConfigError(f"bounds must be Bounds (from interval_bounds or crown_bounds), got {type(bounds).__name__}")
    bounds.check(network)
    _check_covers(bounds, input_set, "bounds")
    combine = combine and method == "crown"
    upper_of = _row_bounder(network, input_set, bounds, method)
    if prop.kind == "top2" and shortcut:
        return _top2_bound(prop, upper_of, combine)
    return _clause_bound(prop, upper_of, combine)


def _row_bounder(network: Network, input_set: InputSet, bounds: Bounds, method: str):
    """A function: M×K rows over the outputs → their upper bounds over the input set."""
    low, up = bounds.outputs
    relax = _relaxations(network, bounds) if method == "crown" else None

    def upper_of(rows: Tensor) -> Tensor:
        box = rows.clamp_min(0) @ up + rows.clamp_max(0) @ low
        if relax is None:
            return box
        return torch.minimum(box, _row_upper_bounds(network, relax, rows, input_set))

    return upper_of


def _clause_bound(prop: OutputProperty, upper_of, combine: bool) -> float:
    rows = [c.coefficients for c in prop.clauses]
    offsets = [c.offsets for c in prop.clauses]
    if combine:  # each clause's mean row after its own rows (see property_upper_bound)
        rows = [torch.cat([r, r.mean(dim=0, keepdim=True)]) if len(r) > 1 else r for r in rows]
        offsets = [torch.cat([d, d.mean().reshape(1)]) if len(d) > 1 else d for d in offsets]
    values = upper_of(torch.cat(rows)) + torch.cat(offsets)
    per_clause = [part.min() for part in values.split([len(r) for r in rows])]
    return float(torch.stack(per_clause).max())


def _top2_bound(prop: OutputProperty, upper_of, combine: bool) -> float:
    k, t = prop.num_outputs, prop.target
    others = [j for j in range(k) if j != t]
    eye = torch.eye(k, dtype=DTYPE)
    diffs = eye[others] - eye[t]
    v = upper_of(diffs)
    if not combine:
        return float(v.topk(2).values[1])
    pairs = list(combinations(range(len(others)), 2))
    first, second = torch.tensor([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs])
    joint = upper_of((diffs[first] + diffs[second]) / 2)
    return float(torch.minimum(torch.minimum(v[first], v[second]), joint).max())


# -- reporting -------------------------------------------------------------------------------------


def unstable_counts(network: Network, bounds: Bounds) -> list[int]:
    """Per ReLU or max-pool layer, in order: the units the bounds leave undecided (ReLU inputs
    with ``l < 0 < u``; max-pool windows where no input always wins)."""
    if not isinstance(network, Network):
        raise ConfigError(f"unstable_counts needs a verifier Network, got {type(network).__name__}")
    if not isinstance(bounds, Bounds):
        raise ConfigError(f"unstable_counts needs Bounds, got {type(bounds).__name__}")
    bounds.check(network)
    counts = []
    for i, layer in enumerate(network.layers):
        lo, hi = bounds.layer(i)
        if isinstance(layer, ReLU):
            counts.append(int(((lo < 0) & (hi > 0)).sum()))
        elif isinstance(layer, MaxPool):
            counts.append(int((_windows(layer, lo, hi).winner < 0).sum()))
    return counts
