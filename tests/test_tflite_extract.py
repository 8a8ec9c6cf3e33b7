"""Cutting chains out of a model (actsparse.tflite.extract), used by bench --per-layer."""

from __future__ import annotations

import numpy as np
import pytest

from actsparse.tflite import model_file
from actsparse.format import METADATA_NAME, decode
from actsparse.inspect import inspect_model
from actsparse.tflite.builder import GraphBuilder
from actsparse.tflite.extract import extract_ops
from conftest import run_interpreter


def _model() -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    g = GraphBuilder()
    x = g.input("x", (1, 10, 9, 4))
    weights, bias = rng.normal(size=(6, 3, 3, 4)), rng.normal(size=6)
    mask = (rng.random((10, 9)) > 0.4).astype(np.uint8)
    y = g.masked_conv2d(x, weights, bias, mask, activation="relu6", name="only", pad=(1, 1, 1, 1),
                        padding="valid")
    return g.finish([y], annotate=True), weights, mask


def test_extracted_chain_computes_the_same_and_is_annotated(tmp_path, delegate_path):
    import actsparse

    data, _, mask = _model()
    model = model_file.load_model(data)
    (layer,) = decode(model_file.read_metadata(data, METADATA_NAME))
    ops = [layer.pad_op, layer.conv_op, layer.mul_op, layer.add_op]
    chain = extract_ops(model, 0, ops, layer)
    path = tmp_path / "chain.tflite"
    path.write_bytes(chain)
    report = inspect_model(path)
    assert [r.layer.name for r in report.layers] == ["only"]
    np.testing.assert_array_equal(report.layers[0].layer.mask, mask)
    x, expected = run_interpreter(data, xnnpack=False)
    _, got = run_interpreter(chain, x, xnnpack=False)
    np.testing.assert_array_equal(got, expected)
    interpreter = actsparse.Interpreter(model_content=chain)
    assert interpreter.delegate_report.claimed_chains == 1

    bare = extract_ops(model, 0, [layer.pad_op, layer.conv_op])
    assert model_file.read_metadata(bare, METADATA_NAME) is None
    _, conv_out = run_interpreter(bare, x, xnnpack=False)
    assert conv_out.shape == expected.shape


def test_extract_errors_name_the_problem():
    data, _, _ = _model()
    model = model_file.load_model(data)
    (layer,) = decode(model_file.read_metadata(data, METADATA_NAME))
    with pytest.raises(ValueError, match="operator 99 is not in subgraph 0"):
        extract_ops(model, 0, [99])
    with pytest.raises(ValueError, match="'only'.*was not extracted"):
        extract_ops(model, 0, [layer.pad_op, layer.conv_op], layer)
