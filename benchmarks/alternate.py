"""Run a model on XNNPACK and with the actsparse delegate in turn, in one
process, for a fixed time: a workload for a sampling profiler, so that both
runtimes are sampled under the same host load and their symbols compare
directly (this VM has no hardware counters; ``perf -e cpu-clock`` works).

Prints the number of alternations, each runtime's median time per invoke
(ms) and their ratio (XNNPACK over delegate), or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

EXAMPLE = """example (both runtimes, 2 threads, 15 s, samples by symbol):
  perf record -e cpu-clock -F 10000 -o both.data \\
      .venv/bin/python benchmarks/alternate.py model.tflite --threads 2 --seconds 15
  perf report -i both.data --no-children --sort symbol -F sample,symbol
"""


def alternate(model: Path, *, threads: int, seconds: float, options: dict[str, str]) -> dict[str, Any]:
    """Invoke ``model`` (a .tflite file, any input layout) on XNNPACK and with
    the delegate alternately for ``seconds`` after 5 warm-up invokes each;
    returns {"alternations", "xnnpack_ms", "delegate_ms", "ratio"} (medians)."""
    import actsparse
    from actsparse.bench import set_random_inputs
    from ai_edge_litert.interpreter import Interpreter

    xnnpack = Interpreter(model_path=str(model), num_threads=threads)
    delegated = Interpreter(model_path=str(model), num_threads=threads,
                            experimental_delegates=[actsparse.load_delegate(num_threads=threads, **options)])
    for interpreter in (xnnpack, delegated):
        set_random_inputs(interpreter, 0)
        for _ in range(5):
            interpreter.invoke()
    times: tuple[list[float], list[float]] = ([], [])
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or not times[0]:
        for interpreter, into in ((xnnpack, times[0]), (delegated, times[1])):
            start = time.perf_counter()
            interpreter.invoke()
            into.append((time.perf_counter() - start) * 1e3)
    xnnpack_ms, delegate_ms = statistics.median(times[0]), statistics.median(times[1])
    return {"alternations": len(times[0]), "xnnpack_ms": xnnpack_ms, "delegate_ms": delegate_ms,
            "ratio": xnnpack_ms / delegate_ms}


def add_option_argument(parser: argparse.ArgumentParser) -> None:
    """``--option KEY=VALUE`` (repeatable): a delegate option, as the benchmark scripts take it."""
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="delegate option, repeatable (e.g. claim=chains)")


def delegate_options(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, str]:
    """``{key: value}`` of the ``--option`` items; a malformed one is a usage error (exit 2)."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--option {item!r}: expected KEY=VALUE")
        options[key] = value
    return options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=EXAMPLE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help=".tflite model")
    parser.add_argument("--threads", type=int, default=1, help="threads of both runtimes (default 1)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to alternate (default 10)")
    add_option_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"{args.model}: no such file")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.seconds <= 0:
        parser.error(f"--seconds must be positive, got {args.seconds}")
    options = delegate_options(parser, args.option)
    result = alternate(args.model, threads=args.threads, seconds=args.seconds, options=options)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['alternations']} alternations: XNNPACK {result['xnnpack_ms']:.3f} ms, "
              f"delegate {result['delegate_ms']:.3f} ms per invoke (medians), "
              f"ratio {result['ratio']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
