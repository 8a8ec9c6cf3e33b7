"""claim=graph: every op the delegate claims, and networks of other
structures, give the runtime's outputs (builtin kernels and XNNPACK) within
1e-5 of the output scale, at 1 and 2 threads, in ai-edge-litert and
tflite-runtime 2.14, and run as the expected number of delegate partitions
(one: the graph runs whole). What the delegate cannot compute stays with the
runtime, with the reason in the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import OUTPUT_TOLERANCE, relative_error, run_python
from graph_cases import CASES, build
from model_runs import run_with_inputs as _run


def test_cases_cover_every_claimed_op():
    from actsparse.tflite.graph import SubgraphView
    from actsparse.tflite.model_file import load_model

    ops = set()
    for case in CASES:
        ops |= {op.name for op in SubgraphView(load_model(build(case)[0])).ops}
    assert ops >= {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "RELU",
                   "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "LOGISTIC", "TANH", "HARD_SWISH", "MAX_POOL_2D",
                   "AVERAGE_POOL_2D", "MEAN", "FULLY_CONNECTED", "PAD", "PADV2", "RESHAPE", "CONCATENATION",
                   "RESIZE_NEAREST_NEIGHBOR", "SOFTMAX", "TRANSPOSE", "SLICE", "SUM", "BROADCAST_TO",
                   "SQUARED_DIFFERENCE", "RSQRT", "GELU", "RESIZE_BILINEAR", "TRANSPOSE_CONV", "STRIDED_SLICE",
                   "MIRROR_PAD", "EXP", "LOG", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "EQUAL",
                   "NOT_EQUAL", "SELECT", "SELECT_V2", "REDUCE_MAX", "REDUCE_MIN", "BATCH_MATMUL", "L2_NORMALIZATION", "SQRT", "ABS", "NEG",
                   "SQUARE", "RELU_0_TO_1", "FLOOR", "CEIL", "ROUND", "SIGN", "SIN", "COS", "POW", "REVERSE_V2", "GATHER_ND",
                   "ARG_MAX", "ARG_MIN", "CAST", "CONV_3D",
                   "FLOOR_DIV", "FLOOR_MOD", "ATAN2", "CUMSUM", "LOGICAL_AND", "LOGICAL_OR"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_graph_matches_the_runtime(case):
    model, inputs = build(case)
    builtin, _ = _run(model, inputs, use_delegate=False, xnnpack=False)
    xnnpack, _ = _run(model, inputs, use_delegate=False)
    for threads in (1, 2):
        got, report = _run(model, inputs, num_threads=threads)
        assert report.partitions == case.partitions, report.log
        if case.partitions == 1 and not case.refusals:
            assert report.claimed_nodes == report.total_nodes, report.log
        for reason in case.refusals:
            assert any(reason in r for r in report.refusals), report.refusals
        for g, b, x in zip(got, builtin, xnnpack):
            assert relative_error(g, b) <= OUTPUT_TOLERANCE, (threads, relative_error(g, b))
            assert relative_error(g, x) <= OUTPUT_TOLERANCE, (threads, relative_error(g, x))


def test_fusion_off_gives_the_same_outputs():
    """fuse=false runs every node as its own step: the fused plan must agree."""
    for case in CASES:
        if not case.name.startswith("net-") and not case.name.startswith("conv-"):
            continue
        model, inputs = build(case)
        fused, _ = _run(model, inputs)
        unfused, _ = _run(model, inputs, fuse=False)
        for a, b in zip(fused, unfused):
            assert relative_error(a, b) <= OUTPUT_TOLERANCE, case.name


_OTHER_RUNTIME = r"""
import json, sys
from pathlib import Path
import numpy as np
import actsparse
results = {}
for model in sorted(Path(sys.argv[1]).glob("*.tflite")):
    inputs = [np.load(p) for p in sorted(model.parent.glob(model.stem + ".in*.npy"))]
    outs, report = [], None
    for use in (False, True):
        it = actsparse.Interpreter(model, use_delegate=use, runtime=sys.argv[2], num_threads=2)
        it.allocate_tensors()
        for d, x in zip(it.get_input_details(), inputs):
            it.set_tensor(d["index"], x)
        it.invoke()
        outs.append([it.get_tensor(d["index"]) for d in it.get_output_details()])
        report = it.delegate_report
    for k, out in enumerate(outs[1]):
        np.save(model.parent / f"{model.stem}.delegate{k}.npy", out)
    errors = [float(np.abs(np.asarray(a, np.float64) - b).max()) / max(float(np.abs(a).max()), 1e-30)
              for a, b in zip(*outs)]
    results[model.stem] = {"error": max(errors), "partitions": report.partitions}
print(json.dumps(results))
"""


def test_graph_cases_in_the_other_runtimes(other_runtime, delegate_path, tmp_path):
    expected = {}
    for i, case in enumerate(CASES):
        model, inputs = build(case)
        (tmp_path / f"{i:03d}.tflite").write_bytes(model)
        for j, x in enumerate(inputs):
            np.save(tmp_path / f"{i:03d}.in{j}.npy", x)
        expected[f"{i:03d}"] = case
    result = run_python(other_runtime.python, _OTHER_RUNTIME, str(tmp_path), other_runtime.name,
                        env={"ACTSPARSE_DELEGATE": str(delegate_path)}, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report) == set(expected)
    for name, entry in report.items():
        case = expected[name]
        assert entry["partitions"] == case.partitions, case.name
        if not case.old_runtime_differs:
            assert entry["error"] <= OUTPUT_TOLERANCE, (case.name, entry["error"])
            continue
        # This runtime's own kernel is wrong here (the case says how): the
        # delegate in it must give ai-edge-litert's builtin result instead.
        model, inputs = build(case)
        want, _ = _run(model, inputs, use_delegate=False, xnnpack=False)
        for k, w in enumerate(want):
            got = np.load(tmp_path / f"{name}.delegate{k}.npy")
            assert relative_error(got, w) <= OUTPUT_TOLERANCE, case.name
