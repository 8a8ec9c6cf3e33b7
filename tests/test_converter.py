"""converter/convert.py and actsparse convert: exactness, annotation, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from actsparse.tflite import model_file
from actsparse.converter import ConversionError
from actsparse.converter.convert import convert_file
from actsparse.format import METADATA_NAME, decode
from actsparse.inspect import inspect_model
from actsparse.torch import MaskedConv2d, attach_masks, masked_convs, set_mask
from actsparse.torch.models import mobilenet_v2, mobilenet_v3_large, randomize_batchnorm, resnet18
from conftest import REPO, run_interpreter
from models_for_tests import DepthwiseNet, GroupedNet, MultiOutputNet, ResidualNet

CONVERT = [sys.executable, str(REPO / "converter" / "convert.py")]


def _save(model: torch.nn.Module, path: Path) -> Path:
    torch.save(model, path)
    return path


def _check_exact(model, tflite: Path, input_shape, *, nhwc=False, seed=1, samples=2):
    """Fresh random inputs: .tflite (XNNPACK) vs PyTorch, relative to output scale."""
    rng = np.random.default_rng(seed)
    for _ in range(samples):
        x = rng.standard_normal(input_shape).astype(np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        _, got = run_interpreter(tflite, x.transpose(0, 2, 3, 1).copy() if nhwc else x)
        if nhwc and got.ndim == 4:
            got = got.transpose(0, 3, 1, 2)
        scale = max(float(np.abs(expected).max()), 1e-6)
        assert float(np.abs(got - expected).max()) <= 1e-4 * scale


def _check_metadata_matches_masks(model, tflite: Path, expect_annotated: set[str]):
    layers = {l.name: l for l in decode(model_file.read_metadata(tflite, METADATA_NAME))}
    assert set(layers) == expect_annotated
    for name, module in masked_convs(model).items():
        if name in layers:
            np.testing.assert_array_equal(layers[name].mask, module.activation_mask.numpy().astype(np.uint8))
            assert abs(layers[name].sparsity - module.sparsity) < 1e-9
    inspect_model(tflite)  # op codes, connectivity and mask constants agree with the graph
    return layers


@pytest.fixture(scope="module")
def residual(tmp_path_factory):
    torch.manual_seed(0)
    model = randomize_batchnorm(ResidualNet()).eval()
    attach_masks(model, torch.zeros(1, 3, 20, 28), 0.3, seed=11)
    return model, _save(model, tmp_path_factory.mktemp("res") / "residual.pt")


def test_residual_net(residual, tmp_path):
    model, path = residual
    out = tmp_path / "r.tflite"
    report = convert_file(path, out)
    assert report.verified and report.relative_error <= 1e-4
    assert report.input_shape == [1, 3, 20, 28] and report.layout == "NCHW"
    layers = _check_metadata_matches_masks(model, out, {"stem", "conv1", "conv2", "down", "dilated", "head"})
    assert layers["stem"].pad_op >= 0 and layers["conv1"].pad_op >= 0   # padded stride-2 convs
    assert layers["down"].pad_op == -1 and layers["conv2"].pad_op == -1
    assert layers["head"].add_op == -1          # conv with bias, no BN: CONV -> MUL only
    assert all(layers[n].add_op >= 0 for n in ("stem", "conv1", "conv2", "down", "dilated"))
    _check_exact(model, out, (1, 3, 20, 28))


def test_batch_two(residual, tmp_path):
    model, path = residual
    out = tmp_path / "r2.tflite"
    report = convert_file(path, out, input_shape=(2, 3, 20, 28))
    assert report.input_shape == [2, 3, 20, 28] and len(report.layers) == 6
    _check_exact(model, out, (2, 3, 20, 28))


def test_exported_program_input(residual, tmp_path):
    model, _ = residual
    program = torch.export.export(model, (torch.zeros(1, 3, 20, 28),))
    pt2 = tmp_path / "residual.pt2"
    torch.export.save(program, pt2)
    out = tmp_path / "r.tflite"
    report = convert_file(pt2, out)
    assert report.verified and len(report.layers) == 6
    _check_metadata_matches_masks(model, out, {"stem", "conv1", "conv2", "down", "dilated", "head"})


@pytest.fixture(scope="module")
def depthwise(tmp_path_factory):
    torch.manual_seed(1)
    model = randomize_batchnorm(DepthwiseNet()).eval()
    shape = (1, 3, 16, 16)
    attach_masks(model, torch.zeros(shape), {"dw1": 0.3, "dw2": 0.5}, seed=3)
    set_mask(model, "pw0", np.ones((16, 16)), shape)                  # all ones
    set_mask(model, "pw4", np.zeros((8, 8)), shape)                   # all zeros
    shared = model.dw2.activation_mask.numpy()
    set_mask(model, "pw3", shared, shape)                             # identical to dw2's
    return model, _save(model, tmp_path_factory.mktemp("dw") / "dw.pt")


@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc"])
def test_depthwise_net(depthwise, tmp_path, nhwc):
    model, path = depthwise
    out = tmp_path / "d.tflite"
    report = convert_file(path, out, nhwc=nhwc)
    assert report.verified and not report.unannotated
    assert report.layout == ("NHWC" if nhwc else "NCHW")
    assert report.input_shape == ([1, 16, 16, 3] if nhwc else [1, 3, 16, 16])
    assert any("pw0: all-ones" in n for n in report.notes)
    assert any("pw4: all-zeros" in n for n in report.notes)
    layers = _check_metadata_matches_masks(model, out, {"dw1", "dw2", "pw3"})
    assert layers["dw2"].mask_tensor == layers["pw3"].mask_tensor     # deduplicated constant
    ops = {r.layer.name: r.op_name for r in inspect_model(out).layers}
    assert ops == {"dw1": "DEPTHWISE_CONV_2D", "dw2": "DEPTHWISE_CONV_2D", "pw3": "CONV_2D"}
    _check_exact(model, out, (1, 3, 16, 16), nhwc=nhwc)


@pytest.mark.parametrize("name, factory, sparsity, skip_1x1, expected", [
    ("resnet18", resnet18, 0.3, True, 17),
    ("mobilenet_v2", mobilenet_v2, 0.2, False, 52),
])
def test_reference_models_end_to_end(tmp_path, name, factory, sparsity, skip_1x1, expected):
    model = randomize_batchnorm(factory()).eval()
    attach_masks(model, torch.zeros(1, 3, 224, 224), sparsity, skip_1x1=skip_1x1, seed=2)
    out = tmp_path / f"{name}.tflite"
    report = convert_file(_save(model, tmp_path / f"{name}.pt"), out, verify_samples=1)
    assert report.verified and len(report.layers) == expected and not report.unannotated
    _check_metadata_matches_masks(model, out, set(masked_convs(model)))
    _check_exact(model, out, (1, 3, 224, 224), samples=1)


def test_mobilenet_v3_large_through_the_delegate(tmp_path, delegate_path):
    # Networks the benchmark table does not use: 5x5 depthwise convs, squeeze-
    # excitation (1x1 convs on a 1x1 map: their masks keep their one pixel),
    # hard-swish, and a non-square input.
    import actsparse

    model = randomize_batchnorm(mobilenet_v3_large()).eval()
    attach_masks(model, torch.zeros(1, 3, 96, 128), 0.3, seed=4)
    out = tmp_path / "mnv3.tflite"
    report = convert_file(_save(model, tmp_path / "mnv3.pt"), out, verify_samples=1)
    annotated = {name for name in masked_convs(model) if ".block.2.fc" not in name and ".block.3.fc" not in name}
    assert report.verified and len(report.layers) == len(annotated) == 46 and not report.unannotated
    _check_metadata_matches_masks(model, out, annotated)
    _check_exact(model, out, (1, 3, 96, 128), samples=1)
    x = np.random.default_rng(5).standard_normal((1, 3, 96, 128)).astype(np.float32)
    for threads in (1, 2):
        interpreter = actsparse.Interpreter(out, num_threads=threads)
        assert interpreter.claimed_chains == 46
        report = interpreter.delegate_report
        assert report.partitions == 1 and report.claimed_nodes == report.total_nodes, report.refusals
        _, plain = run_interpreter(out, x)
        _, delegated = run_interpreter(out, x, delegates=[actsparse.load_delegate(num_threads=threads)])
        assert float(np.abs(delegated - plain).max()) <= 1e-5 * float(np.abs(plain).max())


# ---- bad input -------------------------------------------------------------

@pytest.mark.parametrize("kind,nhwc", [("dict", False), ("tuple", False), ("dict", True), ("tuple", True)])
def test_several_outputs(tmp_path, kind, nhwc):
    """A detector-like model with several outputs (flat dict, nested tuple) is
    converted and verified output by output, each against its own scale, and
    runs with the delegate as one partition, every output exact."""
    import actsparse

    torch.manual_seed(0)
    model = MultiOutputNet(kind).eval()
    attach_masks(model, torch.zeros(1, 3, 16, 12), 0.3, seed=1)
    out = tmp_path / "multi.tflite"
    report = convert_file(_save(model, tmp_path / "multi.pt"), out, nhwc=nhwc)
    names = ["boxes", "scores", "pooled"] if kind == "dict" else ["output_0", "output_1", "output_2"]
    assert [o["name"] for o in report.outputs] == names
    assert [o["shape"] for o in report.outputs] == [[1, 6, 8, 6], [1, 5, 16, 12], [1, 6]]
    assert report.outputs[1]["scale"] > 20 * report.outputs[0]["scale"]
    assert report.verified and all(o["relative_error"] <= 1e-5 for o in report.outputs)
    assert len(report.layers) == 3
    shape = (1, 16, 12, 3) if nhwc else (1, 3, 16, 12)
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    runs = []
    for use in (False, True):
        interpreter = actsparse.Interpreter(out, use_delegate=use, num_threads=2)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        runs.append({d["name"]: interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()})
        if use:
            assert interpreter.delegate_report.partitions == 1
            assert interpreter.delegate_report.claimed_chains == 3
    assert runs[0].keys() == runs[1].keys() and len(runs[0]) == 3
    for name, expected in runs[0].items():
        assert float(np.abs(runs[1][name] - expected).max()) <= 1e-5 * float(np.abs(expected).max()), name


def test_several_outputs_on_the_command_line(tmp_path):
    model = MultiOutputNet("dict").eval()
    attach_masks(model, torch.zeros(1, 3, 16, 12), 0.3, seed=1)
    result = subprocess.run(CONVERT + [str(_save(model, tmp_path / "m.pt")), str(tmp_path / "m.tflite"),
                                       "--import", str(REPO / "tests" / "models_for_tests.py")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "verified against PyTorch, 3 outputs, each against its own scale" in result.stdout
    for name in ("boxes", "scores", "pooled"):
        assert f"  {name} " in result.stdout


def test_missing_file(tmp_path):
    with pytest.raises(ConversionError, match="nope.pt: no such file"):
        convert_file(tmp_path / "nope.pt", tmp_path / "o.tflite")


def test_not_a_pytorch_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    with pytest.raises(ConversionError, match="notes.pt: not a PyTorch file"):
        convert_file(path, tmp_path / "o.tflite")


def test_torchscript_is_refused(tmp_path):
    path = tmp_path / "scripted.pt"
    with pytest.warns(DeprecationWarning):  # TorchScript itself is deprecated in torch 2.13
        torch.jit.save(torch.jit.script(GroupedNet()), path)
    with pytest.raises(ConversionError, match="TorchScript"):
        convert_file(path, tmp_path / "o.tflite")


def test_state_dict_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(ResidualNet().state_dict(), path)
    with pytest.raises(ConversionError, match="holds a dict .*not a model"):
        convert_file(path, tmp_path / "o.tflite")


def test_model_without_masks(tmp_path):
    path = _save(ResidualNet().eval(), tmp_path / "dense.pt")
    with pytest.raises(ConversionError, match="no activation masks .*nothing to annotate"):
        convert_file(path, tmp_path / "o.tflite")


@pytest.mark.parametrize("claim", ["graph", "chains"])
def test_grouped_masked_conv(tmp_path, claim, delegate_path):
    """A masked grouped conv (2 groups, not depthwise) is a CONV_2D chain whose
    filter has in_channels / groups inputs; the delegate runs it sparse."""
    torch.manual_seed(0)
    model = GroupedNet().eval()
    attach_masks(model, torch.zeros(1, 4, 9, 7), 0.4, seed=3)
    out = tmp_path / "g.tflite"
    report = convert_file(_save(model, tmp_path / "g.pt"), out)
    assert report.verified and [l["name"] for l in report.layers] == ["conv"]
    _check_exact(model, out, (1, 4, 9, 7))
    layers = _check_metadata_matches_masks(model, out, {"conv"})
    model_t = model_file.load_model(out.read_bytes())
    from actsparse.tflite.graph import SubgraphView
    view = SubgraphView(model_t, 0)
    assert view.ops[layers["conv"].conv_op].name == "CONV_2D"
    import actsparse
    interpreter = actsparse.Interpreter(out, claim=claim)
    assert interpreter.delegate_report.claimed_chains == 1, interpreter.delegate_report.log
    x = np.random.default_rng(4).standard_normal((1, 4, 9, 7)).astype(np.float32)
    _, builtin = run_interpreter(out, x, xnnpack=False)
    _, got = run_interpreter(out, x, delegates=[actsparse.load_delegate(claim=claim)])
    assert float(np.abs(got - builtin).max()) <= 1e-5 * max(float(np.abs(builtin).max()), 1e-6)


def test_input_shape_that_does_not_fit_the_masks(residual, tmp_path):
    _, path = residual
    with pytest.raises(ConversionError, match=r"\(1, 3, 40, 40\).*does not fit the masks: stem outputs 20x20 but its mask is 10x14"):
        convert_file(path, tmp_path / "o.tflite", input_shape=(1, 3, 40, 40))
    assert not (tmp_path / "o.tflite").exists()


def test_no_recorded_input_shape(tmp_path):
    model = ResidualNet().eval()
    attach_masks(model, torch.zeros(1, 3, 16, 16), 0.3)
    for module in masked_convs(model).values():
        module.example_input_shape.zero_()
    with pytest.raises(ConversionError, match="no input shape is recorded"):
        convert_file(_save(model, tmp_path / "m.pt"), tmp_path / "o.tflite")


# ---- command line ----------------------------------------------------------

def test_help_warns_about_pickles():
    for command in (CONVERT, [sys.executable, "-m", "actsparse.cli", "convert"]):
        out = subprocess.run(command + ["--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0
        assert "executes code from the" in out.stdout and "examples:" in out.stdout


def test_cli_json_and_errors(depthwise, tmp_path):
    _, path = depthwise
    out = tmp_path / "cli.tflite"
    imports = ["--import", str(REPO / "tests" / "models_for_tests.py")]
    result = subprocess.run(CONVERT + [str(path), str(out), "--json", "--verify-samples", "1"] + imports,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [l["name"] for l in report["layers"]] == ["dw1", "dw2", "pw3"]
    assert report["verified"] is True
    assert "[3/5] converting with litert-torch" in result.stderr      # progress on stderr
    # Nothing else: TensorFlow's native notices (absl, oneDNN) are not for the user.
    assert [line for line in result.stderr.splitlines() if not line.startswith("[")] == [], result.stderr
    bad = subprocess.run(CONVERT + [str(tmp_path / "missing.pt"), str(out)], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and "error: " in bad.stderr and "missing.pt: no such file" in bad.stderr
    shape = subprocess.run(CONVERT + [str(path), str(out), "--input-shape", "1,3,16"],
                           capture_output=True, text=True, timeout=120)
    assert shape.returncode == 2 and "not 4 positive sizes" in shape.stderr


_USER_MODELS = '''
import torch.nn as nn
class UserNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
    def forward(self, x):
        return self.bn(self.conv(x)).relu()
'''

_SAVE_USER_MODEL = '''
import sys, torch
sys.path.insert(0, sys.argv[1])
import usermodels
from actsparse.torch import attach_masks
m = usermodels.UserNet().eval()
attach_masks(m, torch.zeros(1, 3, 12, 12), 0.25)
torch.save(m, sys.argv[2])
'''


def test_user_classes_need_import(tmp_path):
    (tmp_path / "usermodels.py").write_text(_USER_MODELS)
    saved = tmp_path / "user.pt"
    subprocess.run([sys.executable, "-c", _SAVE_USER_MODEL, str(tmp_path), str(saved)], check=True,
                   timeout=120)
    out = tmp_path / "user.tflite"
    without = subprocess.run(CONVERT + [str(saved), str(out)], capture_output=True, text=True,
                             timeout=300, cwd="/")
    assert without.returncode == 1 and "--import" in without.stderr and "usermodels" in without.stderr
    with_import = subprocess.run(CONVERT + [str(saved), str(out), "--import",
                                            str(tmp_path / "usermodels.py"), "--json"],
                                 capture_output=True, text=True, timeout=600, cwd="/")
    assert with_import.returncode == 0, with_import.stderr
    assert [l["name"] for l in json.loads(with_import.stdout)["layers"]] == ["conv"]


def test_exported_program_is_fixed_to_its_shape(residual, tmp_path):
    model, _ = residual
    pt2 = tmp_path / "residual.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 20, 28),)), pt2)
    with pytest.raises(ConversionError, match=r"exported for input shape \(1, 3, 20, 28\) and is fixed to it"):
        convert_file(pt2, tmp_path / "o.tflite", input_shape=(1, 3, 40, 40))


class _StepsWhenRunEagerly(torch.nn.Module):
    """Exports as a conv; run eagerly in PyTorch it adds ``step`` where the conv's output
    passes 1.6 (``everywhere``: to every element): a .tflite that differs from PyTorch."""

    def __init__(self, everywhere: bool):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.everywhere = everywhere

    def forward(self, x):
        y = self.conv(x)
        if torch.compiler.is_exporting():
            return y
        return y + 0.5 if self.everywhere else y + (y > 1.6).float() * 0.5


@pytest.mark.parametrize("everywhere", [False, True])
def test_verification_failure_names_the_error_and_how_many_elements(tmp_path, everywhere):
    """A .tflite that differs from PyTorch is not written; the error gives the error, the
    share of elements off, and, when only a few are (a step), what to check and the options."""
    torch.manual_seed(0)
    path = _save(_StepsWhenRunEagerly(everywhere).eval(), tmp_path / "m.pt")
    with pytest.raises(ConversionError, match=r"verification failed: max abs error 0\.5 is .* of the output scale "
                       r".* \(tolerance 0\.0001\) in \d+ of 12288 elements") as failure:
        convert_file(path, tmp_path / "m.tflite", input_shape=(1, 3, 32, 32), dense=True, verify_samples=3)
    assert not (tmp_path / "m.tflite").exists()
    message = str(failure.value)
    assert ("Only a few elements differ" in message) != everywhere, message
    if everywhere:
        assert "in 12288 of 12288 elements (100%)" in message
    else:
        assert "--tolerance or --no-verify" in message
