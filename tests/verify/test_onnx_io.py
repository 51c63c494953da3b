"""ONNX export → onnxruntime → import round trips, hand-written VNN-COMP-style graphs, and the
errors for unsupported or malformed files."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from labelrobust.errors import ConfigError
from labelrobust.models.base import Normalized, build_model
from labelrobust.verify.modules import ElementwiseAffine
from labelrobust.verify.network import from_torch
from labelrobust.verify.onnx_io import OPSET, export_onnx, load_onnx

PLAIN_OPS = {"Conv", "Relu", "MaxPool", "Flatten", "Reshape", "Gemm", "MatMul", "Add", "Sub", "Div", "BatchNormalization"}


def _run_ort(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x})[0]


def _check_imported(path, reference: np.ndarray, x: np.ndarray, tol: float = 1e-5) -> nn.Module:
    """The imported module and the verifier's network reproduce onnxruntime's outputs."""
    module, shape = load_onnx(path)
    assert not module.training
    batch = torch.from_numpy(x).reshape(1, *shape)
    with torch.no_grad():
        out = module(batch).reshape(1, -1)
    np.testing.assert_allclose(out.numpy(), reference.reshape(1, -1), atol=tol, rtol=tol)
    network = from_torch(module, shape)
    np.testing.assert_allclose(network.forward(batch.double().reshape(1, -1)).numpy(), reference.reshape(1, -1), atol=tol, rtol=tol)
    return module


# -- export → import round trip of labelrobust models --------------------------------------------

MODELS = [
    ("multilabel-cnn", (1, 10, 14), {"channels": (4, 6)}, ([0.13], [0.31])),
    ("mlp", (6,), {"hidden": 8, "depth": 2}, ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.5, 0.4, 0.3, 0.2, 0.25, 0.35])),
]


@pytest.mark.parametrize(("name", "shape", "options", "stats"), MODELS, ids=[m[0] for m in MODELS])
def test_export_import_round_trip(tmp_path, name, shape, options, stats):
    model = build_model(name, input_shape=shape, out_dim=10, mean=stats[0], std=stats[1], **options).eval()
    path = export_onnx(model, shape, tmp_path / "net.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["net.onnx"]  # no temporary file left behind
    proto = onnx.load(str(path))
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {OPSET}
    assert {n.op_type for n in proto.graph.node} <= PLAIN_OPS

    x = torch.rand(5, *shape)
    ours = np.concatenate([_run_ort(path, x[i:i + 1].numpy()) for i in range(5)])
    with torch.no_grad():
        np.testing.assert_allclose(ours, model(x).numpy(), atol=1e-5, rtol=1e-5)

    imported, imported_shape = load_onnx(path)
    assert imported_shape == shape and isinstance(imported, Normalized) and not imported.training
    torch.testing.assert_close(imported.mean, model.mean)
    torch.testing.assert_close(imported.std, model.std)
    with torch.no_grad():
        expected = model.double()(x.double())
        np.testing.assert_allclose(imported.double()(x.double()).numpy(), expected.numpy(), atol=1e-6, rtol=0)
    network = from_torch(imported, shape)
    np.testing.assert_allclose(network.forward(x.double().reshape(5, -1)).numpy(), expected.numpy(), atol=1e-6, rtol=0)


def test_export_leaves_the_model_alone(tmp_path):
    model = build_model("mlp", input_shape=(3,), out_dim=2, mean=[0.0] * 3, std=[1.0] * 3, hidden=4, depth=1).double().train()
    export_onnx(model, (3,), tmp_path / "m.onnx")
    assert model.training and next(model.parameters()).dtype == torch.float64


def test_export_refuses_bad_arguments(tmp_path):
    model = build_model("mlp", input_shape=(3,), out_dim=2, mean=[0.0] * 3, std=[1.0] * 3).eval()
    with pytest.raises(ConfigError, match="model input must have shape"):
        export_onnx(model, (4,), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="input_shape must be"):
        export_onnx(model, (), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="does not accept inputs of shape"):
        export_onnx(nn.Sequential(nn.Linear(3, 2)), (5,), tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="needs a torch nn.Module"):
        export_onnx("model", (3,), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


# -- hand-written graphs in the forms other tools produce -----------------------------------------


def _init(name: str, array) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def _save(tmp_path, nodes, inits, input_dims, name="net.onnx", elem=TensorProto.FLOAT):
    """A one-input graph ``X`` → ``out`` (output shape left to onnxruntime's inference)."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", elem, input_dims)],
        [helper.make_tensor_value_info("out", elem, ["?"])], initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_acas_xu_style_matmul_chain(tmp_path):
    """ACAS-Xu form: a 1×1×1×5 input, per-feature Sub/Div normalisation, Flatten, MatMul+Add."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Sub", ["X", "mean"], ["s"], name="Sub_0"),
        helper.make_node("Div", ["s", "range"], ["d"], name="Div_1"),
        helper.make_node("Flatten", ["d"], ["f"], name="Flatten_2"),
        helper.make_node("MatMul", ["f", "W0"], ["m0"], name="MatMul_3"),
        helper.make_node("Add", ["m0", "b0"], ["a0"], name="Add_4"),
        helper.make_node("Relu", ["a0"], ["r0"], name="Relu_5"),
        helper.make_node("MatMul", ["r0", "W1"], ["m1"], name="MatMul_6"),
        helper.make_node("Add", ["b1", "m1"], ["out"], name="Add_7"),
    ]
    inits = [
        _init("mean", np.array([1.0, 0.0, 0.0, 650.0, 600.0], np.float32)),
        _init("range", np.array([2.0, 6.28, 6.28, 1100.0, 1200.0], np.float32)),
        _init("W0", _rand(rng, 5, 12)), _init("b0", _rand(rng, 12)),
        _init("W1", _rand(rng, 12, 5)), _init("b1", _rand(rng, 5)),
    ]
    path = _save(tmp_path, nodes, inits, [1, 1, 1, 5])
    x = (rng.random((1, 1, 1, 5)) * np.array([2, 6, 6, 1000, 1000])).astype(np.float32)
    module = _check_imported(path, _run_ort(path, x), x, tol=1e-4)
    assert load_onnx(path)[1] == (1, 1, 5)
    assert isinstance(module[0], ElementwiseAffine)  # per-feature statistics are not per-channel
    assert [type(m).__name__ for m in module] == ["ElementwiseAffine", "Flatten", "Linear", "ReLU", "Linear"]


def test_mnist_fc_style_with_legacy_flatten_and_scalar_normalisation(tmp_path):
    """An old torch export of ``x.view(x.size(0), -1)``: Shape/Gather/Unsqueeze/Concat/Reshape,
    with a symbolic batch and scalar Sub/Div statistics (which become ``Normalized``)."""
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Constant", [], ["mu"], value=numpy_helper.from_array(np.array(0.1307, np.float32))),
        helper.make_node("Sub", ["X", "mu"], ["s"]),
        helper.make_node("Div", ["s", "sigma"], ["d"]),
        helper.make_node("Shape", ["d"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["d", "target"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W0"], ["m0"]),
        helper.make_node("Add", ["m0", "b0"], ["a0"]),
        helper.make_node("Relu", ["a0"], ["r0"]),
        helper.make_node("Identity", ["r0"], ["i0"]),
        helper.make_node("MatMul", ["i0", "W1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["out"]),
    ]
    inits = [
        _init("sigma", np.array(0.3081, np.float32)), _init("zero", np.array(0, np.int64)),
        _init("axes", np.array([0], np.int64)), _init("minus1", np.array([-1], np.int64)),
        _init("W0", _rand(rng, 36, 16)), _init("b0", _rand(rng, 16)),
        _init("W1", _rand(rng, 16, 10)), _init("b1", _rand(rng, 10)),
    ]
    path = _save(tmp_path, nodes, inits, ["N", 1, 6, 6])
    x = rng.random((1, 1, 6, 6)).astype(np.float32)
    module = _check_imported(path, _run_ort(path, x), x)
    assert isinstance(module, Normalized) and load_onnx(path)[1] == (1, 6, 6)
    assert [type(m).__name__ for m in module.net] == ["Flatten", "Linear", "ReLU", "Linear"]


def test_column_vector_form(tmp_path):
    """``W x + b`` on a rank-1 input without a batch axis (networks converted from .nnet)."""
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("MatMul", ["W0", "X"], ["m0"]),
        helper.make_node("Add", ["m0", "b0"], ["a0"]),
        helper.make_node("Relu", ["a0"], ["r0"]),
        helper.make_node("MatMul", ["W1", "r0"], ["m1"]),
        helper.make_node("Sub", ["m1", "b1"], ["out"]),
    ]
    inits = [_init("W0", _rand(rng, 7, 4)), _init("b0", _rand(rng, 7)), _init("W1", _rand(rng, 3, 7)), _init("b1", _rand(rng, 3))]
    path = _save(tmp_path, nodes, inits, [4])
    x = rng.random(4).astype(np.float32)
    module = _check_imported(path, _run_ort(path, x), x)
    assert load_onnx(path)[1] == (4,) and [type(m).__name__ for m in module] == ["Linear", "ReLU", "Linear"]


def test_conv_gemm_batchnorm_dropout_and_constants(tmp_path):
    """Gemm with alpha/beta/transB=0, padded Conv and MaxPool, BatchNormalization, Dropout,
    a Mul after a ReLU and a Constant node."""
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Conv", ["X", "K", "kb"], ["c"], pads=[1, 1, 1, 1], strides=[2, 1], name="conv"),
        helper.make_node("BatchNormalization", ["c", "g", "beta", "mu", "var"], ["bn"], epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("Constant", [], ["half"], value_float=0.5),
        helper.make_node("Mul", ["r", "half"], ["h"]),
        helper.make_node("MaxPool", ["h"], ["p"], kernel_shape=[2, 2], strides=[1, 1], pads=[1, 1, 1, 1]),
        helper.make_node("Dropout", ["p"], ["dp"]),
        helper.make_node("Flatten", ["dp"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "W", "C"], ["out"], alpha=0.5, beta=2.0, transB=0),
    ]
    inits = [
        _init("K", _rand(rng, 3, 2, 3, 3)), _init("kb", _rand(rng, 3)),
        _init("g", _rand(rng, 3)), _init("beta", _rand(rng, 3)), _init("mu", _rand(rng, 3)),
        _init("var", np.abs(_rand(rng, 3)) + 0.1),
        _init("W", _rand(rng, 3 * 4 * 6, 4)), _init("C", _rand(rng, 1, 4)),
    ]
    path = _save(tmp_path, nodes, inits, [1, 2, 6, 5])
    x = rng.random((1, 2, 6, 5)).astype(np.float32)
    module = _check_imported(path, _run_ort(path, x), x)
    assert [type(m).__name__ for m in module] == ["Conv2d", "BatchNorm2d", "ReLU", "ElementwiseAffine", "MaxPool2d", "Flatten", "Linear"]


def test_double_precision_graph(tmp_path):
    rng = np.random.default_rng(4)
    nodes = [helper.make_node("Mul", ["X", "s"], ["m"]), helper.make_node("Gemm", ["m", "W"], ["out"], transB=1)]
    inits = [_init("s", np.array([3.0, 2.0])), _init("W", rng.standard_normal((3, 2)))]
    path = _save(tmp_path, nodes, inits, [1, 2], elem=TensorProto.DOUBLE)
    x = rng.random((1, 2))
    module = _check_imported(path, _run_ort(path, x), x, tol=1e-12)
    assert next(module.parameters()).dtype == torch.float64 and isinstance(module[0], ElementwiseAffine)


# -- what the reader refuses ----------------------------------------------------------------------


def test_unsupported_node_is_named(tmp_path):
    nodes = [
        helper.make_node("Gemm", ["X", "W"], ["g"], transB=1, name="Gemm_0"),
        helper.make_node("Relu", ["g"], ["r"], name="Relu_1"),
        helper.make_node("Sigmoid", ["r"], ["out"], name="Sigmoid_3"),
    ]
    path = _save(tmp_path, nodes, [_init("W", np.ones((2, 3), np.float32))], [1, 3])
    with pytest.raises(ConfigError, match=r"net.onnx: ONNX node 'Sigmoid_3' \(Sigmoid\) is not supported; supported: Conv, Gemm"):
        load_onnx(path)


@pytest.mark.parametrize(
    ("nodes", "inits", "dims", "match"),
    [
        ([helper.make_node("Relu", ["X"], ["r"]), helper.make_node("Add", ["r", "X"], ["out"], name="skip")],
         [], [1, 3], r"'skip' \(Add\) reads \['r', 'X'\].*not branches or skip connections"),
        ([helper.make_node("Div", ["one", "X"], ["out"])], [_init("one", np.ones(3, np.float32))], [1, 3], "divides a constant by the network's value"),
        ([helper.make_node("Add", ["X", "c"], ["out"])], [_init("c", np.ones((2, 1, 3), np.float32))], [1, 3], "does not broadcast"),
        ([helper.make_node("Reshape", ["X", "t"], ["out"])], [_init("t", np.array([1, 2, 3], np.int64))], [1, 6], "only reshapes that flatten"),
        ([helper.make_node("MatMul", ["X", "X"], ["out"])], [], [1, 3], r"reads \['X', 'X'\]"),
        ([helper.make_node("Conv", ["X", "K"], ["out"], auto_pad="SAME_UPPER")], [_init("K", np.ones((1, 1, 3, 3), np.float32))], [1, 1, 4, 4], "auto_pad=SAME_UPPER"),
        ([helper.make_node("Conv", ["X", "K"], ["out"])], [_init("K", np.ones((1, 1, 3, 3), np.float32))], [1, 3], r"needs a 1×C×H×W value"),
        ([helper.make_node("Gemm", ["W", "X"], ["out"], name="g")], [_init("W", np.ones((3, 1), np.float32))], [1, 3], "'g' \\(Gemm\\): operand B must be a constant"),
        ([helper.make_node("Relu", ["X"], ["r"]), helper.make_node("Relu", ["X"], ["out"])], [], [1, 3], "not branches"),
    ],
    ids=["skip", "div-by-value", "broadcast", "unflatten", "square", "same-pad", "conv-on-vector", "gemm-order", "two-readers"],
)
def test_unsupported_graphs(tmp_path, nodes, inits, dims, match):
    path = _save(tmp_path, nodes, inits, dims)
    with pytest.raises(ConfigError, match=match):
        load_onnx(path)


def test_graph_input_and_output_checks(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "Z"], ["out"])], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3]), helper.make_tensor_value_info("Z", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]), str(tmp_path / "two.onnx"))
    with pytest.raises(ConfigError, match=r"two.onnx: the graph has 2 inputs \['X', 'Z'\]"):
        load_onnx(tmp_path / "two.onnx")
    path = _save(tmp_path, [helper.make_node("Relu", ["X"], ["out"])], [], [1, "H"], name="sym.onnx")
    with pytest.raises(ConfigError, match="only the leading batch dimension may be symbolic"):
        load_onnx(path)
    path = _save(tmp_path, [helper.make_node("Relu", ["X"], ["out"])], [], [1, 3], name="int.onnx", elem=TensorProto.INT64)
    with pytest.raises(ConfigError, match="element type INT64"):
        load_onnx(path)


def test_malformed_files_name_the_file(tmp_path):
    good = _save(tmp_path, [helper.make_node("Gemm", ["X", "W"], ["out"], transB=1)], [_init("W", np.ones((2, 3), np.float32))], [1, 3], name="good.onnx")
    load_onnx(good)
    data = good.read_bytes()
    cases = {
        "text.onnx": b"this is not an ONNX model, just text\n",
        "truncated.onnx": data[: len(data) // 2],
        "empty.onnx": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ConfigError, match=rf"{name} (is not a readable ONNX model|fails the ONNX checker)") as info:
            load_onnx(tmp_path / name)
        assert "\n" not in str(info.value)
    broken = onnx.load(str(good))
    broken.graph.node[0].input[0] = "undefined_value"
    onnx.save(broken, str(tmp_path / "broken.onnx"))
    with pytest.raises(ConfigError, match="broken.onnx fails the ONNX checker"):
        load_onnx(tmp_path / "broken.onnx")
    with pytest.raises(ConfigError, match="does not exist"):
        load_onnx(tmp_path / "missing.onnx")


# -- the verifier reads ElementwiseAffine ---------------------------------------------------------


def test_from_torch_reads_elementwise_affine():
    scale, shift = torch.tensor([[2.0], [-1.0]]), torch.tensor([0.5, 0.25, -1.0])  # broadcast to 2×3
    model = nn.Sequential(ElementwiseAffine(scale, shift), nn.Flatten(), nn.Linear(6, 2)).double().eval()
    network = from_torch(model, (2, 3))
    x = torch.rand(4, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(network.forward(x.reshape(4, -1)), model(x))
    with pytest.raises(ConfigError, match=r"ElementwiseAffine\) has scale/shift of shapes \(4,\)/\(4,\), which do not broadcast"):
        from_torch(nn.Sequential(ElementwiseAffine(torch.ones(4), torch.zeros(4))), (3,))
