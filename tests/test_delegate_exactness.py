"""The delegate gives the runtime's outputs for every masked-chain
configuration of the grid, in ai-edge-litert and tflite-runtime 2.14, and
claims every listed chain."""

from __future__ import annotations

import json

import numpy as np
import pytest

import actsparse
from conftest import OUTPUT_TOLERANCE, relative_error, run_python
from delegate_grid import build, grid

GRID = grid()


def test_grid_is_large_and_varied():
    assert len(GRID) >= 200
    assert {c.kernel for c in GRID} == {1, 3, 5, 7}
    assert {c.stride for c in GRID} == {1, 2} and {c.dilation for c in GRID} == {1, 2}
    assert {c.density for c in GRID} >= {0.0, 1.0, 0.3}
    assert {c.padding for c in GRID} == {"same", "valid", "pad"}
    assert any(c.depthwise and c.multiplier == 2 for c in GRID)
    assert any(not c.with_add for c in GRID) and any(c.two_chains for c in GRID)
    assert {c.batch for c in GRID} == {1, 2}
    assert {c.groups for c in GRID} == {1, 2, 3, 4}


def _run(model: bytes, x: np.ndarray, **kwargs) -> tuple[np.ndarray, actsparse.Interpreter]:
    interpreter = actsparse.Interpreter(model_content=model, **kwargs)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy(), interpreter


@pytest.mark.parametrize("config", GRID, ids=str)
def test_delegate_matches_the_runtime(config):
    model, x = build(config)
    builtin, _ = _run(model, x, use_delegate=False, xnnpack=False)
    xnnpack, _ = _run(model, x, use_delegate=False)
    threads = 1 + config.index % 2
    delegated, interpreter = _run(model, x, num_threads=threads)
    report = interpreter.delegate_report
    assert (report.claimed_chains, report.listed_chains) == (config.chains, config.chains), report.log
    assert relative_error(delegated, builtin) <= OUTPUT_TOLERANCE
    assert relative_error(delegated, xnnpack) <= OUTPUT_TOLERANCE


_OTHER_RUNTIME = r"""
import json, sys
from pathlib import Path
import numpy as np
import actsparse
results = {}
for model in sorted(Path(sys.argv[1]).glob("*.tflite")):
    x = np.load(model.with_suffix(".npy"))
    outs = []
    for use in (False, True):
        it = actsparse.Interpreter(model, use_delegate=use, runtime=sys.argv[2])
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]))
    scale = max(float(np.abs(outs[0]).max()), 1e-30)
    results[model.stem] = {"error": float(np.abs(outs[0] - outs[1]).max()) / scale,
                           "claimed": it.delegate_report.claimed_chains}
print(json.dumps(results))
"""


def test_grid_in_the_other_runtimes(other_runtime, delegate_path, tmp_path):
    expected = {}
    for config in GRID:
        model, x = build(config)
        (tmp_path / f"{config.index:03d}.tflite").write_bytes(model)
        np.save(tmp_path / f"{config.index:03d}.npy", x)
        expected[f"{config.index:03d}"] = config.chains
    result = run_python(other_runtime.python, _OTHER_RUNTIME, str(tmp_path), other_runtime.name,
                        env={"ACTSPARSE_DELEGATE": str(delegate_path)}, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report) == set(expected)
    for name, entry in report.items():
        assert entry["claimed"] == expected[name], name
        assert entry["error"] <= OUTPUT_TOLERANCE, name
