"""Detection training: the synthetic scenes, the YOLO-format folder reader,
the loss's assignment, mAP through pycocotools, and examples/train_detect.py
end to end (train, resume, convert, run with the delegate)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from actsparse.detect import Detections, mean_average_precision
from actsparse.torch.data import DatasetError, SyntheticScenes, YoloFolder, detection_collate, write_yolo_folder
from actsparse.torch.detection import DetectionLoss, assign
from actsparse.torch.models import yolo_detector
from conftest import REPO

TRAIN_DETECT = [sys.executable, str(REPO / "examples" / "train_detect.py")]


def test_synthetic_scenes_are_deterministic_and_valid():
    a, b = SyntheticScenes(12, 96, 4, seed=3), SyntheticScenes(12, 96, 4, seed=3)
    for i in range(12):
        (xa, ta), (xb, tb) = a[i], b[i]
        assert xa.shape == (3, 96, 96) and xa.dtype == torch.float32 and 0 <= float(xa.min()) <= float(xa.max()) <= 1
        assert torch.equal(xa, xb) and torch.equal(ta, tb)
        assert ta.shape[1] == 5 and 1 <= len(ta) <= 4
        assert ((ta[:, 0] >= 0) & (ta[:, 0] < 4)).all() and ((ta[:, 1:] > 0) & (ta[:, 1:] <= 1)).all()
    assert not torch.equal(a[0][0], SyntheticScenes(12, 96, 4, seed=4)[0][0])
    assert {int(c) for i in range(12) for c in a[i][1][:, 0]} == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="num_classes must be 1..5"):
        SyntheticScenes(4, 64, 6)


def test_yolo_folder_reads_what_the_generator_wrote(tmp_path):
    scenes = SyntheticScenes(6, 64, 3, seed=1)
    root = write_yolo_folder(scenes, tmp_path / "set")
    folder = YoloFolder(root, 64)
    assert len(folder) == 6 and folder.class_names == ["circle", "square", "triangle"]
    for i in range(6):
        (x, t), (xs, ts) = folder[i], scenes[i]
        np.testing.assert_allclose(t.numpy(), ts.numpy(), atol=1e-6)
        np.testing.assert_allclose(x.numpy(), xs.numpy(), atol=1.5 / 255)
    images, targets = detection_collate([folder[0], folder[1]])
    assert images.shape == (2, 3, 64, 64) and len(targets) == 2


def test_yolo_folder_names_bad_input(tmp_path):
    with pytest.raises(DatasetError, match="no images/ directory"):
        YoloFolder(tmp_path)
    root = write_yolo_folder(SyntheticScenes(2, 64, 3, seed=1), tmp_path / "set")
    (root / "labels" / "000001.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.5 oops 0.2 0.2\n")
    with pytest.raises(DatasetError, match=r"000001.txt:2: expected 'class cx cy w h'"):
        YoloFolder(root)
    (root / "labels" / "000001.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DatasetError, match=r"000001.txt:1: class 7 but classes.txt names 3"):
        YoloFolder(root)
    (root / "labels" / "000001.txt").write_text("1 0.5 1.5 0.2 0.2\n")
    with pytest.raises(DatasetError, match=r"must be in \[0, 1\]"):
        YoloFolder(root)


def test_assignment_gives_every_box_a_cell_and_the_smaller_box_its_overlap():
    centres, strides = [], []
    for s in (8, 16, 32):
        ys, xs = torch.meshgrid(torch.arange(64 // s), torch.arange(64 // s), indexing="ij")
        centres.append((torch.stack([xs, ys], -1).reshape(-1, 2).float() + 0.5) * s)
        strides.append(torch.full((len(centres[-1]),), float(s)))
    centres, strides = torch.cat(centres), torch.cat(strides)
    boxes = torch.tensor([[0.0, 0.0, 60.0, 60.0],      # large
                          [10.0, 10.0, 26.0, 26.0],    # inside the large one
                          [41.0, 41.0, 43.0, 43.0]])   # tiny, between cell centres
    owner = assign(boxes, centres, strides, reg_max=16)
    assert {int(o) for o in owner if o >= 0} == {0, 1, 2}
    small = torch.nonzero(owner == 1).flatten()
    inside_small = ((centres[:, 0] > 10) & (centres[:, 0] < 26) & (centres[:, 1] > 10) & (centres[:, 1] < 26)
                    & (strides == 8))
    assert set(torch.nonzero(inside_small).flatten().tolist()) <= set(small.tolist())


def test_the_loss_trains_a_detector_on_a_batch():
    """Twenty steps on one batch of four scenes: the loss falls by half."""
    torch.manual_seed(0)
    scenes = SyntheticScenes(4, 64, 2, seed=2)
    images, targets = detection_collate([scenes[i] for i in range(4)])
    model = yolo_detector(2, (8, 16, 16, 32, 32), (1, 1, 1, 1))
    model.head.reset_biases(64)
    criterion = DetectionLoss(2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss, parts = criterion(model(images), targets, (64, 64))
        assert parts["positives"] >= sum(len(t) for t in targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def test_mean_average_precision_of_perfect_and_shifted_detections():
    truths = [SyntheticScenes(8, 64, 3, seed=5)[i][1].numpy() for i in range(8)]

    def detections(shift: float):
        out = []
        for t in truths:
            boxes = np.stack([(t[:, 1] - t[:, 3] / 2) * 64 + shift, (t[:, 2] - t[:, 4] / 2) * 64,
                              (t[:, 1] + t[:, 3] / 2) * 64 + shift, (t[:, 2] + t[:, 4] / 2) * 64], 1)
            out.append(Detections(boxes.astype(np.float32), np.ones(len(t), np.float32), t[:, 0].astype(np.int64)))
        return out

    perfect = mean_average_precision(detections(0.0), truths, (64, 64), 3)
    assert perfect.map50 == pytest.approx(1.0) and perfect.map50_95 == pytest.approx(1.0)
    assert perfect.boxes == perfect.detections == sum(len(t) for t in truths)
    shifted = mean_average_precision(detections(3.0), truths, (64, 64), 3)
    assert shifted.map50_95 < 0.9
    with pytest.raises(ValueError, match="2 detection lists for 8 images"):
        mean_average_precision(detections(0.0)[:2], truths, (64, 64), 3)


def test_train_detect_end_to_end(tmp_path, delegate_path):
    """Smallest settings: train with sparsity, stop, resume, then convert the
    model and run it with the delegate, every chain claimed."""
    out = tmp_path / "run"
    common = ["--epochs", "2", "--train-images", "24", "--val-images", "8", "--batch-size", "8",
              "--image-size", "64", "--sparsity", "0.3", "--skip", "head.cls.*", "--out", str(out), "--quiet"]
    first = subprocess.run(TRAIN_DETECT + common + ["--stop-after", "1"], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "stopped after epoch 1/2; continue with --resume" in first.stderr
    second = subprocess.run(TRAIN_DETECT + common + ["--resume"], capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert 0 <= metrics["map50"] <= 1 and metrics["layer_sparsity"] and metrics["skip"] == ["head.cls.*"]
    assert not any(name.startswith("head.cls") for name in metrics["layer_sparsity"])
    assert any(name.startswith("head.box") for name in metrics["layer_sparsity"])
    assert abs(np.mean(list(metrics["layer_sparsity"].values())) - 0.3) < 0.02
    assert (out / "masks.png").is_file()

    from actsparse.converter.convert import convert_file
    import actsparse

    report = convert_file(out / "model.pt", tmp_path / "det.tflite", verify_samples=1)
    assert report.verified and len(report.outputs) == 3
    delegate = actsparse.Interpreter(tmp_path / "det.tflite", num_threads=2).delegate_report
    assert delegate.partitions == 1 and delegate.claimed_chains == delegate.listed_chains == len(report.layers) > 30


def test_train_detect_names_bad_arguments(tmp_path):
    result = subprocess.run(TRAIN_DETECT + ["--image-size", "100", "--out", str(tmp_path)], capture_output=True,
                            text=True)
    assert result.returncode == 2 and "--image-size must be a multiple of 32" in result.stderr
    result = subprocess.run(TRAIN_DETECT + ["--data", str(tmp_path / "nothing"), "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "no images/ directory" in result.stderr and "Traceback" not in result.stderr
