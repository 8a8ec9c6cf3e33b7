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
    """One grouped (not depthwise) conv, 4 -> 8 channels in 2 groups."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1, groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SharedHeadNet(nn.Module):
    """A head conv shared by two pyramid levels (as RetinaNet / FCOS share
    theirs): it runs at two output sizes, so no fixed mask fits it."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.head = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x: torch.Tensor):
        p3 = torch.relu(self.stem(x))
        p4 = torch.relu(self.down(p3))
        return self.head(p3), self.head(p4)


class MultiOutputNet(nn.Module):
    """Several outputs, as a detector has: a 4-D map at two scales and a
    vector, returned as a flat dict (``kind="dict"``) or as a nested tuple
    (``kind="tuple"``). The two maps differ in scale by ~100x."""

    def __init__(self, kind: str = "dict") -> None:
        super().__init__()
        self.kind = kind
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 6, 3, stride=2, padding=1)
        self.head = nn.Conv2d(8, 5, 1)

    def forward(self, x: torch.Tensor):
        y = torch.relu(self.stem(x))
        boxes, scores = self.down(y), self.head(y) * 100.0
        if self.kind == "dict":
            return {"boxes": boxes, "scores": scores, "pooled": boxes.mean((2, 3))}
        return boxes, (scores, boxes.mean((2, 3)))


# -- networks of other structures, for whole-graph claiming (claim=graph) ------

