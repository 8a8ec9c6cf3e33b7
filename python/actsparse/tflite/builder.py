"""Build small float32 .tflite graphs directly, without a converter.

Used by the tests (including the tflite-runtime 2.14 environment, which has no
PyTorch) and by ``actsparse demo``. Layouts are TFLite's: activations NHWC,
CONV_2D weights OHWI, DEPTHWISE_CONV_2D weights ``[1, KH, KW, C*M]``.

A *masked* convolution is emitted exactly as the converter emits it:
``CONV_2D(zero bias) -> MUL(mask [1,H,W,1]) -> ADD(bias [1,1,1,C], act)``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from actsparse.format import METADATA_NAME, MaskedLayer, encode
from actsparse.tflite.model_file import save_model, schema

ACTIVATIONS = {"none": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Output extent of a convolution along one axis (TFLite's SAME/VALID rule)."""
    if padding == "same":
        return math.ceil(size / stride)
    if padding == "valid":
        effective = dilation * (kernel - 1) + 1
        return (size - effective) // stride + 1
    raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")


class GraphBuilder:
    """One-subgraph model builder; tensors are referred to by index."""

    def __init__(self) -> None:
        s = schema()
        self._s = s
        self._shapes: list[tuple[int, ...]] = []
        self._opcode_index: dict[int, int] = {}
        self.model = s.ModelT()
        self.model.version = 3
        self.model.operatorCodes = []
        self.model.buffers = [s.BufferT()]  # buffer 0: the empty sentinel
        self.subgraph = s.SubGraphT()
        self.subgraph.tensors = []
        self.subgraph.operators = []
        self.subgraph.inputs = []
        self.subgraph.outputs = []
        self.subgraph.name = "main"
        self.model.subgraphs = [self.subgraph]
        self.model.description = "built by actsparse.tflite.builder"
        #: chains made by masked_conv2d, annotated by finish() as the converter would
        self.masked_layers: list[MaskedLayer] = []

    def shape(self, tensor: int) -> tuple[int, ...]:
        return self._shapes[tensor]

    def dtype(self, tensor: int) -> str:
        """The tensor's element type as ``activation`` names it ("float32", "int32", "int64", "bool")."""
        return {v: k for k, v in self._types().items()}[self.subgraph.tensors[tensor].type]

    def _types(self) -> dict[str, int]:
        t = self._s.TensorType
        return {"float32": t.FLOAT32, "int32": t.INT32, "int64": t.INT64, "bool": t.BOOL}

    def _tensor(self, name: str, shape: Sequence[int], buffer: int, dtype: int) -> int:
        t = self._s.TensorT()
        t.name = name
        t.shape = list(int(d) for d in shape)
        t.type = dtype
        t.buffer = buffer
        self.subgraph.tensors.append(t)
        self._shapes.append(tuple(t.shape))
        return len(self.subgraph.tensors) - 1

    def input(self, name: str, shape: Sequence[int], *, dtype: str = "float32") -> int:
        index = self.activation(name, shape, dtype=dtype)
        self.subgraph.inputs.append(index)
        return index

    def activation(self, name: str, shape: Sequence[int], *, dtype: str = "float32") -> int:
        """A runtime tensor: ``dtype`` "float32", "bool" (a comparison's output), "int32" or "int64"
        (index arithmetic)."""
        return self._tensor(name, shape, 0, self._types()[dtype])

    def constant(self, name: str, array: np.ndarray) -> int:
        """A model constant of ``array`` (float32, int32, int64 or bool)."""
        array = np.ascontiguousarray(array)
        dtype = {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32", np.dtype(np.int64): "int64",
                 np.dtype(np.bool_): "bool"}.get(array.dtype)
        if dtype is None:
            raise TypeError(f"constant {name!r}: dtype {array.dtype} is not float32, int32, int64 or bool")
        dtype = self._types()[dtype]
        buffer = self._s.BufferT()
        buffer.data = bytearray(array.tobytes())
        self.model.buffers.append(buffer)
        return self._tensor(name, array.shape, len(self.model.buffers) - 1, dtype)

    def op(self, builtin: int, inputs: Sequence[int], outputs: Sequence[int],
           options_type: int = 0, options: Any = None, version: int = 1) -> int:
        """Appends an operator; ``version`` is the op's (the runtime looks kernels up by code and version)."""
        if builtin not in self._opcode_index:
            code = self._s.OperatorCodeT()
            code.builtinCode = builtin
            code.deprecatedBuiltinCode = min(builtin, 127)
            code.version = version
            self._opcode_index[builtin] = len(self.model.operatorCodes)
            self.model.operatorCodes.append(code)
        op = self._s.OperatorT()
        op.opcodeIndex = self._opcode_index[builtin]
        op.inputs = list(inputs)
        op.outputs = list(outputs)
        op.builtinOptionsType = options_type
        op.builtinOptions = options
        self.subgraph.operators.append(op)
        return len(self.subgraph.operators) - 1

    # -- layers -------------------------------------------------------------

    def _conv(self, x: int, weights: np.ndarray, bias: np.ndarray, *, depthwise: bool,
              stride: int, dilation: int, padding: str, activation: str, name: str) -> int:
        s = self._s
        n, h, w, c = self.shape(x)
        _, kh, kw, _ = weights.shape
        if depthwise:
            out_channels = weights.shape[3]
            if out_channels % c:
                raise ValueError(f"{name}: {out_channels} output channels is not a multiple of {c} inputs")
            options = s.DepthwiseConv2DOptionsT()
            options.depthMultiplier = out_channels // c
            code, options_type = s.BuiltinOperator.DEPTHWISE_CONV_2D, s.BuiltinOptions.DepthwiseConv2DOptions
        else:
            out_channels = weights.shape[0]
            if c % weights.shape[3] or out_channels % (c // weights.shape[3]):
                raise ValueError(f"{name}: weights of {weights.shape[3]} input channels per group do not "
                                 f"split an input of {c} channels and {out_channels} outputs into groups")
            options = s.Conv2DOptionsT()
            code, options_type = s.BuiltinOperator.CONV_2D, s.BuiltinOptions.Conv2DOptions
        options.padding = s.Padding.SAME if padding == "same" else s.Padding.VALID
        options.strideH = options.strideW = stride
        options.dilationHFactor = options.dilationWFactor = dilation
        options.fusedActivationFunction = ACTIVATIONS[activation]
        out_shape = (n, conv_output_size(h, kh, stride, dilation, padding),
                     conv_output_size(w, kw, stride, dilation, padding), out_channels)
        out = self.activation(f"{name}/out", out_shape)
        self.op(code, [x, self.constant(f"{name}/weights", weights.astype(np.float32)),
                       self.constant(f"{name}/bias", bias.astype(np.float32))],
                [out], options_type, options)
        return out

    def conv2d(self, x: int, weights: np.ndarray, bias: np.ndarray, *, stride: int = 1,
               dilation: int = 1, padding: str = "same", activation: str = "none",
               name: str = "conv") -> int:
        """CONV_2D with OHWI ``weights``; returns the NHWC output tensor. A
        grouped conv has ``I = C_in / groups`` (groups follow from the shapes)."""
        return self._conv(x, weights, bias, depthwise=False, stride=stride, dilation=dilation,
                          padding=padding, activation=activation, name=name)

    def conv3d(self, x: int, weights: np.ndarray, bias: np.ndarray | None, *,
               stride: tuple[int, int, int] = (1, 1, 1), dilation: tuple[int, int, int] = (1, 1, 1),
               padding: str = "same", activation: str = "none", name: str = "conv3d") -> int:
        """CONV_3D of NDHWC ``x`` with ``weights`` [KD, KH, KW, I, O]; ``stride`` / ``dilation`` per (D, H, W)."""
        s = self._s
        n, *spatial, _ = self.shape(x)
        options = s.Conv3DOptionsT()
        options.padding = s.Padding.SAME if padding == "same" else s.Padding.VALID
        options.strideD, options.strideH, options.strideW = stride
        options.dilationDFactor, options.dilationHFactor, options.dilationWFactor = dilation
        options.fusedActivationFunction = ACTIVATIONS[activation]
        out_shape = [n] + [conv_output_size(size, k, st, dl, padding)
                           for size, k, st, dl in zip(spatial, weights.shape[:3], stride, dilation)] + [weights.shape[4]]
        out = self.activation(f"{name}/out", out_shape)
        inputs = [x, self.constant(f"{name}/weights", weights.astype(np.float32))]
        if bias is not None:
            inputs.append(self.constant(f"{name}/bias", bias.astype(np.float32)))
        self.op(s.BuiltinOperator.CONV_3D, inputs, [out], s.BuiltinOptions.Conv3DOptions, options)
        return out

    def transpose_conv(self, x: int, weights: np.ndarray, bias: np.ndarray | None, output_hw: tuple[int, int], *,
                       stride: int, padding: str = "valid", activation: str = "none",
                       name: str = "tconv") -> int:
        """TRANSPOSE_CONV of NHWC ``x`` with ``weights`` [O, KH, KW, I] to ``output_hw``."""
        s = self._s
        n = self.shape(x)[0]
        options = s.TransposeConvOptionsT()
        options.padding = s.Padding.SAME if padding == "same" else s.Padding.VALID
        options.strideH = options.strideW = stride
        options.fusedActivationFunction = ACTIVATIONS[activation]
        out = self.activation(f"{name}/out", (n, *output_hw, weights.shape[0]))
        inputs = [self.constant(f"{name}/output_shape", np.array([n, *output_hw, weights.shape[0]], np.int32)),
                  self.constant(f"{name}/weights", weights.astype(np.float32)), x]
        if bias is not None:
            inputs.append(self.constant(f"{name}/bias", bias.astype(np.float32)))
        # Version 3 takes a bias, 4 a fused activation.
        self.op(s.BuiltinOperator.TRANSPOSE_CONV, inputs, [out], s.BuiltinOptions.TransposeConvOptions, options,
                version=4 if activation != "none" else 3)
        return out

    def depthwise_conv2d(self, x: int, weights: np.ndarray, bias: np.ndarray, *,
                         stride: int = 1, dilation: int = 1, padding: str = "same",
                         activation: str = "none", name: str = "dwconv") -> int:
        """DEPTHWISE_CONV_2D with ``[1, KH, KW, C*M]`` weights."""
        return self._conv(x, weights, bias, depthwise=True, stride=stride, dilation=dilation,
                          padding=padding, activation=activation, name=name)

    def mul(self, a: int, b: int, *, activation: str = "none", name: str = "mul") -> int:
        return self._arithmetic("Mul", a, b, activation, name)

    def add(self, a: int, b: int, *, activation: str = "none", name: str = "add") -> int:
        return self._arithmetic("Add", a, b, activation, name)

    def sub(self, a: int, b: int, *, activation: str = "none", name: str = "sub") -> int:
        return self._arithmetic("Sub", a, b, activation, name)

    def div(self, a: int, b: int, *, activation: str = "none", name: str = "div") -> int:
        return self._arithmetic("Div", a, b, activation, name)

    def _arithmetic(self, op: str, a: int, b: int, activation: str, name: str) -> int:
        """ADD / SUB / MUL / DIV with a fused activation; ``op`` as the schema
        names its options table ("Add" for ``AddOptions``)."""
        s = self._s
        options = getattr(s, f"{op}OptionsT")()
        options.fusedActivationFunction = ACTIVATIONS[activation]
        return self._binary(getattr(s.BuiltinOperator, op.upper()), getattr(s.BuiltinOptions, f"{op}Options"),
                            options, a, b, name)

    def _binary(self, code: int, options_type: int, options: Any, a: int, b: int, name: str) -> int:
        """A binary op with broadcasting; its output of ``a``'s type (int32 ADD of int32s)."""
        out = self.activation(f"{name}/out", np.broadcast_shapes(self.shape(a), self.shape(b)), dtype=self.dtype(a))
        self.op(code, [a, b], [out], options_type, options)
        return out

    def compare(self, op: str, a: int, b: int, name: str = "") -> int:
        """GREATER, GREATER_EQUAL, LESS, LESS_EQUAL, EQUAL or NOT_EQUAL (``op`` lower case)
        with broadcasting: a bool tensor."""
        s = self._s
        code = getattr(s.BuiltinOperator, op.upper())
        options_type = getattr(s.BuiltinOptions, "".join(w.title() for w in op.split("_")) + "Options")
        options = getattr(s, "".join(w.title() for w in op.split("_")) + "OptionsT")()
        out = self.activation(f"{name or op}/out", np.broadcast_shapes(self.shape(a), self.shape(b)), dtype="bool")
        self.op(code, [a, b], [out], options_type, options)
        return out

    def logical(self, op: str, a: int, b: int, name: str = "") -> int:
        """LOGICAL_AND or LOGICAL_OR (``op`` "and" / "or") of two bool tensors, with broadcasting."""
        s = self._s
        kind = op.title()
        out = self.activation(f"{name or 'logical_' + op}/out", np.broadcast_shapes(self.shape(a), self.shape(b)),
                              dtype="bool")
        self.op(getattr(s.BuiltinOperator, f"LOGICAL_{op.upper()}"), [a, b], [out],
                getattr(s.BuiltinOptions, f"Logical{kind}Options"), getattr(s, f"Logical{kind}OptionsT")())
        return out

    def select(self, condition: int, a: int, b: int, *, v2: bool = True, name: str = "select") -> int:
        """SELECT_V2 (or SELECT): ``a`` where ``condition`` holds, else ``b`` (of ``a``'s type)."""
        s = self._s
        out = self.activation(f"{name}/out", np.broadcast_shapes(self.shape(condition), self.shape(a), self.shape(b)),
                              dtype=self.dtype(a))
        if v2:
            self.op(s.BuiltinOperator.SELECT_V2, [condition, a, b], [out], s.BuiltinOptions.SelectV2Options,
                    s.SelectV2OptionsT())
        else:
            self.op(s.BuiltinOperator.SELECT, [condition, a, b], [out], s.BuiltinOptions.SelectOptions,
                    s.SelectOptionsT())
        return out

    def squared_difference(self, a: int, b: int, name: str = "squared_difference") -> int:
        """SQUARED_DIFFERENCE: ``(a - b) ** 2`` with broadcasting."""
        s = self._s
        return self._binary(s.BuiltinOperator.SQUARED_DIFFERENCE, s.BuiltinOptions.SquaredDifferenceOptions,
                            s.SquaredDifferenceOptionsT(), a, b, name)

    def maximum(self, a: int, b: int, name: str = "maximum") -> int:
        s = self._s
        return self._binary(s.BuiltinOperator.MAXIMUM, s.BuiltinOptions.MaximumMinimumOptions,
                            s.MaximumMinimumOptionsT(), a, b, name)

    def minimum(self, a: int, b: int, name: str = "minimum") -> int:
        s = self._s
        return self._binary(s.BuiltinOperator.MINIMUM, s.BuiltinOptions.MaximumMinimumOptions,
                            s.MaximumMinimumOptionsT(), a, b, name)

    def pow(self, a: int, b: int, name: str = "pow") -> int:
        """POW: ``a ** b`` with broadcasting."""
        s = self._s
        return self._binary(s.BuiltinOperator.POW, s.BuiltinOptions.PowOptions, s.PowOptionsT(), a, b, name)

    def floor_div(self, a: int, b: int, name: str = "floor_div") -> int:
        """FLOOR_DIV: ``floor(a / b)`` with broadcasting."""
        s = self._s
        return self._binary(s.BuiltinOperator.FLOOR_DIV, s.BuiltinOptions.FloorDivOptions, s.FloorDivOptionsT(), a,
                            b, name)

    def floor_mod(self, a: int, b: int, name: str = "floor_mod") -> int:
        """FLOOR_MOD: ``a`` modulo ``b`` with ``b``'s sign (Python's %), with broadcasting."""
        s = self._s
        return self._binary(s.BuiltinOperator.FLOOR_MOD, s.BuiltinOptions.FloorModOptions, s.FloorModOptionsT(), a,
                            b, name)

    def atan2(self, a: int, b: int, name: str = "atan2") -> int:
        """ATAN2: the angle of (b, a), with broadcasting."""
        return self._binary(self._s.BuiltinOperator.ATAN2, 0, None, a, b, name)

    def cumsum(self, x: int, axis: int, *, exclusive: bool = False, reverse: bool = False,
               name: str = "cumsum") -> int:
        """CUMSUM of ``x`` along ``axis``."""
        s = self._s
        options = s.CumsumOptionsT()
        options.exclusive, options.reverse = exclusive, reverse
        out = self.activation(f"{name}/out", self.shape(x))
        self.op(s.BuiltinOperator.CUMSUM, [x, self.constant(f"{name}/axis", np.array(axis, np.int32))], [out],
                s.BuiltinOptions.CumsumOptions, options)
        return out

    def unary(self, op: str, x: int, *, alpha: float = 0.2, name: str = "") -> int:
        """A standalone activation or elementwise function: ``relu``, ``relu6``,
        ``relu_n1_to_1``, ``relu_0_to_1``, ``leaky_relu`` (``alpha``), ``logistic``, ``tanh``,
        ``hard_swish``, ``rsqrt``, ``gelu`` (erf form), ``gelu_tanh`` (GELU's tanh approximation),
        ``exp``, ``log``, ``sqrt``, ``abs``, ``neg``, ``square``, ``floor``, ``ceil``, ``round``,
        ``sign``, ``sin`` or ``cos``."""
        s = self._s
        code = {"relu": s.BuiltinOperator.RELU, "relu6": s.BuiltinOperator.RELU6,
                "relu_n1_to_1": s.BuiltinOperator.RELU_N1_TO_1, "leaky_relu": s.BuiltinOperator.LEAKY_RELU,
                "logistic": s.BuiltinOperator.LOGISTIC, "tanh": s.BuiltinOperator.TANH,
                "hard_swish": s.BuiltinOperator.HARD_SWISH, "rsqrt": s.BuiltinOperator.RSQRT,
                "gelu": s.BuiltinOperator.GELU, "gelu_tanh": s.BuiltinOperator.GELU,
                "exp": s.BuiltinOperator.EXP, "log": s.BuiltinOperator.LOG, "sqrt": s.BuiltinOperator.SQRT,
                "abs": s.BuiltinOperator.ABS, "neg": s.BuiltinOperator.NEG, "square": s.BuiltinOperator.SQUARE,
                "relu_0_to_1": s.BuiltinOperator.RELU_0_TO_1, "floor": s.BuiltinOperator.FLOOR,
                "ceil": s.BuiltinOperator.CEIL, "round": s.BuiltinOperator.ROUND, "sign": s.BuiltinOperator.SIGN,
                "sin": s.BuiltinOperator.SIN, "cos": s.BuiltinOperator.COS}[op]
        options_type, options = 0, None
        if op == "leaky_relu":
            options_type, options = s.BuiltinOptions.LeakyReluOptions, s.LeakyReluOptionsT()
            options.alpha = alpha
        elif op == "hard_swish":
            options_type, options = s.BuiltinOptions.HardSwishOptions, s.HardSwishOptionsT()
        elif op in ("gelu", "gelu_tanh"):
            options_type, options = s.BuiltinOptions.GeluOptions, s.GeluOptionsT()
            options.approximate = op == "gelu_tanh"
        out = self.activation(f"{name or op}/out", self.shape(x))
        self.op(code, [x], [out], options_type, options)
        return out

    def pool2d(self, x: int, kind: str, filter_size: int, *, stride: int = 1, padding: str = "valid",
               activation: str = "none", name: str = "pool") -> int:
        """MAX_POOL_2D (``kind="max"``) or AVERAGE_POOL_2D (``"average"``), square filter."""
        s = self._s
        n, h, w, c = self.shape(x)
        options = s.Pool2DOptionsT()
        options.padding = s.Padding.SAME if padding == "same" else s.Padding.VALID
        options.strideH = options.strideW = stride
        options.filterHeight = options.filterWidth = filter_size
        options.fusedActivationFunction = ACTIVATIONS[activation]
        out = self.activation(f"{name}/out", (n, conv_output_size(h, filter_size, stride, 1, padding),
                                              conv_output_size(w, filter_size, stride, 1, padding), c))
        code = s.BuiltinOperator.MAX_POOL_2D if kind == "max" else s.BuiltinOperator.AVERAGE_POOL_2D
        self.op(code, [x], [out], s.BuiltinOptions.Pool2DOptions, options)
        return out

    def mean(self, x: int, axes: Sequence[int], *, keep_dims: bool = False, name: str = "mean",
             op: str = "MEAN") -> int:
        """MEAN (or ``op="SUM"``, ``"REDUCE_MAX"`` or ``"REDUCE_MIN"``) over ``axes``."""
        s = self._s
        shape = self.shape(x)
        axes_set = {a % len(shape) for a in axes}
        out_shape = tuple(1 if i in axes_set else d for i, d in enumerate(shape) if keep_dims or i not in axes_set)
        options = s.ReducerOptionsT()
        options.keepDims = keep_dims
        out = self.activation(f"{name}/out", out_shape)
        self.op(getattr(s.BuiltinOperator, op), [x, self.constant(f"{name}/axes", np.array(axes, np.int32))], [out],
                s.BuiltinOptions.ReducerOptions, options)
        return out

    def l2_normalization(self, x: int, name: str = "l2_normalization") -> int:
        """L2_NORMALIZATION over the innermost dim: x / max(sqrt(sum of x^2), 1e-6)."""
        s = self._s
        out = self.activation(f"{name}/out", self.shape(x))
        self.op(s.BuiltinOperator.L2_NORMALIZATION, [x], [out], s.BuiltinOptions.L2NormOptions, s.L2NormOptionsT())
        return out

    def batch_matmul(self, a: int, b: int, *, adj_x: bool = False, adj_y: bool = False,
                     name: str = "batch_matmul") -> int:
        """BATCH_MATMUL: ``a`` [..., M, K] (``adj_x``: [..., K, M]) times ``b`` [..., K, N]
        (``adj_y``: [..., N, K]), batch dims broadcast (right-aligned); the output is [..., M, N]."""
        s = self._s
        sa, sb = self.shape(a), self.shape(b)
        m = sa[-1] if adj_x else sa[-2]
        n = sb[-2] if adj_y else sb[-1]
        rank = max(len(sa), len(sb))
        pa, pb = (1,) * (rank - len(sa)) + tuple(sa[:-2]), (1,) * (rank - len(sb)) + tuple(sb[:-2])
        batch = tuple(max(x, y) for x, y in zip(pa, pb))
        options = s.BatchMatMulOptionsT()
        options.adjX, options.adjY = adj_x, adj_y
        out = self.activation(f"{name}/out", batch + (m, n))
        self.op(s.BuiltinOperator.BATCH_MATMUL, [a, b], [out], s.BuiltinOptions.BatchMatMulOptions, options)
        return out

    def fully_connected(self, x: int, weights: np.ndarray, bias: np.ndarray | None, *,
                        activation: str = "none", keep_num_dims: bool = False, name: str = "fc") -> int:
        """FULLY_CONNECTED with ``weights`` [O, K]: the input is read as rows of K."""
        s = self._s
        shape = self.shape(x)
        units, k = weights.shape
        rows = int(np.prod(shape)) // k
        out_shape = (*shape[:-1], units) if keep_num_dims else (rows, units)
        options = s.FullyConnectedOptionsT()
        options.fusedActivationFunction = ACTIVATIONS[activation]
        options.keepNumDims = keep_num_dims
        inputs = [x, self.constant(f"{name}/weights", weights.astype(np.float32))]
        inputs.append(self.constant(f"{name}/bias", bias.astype(np.float32)) if bias is not None else -1)
        out = self.activation(f"{name}/out", out_shape)
        self.op(s.BuiltinOperator.FULLY_CONNECTED, inputs, [out], s.BuiltinOptions.FullyConnectedOptions, options)
        return out

    def pad_nd(self, x: int, paddings: Sequence[tuple[int, int]], *, value: float | None = None,
               name: str = "pad") -> int:
        """PAD (``value=None``, zeros) or PADV2 of any rank."""
        s = self._s
        shape = self.shape(x)
        amounts = self.constant(f"{name}/paddings", np.array(paddings, np.int32).reshape(len(shape), 2))
        out = self.activation(f"{name}/out", tuple(d + a + b for d, (a, b) in zip(shape, paddings)))
        if value is None:
            self.op(s.BuiltinOperator.PAD, [x, amounts], [out], s.BuiltinOptions.PadOptions, s.PadOptionsT())
        else:
            v = self.constant(f"{name}/value", np.array(value, np.float32))
            self.op(s.BuiltinOperator.PADV2, [x, amounts, v], [out], s.BuiltinOptions.PadV2Options,
                    s.PadV2OptionsT())
        return out

    def reshape(self, x: int, shape: Sequence[int], name: str = "reshape") -> int:
        s = self._s
        options = s.ReshapeOptionsT()
        options.newShape = list(shape)
        out = self.activation(f"{name}/out", shape, dtype=self.dtype(x))
        self.op(s.BuiltinOperator.RESHAPE, [x, self.constant(f"{name}/shape", np.array(shape, np.int32))], [out],
                s.BuiltinOptions.ReshapeOptions, options)
        return out

    def transpose(self, x: int, perm: Sequence[int], name: str = "transpose") -> int:
        s = self._s
        shape = self.shape(x)
        out = self.activation(f"{name}/out", tuple(shape[p] for p in perm), dtype=self.dtype(x))
        self.op(s.BuiltinOperator.TRANSPOSE, [x, self.constant(f"{name}/perm", np.array(perm, np.int32))], [out],
                s.BuiltinOptions.TransposeOptions, s.TransposeOptionsT())
        return out

    def slice(self, x: int, begin: Sequence[int], size: Sequence[int], name: str = "slice") -> int:
        """SLICE: ``size[i]`` elements of dim i from ``begin[i]`` (-1: to the end)."""
        s = self._s
        shape = self.shape(x)
        out_shape = tuple(n - b if z == -1 else z for n, b, z in zip(shape, begin, size))
        out = self.activation(f"{name}/out", out_shape, dtype=self.dtype(x))
        self.op(s.BuiltinOperator.SLICE, [x, self.constant(f"{name}/begin", np.array(begin, np.int32)),
                                          self.constant(f"{name}/size", np.array(size, np.int32))], [out],
                s.BuiltinOptions.SliceOptions, s.SliceOptionsT())
        return out

    def broadcast_to(self, x: int, shape: Sequence[int], name: str = "broadcast_to") -> int:
        """BROADCAST_TO: ``x`` repeated to ``shape`` (numpy's rule: ``x``'s dims line up with the last
        ones of ``shape``, each equal or 1)."""
        s = self._s
        out = self.activation(f"{name}/out", shape, dtype=self.dtype(x))
        self.op(s.BuiltinOperator.BROADCAST_TO, [x, self.constant(f"{name}/shape", np.array(shape, np.int32))],
                [out], s.BuiltinOptions.BroadcastToOptions, s.BroadcastToOptionsT(),
                version=2)  # the builtin kernel starts at version 2 (as litert-torch writes it)
        return out

    def strided_slice(self, x: int, begin: Sequence[int], end: Sequence[int], strides: Sequence[int], *,
                      begin_mask: int = 0, end_mask: int = 0, shrink_axis_mask: int = 0,
                      name: str = "strided_slice") -> int:
        """STRIDED_SLICE of ``x``: per dim from ``begin`` to ``end`` (exclusive; negatives count from
        the end) in steps of ``strides`` (a negative step walks backwards); a bit of ``begin_mask`` /
        ``end_mask`` takes the dim from its start / to its end (the walk's), of ``shrink_axis_mask``
        drops the dim (one element)."""
        s = self._s
        shape = self.shape(x)
        out_shape = []
        for d, n in enumerate(shape):
            forwards = strides[d] > 0
            b = (0 if forwards else n - 1) if begin_mask >> d & 1 else begin[d] + (n if begin[d] < 0 else 0)
            e = (n if forwards else -1) if end_mask >> d & 1 else end[d] + (n if end[d] < 0 else 0)
            low, high = (0, n) if forwards else (-1, n - 1)
            b, e = min(max(b, low), high), min(max(e, low), high)
            if not shrink_axis_mask >> d & 1:
                span, step = (e - b, strides[d]) if forwards else (b - e, -strides[d])
                out_shape.append(max(0, -(-span // step)))
        options = s.StridedSliceOptionsT()
        options.beginMask, options.endMask, options.shrinkAxisMask = begin_mask, end_mask, shrink_axis_mask
        out = self.activation(f"{name}/out", out_shape)
        self.op(s.BuiltinOperator.STRIDED_SLICE,
                [x] + [self.constant(f"{name}/{k}", np.array(v, np.int32))
                       for k, v in (("begin", begin), ("end", end), ("strides", strides))],
                [out], s.BuiltinOptions.StridedSliceOptions, options)
        return out

    def arg_reduce(self, x: int, axis: int, *, op: str = "ARG_MAX", output_type: str = "int64",
                   name: str = "arg") -> int:
        """ARG_MAX (or ``op="ARG_MIN"``) of ``x`` over ``axis``: ``output_type`` indices, the axis removed."""
        s = self._s
        shape = list(self.shape(x))
        del shape[axis % len(shape)]
        out = self.activation(f"{name}/out", shape, dtype=output_type)
        kind = "ArgMax" if op == "ARG_MAX" else "ArgMin"
        options = getattr(s, f"{kind}OptionsT")()
        options.outputType = self._types()[output_type]
        self.op(getattr(s.BuiltinOperator, op), [x, self.constant(f"{name}/axis", np.array([axis], np.int32))], [out],
                getattr(s.BuiltinOptions, f"{kind}Options"), options)
        return out

    def cast(self, x: int, dtype: str = "float32", name: str = "cast") -> int:
        """CAST of ``x`` to ``dtype``."""
        s = self._s
        out = self.activation(f"{name}/out", self.shape(x), dtype=dtype)
        options = s.CastOptionsT()
        options.inDataType, options.outDataType = self._types()[self.dtype(x)], self._types()[dtype]
        self.op(s.BuiltinOperator.CAST, [x], [out], s.BuiltinOptions.CastOptions, options)
        return out

    def gather_nd(self, params: int, indices: int, name: str = "gather_nd") -> int:
        """GATHER_ND: each index tuple (``indices``' last dim, k) picks a slice of ``params`` past k."""
        s = self._s
        shape = self.shape(indices)
        out = self.activation(f"{name}/out", shape[:-1] + self.shape(params)[shape[-1]:], dtype=self.dtype(params))
        self.op(s.BuiltinOperator.GATHER_ND, [params, indices], [out], s.BuiltinOptions.GatherNdOptions,
                s.GatherNdOptionsT())
        return out

    def reverse(self, x: int, axes: Sequence[int], name: str = "reverse") -> int:
        """REVERSE_V2 (``torch.flip``): ``x`` reversed along ``axes`` (negatives count from the end)."""
        s = self._s
        out = self.activation(f"{name}/out", self.shape(x))
        self.op(s.BuiltinOperator.REVERSE_V2, [x, self.constant(f"{name}/axes", np.array(axes, np.int32))], [out],
                s.BuiltinOptions.ReverseV2Options, s.ReverseV2OptionsT())
        return out

    def concatenation(self, inputs: Sequence[int], axis: int, *, activation: str = "none",
                      name: str = "concat") -> int:
        s = self._s
        shape = list(self.shape(inputs[0]))
        shape[axis] = sum(self.shape(t)[axis] for t in inputs)
        options = s.ConcatenationOptionsT()
        options.axis = axis
        options.fusedActivationFunction = ACTIVATIONS[activation]
        out = self.activation(f"{name}/out", shape, dtype=self.dtype(inputs[0]))
        self.op(s.BuiltinOperator.CONCATENATION, list(inputs), [out], s.BuiltinOptions.ConcatenationOptions, options)
        return out

    def resize_bilinear(self, x: int, height: int, width: int, *, align_corners: bool = False,
                        half_pixel_centers: bool = False, name: str = "resize_bilinear") -> int:
        """RESIZE_BILINEAR of NHWC ``x`` to ``height`` x ``width`` (torch's ``bilinear``
        with ``align_corners=False`` is ``half_pixel_centers=True``)."""
        return self._resize("ResizeBilinear", "RESIZE_BILINEAR", x, height, width, align_corners,
                            half_pixel_centers, name)

    def resize_nearest(self, x: int, height: int, width: int, *, align_corners: bool = False,
                       half_pixel_centers: bool = False, name: str = "resize") -> int:
        """RESIZE_NEAREST_NEIGHBOR of NHWC ``x`` to ``height`` x ``width``."""
        return self._resize("ResizeNearestNeighbor", "RESIZE_NEAREST_NEIGHBOR", x, height, width, align_corners,
                            half_pixel_centers, name)

    def _resize(self, options_name: str, op_name: str, x: int, height: int, width: int, align_corners: bool,
                half_pixel_centers: bool, name: str) -> int:
        s = self._s
        n, _, _, c = self.shape(x)
        options = getattr(s, f"{options_name}OptionsT")()
        options.alignCorners = align_corners
        options.halfPixelCenters = half_pixel_centers
        out = self.activation(f"{name}/out", (n, height, width, c))
        self.op(getattr(s.BuiltinOperator, op_name),
                [x, self.constant(f"{name}/size", np.array([height, width], np.int32))], [out],
                getattr(s.BuiltinOptions, f"{options_name}Options"), options)
        return out

    def softmax(self, x: int, beta: float = 1.0, name: str = "softmax") -> int:
        s = self._s
        options = s.SoftmaxOptionsT()
        options.beta = beta
        out = self.activation(f"{name}/out", self.shape(x))
        self.op(s.BuiltinOperator.SOFTMAX, [x], [out], s.BuiltinOptions.SoftmaxOptions, options)
        return out

    def mirror_pad(self, x: int, paddings: Sequence[tuple[int, int]], *, mode: str = "reflect",
                   name: str = "mirror_pad") -> int:
        """MIRROR_PAD of any rank: ``mode`` "reflect" (edge not repeated) or "symmetric"."""
        s = self._s
        shape = self.shape(x)
        amounts = self.constant(f"{name}/paddings", np.array(paddings, np.int32).reshape(len(shape), 2))
        out = self.activation(f"{name}/out", tuple(d + a + b for d, (a, b) in zip(shape, paddings)))
        options = s.MirrorPadOptionsT()
        options.mode = {"reflect": s.MirrorPadMode.REFLECT, "symmetric": s.MirrorPadMode.SYMMETRIC}[mode]
        self.op(s.BuiltinOperator.MIRROR_PAD, [x, amounts], [out], s.BuiltinOptions.MirrorPadOptions, options)
        return out

    def pad(self, x: int, top: int, bottom: int, left: int, right: int, name: str = "pad") -> int:
        """Zero PAD of H and W (NHWC)."""
        s = self._s
        n, h, w, c = self.shape(x)
        paddings = self.constant(f"{name}/paddings",
                                 np.array([[0, 0], [top, bottom], [left, right], [0, 0]], np.int32))
        out = self.activation(f"{name}/out", (n, h + top + bottom, w + left + right, c))
        self.op(s.BuiltinOperator.PAD, [x, paddings], [out], s.BuiltinOptions.PadOptions, s.PadOptionsT())
        return out

    def masked_conv2d(self, x: int, weights: np.ndarray, bias: np.ndarray, mask: np.ndarray, *,
                      depthwise: bool = False, activation: str = "none", name: str = "mconv",
                      conv_bias: np.ndarray | None = None, with_add: bool = True,
                      pad: tuple[int, int, int, int] | None = None, **conv_args: Any) -> int:
        """A masked conv in the converter's form, recorded for annotation:
        ``[PAD] -> CONV_2D(conv_bias) -> MUL(mask) -> ADD(bias, act)``, or
        ``... -> MUL(mask, act)`` with ``with_add=False`` (``bias`` unused).

        ``mask`` is ``[H_out, W_out]`` of 0/1 (1 = keep); ``pad`` is
        (top, bottom, left, right) zero padding as a separate PAD op.
        """
        channels = weights.shape[0] if not depthwise else weights.shape[3]
        pad_op = -1
        if pad is not None:
            x = self.pad(x, *pad, name=f"{name}/pad")
            pad_op = len(self.subgraph.operators) - 1
        conv = self.depthwise_conv2d if depthwise else self.conv2d
        cb = np.zeros(channels, np.float32) if conv_bias is None else conv_bias
        y = conv(x, weights, cb, name=f"{name}/conv", **conv_args)
        conv_op = len(self.subgraph.operators) - 1
        _, h, w, _ = self.shape(y)
        if mask.shape != (h, w):
            raise ValueError(f"{name}: mask is {mask.shape}, conv output is {(h, w)}")
        m = self.constant(f"{name}/mask", mask.astype(np.float32).reshape(1, h, w, 1))
        y = self.mul(y, m, activation="none" if with_add else activation, name=f"{name}/mul")
        mul_op = len(self.subgraph.operators) - 1
        add_op = -1
        if with_add:
            b = self.constant(f"{name}/bias", bias.astype(np.float32).reshape(1, 1, 1, channels))
            y = self.add(y, b, activation=activation, name=f"{name}/add")
            add_op = len(self.subgraph.operators) - 1
        self.masked_layers.append(MaskedLayer(name, 0, pad_op, conv_op, mul_op, add_op, m,
                                              np.asarray(mask, np.uint8)))
        return y

    def finish(self, outputs: Sequence[int], metadata: dict[str, bytes] | None = None,
               *, annotate: bool = False) -> bytes:
        """Serialize the model with ``outputs`` as graph outputs.

        ``annotate=True`` adds the ``actsparse.masks`` entry for the chains
        made by :meth:`masked_conv2d`; ``metadata`` adds raw entries.
        """
        self.subgraph.outputs = list(outputs)
        self.model.metadata = []
        metadata = dict(metadata or {})
        if annotate:
            metadata[METADATA_NAME] = encode(self.masked_layers)
        for name, payload in metadata.items():
            buffer = self._s.BufferT()
            buffer.data = bytearray(payload)
            self.model.buffers.append(buffer)
            entry = self._s.MetadataT()
            entry.name = name
            entry.buffer = len(self.model.buffers) - 1
            self.model.metadata.append(entry)
        return save_model(self.model)


def demo_model(seed: int = 0, metadata: dict[str, bytes] | None = None, *, annotate: bool = False) -> bytes:
    """A small CNN mixing masked and plain convs: input ``[1, 24, 20, 3]`` NHWC.

    masked 3x3 conv (8 ch, ReLU) -> masked 3x3 stride-2 conv (16 ch, ReLU6)
    -> plain depthwise 3x3 (ReLU) -> plain 1x1 conv (10 ch). ``annotate``
    lists the two masked chains (``block1``, ``block2``) in the
    ``actsparse.masks`` metadata, so the delegate claims them.
    """
    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    x = g.input("input", (1, 24, 20, 3))
    mask1 = (rng.random((24, 20)) >= 0.3).astype(np.float32)
    x = g.masked_conv2d(x, rng.normal(0, 0.3, (8, 3, 3, 3)), rng.normal(0, 0.1, 8), mask1,
                        activation="relu", name="block1")
    mask2 = (rng.random((12, 10)) >= 0.3).astype(np.float32)
    x = g.masked_conv2d(x, rng.normal(0, 0.2, (16, 3, 3, 8)), rng.normal(0, 0.1, 16), mask2,
                        stride=2, activation="relu6", name="block2")
    x = g.depthwise_conv2d(x, rng.normal(0, 0.3, (1, 3, 3, 16)), rng.normal(0, 0.1, 16),
                           activation="relu", name="dw")
    x = g.conv2d(x, rng.normal(0, 0.2, (10, 1, 1, 16)), rng.normal(0, 0.1, 10), name="head")
    return g.finish([x], metadata, annotate=annotate)
