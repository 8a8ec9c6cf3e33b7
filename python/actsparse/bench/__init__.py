"""Timing a model with the delegate against dense XNNPACK, in one process
(this module: whole models and load sensitivity; ``actsparse.bench.layers``:
each masked chain alone).

Both interpreters live side by side; runs are interleaved (none right after
itself, see :func:`interleaved_order`) so drift on a shared machine hits
both alike; medians and spread
are reported as ratios' inputs. The CPU's load from other processes is
measured first, because a busy machine makes any figure meaningless.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class BenchResult:
    model: str
    num_threads: int
    num_runs: int
    warmup_runs: int
    dense_ms: float
    delegate_ms: float
    speedup: float
    dense_p10_ms: float
    dense_p90_ms: float
    delegate_p10_ms: float
    delegate_p90_ms: float
    claimed_chains: int
    listed_chains: int
    conv_kernel: str
    max_relative_error: float
    cpu_busy_fraction: float   # other processes' CPU use before the run, 0..1 of all cores
    cpu_busy: bool
    # With a reference model (the same network converted without masks), timed
    # in the same interleaving: the speedup a user gets by switching models.
    reference: str | None = None
    reference_ms: float | None = None
    speedup_vs_reference: float | None = None
    # With profile=True: each chain's wall time inside the model over the
    # warm-up and timed runs (see actsparse.runtime.parse_profile_report).
    profile: list[dict] | None = None
    # What the delegate ran: nodes of all, and how many partitions they made
    # (1: the network ran whole in the delegate); the options it was given.
    claimed_nodes: int = 0
    total_nodes: int = 0
    partitions: int = 0
    delegate_options: dict | None = None
    # The run's interleaved pairs grouped by how slow the plain dense network
    # was (see load_sensitivity): how the speedup holds as outside load changes.
    load: dict | None = None

    def to_json(self) -> dict:
        return asdict(self)


def cpu_busy_fraction(seconds: float = 0.5) -> float:
    """Fraction of all cores busy over ``seconds`` (from /proc/stat; 0 if unavailable)."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values), idle
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    total = total1 - total0
    return 0.0 if total <= 0 else 1.0 - (idle1 - idle0) / total


def interleaved_order(count: int, runs: int) -> list[int]:
    """The order in which :func:`interleaved_times` invokes ``count``
    interpreters ``runs`` times each: rounds alternate between
    ``0, 1, ..., count-1`` and ``0, count-1, ..., 1``.

    No interpreter runs twice in a row (for ``count >= 2``), and every one
    follows each of the others alike (exactly, for ``count <= 3``). A run
    right after its own previous run finds its weights and buffers warm in
    the caches, 5-7% faster on MobileNetV2 at 2 threads; an order that lets
    some interpreters follow themselves and not others (forward then
    reversed rounds: ``0 1 2 2 1 0``) favours those. Which goes second and
    last alternates too, so drift within a round hits them alike.
    """
    forward = list(range(count))
    backward = forward[:1] + forward[1:][::-1]
    return [i for run in range(runs) for i in (forward if run % 2 == 0 else backward)]


def interleaved_times(interpreters: list[Any], runs: int) -> list[list[float]]:
    """Milliseconds of ``runs`` invocations of each interpreter, interleaved
    in :func:`interleaved_order`, so that drift and outside load hit all of
    them alike and none runs right after itself."""
    times: list[list[float]] = [[] for _ in interpreters]
    for i in interleaved_order(len(interpreters), runs):
        start = time.perf_counter()
        interpreters[i].invoke()
        times[i].append((time.perf_counter() - start) * 1e3)
    return times


