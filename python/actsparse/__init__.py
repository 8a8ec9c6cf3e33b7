"""actsparse: semi-structured activation sparsity for CNNs on LiteRT/TFLite.

The light entry points are importable without PyTorch:

- :func:`load_delegate` loads ``libactsparse_delegate.so`` as a LiteRT/TFLite
  external delegate (``Interpreter(experimental_delegates=[...])``).
- :func:`delegate_library_path` tells which library that would be.
- :class:`Interpreter` builds the runtime's interpreter with the delegate and
  reports how many masked chains the delegate claimed.

Torch-side tools live in ``actsparse.torch`` and import torch only there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "DelegateError",
    "DelegateReport",
    "Interpreter",
    "DelegateNotFoundError",
    "delegate_library_path",
    "load_delegate",
]

if TYPE_CHECKING:  # pragma: no cover
    from actsparse.delegate import (  # noqa: F401
        DelegateError,
        DelegateNotFoundError,
        delegate_library_path,
        load_delegate,
    )


def __getattr__(name: str) -> Any:
    # Resolved lazily so `import actsparse` stays cheap (no runtime import).
    if name in {"DelegateError", "DelegateNotFoundError", "delegate_library_path", "load_delegate"}:
        from actsparse import delegate

        return getattr(delegate, name)
    if name in {"Interpreter", "DelegateReport"}:
        from actsparse import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'actsparse' has no attribute {name!r}")
