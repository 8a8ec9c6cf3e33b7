"""The benchmark scripts run: paper_table.py rewrites its report from saved
results (targets computed from the rows), accuracy.py trains and reports."""

from __future__ import annotations

import json
import subprocess
import sys


def _result(speedup: float, reference: float | None) -> dict:
    return {"speedup": speedup, "speedup_vs_reference": reference, "cpu_busy": False, "dense_ms": 40.0,
            "reference_ms": 41.0 if reference else None, "claimed_chains": 17, "listed_chains": 17,
            "conv_kernel": "avx2"}


def test_paper_table_from_json(repo, tmp_path):
    rows = [{"model": "resnet18", "variant": "skip1x1", "sparsity": 0.0, "ideal": 1.0, "paper": None,
             "t1": _result(1.0, None)},
            {"model": "resnet18", "variant": "skip1x1", "sparsity": 0.0, "forced": True, "ideal": 1.0,
             "paper": None, "t1": _result(0.99, 0.98)},
            {"model": "resnet18", "variant": "skip1x1", "sparsity": 0.1, "ideal": 1.11, "paper": 1.11,
             "t1": _result(1.2, 1.12)},
            {"model": "resnet18", "variant": "skip1x1", "sparsity": 0.3, "ideal": 1.43, "paper": 1.42,
             "t1": _result(1.5, 1.30)}]
    chains = [{"name": "conv1", "output_shape": [1, 112, 112, 64], "sparsity": 0.3, "xnnpack_conv_ms": 2.0,
               "delegate_ms": 1.4, "efficiency": 1.0},
              {"name": "layer4.0.conv1", "output_shape": [1, 7, 7, 512], "sparsity": 0.3, "xnnpack_conv_ms": 1.0,
               "delegate_ms": 0.8, "efficiency": 0.875}]
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"date": "2026-01-01", "runs": 7, "threads": [1], "rows": rows,
                                 "resnet18_s0.3_per_chain": {"1": chains}}))
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "paper_table.py"), "--from-json", str(saved),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "paper_table.md").read_text()
    assert "on 2026-01-01" in table and "7 interleaved runs" in table
    assert "| s=0 (forced through the delegate) >= 0.97x | 0.98x | met |" in table
    assert "| s=0.1 >= 1.11x | 1.12x | met |" in table          # the headline is vs the dense model
    assert "| s=0.3 >= 1.42x | 1.30x | **not met** |" in table
    assert "1 of 2 chains | **not met** |" in table
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
    assert "| **1.05x**† | 1.10x† |" in table
    assert "more than 20% slower" in table and "at most 3 more times" in table and "marked †" in table


def test_paper_table_without_the_target_rows_says_so(repo, tmp_path):
    rows = [{"model": "mobilenet_v2", "variant": "all", "sparsity": 0.4, "ideal": 1.6, "paper": None,
             "t1": _result(1.2, 1.1)}]
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"date": "2026-01-01", "runs": 7, "threads": [1], "rows": rows}))
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "paper_table.py"), "--from-json", str(saved),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "paper_table.md").read_text()
    assert "| **1.10x** | 1.20x |" in table
    assert "Not measured in this run: the targets are for ResNet-18" in table
    assert "| target |" not in table


def test_paper_table_rejects_bad_lists_before_measuring(repo):
    cases = {("--models", "resnet18,resnet50"): "--models: unknown model resnet50",
             ("--variants", "skip1x1,none"): "--variants: unknown variant none",
             ("--sparsities", "0.1,1.0"): "--sparsities: each must be in [0, 1)",
             ("--sparsities", "0.1,a"): "could not convert string to float: 'a'",
             ("--threads", "0"): "--threads: each must be a positive count",
             ("--runs", "0"): "--runs: must be at least 1"}
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
