"""Structured pruning to a MAC budget (actsparse.torch.prune, torch-pruning's
DepGraph) combined with activation masks: budgets met, masks kept, odd
channel counts, the detector's C2f split rewritten exactly, and pruned
models converted and run exact through the delegate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import actsparse
from actsparse.converter.convert import convert_file
from actsparse.torch import attach_masks, masked_convs
from actsparse.torch.models import randomize_batchnorm, resnet18, yolo_detector
from actsparse.torch.prune import count_macs, prune_to_macs
from conftest import OUTPUT_TOLERANCE, relative_error


def test_resnet18_pruned_to_half_keeps_its_masks():
    torch.manual_seed(0)
    model = randomize_batchnorm(resnet18(10)).eval()
    x = torch.zeros(1, 3, 64, 64)
    attach_masks(model, x, 0.3, seed=2)
    masks = {name: m.activation_mask.clone() for name, m in masked_convs(model).items()}
    before = count_macs(model, x)[0]
    report = prune_to_macs(model, x, 0.5)
    assert 0.45 <= report.mac_fraction <= 0.5 and report.macs_before == before
    assert count_macs(model, x)[0] == report.macs_after
    assert report.layers["conv1"][0] == 64 and report.layers["conv1"][1] < 64
    assert any(after % 2 for _, after in report.layers.values())  # odd channel counts, as pruning leaves
    assert model.fc.out_features == 10
    after = masked_convs(model)
    assert set(after) == set(masks)
    for name, mask in masks.items():
        assert torch.equal(after[name].activation_mask, mask)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"mac_fraction must be in \(0, 1\]"):
        prune_to_macs(model, x, 0.0)


def test_c2f_unsplit_is_exact():
    torch.manual_seed(0)
    model = randomize_batchnorm(yolo_detector(3, (8, 16, 16, 32, 32), (1, 1, 1, 1))).eval()
    attach_masks(model, torch.zeros(1, 3, 64, 64), 0.3, seed=1)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        for module in model.modules():
            if hasattr(module, "unsplit"):
                module.unsplit()
        got = model(x)
    for a, b in zip(got, expected):
        assert torch.equal(a, b)


def test_pruned_masked_detector_runs_exact_in_the_delegate(tmp_path):
    torch.manual_seed(0)
    model = randomize_batchnorm(yolo_detector(3, (8, 16, 32, 64, 64), (1, 1, 1, 1))).eval()
    x = torch.zeros(1, 3, 64, 96)
    attach_masks(model, x, 0.3, seed=3)
    report = prune_to_macs(model, x, 0.6)
    assert report.mac_fraction <= 0.6
    assert [o.shape[1] for o in model(torch.zeros(1, 3, 64, 96))] == [67, 67, 67]  # heads keep their channels
    torch.save(model, tmp_path / "pruned.pt")
    conversion = convert_file(tmp_path / "pruned.pt", tmp_path / "pruned.tflite", verify_samples=1)
    assert conversion.verified and len(conversion.layers) == len(masked_convs(model))
    inputs = np.random.default_rng(0).standard_normal((1, 3, 64, 96)).astype(np.float32)

    def outputs(interpreter):
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], inputs)
        interpreter.invoke()
        return {d["name"]: interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()}

    builtin = outputs(actsparse.Interpreter(tmp_path / "pruned.tflite", use_delegate=False, xnnpack=False))
    assert len(builtin) == 3
    for threads in (1, 2):
        interpreter = actsparse.Interpreter(tmp_path / "pruned.tflite", num_threads=threads)
        assert interpreter.delegate_report.partitions == 1
        assert interpreter.delegate_report.claimed_chains == len(conversion.layers)
        for name, got in outputs(interpreter).items():
            assert relative_error(got, builtin[name]) <= OUTPUT_TOLERANCE, name


def test_prune_sparsify_example_end_to_end(tmp_path):
    """Smallest settings: one budget, pruned alone and pruned + AS, trained,
    converted, timed; the table, JSON and plot written."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    out = tmp_path / "prune"
    result = subprocess.run([sys.executable, str(REPO / "examples" / "prune_sparsify.py"), "--budgets", "0.5",
                             "--epochs", "2", "--latency-size", "32", "--runs", "3", "--out", str(out), "--quiet"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "pruning.json").read_text())
    assert [(r["budget"], r["method"]) for r in data["rows"]] == [(0.5, "pruned"), (0.5, "pruned + AS")]
    for row in data["rows"]:
        assert 0.4 <= row["mac_fraction"] <= 0.5 and 0 < row["top1"] <= 100 and row["speedup"] > 0
        claimed, total = row["claimed"].split("/")
        assert claimed == total
    assert "| 50% |" in (out / "pruning.md").read_text() and (out / "pruning.png").stat().st_size > 1000
    bad = subprocess.run([sys.executable, str(REPO / "examples" / "prune_sparsify.py"), "--budgets", "1.5",
                          "--out", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2 and "budgets are fractions of the MACs in (0, 1]" in bad.stderr
