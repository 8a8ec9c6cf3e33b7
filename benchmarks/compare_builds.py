"""A/B of delegate builds: one model on XNNPACK and with each given build of
libactsparse_delegate.so, all in one process, interleaved (no interpreter
runs right after itself: ``actsparse.bench.interleaved_order``), medians.

How a change to the delegate is judged here: the host's load moves whole
runs by 10-30%, far more than most changes, but it hits every interpreter of
one process alike. Build the library before and after the change, copy each
somewhere, and give both; repeat the command with the builds swapped.

Prints each build's median time per invoke (ms), its ratio to XNNPACK and
to the first build (above 1: faster), or JSON with ``--json``. With 8 rounds
or more, also how each build's ratio to XNNPACK holds as the host's outside
load changes, in the same rounds (``actsparse.bench.load_sensitivity``: the
rounds grouped by the XNNPACK run's time; the slowest quartile's ratio over
the fastest's). ``--reference DENSE.tflite`` runs that model on XNNPACK
instead of the compared one: the speedup a user gets (the network converted
without masks against the masked one).
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
load robustness of two builds against the dense network, 1 thread:
  .venv/bin/python benchmarks/compare_builds.py r18_s3.tflite /tmp/old.so /tmp/new.so --reference r18.tflite --rounds 300
"""


def compare(model: Path, libraries: list[Path], *, threads: int, rounds: int,
            options: dict[str, str], reference: Path | None = None) -> dict[str, Any]:
    """Median ms per invoke of ``model`` (or ``reference``) on XNNPACK and of
    ``model`` with each library's delegate, ``rounds`` interleaved rounds
    after 5 warm-up invokes each.

    Returns {"xnnpack_model", "xnnpack_ms", "builds": [{"library", "ms",
    "vs_xnnpack", "vs_first", "load"}]}; "load" (None under 8 rounds) is
    :func:`actsparse.bench.load_sensitivity` of the XNNPACK times against
    the build's, round by round.
    """
    import actsparse
    from actsparse.bench import interleaved_times, load_sensitivity, set_random_inputs
    from ai_edge_litert.interpreter import Interpreter

    xnnpack_model = reference if reference is not None else model
    interpreters = [Interpreter(model_path=str(xnnpack_model), num_threads=threads)]
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
    times = interleaved_times(interpreters, rounds)
    medians = [statistics.median(t) for t in times]
    xnnpack_ms, first_ms = medians[0], medians[1]
    return {"xnnpack_model": str(xnnpack_model), "xnnpack_ms": xnnpack_ms,
            "builds": [{"library": str(library), "ms": ms, "vs_xnnpack": xnnpack_ms / ms, "vs_first": first_ms / ms,
                        "load": load_sensitivity(times[0], build_times) if rounds >= 8 else None}
                       for library, ms, build_times in zip(libraries, medians[1:], times[1:])]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=EXAMPLE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help=".tflite model")
    parser.add_argument("libraries", type=Path, nargs="+", metavar="LIBRARY",
                        help="builds of libactsparse_delegate.so to compare (the first is the reference)")
    parser.add_argument("--reference", type=Path, metavar="DENSE.tflite",
                        help="run this model on XNNPACK instead of MODEL (same inputs; normally the network "
                             "converted without masks)")
    parser.add_argument("--threads", type=int, default=1, help="threads of every interpreter (default 1)")
    parser.add_argument("--rounds", type=int, default=200, help="interleaved rounds (default 200)")
    add_option_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    for path in [args.model, *args.libraries, *([args.reference] if args.reference else [])]:
        if not path.is_file():
            parser.error(f"{path}: no such file")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    options = delegate_options(parser, args.option)
    result = compare(args.model, args.libraries, threads=args.threads, rounds=args.rounds, options=options,
                     reference=args.reference)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.model.name}, {args.threads} thread(s), {args.rounds} interleaved rounds, medians:")
    print(f"  {'XNNPACK (' + Path(result['xnnpack_model']).name + ')':<40} {result['xnnpack_ms']:8.3f} ms")
    for build in result["builds"]:
        line = (f"  {build['library']:<40} {build['ms']:8.3f} ms   vs XNNPACK {build['vs_xnnpack']:.3f}x   "
                f"vs first {build['vs_first']:.3f}x")
        load = build["load"]
        if load is not None:
            fast, slow = load["quartiles"][0], load["quartiles"][3]
            line += (f"   under load: {fast['pair_ratio']:.3f}x -> {slow['pair_ratio']:.3f}x "
                     f"({100 * load['slow_over_fast']:.1f}%, XNNPACK {fast['dense_ms'][1]:.2f} -> "
                     f"{slow['dense_ms'][0]:.2f}+ ms)")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
