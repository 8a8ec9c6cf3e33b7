"""The detector (actsparse.torch.models.yolo) and its numpy post-processing
(actsparse.detect): shapes, decoding against a PyTorch reference, NMS, bad
input, and the detector converted and run whole by the delegate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import actsparse
from actsparse.detect import decode, non_max_suppression, postprocess
from actsparse.torch import attach_masks
from actsparse.torch.models import randomize_batchnorm, yolo_detector
from conftest import OUTPUT_TOLERANCE, relative_error

SMALL = {"widths": (8, 16, 16, 32, 32), "depths": (1, 1, 1, 1)}


def test_detector_shapes_and_bad_input():
    model = yolo_detector(num_classes=3, **SMALL).eval()
    with torch.no_grad():
        outputs = model(torch.zeros(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outputs] == [(2, 67, 8, 12), (2, 67, 4, 6), (2, 67, 2, 3)]
    with pytest.raises(ValueError, match=r"multiples of 32, got \[1, 3, 100, 100\]"):
        model(torch.zeros(1, 3, 100, 100))
    with pytest.raises(ValueError, match="widths must be 5 sizes"):
        yolo_detector(widths=(8, 16))


def _reference(outputs, num_classes, reg_max, score_threshold, iou_threshold):
    """The same post-processing written independently in PyTorch: DFL as a
    dot product with the bin indices, all pairwise IoUs at once, a plain
    loop over the score order."""
    boxes, scores = [], []
    for o, stride in zip(outputs, (8, 16, 32)):
        o = torch.from_numpy(o).double()
        n, _, h, w = o.shape
        bins = o[:, :4 * reg_max].reshape(n, 4, reg_max, h, w).softmax(dim=2)
        dist = torch.einsum("nkrhw,r->nkhw", bins, torch.arange(reg_max, dtype=torch.float64))
        gy, gx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
        box = torch.stack([gx - dist[:, 0], gy - dist[:, 1], gx + dist[:, 2], gy + dist[:, 3]], dim=1) * stride
        boxes.append(box.flatten(2).transpose(1, 2))
        scores.append(o[:, 4 * reg_max:].sigmoid().flatten(2).transpose(1, 2))
    boxes, scores = torch.cat(boxes, 1), torch.cat(scores, 1)
    results = []
    for b, s in zip(boxes, scores):
        found = []
        for cls in range(num_classes):
            cand = torch.nonzero(s[:, cls] > score_threshold).flatten()
            cb, cs = b[cand], s[cand, cls]
            x1 = torch.maximum(cb[:, None, 0], cb[None, :, 0])
            y1 = torch.maximum(cb[:, None, 1], cb[None, :, 1])
            x2 = torch.minimum(cb[:, None, 2], cb[None, :, 2])
            y2 = torch.minimum(cb[:, None, 3], cb[None, :, 3])
            inter = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
            area = (cb[:, 2] - cb[:, 0]) * (cb[:, 3] - cb[:, 1])
            iou = inter / (area[:, None] + area[None, :] - inter)
            suppressed = torch.zeros(len(cand), dtype=torch.bool)
            for i in sorted(range(len(cand)), key=lambda k: (-float(cs[k]), k)):
                if suppressed[i]:
                    continue
                found.append((float(cs[i]), cls, cb[i].numpy()))
                suppressed |= iou[i] > iou_threshold
        found.sort(key=lambda f: -f[0])
        results.append(found)
    return results


def test_postprocess_matches_a_pytorch_reference():
    rng = np.random.default_rng(0)
    num_classes, reg_max = 4, 8
    outputs = [rng.normal(0, 1.5, (2, 4 * reg_max + num_classes, 64 // s, 96 // s)).astype(np.float32)
               for s in (8, 16, 32)]
    got = postprocess(outputs, num_classes, reg_max=reg_max, score_threshold=0.8, iou_threshold=0.3)
    expected = _reference(outputs, num_classes, reg_max, 0.8, 0.3)
    for detections, reference in zip(got, expected):
        assert 10 < len(detections) == len(reference)
        np.testing.assert_allclose(detections.scores, [r[0] for r in reference], rtol=1e-6)
        np.testing.assert_array_equal(detections.classes, [r[1] for r in reference])
        np.testing.assert_allclose(detections.boxes, np.stack([r[2] for r in reference]), rtol=1e-5, atol=1e-4)
    # NHWC outputs give the same detections.
    nhwc = postprocess([o.transpose(0, 2, 3, 1) for o in outputs], num_classes, reg_max=reg_max,
                       score_threshold=0.8, iou_threshold=0.3, layout="NHWC")
    np.testing.assert_array_equal(nhwc[1].boxes, got[1].boxes)


def test_a_planted_box_comes_out_where_it_was_put():
    """One cell of the stride-16 level with sharp bins (distances 2, 1, 3, 4
    cells) and a confident class 1: box (cx - 2, cy - 1, cx + 3, cy + 4) x 16."""
    num_classes, reg_max = 2, 16
    outputs = [np.full((1, 4 * reg_max + num_classes, 64 // s, 64 // s), -20.0, np.float32) for s in (8, 16, 32)]
    level = outputs[1]
    y, x = 2, 1
    for side, distance in enumerate((2, 1, 3, 4)):
        level[0, side * reg_max + distance, y, x] = 30.0
    level[0, 4 * reg_max + 1, y, x] = 6.0
    (detections,) = postprocess(outputs, num_classes)
    assert len(detections) == 1 and detections.classes[0] == 1
    assert detections.scores[0] == pytest.approx(1 / (1 + np.exp(-6.0)), rel=1e-6)
    cx, cy = x + 0.5, y + 0.5
    np.testing.assert_allclose(detections.boxes[0], np.array([cx - 2, cy - 1, cx + 3, cy + 4]) * 16, atol=1e-3)


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]], np.float32)
    scores = np.array([0.5, 0.9, 0.7, 0.9], np.float32)
    np.testing.assert_array_equal(non_max_suppression(boxes, scores, 0.5), [1, 2])
    np.testing.assert_array_equal(non_max_suppression(boxes, scores, 0.99), [1, 3, 2, 0])


def test_postprocess_names_bad_outputs():
    with pytest.raises(ValueError, match=r"stride 8 has 10 channels; 4 \* reg_max \+ num_classes = 4 \* 16 \+ 3 = 67"):
        decode([np.zeros((1, 10, 8, 8), np.float32)] * 3, 3)
    with pytest.raises(ValueError, match="2 head outputs for 3 strides"):
        decode([np.zeros((1, 67, 8, 8), np.float32)] * 2, 3)
    with pytest.raises(ValueError, match="must be 4-D"):
        decode([np.zeros((67, 8, 8), np.float32)] * 3, 3)


@pytest.fixture(scope="module")
def converted_detector(tmp_path_factory):
    from actsparse.converter.convert import convert_file

    torch.manual_seed(0)
    model = randomize_batchnorm(yolo_detector(num_classes=3, **SMALL)).eval()
    for branch in model.head.cls:  # class logits around 0 (not the low prior): detections to compare
        torch.nn.init.zeros_(branch[-1].bias)
    attach_masks(model, torch.zeros(1, 3, 64, 96), 0.3, seed=4)
    directory = tmp_path_factory.mktemp("detector")
    torch.save(model, directory / "yolo.pt")
    report = convert_file(directory / "yolo.pt", directory / "yolo.tflite", verify_samples=1)
    return model, directory / "yolo.tflite", report


def _outputs(interpreter, x):
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    by_name = {d["name"]: interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()}
    return [by_name[name] for name in sorted(by_name)]  # ..._output_0_..., _1_, _2_: strides 8, 16, 32


def test_detector_runs_whole_in_the_delegate(converted_detector):
    model, path, report = converted_detector
    assert report.verified and [o["name"] for o in report.outputs] == ["output_0", "output_1", "output_2"]
    masked = len([m for m in model.modules() if type(m).__name__ == "MaskedConv2d"])
    assert len(report.layers) == masked > 50
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 96)).astype(np.float32)
    builtin = _outputs(actsparse.Interpreter(path, use_delegate=False, xnnpack=False), x)
    with torch.no_grad():
        torch_outputs = [o.numpy() for o in model(torch.from_numpy(x))]
    for threads in (1, 2):
        interpreter = actsparse.Interpreter(path, num_threads=threads)
        delegate = interpreter.delegate_report
        assert delegate.partitions == 1 and delegate.claimed_nodes == delegate.total_nodes, delegate.log
        assert delegate.claimed_chains == delegate.listed_chains == masked
        got = _outputs(interpreter, x)
        for g, b, t in zip(got, builtin, torch_outputs):
            assert g.shape == t.shape
            assert relative_error(g, b) <= OUTPUT_TOLERANCE
        # The same detections from either runtime.
        ours = postprocess(got, 3, score_threshold=0.45, iou_threshold=0.9)[0]
        theirs = postprocess(builtin, 3, score_threshold=0.45, iou_threshold=0.9)[0]
        assert len(ours) == len(theirs) > 5
        np.testing.assert_allclose(ours.boxes, theirs.boxes, atol=1e-3)
