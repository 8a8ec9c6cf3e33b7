"""A YOLOv8n-class single-stage detector, written for actsparse.

Layouts are PyTorch's: input ``[N, 3, H, W]`` (H and W multiples of 32),
outputs NCHW. The network ends at the raw head outputs, one tensor per
level (strides 8, 16, 32): ``[N, 4 * reg_max + num_classes, H / s, W / s]``
holding, per cell, ``reg_max`` logits for each of the box's four distances
(left, top, right, bottom, in units of the level's stride; "distribution
focal loss" bins) followed by one logit per class. Box decoding and NMS are
numpy post-processing, :func:`actsparse.detect.postprocess`, so the .tflite
holds only convolutions and the delegate runs all of it.

Structure (Conv = conv + BatchNorm + SiLU):

- backbone: stem Conv 3x3/2, then four stages of Conv 3x3/2 + C2f
  (a 1x1 conv whose output is split in two, ``depth`` bottlenecks on one
  half, every intermediate concatenated, a 1x1 conv), SPPF (three chained
  5x5 max pools, concatenated) at the end;
- neck: top-down nearest 2x upsampling + concat + C2f, then bottom-up
  Conv 3x3/2 + concat + C2f (a path aggregation network);
- head: per level a box branch and a class branch of two 3x3 Convs and a
  1x1 conv each (decoupled), concatenated along channels.

The widths of the five backbone levels and the number of bottlenecks of
each stage are arguments; the defaults are the "n" scale (widths 16, 32,
64, 128, 256; depths 1, 2, 2, 1).
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

STRIDES = (8, 16, 32)


class ConvBnSiLU(nn.Module):
    """Conv2d (no bias, "same" padding) -> BatchNorm -> SiLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 Convs, with the input added when ``shortcut``."""

    def __init__(self, channels: int, shortcut: bool) -> None:
        super().__init__()
        self.cv1 = ConvBnSiLU(channels, channels, 3)
        self.cv2 = ConvBnSiLU(channels, channels, 3)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


class C2f(nn.Module):
    """1x1 Conv to ``2 * hidden`` channels split in two halves; ``depth``
    bottlenecks chained on the second half; the halves and every
    bottleneck's output concatenated; a 1x1 Conv to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, depth: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.hidden = out_channels // 2
        self.cv1 = ConvBnSiLU(in_channels, 2 * self.hidden, 1)
        self.halves: nn.ModuleList | None = None  # see unsplit()
        self.m = nn.ModuleList(Bottleneck(self.hidden, shortcut) for _ in range(depth))
        self.cv2 = ConvBnSiLU((2 + depth) * self.hidden, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.halves is not None:
            parts = [half(x) for half in self.halves]
        else:
            parts = list(self.cv1(x).split(self.hidden, dim=1))
        for bottleneck in self.m:
            parts.append(bottleneck(parts[-1]))
        return self.cv2(torch.cat(parts, dim=1))

    def unsplit(self) -> None:
        """Replace ``cv1`` and its split by two 1x1 Convs that compute the two
        halves (the same numbers; a mask on ``cv1`` goes to both): the form
        in which channel pruning can remove channels of each half."""
        if self.halves is not None:
            return
        halves = []
        for first in (0, self.hidden):
            half = copy.deepcopy(self.cv1)
            keep = slice(first, first + self.hidden)
            half.conv.weight = nn.Parameter(self.cv1.conv.weight.detach()[keep].clone())
            half.conv.out_channels = self.hidden
            bn = half.bn
            bn.weight = nn.Parameter(self.cv1.bn.weight.detach()[keep].clone())
            bn.bias = nn.Parameter(self.cv1.bn.bias.detach()[keep].clone())
            bn.running_mean = self.cv1.bn.running_mean[keep].clone()
            bn.running_var = self.cv1.bn.running_var[keep].clone()
            bn.num_features = self.hidden
            halves.append(half)
        self.halves = nn.ModuleList(halves)
        del self.cv1


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: a 1x1 Conv halving the channels, three
    chained ``pool`` x ``pool`` stride-1 max pools, the four concatenated,
    a 1x1 Conv."""

    def __init__(self, in_channels: int, out_channels: int, pool: int = 5) -> None:
        super().__init__()
        hidden = in_channels // 2
        self.cv1 = ConvBnSiLU(in_channels, hidden, 1)
        self.pool = nn.MaxPool2d(pool, 1, pool // 2)
        self.cv2 = ConvBnSiLU(4 * hidden, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, dim=1))


class DetectHead(nn.Module):
    """Decoupled head over the three levels: per level, a box branch (two 3x3
    Convs, a 1x1 conv to ``4 * reg_max``) and a class branch (two 3x3 Convs,
    a 1x1 conv to ``num_classes``), concatenated along channels."""

    def __init__(self, channels: Sequence[int], num_classes: int, reg_max: int = 16) -> None:
        super().__init__()
        self.num_classes, self.reg_max = num_classes, reg_max
        box_width = max(16, channels[0] // 4, 4 * reg_max)
        class_width = max(channels[0], min(num_classes, 100))
        self.box = nn.ModuleList(
            nn.Sequential(ConvBnSiLU(c, box_width, 3), ConvBnSiLU(box_width, box_width, 3),
                          nn.Conv2d(box_width, 4 * reg_max, 1)) for c in channels)
        self.cls = nn.ModuleList(
            nn.Sequential(ConvBnSiLU(c, class_width, 3), ConvBnSiLU(class_width, class_width, 3),
                          nn.Conv2d(class_width, num_classes, 1)) for c in channels)
        self.reset_biases()

    def reset_biases(self, image_size: int = 640) -> None:
        """Start the class logits at a low prior (about 5 objects per image
        over 80 classes' worth of cells) and the box bins flat, so early
        training is not swamped by false positives."""
        for branch, stride in zip(self.cls, STRIDES):
            nn.init.constant_(branch[-1].bias, math.log(5 / self.num_classes / (image_size / stride) ** 2))
        for branch in self.box:
            nn.init.constant_(branch[-1].bias, 1.0)

    def forward(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        return tuple(torch.cat((box(x), cls(x)), dim=1) for x, box, cls in zip(features, self.box, self.cls))


class YoloDetector(nn.Module):
    """Backbone, path aggregation neck and decoupled head; see the module
    docstring. ``forward`` returns the raw head outputs of strides 8, 16, 32."""

    def __init__(self, num_classes: int = 80, widths: Sequence[int] = (16, 32, 64, 128, 256),
                 depths: Sequence[int] = (1, 2, 2, 1), reg_max: int = 16) -> None:
        super().__init__()
        if len(widths) != 5 or len(depths) != 4 or min(widths) < 2 or min(depths) < 1 or num_classes < 1:
            raise ValueError(f"widths must be 5 sizes >= 2 and depths 4 counts >= 1, got {list(widths)}, "
                             f"{list(depths)}; num_classes >= 1, got {num_classes}")
        w, d = list(widths), list(depths)
        self.num_classes, self.reg_max = num_classes, reg_max
        self.stem = ConvBnSiLU(3, w[0], 3, 2)
        self.stage2 = nn.Sequential(ConvBnSiLU(w[0], w[1], 3, 2), C2f(w[1], w[1], d[0]))
        self.stage3 = nn.Sequential(ConvBnSiLU(w[1], w[2], 3, 2), C2f(w[2], w[2], d[1]))
        self.stage4 = nn.Sequential(ConvBnSiLU(w[2], w[3], 3, 2), C2f(w[3], w[3], d[2]))
        self.stage5 = nn.Sequential(ConvBnSiLU(w[3], w[4], 3, 2), C2f(w[4], w[4], d[3]), SPPF(w[4], w[4]))
        neck_depth = d[0]
        self.top_down4 = C2f(w[4] + w[3], w[3], neck_depth, shortcut=False)
        self.top_down3 = C2f(w[3] + w[2], w[2], neck_depth, shortcut=False)
        self.down3 = ConvBnSiLU(w[2], w[2], 3, 2)
        self.bottom_up4 = C2f(w[2] + w[3], w[3], neck_depth, shortcut=False)
        self.down4 = ConvBnSiLU(w[3], w[3], 3, 2)
        self.bottom_up5 = C2f(w[3] + w[4], w[4], neck_depth, shortcut=False)
        self.head = DetectHead((w[2], w[3], w[4]), num_classes, reg_max)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"input must be [N, 3, H, W] with H and W multiples of 32, got {list(x.shape)}")
        p3 = self.stage3(self.stage2(self.stem(x)))
        p4 = self.stage4(p3)
        p5 = self.stage5(p4)
        n4 = self.top_down4(torch.cat((F.interpolate(p5, scale_factor=2.0, mode="nearest"), p4), dim=1))
        n3 = self.top_down3(torch.cat((F.interpolate(n4, scale_factor=2.0, mode="nearest"), p3), dim=1))
        m4 = self.bottom_up4(torch.cat((self.down3(n3), n4), dim=1))
        m5 = self.bottom_up5(torch.cat((self.down4(m4), p5), dim=1))
        return self.head((n3, m4, m5))


def yolo_detector(num_classes: int = 80, widths: Sequence[int] = (16, 32, 64, 128, 256),
                  depths: Sequence[int] = (1, 2, 2, 1), reg_max: int = 16) -> YoloDetector:
    """A :class:`YoloDetector` (the "n" scale by default)."""
    return YoloDetector(num_classes, widths, depths, reg_max)
