"""Per-chain timing: each delegated chain against the same conv on XNNPACK.

Every masked chain of a model is cut out with its real weights, options and
mask (:mod:`actsparse.tflite.extract`) into three one-layer models, timed in
one process, interleaved, medians:

- ``delegate``: the chain run by the actsparse delegate;
- ``xnnpack_chain``: the same chain (CONV_2D -> MUL -> ADD) on dense XNNPACK;
- ``xnnpack_conv``: the bare convolution (with its PAD, if any) on XNNPACK,
  the cost a dense model pays for this layer.

``efficiency = (1 - s) * xnnpack_conv / delegate`` compares the delegate with
XNNPACK per *useful* MAC: 1.0 means the sparse conv does its remaining work
as fast as XNNPACK does dense work; issue #5 asks for >= 1/1.05.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from actsparse.bench import interleaved_times, set_random_inputs

# Each timed sample repeats invoke() until it lasts about this long, so the
# Python call overhead stays small against sub-millisecond layers.
_SAMPLE_MS = 2.0


@dataclass
class LayerBench:
    name: str
    op: str                      # CONV_2D or DEPTHWISE_CONV_2D
    output_shape: list[int]      # NHWC
    kernel: list[int]            # [KH, KW]
    sparsity: float              # masked fraction of output pixels
    macs: int                    # dense MACs of the conv
    xnnpack_conv_ms: float       # median per invoke
    xnnpack_chain_ms: float
    delegate_ms: float
    delegated: bool              # the delegate claimed the chain
    efficiency: float            # (1 - s) * xnnpack_conv_ms / delegate_ms

    def to_json(self) -> dict:
        return asdict(self)


class _Repeated:
    """An interpreter whose invoke() runs the model ``repeats`` times."""

    def __init__(self, interpreter: Any, repeats: int) -> None:
        self.interpreter, self.repeats = interpreter, repeats

    def invoke(self) -> None:
        for _ in range(self.repeats):
            self.interpreter.invoke()


def _prepared(model: bytes, num_threads: int, use_delegate: bool, seed: int) -> Any:
    import actsparse

    interpreter = actsparse.Interpreter(model_content=model, num_threads=num_threads,
                                        use_delegate=use_delegate)
    set_random_inputs(interpreter, seed)
    return interpreter


def run_layer_bench(model: str | Path, *, num_threads: int = 1, num_runs: int = 15,
                    warmup_runs: int = 2, seed: int = 0,
                    progress: Callable[[str], None] | None = None) -> list[LayerBench]:
    """Time every masked chain of ``model`` (see the module docstring).

    Raises:
        actsparse.inspect.InspectError: the model or its annotation is unreadable
            or does not match the graph.
    """
    from actsparse.tflite import model_file
    from actsparse.inspect import inspect_model
    from actsparse.tflite.extract import extract_ops

    report = inspect_model(model)
    graph = model_file.load_model(model)
    results = []
    for layer_report in report.layers:
        layer = layer_report.layer
        if progress is not None:
            progress(layer.name)
        conv_ops = ([layer.pad_op] if layer.pad_op >= 0 else []) + [layer.conv_op]
        chain_ops = conv_ops + [layer.mul_op] + ([layer.add_op] if layer.add_op >= 0 else [])
        chain = extract_ops(graph, layer.subgraph, chain_ops, layer)
        bare = extract_ops(graph, layer.subgraph, conv_ops)
        interpreters = [_prepared(chain, num_threads, True, seed),
                        _prepared(chain, num_threads, False, seed),
                        _prepared(bare, num_threads, False, seed)]
        delegated = interpreters[0].delegate_report.claimed_chains == 1
        for interpreter in interpreters:
            for _ in range(warmup_runs):
                interpreter.invoke()
        start = time.perf_counter()
        interpreters[2].invoke()
        one_ms = (time.perf_counter() - start) * 1e3
        repeats = max(1, int(_SAMPLE_MS / max(one_ms, 1e-3)))
        times = interleaved_times([_Repeated(i, repeats) for i in interpreters], num_runs)
        delegate_ms, chain_ms, conv_ms = (statistics.median(t) / repeats for t in times)
        s = layer.sparsity
        results.append(LayerBench(
            name=layer.name, op=layer_report.op_name,
            output_shape=[int(d) for d in layer_report.output_shape],
            kernel=[int(k) for k in layer_report.kernel], sparsity=round(s, 6),
            macs=layer_report.macs, xnnpack_conv_ms=round(conv_ms, 4),
            xnnpack_chain_ms=round(chain_ms, 4), delegate_ms=round(delegate_ms, 4),
            delegated=delegated, efficiency=round((1 - s) * conv_ms / delegate_ms, 4)))
    return results