def load_sensitivity(dense_ms: list[float], delegate_ms: list[float]) -> dict:
    """How a speedup holds as the host's outside load changes.

    ``dense_ms[i]`` and ``delegate_ms[i]`` are one interleaved pair (the dense
    network on XNNPACK and the delegate's model). Outside load shows in the
    dense run's time, not in /proc/stat, so the pairs are grouped into
    quartiles of the dense time; a load-robust runtime keeps the same pair
    ratio (dense / delegate) in every quartile.

    Returns ``{"pairs", "quartiles": [{"dense_ms": [lo, hi], "delegate_ms"
    (median), "pair_ratio" (median)}, ...], "correlation"}`` (Pearson, dense
    time against pair ratio; near 0 = robust), and ``"slow_over_fast"``: the
    slowest quartile's pair ratio over the fastest's (1.0 = no loss under load).
    """
    dense = np.asarray(dense_ms, dtype=float)
    sparse = np.asarray(delegate_ms, dtype=float)
    if dense.shape != sparse.shape or dense.size < 8:
        raise ValueError(f"need at least 8 pairs of equal length, got {dense.size} and {sparse.size}")
    ratio = dense / sparse
    edges = np.quantile(dense, [0.0, 0.25, 0.5, 0.75, 1.0])
    quartiles = []
    for k in range(4):
        chosen = (dense >= edges[k]) & (dense <= edges[k + 1])
        quartiles.append({"dense_ms": [round(float(edges[k]), 3), round(float(edges[k + 1]), 3)],
                          "delegate_ms": round(float(np.median(sparse[chosen])), 3),
                          "pair_ratio": round(float(np.median(ratio[chosen])), 4)})
    correlation = float(np.corrcoef(dense, ratio)[0, 1]) if dense.std() > 0 and ratio.std() > 0 else 0.0
    return {"pairs": int(dense.size), "quartiles": quartiles, "correlation": round(correlation, 3),
            "slow_over_fast": round(quartiles[3]["pair_ratio"] / quartiles[0]["pair_ratio"], 4)}


def xnnpack_load_control(network: str | Path, smaller: str | Path, *, num_threads: int = 1, num_runs: int = 120,
                         warmup_runs: int = 5, seed: int = 0) -> dict:
    """How a speedup that comes from doing less work on the same engine holds
    under outside load: the control for :func:`load_sensitivity`'s rows.

    ``network`` and ``smaller`` are two .tflite files, both run on XNNPACK
    alone (no delegate), interleaved in one process: normally the network
    converted without masks and the same network at a smaller input (fewer
    pixels per conv with the same weights, as masking gives). Their pairs go
    through :func:`load_sensitivity` with ``network`` as the dense run.

    Returns ``{"network_ms", "smaller_ms"}`` (medians, ms), ``"speedup"``
    (network / smaller) and ``"load"``. A pair ratio that holds here and not
    in a sparse row under the same load is the delegate's engine losing more
    than XNNPACK's, not a cost of doing less work.
    """
    import actsparse

    if num_runs < 8:
        raise ValueError(f"num_runs: need at least 8 pairs for the load quartiles, got {num_runs}")
    interpreters = [actsparse.Interpreter(path, num_threads=num_threads, use_delegate=False)
                    for path in (network, smaller)]
    for interpreter in interpreters:
        set_random_inputs(interpreter, seed)
    for _ in range(warmup_runs):
        for interpreter in interpreters:
            interpreter.invoke()
    network_times, smaller_times = interleaved_times(interpreters, num_runs)
    network_ms, smaller_ms = statistics.median(network_times), statistics.median(smaller_times)
    return {"network_ms": round(network_ms, 3), "smaller_ms": round(smaller_ms, 3),
            "speedup": round(network_ms / smaller_ms, 4), "load": load_sensitivity(network_times, smaller_times)}


