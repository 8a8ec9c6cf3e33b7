"""The delegate against bad metadata, resizes and repeated use: clean refusals
or clear errors, never a crash or a wrong number."""

from __future__ import annotations

import re
import resource
import subprocess
import sys

import numpy as np
import pytest

import actsparse
from actsparse.tflite import model_file
from actsparse.format import METADATA_NAME, MaskedLayer, encode
from actsparse.tflite.builder import GraphBuilder


def _model(annotate=True, layers_fn=None, raw_metadata=None):
    rng = np.random.default_rng(0)
    g = GraphBuilder()
    x = g.input("x", (1, 8, 8, 3))
    y = g.masked_conv2d(x, rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4),
                        (rng.random((8, 8)) > 0.5).astype(np.uint8), activation="relu", name="c1")
    y = g.masked_conv2d(y, rng.normal(size=(6, 3, 3, 4)), rng.normal(size=6),
                        (rng.random((4, 4)) > 0.5).astype(np.uint8), stride=2, name="c2")
    metadata = {}
    if layers_fn is not None:
        metadata[METADATA_NAME] = encode(layers_fn(g.masked_layers))
    if raw_metadata is not None:
        metadata[METADATA_NAME] = raw_metadata
    return g.finish([y], metadata, annotate=annotate and not metadata)


def _outputs(model, x, **kwargs):
    it = actsparse.Interpreter(model_content=model, **kwargs)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy(), it


X = np.random.default_rng(1).standard_normal((1, 8, 8, 3)).astype(np.float32)
REFERENCE, _ = _outputs(_model(annotate=False), X, use_delegate=False, xnnpack=False)


def _assert_correct(model, claimed):
    out, it = _outputs(model, X)
    assert it.delegate_report.claimed_chains == claimed, it.delegate_report.log
    np.testing.assert_allclose(out, REFERENCE, rtol=1e-4, atol=1e-4)
    return it.delegate_report


def test_valid_model_claims_both_chains():
    _assert_correct(_model(), 2)


def test_no_metadata():
    report = _assert_correct(_model(annotate=False), 0)
    assert "no 'actsparse.masks' metadata" in report.log


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_metadata_claims_nothing(damage):
    good = model_file.read_metadata(_model(), METADATA_NAME)
    bad = {"truncate": good[:-7], "flip": good[:30] + bytes([good[30] ^ 4]) + good[31:],
           "garbage": b"\x00\x01" * 40, "empty": b""}[damage]
    report = _assert_correct(_model(raw_metadata=bad), 0)
    # The runtimes treat an empty metadata buffer as no entry at all.
    expected = "has no 'actsparse.masks' metadata" if damage == "empty" else "ignoring corrupt"
    assert expected in report.log


@pytest.mark.parametrize("mutate, reason", [
    (lambda l: MaskedLayer(l.name, 0, -1, l.mul_op, l.mul_op, l.add_op, l.mask_tensor, l.mask), "is MUL"),
    (lambda l: MaskedLayer(l.name, 0, -1, l.conv_op, l.mul_op, 57, l.mask_tensor, l.mask), "not in the execution plan"),
    (lambda l: MaskedLayer(l.name, 0, -1, l.conv_op, l.mul_op, l.add_op, l.mask_tensor, np.ones((3, 5), np.uint8)), "mask is 3x5"),
    (lambda l: MaskedLayer(l.name, 0, -1, l.conv_op, l.mul_op, l.add_op, l.mask_tensor, 1 - l.mask), "differs from the metadata"),
    (lambda l: MaskedLayer(l.name, 0, -1, l.conv_op, l.mul_op, l.add_op, l.mask_tensor + 1, l.mask), "the metadata says"),
    (lambda l: MaskedLayer(l.name, 2, -1, l.conv_op, l.mul_op, l.add_op, l.mask_tensor, l.mask), "subgraph"),
])
def test_metadata_that_does_not_match_the_graph(mutate, reason):
    model = _model(layers_fn=lambda layers: [mutate(layers[0]), layers[1]])
    report = _assert_correct(model, 1)
    assert len(report.refusals) == 1 and report.refusals[0].startswith("c1: ")
    assert reason in report.refusals[0], report.refusals


def test_overlapping_chains_are_not_claimed_twice():
    model = _model(layers_fn=lambda layers: [layers[0], layers[0], layers[1]])
    report = _assert_correct(model, 2)
    assert any("belongs to another listed chain" in r for r in report.refusals)


