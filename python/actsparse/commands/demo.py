"""``actsparse demo``: the main job end to end on a built-in default.

Sparse ResNet-18 (random weights, random frozen masks) -> .tflite with
``actsparse.masks`` metadata -> LiteRT with and without the delegate,
checked against PyTorch, with interleaved median latencies.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from actsparse.commands import thread_count

_EXAMPLE = """\
examples:
  actsparse demo                                   # ResNet-18, sparsity 0.3, 1 thread
  actsparse demo --model mobilenet_v2 --sparsity 0.2 --num-threads 2
  actsparse demo --out demo/ --json                # keep model files, machine-readable report
"""

MODELS = {"resnet18": True, "mobilenet_v2": False}  # name -> skip 1x1 convs (the paper's setting)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="sparse ResNet-18 -> .tflite -> LiteRT with and without the delegate",
        description="Build a model with random weights and random frozen activation masks, "
        "convert it with the actsparse converter, then run it in ai-edge-litert with default "
        "XNNPACK and with the actsparse delegate applied; check both against PyTorch and report "
        "interleaved median latencies.",
        epilog=_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(MODELS), default="resnet18")
    p.add_argument("--sparsity", type=float, default=0.3, help="fraction of masked pixels (default 0.3)")
    p.add_argument("--input-size", type=int, default=224, help="input height = width (default 224)")
    p.add_argument("--num-threads", type=thread_count, default=1, help="interpreter threads (default 1)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per variant (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="directory for model.pt and model.tflite (default: temporary)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    import numpy as np
    import torch

    import actsparse
    from actsparse.bench import interleaved_times
    from actsparse.converter import ConversionError
    from actsparse.converter.convert import convert_file
    from actsparse.inspect import inspect_model
    from actsparse.torch import attach_masks
    from actsparse.torch import models as zoo

    tmp = None
    out_dir = args.out
    if out_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="actsparse-demo-")
        out_dir = Path(tmp.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    shape = (1, 3, args.input_size, args.input_size)

    say(f"building {args.model} with random weights and masks at sparsity {args.sparsity}")
    torch.manual_seed(args.seed)
    model = zoo.randomize_batchnorm(getattr(zoo, args.model)(), seed=args.seed).eval()
    attach_masks(model, torch.zeros(shape), args.sparsity, seed=args.seed, skip_1x1=MODELS[args.model])
    torch.save(model, out_dir / "model.pt")
    try:
        conversion = convert_file(out_dir / "model.pt", out_dir / "model.tflite", verify_samples=1,
                                  progress=say)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary = inspect_model(out_dir / "model.tflite")

    x = np.random.default_rng(args.seed).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    scale = float(np.abs(reference).max()) or 1.0
    path = str(out_dir / "model.tflite")
    say("running in ai-edge-litert: dense XNNPACK, and with the actsparse delegate")
    dense = actsparse.Interpreter(path, num_threads=args.num_threads, use_delegate=False)
    delegated = actsparse.Interpreter(path, num_threads=args.num_threads, verbose=not args.json)
    errors = []
    for interpreter in (dense, delegated):
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        errors.append(float(np.abs(got - reference).max()))
    for interpreter in (dense, delegated):  # warm-up
        interpreter.invoke()
    dense_ms, delegate_ms = (statistics.median(t) for t in interleaved_times([dense, delegated], args.runs))

    report = {
        "model": args.model, "sparsity": args.sparsity, "input_shape": list(shape),
        "tflite": path if args.out else "(temporary)",
        "masked_layers": len(summary.layers), "ideal_speedup": round(summary.ideal_speedup, 4),
        "claimed_chains": delegated.claimed_chains,
        "claimed_nodes": delegated.delegate_report.claimed_nodes,
        "total_nodes": delegated.delegate_report.total_nodes,
        "partitions": delegated.delegate_report.partitions,
        "conv_kernel": delegated.delegate_report.kernel,
        "dense_max_abs_error": errors[0], "delegate_max_abs_error": errors[1],
        "relative_error": max(errors) / scale,
        "outputs_match": max(errors) <= 1e-4 * scale,
        "num_threads": args.num_threads, "runs": args.runs,
        "dense_ms": round(dense_ms, 3), "delegate_ms": round(delegate_ms, 3),
        "speedup": round(dense_ms / delegate_ms, 3),
        "conversion_seconds": conversion.seconds,
    }
    if tmp is not None:
        tmp.cleanup()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.model}, sparsity {args.sparsity}: {report['masked_layers']} masked conv chains, "
              f"ideal speedup from MACs {report['ideal_speedup']:.3f}x")
        print(f"vs. PyTorch: max abs error {errors[0]:.3g} (XNNPACK), {errors[1]:.3g} (with delegate); "
              f"{'outputs match' if report['outputs_match'] else 'MISMATCH'} "
              f"(relative {report['relative_error']:.2g}, tolerance 1e-4)")
        print(f"median latency, {args.num_threads} thread(s), {args.runs} interleaved runs: "
              f"dense XNNPACK {dense_ms:.2f} ms, with actsparse delegate {delegate_ms:.2f} ms "
              f"({report['speedup']:.2f}x)")
        print(f"the delegate ran {report['claimed_nodes']} of {report['total_nodes']} nodes in "
              f"{report['partitions']} partition(s), {report['claimed_chains']} of {report['masked_layers']} "
              f"masked chains with sparse row skipping (kernels: {report['conv_kernel']}). Timings on a "
              "shared machine mislead: use the benchmark (benchmarks/paper_table.py) for speed claims.")
    return 0 if report["outputs_match"] else 1
