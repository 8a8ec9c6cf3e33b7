"""The benchmark scripts run: paper_table.py rewrites its report from saved
results (targets computed from the rows), accuracy.py and detection.py train and report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _result(speedup: float, reference: float | None, load: float | None = None) -> dict:
    result = {"speedup": speedup, "speedup_vs_reference": reference, "cpu_busy": False, "dense_ms": 40.0,
              "reference_ms": 41.0 if reference else None, "claimed_chains": 17, "listed_chains": 17,
              "claimed_nodes": 72, "total_nodes": 72, "partitions": 1, "conv_kernel": "avx512"}
    if load is not None:
        result["load"] = {"pairs": 120, "correlation": -0.1, "slow_over_fast": load,
                          "quartiles": [{"dense_ms": [40.0 + 2 * k, 42.0 + 2 * k], "delegate_ms": 30.0,
                                         "pair_ratio": 1.4 * (1 - k * (1 - load) / 3)} for k in range(4)]}
    return result


def test_paper_table_from_json(repo, tmp_path):
    rows = [{"model": "resnet18", "variant": "dense", "sparsity": 0.0, "ideal": 1.0, "paper": None,
             "t1": _result(1.03, None)},
            {"model": "resnet18", "variant": "skip1x1", "sparsity": 0.1, "ideal": 1.11, "paper": 1.11,
             "t1": _result(1.2, 1.12), "chains_t1": _result(1.1, 1.02)},
            {"model": "resnet18", "variant": "skip1x1", "sparsity": 0.3, "ideal": 1.43, "paper": 1.42,
             "t1": _result(1.5, 1.30, load=0.90)},
            {"model": "mobilenet_v2", "variant": "dense", "sparsity": 0.0, "ideal": 1.0, "paper": None,
             "t1": _result(1.02, None)}]
    rows[0]["t1"]["load"] = _result(1.0, None, load=0.93)["load"]  # the engine alone
    control = {"model": "resnet18", "size": 192, "for": ["skip1x1", 0.3],
               "t1": {"network_ms": 40.0, "smaller_ms": 29.0, "speedup": 1.3793,
                      "load": _result(1.0, None, load=1.01)["load"]}}
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"date": "2026-01-01", "runs": 7, "load_runs": 120, "threads": [1], "rows": rows,
                                 "machine": {"cpu": "Test CPU"}, "load_controls": [control]}))
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "paper_table.py"), "--from-json", str(saved),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "paper_table.md").read_text()
    assert "on 2026-01-01, Test CPU (kernels: avx512)" in table and "7 interleaved runs" in table
    assert "| resnet18 dense through the delegate >= 1.00x | 1.03x | met |" in table
    assert "| mobilenet_v2 dense through the delegate >= 1.05x | 1.02x | **not met** |" in table
    assert "| resnet18 (1x1 skipped) s=0.1 >= 1.11x | 1.12x | met |" in table   # vs the dense model
    assert "| resnet18 (1x1 skipped) s=0.3 >= 1.42x | 1.30x | **not met** |" in table
    assert "slowest-quartile pair ratio >= 95% of the fastest's | 90% | **not met** |" in table
    assert "| resnet18 (1x1 skipped) s=0.3 | 1 | 120 | 40.0-42.0 | 1.400 |" in table
    load_table = table[table.index("## Robustness to outside load"):]
    engine = "| resnet18 dense through the delegate (the engine alone) | 1 | 120 | 40.0-42.0 | 1.400 |"
    control_line = "| resnet18 dense at 192x192 on XNNPACK (1.38x less time: the control) | 1 | 120 |"
    assert engine in load_table and "| 93.0% |" in load_table
    assert control_line in load_table and "| 101.0% |" in load_table
    # Diagnostics sit below their target row and carry no verdict.
    assert load_table.index("s=0.3 | 1 |") < load_table.index(engine) < load_table.index(control_line)
    assert table.count("slowest-quartile pair ratio >=") == 1
    assert "| resnet18 | all but 1x1 | 0.1 | 1.11x | 1.11x | **1.12x** | 101% | 1.20x | 1.02x | 41.0 | 72/72 in 1 |" \
        in table
    assert "| resnet18 | none | 0.0 | 1.00x | - | **1.03x** | 103% | - | - | 40.0 |" in table
    assert (tmp_path / "speedup.png").read_bytes()[:4] == b"\x89PNG"


def _paper_table_module(repo):
    import importlib.util
    spec = importlib.util.spec_from_file_location("paper_table", repo / "benchmarks" / "paper_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_measured_while_the_host_was_loaded_are_found_by_their_dense_time(repo):
    paper_table = _paper_table_module(repo)

    def row(model, t1_plain, t2_plain, sparsity=0.1):
        result = lambda plain: {"dense_ms": plain * 1.2, "reference_ms": plain}  # noqa: E731
        return {"model": model, "sparsity": sparsity, "t1": result(t1_plain), "t2": result(t2_plain)}

    rows = [row("resnet18", 39.0, 20.0), row("resnet18", 40.5, 20.4), row("resnet18", 72.3, 20.1),
            row("resnet18", 39.2, 24.0), row("mobilenet_v2", 8.4, 4.5), row("mobilenet_v2", 8.9, 4.6)]
    # Sparsity 0 has no reference: the model itself is the dense network.
    rows.append({"model": "mobilenet_v2", "sparsity": 0.0, "t1": {"dense_ms": 9.5, "reference_ms": None},
                 "t2": {"dense_ms": 4.6, "reference_ms": None}})
    assert paper_table.host_loaded(rows, [1, 2], 0.10) == [(2, 1), (3, 2), (6, 1)]
    assert paper_table.host_loaded(rows, [1, 2], 0.25) == [(2, 1)]
    assert paper_table.host_loaded(rows[:2], [1, 2], 0.10) == []
    # A dense time as quiet as any, but delegate runs of 2 and 5 ms: a stalled thread.
    rows[1]["t2"].update(delegate_p10_ms=2.0, delegate_p90_ms=5.4)
    rows[0]["t2"].update(delegate_p10_ms=2.0, delegate_p90_ms=2.4)
    assert paper_table.host_loaded(rows[:2], [1, 2], 0.10) == [(1, 2)]


def test_a_steady_measurement_is_kept_before_a_faster_dense_one(repo):
    paper_table = _paper_table_module(repo)
    steady = {"reference_ms": 2.1, "delegate_p10_ms": 1.8, "delegate_p90_ms": 2.1}
    burst = {"reference_ms": 2.0, "delegate_p10_ms": 1.8, "delegate_p90_ms": 5.3}
    quieter = dict(steady, reference_ms=2.0)
    assert paper_table.unsteady(burst) and not paper_table.unsteady(steady)
    assert paper_table.quality(steady) < paper_table.quality(burst)
    assert paper_table.quality(quieter) < paper_table.quality(steady)


def test_paper_table_marks_loaded_rows(repo, tmp_path):
    loaded = dict(_result(1.1, 1.05), host_loaded=True)
    rows = [{"model": "resnet18", "variant": "skip1x1", "sparsity": 0.1, "ideal": 1.11, "paper": 1.11,
             "t1": loaded}]
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"date": "2026-01-01", "runs": 7, "threads": [1], "retries": 3,
                                 "noise_tolerance": 0.2, "rows": rows}))
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "paper_table.py"), "--from-json", str(saved),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "paper_table.md").read_text()
    assert "| **1.05x**† | 95% | 1.10x† |" in table
    assert "more than 20% slower" in table and "at most 3 more times" in table and "marked †" in table


def test_paper_table_reports_the_co_runner_rows_beside_the_quiet_ones(repo, tmp_path):
    rows = [{"model": "mobilenet_v2", "variant": "dense", "sparsity": 0.0, "ideal": 1.0, "paper": None,
             "t1": _result(1.02, None), "t2": _result(1.04, None)},
            {"model": "mobilenet_v2", "variant": "all", "sparsity": 0.3, "ideal": 1.4, "paper": 1.2,
             "t1": _result(1.3, 1.29), "t2": _result(1.25, 1.21)}]
    co_rows = [{"model": "mobilenet_v2", "variant": "dense", "sparsity": 0.0, "threads": 2, "cpu": 1,
                "result": dict(_result(1.13, None), dense_ms=9.7)},
               {"model": "mobilenet_v2", "variant": "all", "sparsity": 0.3, "threads": 2, "cpu": 1,
                "result": dict(_result(1.3, 1.42), reference_ms=9.9)}]
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"date": "2026-01-01", "runs": 7, "threads": [1, 2], "rows": rows,
                                 "co_runner": co_rows}))
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "paper_table.py"), "--from-json", str(saved),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "paper_table.md").read_text()
    section = table[table.index("## Under a co-runner"):]
    assert "pinned to CPU 1" in section
    assert "| mobilenet_v2 (dense) | 2 | 9.7 | **1.13x** | 1.04x (40.0 ms) |" in section
    assert "| mobilenet_v2 (every conv masked) s=0.3 | 2 | 9.9 | **1.42x** | 1.21x (41.0 ms) |" in section
    # A saved table without co-runner rows has no such section.
    saved.write_text(json.dumps({"date": "2026-01-01", "runs": 7, "threads": [1, 2], "rows": rows}))
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "paper_table.py"), "--from-json", str(saved),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "## Under a co-runner" not in (tmp_path / "paper_table.md").read_text()


def test_co_runner_keeps_one_cpu_busy_while_the_block_runs():
    import pytest

    from actsparse.bench import cpu_busy_fraction
    from actsparse.bench.corunner import co_runner, usable_cpus

    cpus = usable_cpus()
    if len(cpus) < 2:
        with pytest.raises(RuntimeError, match="needs 2 CPUs"):
            with co_runner():
                pass
        return
    with pytest.raises(RuntimeError, match="is not one this process may use"):
        with co_runner(cpu=max(cpus) + 1000):
            pass
    with co_runner() as cpu:
        assert cpu == cpus[-1]
        busy = cpu_busy_fraction(0.5)
        spinners = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(p) == os.getpid()
                    and b"sched_setaffinity" in _cmdline(p)]
        assert len(spinners) == 1
        assert os.sched_getaffinity(spinners[0]) == {cpu}
    # One of len(cpus) CPUs busy (less whatever else ran), and the child gone after the block.
    assert busy > 0.6 / len(cpus)
    assert not os.path.exists(f"/proc/{spinners[0]}")


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read()
    except OSError:
        return b""


def _parent(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_paper_table_without_the_target_rows_says_so(repo, tmp_path):
    rows = [{"model": "mobilenet_v2", "variant": "all", "sparsity": 0.4, "ideal": 1.6, "paper": None,
             "t1": _result(1.2, 1.1)}]
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"date": "2026-01-01", "runs": 7, "threads": [1], "rows": rows}))
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "paper_table.py"), "--from-json", str(saved),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "paper_table.md").read_text()
    assert "| **1.10x** | 69% | 1.20x |" in table
    assert "Not measured in this run: the targets are for the dense networks" in table
    assert "| target |" not in table


def test_paper_table_rejects_bad_lists_before_measuring(repo):
    cases = {("--models", "resnet18,resnet50"): "--models: unknown model resnet50",
             ("--variants", "skip1x1,none"): "--variants: unknown variant none",
             ("--sparsities", "0.1,1.0"): "--sparsities: each must be in [0, 1)",
             ("--sparsities", "0.1,a"): "could not convert string to float: 'a'",
             ("--threads", "0"): "--threads: each must be a positive count",
             ("--runs", "0"): "--runs: must be at least 1",
             ("--load-runs", "4"): "--load-runs: must be at least 8"}
    for argv, message in cases.items():
        out = subprocess.run([sys.executable, str(repo / "benchmarks" / "paper_table.py"), *argv],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (argv, out.stderr)
        assert message in out.stderr, (argv, out.stderr)


def test_accuracy_script_runs(repo, tmp_path):
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "accuracy.py"), "--seeds", "0", "--epochs", "1",
                          "--sparsities", "0.2", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "accuracy.json").read_text())
    assert [r["config"] for r in report["rows"]] == ["dense", "s=0.2", "s=0.2 + KD"]
    assert all(0 <= r["mean"] <= 100 for r in report["rows"])
    assert "359 test images" in (tmp_path / "accuracy.md").read_text()


def test_detection_script_runs(repo, tmp_path):
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "detection.py"), "--seeds", "0,1", "--epochs", "1",
                          "--train-images", "16", "--val-images", "8", "--sparsities", "0.3", "--jobs", "2",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "detection.json").read_text())
    assert [r["config"] for r in report["rows"]] == ["dense", "s=0.3"]
    assert all(len(r["map50"]) == 2 and all(0 <= v <= 1 for v in r["map50"] + r["map50_95"]) for r in report["rows"])
    text = (tmp_path / "detection.md").read_text()
    assert "| s=0.3 |" in text and "--seeds 0,1 --epochs 1" in text


def test_load_sensitivity_groups_pairs_by_the_dense_time():
    import numpy as np
    import pytest

    from actsparse.bench import load_sensitivity

    dense = list(np.linspace(40, 60, 40))
    robust = load_sensitivity(dense, [d / 1.4 for d in dense])      # slows down with the host
    assert robust["pairs"] == 40 and len(robust["quartiles"]) == 4
    assert all(abs(q["pair_ratio"] - 1.4) < 1e-6 for q in robust["quartiles"])
    assert robust["slow_over_fast"] == 1.0
    fragile = load_sensitivity(dense, [d / 1.4 * (1 + (d - 40) / 20) for d in dense])  # slows down more
    assert fragile["slow_over_fast"] < 0.7 and fragile["correlation"] < -0.9
    assert fragile["quartiles"][0]["dense_ms"][0] == 40.0 and fragile["quartiles"][3]["dense_ms"][1] == 60.0
    with pytest.raises(ValueError, match="at least 8 pairs"):
        load_sensitivity([1.0] * 5, [1.0] * 5)


def test_xnnpack_load_control_times_two_networks_on_xnnpack_alone(tmp_path):
    import pytest

    from actsparse.bench import xnnpack_load_control
    from actsparse.tflite.builder import demo_model

    network, smaller = tmp_path / "network.tflite", tmp_path / "smaller.tflite"
    network.write_bytes(demo_model(seed=0))
    smaller.write_bytes(demo_model(seed=1))
    result = xnnpack_load_control(network, smaller, num_threads=2, num_runs=8, warmup_runs=1)
    assert result["network_ms"] > 0 and result["smaller_ms"] > 0
    # The medians are rounded to 1 us, and these runs take tens of us.
    assert result["speedup"] == pytest.approx(result["network_ms"] / result["smaller_ms"], rel=0.1)
    assert result["load"]["pairs"] == 8 and len(result["load"]["quartiles"]) == 4
    with pytest.raises(ValueError, match="num_runs: need at least 8 pairs"):
        xnnpack_load_control(network, smaller, num_runs=7)


def test_control_size_has_about_the_sparse_models_macs(repo):
    paper_table = _paper_table_module(repo)
    assert paper_table.control_size(1.0) == 224
    assert paper_table.control_size(1.36) == 192      # (192 / 224)^2 = 0.73 of the MACs
    assert paper_table.control_size(1000.0) == 32


def test_alternate_times_both_runtimes_in_one_process(repo, tmp_path, delegate_path):
    from actsparse.tflite.builder import demo_model
    model = tmp_path / "demo.tflite"
    model.write_bytes(demo_model(annotate=True))
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "alternate.py"), str(model), "--threads", "2",
                          "--seconds", "0.2", "--option", "claim=chains", "--json"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "ACTSPARSE_DELEGATE": str(delegate_path)})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["alternations"] >= 1
    assert result["xnnpack_ms"] > 0 and result["delegate_ms"] > 0
    assert abs(result["ratio"] - result["xnnpack_ms"] / result["delegate_ms"]) < 1e-9


def test_alternate_rejects_bad_arguments(repo, tmp_path):
    script = str(repo / "benchmarks" / "alternate.py")
    for args, message in (([str(tmp_path / "missing.tflite")], "missing.tflite: no such file"),
                          ([script, "--threads", "0"], "--threads must be at least 1"),
                          ([script, "--seconds", "0"], "--seconds must be positive"),
                          ([script, "--option", "claim"], "expected KEY=VALUE")):
        out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)


def test_compare_builds_times_each_library_in_one_process(repo, tmp_path, delegate_path):
    """The same build twice: two delegates from one file, each its own interpreter."""
    from actsparse.tflite.builder import demo_model
    model = tmp_path / "demo.tflite"
    model.write_bytes(demo_model(annotate=True))
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "compare_builds.py"), str(model),
                          str(delegate_path), str(delegate_path), "--threads", "2", "--rounds", "5", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["xnnpack_ms"] > 0 and len(result["builds"]) == 2
    first, second = result["builds"]
    assert first["library"] == second["library"] == str(delegate_path)
    assert first["vs_first"] == 1.0
    assert abs(second["vs_first"] - first["ms"] / second["ms"]) < 1e-9
    assert abs(first["vs_xnnpack"] - result["xnnpack_ms"] / first["ms"]) < 1e-9
    assert result["xnnpack_model"] == str(model)
    assert first["load"] is None  # under 8 rounds


def test_compare_builds_reports_each_builds_load_sensitivity(repo, tmp_path, delegate_path):
    """--reference: XNNPACK runs the other model; each build gets the
    quartile table of its own rounds against XNNPACK's."""
    from actsparse.tflite.builder import demo_model
    model, dense = tmp_path / "demo.tflite", tmp_path / "dense.tflite"
    model.write_bytes(demo_model(annotate=True))
    dense.write_bytes(demo_model(annotate=False))
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "compare_builds.py"), str(model),
                          str(delegate_path), "--reference", str(dense), "--rounds", "12", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["xnnpack_model"] == str(dense)
    load = result["builds"][0]["load"]
    assert load["pairs"] == 12 and len(load["quartiles"]) == 4
    fast, slow = load["quartiles"][0], load["quartiles"][3]
    assert fast["dense_ms"][1] <= slow["dense_ms"][0]
    assert abs(load["slow_over_fast"] - slow["pair_ratio"] / fast["pair_ratio"]) < 1e-3
    text = subprocess.run([sys.executable, str(repo / "benchmarks" / "compare_builds.py"), str(model),
                           str(delegate_path), "--reference", str(dense), "--rounds", "8"],
                          capture_output=True, text=True, timeout=300)
    assert text.returncode == 0 and "under load:" in text.stdout and "dense.tflite" in text.stdout, text.stdout


