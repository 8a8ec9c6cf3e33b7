"""A read-only view of a .tflite subgraph: operators, tensors, constants,
producers and consumers. Light (no torch); used by the converter's annotator
and by ``actsparse inspect``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from actsparse.tflite.model_file import schema

_NUMPY_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}


@dataclass
class Op:
    index: int
    code: int              # BuiltinOperator
    name: str              # "CONV_2D", ...
    inputs: list[int]
    outputs: list[int]
    options: Any           # the builtin options object (object API), or None


class SubgraphView:
    """Operators and tensors of one subgraph of a parsed ``ModelT``."""

    def __init__(self, model: Any, subgraph: int = 0) -> None:
        s = schema()
        self.model = model
        self.subgraph_index = subgraph
        self.subgraph = model.subgraphs[subgraph]
        code_names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
        self.ops: list[Op] = []
        for index, op in enumerate(self.subgraph.operators or []):
            opcode = model.operatorCodes[op.opcodeIndex]
            code = max(int(opcode.builtinCode), int(opcode.deprecatedBuiltinCode))
            self.ops.append(Op(index, code, code_names.get(code, f"#{code}"),
                               [int(i) for i in (op.inputs if op.inputs is not None else [])],
                               [int(i) for i in (op.outputs if op.outputs is not None else [])],
                               op.builtinOptions))
        self.producer: dict[int, int] = {}
        self.consumers: dict[int, list[int]] = {}
        for op in self.ops:
            for t in op.outputs:
                self.producer[t] = op.index
            for t in op.inputs:
                if t >= 0:
                    self.consumers.setdefault(t, []).append(op.index)
        self.graph_outputs = {int(t) for t in (self.subgraph.outputs if self.subgraph.outputs is not None else [])}

    def shape(self, tensor: int) -> tuple[int, ...]:
        shape = self.subgraph.tensors[tensor].shape
        return tuple(int(d) for d in shape) if shape is not None else ()

    def tensor_name(self, tensor: int) -> str:
        name = self.subgraph.tensors[tensor].name
        return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name or "")

    def constant(self, tensor: int) -> np.ndarray | None:
        """The tensor's constant value, or None for activations."""
        t = self.subgraph.tensors[tensor]
        buffers = self.model.buffers or []
        if t.buffer <= 0 or t.buffer >= len(buffers) or buffers[t.buffer].data is None:
            return None
        data = buffers[t.buffer].data
        dtype = _NUMPY_TYPES.get(int(t.type))
        if dtype is None or len(data) == 0:
            return None
        array = np.frombuffer(bytes(bytearray(data)), dtype=dtype)
        shape = self.shape(tensor)
        return array.reshape(shape) if int(np.prod(shape)) == array.size else array

    def only_consumer(self, tensor: int) -> Op | None:
        users = self.consumers.get(tensor, [])
        if len(users) != 1 or tensor in self.graph_outputs:
            return None
        return self.ops[users[0]]

    def fused_activation(self, op: Op) -> int:
        return int(getattr(op.options, "fusedActivationFunction", 0) or 0)
