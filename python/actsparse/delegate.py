"""Finding and loading ``libactsparse_delegate.so`` as an external delegate.

Works with the ``ai_edge_litert`` runtime (LiteRT 2.x), the older
``tflite_runtime`` package and ``tf.lite`` of TensorFlow (``runtime="tensorflow"``).
Neither PyTorch nor TensorFlow is imported unless that runtime is asked for
(or is the only one installed).
"""

from __future__ import annotations

import importlib
import os
import platform
import struct
from pathlib import Path
from typing import Any, Iterable

LIBRARY_NAME = "libactsparse_delegate.so"

#: Environment variable that overrides where the library is loaded from.
LIBRARY_ENV = "ACTSPARSE_DELEGATE"

#: The runtimes load_delegate knows, in the order it tries them, and the
#: module each one's ``Interpreter`` and ``load_delegate`` live in.
RUNTIME_MODULES = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
    # tf.lite.Interpreter; TensorFlow deprecates it for ai_edge_litert.
    "tensorflow": "tensorflow.lite.python.interpreter",
}
RUNTIMES = tuple(RUNTIME_MODULES)

_BUILD_HINT = (
    "build it with `bash scripts/build_delegate.sh` (or `bazel build "
    "//delegate:libactsparse_delegate.so`) in the actsparse checkout, or set "
    f"{LIBRARY_ENV}=/path/to/{LIBRARY_NAME}"
)

# ELF e_machine values for the platforms we build for.
_ELF_MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183}


class DelegateError(ValueError):
    """The delegate library could not be loaded or rejected its options."""


class DelegateNotFoundError(DelegateError, FileNotFoundError):
    """No usable ``libactsparse_delegate.so`` was found."""


