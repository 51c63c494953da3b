"""ONNX export and import of the networks the verifier handles, so that labelrobust's queries
run in other verifiers (alpha-beta-CROWN, Marabou, NNV read ONNX + VNN-LIB) and theirs here.

**Export** (``export_onnx``): a float32 CPU copy of the model in eval mode (the caller's model
is not touched) goes through ``torch.onnx.export`` with the ``torch.export``-based exporter
(``dynamo=True``, which works offline and, unlike the deprecated TorchScript exporter, emits
no warnings) at **opset 18** (``OPSET``). The graph has one input ``input`` of shape
``1×input_shape`` (a batch of one, the form of the VNN-COMP benchmarks) in pixel space — the
``Normalized`` statistics become its first ``Sub``/``Div`` nodes — and one output ``output``.
A plain labelrobust network exports to ``Sub, Div, Conv, Relu, MaxPool, Reshape, Gemm``.
The file is written atomically.

**Import** (``load_onnx``): the file is parsed and checked with the ``onnx`` package, then the
graph is read node by node as a *chain* (each node reads the previous node's value plus
constants) and mapped to torch layers:

- ``Conv`` → ``Conv2d`` (symmetric explicit padding or ``VALID``), ``MaxPool`` → ``MaxPool2d``;
- ``Gemm`` (``alpha``, ``beta``, ``transB``; ``transA = 0``) and ``MatMul`` by a constant
  matrix, on either side (``x W`` or ``W x`` for column vectors) → ``Linear``;
- ``Relu`` → ``ReLU``; ``BatchNormalization`` (inference mode) → ``BatchNorm1d/2d``;
- ``Flatten`` and ``Reshape`` that flatten → ``Flatten`` (one that only adds or removes unit
  axes is skipped; one that un-flattens is refused); ``Identity`` and ``Dropout`` are skipped;
- ``Add``/``Sub``/``Mul``/``Div`` with one constant operand are affine per element: a pure shift
  right after a ``Linear``/``Conv2d`` becomes its bias; at the input, per-channel statistics
  with a positive scale become ``Normalized`` (the labelrobust model layout); anything else
  becomes an ``ElementwiseAffine`` (``scale ⊙ x + shift``);
- ``Constant``, initializers and the shape arithmetic of older exporters (``Shape``,
  ``Gather``, ``Unsqueeze``, ``Squeeze``, ``Concat``, ``Cast``, ``Transpose``, ``Reshape`` or
  arithmetic on constants) are evaluated here once.

Any other node is a ``ConfigError`` naming the node and its op type. The input's leading
dimension is the batch when the input has ≥ 2 dimensions and that one is 1 or symbolic; the
returned ``input_shape`` excludes it. The imported module returns each sample's output
flattened (VNN-LIB numbers the outputs ``Y_0 …`` in that order).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper
from torch import nn

from labelrobust.atomic import atomic_write_bytes
from labelrobust.errors import ConfigError
from labelrobust.models.base import Normalized, check_input_shape
from labelrobust.verify.modules import ElementwiseAffine

OPSET = 18
"""The ONNX opset of exported files (supported by onnxruntime ≥ 1.14 and the VNN-COMP tools)."""

INPUT_NAME, OUTPUT_NAME = "input", "output"


# -- export -------------------------------------------------------------------------------------


def export_onnx(model: nn.Module, input_shape: Sequence[int], path: str | Path) -> Path:
    """Write ``model`` (inputs of ``input_shape`` without the batch dimension) to ``path`` as
    ONNX opset ``OPSET`` with a batch of one; return the path."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"export_onnx needs a torch nn.Module, got {type(model).__name__}")
    shape = check_input_shape(input_shape)
    frozen = copy.deepcopy(model).to("cpu", torch.float32).eval()
    example = torch.zeros((1, *shape))
    _check_accepts(frozen, example)
    proto = _export(frozen, example)
    proto.doc_string = f"labelrobust export: input {INPUT_NAME} of shape {[1, *shape]} in pixel space (normalisation inside the graph)"
    onnx.checker.check_model(proto)
    path = Path(path)
    atomic_write_bytes(path, proto.SerializeToString())
    return path


