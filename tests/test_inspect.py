"""actsparse inspect: report, cross-checks against the graph, bad files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from actsparse.tflite import model_file
from actsparse.format import METADATA_NAME, MaskedLayer, encode
from actsparse.inspect import InspectError, inspect_model
from actsparse.tflite.builder import GraphBuilder


def _annotated_model(tmp_path, layers_fn=None):
    """input 1x10x12x3 -> masked 3x3 conv (8 ch) -> masked depthwise 3x3 s2 -> plain 1x1."""
    rng = np.random.default_rng(0)
    g = GraphBuilder()
    x = g.input("x", (1, 10, 12, 3))
    m1 = (rng.random((10, 12)) > 0.25).astype(np.uint8)
    m2 = (rng.random((5, 6)) > 0.5).astype(np.uint8)
    y = g.masked_conv2d(x, rng.normal(size=(8, 3, 3, 3)), rng.normal(size=8), m1, activation="relu", name="a")
    y = g.masked_conv2d(y, rng.normal(size=(1, 3, 3, 8)), rng.normal(size=8), m2, depthwise=True, stride=2, name="b")
    y = g.conv2d(y, rng.normal(size=(4, 1, 1, 8)), rng.normal(size=4), name="c")
    ops = {t.name: i for i, t in enumerate(g.subgraph.tensors)}
    layers = [MaskedLayer("a", 0, -1, 0, 1, 2, ops["a/mask"], m1),
              MaskedLayer("b", 0, -1, 3, 4, 5, ops["b/mask"], m2)]
    if layers_fn:
        layers = layers_fn(layers)
    path = tmp_path / "m.tflite"
    path.write_bytes(g.finish([y], {METADATA_NAME: encode(layers)}))
    return path, (m1, m2)


def test_report(tmp_path):
    path, (m1, m2) = _annotated_model(tmp_path)
    report = inspect_model(path)
    a, b = report.layers
    assert (a.layer.name, a.op_name, a.kernel, a.output_shape) == ("a", "CONV_2D", (3, 3), (1, 10, 12, 8))
    assert (b.layer.name, b.op_name, b.output_shape) == ("b", "DEPTHWISE_CONV_2D", (1, 5, 6, 8))
    assert a.macs == 10 * 12 * 8 * 27 and b.macs == 5 * 6 * 8 * 9
    assert a.macs_saved == round(a.macs * (1 - m1.sum() / m1.size))
    total = a.macs + b.macs + 5 * 6 * 4 * 8
    assert report.total_macs == total
    assert report.ideal_speedup == pytest.approx(total / (total - a.macs_saved - b.macs_saved))


def test_cli_json_and_png(tmp_path):
    path, (m1, _) = _annotated_model(tmp_path)
    out = subprocess.run([sys.executable, "-m", "actsparse.cli", "inspect", str(path), "--json",
                          "--png", str(tmp_path / "png")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) >= {"layers", "ideal_speedup", "total_macs", "macs_saved"}
    first = data["layers"][0]
    for key in ("conv_op", "mul_op", "add_op", "mask_tensor", "height", "width", "sparsity", "macs", "macs_saved"):
        assert key in first
    assert (first["height"], first["width"], first["conv_op"]) == (10, 12, 0)
    assert first["sparsity"] == pytest.approx(1 - m1.sum() / m1.size, abs=1e-6)
    pngs = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert pngs == ["000_a.png", "001_b.png", "overview.png"]
    assert (tmp_path / "png" / "000_a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = subprocess.run([sys.executable, "-m", "actsparse.cli", "inspect", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and "ideal speedup" in text.stdout and "DEPTH" not in text.stderr


def test_no_metadata(tmp_path):
    g = GraphBuilder()
    x = g.input("x", (1, 4, 4, 1))
    path = tmp_path / "plain.tflite"
    path.write_bytes(g.finish([g.conv2d(x, np.ones((1, 1, 1, 1)), np.zeros(1))]))
    with pytest.raises(InspectError, match="plain.tflite: no 'actsparse.masks' metadata"):
        inspect_model(path)


def test_corrupt_and_foreign_metadata(tmp_path):
    path, _ = _annotated_model(tmp_path)
    payload = bytearray(model_file.read_metadata(path, METADATA_NAME))
    payload[30] ^= 0x10
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(model_file.with_metadata(path, METADATA_NAME, bytes(payload)))
    with pytest.raises(InspectError, match="corrupt.tflite: corrupt or foreign .*checksum"):
        inspect_model(corrupt)
    foreign = tmp_path / "foreign.tflite"
    foreign.write_bytes(model_file.with_metadata(path, METADATA_NAME, b'{"json": "from someone else"}'))
    with pytest.raises(InspectError, match="foreign.tflite: corrupt or foreign .*magic"):
        inspect_model(foreign)


@pytest.mark.parametrize("mutate, message", [
    (lambda ls: [MaskedLayer("a", 0, -1, 1, 1, 2, ls[0].mask_tensor, ls[0].mask)], "conv_op 1 is MUL"),
    (lambda ls: [MaskedLayer("a", 0, -1, 0, 4, 2, ls[0].mask_tensor, ls[0].mask)], "does not multiply the conv output"),
    (lambda ls: [MaskedLayer("a", 0, -1, 0, 1, 5, ls[0].mask_tensor, ls[0].mask)], "add_op 5 .* does not follow"),
    (lambda ls: [MaskedLayer("a", 0, 0, 0, 1, 2, ls[0].mask_tensor, ls[0].mask)], "pad_op 0 .* does not feed"),
    (lambda ls: [MaskedLayer("a", 0, -1, 0, 1, 99, ls[0].mask_tensor, ls[0].mask)], "add_op 99 is not an operator"),
    (lambda ls: [MaskedLayer("a", 0, -1, 0, 1, 2, ls[1].mask_tensor, ls[0].mask)], "is not an input of MUL"),
    (lambda ls: [MaskedLayer("a", 0, -1, 0, 1, 2, ls[0].mask_tensor, 1 - ls[0].mask)], "mask bits differ"),
    (lambda ls: [MaskedLayer("a", 0, -1, 0, 1, 2, ls[0].mask_tensor, np.ones((5, 6), np.uint8))], "mask is 5x6"),
    (lambda ls: [MaskedLayer("a", 3, -1, 0, 1, 2, ls[0].mask_tensor, ls[0].mask)], "subgraph 3"),
])
def test_metadata_that_does_not_match_the_graph(tmp_path, mutate, message):
    path, _ = _annotated_model(tmp_path, mutate)
    with pytest.raises(InspectError, match=message):
        inspect_model(path)


def test_not_a_model(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0" * 64)
    out = subprocess.run([sys.executable, "-m", "actsparse.cli", "inspect", str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "bad.tflite: not a .tflite flatbuffer" in out.stderr
    missing = subprocess.run([sys.executable, "-m", "actsparse.cli", "inspect", str(tmp_path / "x.tflite")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "x.tflite: no such file" in missing.stderr
