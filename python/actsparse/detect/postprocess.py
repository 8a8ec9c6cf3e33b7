"""Boxes from the raw outputs of :class:`actsparse.torch.models.YoloDetector`
(or any detector with its head layout), in numpy.

Head layout, per level of stride ``s`` (8, 16, 32): ``[N, 4 * reg_max +
num_classes, H / s, W / s]`` (NCHW, as the converter writes it; NHWC with
``layout="NHWC"``). For each cell, ``reg_max`` logits for each of the four
distances from the cell's centre to the box's left, top, right and bottom
edges, in units of ``s`` (the distance is the softmax-weighted mean of the
bins 0 .. reg_max - 1), then one logit per class (score = sigmoid).

Boxes come out as ``x1, y1, x2, y2`` in input pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

STRIDES = (8, 16, 32)


@dataclass
class Detections:
    """One image's detections, best first."""

    boxes: np.ndarray    # [K, 4] float32, x1 y1 x2 y2 in input pixels
    scores: np.ndarray   # [K] float32, sigmoid of the class logit
    classes: np.ndarray  # [K] int64

    def __len__(self) -> int:
        return len(self.scores)


def _nchw(output: np.ndarray, layout: str) -> np.ndarray:
    if output.ndim != 4:
        raise ValueError(f"a head output must be 4-D, got shape {output.shape}")
    if layout == "NHWC":
        return output.transpose(0, 3, 1, 2)
    if layout != "NCHW":
        raise ValueError(f"layout must be NCHW or NHWC, got {layout!r}")
    return output


def decode(outputs: Sequence[np.ndarray], num_classes: int, *, reg_max: int = 16,
           strides: Sequence[int] = STRIDES, layout: str = "NCHW") -> tuple[np.ndarray, np.ndarray]:
    """Every cell's box and class scores.

    Returns ``boxes [N, cells, 4]`` (x1 y1 x2 y2, input pixels) and ``scores
    [N, cells, num_classes]`` (sigmoid), cells of all levels in order, each
    level row-major.
    """
    if len(outputs) != len(strides):
        raise ValueError(f"{len(outputs)} head outputs for {len(strides)} strides {list(strides)}")
    channels = 4 * reg_max + num_classes
    boxes, scores = [], []
    for output, stride in zip(outputs, strides):
        o = _nchw(np.asarray(output, dtype=np.float32), layout)
        n, c, h, w = o.shape
        if c != channels:
            raise ValueError(f"a head output of stride {stride} has {c} channels; 4 * reg_max + num_classes "
                             f"= 4 * {reg_max} + {num_classes} = {channels}")
        bins = o[:, :4 * reg_max].reshape(n, 4, reg_max, h * w).astype(np.float64)
        bins = np.exp(bins - bins.max(axis=2, keepdims=True))
        distance = (bins * np.arange(reg_max)[:, None]).sum(axis=2) / bins.sum(axis=2)  # [n, 4, cells]
        ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
        cx, cy = xs.reshape(-1), ys.reshape(-1)
        level_boxes = np.stack([cx - distance[:, 0], cy - distance[:, 1],
                                cx + distance[:, 2], cy + distance[:, 3]], axis=-1) * stride
        boxes.append(level_boxes.astype(np.float32))
        logits = o[:, 4 * reg_max:].reshape(n, num_classes, h * w).transpose(0, 2, 1)
        scores.append((1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32))
    return np.concatenate(boxes, axis=1), np.concatenate(scores, axis=1)


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one ``[4]`` box with each of ``[K, 4]`` (x1 y1 x2 y2)."""
    w = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = w * h
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS: indices of the kept boxes, highest score first. A box is
    dropped when its IoU with a kept, higher-scoring box exceeds the
    threshold (ties in score: the lower index first)."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best = order[0]
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def postprocess(outputs: Sequence[np.ndarray], num_classes: int, *, reg_max: int = 16,
                strides: Sequence[int] = STRIDES, layout: str = "NCHW", score_threshold: float = 0.25,
                iou_threshold: float = 0.45, max_detections: int = 300) -> list[Detections]:
    """Detections per image: every (cell, class) pair scoring above
    ``score_threshold`` is a candidate (a cell may propose several classes),
    NMS runs per class, and the best ``max_detections`` are kept."""
    boxes, scores = decode(outputs, num_classes, reg_max=reg_max, strides=strides, layout=layout)
    results = []
    for image_boxes, image_scores in zip(boxes, scores):
        cells, classes = np.nonzero(image_scores > score_threshold)
        candidate_boxes, candidate_scores = image_boxes[cells], image_scores[cells, classes]
        kept = []
        for cls in np.unique(classes):
            members = np.nonzero(classes == cls)[0]
            kept.extend(members[non_max_suppression(candidate_boxes[members], candidate_scores[members],
                                                    iou_threshold)])
        kept = np.asarray(kept, dtype=np.int64)
        kept = kept[np.argsort(-candidate_scores[kept], kind="stable")][:max_detections]
        results.append(Detections(candidate_boxes[kept], candidate_scores[kept], classes[kept].astype(np.int64)))
    return results