def _check_accepts(model: nn.Module, example: torch.Tensor) -> None:
    try:
        with torch.no_grad():
            model(example)
    except ConfigError:
        raise
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"the model does not accept inputs of shape {tuple(example.shape[1:])}: {_first_line(err)}") from None


def _export(model: nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    # The exporter's own diagnostics are about its internals, not about the user's model.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"torch\.(onnx|export|_dynamo|fx)")
        warnings.filterwarnings("ignore", module=r"onnxscript")
        try:
            program = torch.onnx.export(
                model, (example,), dynamo=True, opset_version=OPSET, input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME], optimize=True, verbose=False, report=False,
            )
        except torch.onnx.errors.OnnxExporterError as err:
            raise ConfigError(f"torch.onnx.export cannot export {type(model).__name__}: {_first_line(err)}") from None
    return program.model_proto


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# -- import -------------------------------------------------------------------------------------


def load_onnx(path: str | Path) -> tuple[nn.Module, tuple[int, ...]]:
    """The network in ONNX file ``path`` as a torch module in eval mode that ``from_torch``
    reads, and its input shape (without the batch dimension)."""
    path = Path(path)
    model = _read(path)
    reader = _GraphReader(path.name, model.graph)
    return reader.run(), reader.input_shape


def _read(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise ConfigError(f"ONNX file {path} does not exist or is not a file")
    try:
        model = onnx.load(str(path))
    except (DecodeError, OSError, ValueError) as err:
        raise ConfigError(f"{path} is not a readable ONNX model ({_first_line(err)}); expected a .onnx file from an ONNX exporter") from None
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        raise ConfigError(f"{path} fails the ONNX checker: {_first_line(err)}") from None
    return model


SUPPORTED_OPS = (
    "Conv, Gemm, MatMul, Relu, MaxPool, BatchNormalization, Flatten, Reshape, Add/Sub/Mul/Div by a constant, "
    "Identity, Dropout, Constant, and shape arithmetic on constants (Shape, Gather, Unsqueeze, Squeeze, Concat, Cast, Transpose)"
)


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class _GraphReader:
    """Walks a chain-shaped graph once, building torch layers.

    ``shape`` is the ONNX shape of the current value with the batch fixed at 1 (what constants
    broadcast against); ``sample`` the shape the torch layers see for one sample (the same
    values in the same order, flattened where the ONNX graph keeps unit axes).
    """

    file: str
    graph: onnx.GraphProto
    consts: dict = field(default_factory=dict)
    layers: list = field(default_factory=list)
    pending: tuple | None = None  # (scale, shift) over ``sample``, not yet emitted
    normalisation: tuple | None = None  # (mean, std) for Normalized

    def __post_init__(self) -> None:
        for init in self.graph.initializer:
            self.consts[init.name] = numpy_helper.to_array(init)
        self.current, self.shape, self.input_shape, self.dtype = self._graph_input()
        self.sample = self.input_shape

    # -- the walk --

    def run(self) -> nn.Module:
        for index, node in enumerate(self.graph.node):
            self._node(index, node)
        self._flush()
        self._check_output()
        net = nn.Sequential(*self.layers)
        if self.normalisation is not None:
            mean, std = self.normalisation
            net = Normalized(net, mean.tolist(), std.tolist(), input_ndim=len(self.input_shape))
        return net.to(self.dtype).eval()

    def _node(self, index: int, node: onnx.NodeProto) -> None:
        label = f"ONNX node {node.name!r} ({node.op_type})" if node.name else f"ONNX node #{index} ({node.op_type})"
        if node.domain not in ("", "ai.onnx"):
            raise ConfigError(f"{self.file}: {label} from op domain {node.domain!r} is not supported; supported: {SUPPORTED_OPS}")
        inputs = [name for name in node.input if name]
        if all(name in self.consts for name in inputs) and node.op_type in _FOLD:
            self.consts[node.output[0]] = _FOLD[node.op_type](node, [self.consts[n] for n in inputs], _attrs(node))
            return
        if node.op_type == "Shape" and inputs == [self.current]:
            self.consts[node.output[0]] = _shape_of(self.shape, _attrs(node))
            return
        handler = _HANDLERS.get(node.op_type)
        if handler is None:
            raise ConfigError(f"{self.file}: {label} is not supported; supported: {SUPPORTED_OPS}")
        self._check_chain(label, inputs)
        handler(self, node, label, _attrs(node))
        self.current = node.output[0]

    def _check_chain(self, label: str, inputs: list[str]) -> None:
        live = [name for name in inputs if name not in self.consts]
        if live != [self.current]:
            raise ConfigError(
                f"{self.file}: {label} reads {live} but only the previous value {self.current!r} (once) plus constants can be read; "
                "the verifier supports chains of layers, not branches or skip connections"
            )

    def _graph_input(self) -> tuple[str, tuple[int, ...], tuple[int, ...], torch.dtype]:
        inputs = [i for i in self.graph.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ConfigError(f"{self.file}: the graph has {len(inputs)} inputs {[i.name for i in inputs]}; the verifier needs exactly one")
        value = inputs[0]
        tensor = value.type.tensor_type
        dtypes = {onnx.TensorProto.FLOAT: torch.float32, onnx.TensorProto.DOUBLE: torch.float64}
        if tensor.elem_type not in dtypes:
            raise ConfigError(f"{self.file}: input {value.name!r} has element type {onnx.TensorProto.DataType.Name(tensor.elem_type)}; expected float or double")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        batched = len(dims) >= 2 and dims[0] in (None, 1)
        sample = dims[1:] if batched else dims
        if not sample or any(d is None or d < 1 for d in sample):
            raise ConfigError(f"{self.file}: input {value.name!r} has shape {dims}; only the leading batch dimension may be symbolic")
        sample = tuple(sample)
        return value.name, ((1,) if batched else ()) + sample, sample, dtypes[tensor.elem_type]

    def _check_output(self) -> None:
        outputs = [o.name for o in self.graph.output]
        if outputs != [self.current]:
            raise ConfigError(f"{self.file}: the graph's outputs are {outputs}; expected exactly one, the value of the last layer {self.current!r}")

    # -- helpers for handlers --

    def const(self, name: str, label: str, what: str) -> np.ndarray:
        if name not in self.consts:
            raise ConfigError(f"{self.file}: {label}: {what} must be a constant (an initializer or Constant node), got the network value {name!r}")
        return self.consts[name]

    def emit(self, module: nn.Module, shape: tuple[int, ...], sample: tuple[int, ...]) -> None:
        self._flush()
        self.layers.append(module)
        self.shape, self.sample = shape, sample

    def flat_for(self, size: int, label: str) -> None:
        """Make the torch value a flat vector of ``size`` before a Linear."""
        if math.prod(self.sample) != size:
            raise ConfigError(f"{self.file}: {label} expects {size} inputs per sample but receives shape {list(self.shape)}")
        if len(self.sample) != 1:
            self.emit(nn.Flatten(), self.shape, (size,))

    def spatial(self, label: str, rank: int) -> tuple[int, ...]:
        """The C×H×W (rank 3) or C(×L) sample shape a Conv/MaxPool/BatchNorm needs."""
        ok = len(self.shape) >= 2 and self.shape[0] == 1 and self.sample == self.shape[1:]
        if not ok or (rank and len(self.sample) != rank):
            raise ConfigError(f"{self.file}: {label} needs a 1×C×H×W value, got shape {list(self.shape)}")
        return self.sample

    def add_affine(self, scale: np.ndarray, shift: np.ndarray) -> None:
        """Compose ``y = scale ⊙ x + shift`` (over ``sample``) after the pending diagonal map."""
        if self.pending is None:
            self.pending = (scale, shift)
        else:
            s, t = self.pending
            self.pending = (scale * s, scale * t + shift)

    def _flush(self) -> None:
        if self.pending is None:
            return
        (scale, shift), self.pending = self.pending, None
        if (scale == 1).all() and (shift == 0).all():
            return
        last = self.layers[-1] if self.layers else None
        if (scale == 1).all() and isinstance(last, (nn.Linear, nn.Conv2d)) and _fold_bias(last, shift):
            return
        if self._as_normalisation(scale, shift):
            return
        self.layers.append(ElementwiseAffine(_tensor(scale), _tensor(shift)))

    def _as_normalisation(self, scale: np.ndarray, shift: np.ndarray) -> bool:
        """Per-channel statistics with a positive scale, before any layer that changes values:
        the ``Normalized`` wrapper labelrobust's own models use."""
        if self.normalisation is not None or self.dtype != torch.float32 or any(not isinstance(m, nn.Flatten) for m in self.layers):
            return False
        c = self.input_shape[0]
        s, t = scale.reshape(c, -1), shift.reshape(c, -1)
        if len(self.input_shape) > 1 and not ((s == s[:, :1]).all() and (t == t[:, :1]).all()):
            return False
        s, t = s[:, 0], t[:, 0]
        if not (s > 0).all():
            return False
        self.normalisation = (-t / s, 1.0 / s)
        return True


def _fold_bias(layer: nn.Linear | nn.Conv2d, shift: np.ndarray) -> bool:
    """Add a shift that follows ``layer`` directly to its bias, where it is one value per unit
    (Linear) or per channel (Conv2d)."""
    if isinstance(layer, nn.Conv2d):
        per = shift.reshape(layer.out_channels, -1)
        if not (per == per[:, :1]).all():
            return False
        shift = per[:, 0]
    with torch.no_grad():
        layer.bias += _tensor(shift.reshape(-1)).to(layer.bias.dtype)
    return True


# -- node handlers (each reads the current value and emits layers) ------------------------------


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A float64 tensor owning a copy (constants may be read-only broadcast views)."""
    return torch.from_numpy(np.array(array, dtype=np.float64))


def _linear(reader: _GraphReader, weight: np.ndarray, bias: np.ndarray, label: str, shape: tuple[int, ...]) -> None:
    out_size, in_size = weight.shape
    reader.flat_for(in_size, label)
    layer = nn.Linear(in_size, out_size, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(_tensor(weight))
        layer.bias.copy_(_tensor(bias))
    reader.emit(layer, shape, (out_size,))


def _gemm(reader: _GraphReader, node, label: str, attrs: dict) -> None:
    if attrs.get("transA", 0):
        raise ConfigError(f"{reader.file}: {label}: transA=1 (a transposed activation) is not supported")
    b = reader.const(node.input[1], label, "operand B")
    if b.ndim != 2:
        raise ConfigError(f"{reader.file}: {label}: operand B must be a matrix, got shape {list(b.shape)}")
    weight = attrs.get("alpha", 1.0) * (b if attrs.get("transB", 0) else b.T)
    if len(reader.shape) != 2 or reader.shape[0] != 1 or reader.shape[1] != weight.shape[1]:
        raise ConfigError(f"{reader.file}: {label} needs a 1×{weight.shape[1]} value, got shape {list(reader.shape)}")
    bias = np.zeros(weight.shape[0])
    if len(node.input) > 2 and node.input[2]:
        c = reader.const(node.input[2], label, "operand C")
        bias = attrs.get("beta", 1.0) * np.broadcast_to(c, (1, weight.shape[0])).reshape(-1)
    _linear(reader, weight, bias, label, (1, weight.shape[0]))


def _matmul(reader: _GraphReader, node, label: str, attrs: dict) -> None:
    left_is_value = node.input[0] == reader.current
    w = reader.const(node.input[1] if left_is_value else node.input[0], label, "the other operand")
    if w.ndim != 2:
        raise ConfigError(f"{reader.file}: {label}: the constant operand must be a matrix, got shape {list(w.shape)}")
    shape = reader.shape
    if left_is_value:  # x W: x is (…, D), every leading axis 1
        ok, weight, out = len(shape) >= 1 and shape[-1] == w.shape[0] and math.prod(shape[:-1]) == 1, w.T, shape[:-1] + (w.shape[1],)
    else:  # W x: x is a column (…, D, 1) or a vector (D,)
        column = len(shape) >= 2 and shape[-1] == 1 and math.prod(shape[:-2]) == 1
        ok = (column and shape[-2] == w.shape[1]) or shape == (w.shape[1],)
        weight, out = w, (shape[:-2] + (w.shape[0], 1)) if column else (w.shape[0],)
    if not ok:
        raise ConfigError(f"{reader.file}: {label}: cannot multiply the value of shape {list(shape)} by a {w.shape[0]}×{w.shape[1]} matrix as one sample")
    _linear(reader, weight, np.zeros(weight.shape[0]), label, out)


def _conv(reader: _GraphReader, node, label: str, attrs: dict) -> None:
    c, h, w = reader.spatial(label, 3)
    kernel = reader.const(node.input[1], label, "the kernel")
    if kernel.ndim != 4:
        raise ConfigError(f"{reader.file}: {label}: only 2-D convolutions are supported, kernel shape {list(kernel.shape)}")
    groups = attrs.get("group", 1)
    if kernel.shape[1] * groups != c:
        raise ConfigError(f"{reader.file}: {label}: kernel for {kernel.shape[1] * groups} channels applied to {c}")
    stride, padding, dilation = _window(reader, label, attrs, kernel.shape[2:])
    bias = reader.const(node.input[2], label, "the bias") if len(node.input) > 2 and node.input[2] else np.zeros(kernel.shape[0])
    layer = nn.Conv2d(c, kernel.shape[0], tuple(kernel.shape[2:]), stride, padding, dilation, groups, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(_tensor(kernel))
        layer.bias.copy_(_tensor(bias))
    out = _pooled((h, w), kernel.shape[2:], stride, padding, dilation)
    reader.emit(layer, (1, kernel.shape[0], *out), (kernel.shape[0], *out))


def _maxpool(reader: _GraphReader, node, label: str, attrs: dict) -> None:
    c, h, w = reader.spatial(label, 3)
    if attrs.get("ceil_mode", 0):
        raise ConfigError(f"{reader.file}: {label}: ceil_mode=1 is not supported")
    kernel = tuple(attrs["kernel_shape"])
    stride, padding, dilation = _window(reader, label, attrs, kernel)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ConfigError(f"{reader.file}: {label}: padding {padding} is more than half the kernel {kernel}")
    out = _pooled((h, w), kernel, stride, padding, dilation)
    reader.emit(nn.MaxPool2d(kernel, stride, padding, dilation), (1, c, *out), (c, *out))


def _window(reader: _GraphReader, label: str, attrs: dict, kernel) -> tuple[tuple, tuple, tuple]:
    """(stride, symmetric padding, dilation) of a 2-D Conv/MaxPool."""
    auto = _text(attrs.get("auto_pad", "NOTSET"))
    if auto not in ("NOTSET", "VALID"):
        raise ConfigError(f"{reader.file}: {label}: auto_pad={auto} is not supported; export with explicit pads")
    pads = tuple(attrs.get("pads", (0, 0, 0, 0))) if auto == "NOTSET" else (0, 0, 0, 0)
    if len(kernel) != 2 or len(pads) != 4 or pads[:2] != pads[2:]:
        raise ConfigError(f"{reader.file}: {label}: only 2-D windows with symmetric padding are supported, got kernel {list(kernel)} pads {list(pads)}")
    return tuple(attrs.get("strides", (1, 1))), pads[:2], tuple(attrs.get("dilations", (1, 1)))


def _pooled(size, kernel, stride, padding, dilation) -> tuple[int, int]:
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in zip(size, kernel, stride, padding, dilation))


def _batch_norm(reader: _GraphReader, node, label: str, attrs: dict) -> None:
    sample = reader.spatial(label, 0)
    if attrs.get("training_mode", 0) or any(node.output[1:]):
        raise ConfigError(f"{reader.file}: {label}: only inference-mode batch normalisation (one output) is supported")
    gamma, beta, mean, var = (reader.const(n, label, what) for n, what in zip(node.input[1:5], ("scale", "B", "mean", "var")))
    kind = nn.BatchNorm2d if len(sample) == 3 else nn.BatchNorm1d
    if len(sample) > 3 or gamma.shape != (sample[0],):
        raise ConfigError(f"{reader.file}: {label}: {gamma.shape[0]} channels for a value of shape {list(reader.shape)}")
    layer = kind(sample[0], eps=attrs.get("epsilon", 1e-5), dtype=torch.float64).eval()
    with torch.no_grad():
        for target, value in ((layer.weight, gamma), (layer.bias, beta), (layer.running_mean, mean), (layer.running_var, var)):
            target.copy_(_tensor(value))
    reader.emit(layer, reader.shape, sample)


def _relu(reader: _GraphReader, node, label: str, attrs: dict) -> None:
    reader.emit(nn.ReLU(), reader.shape, reader.sample)


def _skip(reader: _GraphReader, node, label: str, attrs: dict) -> None:
    """Identity and inference-time Dropout pass the value through."""


def _flatten(reader: _GraphReader, node, label: str, attrs: dict) -> None:
    rank = len(reader.shape)
    axis = attrs.get("axis", 1)
    axis = axis + rank if axis < 0 else axis
    _reshape_to(reader, (math.prod(reader.shape[:axis]), math.prod(reader.shape[axis:])), label)


def _reshape(reader: _GraphReader, node, label: str, attrs: dict) -> None:
    target = reader.const(node.input[1], label, "the target shape")
    _reshape_to(reader, _reshaped(reader.shape, target, attrs.get("allowzero", 0)), label)


def _reshape_to(reader: _GraphReader, shape: tuple[int, ...], label: str) -> None:
    """A reshape keeps the values in order; torch needs a layer only when it flattens."""
    if math.prod(shape) != math.prod(reader.shape):
        raise ConfigError(f"{reader.file}: {label} reshapes {list(reader.shape)} to {list(shape)}: the sizes differ")
    if [d for d in shape if d != 1] == [d for d in reader.sample if d != 1]:
        reader.shape = shape  # only unit axes change: the torch layers see the same sample
        return
    if sum(d != 1 for d in shape) > 1:
        raise ConfigError(f"{reader.file}: {label} reshapes {list(reader.shape)} to {list(shape)}; only reshapes that flatten a sample are supported")
    size = math.prod(shape)
    if len(reader.sample) != 1:
        reader.emit(nn.Flatten(), shape, (size,))
    reader.shape = shape


def _elementwise(reader: _GraphReader, node, label: str, attrs: dict) -> None:
    value_first = node.input[0] == reader.current
    const = reader.const(node.input[1] if value_first else node.input[0], label, "the other operand").astype(np.float64)
    try:
        broadcast = np.broadcast_shapes(reader.shape, const.shape)
    except ValueError:
        broadcast = None
    if broadcast != tuple(reader.shape):
        raise ConfigError(f"{reader.file}: {label}: a constant of shape {list(const.shape)} does not broadcast to the value's shape {list(reader.shape)}")
    c = np.broadcast_to(const, reader.shape).reshape(reader.sample)
    op = node.op_type
    if op == "Div" and not value_first:
        raise ConfigError(f"{reader.file}: {label} divides a constant by the network's value, which is not affine")
    if op == "Div" and (c == 0).any():
        raise ConfigError(f"{reader.file}: {label} divides by zero")
    ones, zeros = np.ones(reader.sample), np.zeros(reader.sample)
    affine = {
        "Add": lambda: (ones, c),
        "Sub": lambda: (ones, -c) if value_first else (-ones, c),
        "Mul": lambda: (c, zeros),
        "Div": lambda: (1.0 / c, zeros),
    }
    reader.add_affine(*affine[op]())


_HANDLERS: dict[str, Callable] = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _matmul, "Relu": _relu, "MaxPool": _maxpool,
    "BatchNormalization": _batch_norm, "Flatten": _flatten, "Reshape": _reshape,
    "Identity": _skip, "Dropout": _skip,
    "Add": _elementwise, "Sub": _elementwise, "Mul": _elementwise, "Div": _elementwise,
}


# -- constants evaluated at import --------------------------------------------------------------


def _reshaped(shape: tuple[int, ...], target: np.ndarray, allowzero: int) -> tuple[int, ...]:
    """ONNX Reshape's output shape: 0 copies the input's dimension (unless allowzero), −1 is inferred."""
    dims = [int(d) for d in np.asarray(target).reshape(-1)]
    dims = [shape[i] if d == 0 and not allowzero else d for i, d in enumerate(dims)]
    if dims.count(-1) == 1:
        known = math.prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = math.prod(shape) // known if known else 0
    return tuple(dims)


def _shape_of(shape: tuple[int, ...], attrs: dict) -> np.ndarray:
    return np.array(shape[slice(attrs.get("start", 0), attrs.get("end"))], dtype=np.int64)


def _axes(values: list[np.ndarray], attrs: dict) -> tuple[int, ...] | None:
    axes = values[1] if len(values) > 1 else attrs.get("axes")
    return None if axes is None else tuple(int(a) for a in np.asarray(axes).reshape(-1))


def _unsqueeze(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    rank = x.ndim + len(axes)
    return np.expand_dims(x, tuple(a + rank if a < 0 else a for a in axes))


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        return np.trunc(a / b).astype(a.dtype)  # ONNX integer division truncates
    return a / b


_FOLD: dict[str, Callable] = {
    "Constant": lambda node, v, a: _constant_value(node, a),
    "Identity": lambda node, v, a: v[0],
    "Dropout": lambda node, v, a: v[0],
    "Cast": lambda node, v, a: v[0].astype(helper.tensor_dtype_to_np_dtype(a["to"])),
    "Reshape": lambda node, v, a: v[0].reshape(_reshaped(v[0].shape, v[1], a.get("allowzero", 0))),
    "Transpose": lambda node, v, a: np.transpose(v[0], a.get("perm")),
    "Unsqueeze": lambda node, v, a: _unsqueeze(v[0], _axes(v, a)),
    "Squeeze": lambda node, v, a: np.squeeze(v[0], _axes(v, a)),
    "Concat": lambda node, v, a: np.concatenate(v, axis=a["axis"]),
    "Gather": lambda node, v, a: np.take(v[0], v[1], axis=a.get("axis", 0)),
    "Shape": lambda node, v, a: _shape_of(v[0].shape, a),
    "Add": lambda node, v, a: v[0] + v[1],
    "Sub": lambda node, v, a: v[0] - v[1],
    "Mul": lambda node, v, a: v[0] * v[1],
    "Div": lambda node, v, a: _divide(v[0], v[1]),
}


def _constant_value(node: onnx.NodeProto, attrs: dict) -> np.ndarray:
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    raise ConfigError(f"Constant node {node.name!r} holds {sorted(attrs)}; only numeric tensors are supported")
