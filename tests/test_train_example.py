"""examples/train.py end to end on the offline digits data: train -> the saved
model converts with converter/convert.py (verified against PyTorch) -> the
delegate claims every masked conv; resume reproduces an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "2"}
SMALL = ["--data", "digits", "--image-size", "16", "--batch-size", "32", "--quiet", "--threads", "2"]


def train(repo, out, *extra):
    result = subprocess.run([sys.executable, str(repo / "examples" / "train.py"), *SMALL, "--out", str(out), *extra],
                            capture_output=True, text=True, timeout=900, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


def test_train_convert_and_delegate(repo, tmp_path, delegate_path):
    import actsparse

    out = tmp_path / "run"
    metrics = train(repo, out, "--epochs", "3", "--sparsity", "0.3", "--begin", "0.1", "--end", "0.6")
    assert metrics["top1"] > 50.0, metrics  # digits: even 3 short epochs learn something
    assert all(abs(s - 0.3) < 0.07 for s in metrics["layer_sparsity"].values()), metrics["layer_sparsity"]
    assert (out / "masks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tflite = out / "model.tflite"
    result = subprocess.run([sys.executable, str(repo / "converter" / "convert.py"), str(out / "model.pt"),
                             str(tflite), "--json", "--strict"], capture_output=True, text=True, timeout=600, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    interpreter = actsparse.Interpreter(tflite, num_threads=1)
    assert interpreter.delegate_report.claimed_chains == 5, interpreter.delegate_report.log
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    assert tuple(detail["shape"]) == (1, 3, 16, 16)


def test_resume_continues_the_same_run(repo, tmp_path):
    whole = train(repo, tmp_path / "whole", "--epochs", "3", "--sparsity", "0.2")
    part = tmp_path / "part"
    stopped = subprocess.run([sys.executable, str(repo / "examples" / "train.py"), *SMALL, "--out", str(part),
                              "--epochs", "3", "--sparsity", "0.2", "--stop-after", "2"],
                             capture_output=True, text=True, timeout=900, env=ENV)
    assert stopped.returncode == 0 and "continue with --resume" in stopped.stderr, stopped.stderr[-2000:]
    assert not (part / "model.pt").exists()
    resumed = train(repo, part, "--epochs", "3", "--sparsity", "0.2", "--resume")
    assert [h["loss"] for h in resumed["history"]] == pytest.approx([h["loss"] for h in whole["history"]], rel=1e-5)
    assert resumed["top1"] == pytest.approx(whole["top1"])
    assert resumed["layer_sparsity"] == whole["layer_sparsity"]


def test_bad_dataset_is_a_clear_error(repo, tmp_path):
    (tmp_path / "data" / "train").mkdir(parents=True)
    result = subprocess.run([sys.executable, str(repo / "examples" / "train.py"), "--data", str(tmp_path / "data"),
                             "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode != 0
    assert "val/" in result.stderr and str(tmp_path / "data") in result.stderr