def test_compare_builds_rejects_bad_arguments(repo, tmp_path, delegate_path):
    script = str(repo / "benchmarks" / "compare_builds.py")
    lib = str(delegate_path)
    for args, message in (([str(tmp_path / "missing.tflite"), lib], "missing.tflite: no such file"),
                          ([script, str(tmp_path / "old.so")], "old.so: no such file"),
                          ([script, lib, "--threads", "0"], "--threads must be at least 1"),
                          ([script, lib, "--rounds", "0"], "--rounds must be at least 1"),
                          ([script, lib, "--reference", str(tmp_path / "dense.tflite")], "dense.tflite: no such file"),
                          ([script, lib, "--option", "claim"], "expected KEY=VALUE")):
        out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)


def test_interleaving_never_runs_an_interpreter_right_after_itself():
    """A run right after its own previous run finds its caches warm; the
    old forward-then-reversed order (0 1 2 2 1 0) gave that to the two ends
    and never to the middle one (the delegate, in run_bench)."""
    from collections import Counter

    from actsparse.bench import interleaved_order, interleaved_times

    for count in (2, 3, 4):
        order = interleaved_order(count, 10)
        assert Counter(order) == {i: 10 for i in range(count)}
        follows = Counter(zip(order, order[1:]))
        assert all(a != b for a, b in follows), f"{count}: a self-follow in {order}"
        if count <= 3:  # every interpreter after each of the others alike (+-1 at the ends)
            assert max(follows.values()) - min(follows.values()) <= 1, follows
            assert len(follows) == count * (count - 1)

    class Recorder:
        def __init__(self, name: str, log: list) -> None:
            self.name, self.log = name, log

        def invoke(self) -> None:
            self.log.append(self.name)

    log: list[str] = []
    times = interleaved_times([Recorder(n, log) for n in "abc"], 4)
    assert [len(t) for t in times] == [4, 4, 4]
    assert log == list("abcacbabcacb")


