"""actsparse.torch.resample and convert --resample-masks: masks for another input size."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

import actsparse
from actsparse.tflite import model_file
from actsparse.converter import ConversionError
from actsparse.converter.convert import convert_file
from actsparse.format import METADATA_NAME, decode
from actsparse.runtime import convert_again_hint
from actsparse.torch import MaskError, attach_masks, masked_convs
from actsparse.torch.models import mobilenet_v2, randomize_batchnorm
from actsparse.torch.resample import resample_mask, resample_masks
from conftest import REPO, relative_error, run_interpreter
from models_for_tests import ResidualNet


def _random_mask(h: int, w: int, sparsity: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w)) >= sparsity).astype(np.float32)


@pytest.mark.parametrize("size", [(7, 9), (14, 18), (5, 4), (1, 1), (23, 31)])
@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.3, 0.5, 0.9, 1.0])
def test_sparsity_kept_as_closely_as_the_pixel_count_allows(size, sparsity):
    source = _random_mask(10, 12, sparsity, seed=3)
    result = resample_mask(source, *size)
    assert result.shape == size and set(np.unique(result)) <= {0.0, 1.0}
    source_sparsity = float((source == 0).mean())
    assert int((result == 0).sum()) == round(source_sparsity * size[0] * size[1])


def test_same_size_is_the_identity():
    source = _random_mask(11, 13, 0.3, seed=1)
    np.testing.assert_array_equal(resample_mask(source, 11, 13), source)


def test_integer_upsampling_is_nearest():
    """2x: every source pixel becomes a 2x2 block, and the sparsity is exact, so nothing is flipped."""
    source = _random_mask(6, 5, 0.4, seed=2)
    np.testing.assert_array_equal(resample_mask(source, 12, 10), np.kron(source, np.ones((2, 2), np.float32)))


def test_downsampling_follows_the_layout():
    """A mask whose left half is masked stays left-half masked at half the size."""
    source = np.ones((16, 16), np.float32)
    source[:, :8] = 0
    np.testing.assert_array_equal(resample_mask(source, 8, 8)[:, :4], 0)
    np.testing.assert_array_equal(resample_mask(source, 8, 8)[:, 4:], 1)


def test_flips_where_nearest_is_least_sure():
    """3x3 -> 2x2 of a mask with one zero at the centre: nearest samples only
    corners (no zero); round(1/9*4) = 0 zeros anyway. 4x4 with a masked 2x2 in
    the top-left corner -> 3x3 needs round(0.25*9) = 2 zeros: the corner first."""
    source = np.ones((4, 4), np.float32)
    source[:2, :2] = 0
    result = resample_mask(source, 3, 3)
    assert int((result == 0).sum()) == 2 and result[0, 0] == 0
    assert result[2, 2] == 1


def test_bad_masks_are_refused():
    with pytest.raises(MaskError, match="2-D"):
        resample_mask(np.ones((2, 2, 2)), 3, 3)
    with pytest.raises(MaskError, match="0x3"):
        resample_mask(np.ones((2, 2)), 0, 3)


def test_resample_masks_fits_a_network_to_another_size():
    model = randomize_batchnorm(ResidualNet()).eval()
    attach_masks(model, torch.zeros(1, 3, 20, 28), 0.3, seed=11)
    before = {n: m.activation_mask.clone() for n, m in masked_convs(model).items()}
    report = resample_masks(model, (1, 3, 40, 36))
    assert [r.name for r in report] == list(before)
    with torch.no_grad():
        model(torch.zeros(2, 3, 40, 36))  # runs: every mask fits its conv at the new size
    for row in report:
        conv = masked_convs(model)[row.name]
        assert row.old_size == tuple(before[row.name].shape)
        assert row.new_size == tuple(conv.activation_mask.shape) != row.old_size
        h, w = row.new_size
        assert abs(row.new_sparsity - row.old_sparsity) <= 0.5 / (h * w) + 1e-12
        assert row.new_sparsity == conv.sparsity
        assert conv.example_input_shape.tolist() == [1, 3, 40, 36]


def test_resample_masks_leaves_the_model_as_it_was_when_it_cannot_run():
    """The conv runs (its mask is refitted on the way), the Linear after it cannot."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(256, 2))
    attach_masks(model, torch.zeros(1, 3, 8, 8), 0.3, seed=11)
    before = {n: m.activation_mask.clone() for n, m in masked_convs(model).items()}
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        resample_masks(model, (1, 3, 10, 10))
    for name, conv in masked_convs(model).items():
        assert torch.equal(conv.activation_mask, before[name])


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    torch.manual_seed(0)
    model = randomize_batchnorm(mobilenet_v2()).eval()
    attach_masks(model, torch.zeros(1, 3, 64, 64), 0.3, seed=4)
    path = tmp_path_factory.mktemp("mnv2") / "mnv2.pt"
    torch.save(model, path)
    return model, path


