"""Reading an annotated .tflite: its masked layers, their cost, and checks
that the ``actsparse.masks`` entry matches the graph. No torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actsparse.tflite import model_file
from actsparse.format import METADATA_NAME, FormatError, MaskedLayer, decode
from actsparse.tflite.graph import Op, SubgraphView

MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


class InspectError(ValueError):
    """The .tflite or its annotation cannot be read or does not match the graph."""


@dataclass
class LayerReport:
    layer: MaskedLayer
    op_name: str          # CONV_2D or DEPTHWISE_CONV_2D
    output_shape: tuple[int, ...]
    kernel: tuple[int, int]
    macs: int
    macs_saved: int

    def to_json(self) -> dict:
        l = self.layer
        return {"name": l.name, "subgraph": l.subgraph, "conv_op": l.conv_op, "mul_op": l.mul_op,
                "add_op": l.add_op, "pad_op": l.pad_op, "mask_tensor": l.mask_tensor,
                "op": self.op_name, "height": l.height, "width": l.width,
                "channels": int(self.output_shape[-1]), "kernel": list(self.kernel),
                "sparsity": round(l.sparsity, 6), "macs": self.macs, "macs_saved": self.macs_saved}


@dataclass
class ModelReport:
    path: str
    layers: list[LayerReport]
    total_macs: int

    @property
    def macs_saved(self) -> int:
        return sum(r.macs_saved for r in self.layers)

    @property
    def ideal_speedup(self) -> float:
        return self.total_macs / max(self.total_macs - self.macs_saved, 1)

    def to_json(self) -> dict:
        return {"model": self.path, "layers": [r.to_json() for r in self.layers],
                "total_macs": self.total_macs, "macs_saved": self.macs_saved,
                "ideal_speedup": round(self.ideal_speedup, 4)}


def op_macs(view: SubgraphView, op: Op) -> int:
    """Multiply-accumulates of one conv/FC op from its tensor shapes."""
    out = view.shape(op.outputs[0])
    weights = view.shape(op.inputs[1])
    if op.name == "CONV_2D":          # OHWI
        return int(np.prod(out)) * int(np.prod(weights[1:]))
    if op.name == "DEPTHWISE_CONV_2D":  # [1, KH, KW, C*M]
        return int(np.prod(out)) * weights[1] * weights[2]
    if op.name == "FULLY_CONNECTED":  # [O, I]
        return int(np.prod(out)) * weights[-1]
    if op.name == "TRANSPOSE_CONV":   # inputs: shape, weights OHWI, input
        return int(np.prod(view.shape(op.inputs[2]))) * int(np.prod(view.shape(op.inputs[1])))
    return 0


def _check_layer(view: SubgraphView, layer: MaskedLayer) -> LayerReport:
    where = f"layer {layer.name!r}"
    n = len(view.ops)
    for field in ("pad_op", "conv_op", "mul_op", "add_op"):
        index = getattr(layer, field)
        if index >= n or index < -1:
            raise InspectError(f"{where}: {field} {index} is not an operator of subgraph "
                               f"{layer.subgraph} ({n} operators)")
    conv, mul = view.ops[layer.conv_op], view.ops[layer.mul_op]
    if conv.name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        raise InspectError(f"{where}: conv_op {conv.index} is {conv.name}, not a convolution")
    if mul.name != "MUL" or conv.outputs[0] not in mul.inputs:
        raise InspectError(f"{where}: mul_op {mul.index} ({mul.name}) does not multiply the conv output")
    if layer.mask_tensor not in mul.inputs:
        raise InspectError(f"{where}: mask_tensor {layer.mask_tensor} is not an input of MUL {mul.index}")
    if layer.add_op >= 0:
        add = view.ops[layer.add_op]
        if add.name != "ADD" or mul.outputs[0] not in add.inputs:
            raise InspectError(f"{where}: add_op {add.index} ({add.name}) does not follow the MUL")
    if layer.pad_op >= 0:
        pad = view.ops[layer.pad_op]
        if pad.name not in ("PAD", "PADV2") or pad.outputs[0] != conv.inputs[0]:
            raise InspectError(f"{where}: pad_op {pad.index} ({pad.name}) does not feed the conv")
    out_shape = view.shape(conv.outputs[0])
    if len(out_shape) != 4 or out_shape[1:3] != (layer.height, layer.width):
        raise InspectError(f"{where}: mask is {layer.height}x{layer.width} but the conv output is {out_shape}")
    constant = view.constant(layer.mask_tensor)
    if constant is None or constant.size != layer.mask.size or \
            not np.array_equal(constant.reshape(layer.mask.shape) != 0, layer.mask != 0):
        raise InspectError(f"{where}: the mask bits differ from the MUL's constant (tensor {layer.mask_tensor})")
    macs = op_macs(view, conv)
    weights = view.shape(conv.inputs[1])
    return LayerReport(layer, conv.name, out_shape, (weights[1], weights[2]), macs,
                       round(macs * (1 - layer.active_count / layer.mask.size)))


def inspect_model(path: str | Path) -> ModelReport:
    """Read and cross-check the annotation of ``path``.

    Raises:
        InspectError: no annotation, a corrupt or foreign one, or one that does
            not match the graph; the message names the file and the layer.
    """
    try:
        model = model_file.load_model(path)
        payload = model_file.read_metadata(path, METADATA_NAME)
    except model_file.TfliteFileError as exc:
        raise InspectError(str(exc)) from None
    if payload is None:
        raise InspectError(f"{path}: no '{METADATA_NAME}' metadata; convert the model with "
                           "`actsparse convert` to annotate its masked convolutions")
    try:
        layers = decode(payload)
    except FormatError as exc:
        raise InspectError(f"{path}: corrupt or foreign '{METADATA_NAME}' metadata: {exc}") from None
    views: dict[int, SubgraphView] = {}
    reports = []
    for layer in layers:
        if layer.subgraph >= len(model.subgraphs or []):
            raise InspectError(f"{path}: layer {layer.name!r} names subgraph {layer.subgraph}, "
                               f"the model has {len(model.subgraphs or [])}")
        view = views.setdefault(layer.subgraph, SubgraphView(model, layer.subgraph))
        try:
            reports.append(_check_layer(view, layer))
        except InspectError as exc:
            raise InspectError(f"{path}: metadata does not match the graph: {exc}") from None
    total = 0
    for index in range(len(model.subgraphs or [])):
        view = views.setdefault(index, SubgraphView(model, index))
        total += sum(op_macs(view, op) for op in view.ops if op.name in MAC_OPS)
    return ModelReport(str(path), reports, total)
