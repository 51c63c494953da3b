"""ONNX + VNN-LIB instances answered sat / unsat / timeout, VNN-COMP style, and our own queries
exported to those formats and verified back."""

import torch

from labelrobust.models.base import build_model
from labelrobust.verify.input_sets import linf_ball
from labelrobust.verify.onnx_io import export_onnx
from labelrobust.verify.pipeline import VerifyConfig, make_query, verify_query
from labelrobust.verify.properties import argmax_property, top2_property
from labelrobust.verify.vnncomp import results_text, verify_onnx_vnnlib, write_results
from labelrobust.verify.vnnlib import write_vnnlib


def _model():
    torch.manual_seed(4)
    return build_model("fc", input_shape=(1, 4, 4), out_dim=4, mean=(0.2,), std=(0.4,), hidden=12, depth=2).eval()


def test_exported_queries_get_the_same_answer_as_the_native_query(tmp_path):
    model = _model()
    onnx_path = export_onnx(model, (1, 4, 4), tmp_path / "net.onnx")
    g = torch.Generator().manual_seed(0)
    seen = set()
    for i, eps in enumerate((0.005, 0.02, 0.08, 0.3)):
        x = torch.rand(1, 4, 4, generator=g)
        with torch.no_grad():
            target = int(model(x[None]).argmax())
        prop = top2_property(target, 4) if i % 2 else argmax_property(target, 4)
        box = linf_ball(x, eps)
        spec = write_vnnlib(box, prop, tmp_path / f"q{i}.vnnlib")
        native = verify_query(make_query(model, box, prop), VerifyConfig(timeout=60))
        answer = verify_onnx_vnnlib(onnx_path, spec, VerifyConfig(timeout=60))
        assert answer.result == {"robust": "unsat", "not robust": "sat"}[native.status]
        seen.add(answer.result)
        if answer.result == "sat":
            assert bool(box.contains(answer.inputs[None]).all())
            assert float(prop.margin(answer.outputs[None])[0]) >= 0
            text = write_results(tmp_path / f"q{i}.txt", answer).read_text()
            assert text.startswith("sat\n((X_0 ") and f"(Y_3 {float(answer.outputs[3])!r})" in text
    assert seen == {"sat", "unsat"}, "pick radii that give both answers"


def test_a_timeout_is_never_unsat(tmp_path):
    model = _model()
    x = torch.full((1, 4, 4), 0.5)
    with torch.no_grad():
        target = int(model(x[None]).argmax())
    onnx_path = export_onnx(model, (1, 4, 4), tmp_path / "net.onnx")
    spec = write_vnnlib(linf_ball(x, 0.1), argmax_property(target, 4), tmp_path / "q.vnnlib")
    answer = verify_onnx_vnnlib(onnx_path, spec, VerifyConfig(timeout=1e-9))
    assert answer.result == "timeout" and results_text(answer) == "timeout\n"
