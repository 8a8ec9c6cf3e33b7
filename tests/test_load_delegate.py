"""actsparse.load_delegate in ai-edge-litert: finding the library, options,
and an interpreter that gives the same outputs with the delegate as without."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import actsparse
from actsparse import delegate as delegate_module
from actsparse.format import METADATA_NAME
from actsparse.tflite.builder import demo_model
from conftest import OUTPUT_TOLERANCE, relative_error, run_interpreter


def test_load_delegate_default(delegate_path):
    assert delegate_path.name == "libactsparse_delegate.so"
    assert actsparse.load_delegate() is not None


@pytest.mark.parametrize("xnnpack", [True, False], ids=["xnnpack", "builtin"])
@pytest.mark.parametrize("threads", [1, 2])
def test_outputs_unchanged_by_delegate(xnnpack, threads):
    model = demo_model(seed=3)
    x, expected = run_interpreter(model, xnnpack=xnnpack, num_threads=threads)
    for claim in ("graph", "chains"):
        _, got = run_interpreter(model, x, xnnpack=xnnpack, num_threads=threads,
                                 delegates=[actsparse.load_delegate(num_threads=threads, claim=claim)])
        assert relative_error(got, expected) <= OUTPUT_TOLERANCE, claim
    assert np.abs(expected).max() > 0  # the model computes something


def test_unknown_option_is_named():
    with pytest.raises(actsparse.DelegateError, match="unknown delegate option 'bogus'"):
        actsparse.load_delegate(bogus=1)


@pytest.mark.parametrize("options, named", [
    ({"num_threads": "many"}, "num_threads='many'"),
    ({"num_threads": 0}, "num_threads='0'"),
    ({"num_threads": 1000}, "num_threads='1000'"),
    ({"log_level": "loud"}, "log_level='loud'"),
    ({"verbose": "perhaps"}, "verbose='perhaps'"),
])
def test_bad_option_values_are_named(options, named):
    with pytest.raises(actsparse.DelegateError) as info:
        actsparse.load_delegate(**options)
    assert named in str(info.value)


def test_valid_options_are_accepted():
    for options in ({"num_threads": 2}, {"num_threads": -1}, {"log_level": "debug"},
                    {"verbose": False}, {"verbose": True, "log_level": "error"}):
        assert actsparse.load_delegate(**options) is not None


def test_env_override(monkeypatch, delegate_path, tmp_path):
    monkeypatch.setenv("ACTSPARSE_DELEGATE", str(delegate_path))
    assert actsparse.delegate_library_path() == delegate_path.resolve()
    monkeypatch.setenv("ACTSPARSE_DELEGATE", str(tmp_path / "nope.so"))
    with pytest.raises(actsparse.DelegateNotFoundError, match=r"\$ACTSPARSE_DELEGATE points to .*nope.so"):
        actsparse.load_delegate()


def test_explicit_path_that_is_not_a_library(tmp_path):
    bogus = tmp_path / "libactsparse_delegate.so"
    bogus.write_text("not an ELF file")
    with pytest.raises(actsparse.DelegateNotFoundError, match="not an ELF shared library"):
        actsparse.load_delegate(library_path=bogus)
    arm = _fake_elf(tmp_path / "arm.so", 183 if delegate_module._host_machine() == 62 else 62)
    with pytest.raises(actsparse.DelegateNotFoundError, match="built for another CPU"):
        actsparse.load_delegate(library_path=arm)


def _fake_elf(path: Path, machine: int) -> Path:
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4], header[5] = 2, 1  # 64-bit, little endian
    header[18:20] = struct.pack("<H", machine)
    path.write_bytes(bytes(header))
    return path


def test_missing_library_says_how_to_build(monkeypatch, tmp_path):
    monkeypatch.delenv("ACTSPARSE_DELEGATE", raising=False)
    monkeypatch.setattr(delegate_module, "_candidate_paths",
                        lambda: iter([("packaged", tmp_path / "absent.so")]))
    with pytest.raises(actsparse.DelegateNotFoundError) as info:
        actsparse.load_delegate()
    message = str(info.value)
    assert "absent.so (packaged: missing)" in message
    assert "scripts/build_delegate.sh" in message and "ACTSPARSE_DELEGATE" in message


def test_library_for_another_cpu_is_skipped(monkeypatch, tmp_path, delegate_path):
    arm = _fake_elf(tmp_path / "arm.so", 183)  # EM_AARCH64
    monkeypatch.delenv("ACTSPARSE_DELEGATE", raising=False)
    monkeypatch.setattr(delegate_module, "_host_machine", lambda: 62)  # pretend x86-64
    monkeypatch.setattr(delegate_module, "_candidate_paths",
                        lambda: iter([("packaged", arm), ("bazel-bin", delegate_path)]))
    assert actsparse.delegate_library_path() == delegate_path.resolve()
    monkeypatch.setattr(delegate_module, "_candidate_paths", lambda: iter([("packaged", arm)]))
    with pytest.raises(actsparse.DelegateNotFoundError, match="built for another CPU"):
        actsparse.delegate_library_path()


def test_unknown_runtime_is_an_error():
    expected = "unknown runtime 'tflite'; expected one of ai_edge_litert, tflite_runtime, tensorflow"
    with pytest.raises(actsparse.DelegateError, match=expected):
        actsparse.load_delegate(runtime="tflite")
    with pytest.raises(actsparse.DelegateError, match=expected):
        actsparse.Interpreter(model_content=demo_model(), runtime="tflite")


def test_a_runtime_not_installed_says_what_to_install():
    """The main venv has no TensorFlow (it lives in .venv-tf221)."""
    with pytest.raises(actsparse.DelegateError,
                       match=r"runtime 'tensorflow' is not importable \(tensorflow: No module named 'tensorflow'\); "
                             r"install tensorflow-cpu==2\.21\.0"):
        actsparse.load_delegate(runtime="tensorflow")


def test_verbose_log_shows_metadata_read_through_the_runtime(capfd):
    """GetModelMetadata (context offset 176) works in the real runtime."""
    payload = bytes(range(200)) * 3
    model = demo_model(seed=1, metadata={METADATA_NAME: payload, "other": b"xyz"})
    run_interpreter(model, delegates=[actsparse.load_delegate(verbose=True)])
    err = capfd.readouterr().err
    assert f"model metadata '{METADATA_NAME}': {len(payload)} bytes" in err
    assert "graph: 8 nodes (ADD x2, CONV_2D x3, DEPTHWISE_CONV_2D x1, MUL x2)" in err
    # The metadata is not an actsparse.masks entry: no chain, the graph runs dense.
    assert "claimed 8 of 8 nodes: 0 of 0 listed chains" in err
    run_interpreter(model, delegates=[actsparse.load_delegate(verbose=True, claim="chains")])
    assert "claimed 0 of 8 nodes" in capfd.readouterr().err
    run_interpreter(demo_model(seed=1), delegates=[actsparse.load_delegate(verbose=True)])
    assert f"model has no '{METADATA_NAME}' metadata" in capfd.readouterr().err


def test_model_loaded_from_path_reads_metadata_too(capfd, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(demo_model(metadata={METADATA_NAME: b"\x01" * 17}))
    run_interpreter(path, delegates=[actsparse.load_delegate(log_level="info")])
    assert f"model metadata '{METADATA_NAME}': 17 bytes" in capfd.readouterr().err


def test_profile_prints_each_chain_when_the_delegate_is_deleted(capfd):
    import gc

    from ai_edge_litert.interpreter import Interpreter

    delegate = actsparse.load_delegate(profile=True, num_threads=2, claim="chains")
    interpreter = Interpreter(model_content=demo_model(annotate=True), experimental_delegates=[delegate])
    interpreter.allocate_tensors()
    for _ in range(3):
        interpreter.invoke()
    assert "actsparse profile" not in capfd.readouterr().err  # printed at the end only
    del interpreter, delegate
    gc.collect()
    err = capfd.readouterr().err
    assert "actsparse profile: 2 chain(s), 2 thread(s)" in err
    lines = {line.split()[0]: line.split() for line in err.splitlines() if line.startswith("  block")}
    assert set(lines) == {"block1", "block2"}
    assert lines["block1"][1] == "24x20x8" and lines["block2"][1] == "12x10x16"
    assert lines["block1"][3] == lines["block2"][3] == "2"  # calls, the first one not counted
    assert all(float(fields[4]) > 0 for fields in lines.values())
    # The Python reader of this table (actsparse bench --profile) reads the same.
    from actsparse.runtime import parse_profile_report

    rows = parse_profile_report(err)
    assert [(r["name"], r["output"], r["calls"]) for r in rows] == [("block1", "24x20x8", 2), ("block2", "12x10x16", 2)]
    assert abs(sum(r["share"] for r in rows) - 1.0) < 0.002
    assert all(0 < r["best_ms"] <= r["mean_ms"] for r in rows)
    # Without the option nothing is timed or printed.
    run_interpreter(demo_model(annotate=True), delegates=[actsparse.load_delegate()])
    gc.collect()
    assert "actsparse profile" not in capfd.readouterr().err


def test_profile_prints_each_step_with_claim_graph(capfd):
    """claim=graph: one row per step (a fused op), the chains under their layer names."""
    import gc

    from ai_edge_litert.interpreter import Interpreter

    from actsparse.runtime import parse_profile_report

    delegate = actsparse.load_delegate(profile=True, num_threads=2)
    interpreter = Interpreter(model_content=demo_model(annotate=True), experimental_delegates=[delegate])
    interpreter.allocate_tensors()
    for _ in range(3):
        interpreter.invoke()
    del interpreter, delegate
    gc.collect()
    err = capfd.readouterr().err
    assert "actsparse profile: 4 step(s), 2 thread(s)" in err
    rows = parse_profile_report(err)
    assert [(r["name"], r["output"], r["calls"]) for r in rows] == [
        ("block1", "24x20x8", 2), ("block2", "12x10x16", 2),
        ("DEPTHWISE_CONV_2D#6", "12x10x16", 2), ("CONV_2D#7", "12x10x10", 2)]
    assert rows[0]["sparsity"] > 0 and rows[3]["sparsity"] == 0


def test_quiet_by_default(capfd):
    run_interpreter(demo_model(), delegates=[actsparse.load_delegate()])
    assert "actsparse [" not in capfd.readouterr().err


@pytest.mark.parametrize("interpreter_threads, option, expected", [
    (1, None, 1), (2, None, 2), (2, 3, 3),
])
def test_thread_count_follows_the_interpreter(capfd, interpreter_threads, option, expected):
    """recommended_num_threads (context offset 72) is read correctly."""
    options = {"verbose": True}
    if option is not None:
        options["num_threads"] = option
    run_interpreter(demo_model(), num_threads=interpreter_threads,
                    delegates=[actsparse.load_delegate(**options)])
    assert f"; {expected} thread(s)" in capfd.readouterr().err


def test_many_interpreters_created_and_destroyed():
    model = demo_model()
    x, expected = run_interpreter(model)
    first = None
    for _ in range(50):
        _, got = run_interpreter(model, x, delegates=[actsparse.load_delegate()])
        assert relative_error(got, expected) <= OUTPUT_TOLERANCE
        first = got if first is None else first
        np.testing.assert_array_equal(got, first)  # the delegate itself is deterministic
