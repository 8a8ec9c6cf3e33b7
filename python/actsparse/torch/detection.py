"""Training losses for :class:`actsparse.torch.models.YoloDetector`.

Assignment (anchor-free, centre-based): a cell of stride ``s`` is a
positive for a ground-truth box when its centre lies inside the box and
within ``radius * s`` of the box's centre, and the box's distances from it
fit the head's bins (at most ``reg_max - 1`` strides); a cell claimed by
several boxes takes the smallest. A box no cell qualifies for (a small box
between centres) gets the nearest cell of the finest level its distances
fit. Losses, normalised by the number of positives:

- classes: binary cross-entropy over every cell and class (target 1 for a
  positive's class, 0 elsewhere);
- boxes: 1 - GIoU of the decoded box (the bins' expected distances) with the
  ground truth, and the distribution focal loss on the bins (cross-entropy
  to the two bins around each true distance, weighted by nearness).

Layouts: head outputs ``[N, 4 * reg_max + C, H / s, W / s]`` (NCHW) per
stride; targets per image ``[K, 5]``: class, cx, cy, w, h normalised to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from actsparse.torch.models.yolo import STRIDES


@dataclass
class DetectionLossWeights:
    box: float = 7.5   # 1 - GIoU
    dfl: float = 1.5   # distribution focal loss
    cls: float = 0.5   # class BCE


def _flatten(outputs: Sequence[torch.Tensor], reg_max: int, num_classes: int, strides: Sequence[int]):
    """Bins [N, M, 4, R], class logits [N, M, C], cell centres [M, 2] (pixels), strides [M]."""
    bins, logits, centres, cell_strides = [], [], [], []
    for o, s in zip(outputs, strides):
        n, c, h, w = o.shape
        if c != 4 * reg_max + num_classes:
            raise ValueError(f"head output of stride {s} has {c} channels, expected {4 * reg_max + num_classes}")
        flat = o.flatten(2).transpose(1, 2)  # [N, HW, C]
        bins.append(flat[..., :4 * reg_max].reshape(n, h * w, 4, reg_max))
        logits.append(flat[..., 4 * reg_max:])
        ys, xs = torch.meshgrid(torch.arange(h, device=o.device), torch.arange(w, device=o.device), indexing="ij")
        centres.append((torch.stack([xs, ys], -1).reshape(-1, 2).float() + 0.5) * s)
        cell_strides.append(torch.full((h * w,), float(s), device=o.device))
    return torch.cat(bins, 1), torch.cat(logits, 1), torch.cat(centres), torch.cat(cell_strides)


def _giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of matching rows of two [P, 4] x1 y1 x2 y2 tensors."""
    inter = ((torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
             * (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0))
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    union = area_a + area_b - inter + 1e-9
    hull = ((torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0]))
            * (torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1]))) + 1e-9
    return inter / union - (hull - union) / hull


def assign(boxes: torch.Tensor, centres: torch.Tensor, strides: torch.Tensor, reg_max: int,
           radius: float = 2.5) -> torch.Tensor:
    """For each cell, the index of the ground-truth box it predicts, or -1.

    ``boxes`` [K, 4] x1 y1 x2 y2 in pixels; ``centres`` [M, 2]; ``strides`` [M].
    """
    m = centres.shape[0]
    owner = torch.full((m,), -1, dtype=torch.long, device=centres.device)
    if boxes.shape[0] == 0:
        return owner
    x, y = centres[:, 0][None], centres[:, 1][None]  # [1, M]
    ltrb = torch.stack([x - boxes[:, 0:1], y - boxes[:, 1:2], boxes[:, 2:3] - x, boxes[:, 3:4] - y], -1)  # [K, M, 4]
    box_centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    near = ((centres[None] - box_centre[:, None]).abs() <= radius * strides[None, :, None]).all(-1)
    fits = ltrb.amax(-1) <= (reg_max - 1) * strides[None]
    candidate = (ltrb.amin(-1) > 0) & near & fits  # [K, M]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for k in torch.nonzero(~candidate.any(1)).flatten().tolist():
        # No cell qualifies: the nearest centre of the finest level the box fits at (else the coarsest).
        fitting = ltrb[k].abs().amax(-1) <= (reg_max - 1) * strides
        levels = strides[fitting] if fitting.any() else strides.max()[None]
        pool = torch.nonzero(strides == levels.min()).flatten()
        nearest = pool[((centres[pool] - box_centre[k]) ** 2).sum(-1).argmin()]
        candidate[k, nearest] = True
    cost = torch.where(candidate, area[:, None], torch.full_like(candidate, float("inf"), dtype=area.dtype))
    best_cost, best = cost.min(0)
    owner[torch.isfinite(best_cost)] = best[torch.isfinite(best_cost)]
    return owner


