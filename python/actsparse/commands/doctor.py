"""``actsparse doctor``: report the environment and whether the delegate loads."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
from typing import Any

_PACKAGES = ("ai-edge-litert", "tflite-runtime", "tensorflow-cpu", "tensorflow", "torch", "litert-torch", "numpy",
             "flatbuffers")

_EXAMPLE = """\
example:
  actsparse doctor            # human-readable
  actsparse doctor --json     # machine-readable object
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="report versions, the delegate library, and whether it loads",
        description="Report the Python environment, the delegate library that would be "
        "loaded, and whether it loads into the available runtime.",
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def collect() -> dict[str, Any]:
    """Environment facts as a JSON-able dict (never raises)."""
    from actsparse import __version__
    from actsparse.delegate import DelegateError, delegate_library_path, load_delegate, runtime_module

    packages: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    report: dict[str, Any] = {
        "actsparse": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "packages": packages,
        "runtime": None,
        "delegate_library": None,
        "delegate_loads": False,
        "delegate_error": None,
    }
    try:
        report["runtime"] = runtime_module()[0]
        report["delegate_library"] = str(delegate_library_path())
        load_delegate(runtime=report["runtime"])
        report["delegate_loads"] = True
    except DelegateError as exc:
        report["delegate_error"] = str(exc)
    return report


def run(args: argparse.Namespace) -> int:
    report = collect()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"actsparse {report['actsparse']} on Python {report['python']} ({report['machine']})")
        for name, version in report["packages"].items():
            print(f"  {name:16s} {version or '-'}")
        print(f"runtime:          {report['runtime'] or '-'}")
        print(f"delegate library: {report['delegate_library'] or '-'}")
        status = "yes" if report["delegate_loads"] else f"no: {report['delegate_error']}"
        print(f"delegate loads:   {status}")
    return 0 if report["delegate_loads"] else 1