def test_convert_for_another_size_with_resampled_masks(mobilenet, tmp_path, delegate_path):
    model, path = mobilenet
    out = tmp_path / "mnv2_96.tflite"
    report = convert_file(path, out, input_shape=(1, 3, 96, 80), resample_masks=True)
    assert report.verified and report.input_shape == [1, 3, 96, 80]
    expected = copy.deepcopy(model)
    rows = resample_masks(expected, (1, 3, 96, 80))
    assert report.resampled == [{"name": r.name, "old_size": list(r.old_size), "new_size": list(r.new_size),
                                 "old_sparsity": round(r.old_sparsity, 6), "new_sparsity": round(r.new_sparsity, 6)}
                                for r in rows]
    assert len(rows) == 52 and rows[0].new_size == (48, 40)
    # The metadata lists the resampled masks, every chain.
    layers = {l.name: l for l in decode(model_file.read_metadata(out, METADATA_NAME))}
    assert set(layers) == {r.name for r in rows}
    for name, conv in masked_convs(expected).items():
        np.testing.assert_array_equal(layers[name].mask, conv.activation_mask.numpy().astype(np.uint8))
    # The .tflite is the resampled model, and the delegate runs every chain sparse.
    x = np.random.default_rng(1).standard_normal((1, 3, 96, 80)).astype(np.float32)
    with torch.no_grad():
        reference = expected(torch.from_numpy(x)).numpy()
    it = actsparse.Interpreter(out, num_threads=2)
    assert it.delegate_report.claimed_chains == 52, it.delegate_report.log
    _, got = run_interpreter(out, x, delegates=[actsparse.load_delegate()])
    assert relative_error(got, reference) <= 1e-4


def test_the_new_size_is_required_and_the_misfit_error_points_to_the_option(mobilenet, tmp_path):
    _, path = mobilenet
    with pytest.raises(ConversionError, match=r"--resample-masks needs the new size: pass --input-shape"):
        convert_file(path, tmp_path / "o.tflite", resample_masks=True)
    with pytest.raises(ConversionError, match=r"does not fit the masks: .*add --resample-masks"):
        convert_file(path, tmp_path / "o.tflite", input_shape=(1, 3, 96, 96))
    assert not (tmp_path / "o.tflite").exists()


def test_dense_baseline_at_another_size(mobilenet, tmp_path):
    """--dense drops the masks; at another input size it needs no --resample-masks."""
    model, path = mobilenet
    report = convert_file(path, tmp_path / "d.tflite", input_shape=(1, 3, 96, 96), dense=True)
    assert report.verified and report.layers == [] and report.resampled == []
    assert model_file.read_metadata(tmp_path / "d.tflite", METADATA_NAME) is None


def test_cli_reports_each_layer(mobilenet, tmp_path):
    _, path = mobilenet
    done = subprocess.run([sys.executable, str(REPO / "converter" / "convert.py"), str(path),
                           str(tmp_path / "o.tflite"), "--input-shape", "1,3,48,48", "--resample-masks",
                           "--no-verify"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resampled 52 mask(s) to the new input size" in done.stdout
    assert "features.0.0                 32x32 -> 24x24       0.300 -> 0.300" in done.stdout
    assert "features.18.0                2x2 -> 2x2           0.250 -> 0.250" in done.stdout


def test_the_runtime_resize_error_names_the_command():
    assert convert_again_hint([1, 3, 64, 64], [2, 3, 96, 80]).startswith(
        "convert the model again for it: python converter/convert.py MODEL.pt OUT.tflite "
        "--input-shape 2,3,96,80 --resample-masks")
    assert "--input-shape 1,3,96,64 --nhwc --resample-masks" in convert_again_hint([1, 64, 64, 3], [1, 96, 64, 3])
    assert "--input-shape 1,3,64,96 --nhwc --resample-masks" in convert_again_hint([1, 64, 64, 3], [1, 64, 96, 3])
    assert "--input-shape 1,3,96,64 --resample-masks" in convert_again_hint([1, 3, 64, 64], [1, 3, 96, 64])


def test_convert_names_a_model_that_cannot_run_at_the_new_size(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(256, 2))
    attach_masks(model, torch.zeros(1, 3, 8, 8), 0.3, seed=11)
    torch.save(model, tmp_path / "m.pt")
    with pytest.raises(ConversionError, match=r"does not run on input shape \(1, 3, 10, 10\): RuntimeError"):
        convert_file(tmp_path / "m.pt", tmp_path / "o.tflite", input_shape=(1, 3, 10, 10), resample_masks=True)
