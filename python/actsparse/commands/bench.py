"""``actsparse bench``: the delegate against dense XNNPACK on one model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from actsparse.commands import thread_count

_EXAMPLE = """\
examples:
  actsparse bench resnet18.tflite
  actsparse bench resnet18.tflite --num_threads 2 --num_runs 50 --json
  actsparse bench model.tflite --require-idle        # refuse to measure on a busy CPU
  actsparse bench resnet18.tflite --per-layer         # each chain vs. the same conv on XNNPACK
  actsparse bench sparse.tflite --reference dense.tflite   # also vs. the plain network (convert --dense)
  actsparse bench resnet18.tflite --profile           # each step's time inside the model
  actsparse bench dense.tflite                        # a model without masks: the delegate's engine vs XNNPACK
  actsparse bench resnet18.tflite --claim chains      # only the masked chains (the old behaviour)

On Android or another C++ host (untested here):
  benchmark_model --graph=model.tflite --external_delegate_path=libactsparse_delegate.so \\
      --external_delegate_options='num_threads:4'
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time a model with the delegate vs. dense XNNPACK",
                       description="Time an annotated .tflite in one process with default XNNPACK "
                       "alone (dense reference) and with the actsparse delegate (+ XNNPACK for the "
                       "rest), interleaved, and report medians, spread and the speedup. Checks "
                       "that both give the same outputs and how busy the CPU was.",
                       epilog=_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="annotated .tflite")
    p.add_argument("--num_threads", "--num-threads", type=thread_count, default=1, help="default 1")
    p.add_argument("--num_runs", "--num-runs", type=int, default=30, help="timed runs of each (default 30)")
    p.add_argument("--warmup_runs", "--warmup-runs", type=int, default=5, help="default 5")
    p.add_argument("--require-idle", action="store_true",
                   help="exit 3 without measuring if other processes use >15%% of the CPU")
    p.add_argument("--reference", type=Path, metavar="DENSE.tflite",
                   help="also time this model (the network converted without masks: "
                   "`actsparse convert model.pt dense.tflite --dense`) on XNNPACK")
    p.add_argument("--per-layer", action="store_true",
                   help="also time each delegated chain alone against the same conv on XNNPACK "
                   "(efficiency = (1-s) x XNNPACK conv time / delegate time; 1.0 = on par per useful MAC)")
    p.add_argument("--profile", action="store_true",
                   help="also report each delegated step's (claim=chains: chain's) wall time inside the "
                   "model, over the warm-up and timed runs (the delegate's profile option; in --json: \"profile\")")
    p.add_argument("--claim", choices=("graph", "chains"), default="graph",
                   help="what the delegate claims: every node it can compute (default), or only the "
                   "masked chains")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from actsparse.bench import cpu_busy_fraction, run_bench

    if not args.model.is_file():
        print(f"error: {args.model}: no such file", file=sys.stderr)
        return 1
    if args.require_idle:
        busy = cpu_busy_fraction(1.0)
        if busy > 0.15:
            print(f"error: the CPU is {busy:.0%} busy with other work; not measuring", file=sys.stderr)
            return 3
    if args.reference is not None and not args.reference.is_file():
        print(f"error: {args.reference}: no such file", file=sys.stderr)
        return 1
    # The runtimes' message for a corrupt file does not name it.
    from actsparse.tflite.model_file import TfliteFileError, load_model

    for path in (args.model, args.reference):
        try:
            if path is not None:
                load_model(path)
        except TfliteFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    # A speedup is only meaningful when the delegate runs the model: say
    # why not instead of timing it.
    import actsparse

    try:
        report = actsparse.Interpreter(args.model, num_threads=args.num_threads, claim=args.claim,
                                       log_level="error").delegate_report
    except ValueError as exc:
        print(f"error: {args.model}: {exc}", file=sys.stderr)
        return 1
    problem = None
    if report.metadata_error:
        problem = (f"the delegate rejected its mask metadata ({report.metadata_error}), so nothing would run "
                   "sparse; convert the model again (actsparse convert)")
    elif report.claimed_nodes == 0:
        problem = "the delegate claimed no node" + (f" ({'; '.join(report.refusals[:3])})" if report.refusals else "")
    if problem:
        print(f"error: {args.model}: {problem}; no speedup reported", file=sys.stderr)
        return 1
    try:
        result = run_bench(args.model, num_threads=args.num_threads, num_runs=args.num_runs,
                           warmup_runs=args.warmup_runs, reference=args.reference, profile=args.profile,
                           delegate_options={"claim": args.claim})
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    layers = _per_layer(args) if args.per_layer else None
    if args.json:
        obj = result.to_json()
        if layers is not None:
            obj["layers"] = [layer.to_json() for layer in layers]
        print(json.dumps(obj, indent=2))
    else:
        print(f"{result.model}: {result.claimed_nodes}/{result.total_nodes} nodes delegated in "
              f"{result.partitions} partition(s), {result.claimed_chains}/{result.listed_chains} masked chains "
              f"sparse (conv micro-kernel {result.conv_kernel}), {result.num_threads} thread(s), "
              f"{result.num_runs} interleaved runs")
        print(f"  dense XNNPACK  median {result.dense_ms:8.2f} ms  (p10 {result.dense_p10_ms:.2f}, p90 {result.dense_p90_ms:.2f})")
        print(f"  with delegate  median {result.delegate_ms:8.2f} ms  (p10 {result.delegate_p10_ms:.2f}, p90 {result.delegate_p90_ms:.2f})")
        if result.reference_ms is not None:
            print(f"  reference      median {result.reference_ms:8.2f} ms  ({result.reference} on XNNPACK)")
        print(f"  speedup {result.speedup:.3f}x; outputs agree to {result.max_relative_error:.2g} of the output scale")
        if result.speedup_vs_reference is not None:
            print(f"  speedup vs reference {result.speedup_vs_reference:.3f}x")
        if result.load is not None:
            _print_load(result.load, "reference" if result.reference_ms is not None else "dense XNNPACK")
        if result.cpu_busy:
            print(f"  WARNING: other processes used {result.cpu_busy_fraction:.0%} of the CPU before the run; "
                  "these figures are not trustworthy")
        if layers is not None:
            _print_layers(layers)
        if result.profile is not None:
            _print_profile(result.profile, result.delegate_ms, "step" if args.claim == "graph" else "chain")
    # The delegate promises 1e-5 of the output scale (docs/ARCHITECTURE.md, Numerics).
    return 0 if result.max_relative_error <= 1e-5 else 1


