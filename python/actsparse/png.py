"""Mask pictures: masks drawn as grayscale images (numpy) and written as PNG
with Pillow (imported when writing, so reading a .tflite never needs it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_gray_png(path: str | Path, image: np.ndarray) -> None:
    """Write ``image`` (uint8 ``[H, W]``, 0 = black) as a grayscale PNG."""
    from PIL import Image

    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"expected a non-empty 2-D image, got shape {image.shape}")
    Image.fromarray(image, mode="L").save(Path(path), format="PNG", optimize=True)


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
