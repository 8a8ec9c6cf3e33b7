"""Shared fixtures. The test command (scripts/test.sh) sets up the venvs and
builds the delegate first; a test that finds either missing fails and says so."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent

#: How far the delegate may be from the runtime's own kernels: 1e-5 of the
#: output's scale (its largest magnitude). Fused and re-blocked ops sum in
#: another order than the builtin kernels and XNNPACK (docs/ARCHITECTURE.md).
OUTPUT_TOLERANCE = 1e-5


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """max |got - expected| over the output scale (max |expected|, at least 1e-30);
    int and bool outputs must be equal (0.0, else inf): no scale hides an index off by one."""
    if np.asarray(expected).dtype.kind in "iub":
        return 0.0 if np.array_equal(got, expected) else float("inf")
    scale = max(float(np.abs(expected).max()), 1e-30)
    return float(np.abs(np.asarray(got, np.float64) - expected).max()) / scale


@dataclass(frozen=True)
class OtherRuntime:
    """A runtime in its own venv (scripts/setup.sh): ``name`` as
    ``actsparse.load_delegate(runtime=...)`` takes it, ``version`` the
    package version its venv pins."""
    name: str
    venv: str
    version: str

    @property
    def python(self) -> Path:
        return REPO / self.venv / "bin" / "python"


#: The runtimes besides the main venv's ai-edge-litert that the delegate is tested in.
OTHER_RUNTIMES = (
    OtherRuntime("tflite_runtime", ".venv-tflite214", "2.14.0"),
    OtherRuntime("tensorflow", ".venv-tf221", "2.21.0"),
)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def delegate_path() -> Path:
    import actsparse

    try:
        return actsparse.delegate_library_path()
    except actsparse.DelegateNotFoundError as exc:
        pytest.fail(f"the delegate is not built ({exc}); run scripts/test.sh")


@pytest.fixture(scope="session", params=OTHER_RUNTIMES, ids=lambda r: r.name)
def other_runtime(request) -> OtherRuntime:
    """Each runtime of OTHER_RUNTIMES in turn; fails (not skips) when its venv is missing."""
    runtime = request.param
    if not runtime.python.exists():
        pytest.fail(f"{runtime.python} is missing; scripts/setup.sh creates it")
    return runtime


def run_interpreter(model: bytes | Path, x: np.ndarray | None = None, *, delegates=(),
                    num_threads: int = 1, xnnpack: bool = True, seed: int = 0):
    """Run a model once in ai_edge_litert; returns (input, first output)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs = {"num_threads": num_threads, "experimental_delegates": list(delegates)}
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if isinstance(model, Path):
        interpreter = Interpreter(model_path=str(model), **kwargs)
    else:
        interpreter = Interpreter(model_content=bytes(model), **kwargs)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    if x is None:
        x = np.random.default_rng(seed).standard_normal(detail["shape"]).astype(np.float32)
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    return x, interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()


def run_python(python: Path, code: str, *args: str, env: dict | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO / "python")
    full_env.update(env or {})
    return subprocess.run([str(python), "-c", code, *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


@pytest.fixture(scope="session")
def host_python() -> Path:
    return Path(sys.executable)
