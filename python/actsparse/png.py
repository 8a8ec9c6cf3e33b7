"""Minimal grayscale PNG writer (8-bit, no dependencies beyond zlib)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_gray_png(path: str | Path, image: np.ndarray) -> None:
    """Write ``image`` (uint8 ``[H, W]``, 0 = black) as a grayscale PNG."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"expected a non-empty 2-D image, got shape {image.shape}")
    height, width = image.shape
    rows = b"".join(b"\x00" + image[r].tobytes() for r in range(height))  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
                           + _chunk(b"IDAT", zlib.compress(rows, 9)) + _chunk(b"IEND", b""))


def mask_image(mask: np.ndarray, min_size: int = 112) -> np.ndarray:
    """A 0/1 mask as an image, upscaled by an integer factor to at least ``min_size``:
    kept pixels white, masked pixels black."""
    factor = max(1, -(-min_size // max(mask.shape)))
    return np.kron(np.asarray(mask, np.uint8) * 255, np.ones((factor, factor), np.uint8))


def mask_grid(masks: list[np.ndarray], cell: int = 112, columns: int = 6) -> np.ndarray:
    """Masks side by side in a grid of ``cell``-pixel cells on a gray background."""
    if not masks:
        raise ValueError("no masks to draw")
    gap = 4
    rows = -(-len(masks) // columns)
    cols = min(columns, len(masks))
    grid = np.full((rows * (cell + gap) + gap, cols * (cell + gap) + gap), 128, np.uint8)
    for i, mask in enumerate(masks):
        h, w = mask.shape
        factor = max(1, min(cell // h, cell // w))
        image = np.kron(np.asarray(mask, np.uint8) * 255, np.ones((factor, factor), np.uint8))
        image = image[:cell, :cell]
        r, c = divmod(i, columns)
        y, x = gap + r * (cell + gap), gap + c * (cell + gap)
        grid[y:y + image.shape[0], x:x + image.shape[1]] = image
    return grid
