"""A/B of delegate builds: one model on XNNPACK and with each given build of
libactsparse_delegate.so, all in one process, interleaved (no interpreter
runs right after itself: ``actsparse.bench.interleaved_order``), medians.

How a change to the delegate is judged here: the host's load moves whole
runs by 10-30%, far more than most changes, but it hits every interpreter of
one process alike. Build the library before and after the change, copy each
somewhere, and give both; repeat the command with the builds swapped.

Prints each build's median time per invoke (ms), its ratio to XNNPACK and
to the first build (above 1: faster), or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from alternate import add_option_argument, delegate_options  # this folder: run as a script

EXAMPLE = """example (before and after a change, 2 threads, 400 rounds):
  git stash && bash scripts/build_delegate.sh && cp python/actsparse/_lib/libactsparse_delegate.so /tmp/old.so
  git stash pop && bash scripts/build_delegate.sh && cp python/actsparse/_lib/libactsparse_delegate.so /tmp/new.so
  .venv/bin/python benchmarks/compare_builds.py model.tflite /tmp/old.so /tmp/new.so --threads 2 --rounds 400
"""


def compare(model: Path, libraries: list[Path], *, threads: int, rounds: int,
            options: dict[str, str]) -> dict[str, Any]:
    """Median ms per invoke of ``model`` on XNNPACK and with each library's
    delegate, ``rounds`` interleaved rounds after 5 warm-up invokes each.

    Returns {"xnnpack_ms", "builds": [{"library", "ms", "vs_xnnpack", "vs_first"}]}.
    """
    import actsparse
    from actsparse.bench import interleaved_times, set_random_inputs
    from ai_edge_litert.interpreter import Interpreter

    interpreters = [Interpreter(model_path=str(model), num_threads=threads)]
    delegates = []  # each interpreter must not outlive its delegate
    for library in libraries:
        delegate = actsparse.load_delegate(library_path=library, num_threads=threads, **options)
        delegates.append(delegate)
        interpreters.append(Interpreter(model_path=str(model), num_threads=threads,
                                        experimental_delegates=[delegate]))
    for interpreter in interpreters:
        interpreter.allocate_tensors()
        set_random_inputs(interpreter, 0)
        for _ in range(5):
            interpreter.invoke()
    medians = [statistics.median(times) for times in interleaved_times(interpreters, rounds)]
    xnnpack_ms, first_ms = medians[0], medians[1]
    return {"xnnpack_ms": xnnpack_ms,
            "builds": [{"library": str(library), "ms": ms, "vs_xnnpack": xnnpack_ms / ms, "vs_first": first_ms / ms}
                       for library, ms in zip(libraries, medians[1:])]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=EXAMPLE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help=".tflite model")
    parser.add_argument("libraries", type=Path, nargs="+", metavar="LIBRARY",
                        help="builds of libactsparse_delegate.so to compare (the first is the reference)")
    parser.add_argument("--threads", type=int, default=1, help="threads of every interpreter (default 1)")
    parser.add_argument("--rounds", type=int, default=200, help="interleaved rounds (default 200)")
    add_option_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    for path in [args.model, *args.libraries]:
        if not path.is_file():
            parser.error(f"{path}: no such file")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    options = delegate_options(parser, args.option)
    result = compare(args.model, args.libraries, threads=args.threads, rounds=args.rounds, options=options)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.model.name}, {args.threads} thread(s), {args.rounds} interleaved rounds, medians:")
    print(f"  {'XNNPACK':<40} {result['xnnpack_ms']:8.3f} ms")
    for build in result["builds"]:
        print(f"  {build['library']:<40} {build['ms']:8.3f} ms   vs XNNPACK {build['vs_xnnpack']:.3f}x   "
              f"vs first {build['vs_first']:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
