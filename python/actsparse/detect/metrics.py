"""COCO-style mean average precision of detections, computed by pycocotools
(the reference implementation of the COCO metric), from in-memory arrays.

Ground truth per image: ``[K, 5]`` rows of ``class, cx, cy, w, h``
normalised to [0, 1] (YOLO's convention, what the datasets yield);
detections per image: :class:`actsparse.detect.Detections` in input pixels.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from actsparse.detect.postprocess import Detections


@dataclass
class MeanAP:
    map50: float       # mAP at IoU 0.5
    map50_95: float    # mAP averaged over IoU 0.5:0.05:0.95 (COCO's primary metric)
    images: int
    boxes: int         # ground-truth boxes
    detections: int


def mean_average_precision(detections: Sequence[Detections], truths: Sequence[np.ndarray],
                           image_size: tuple[int, int], num_classes: int) -> MeanAP:
    """mAP over ``num_classes`` classes; ``image_size`` is (height, width) in
    pixels, the frame the detections' boxes are in."""
    if len(detections) != len(truths):
        raise ValueError(f"{len(detections)} detection lists for {len(truths)} images")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    height, width = image_size
    images, annotations, results = [], [], []
    for image_id, (found, truth) in enumerate(zip(detections, truths), 1):
        images.append({"id": image_id, "width": width, "height": height})
        for cls, cx, cy, w, h in np.asarray(truth, np.float64).reshape(-1, 5):
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls) + 1,
                                "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
        for (x1, y1, x2, y2), score, cls in zip(found.boxes.astype(np.float64), found.scores, found.classes):
            results.append({"image_id": image_id, "category_id": int(cls) + 1,
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})
    summary = MeanAP(0.0, 0.0, len(images), len(annotations), len(results))
    if not annotations or not results:
        return summary
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and table
        truth_set = COCO()
        truth_set.dataset = {"images": images, "annotations": annotations,
                             "categories": [{"id": c + 1, "name": str(c)} for c in range(num_classes)]}
        truth_set.createIndex()
        evaluation = COCOeval(truth_set, truth_set.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    summary.map50_95, summary.map50 = float(evaluation.stats[0]), float(evaluation.stats[1])
    return summary
