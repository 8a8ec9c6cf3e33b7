"""Small PyTorch models for converter tests; importable so torch.save pickles load.

Each covers several of the cases the converter must handle, to keep the
number of (slow) conversions low.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualNet(nn.Module):
    """Stride-2 padded stem, a basic block with residual add and 1x1 stride-2
    downsample, a dilated conv, and a conv with bias but no BN."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 2, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(8, 16, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.down = nn.Conv2d(8, 16, 1, 2, bias=False)
        self.down_bn = nn.BatchNorm2d(16)
        self.dilated = nn.Conv2d(16, 12, 3, 1, padding=2, dilation=2, bias=True)
        self.dilated_bn = nn.BatchNorm2d(12)
        self.head = nn.Conv2d(12, 5, 3, 1, 1, bias=True)   # masked, no BN: CONV -> MUL

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem_bn(self.stem(x)))
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        x = F.relu(y + self.down_bn(self.down(x)))
        x = F.relu6(self.dilated_bn(self.dilated(x)))
        return self.head(x)


class DepthwiseNet(nn.Module):
    """Depthwise convs (multiplier 1 and 2), pointwise convs, and room for
    all-ones / all-zeros / shared identical masks."""

    def __init__(self) -> None:
        super().__init__()
        self.pw0 = nn.Conv2d(3, 8, 1, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.dw1 = nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.dw2 = nn.Conv2d(8, 16, 3, 2, 1, groups=8, bias=False)   # depth multiplier 2
        self.bn2 = nn.BatchNorm2d(16)
        self.pw3 = nn.Conv2d(16, 16, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(16)
        self.pw4 = nn.Conv2d(16, 16, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.bn0(self.pw0(x)))
        x = F.relu6(self.bn1(self.dw1(x)))
        x = F.relu6(self.bn2(self.dw2(x)))
        x = F.relu(self.bn3(self.pw3(x)))
        x = self.bn4(self.pw4(x)) + x
        return self.fc(x.mean(dim=(2, 3)))


class GroupedNet(nn.Module):
    """A grouped (not depthwise) conv: not maskable."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1, groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)