def test_resize_the_masks_cannot_fit_is_refused():
    it = actsparse.Interpreter(model_content=_model())
    with pytest.raises(ValueError, match=r"from \[1, 8, 8, 3\] to \[1, 10, 10, 3\].*made for \[8, 8, 3\].*"
                                         r"convert\.py MODEL\.pt OUT\.tflite --input-shape 1,3,10,10 --nhwc "
                                         r"--resample-masks"):
        it.resize_tensor_input(0, [1, 10, 10, 3])
    it.allocate_tensors()  # still usable


def test_raw_runtime_resize_gives_a_clear_error():
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=_model(), experimental_delegates=[actsparse.load_delegate()])
    it.resize_tensor_input(0, [1, 10, 10, 3])
    with pytest.raises(RuntimeError, match="not broadcastable"):
        it.allocate_tensors()


def test_batch_resize_is_exact():
    it = actsparse.Interpreter(model_content=_model())
    it.resize_tensor_input(0, [3, 8, 8, 3])
    it.allocate_tensors()
    x = np.random.default_rng(2).standard_normal((3, 8, 8, 3)).astype(np.float32)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    ref = actsparse.Interpreter(model_content=_model(annotate=False), use_delegate=False, xnnpack=False)
    ref.resize_tensor_input(0, [3, 8, 8, 3])
    ref.allocate_tensors()
    ref.set_tensor(ref.get_input_details()[0]["index"], x)
    ref.invoke()
    np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]),
                               ref.get_tensor(ref.get_output_details()[0]["index"]), rtol=1e-4, atol=1e-4)


def test_a_batch_resize_stays_quiet_unless_asked(capfd):
    """After a resize the delegate plans again and logs at info level; a
    non-verbose actsparse.Interpreter shows none of it (it showed all of it)."""
    for verbose in (False, True):
        it = actsparse.Interpreter(model_content=_model(), verbose=verbose)
        capfd.readouterr()
        it.resize_tensor_input(0, [3, 8, 8, 3])
        it.allocate_tensors()
        err = capfd.readouterr().err
        assert ("actsparse [info]" in err) == verbose, err
        assert it.delegate_report.claimed_chains == it.delegate_report.listed_chains > 0


def test_one_delegate_shared_by_two_interpreters():
    from ai_edge_litert.interpreter import Interpreter

    delegate = actsparse.load_delegate(num_threads=2)
    outs = []
    for _ in range(2):
        it = Interpreter(model_content=_model(), experimental_delegates=[delegate])
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], X)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    for out in outs:
        np.testing.assert_allclose(out, REFERENCE, rtol=1e-4, atol=1e-4)


