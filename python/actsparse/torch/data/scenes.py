"""An offline synthetic detection dataset: filled shapes of several classes
on textured backgrounds, drawn with Pillow, deterministic by seed.

Each image (``size`` x ``size``, RGB) has a smooth random colour field with
noise as background and 1 to ``max_objects`` shapes; a shape's class is its
geometry (:data:`SHAPES`: circle, square, triangle, cross, ring), its colour
and size are random, so the classes must be told apart by form. Shapes may
overlap; a box that another shape covers by more than half is dropped (it
could not be seen). Item ``i`` of a dataset depends on ``(seed, i)`` only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

SHAPES = ("circle", "square", "triangle", "cross", "ring")


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """[size, size, 3] uint8: a bilinear colour gradient plus coarse and fine noise."""
    corners = rng.uniform(0, 255, (2, 2, 3))
    t = np.linspace(0, 1, size)
    top = corners[0, 0] * (1 - t[:, None]) + corners[0, 1] * t[:, None]
    bottom = corners[1, 0] * (1 - t[:, None]) + corners[1, 1] * t[:, None]
    field = top[None] * (1 - t[:, None, None]) + bottom[None] * t[:, None, None]
    coarse = rng.normal(0, 25, (size // 8 + 1, size // 8 + 1, 3)).repeat(8, 0).repeat(8, 1)[:size, :size]
    fine = rng.normal(0, 12, (size, size, 3))
    return np.clip(field + coarse + fine, 0, 255).astype(np.uint8)


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: tuple[float, float, float, float],
          colour: tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(x1 + w / 2, y1), (x2, y2), (x1, y2)], fill=colour)
    elif shape == "cross":
        draw.rectangle((x1 + w / 3, y1, x2 - w / 3, y2), fill=colour)
        draw.rectangle((x1, y1 + h / 3, x2, y2 - h / 3), fill=colour)
    elif shape == "ring":
        draw.ellipse(box, outline=colour, width=max(2, int(min(w, h) / 5)))
    else:
        raise ValueError(f"unknown shape {shape!r}")


class SyntheticScenes(Dataset):
    """``length`` images of ``size`` x ``size`` with shapes of the first
    ``num_classes`` of :data:`SHAPES`; items are ``(image [3, size, size]
    float32 in [0, 1], targets [K, 5] float32: class, cx, cy, w, h in [0, 1])``."""

    def __init__(self, length: int, size: int = 128, num_classes: int = 3, *, seed: int = 0,
                 max_objects: int = 4, min_side: float = 0.12, max_side: float = 0.45) -> None:
        if not 1 <= num_classes <= len(SHAPES):
            raise ValueError(f"num_classes must be 1..{len(SHAPES)}, got {num_classes}")
        if length < 1 or size < 16 or max_objects < 1 or not 0 < min_side <= max_side <= 1:
            raise ValueError(f"bad dataset parameters: length {length}, size {size}, max_objects {max_objects}, "
                             f"sides {min_side}..{max_side}")
        self.length, self.size, self.num_classes, self.seed = length, size, num_classes, seed
        self.max_objects, self.min_side, self.max_side = max_objects, min_side, max_side
        self.class_names = list(SHAPES[:num_classes])

    def __len__(self) -> int:
        return self.length

    def render(self, index: int) -> tuple[Image.Image, np.ndarray]:
        """Item ``index`` as a Pillow image and its targets ``[K, 5]``."""
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        size = self.size
        image = Image.fromarray(_background(rng, size))
        draw = ImageDraw.Draw(image)
        boxes: list[tuple[int, np.ndarray]] = []
        coverage = np.zeros((0, size, size), bool)
        for _ in range(int(rng.integers(1, self.max_objects + 1))):
            side = rng.uniform(self.min_side, self.max_side) * size
            aspect = rng.uniform(0.75, 1.33)
            w, h = side * aspect, side / aspect
            w, h = min(w, size - 2), min(h, size - 2)
            x1, y1 = rng.uniform(0, size - w), rng.uniform(0, size - h)
            cls = int(rng.integers(self.num_classes))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            _draw(draw, SHAPES[cls], (x1, y1, x1 + w, y1 + h), colour)
            mask = np.zeros((size, size), bool)
            mask[int(y1):int(np.ceil(y1 + h)), int(x1):int(np.ceil(x1 + w))] = True
            coverage &= ~mask  # the new shape hides what it covers
            coverage = np.concatenate([coverage, mask[None]])
            boxes.append((cls, np.array([x1, y1, x1 + w, y1 + h])))
        targets = []
        for (cls, box), visible in zip(boxes, coverage):
            area = (box[2] - box[0]) * (box[3] - box[1])
            if visible.sum() < 0.5 * area:
                continue
            cx, cy = (box[0] + box[2]) / 2 / size, (box[1] + box[3]) / 2 / size
            targets.append([cls, cx, cy, (box[2] - box[0]) / size, (box[3] - box[1]) / size])
        return image, np.asarray(targets, np.float32).reshape(-1, 5)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, targets = self.render(index)
        pixels = torch.from_numpy(np.asarray(image, np.float32) / 255.0).permute(2, 0, 1).contiguous()
        return pixels, torch.from_numpy(targets)


def write_yolo_folder(dataset: SyntheticScenes, root: str | Path) -> Path:
    """Write ``dataset`` as a YOLO-format folder: ``root/images/NNNNNN.png``,
    ``root/labels/NNNNNN.txt`` (one ``class cx cy w h`` line per box) and
    ``root/classes.txt``. Returns ``root``."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for index in range(len(dataset)):
        image, targets = dataset.render(index)
        image.save(root / "images" / f"{index:06d}.png")
        lines = [f"{int(t[0])} {t[1]:.6f} {t[2]:.6f} {t[3]:.6f} {t[4]:.6f}" for t in targets]
        (root / "labels" / f"{index:06d}.txt").write_text("".join(line + "\n" for line in lines))
    (root / "classes.txt").write_text("".join(name + "\n" for name in dataset.class_names))
    return root