def test_arm_model_finds_the_innermost_hot_loop():
    """benchmarks/arm_model.py feeds llvm-mca the innermost loop with the most
    FMLAs (an outer loop around it would count its edges as the kernel's)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import arm_model

    source = """
    // an XNNPACK-style kernel
0:
        LDR x20, [x4], 8
1:
        LDP q12, q13, [x5], 32   # weights
        FMLA v20.4s, v12.4s, v0.s[0]
        FMLA v21.4s, v13.4s, v0.s[0]
        FMLA v22.4s, v12.4s, v0.s[1]
        SUBS x0, x0, 16
        B.HS 1b
2:
        FMLA v20.4s, v12.4s, v0.s[0]
        SUBS x9, x9, 8
        B.HI 0b
"""
    loop = arm_model.assembly_loop(source)
    assert loop[0].startswith("ldp") and loop[-1].startswith("subs") and len(loop) == 5
    assert arm_model.fmla_macs(loop) == 12
    assert arm_model.fmla_macs(["fmla v0.2s, v1.2s, v2.s[0]", "fmla v3.4s, v1.4s, v2.4s", "add x0, x0, 1"]) == 6
    lines = [("10", "ldr q0, [x1]"), ("14", "fmla v1.4s, v0.4s, v2.4s"), ("18", "b.ne 10"),
             ("1c", "fmla v1.4s, v0.4s, v2.4s"), ("20", "cbnz x3, 10")]

    def target(instruction: str):
        parts = instruction.replace(",", " ").split()
        return parts[-1] if parts[0] in ("b.ne", "cbnz") else None

    assert arm_model.hottest_loop(lines, target) == ["ldr q0, [x1]", "fmla v1.4s, v0.4s, v2.4s"]