_CYCLES = r"""
import resource, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import actsparse
from test_delegate_robustness import _model
model = _model()
x = np.zeros((1, 8, 8, 3), np.float32)
def cycle(n):
    for _ in range(n):
        it = actsparse.Interpreter(model_content=model, num_threads=2)
        it.allocate_tensors(); it.set_tensor(0, x); it.invoke()
        del it
cycle(50)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cycle(400)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_many_interpreters_created_and_destroyed(repo):
    out = subprocess.run([sys.executable, "-c", _CYCLES, str(repo / "tests")], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    growth_kb = int(out.stdout.strip().splitlines()[-1])
    assert growth_kb < 20_000, f"max RSS grew {growth_kb} kB over 400 interpreters"


def test_scalar_kernels_can_be_forced_and_agree(monkeypatch):
    fast, it = _outputs(_model(), X)
    widest = it.delegate_report.kernel
    assert widest in ("avx512", "avx2", "neon")
    monkeypatch.setenv("ACTSPARSE_KERNELS", "scalar")
    slow, it = _outputs(_model(), X)
    assert it.delegate_report.kernel == "scalar" and it.claimed_chains == 2
    np.testing.assert_allclose(slow, fast, rtol=1e-5, atol=1e-5)
    if widest == "avx512":  # AVX2 can be forced on an AVX-512 CPU, for comparisons
        monkeypatch.setenv("ACTSPARSE_KERNELS", "avx2")
        avx2, it = _outputs(_model(), X)
        assert it.delegate_report.kernel == "avx2" and it.claimed_chains == 2
        np.testing.assert_allclose(avx2, fast, rtol=1e-5, atol=1e-5)


def test_rejected_metadata_is_reported_and_bench_gives_no_speedup(tmp_path):
    """Corrupt mask metadata: the report says why it was rejected, and
    `actsparse bench` refuses to time it (one line, exit 1) instead of
    printing "0/0 chains" and a speedup."""
    import subprocess
    import sys

    from actsparse.format import METADATA_NAME
    from actsparse.tflite.builder import demo_model

    model = demo_model(seed=5, metadata={METADATA_NAME: b"\x00" * 40})
    for claim in ("graph", "chains"):
        report = actsparse.Interpreter(model_content=model, claim=claim, log_level="error").delegate_report
        assert report.metadata_error == "corrupt 'actsparse.masks' metadata: bad magic: not an actsparse.masks entry"
    good = actsparse.Interpreter(model_content=_model(), log_level="error").delegate_report
    assert good.metadata_error == "" and good.claimed_chains > 0
    path = tmp_path / "corrupt-metadata.tflite"
    path.write_bytes(model)
    done = subprocess.run([sys.executable, "-m", "actsparse", "bench", str(path), "--num_runs", "3"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "speedup" not in done.stdout, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines() == [
        f"error: {path}: the delegate rejected its mask metadata (corrupt 'actsparse.masks' metadata: bad magic: "
        "not an actsparse.masks entry), so nothing would run sparse; convert the model again (actsparse convert); "
        "no speedup reported"], done.stderr


def _run_once(model: bytes, feeds: list[np.ndarray], use_delegate: bool):
    it = actsparse.Interpreter(model_content=model, use_delegate=use_delegate, num_threads=2)
    it.allocate_tensors()
    for detail, x in zip(it.get_input_details(), feeds):
        it.set_tensor(detail["index"], x)
    it.invoke()
    return it


def test_gather_by_an_index_out_of_range_fails_the_run_as_the_builtin_does():
    """GATHER_ND by indices computed in the run (grid_sample's): an index
    outside params fails the run, naming the node, the tuple and params'
    shape, as the builtin kernel fails it; in range, the same values."""
    g = GraphBuilder()
    x = g.input("x", (2, 5, 3))
    indices = g.input("indices", (4, 2), dtype="int32")
    doubled = g.mul(x, g.constant("two", np.array(2.0, np.float32)))
    model = g.finish([g.gather_nd(doubled, indices)])
    params = np.random.default_rng(3).standard_normal((2, 5, 3)).astype(np.float32)
    good = np.array([[0, 1], [1, 4], [1, 0], [0, 0]], np.int32)
    delegate = _run_once(model, [params, good], use_delegate=True)
    assert delegate.delegate_report.partitions == 1
    assert delegate.delegate_report.claimed_nodes == delegate.delegate_report.total_nodes
    builtin = _run_once(model, [params, good], use_delegate=False)
    np.testing.assert_array_equal(delegate.get_tensor(delegate.get_output_details()[0]["index"]),
                                  builtin.get_tensor(builtin.get_output_details()[0]["index"]))
    for bad, shown in (([1, 5], "(1, 5)"), ([-1, 0], "(-1, 0)"), ([2, 0], "(2, 0)")):
        feeds = [params, np.array([[0, 1], [1, 4], bad, [0, 0]], np.int32)]
        with pytest.raises(RuntimeError, match="GATHER_ND"):  # "out of bounds", or "only_positive" for -1
            _run_once(model, feeds, use_delegate=False)
        with pytest.raises(RuntimeError, match=r"GATHER_ND#1: gather_nd: index tuple 2 " + re.escape(shown) +
                           r" is outside params \[2,5,3\]"):
            _run_once(model, feeds, use_delegate=True)


def test_an_int64_input_beyond_int32_fails_the_run_with_its_value():
    """The delegate computes ints as int32: an int64 partition input holding
    a value past int32 fails the run, naming the tensor and the value; one
    within int32 runs as the builtin kernels."""
    g = GraphBuilder()
    ids = g.input("ids", (2, 3), dtype="int64")
    as_float = g.cast(g.reshape(ids, (3, 2)), "float32")
    model = g.finish([g.add(as_float, g.constant("one", np.array(1.0, np.float32)))])
    small = np.array([[1, -2, 3], [2**31 - 1, -(2**31), 0]], np.int64)
    delegate = _run_once(model, [small], use_delegate=True)
    builtin = _run_once(model, [small], use_delegate=False)
    assert delegate.delegate_report.claimed_nodes == delegate.delegate_report.total_nodes
    np.testing.assert_array_equal(delegate.get_tensor(delegate.get_output_details()[0]["index"]),
                                  builtin.get_tensor(builtin.get_output_details()[0]["index"]))
    large = small.copy()
    large[0, 2] = 2**40
    with pytest.raises(RuntimeError, match=r"int64 tensor \d+ holds 1099511627776 at 2, beyond the int32"):
        _run_once(model, [large], use_delegate=True)
