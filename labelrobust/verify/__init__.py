"""Complete robustness verification of ReLU networks (methods.md §5).

The tiny API, in the order a query flows:

    from labelrobust.verify import linf_ball, top2_property, make_query, verify_query
    query = make_query(model, linf_ball(x, 0.02), top2_property(target, 10, label_set))
    verdict = verify_query(query)          # robust / not robust (+ counterexample) / unknown (+ reason)

- ``network``: the float64 view of a ``Sequential``-like network (``from_torch``);
- ``input_sets``: L∞ balls and the layered neighbourhoods of an object;
- ``properties``: output properties as VNN-LIB writes them (argmax, top2, linear);
- ``bounds``: interval arithmetic and CROWN/DeepPoly back-substitution;
- ``milp`` + ``solvers``: the MIPVerify-style MILP on HiGHS;
- ``pipeline``: bounds → attack → MILP, every answer re-checked in float64;
- ``campaign``: many samples of a trained run (``labelrobust verify RUN_DIR``);
- ``neighbourhood`` + ``heatmaps``: maximal robust layered neighbourhoods;
- ``onnx_io``, ``vnnlib``, ``vnncomp``: the verification community's formats.
"""

from labelrobust.verify.input_sets import InputSet, layered_neighbourhood, linf_ball
from labelrobust.verify.network import Network, from_torch
from labelrobust.verify.pipeline import Query, VerifyConfig, make_query, verify_query
from labelrobust.verify.properties import OutputProperty, argmax_property, linear_property, top2_property
from labelrobust.verify.verdict import NOT_ROBUST, ROBUST, UNKNOWN, Verdict

__all__ = [
    "NOT_ROBUST", "ROBUST", "UNKNOWN", "InputSet", "Network", "OutputProperty", "Query", "Verdict", "VerifyConfig",
    "argmax_property", "from_torch", "layered_neighbourhood", "linear_property", "linf_ball", "make_query", "top2_property", "verify_query",
]