def _print_load(load: dict, dense_label: str) -> None:
    print(f"  as outside load changes ({load['pairs']} pairs grouped by the {dense_label} time):")
    for k, q in enumerate(load["quartiles"]):
        lo, hi = q["dense_ms"]
        print(f"    quartile {k + 1}: {dense_label} {lo:7.2f}-{hi:7.2f} ms, delegate {q['delegate_ms']:7.2f} ms, "
              f"pair ratio {q['pair_ratio']:.3f}")
    print(f"    slowest over fastest quartile {load['slow_over_fast']:.3f}; correlation of {dense_label} time "
          f"and pair ratio {load['correlation']:+.2f} (near 0: robust to load)")


def _print_profile(rows: list[dict], model_ms: float, unit: str) -> None:
    width = max([len(f"all {unit}s")] + [len(row["name"]) for row in rows])
    print(f"  per {unit}, inside the model (ms per call; first call not counted):")
    print(f"    {unit:<{width}}  {'output':<12} {'sparsity':>8} {'calls':>6} {'mean':>8} {'best':>8} {'share':>6}")
    for row in rows:
        print(f"    {row['name']:<{width}}  {row['output']:<12} {row['sparsity']:8.3f} {row['calls']:6d} "
              f"{row['mean_ms']:8.3f} {row['best_ms']:8.3f} {row['share']:6.1%}")
    chains_ms = sum(r["mean_ms"] for r in rows)
    print(f"    {'all ' + unit + 's':<{width}}  {'':<12} {'':>8} {'':>6} {chains_ms:8.3f}")
    # Means against the model's median: a rough split, but it shows where
    # the rest of an inference goes.
    print(f"  the rest of an inference (the runtime's own ops, switching between them and the delegate): "
          f"~{max(model_ms - chains_ms, 0.0):.3f} ms of {model_ms:.3f}")


def _per_layer(args: argparse.Namespace) -> list:
    from tqdm import tqdm

    from actsparse.bench.layers import run_layer_bench
    from actsparse.inspect import inspect_model

    count = len(inspect_model(args.model).layers)
    with tqdm(total=count, desc="per-layer", unit="chain", file=sys.stderr, disable=None) as bar:
        def progress(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(1)
        return run_layer_bench(args.model, num_threads=args.num_threads,
                               num_runs=max(5, args.num_runs // 2), progress=progress)


def _print_layers(layers: list) -> None:
    print("  per chain, alone (ms per invoke, medians): XNNPACK conv | XNNPACK chain | delegate | efficiency")
    width = max(len(layer.name) for layer in layers)
    for layer in layers:
        shape = "x".join(str(d) for d in layer.output_shape[1:])
        flag = "" if layer.delegated else "  (NOT delegated)"
        print(f"    {layer.name:<{width}}  {shape:>12}  s={layer.sparsity:.2f}  {layer.xnnpack_conv_ms:7.3f}"
              f"  {layer.xnnpack_chain_ms:7.3f}  {layer.delegate_ms:7.3f}  {layer.efficiency:5.2f}{flag}")
    total_dense = sum(layer.xnnpack_conv_ms for layer in layers)
    total_sparse = sum(layer.delegate_ms for layer in layers)
    useful = sum(layer.xnnpack_conv_ms * (1 - layer.sparsity) for layer in layers)
    print(f"    all chains: XNNPACK conv {total_dense:.2f} ms, delegate {total_sparse:.2f} ms, "
          f"efficiency {useful / total_sparse:.2f}")
