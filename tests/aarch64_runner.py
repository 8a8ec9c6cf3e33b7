"""Runs inside the aarch64 CPython of .aarch64-runtime, under qemu-aarch64
(tests/test_aarch64_runtime.py starts it; it imports numpy, ai-edge-litert
and actsparse only, never torch).

Usage: python3.11 aarch64_runner.py FOLDER

For every FOLDER/NAME.tflite with its inputs FOLDER/NAME.in<NN>.npy (in the
order of the model's inputs), runs the model in aarch64 ai-edge-litert
without the delegate (the runtime's own XNNPACK) and with
``actsparse.Interpreter`` at 1 and 2 threads (the library found the way a
user's would be: ``actsparse/_lib/aarch64/``). Writes FOLDER/NAME.out.npz
(``plain.<k>``, ``t1.<k>``, ``t2.<k>`` for output k), prints one progress
line per model to stderr and, last, one JSON line to stdout: the machine,
the library and each model's delegate reports.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

import actsparse
from model_runs import run_with_inputs  # this script's folder is on sys.path


def main(folder: Path) -> None:
    result = {"machine": platform.machine(), "library": str(actsparse.delegate_library_path()), "models": {}}
    for model in sorted(folder.glob("*.tflite")):
        start = time.time()
        inputs = [np.load(p) for p in sorted(folder.glob(model.stem + ".in*.npy"))]
        arrays = {}
        outputs, _ = run_with_inputs(model, inputs, use_delegate=False)
        arrays.update({f"plain.{k}": out for k, out in enumerate(outputs)})
        entry = {}
        for threads in (1, 2):
            outputs, report = run_with_inputs(model, inputs, num_threads=threads)
            arrays.update({f"t{threads}.{k}": out for k, out in enumerate(outputs)})
            entry[f"t{threads}"] = {
                "claimed_nodes": report.claimed_nodes, "total_nodes": report.total_nodes,
                "partitions": report.partitions, "claimed_chains": report.claimed_chains,
                "listed_chains": report.listed_chains, "kernel": report.kernel, "refusals": report.refusals,
            }
        np.savez(folder / f"{model.stem}.out.npz", **arrays)
        result["models"][model.stem] = entry
        print(f"aarch64: {model.stem} {time.time() - start:.1f} s", file=sys.stderr, flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