class DetectionLoss:
    """Callable: ``loss(outputs, targets, image_size)`` -> (total, parts dict)."""

    def __init__(self, num_classes: int, reg_max: int = 16, strides: Sequence[int] = STRIDES,
                 weights: DetectionLossWeights | None = None) -> None:
        self.num_classes, self.reg_max, self.strides = num_classes, reg_max, tuple(strides)
        self.weights = weights or DetectionLossWeights()

    def __call__(self, outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor],
                 image_size: tuple[int, int]) -> tuple[torch.Tensor, dict[str, float]]:
        bins, logits, centres, strides = _flatten(outputs, self.reg_max, self.num_classes, self.strides)
        n = bins.shape[0]
        height, width = image_size
        scale = torch.tensor([width, height, width, height], dtype=centres.dtype, device=centres.device)
        class_target = torch.zeros_like(logits)
        iou_loss = dfl_loss = bins.new_zeros(())
        positives = 0
        project = torch.arange(self.reg_max, dtype=bins.dtype, device=bins.device)
        for i in range(n):
            t = targets[i].to(centres.device)
            boxes = torch.cat([t[:, 1:3] - t[:, 3:5] / 2, t[:, 1:3] + t[:, 3:5] / 2], 1) * scale
            owner = assign(boxes, centres, strides, self.reg_max)
            cells = torch.nonzero(owner >= 0).flatten()
            if cells.numel() == 0:
                continue
            positives += cells.numel()
            gt = boxes[owner[cells]]
            class_target[i, cells, t[owner[cells], 0].long()] = 1.0
            s = strides[cells][:, None]
            c = centres[cells]
            true_ltrb = torch.stack([c[:, 0] - gt[:, 0], c[:, 1] - gt[:, 1], gt[:, 2] - c[:, 0], gt[:, 3] - c[:, 1]],
                                    -1) / s
            true_ltrb = true_ltrb.clamp(0, self.reg_max - 1.01)
            cell_bins = bins[i, cells]  # [P, 4, R]
            predicted = (cell_bins.softmax(-1) * project).sum(-1) * s  # [P, 4] pixels
            predicted_box = torch.cat([c - predicted[:, :2], c + predicted[:, 2:]], 1)
            iou_loss = iou_loss + (1.0 - _giou(predicted_box, gt)).sum()
            left = true_ltrb.floor().long()
            right_weight = true_ltrb - left
            flat_bins = cell_bins.reshape(-1, self.reg_max)
            dfl = (F.cross_entropy(flat_bins, left.reshape(-1), reduction="none") * (1 - right_weight).reshape(-1)
                   + F.cross_entropy(flat_bins, (left + 1).reshape(-1), reduction="none") * right_weight.reshape(-1))
            dfl_loss = dfl_loss + dfl.reshape(-1, 4).mean(-1).sum()
        normaliser = max(positives, 1)
        cls_loss = F.binary_cross_entropy_with_logits(logits, class_target, reduction="sum") / normaliser
        iou_loss, dfl_loss = iou_loss / normaliser, dfl_loss / normaliser
        w = self.weights
        total = (w.box * iou_loss + w.dfl * dfl_loss + w.cls * cls_loss) * n
        return total, {"box": float(iou_loss.detach()), "dfl": float(dfl_loss.detach()),
                       "cls": float(cls_loss.detach()), "positives": positives}


def distillation_loss(student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor], reg_max: int,
                      num_classes: int) -> torch.Tensor:
    """Knowledge distillation on the raw head outputs, every cell: BCE of the
    student's class logits against the teacher's sigmoid, plus the KL
    divergence of the box bins' distributions (teacher to student)."""
    total = student[0].new_zeros(())
    for s, t in zip(student, teacher):
        n, c, h, w = s.shape
        s_bins = s[:, :4 * reg_max].reshape(n, 4, reg_max, h, w)
        t_bins = t[:, :4 * reg_max].reshape(n, 4, reg_max, h, w)
        kl = F.kl_div(F.log_softmax(s_bins, 2), F.log_softmax(t_bins, 2), log_target=True, reduction="sum")
        bce = F.binary_cross_entropy_with_logits(s[:, 4 * reg_max:], torch.sigmoid(t[:, 4 * reg_max:]),
                                                 reduction="sum")
        total = total + (kl / (4 * h * w) + bce / (num_classes * h * w))
    return total
