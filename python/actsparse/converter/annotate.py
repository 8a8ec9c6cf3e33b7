"""Find masked-conv chains in a converted .tflite and describe them for the
``actsparse.masks`` metadata entry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actsparse.converter.fold import FoldedLayer
from actsparse.format import MaskedLayer
from actsparse.tflite.graph import Op, SubgraphView

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


@dataclass
class Chain:
    """CONV -> MUL(0/1 constant mask) [-> ADD(constant bias)] found in the graph."""

    pad_op: int
    conv: Op
    mul_op: int
    add_op: int
    mask_tensor: int
    mask: np.ndarray       # uint8 [H, W]
    weights: np.ndarray    # the conv's constant weights (TFLite layout)


def _zero_spatial_pad(view: SubgraphView, conv: Op) -> int:
    """Index of a PAD/PADV2 (zeros, H/W only) feeding only ``conv``, else -1."""
    producer = view.producer.get(conv.inputs[0])
    if producer is None:
        return -1
    pad = view.ops[producer]
    if pad.name not in ("PAD", "PADV2") or view.only_consumer(pad.outputs[0]) is not conv:
        return -1
    paddings = view.constant(pad.inputs[1])
    if paddings is None or paddings.shape != (4, 2) or paddings[0].any() or paddings[3].any():
        return -1
    if pad.name == "PADV2":
        value = view.constant(pad.inputs[2]) if len(pad.inputs) > 2 else None
        if value is None or value.size != 1 or float(value.reshape(-1)[0]) != 0.0:
            return -1
    return pad.index


def find_chains(view: SubgraphView) -> list[Chain]:
    """Every conv whose output is multiplied by a constant 0/1 ``[1, H, W, 1]`` mask."""
    chains = []
    for conv in view.ops:
        if conv.name not in CONV_OPS or view.fused_activation(conv) != 0 or len(conv.inputs) < 2:
            continue
        weights = view.constant(conv.inputs[1])
        mul = view.only_consumer(conv.outputs[0])
        if weights is None or mul is None or mul.name != "MUL":
            continue
        _, h, w, channels = view.shape(conv.outputs[0])
        mask_tensor = mul.inputs[1] if mul.inputs[0] == conv.outputs[0] else mul.inputs[0]
        mask = view.constant(mask_tensor)
        if mask is None or view.shape(mask_tensor) != (1, h, w, 1) or mask.dtype != np.float32:
            continue
        if not np.isin(mask, (0.0, 1.0)).all():
            continue
        add_op = -1
        add = view.only_consumer(mul.outputs[0])
        if add is not None and add.name == "ADD" and view.fused_activation(mul) == 0:
            bias_tensor = add.inputs[1] if add.inputs[0] == mul.outputs[0] else add.inputs[0]
            bias = view.constant(bias_tensor)
            if bias is not None and view.shape(bias_tensor) in ((1, 1, 1, channels), (channels,)):
                add_op = add.index
        chains.append(Chain(_zero_spatial_pad(view, conv), conv, mul.index, add_op, mask_tensor,
                            mask.reshape(h, w).astype(np.uint8), weights))
    return chains


@dataclass
class Annotation:
    layers: list[MaskedLayer]
    notes: list[str]            # masked convs deliberately not annotated, and why
    unannotated: list[str]      # masked convs whose chain was not found (unexpected)


def annotate(view: SubgraphView, folded: list[FoldedLayer]) -> Annotation:
    """Match the graph's chains to the model's masked convs by weights and mask."""
    chains = find_chains(view)
    used: set[int] = set()
    layers, notes, unannotated = [], [], []
    for layer in folded:
        active = int(layer.mask.sum())
        match = None
        for i, chain in enumerate(chains):
            if i in used or chain.mask.shape != layer.mask.shape:
                continue
            if chain.weights.shape == layer.weight_tflite.shape and \
                    np.array_equal(chain.weights, layer.weight_tflite) and \
                    np.array_equal(chain.mask, layer.mask):
                match = i
                break
        if match is None:
            if active == layer.mask.size:
                notes.append(f"{layer.name}: all-ones mask, nothing to skip (the converter drops the MUL)")
            elif active == 0:
                notes.append(f"{layer.name}: all-zeros mask, its output is a constant the converter folds")
            else:
                unannotated.append(layer.name)
            continue
        used.add(match)
        chain = chains[match]
        layers.append(MaskedLayer(layer.name, view.subgraph_index, chain.pad_op, chain.conv.index,
                                  chain.mul_op, chain.add_op, chain.mask_tensor, chain.mask))
    layers.sort(key=lambda l: l.conv_op)
    return Annotation(layers, notes, unannotated)
