"""Verifying an ONNX network against a VNN-LIB property, answered as VNN-COMP's tools answer.

VNN-LIB states the *unsafe* set, so the answers are about it:

- ``unsat``: no input of any case's box reaches that case's unsafe outputs (every case robust);
- ``sat``: some input does; the counterexample (inputs and float64 outputs) is written to the
  result file as ``((X_0 v) … (Y_0 v) …)``, the competition's format;
- ``timeout``: the time ran out before an answer (never ``unsat``);
- ``unknown``: a stage could not decide for another reason (e.g. a numerical mismatch).

The time limit covers the whole instance; cases are verified in order, each with the time left.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from labelrobust.atomic import atomic_write_text
from labelrobust.verify.network import float64_outputs, from_torch, reference_model
from labelrobust.verify.onnx_io import load_onnx
from labelrobust.verify.pipeline import Query, VerifyConfig, verify_query
from labelrobust.verify.verdict import NOT_ROBUST, ROBUST, Verdict
from labelrobust.verify.vnnlib import read_vnnlib


@dataclass
class InstanceAnswer:
    """``result`` (sat / unsat / timeout / unknown), the verdict of every case verified, and
    for ``sat`` the counterexample's inputs and float64 outputs (flat)."""

    result: str
    verdicts: list[Verdict]
    inputs: Tensor | None = None
    outputs: Tensor | None = None
    seconds: float = 0.0


def verify_onnx_vnnlib(onnx_path: str | Path, vnnlib_path: str | Path, config: VerifyConfig | None = None) -> InstanceAnswer:
    """The answer for one VNN-COMP instance; both files are read and checked before solving."""
    config = config or VerifyConfig()
    start = time.perf_counter()
    model, input_shape = load_onnx(onnx_path)
    cases = read_vnnlib(vnnlib_path, input_shape)
    network = from_torch(model, input_shape)
    reference = reference_model(model)
    attack_model = reference_model(model).float()  # the attack searches in float32
    queries = [Query(network, reference, attack_model, case.input_set, case.prop) for case in cases]
    verdicts: list[Verdict] = []
    for query in queries:
        left = config.timeout - (time.perf_counter() - start)
        if left <= 0:
            return InstanceAnswer("timeout", verdicts, seconds=time.perf_counter() - start)
        verdict = verify_query(query, dataclasses.replace(config, timeout=left))
        verdicts.append(verdict)
        if verdict.status == NOT_ROBUST:
            point = verdict.counterexample
            outputs = float64_outputs(reference, point[None], input_shape)[0]
            return InstanceAnswer("sat", verdicts, point, outputs.flatten(), time.perf_counter() - start)
        if verdict.status != ROBUST:
            result = "timeout" if verdict.reason == "timeout" else "unknown"
            return InstanceAnswer(result, verdicts, seconds=time.perf_counter() - start)
    return InstanceAnswer("unsat", verdicts, seconds=time.perf_counter() - start)


def results_text(answer: InstanceAnswer) -> str:
    """The VNN-COMP result file: the answer, and for ``sat`` the counterexample assignment."""
    if answer.result != "sat":
        return answer.result + "\n"
    pairs = [f"(X_{i} {float(v)!r})" for i, v in enumerate(answer.inputs.tolist())]
    pairs += [f"(Y_{j} {float(v)!r})" for j, v in enumerate(answer.outputs.tolist())]
    return "sat\n(" + "\n ".join(pairs) + ")\n"


def write_results(path: str | Path, answer: InstanceAnswer) -> Path:
    path = Path(path)
    atomic_write_text(path, results_text(answer))
    return path