def set_random_inputs(interpreter: Any, seed: int) -> None:
    """Allocate ``interpreter`` and fill every input with standard-normal float32
    drawn from ``seed`` (the same seed gives the same inputs in every interpreter)."""
    interpreter.allocate_tensors()
    rng = np.random.default_rng(seed)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], rng.standard_normal(detail["shape"]).astype(np.float32))


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run_bench(model: str | Path, *, num_threads: int = 1, num_runs: int = 30, warmup_runs: int = 5,
              busy_threshold: float = 0.15, seed: int = 0,
              reference: str | Path | None = None, profile: bool = False,
              delegate_options: dict | None = None) -> BenchResult:
    """Benchmark ``model`` (an annotated .tflite) as described in the module docstring.

    ``dense`` is ``model`` itself on XNNPACK (its masked convs as CONV_2D ->
    MUL -> ADD). ``reference``, if given, is another .tflite with the same
    inputs -- normally the network converted without masks -- timed on
    XNNPACK in the same interleaving. ``profile`` turns on the delegate's
    ``profile`` option: each chain's wall time inside the model, over the
    warm-up and timed runs, comes back in ``BenchResult.profile``.
    ``delegate_options`` go to the delegate (e.g. ``{"claim": "chains"}``).
    ``BenchResult.load`` groups the timed pairs by the plain dense network's
    time (the reference when given, else ``model`` on XNNPACK), see
    :func:`load_sensitivity`.
    """
    import actsparse

    busy = cpu_busy_fraction()
    dense = actsparse.Interpreter(model, num_threads=num_threads, use_delegate=False)
    options = dict(delegate_options or {})
    if profile:
        options["profile"] = True
    sparse = actsparse.Interpreter(model, num_threads=num_threads, **options)
    plain = None
    if reference is not None:
        plain = actsparse.Interpreter(reference, num_threads=num_threads, use_delegate=False)
        if [tuple(d["shape"]) for d in plain.get_input_details()] != \
                [tuple(d["shape"]) for d in dense.get_input_details()]:
            raise ValueError(f"{reference}: its inputs differ from {model}'s; a reference must be the same network")
    outputs = []
    timed = [dense, sparse] + ([plain] if plain is not None else [])
    for interpreter in timed:
        set_random_inputs(interpreter, seed)
    for interpreter in (dense, sparse):
        interpreter.invoke()
        outputs.append([interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()])
    # Every output, each against its own scale (a detector's boxes and scores differ by orders).
    error = max(float(np.abs(a - b).max()) / max(float(np.abs(a).max()), 1e-12)
                for a, b in zip(outputs[0], outputs[1]))
    for _ in range(warmup_runs):
        for interpreter in timed:
            interpreter.invoke()
    all_times = interleaved_times(timed, num_runs)
    dense_times, delegate_times = all_times[0], all_times[1]
    times = {"dense": dense_times, "delegate": delegate_times}
    dense_ms, delegate_ms = statistics.median(times["dense"]), statistics.median(times["delegate"])
    report = sparse.delegate_report
    chain_times = None
    if profile:  # the delegate prints its table when it is deleted: catch it
        from actsparse.fd_capture import capture_fd2
        from actsparse.runtime import parse_profile_report

        holder = [sparse]
        del sparse, timed, interpreter  # `interpreter`: the loops above leave it bound to one of them

        def release() -> None:
            holder.clear()
            gc.collect()

        _, text = capture_fd2(release)
        chain_times = parse_profile_report(text)
        other = [line for line in text.splitlines(keepends=True)
                 if not line.startswith(("actsparse profile:", "  "))]
        if other:  # anything else the runtime said meanwhile
            sys.stderr.write("".join(other))
    return BenchResult(
        model=str(model), num_threads=num_threads, num_runs=num_runs, warmup_runs=warmup_runs,
        dense_ms=round(dense_ms, 3), delegate_ms=round(delegate_ms, 3),
        speedup=round(dense_ms / delegate_ms, 4),
        dense_p10_ms=round(_percentile(times["dense"], 10), 3),
        dense_p90_ms=round(_percentile(times["dense"], 90), 3),
        delegate_p10_ms=round(_percentile(times["delegate"], 10), 3),
        delegate_p90_ms=round(_percentile(times["delegate"], 90), 3),
        claimed_chains=report.claimed_chains, listed_chains=report.listed_chains,
        conv_kernel=report.kernel, max_relative_error=error,
        cpu_busy_fraction=round(busy, 3), cpu_busy=busy > busy_threshold,
        reference=str(reference) if reference is not None else None,
        reference_ms=round(statistics.median(all_times[2]), 3) if plain is not None else None,
        speedup_vs_reference=round(statistics.median(all_times[2]) / delegate_ms, 4) if plain is not None else None,
        profile=chain_times,
        claimed_nodes=report.claimed_nodes, total_nodes=report.total_nodes, partitions=report.partitions,
        delegate_options=dict(delegate_options) if delegate_options else None,
        load=load_sensitivity(all_times[2] if plain is not None else dense_times, delegate_times)
        if num_runs >= 8 else None)
