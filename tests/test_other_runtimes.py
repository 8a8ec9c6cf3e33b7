"""The same library in the other runtimes, each in its own venv:
tflite-runtime 2.14.0 (NumPy 1.x) and tf.lite of TensorFlow 2.21."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np

from actsparse.format import METADATA_NAME
from actsparse.tflite.builder import demo_model
from conftest import OUTPUT_TOLERANCE, REPO, run_python

_SCRIPT = r"""
import importlib.metadata, json, sys
import numpy as np
import actsparse
from actsparse.delegate import runtime_module

model_path, input_path, runtime = sys.argv[1], sys.argv[2], sys.argv[3]
name, module = runtime_module(runtime)
x = np.load(input_path)

def run(delegates):
    it = module.Interpreter(model_path=model_path, experimental_delegates=delegates)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])

dense = run([])
delegated = run([actsparse.load_delegate(runtime=runtime, verbose=True)])
chains = run([actsparse.load_delegate(runtime=runtime, claim="chains")])
try:
    actsparse.load_delegate(runtime=runtime, bogus=1)
    bogus = None
except actsparse.DelegateError as exc:
    bogus = str(exc)
package = {"tflite_runtime": "tflite-runtime", "tensorflow": "tensorflow-cpu"}[runtime]
print(json.dumps({"module": module.__name__,
                  "version": importlib.metadata.version(package),
                  "max_abs_diff": float(np.abs(dense - delegated).max()),
                  "max_abs_diff_chains": float(np.abs(dense - chains).max()),
                  "max_abs": float(np.abs(dense).max()),
                  "bogus_error": bogus}))
"""


def test_delegate_in_the_other_runtimes(other_runtime, delegate_path, tmp_path):
    model = tmp_path / "demo.tflite"
    model.write_bytes(demo_model(seed=5, metadata={METADATA_NAME: b"\x00" * 40}))
    x = np.random.default_rng(0).standard_normal((1, 24, 20, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = run_python(other_runtime.python, _SCRIPT, str(model), str(tmp_path / "x.npy"), other_runtime.name,
                        env={"ACTSPARSE_DELEGATE": str(delegate_path)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["module"].startswith(other_runtime.name + ".")
    assert report["version"] == other_runtime.version
    assert report["max_abs"] > 0
    # claim=graph runs every conv with our kernels (another summation order);
    # claim=chains claims nothing here (the metadata is not an actsparse entry).
    assert report["max_abs_diff"] <= OUTPUT_TOLERANCE * report["max_abs"]
    assert report["max_abs_diff_chains"] == 0.0
    assert "unknown delegate option 'bogus'" in report["bogus_error"]
    # GetModelMetadata and the context layout work in this runtime too.
    assert f"model metadata '{METADATA_NAME}': 40 bytes" in result.stderr
    assert "claimed 8 of 8 nodes: 0 of 0 listed chains" in result.stderr


def test_actsparse_imports_in_the_other_runtimes_venvs_as_the_readme_shows(other_runtime, tmp_path):
    """No PYTHONPATH: setup.sh makes the checkout's package importable there."""
    model = tmp_path / "demo.tflite"
    model.write_bytes(demo_model(seed=5))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import actsparse; it = actsparse.Interpreter(%r, runtime=%r); "
            "print(actsparse.__file__, it.delegate_report.claimed_nodes, it.delegate_report.total_nodes)"
            % (str(model), other_runtime.name))
    done = subprocess.run([str(other_runtime.python), "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path, claimed, total = done.stdout.split()[-3:]
    assert path == str(REPO / "python" / "actsparse" / "__init__.py")
    assert claimed == total != "0"


def test_doctor_finds_the_runtime_of_each_venv(other_runtime, delegate_path):
    """Without runtime=..., the first importable runtime is used: in these venvs, their own."""
    done = subprocess.run([str(other_runtime.python), "-m", "actsparse", "doctor", "--json"], capture_output=True,
                          text=True, env={**os.environ, "ACTSPARSE_DELEGATE": str(delegate_path)})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["runtime"] == other_runtime.name
    assert report["delegate_loads"] is True