def _elf_machine(path: Path) -> int | None:
    """The ELF e_machine field of ``path``, or None if it is not an ELF file."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return None
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    byte_order = "<" if header[5] == 1 else ">"
    return struct.unpack(byte_order + "H", header[18:20])[0]


def _host_machine() -> int | None:
    return _ELF_MACHINES.get(platform.machine().lower())


def _machine_mismatch(path: Path) -> str | None:
    """Why ``path`` cannot be loaded on this machine, or None if it can be tried."""
    machine = _elf_machine(path)
    if machine is None:
        return "not an ELF shared library"
    host = _host_machine()
    if host is not None and machine != host:
        return f"built for another CPU (ELF machine {machine}), not {platform.machine()}"
    return None


def _candidate_paths() -> Iterable[tuple[str, Path]]:
    package_dir = Path(__file__).resolve().parent
    # A cross build for this CPU (scripts/build_delegate.sh --aarch64 puts it
    # in _lib/aarch64/), then the host build.
    yield "packaged", package_dir / "_lib" / platform.machine().lower() / LIBRARY_NAME
    yield "packaged", package_dir / "_lib" / LIBRARY_NAME
    # A source checkout: python/actsparse/ -> repository root.
    repo_root = package_dir.parent.parent
    if (repo_root / "WORKSPACE").is_file():
        yield "bazel-bin", repo_root / "bazel-bin" / "delegate" / LIBRARY_NAME


def delegate_library_path(library_path: str | os.PathLike[str] | None = None) -> Path:
    """Path of the delegate library that :func:`load_delegate` would load.

    Order: ``library_path`` if given, else ``$ACTSPARSE_DELEGATE``, else the copy
    inside the installed package for this CPU (``actsparse/_lib/<machine>/``,
    e.g. ``_lib/aarch64/``), then the host build's (``actsparse/_lib/``), else
    ``bazel-bin/`` of a source checkout. A library built for another CPU is
    skipped.

    Raises:
        DelegateNotFoundError: nothing usable was found; the message says where
            it looked and how to build the library.
    """
    explicit = library_path if library_path is not None else os.environ.get(LIBRARY_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        origin = "library_path" if library_path is not None else f"${LIBRARY_ENV}"
        if not path.is_file():
            raise DelegateNotFoundError(f"{origin} points to {path}, which is not a file; {_BUILD_HINT}")
        problem = _machine_mismatch(path)
        if problem:
            raise DelegateNotFoundError(f"{origin} points to {path}, which is {problem}; {_BUILD_HINT}")
        return path.resolve()

    looked: list[str] = []
    for origin, path in _candidate_paths():
        if not path.is_file():
            looked.append(f"{path} ({origin}: missing)")
            continue
        problem = _machine_mismatch(path)
        if problem:
            looked.append(f"{path} ({origin}: {problem})")
            continue
        return path.resolve()
    raise DelegateNotFoundError(
        f"{LIBRARY_NAME} not found; looked at: " + "; ".join(looked) + f". To fix: {_BUILD_HINT}"
    )


#: What to install for each runtime (the versions the delegate is tested with).
_RUNTIME_PACKAGES = {
    "ai_edge_litert": "ai-edge-litert==2.3.0",
    "tflite_runtime": "tflite-runtime==2.14.0 (with numpy<2)",
    "tensorflow": "tensorflow-cpu==2.21.0",
}


def runtime_module(runtime: str | None = None) -> tuple[str, Any]:
    """``(name, interpreter module)`` of ``runtime``, or of the first runtime of
    :data:`RUNTIMES` that imports when ``runtime`` is None.

    Raises:
        DelegateError: ``runtime`` is unknown, or is not importable (the
            message says what to install).
    """
    if runtime is not None and runtime not in RUNTIMES:
        raise DelegateError(f"unknown runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}")
    names = RUNTIMES if runtime is None else (runtime,)
    errors = []
    for name in names:
        try:
            return name, importlib.import_module(RUNTIME_MODULES[name])
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    if runtime is not None:
        raise DelegateError(f"runtime {runtime!r} is not importable ({errors[0]}); "
                            f"install {_RUNTIME_PACKAGES[runtime]} or choose another runtime")
    raise DelegateError(
        "no LiteRT/TFLite runtime is importable (" + "; ".join(errors) + "); "
        f"install {_RUNTIME_PACKAGES['ai_edge_litert']} (see README)"
    )


def _option_value(value: Any) -> str:
    # The C side parses strings; spell booleans the way its help text does.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_delegate(
    *,
    library_path: str | os.PathLike[str] | None = None,
    runtime: str | None = None,
    **options: Any,
) -> Any:
    """Load the actsparse delegate for use in an interpreter.

    Example::

        from ai_edge_litert.interpreter import Interpreter
        import actsparse
        interpreter = Interpreter(model_path="model.tflite",
                                  experimental_delegates=[actsparse.load_delegate(num_threads=2)])

    Args:
        library_path: explicit path of ``libactsparse_delegate.so``; by default
            see :func:`delegate_library_path`.
        runtime: ``"ai_edge_litert"``, ``"tflite_runtime"`` or
            ``"tensorflow"`` (``tf.lite``); by default the first of them that
            imports, in that order. The returned object belongs to that
            runtime and must be used with its ``Interpreter``.
        **options: delegate options, passed to the library as strings:
            ``num_threads`` (int in [1, 256], or -1 for the interpreter's
            count, the default), ``log_level`` (``"error"``, ``"warning"``,
            ``"info"``, ``"debug"``), ``verbose`` (bool; logs what the
            delegate sees and claims to stderr), ``profile`` (bool; times
            each chain inside the model and prints the table to stderr when
            the delegate is deleted).

    Returns:
        The runtime's delegate object.

    Raises:
        DelegateNotFoundError: no library found (the message says how to build it).
        DelegateError: the library rejected an option (the message names it)
            or could not be loaded.
    """
    path = delegate_library_path(library_path)
    loader = runtime_module(runtime)[1].load_delegate
    string_options = {str(key): _option_value(value) for key, value in options.items()}
    try:
        return loader(str(path), string_options)
    except (ValueError, OSError) as exc:
        # The runtime prefixes "Failed to load delegate from <path>"; the
        # library's own message (naming the bad option) follows it.
        detail = str(exc).strip().splitlines()
        message = detail[-1] if detail else repr(exc)
        raise DelegateError(f"{message} (library: {path})") from exc
