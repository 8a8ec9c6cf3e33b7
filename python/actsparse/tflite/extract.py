"""Cutting operators out of a .tflite model into a standalone model.

Used by ``actsparse bench --per-layer`` to time one masked chain (or its bare
convolution) in isolation, with the very weights, options and mask of the
full model. Light: no torch.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

from actsparse.format import METADATA_NAME, MaskedLayer, encode
from actsparse.tflite.model_file import save_model, schema


def extract_ops(model: Any, subgraph: int, op_indices: Sequence[int],
                layer: MaskedLayer | None = None) -> bytes:
    """A one-subgraph model made of ``op_indices`` (in that order) of ``model``.

    Graph inputs are the non-constant tensors the ops read but do not
    produce; graph outputs are what they produce and do not read. Constants
    keep their buffers. With ``layer`` (a chain of the same subgraph whose
    ops are all among ``op_indices``) the result carries an ``actsparse.masks``
    entry for that one chain, renumbered; without it, no annotation.

    Raises:
        ValueError: an index is out of range, or ``layer`` names an op that
            was not extracted.
    """
    s = schema()
    source = model.subgraphs[subgraph]
    operators = source.operators or []
    for index in op_indices:
        if not 0 <= index < len(operators):
            raise ValueError(f"operator {index} is not in subgraph {subgraph} ({len(operators)} operators)")
    buffers = model.buffers or []

    def is_constant(tensor: int) -> bool:
        b = source.tensors[tensor].buffer
        return 0 < b < len(buffers) and buffers[b].data is not None and len(buffers[b].data) > 0

    out = s.ModelT()
    out.version = model.version
    out.description = "extracted by actsparse.tflite.extract"
    out.operatorCodes = copy.deepcopy(model.operatorCodes)
    out.buffers = [s.BufferT()]
    graph = s.SubGraphT()
    graph.name = "extracted"
    graph.tensors, graph.operators, graph.inputs, graph.outputs = [], [], [], []
    out.subgraphs = [graph]

    tensor_map: dict[int, int] = {}
    buffer_map: dict[int, int] = {}

    def mapped(tensor: int) -> int:
        if tensor < 0:
            return tensor
        if tensor not in tensor_map:
            t = copy.deepcopy(source.tensors[tensor])
            if is_constant(tensor):
                if t.buffer not in buffer_map:
                    out.buffers.append(copy.deepcopy(buffers[t.buffer]))
                    buffer_map[t.buffer] = len(out.buffers) - 1
                t.buffer = buffer_map[t.buffer]
            else:
                t.buffer = 0
            graph.tensors.append(t)
            tensor_map[tensor] = len(graph.tensors) - 1
        return tensor_map[tensor]

    produced: set[int] = set()
    consumed: set[int] = set()
    for index in op_indices:
        op = copy.deepcopy(operators[index])
        inputs = [int(t) for t in (op.inputs if op.inputs is not None else [])]
        outputs = [int(t) for t in (op.outputs if op.outputs is not None else [])]
        for t in inputs:
            if t >= 0 and not is_constant(t) and t not in produced and mapped(t) not in graph.inputs:
                graph.inputs.append(mapped(t))
            if t >= 0:
                consumed.add(t)
        op.inputs = [mapped(t) for t in inputs]
        op.outputs = [mapped(t) for t in outputs]
        produced.update(outputs)
        graph.operators.append(op)
    graph.outputs = [tensor_map[t] for t in sorted(produced - consumed)]

    if layer is not None:
        position = {old: new for new, old in enumerate(op_indices)}
        try:
            renamed = MaskedLayer(
                layer.name, 0,
                position[layer.pad_op] if layer.pad_op >= 0 else -1,
                position[layer.conv_op], position[layer.mul_op],
                position[layer.add_op] if layer.add_op >= 0 else -1,
                tensor_map[layer.mask_tensor], layer.mask)
        except KeyError as exc:
            raise ValueError(f"layer {layer.name!r}: operator or tensor {exc} was not extracted") from None
        buffer = s.BufferT()
        buffer.data = bytearray(encode([renamed]))
        out.buffers.append(buffer)
        entry = s.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(out.buffers) - 1
        out.metadata = [entry]
    return save_model(out)
