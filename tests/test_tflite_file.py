"""Reading/writing .tflite files and metadata entries without torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from actsparse.tflite import model_file
from actsparse.tflite.builder import GraphBuilder, conv_output_size, demo_model
from conftest import run_interpreter
from reference import conv2d_nhwc


def test_metadata_round_trip(tmp_path):
    model = demo_model()
    assert model_file.read_metadata(model, "x") is None
    with_x = model_file.with_metadata(model, "x", b"hello")
    assert model_file.read_metadata(with_x, "x") == b"hello"
    replaced = model_file.with_metadata(with_x, "x", b"bye")
    assert model_file.read_metadata(replaced, "x") == b"bye"
    assert model_file.metadata_names(replaced).count("x") == 1
    path = tmp_path / "m.tflite"
    path.write_bytes(model_file.with_metadata(replaced, "y", b""))
    assert model_file.read_metadata(path, "y") == b""
    # Rewriting keeps the model's function.
    x, expected = run_interpreter(model)
    _, got = run_interpreter(path, x)
    np.testing.assert_array_equal(got, expected)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(model_file.TfliteFileError, match="missing.tflite: no such file"):
        model_file.load_model(tmp_path / "missing.tflite")
    text = tmp_path / "text.tflite"
    text.write_text("hello world, not a model")
    with pytest.raises(model_file.TfliteFileError, match="text.tflite: not a .tflite flatbuffer"):
        model_file.load_model(text)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(demo_model()[:64])
    with pytest.raises(model_file.TfliteFileError, match="truncated.tflite"):
        model_file.load_model(truncated)


def test_builder_matches_a_numpy_reference():
    rng = np.random.default_rng(0)
    g = GraphBuilder()
    x = g.input("x", (2, 7, 6, 3))
    w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    mask = (rng.random((4, 3)) > 0.5).astype(np.float32)
    y = g.masked_conv2d(x, w, b, mask, stride=2, padding="same", activation="relu")
    model = g.finish([y])
    inp, out = run_interpreter(model, xnnpack=False)
    ref = conv2d_nhwc(inp, w, np.zeros(4), stride=2, padding="same")
    ref = np.maximum(ref * mask[None, :, :, None] + b, 0)
    assert ref.shape == (2, 4, 3, 4)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_conv_output_size():
    assert conv_output_size(224, 7, 2, 1, "same") == 112
    assert conv_output_size(226, 3, 2, 1, "valid") == 112
    assert conv_output_size(10, 3, 1, 2, "valid") == 6
    with pytest.raises(ValueError):
        conv_output_size(10, 3, 1, 1, "full")


def test_reading_a_tflite_does_not_import_torch(repo):
    code = ("import sys, actsparse, actsparse.tflite.model_file as f, actsparse.tflite.builder as b;"
            "f.read_metadata(b.demo_model(), 'x'); actsparse.delegate_library_path();"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'torch','tensorflow','jax','litert_torch'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