class ResNeXtNet(nn.Module):
    """ResNeXt / RegNet style: bottleneck blocks whose 3x3 conv is grouped
    (groups 4 and 8), a max pool, residual adds, global mean, linear head."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.blocks = nn.ModuleList([self._block(32, 64, 4, 1), self._block(64, 64, 8, 2)])
        self.shortcuts = nn.ModuleList([nn.Sequential(nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64)),
                                        nn.Sequential(nn.Conv2d(64, 64, 1, 2, bias=False), nn.BatchNorm2d(64))])
        self.fc = nn.Linear(64, num_classes)

    @staticmethod
    def _block(cin: int, cout: int, groups: int, stride: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, stride, 1, groups=groups, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(), nn.Conv2d(cout, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stem(x))
        for block, shortcut in zip(self.blocks, self.shortcuts):
            x = F.relu(block(x) + shortcut(x))
        return self.fc(x.mean((2, 3)))


class SqueezeExciteNet(nn.Module):
    """EfficientNet style: SiLU, an inverted residual with a 5x5 depthwise
    conv and squeeze-excitation (mean, 1x1 convs, sigmoid gate), hard-swish,
    leaky ReLU and tanh, an average pool, a linear head and softmax."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24), nn.SiLU())
        self.expand = nn.Sequential(nn.Conv2d(24, 72, 1, bias=False), nn.BatchNorm2d(72), nn.SiLU())
        self.depthwise = nn.Sequential(nn.Conv2d(72, 72, 5, 1, 2, groups=72, bias=False), nn.BatchNorm2d(72),
                                       nn.Hardswish())
        self.squeeze = nn.Conv2d(72, 18, 1)
        self.excite = nn.Conv2d(18, 72, 1)
        self.project = nn.Sequential(nn.Conv2d(72, 24, 1, bias=False), nn.BatchNorm2d(24))
        self.tail = nn.Sequential(nn.Conv2d(24, 40, 3, 2, 1), nn.LeakyReLU(0.1), nn.AvgPool2d(2),
                                  nn.Conv2d(40, 40, 1), nn.Tanh())
        self.fc = nn.Linear(40, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.depthwise(self.expand(x))
        gate = torch.sigmoid(self.excite(F.silu(self.squeeze(y.mean((2, 3), keepdim=True)))))
        x = x + self.project(y * gate)
        x = self.tail(x)
        return torch.softmax(self.fc(x.mean((2, 3))), dim=1)


class UNetLike(nn.Module):
    """An encoder-decoder with skip connections: max pools down, nearest
    upsampling up, concatenation of encoder and decoder features, per-pixel
    logits (a segmentation head)."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()

        def conv(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.enc1, self.enc2, self.mid = conv(3, 16), conv(16, 32), conv(32, 32)
        self.dec2, self.dec1 = conv(64, 16), conv(32, 16)
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = self.mid(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([F.interpolate(m, scale_factor=2, mode="nearest"), e2], dim=1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2, mode="nearest"), e1], dim=1))
        return self.head(d1)


class Mish(nn.Module):
    """x * tanh(softplus(x)), written out as YOLOv4's code does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tanh(F.softplus(x))


class MishCspNet(nn.Module):
    """YOLOv4 style: a CSP stage (two 1x1 branches, residual 1x1 + 3x3 on one,
    concatenation, 1x1 merge) with Mish activations, an ELU on the head."""

    def __init__(self, num_classes: int = 6) -> None:
        super().__init__()

        def cbm(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), Mish())

        self.stem = nn.Sequential(cbm(3, 16, 3, 2), cbm(16, 32, 3, 2))
        self.left, self.right = cbm(32, 16, 1), cbm(32, 16, 1)
        self.residual = nn.Sequential(cbm(16, 16, 1), cbm(16, 16, 3))
        self.merge = cbm(32, 32, 1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        right = self.right(x)
        x = self.merge(torch.cat([self.left(x), right + self.residual(right)], 1))
        return self.fc(F.elu(x).mean((2, 3)))


class StyleTransferNet(nn.Module):
    """Fast style transfer / DCGAN style: reflection padding, instance norm,
    a residual block, 4x4 / 2 transposed convs (overlapping windows), tanh."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.ReflectionPad2d(2), nn.Conv2d(3, 16, 5), nn.InstanceNorm2d(16, affine=True),
                                  nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.InstanceNorm2d(32, affine=True), nn.ReLU())
        self.res = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(32, 32, 3), nn.InstanceNorm2d(32, affine=True),
                                 nn.ReLU(), nn.ReflectionPad2d(1), nn.Conv2d(32, 32, 3))
        self.up = nn.Sequential(nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.InstanceNorm2d(16, affine=True), nn.ReLU(),
                                nn.ReflectionPad2d(1), nn.Conv2d(16, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(x)
        return torch.tanh(self.up(y + self.res(y)))


class MobileViTLikeNet(nn.Module):
    """MobileViT style: a conv stem, then the feature map unfolded into 2x2
    patches of tokens, a transformer layer (LayerNorm, two-head attention:
    BATCH_MATMUL with the keys adjoint, softmax, BATCH_MATMUL by the
    values; an MLP with SiLU), folded back and fused with the input by a
    conv; an L2-normalised embedding (e / sqrt(sum of e^2), which
    litert-torch writes as one L2_NORMALIZATION)."""

    def __init__(self, dim: int = 24) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.SiLU(),
                                  nn.Conv2d(16, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.SiLU())
        self.local = nn.Conv2d(16, dim, 1)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))
        self.fuse = nn.Sequential(nn.Conv2d(16 + dim, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.SiLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.local(x)
        n, d, h, w = y.shape
        t = y.reshape(n, d, h // 2, 2, w // 2, 2).permute(0, 3, 5, 2, 4, 1).reshape(n * 4, h * w // 4, d)
        z = self.norm1(t)
        t = t + self.attn(z, z, z, need_weights=False)[0]
        t = t + self.mlp(self.norm2(t))
        y = t.reshape(n, 2, 2, h // 2, w // 2, d).permute(0, 5, 3, 1, 4, 2).reshape(n, d, h, w)
        e = self.fuse(torch.cat([x, y], 1)).mean((2, 3))
        return e / (e * e).sum(1, keepdim=True).sqrt()


class ExcludingPadAvgPoolNet(nn.Module):
    """An average pool that leaves padding out of its counts: litert-torch writes it as two
    STABLEHLO_REDUCE_WINDOW ops, each with a body subgraph of its own (a scalar ADD)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AvgPool2d(3, 2, 1, count_include_pad=False)  # not TFLite SAME padding
        self.conv2 = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.conv2(self.pool(torch.relu(self.conv1(x))))


class ClassicCnnNet(nn.Module):
    """Idioms of older and of signal-processing CNNs as litert-torch writes them: replicate and
    circular padding (GATHER_ND by constant rows; SELECTs by constant conditions), a local
    response norm (a STABLEHLO_REDUCE_WINDOW over NCHW's channels, then POW), an LP pool (SIGN,
    ABS, POW), torch.flip (REVERSE_V2) and an adaptive average pool whose bins do not divide the
    map (GATHER_ND by an index grid computed from constants, MEAN over two non-neighbouring axes)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, padding_mode="replicate")
        self.lrn = nn.LocalResponseNorm(5)
        self.conv2 = nn.Conv2d(16, 24, 3, padding=1, padding_mode="circular")
        self.lp = nn.LPPool2d(2, 2)
        self.conv3 = nn.Conv2d(24, 8, 1)

    def forward(self, x):
        x = F.max_pool2d(self.lrn(torch.relu(self.conv1(x))), 2)
        x = self.lp(torch.relu(self.conv2(x)))
        x = self.conv3(x) + torch.flip(x, [3])[:, :8]
        return F.adaptive_avg_pool2d(x, (5, 7))


class FlowWarpNet(nn.Module):
    """Warping by a predicted flow and a spatial transformer, as optical-flow and frame-
    interpolation nets do: F.grid_sample (bilinear; zeros and border padding; align_corners
    both ways) becomes int32 index arithmetic in the .tflite (FLOOR, CAST to int32, int ADD,
    comparisons, LOGICAL_AND, SELECTs of ints, CONCATENATION with a batch index) and a
    GATHER_ND by run-time indices per corner; the affine grid comes from a FULLY_CONNECTED
    on pooled features."""

    def __init__(self):
        super().__init__()
        self.encode = nn.Conv2d(3, 16, 3, padding=1)
        self.flow = nn.Conv2d(16, 2, 3, padding=1)
        self.theta = nn.Linear(16, 6)
        self.out = nn.Conv2d(32, 8, 3, padding=1)

    def forward(self, x):
        features = torch.relu(self.encode(x))
        n, _, h, w = features.shape
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        base = torch.stack([xs, ys], -1)[None]
        grid = base + 0.2 * torch.tanh(self.flow(features)).permute(0, 2, 3, 1)
        warped = F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        identity = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        theta = (identity + 0.1 * torch.tanh(self.theta(features.mean((2, 3))))).view(n, 2, 3)
        affine = F.affine_grid(theta, [n, 16, h, w], align_corners=True)
        transformed = F.grid_sample(features, affine, mode="bilinear", padding_mode="border", align_corners=True)
        return self.out(torch.cat([warped, transformed], 1))
