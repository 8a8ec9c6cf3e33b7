"""Naive NumPy reference convolutions in TFLite's conventions (NHWC, OHWI)."""

from __future__ import annotations

import numpy as np

from actsparse.tflite.builder import conv_output_size


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite SAME padding (before, after): the odd pixel goes after."""
    out = conv_output_size(size, kernel, stride, dilation, "same")
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def conv2d_nhwc(x: np.ndarray, w_ohwi: np.ndarray, bias: np.ndarray, *, stride: int = 1,
                dilation: int = 1, padding: str = "same") -> np.ndarray:
    """float64 reference CONV_2D (no activation)."""
    n, h, w, c = x.shape
    o, kh, kw, _ = w_ohwi.shape
    if padding == "same":
        (pt, pb), (pl, pr) = same_padding(h, kh, stride, dilation), same_padding(w, kw, stride, dilation)
    else:
        pt = pb = pl = pr = 0
    xp = np.zeros((n, h + pt + pb, w + pl + pr, c))
    xp[:, pt:pt + h, pl:pl + w] = x
    oh = conv_output_size(h, kh, stride, dilation, padding)
    ow = conv_output_size(w, kw, stride, dilation, padding)
    out = np.zeros((n, oh, ow, o))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i * dilation: i * dilation + stride * (oh - 1) + 1: stride,
                       j * dilation: j * dilation + stride * (ow - 1) + 1: stride, :]
            out += np.einsum("nhwc,oc->nhwo", patch, w_ohwi[:, i, j, :])
    return out + bias
