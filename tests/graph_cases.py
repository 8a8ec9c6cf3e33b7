"""Generated graphs for the whole-graph delegate tests: every op the delegate
claims, alone with its variations (broadcast shapes, odd channel counts such
as 7, 45 and 129, batch > 1, fused activations), and small networks of other
structures (squeeze-excitation, concat + upsample, grouped convs, residuals
around masked chains, several outputs). Each case builds the same model
bytes and inputs every time.

Used by tests/test_graph_ops.py in ai-edge-litert and in tflite-runtime 2.14
(whose venv has no PyTorch: only numpy and actsparse.tflite.builder here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from actsparse.tflite.builder import GraphBuilder


@dataclass
class Case:
    name: str
    build: Callable[[GraphBuilder, np.random.Generator], list[int]]  # returns the outputs
    #: per graph input: a function of (shape, rng) giving its values; default standard normal
    inputs: dict[int, Callable] = field(default_factory=dict)
    #: how many partitions the delegate must make (1: the graph runs whole)
    partitions: int = 1
    #: substrings that must appear among the delegate's refusals
    refusals: tuple[str, ...] = ()
    annotate: bool = False
    #: where tflite-runtime 2.14's builtin kernel gives another (wrong) result, why; the
    #: delegate there is held to ai-edge-litert's builtin result instead
    old_runtime_differs: str = ""


def _positive(shape, rng):
    return (rng.random(shape) * 1.5 + 0.5).astype(np.float32)


def _wide(shape, rng):
    return (rng.standard_normal(shape) * 4).astype(np.float32)


def _weights(rng, *shape, fan_in):
    return rng.normal(0, 1 / np.sqrt(fan_in), shape).astype(np.float32)


CASES: list[Case] = []


def case(name: str, **kwargs):
    def register(build):
        CASES.append(Case(name, build, **kwargs))
        return build
    return register


# -- binary ops with broadcasting ------------------------------------------------

_BROADCASTS = {
    "same": ((2, 5, 7, 45), (2, 5, 7, 45), False),
    "channel-const": ((1, 5, 7, 45), (45,), True),
    "channel-4d-input": ((2, 5, 7, 7), (2, 1, 1, 7), False),
    "scalar-const": ((1, 5, 7, 3), (), True),
    "outer": ((1, 5, 1, 3), (1, 1, 7, 1), False),
    "3d": ((3, 1, 129), (1, 4, 1), False),
    "left-broadcast": ((1, 1, 1, 45), (2, 3, 4, 45), False),
}
for _op in ("add", "sub", "mul", "div", "maximum", "minimum", "squared_difference"):
    for _label, (_a, _b, _const) in _BROADCASTS.items():
        def _build(g, rng, op=_op, a=_a, b=_b, const=_const):
            x = g.input("a", a)
            y = g.constant("b", _positive(b, rng)) if const else g.input("b", b)
            no_activation = op in ("maximum", "minimum", "squared_difference")
            kwargs = {} if no_activation else {"activation": "relu6" if op == "mul" else "none"}
            return [getattr(g, op)(x, y, **kwargs)]
        CASES.append(Case(f"{_op}-{_label}", _build, inputs={1: _positive} if _op == "div" else {}))

for _act in ("relu", "relu6", "relu_n1_to_1"):
    @case(f"add-act-{_act}")
    def _add_act(g, rng, act=_act):
        return [g.add(g.input("a", (2, 3, 4, 7)), g.input("b", (2, 3, 4, 7)), activation=act)]


# -- unary ops --------------------------------------------------------------------

for _op in ("relu", "relu6", "relu_n1_to_1", "leaky_relu", "logistic", "tanh", "hard_swish"):
    for _shape in ((2, 6, 5, 45), (1, 129)):
        def _build(g, rng, op=_op, shape=_shape):
            return [g.unary(op, g.input("x", shape), alpha=0.3)]
        CASES.append(Case(f"{_op}-{'x'.join(map(str, _shape))}", _build, inputs={0: _wide}))


for _op in ("gelu", "gelu_tanh"):
    for _shape in ((2, 6, 5, 45), (1, 129)):
        def _build(g, rng, op=_op, shape=_shape):
            return [g.unary(op, g.input("x", shape))]
        CASES.append(Case(f"{_op}-{'x'.join(map(str, _shape))}", _build, inputs={0: _wide}))

for _shape in ((2, 6, 5, 45), (1, 129)):
    def _build(g, rng, shape=_shape):
        return [g.unary("rsqrt", g.input("x", shape))]
    CASES.append(Case(f"rsqrt-{'x'.join(map(str, _shape))}", _build, inputs={0: _positive}))


for _op, _values in (("sqrt", _positive), ("abs", _wide), ("neg", _wide), ("square", _wide)):
    for _shape in ((2, 6, 5, 45), (1, 129)):
        def _build(g, rng, op=_op, shape=_shape):
            return [g.unary(op, g.input("x", shape))]
        CASES.append(Case(f"{_op}-{'x'.join(map(str, _shape))}", _build, inputs={0: _values}))


def _halves(shape, rng):
    """Multiples of 0.25 (ties for ROUND), zeros of both signs, and wide values."""
    v = np.round(rng.standard_normal(shape) * 12) / 4
    flat = v.reshape(-1)
    flat[:4] = [0.0, -0.0, -0.3, 2.5]
    return v.astype(np.float32)


for _op in ("relu_0_to_1", "floor", "ceil", "round", "sign", "sin", "cos"):
    for _shape in ((2, 6, 5, 45), (1, 129)):
        def _build(g, rng, op=_op, shape=_shape):
            return [g.unary(op, g.input("x", shape))]
        CASES.append(Case(f"{_op}-{'x'.join(map(str, _shape))}", _build, inputs={0: _halves}))


# POW: a constant exponent (x ** 3, a local response norm's ** 0.75 of a
# positive base) and an exponent per channel, broadcast.
for _label, _exponent in (("cube", np.float32(3.0)), ("three-quarters", np.float32(0.75)),
                          ("per-channel", None)):
    def _build(g, rng, exponent=_exponent):
        x = g.input("x", (2, 5, 7, 45))
        e = g.constant("e", np.array(exponent, np.float32)) if exponent is not None else g.input("e", (45,))
        return [g.pow(x, e)]
    CASES.append(Case(f"pow-{_label}", _build, inputs={0: _wide if _label == "cube" else _positive}))


# FLOOR_DIV / FLOOR_MOD (torch.div(rounding_mode="floor"), torch.remainder)
# by a constant of either sign and by a broadcast operand; ATAN2.
for _op in ("floor_div", "floor_mod", "atan2"):
    for _label, _b in (("positive-const", np.float32(0.7)), ("negative-const", np.float32(-1.3)),
                       ("broadcast", None)):
        def _build(g, rng, op=_op, b=_b):
            x = g.input("x", (2, 5, 7, 45))
            y = (g.constant("b", np.array(b, np.float32)) if b is not None
                 else g.input("y", (2, 5, 7, 45) if op == "atan2" else (45,)))
            return [getattr(g, op)(x, y)]
        if _op != "atan2" or _label == "broadcast":  # ATAN2's builtin kernel takes one shape
            CASES.append(Case(f"{_op}-{_label}", _build, inputs={0: _wide, 1: _positive}))


# CUMSUM (integral images, torch.cumsum) along W, C and H; exclusive, reversed.
for _axis, _exclusive, _reverse in ((2, False, False), (3, True, False), (1, False, True), (-1, True, True)):
    def _build(g, rng, axis=_axis, exclusive=_exclusive, reverse=_reverse):
        return [g.cumsum(g.input("x", (2, 6, 7, 45)), axis, exclusive=exclusive, reverse=reverse)]
    CASES.append(Case(f"cumsum-axis{_axis}{'-exclusive' if _exclusive else ''}{'-reverse' if _reverse else ''}",
                      _build))


@case("silu", inputs={0: _wide})
def _silu(g, rng):
    x = g.input("x", (2, 6, 5, 45))
    return [g.mul(x, g.unary("logistic", x))]


# -- convolutions ------------------------------------------------------------------

_CONVS = [
    # (input NHWC, out channels, kernel, stride, dilation, padding, groups, activation)
    ((1, 9, 11, 7), 45, 3, 1, 1, "same", 1, "relu"),
    ((2, 8, 8, 45), 7, 1, 1, 1, "valid", 1, "none"),
    ((1, 12, 10, 3), 16, 5, 2, 1, "same", 1, "relu6"),
    ((1, 11, 9, 8), 129, 3, 2, 2, "valid", 1, "relu_n1_to_1"),
    ((2, 7, 9, 12), 24, 3, 1, 1, "same", 4, "relu"),
    ((1, 9, 9, 45), 45, 3, 2, 1, "same", 3, "none"),
    ((1, 6, 7, 14), 7, 1, 1, 1, "same", 7, "relu6"),
]
for _i, (_shape, _out, _k, _s, _d, _pad, _groups, _act) in enumerate(_CONVS):
    def _build(g, rng, shape=_shape, out=_out, k=_k, s=_s, d=_d, pad=_pad, groups=_groups, act=_act):
        cin = shape[3] // groups
        w = _weights(rng, out, k, k, cin, fan_in=k * k * cin)
        return [g.conv2d(g.input("x", shape), w, rng.normal(0, 0.1, out), stride=s, dilation=d,
                         padding=pad, activation=act)]
    CASES.append(Case(f"conv{_i}-k{_k}s{_s}d{_d}-g{_groups}-c{_shape[3]}to{_out}", _build))

for _i, (_shape, _mult, _k, _s, _pad) in enumerate([((2, 9, 8, 45), 1, 3, 1, "same"),
                                                    ((1, 10, 11, 7), 2, 5, 2, "same"),
                                                    ((1, 9, 9, 129), 1, 3, 2, "valid")]):
    def _build(g, rng, shape=_shape, mult=_mult, k=_k, s=_s, pad=_pad):
        c = shape[3] * mult
        return [g.depthwise_conv2d(g.input("x", shape), _weights(rng, 1, k, k, c, fan_in=k * k),
                                   rng.normal(0, 0.1, c), stride=s, padding=pad, activation="relu6")]
    CASES.append(Case(f"depthwise{_i}-m{_mult}-k{_k}s{_s}-c{_shape[3]}", _build))


# Transposed convs: 2x2 / 2 (a U-Net's upsampling) VALID and SAME, with a
# ReLU; 3x3 / 3 with 45 -> 7 channels at batch 2; an output one larger than
# the blocks (bias alone in the last row and column); overlapping windows:
# 4x4 / 2 SAME (a DCGAN's, padding 1), 3x3 / 2 SAME with an odd output
# (torch's output_padding), 3x3 / 1 VALID, 5x5 / 3 SAME with 129 channels in.
for _i, (_shape, _out, _k, _s, _pad, _act, _hw) in enumerate([
        ((1, 5, 7, 16), 8, 2, 2, "valid", "relu", None),
        ((2, 4, 3, 45), 7, 2, 2, "same", "none", None),
        ((2, 3, 4, 7), 45, 3, 3, "valid", "none", None),
        ((1, 4, 5, 8), 8, 2, 2, "valid", "none", (9, 11)),
        ((2, 6, 5, 16), 8, 4, 2, "same", "relu", None),
        ((1, 5, 6, 8), 7, 3, 2, "same", "none", (10, 12)),
        ((2, 4, 5, 7), 16, 3, 1, "valid", "relu6", (6, 7)),
        ((1, 3, 4, 129), 8, 5, 3, "same", "none", None)]):
    def _build(g, rng, shape=_shape, out=_out, k=_k, s=_s, pad=_pad, act=_act, hw=_hw):
        w = _weights(rng, out, k, k, shape[3], fan_in=shape[3] * max(1, (k // s) ** 2))
        hw = hw or (shape[1] * s, shape[2] * s)
        return [g.transpose_conv(g.input("x", shape), w, rng.normal(0, 0.1, out), hw, stride=s, padding=pad,
                                 activation=act)]
    CASES.append(Case(f"transpose_conv{_i}-k{_k}s{_s}-{_pad}-c{_shape[3]}to{_out}", _build))


@case("transpose-conv-bias-shaped-1x1x1xC")
def _tconv_bias4d(g, rng):
    """litert-torch writes a ConvTranspose2d's bias as [1, 1, 1, C]."""
    w = _weights(rng, 8, 4, 4, 16, fan_in=64)
    return [g.transpose_conv(g.input("x", (1, 5, 6, 16)), w, rng.normal(0, 0.1, (1, 1, 1, 8)), (10, 12), stride=2,
                             padding="same")]


@case("transpose-conv-between-convs")
def _tconv_overlap(g, rng):
    """A 3x3 / 2 transposed conv (windows overlap) runs with the convs around it in one partition."""
    x = g.conv2d(g.input("x", (1, 6, 5, 8)), _weights(rng, 8, 3, 3, 8, fan_in=72), np.zeros(8), activation="relu")
    y = g.transpose_conv(x, _weights(rng, 8, 3, 3, 8, fan_in=72), np.zeros(8), (12, 10), stride=2, padding="same")
    return [g.conv2d(y, _weights(rng, 4, 1, 1, 8, fan_in=8), np.zeros(4))]


for _group in (1, 2):
    def _build(g, rng, group=_group):
        """A ConvTranspose2d(groups = channels / group) as litert-torch writes it: per group a SLICE and a
        transposed conv (4x4 / 2, SAME), then a CONCATENATION and the bias ADD; groups of one channel run as
        one depthwise transposed conv, groups of two as they are."""
        c = 6
        x = g.conv2d(g.input("x", (2, 5, 7, 4)), _weights(rng, c, 3, 3, 4, fan_in=36), np.zeros(c), activation="relu")
        parts = []
        for k in range(c // group):
            part = g.slice(x, (0, 0, 0, k * group), (2, 5, 7, group), name=f"slice{k}")
            parts.append(g.transpose_conv(part, _weights(rng, group, 4, 4, group, fan_in=16 * group),
                                          np.zeros(group, np.float32), (10, 14), stride=2, padding="same",
                                          name=f"up{k}"))
        y = g.add(g.concatenation(parts, 3), g.constant("bias", rng.normal(0, 0.1, (1, 1, 1, c)).astype(np.float32)))
        return [g.conv2d(y, _weights(rng, 3, 1, 1, c, fan_in=c), np.zeros(3))]
    CASES.append(Case(f"tconv-grouped-per-{_group}-channel-as-litert-torch-writes-it", _build))


@case("conv-pad-fused")
def _conv_pad(g, rng):
    x = g.pad(g.input("x", (1, 10, 9, 16)), 1, 2, 2, 1)
    return [g.conv2d(x, _weights(rng, 8, 3, 3, 16, fan_in=144), np.zeros(8), padding="valid", stride=2)]


@case("conv-residual-relu")
def _residual(g, rng):
    x = g.input("x", (2, 8, 8, 16))
    y = g.conv2d(x, _weights(rng, 16, 3, 3, 16, fan_in=144), rng.normal(0, 0.1, 16), activation="relu")
    y = g.conv2d(y, _weights(rng, 16, 3, 3, 16, fan_in=144), rng.normal(0, 0.1, 16))
    return [g.add(y, x, activation="relu")]


@case("conv-then-activations", inputs={0: _wide})
def _conv_acts(g, rng):
    x = g.input("x", (1, 8, 8, 7))
    y = g.conv2d(x, _weights(rng, 45, 1, 1, 7, fan_in=7), rng.normal(0, 0.1, 45))
    y = g.unary("hard_swish", y)
    y = g.depthwise_conv2d(y, _weights(rng, 1, 3, 3, 45, fan_in=9), np.zeros(45))
    y = g.unary("leaky_relu", y, alpha=0.1)
    z = g.conv2d(y, _weights(rng, 7, 1, 1, 45, fan_in=45), np.zeros(7))
    return [g.mul(z, g.unary("logistic", z))]  # SiLU


# -- fully connected, pooling, mean ------------------------------------------------

@case("fc-2d-bias-relu")
def _fc(g, rng):
    return [g.fully_connected(g.input("x", (2, 45)), _weights(rng, 7, 45, fan_in=45), rng.normal(0, 0.1, 7),
                              activation="relu")]


@case("fc-flatten-nobias")
def _fc_flat(g, rng):
    return [g.fully_connected(g.input("x", (1, 2, 3, 8)), _weights(rng, 129, 48, fan_in=48), None)]


@case("fc-keep-num-dims")
def _fc_keep(g, rng):
    return [g.fully_connected(g.input("x", (2, 3, 45)), _weights(rng, 7, 45, fan_in=45), np.zeros(7),
                              keep_num_dims=True)]


for _kind in ("max", "average"):
    for _i, (_shape, _f, _s, _pad) in enumerate([((2, 9, 8, 7), 3, 2, "same"), ((1, 10, 11, 45), 2, 2, "valid"),
                                                 ((1, 7, 7, 129), 3, 1, "same")]):
        def _build(g, rng, kind=_kind, shape=_shape, f=_f, s=_s, pad=_pad):
            return [g.pool2d(g.input("x", shape), kind, f, stride=s, padding=pad, activation="relu6")]
        CASES.append(Case(f"{_kind}pool{_i}-f{_f}s{_s}-{_pad}-c{_shape[3]}", _build, inputs={0: _wide}))


@case("maxpool-after-lowest-pad")
def _pad_pool(g, rng):
    x = g.pad_nd(g.input("x", (1, 8, 8, 16)), [(0, 0), (1, 1), (1, 1), (0, 0)], value=-3.4028234663852886e38)
    return [g.pool2d(x, "max", 3, stride=2)]


@case("avgpool-after-zero-pad")
def _pad_avg(g, rng):
    x = g.pad_nd(g.input("x", (1, 8, 8, 16)), [(0, 0), (1, 1), (1, 1), (0, 0)])
    return [g.pool2d(x, "average", 3, stride=2)]


for _axes, _keep, _shape in (([1, 2], True, (2, 7, 6, 45)), ([1, 2], False, (1, 5, 5, 129)),
                             ([2, 3], False, (1, 7, 6, 5)), ([-1], False, (2, 3, 45)), ([1], True, (2, 6, 7))):
    def _build(g, rng, axes=_axes, keep=_keep, shape=_shape):
        return [g.mean(g.input("x", shape), axes, keep_dims=keep)]
    CASES.append(Case(f"mean-{'-'.join(map(str, _axes))}-{'keep' if _keep else 'drop'}-{len(_shape)}d", _build))


@case("mean-over-dims-of-one")
def _mean_ones(g, rng):
    """litert-torch's LayerNorm: [1, N, C] reduced over axes 0 and 2 (dim 0
    is 1: a mean over C); and a mean over dims of 1 alone (a copy)."""
    x = g.input("x", (1, 42, 45))
    return [g.mean(x, [0, 2]), g.mean(g.reshape(x, (1, 42, 1, 45)), [0, 2], keep_dims=True, name="ones")]


@case("sum-hw-keepdims")
def _sum_hw(g, rng):
    return [g.mean(g.input("x", (2, 5, 6, 45)), [1, 2], keep_dims=True, op="SUM")]


@case("reduce-max-global-and-over-channels")
def _reduce_max(g, rng):
    """CBAM's pools: a global max pool (H and W) and a max over the channels (the innermost axis)."""
    x = g.input("x", (2, 9, 11, 45))
    return [g.mean(x, [1, 2], keep_dims=True, op="REDUCE_MAX"), g.mean(x, [3], keep_dims=True, op="REDUCE_MAX")]


@case("reduce-max-of-a-batch-1-map-split-across-threads")
def _reduce_max_rows(g, rng):
    """Many rows at batch 1: with 2 threads each takes a range of rows, the partial maxima combined."""
    return [g.mean(g.input("x", (1, 40, 36, 32)), [1, 2], op="REDUCE_MAX")]


@case("reduce-min-as-amin-writes-it")
def _reduce_min(g, rng):
    """x.amin over H and W, over the channels, and of a batch-1 map split across threads (REDUCE_MIN)."""
    x = g.input("x", (2, 9, 11, 45))
    y = g.input("y", (1, 40, 36, 32))
    return [g.mean(x, [1, 2], keep_dims=True, op="REDUCE_MIN", name="min_hw"),
            g.mean(x, [3], keep_dims=True, op="REDUCE_MIN", name="min_c"),
            g.mean(y, [1, 2], op="REDUCE_MIN", name="min_rows")]


@case("sum-over-1x1-map")
def _sum_1x1(g, rng):
    """litert-torch writes a global mean over a 1x1 map as a SUM."""
    return [g.mean(g.input("x", (1, 1, 1, 129)), [1, 2], op="SUM")]


# -- comparisons and SELECT: how litert-torch writes ELU, softplus and Mish ---------------

def _scalar(g, name, value):
    return g.constant(name, np.array(value, np.float32))


@case("elu-select-of-exp")
def _elu(g, rng):
    """F.elu: SELECT_V2(x >= 0, x, EXP(x) - 1), in NCHW as litert-torch leaves it."""
    x = g.input("x", (2, 7, 9, 45))
    em1 = g.sub(g.unary("exp", x), _scalar(g, "one", 1.0))
    return [g.select(g.compare("greater_equal", x, _scalar(g, "zero", 0.0)), x, em1)]


@case("softplus-and-mish")
def _mish(g, rng):
    """Mish = x * tanh(softplus(x)), softplus = SELECT(x > 20, x, LOG(EXP(x) + 1)); inputs wide enough to
    cross the threshold and to overflow EXP (its infinity is selected away)."""
    x = g.input("x", (1, 6, 5, 16))
    soft = g.unary("log", g.add(g.unary("exp", x), _scalar(g, "one", 1.0)))
    softplus = g.select(g.compare("greater", x, _scalar(g, "twenty", 20.0)), x, soft, v2=False)
    return [g.mul(x, g.unary("tanh", softplus))]


for _i, _op in enumerate(("greater", "greater_equal", "less", "less_equal", "equal", "not_equal")):
    def _build(g, rng, op=_op):
        """A comparison with a per-channel constant (broadcast), inputs with exact ties, into a SELECT."""
        x = g.input("x", (2, 5, 3, 7))
        y = g.input("y", (2, 5, 3, 7))
        c = g.constant("c", np.round(rng.normal(0, 1, 7)).astype(np.float32))
        return [g.select(g.compare(op, x, c), x, y)]
    CASES.append(Case(f"compare-{_op}-then-select", _build, inputs={0: lambda shape, r: np.round(r.normal(0, 1, shape))
                                                                     .astype(np.float32)}))


@case("select-v2-broadcasts-as-torch-where-writes-it")
def _where(g, rng):
    """torch.where as litert-torch writes it: a scalar constant for one value
    (where(x > 0, x, 0.0) and where(x > y, 1.0, x)), a condition of one row
    per image broadcast down the rows, a rank-3 value under a rank-4 output."""
    x, y = g.input("x", (2, 8, 6, 16)), g.input("y", (2, 8, 6, 16))
    zero = _scalar(g, "zero", 0.0)
    a = g.select(g.compare("greater", x, zero), x, zero, name="where_zero")
    row = g.slice(x, (0, 0, 0, 0), (2, 1, 6, 16), name="first_row")
    b = g.select(g.compare("greater", row, _scalar(g, "half", 0.5)), x, y, name="where_row")
    c = g.select(g.compare("greater", x, y), _scalar(g, "one", 1.0), x, name="where_one")
    d = g.select(g.compare("less", x, y), g.input("z", (6, 16)), x, name="where_rank3")
    return [g.add(g.add(a, b), g.add(c, d))]


@case("bool-tensors-at-the-partition-edge", inputs={0: lambda shape, r: r.random(shape) > 0.5})
def _bool_edge(g, rng):
    """A bool model input read by a SELECT and a comparison's bool output that is a model output: the
    delegate converts them from and to the runtime's bytes."""
    cond = g.input("cond", (1, 4, 5, 8), dtype="bool")
    a, b = g.input("a", (1, 4, 5, 8)), g.input("b", (1, 4, 5, 8))
    picked = g.select(cond, a, b)
    return [picked, g.compare("less", picked, _scalar(g, "zero", 0.0))]


@case("log-and-exp-over-their-range")
def _log_exp(g, rng):
    """LOG of |x| (zeros give -inf, kept out of the output by a MAXIMUM) and EXP of 30 x (overflows)."""
    x = g.input("x", (1, 9, 11, 13))
    logs = g.maximum(g.unary("log", g.mul(x, x)), _scalar(g, "floor", -30.0))
    return [logs, g.minimum(g.unary("exp", g.mul(x, _scalar(g, "thirty", 30.0))), _scalar(g, "cap", 3e38))]


# -- data movement -------------------------------------------------------------------

@case("pad-4d-all-dims")
def _pad4(g, rng):
    return [g.pad_nd(g.input("x", (2, 3, 4, 5)), [(1, 0), (0, 2), (1, 1), (2, 1)])]


@case("mirror-pad-reflect-then-conv")
def _mirror_reflect(g, rng):
    """Fast style transfer's ReflectionPad2d before a valid conv (H and W of NHWC, C = 3)."""
    x = g.mirror_pad(g.input("x", (2, 9, 11, 3)), [(0, 0), (4, 4), (4, 4), (0, 0)])
    return [g.conv2d(x, _weights(rng, 8, 9, 9, 3, fan_in=243), rng.normal(0, 0.1, 8), padding="valid")]


@case("mirror-pad-symmetric-every-dim")
def _mirror_symmetric(g, rng):
    return [g.mirror_pad(g.input("x", (2, 3, 4, 45)), [(1, 2), (3, 0), (0, 4), (2, 1)], mode="symmetric")]


@case("padv2-value-3d")
def _pad3(g, rng):
    return [g.pad_nd(g.input("x", (3, 4, 7)), [(0, 1), (2, 0), (1, 3)], value=1.5)]


@case("reshape-between-ops")
def _reshape(g, rng):
    x = g.unary("relu", g.input("x", (2, 3, 4, 5)))
    y = g.reshape(x, (6, 20))
    return [g.softmax(y)]


for _perm, _shape in (([0, 3, 1, 2], (1, 5, 6, 7)), ([0, 2, 3, 1], (2, 45, 4, 3)), ([2, 0, 1], (2, 3, 4)),
                      ([1, 0], (129, 7))):
    def _build(g, rng, perm=_perm, shape=_shape):
        return [g.transpose(g.input("x", shape), perm)]
    CASES.append(Case(f"transpose-{''.join(map(str, _perm))}", _build))


for _i, (_shape, _begin, _size) in enumerate([((1, 6, 5, 32), (0, 0, 0, 16), (1, 6, 5, 16)),
                                              ((2, 7, 5, 45), (0, 0, 0, 0), (-1, -1, -1, 22)),
                                              ((2, 7, 5, 45), (1, 2, 0, 0), (1, 3, -1, -1)),
                                              ((2, 7, 5, 45), (0, 1, 2, 3), (2, 5, 3, 40)),
                                              ((129, 7), (7, 1), (100, 5))]):
    def _build(g, rng, shape=_shape, begin=_begin, size=_size):
        return [g.slice(g.input("x", shape), begin, size)]
    CASES.append(Case(f"slice{_i}-{len(_shape)}d", _build))


for _i, (_from, _to) in enumerate([((2, 1, 1, 45), (2, 9, 11, 45)), ((2, 9, 11, 1), (2, 9, 11, 7)),
                                   ((1, 5, 1, 3), (4, 5, 6, 3)), ((6, 1), (2, 3, 6, 129))]):
    def _build(g, rng, shape=_from, to=_to):
        return [g.broadcast_to(g.unary("tanh", g.input("x", shape)), to)]
    CASES.append(Case(f"broadcast_to{_i}-{len(_from)}d-to-{len(_to)}d", _build))


@case("strided-slice-focus")
def _focus(g, rng):
    """YOLOv5's Focus: the four phases of every other row and column, concatenated."""
    x = g.input("x", (2, 8, 10, 3))
    phases = [g.strided_slice(x, (0, dy, dx, 0), (0, 0, 0, 0), (1, 2, 2, 1), begin_mask=0b1001, end_mask=0b1111,
                              name=f"phase{dy}{dx}") for dy in (0, 1) for dx in (0, 1)]
    return [g.concatenation(phases, 3)]


@case("strided-slice-negative-and-channel-step")
def _strided(g, rng):
    return [g.strided_slice(g.input("x", (2, 7, 9, 45)), (0, -6, 0, 3), (2, -1, 100, 45), (1, 3, 2, 5))]


@case("strided-slice-backwards")
def _strided_backwards(g, rng):
    """x[:, ::-1, 7:1:-2, ::-1] as TensorFlow writes it: masks, a negative step from a negative begin."""
    return [g.strided_slice(g.input("x", (2, 7, 9, 45)), (0, 0, -2, 0), (0, 0, 1, 0), (1, -1, -2, -1),
                            begin_mask=0b1011, end_mask=0b1011)]


for _label, _shape, _axes in (("w", (2, 6, 5, 45), (2,)), ("c", (2, 6, 5, 7), (3,)),
                              ("hw", (2, 6, 5, 45), (1, 2)), ("3d-negative-axes", (3, 9, 129), (-1, -2))):
    def _build(g, rng, shape=_shape, axes=_axes):
        return [g.reverse(g.unary("tanh", g.input("x", shape)), axes)]
    CASES.append(Case(f"reverse-{_label}", _build, old_runtime_differs="its REVERSE_V2 reverses only the first axis"
                      if len(_axes) > 1 else ""))


# CONV_3D (video and volume nets): SAME and VALID, strides and a dilation
# in depth, kernel depths 1 and 3, odd channels, batch 2, a fused activation.
for _i, (_shape, _k, _stride, _dil, _pad, _out, _act) in enumerate([
        ((2, 4, 6, 7, 3), (3, 3, 3), (1, 1, 1), (1, 1, 1), "same", 8, "relu"),
        ((1, 7, 9, 8, 5), (3, 3, 3), (2, 2, 1), (1, 1, 1), "same", 7, "none"),
        ((1, 9, 6, 6, 4), (3, 1, 3), (1, 1, 2), (2, 1, 1), "valid", 6, "relu6"),
        ((2, 3, 5, 5, 7), (1, 3, 3), (1, 1, 1), (1, 1, 1), "same", 45, "none")]):
    def _build(g, rng, shape=_shape, k=_k, stride=_stride, dil=_dil, pad=_pad, out=_out, act=_act):
        w = _weights(rng, *k, shape[4], out, fan_in=k[0] * k[1] * k[2] * shape[4])
        return [g.conv3d(g.input("x", shape), w, rng.normal(0, 0.1, out), stride=stride, dilation=dil,
                         padding=pad, activation=act)]
    CASES.append(Case(f"conv3d{_i}-k{'x'.join(map(str, _k))}-{_pad}-c{_shape[4]}to{_out}", _build))


@case("repeat-through-rank-8-as-litert-torch-writes-it")
def _repeat(g, rng):
    """x.repeat(1, 2, 1, 1): a rank-8 RESHAPE and BROADCAST_TO (the builtin
    kernels' limit; the rank-8 tensors are not left to the runtime)."""
    x = g.unary("tanh", g.input("x", (2, 8, 6, 10)))
    wide = g.broadcast_to(g.reshape(x, (1, 2, 1, 8, 1, 6, 1, 10), name="r8"), (1, 2, 2, 8, 1, 6, 1, 10), name="b8")
    return [g.reshape(wide, (2, 16, 6, 10), name="back")]


@case("select-constant-conditions-as-circular-padding-writes-them")
def _select_constant(g, rng):
    """F.pad(mode="circular") as litert-torch writes it: SELECTs whose bool
    conditions are model constants (one of them broadcast by a BROADCAST_TO
    the delegate folds)."""
    x = g.input("x", (2, 5, 7, 9))
    mask = rng.random((2, 5, 7, 9)) < 0.5
    a = g.select(g.constant("mask", mask), x, g.unary("tanh", x), v2=False, name="select_const")
    row = g.broadcast_to(g.constant("row_mask", rng.random((1, 7, 9)) < 0.3), (2, 5, 7, 9), name="row_mask_b")
    return [g.select(row, _scalar(g, "zero", 0.0), a, name="select_folded")]


@case("folded-int-output-beside-a-node-left-to-the-runtime", partitions=2,
      refusals=("op not supported by the delegate",))
def _folded_alone(g, rng):
    """An int output computed from constants alone (folded: the delegate
    writes its values) beside a float path cut by an op the delegate leaves
    to the runtime (LOG_SOFTMAX): the folded node lands in a partition with
    no float work, which must still write it."""
    grid = g.broadcast_to(g.constant("row", np.array([[3, 1, 4]], np.int32)), (2, 3), name="grid")
    x = g.input("x", (2, 5, 7))
    s = g._s
    y = g.activation("log_softmax/out", (2, 5, 7))
    g.op(s.BuiltinOperator.LOG_SOFTMAX, [x], [y], s.BuiltinOptions.LogSoftmaxOptions, s.LogSoftmaxOptionsT())
    return [grid, g.unary("tanh", y)]


@case("gather-nd-replicate-padding")
def _gather_replicate(g, rng):
    """F.pad(mode="replicate") as litert-torch writes it: GATHER_ND of whole
    rows by a constant [n, 1] index list, edges repeated."""
    x = g.transpose(g.input("x", (2, 6, 5, 7)), (1, 0, 2, 3))  # [6, 2, 5, 7]
    index = np.array([[0], [0], [0]] + [[i] for i in range(6)] + [[5], [5]], np.int32)
    return [g.gather_nd(g.unary("tanh", x), g.constant("rows", index))]


@case("gather-nd-index-grid-folded-from-constants")
def _gather_grid(g, rng):
    """PSPNet's adaptive pool as litert-torch writes it: an [.., 2] index grid
    built at run time from constants (BROADCAST_TO, RESHAPE, CONCATENATION of
    int tensors, folded by the delegate), gathering pixels of an HWNC tensor."""
    x = g.transpose(g.unary("tanh", g.input("x", (2, 6, 7, 5))), (1, 2, 0, 3))  # [6, 7, 2, 5]
    rows = g.broadcast_to(g.constant("ys", rng.integers(0, 6, (3, 1), dtype=np.int32)), (3, 4), name="ys_b")
    cols = g.broadcast_to(g.constant("xs", rng.integers(0, 7, (4,), dtype=np.int64).astype(np.int32)), (3, 4),
                          name="xs_b")
    grid = g.concatenation([g.reshape(rows, (3, 4, 1), name="ys_r"), g.reshape(cols, (3, 4, 1), name="xs_r")], 2,
                           name="grid")
    return [g.gather_nd(x, grid)]


@case("arg-max-over-channels-as-segmentation-ends",
      inputs={0: lambda shape, r: np.round(r.normal(0, 2, shape)).astype(np.float32)})
def _argmax(g, rng):
    """A segmentation head's end: ARG_MAX over the classes (int64, ties
    between rounded values: the first index wins), and ARG_MIN over H to an
    int32 map that a CAST brings back to floats for a MUL."""
    x = g.input("x", (2, 6, 5, 21))
    classes = g.arg_reduce(x, 3, name="classes")
    lowest = g.cast(g.arg_reduce(x, 1, op="ARG_MIN", output_type="int32", name="lowest_row"), name="rows_as_floats")
    # argmax(keepdim=True).float() as litert-torch writes it: a RESHAPE of the indices, then a CAST.
    kept = g.cast(g.reshape(classes, (2, 6, 5, 1), name="keepdim"), name="classes_as_floats")
    return [classes, g.mul(lowest, _scalar(g, "half", 0.5)), g.add(kept, x)]


def _int_scalar(g, name, value):
    return g.constant(name, np.array(value, np.int32))


def _grid_coords(shape, rng):
    """grid_sample's normalised coordinates, some past [-1, 1] (their corners fall outside)."""
    return rng.uniform(-1.3, 1.3, shape).astype(np.float32)


@case("grid-sample-by-run-time-indices", inputs={1: _grid_coords})
def _grid_sample(g, rng):
    """F.grid_sample as litert-torch writes it: pixel coordinates FLOORed and
    CAST to int32, validity by comparisons and LOGICAL_AND, indices SELECTed
    to 0 outside and negatives wrapped (LESS, ADD, SELECT), CONCATENATED with
    a batch index folded from constants, one GATHER_ND per corner by those
    run-time indices, weighted and summed. Over NHWC params here (a tuple
    picks a pixel's 3 channels); one corner through a flat index (int MUL
    and ADD of run-time ints), one clamped to the border (int MAXIMUM and
    MINIMUM) instead of zeroed."""
    n, h, w, c, oh, ow = 2, 6, 5, 3, 4, 7
    x = g.input("x", (n, h, w, c))
    grid = g.input("grid", (n, oh, ow, 2))
    zero_i, zero_f = _int_scalar(g, "zero_i", 0), _scalar(g, "zero_f", 0.0)
    batch = g.broadcast_to(g.constant("batch", np.arange(n, dtype=np.int32).reshape(n, 1, 1, 1)), (n, oh, ow, 1),
                           name="batch_b")

    def coordinate(k, size):
        # align_corners=False: ((g + 1) * size - 1) / 2
        gk = g.slice(grid, (0, 0, 0, k), (n, oh, ow, 1), name=f"g{k}")
        return g.add(g.mul(gk, _scalar(g, f"half{k}", size / 2)), _scalar(g, f"shift{k}", (size - 1) / 2))

    ix, iy = coordinate(0, w), coordinate(1, h)
    x0, y0 = g.unary("floor", ix), g.unary("floor", iy)
    one = _scalar(g, "one", 1.0)
    x1, y1 = g.add(x0, one), g.add(y0, one)
    weights_x = {0: g.sub(x1, ix), 1: g.sub(ix, x0)}
    weights_y = {0: g.sub(y1, iy), 1: g.sub(iy, y0)}

    def inside(v, size, label):
        low = g.compare("greater_equal", v, zero_f, name=f"{label}_ge")
        high = g.compare("less", v, _scalar(g, f"{label}_size", float(size)), name=f"{label}_lt")
        return g.logical("and", low, high, name=f"{label}_in")

    def wrapped(index, size, label):
        negative = g.compare("less", index, zero_i, name=f"{label}_neg")
        return g.select(negative, g.add(index, _int_scalar(g, f"{label}_n", size)), index, v2=False,
                        name=f"{label}_wrap")

    total = None
    for cy, cx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        xa, ya = (x0, x1)[cx], (y0, y1)[cy]
        label = f"c{cy}{cx}"
        xi, yi = g.cast(xa, "int32", name=f"{label}_xi"), g.cast(ya, "int32", name=f"{label}_yi")
        weight = g.mul(weights_x[cx], weights_y[cy])
        if (cy, cx) == (1, 0):  # border: clamped indices, every weight kept
            xi = g.minimum(g.maximum(xi, zero_i), _int_scalar(g, "w_last", w - 1))
            yi = g.minimum(g.maximum(yi, zero_i), _int_scalar(g, "h_last", h - 1))
        else:
            valid = g.logical("and", inside(xa, w, label + "x"), inside(ya, h, label + "y"))
            xi = wrapped(g.select(valid, xi, zero_i), w, label + "x")
            yi = wrapped(g.select(valid, yi, zero_i), h, label + "y")
            weight = g.select(valid, weight, zero_f)
        if (cy, cx) == (1, 1):  # a flat pixel index into [n, h * w, c]
            flat = g.add(g.mul(yi, _int_scalar(g, "row", w)), xi)
            picked = g.gather_nd(g.reshape(x, (n, h * w, c)), g.concatenation([batch, flat], 3), name=label)
        else:
            picked = g.gather_nd(x, g.concatenation([batch, yi, xi], 3), name=label)
        term = g.mul(picked, weight)
        total = term if total is None else g.add(total, term)
    return [total]


def _int32s(shape, rng):
    """Small ints with ties, and some at the ends of int32 (wrapping), NaN patterns as floats among them."""
    v = rng.integers(-20, 20, shape).astype(np.int32)
    ends = np.array([np.iinfo(np.int32).min, np.iinfo(np.int32).max, -1, 0x7FC00000, -8388607], np.int32)
    at_ends = rng.random(shape) < 0.2
    v[at_ends] = rng.choice(ends, int(at_ends.sum()))
    return v


@case("int32-arithmetic-wraps-and-compares", inputs={0: _int32s, 1: _int32s})
def _int_arithmetic(g, rng):
    """int32 ADD / SUB / MUL (wrapping past the ends), MAXIMUM / MINIMUM and
    the comparisons with broadcasting, LOGICAL_OR of two of them, and an int
    sum CAST to floats: every output exact."""
    a = g.input("a", (2, 3, 9), dtype="int32")
    b = g.input("b", (9,), dtype="int32")
    outputs = [g.add(a, b), g.sub(b, a), g.mul(a, b), g.maximum(a, b), g.minimum(b, a)]
    outputs += [g.compare(op, a, b) for op in ("greater", "greater_equal", "less", "less_equal", "equal",
                                                "not_equal")]
    outputs.append(g.logical("or", g.compare("less", a, _int_scalar(g, "minus3", -3), name="low"),
                             g.compare("equal", a, b, name="same")))
    outputs.append(g.mul(g.cast(g.add(a, _int_scalar(g, "seven", 7)), "float32"), _scalar(g, "tenth", 0.1)))
    return outputs


def _cast_edges(shape, rng):
    """Floats around zero, and the CAST's edges: NaN, the infinities, past int32's ends, -0."""
    v = (rng.standard_normal(shape) * 3).astype(np.float32)
    v.reshape(-1)[:10] = [np.nan, np.inf, -np.inf, 3e9, -3e9, 2147483520.0, -2147483648.0, -0.0, 16777217.0,
                          -0.99]
    return v


@case("cast-float-to-int32-toward-zero-past-the-range", inputs={0: _cast_edges},
      old_runtime_differs="its CAST gives INT32_MIN past int32's range and for NaN (a static_cast undefined "
                          "there); ai-edge-litert 2.3 and TF 2.21 saturate")
def _cast_to_int(g, rng):
    """CAST float32 -> int32 toward zero, saturating past the range (NaN and
    +inf to INT32_MAX) as the builtin does; bool -> int32; and back to
    floats."""
    x = g.input("x", (2, 5, 7))
    ints = g.cast(x, "int32", name="to_int")
    positive = g.cast(g.compare("greater", x, _scalar(g, "zero", 0.0)), "int32", name="positive")
    return [ints, g.add(ints, positive), g.cast(ints, "float32", name="back")]


for _axes in ((1, 3), (0, 2), (3, 5)):
    def _build(g, rng, axes=_axes):
        shape = (2, 48, 6, 2, 6, 3) if 5 in axes else (2, 6, 5, 45)
        return [g.mean(g.input("x", shape), list(axes))]
    CASES.append(Case(f"mean-axes-{'-'.join(map(str, _axes))}", _build))


@case("strided-slice-shrink-left-to-runtime", partitions=0, refusals=("shrink-axis",))
def _strided_shrink(g, rng):
    return [g.strided_slice(g.input("x", (2, 7, 9, 5)), (0, 3, 0, 0), (2, 4, 9, 5), (1, 1, 1, 1),
                            shrink_axis_mask=0b10)]


@case("ghost-module-concat-then-slice")
def _ghost(g, rng):
    """GhostNet: a 1x1 conv and its 3x3 depthwise op concatenated, cut to 37 of 38 channels."""
    primary = g.conv2d(g.input("x", (2, 7, 9, 16)), _weights(rng, 19, 1, 1, 16, fan_in=16), rng.normal(0, 0.1, 19),
                       activation="relu")
    cheap = g.depthwise_conv2d(primary, _weights(rng, 1, 3, 3, 19, fan_in=9), rng.normal(0, 0.1, 19),
                               activation="relu")
    both = g.concatenation([primary, cheap], 3)
    return [g.slice(both, (0, 0, 0, 0), (2, 7, 9, 37))]


# (The builtin CONCATENATION refuses a fused activation on float32.)
for _axis, _act in ((3, "none"), (1, "none"), (0, "none"), (-1, "none")):
    def _build(g, rng, axis=_axis, act=_act):
        shapes = [[2, 4, 5, 7], [2, 4, 5, 7], [2, 4, 5, 7]]
        for i, extra in enumerate((7, 45, 129)):
            shapes[i][axis] = extra if axis in (3, -1) else (i + 1)
        return [g.concatenation([g.input(f"x{i}", s) for i, s in enumerate(shapes)], axis, activation=act)]
    CASES.append(Case(f"concat-axis{_axis}-{_act}", _build))


for _i, (_hw, _out, _align, _half) in enumerate([((4, 5), (8, 10), False, False), ((5, 7), (8, 11), True, False),
                                                ((5, 7), (8, 11), False, True), ((6, 6), (3, 4), False, False)]):
    def _build(g, rng, hw=_hw, out=_out, align=_align, half=_half):
        return [g.resize_nearest(g.input("x", (2, *hw, 7)), *out, align_corners=align, half_pixel_centers=half)]
    CASES.append(Case(f"resize{_i}-{'align' if _align else ''}{'half' if _half else ''}", _build))

# Bilinear: 2x up with half-pixel centers (torch's default), aligned corners,
# an odd factor, down, and 45 channels (a ragged vector end).
for _i, (_hw, _out, _align, _half, _c) in enumerate([((4, 5), (8, 10), False, True, 7),
                                                     ((5, 7), (8, 11), True, False, 7),
                                                     ((5, 7), (8, 11), False, False, 45),
                                                     ((6, 6), (3, 4), False, True, 7),
                                                     ((3, 4), (9, 12), False, True, 45)]):
    def _build(g, rng, hw=_hw, out=_out, align=_align, half=_half, c=_c):
        return [g.resize_bilinear(g.input("x", (2, *hw, c)), *out, align_corners=align, half_pixel_centers=half)]
    CASES.append(Case(f"resize_bilinear{_i}-{'align' if _align else ''}{'half' if _half else ''}-c{_c}", _build))


for _shape, _beta in (((2, 1000), 1.0), ((1, 3, 4, 10), 0.5)):
    def _build(g, rng, shape=_shape, beta=_beta):
        return [g.softmax(g.input("x", shape), beta)]
    CASES.append(Case(f"softmax-{len(_shape)}d-beta{_beta}", _build, inputs={0: _wide}))


# An embedding's L2 norm: rows of 7 and 129 floats, batch 2; one row of
# zeros and one of tiny values (their norm is below the 1e-6 floor).
for _shape in ((2, 3, 7), (2, 129)):
    def _build(g, rng, shape=_shape):
        return [g.l2_normalization(g.input("x", shape))]
    def _values(shape, rng):
        x = rng.standard_normal(shape).astype(np.float32).reshape(-1, shape[-1])
        x[0] = 0.0
        x[1] *= 1e-8
        return x.reshape(shape)
    CASES.append(Case(f"l2_normalization-{'x'.join(map(str, _shape))}", _build, inputs={0: _values}))


# -- batch matmul ------------------------------------------------------------------------

# (a, b, adj_x, adj_y, b constant): attention's two products (keys adjoint, as
# litert-torch writes q @ k^T), both operands adjoint (a non-local block),
# batch dims broadcast both ways, rank 2 with rank 4, a constant right
# operand, 7 / 45 / 129 columns off the 16-wide tiles, a reduction of 2100
# terms (run in blocks).
_MATMULS = [
    ((2, 42, 16), (2, 42, 16), False, True, False),
    ((2, 42, 42), (2, 42, 16), False, False, False),
    ((2, 16, 45), (2, 129, 16), True, True, False),
    ((3, 7, 5), (3, 7, 9), True, False, False),
    ((2, 1, 5, 7), (3, 7, 45), False, False, False),
    ((5, 7), (2, 2, 7, 129), False, False, True),
    ((4, 1, 7, 45), (1, 3, 9, 45), False, True, True),
    ((1, 3, 2100), (2100, 7), False, False, False),
]
for _i, (_a, _b, _adj_x, _adj_y, _const) in enumerate(_MATMULS):
    def _build(g, rng, a=_a, b=_b, adj_x=_adj_x, adj_y=_adj_y, const=_const):
        rhs = g.constant("b", rng.standard_normal(b).astype(np.float32)) if const else g.input("b", b)
        return [g.batch_matmul(g.input("a", a), rhs, adj_x=adj_x, adj_y=adj_y)]
    CASES.append(Case(f"batch_matmul{_i}-{'x'.join(map(str, _a))}{'T' if _adj_x else ''}-"
                      f"{'x'.join(map(str, _b))}{'T' if _adj_y else ''}{'-const' if _const else ''}", _build))


# -- networks of other structures ------------------------------------------------------

@case("net-squeeze-excitation")
def _se(g, rng):
    x = g.input("x", (2, 12, 12, 3))
    y = g.conv2d(x, _weights(rng, 45, 3, 3, 3, fan_in=27), rng.normal(0, 0.1, 45), stride=2, activation="relu")
    y = g.depthwise_conv2d(y, _weights(rng, 1, 3, 3, 45, fan_in=9), rng.normal(0, 0.1, 45))
    y = g.unary("hard_swish", y)
    s = g.mean(y, [1, 2], keep_dims=True)
    s = g.conv2d(s, _weights(rng, 12, 1, 1, 45, fan_in=45), rng.normal(0, 0.1, 12), activation="relu")
    s = g.conv2d(s, _weights(rng, 45, 1, 1, 12, fan_in=12), rng.normal(0, 0.1, 45))
    s = g.unary("logistic", s)
    y = g.mul(y, s)
    y = g.conv2d(y, _weights(rng, 7, 1, 1, 45, fan_in=45), np.zeros(7))
    return [g.softmax(g.fully_connected(g.mean(y, [1, 2]), _weights(rng, 10, 7, fan_in=7), np.zeros(10)))]


@case("net-concat-upsample-two-outputs")
def _neck(g, rng):
    x = g.input("x", (1, 16, 16, 3))
    a = g.conv2d(x, _weights(rng, 16, 3, 3, 3, fan_in=27), rng.normal(0, 0.1, 16), stride=2, activation="relu")
    b = g.conv2d(a, _weights(rng, 32, 3, 3, 16, fan_in=144), rng.normal(0, 0.1, 32), stride=2)
    b = g.mul(b, g.unary("logistic", b))
    up = g.resize_nearest(b, 8, 8)
    cat = g.concatenation([up, a], 3)
    p = g.pool2d(cat, "max", 5, stride=1, padding="same")
    head1 = g.conv2d(p, _weights(rng, 9, 1, 1, 48, fan_in=48), np.zeros(9))
    head2 = g.conv2d(b, _weights(rng, 5, 1, 1, 32, fan_in=32), np.zeros(5))
    return [head1, head2]


@case("net-c2f-split-concat")
def _c2f(g, rng):
    """YOLOv8's C2f: a 1x1 conv split in two channel halves (SLICE), a
    bottleneck on the second half, the three concatenated, a 1x1 conv."""
    x = g.input("x", (1, 8, 8, 16))
    y = g.conv2d(x, _weights(rng, 32, 1, 1, 16, fan_in=16), rng.normal(0, 0.1, 32))
    y = g.mul(y, g.unary("logistic", y))
    a = g.slice(y, (0, 0, 0, 0), (-1, -1, -1, 16), name="split0")
    b = g.slice(y, (0, 0, 0, 16), (-1, -1, -1, 16), name="split1")
    c = g.conv2d(b, _weights(rng, 16, 3, 3, 16, fan_in=144), rng.normal(0, 0.1, 16), activation="relu")
    c = g.add(c, b)
    return [g.conv2d(g.concatenation([a, b, c], 3), _weights(rng, 16, 1, 1, 48, fan_in=48), np.zeros(16))]


@case("net-grouped-convs")
def _grouped(g, rng):
    x = g.input("x", (2, 10, 10, 8))
    y = g.conv2d(x, _weights(rng, 24, 1, 1, 8, fan_in=8), np.zeros(24), activation="relu")
    y = g.conv2d(y, _weights(rng, 24, 3, 3, 6, fan_in=54), rng.normal(0, 0.1, 24), stride=2, activation="relu")
    y = g.conv2d(y, _weights(rng, 24, 3, 3, 12, fan_in=108), rng.normal(0, 0.1, 24))
    return [g.add(y, g.pool2d(g.conv2d(x, _weights(rng, 24, 1, 1, 8, fan_in=8), np.zeros(24)), "average", 2,
                             stride=2), activation="relu")]


@case("net-silu-squeeze-excitation-in-nchw")
def _mbconv_nchw(g, rng):
    """EfficientNet's MBConv as litert-torch writes it: the depthwise conv's
    output transposed to NCHW for SiLU (LOGISTIC, MUL) and the
    squeeze-excitation, then back to NHWC for the 1x1 project conv."""
    x = g.input("x", (2, 9, 11, 16))
    y = g.conv2d(x, _weights(rng, 48, 1, 1, 16, fan_in=16), rng.normal(0, 0.1, 48))
    y = g.depthwise_conv2d(y, _weights(rng, 1, 5, 5, 48, fan_in=25), rng.normal(0, 0.1, 48), stride=2)
    t = g.transpose(y, [0, 3, 1, 2])
    t = g.mul(t, g.unary("logistic", t))
    s = g.reshape(g.mean(t, [2, 3], keep_dims=True), (2, 1, 1, 48))
    s = g.conv2d(s, _weights(rng, 4, 1, 1, 48, fan_in=48), rng.normal(0, 0.1, 4), activation="relu")
    s = g.unary("logistic", g.conv2d(s, _weights(rng, 48, 1, 1, 4, fan_in=4), rng.normal(0, 0.1, 48)))
    t = g.mul(t, g.reshape(s, (2, 48, 1, 1)))
    y = g.transpose(t, [0, 2, 3, 1])
    return [g.conv2d(y, _weights(rng, 24, 1, 1, 48, fan_in=48), np.zeros(24))]


@case("net-layernorm-gelu-mlp")
def _convnext(g, rng):
    """ConvNeXt's block as litert-torch writes it: a 7x7 depthwise conv, a
    LayerNorm over the channels of [1, H*W, C] (MEAN over axes 0 and 2,
    SQUARED_DIFFERENCE, RSQRT), an MLP with GELU, a layer scale and the
    residual."""
    c = 24
    x = g.input("x", (1, 9, 11, c))
    y = g.depthwise_conv2d(x, _weights(rng, 1, 7, 7, c, fan_in=49), rng.normal(0, 0.1, c))
    t = g.reshape(y, (1, 99, c))
    mean = g.mean(t, [0, 2])
    var = g.mean(g.squared_difference(t, g.reshape(mean, (1, 99, 1))), [0, 2], name="var")
    inv = g.unary("rsqrt", g.add(var, g.constant("eps", np.full((1,), 1e-6, np.float32))))
    t = g.mul(g.sub(t, g.reshape(mean, (1, 99, 1), name="m2")), g.reshape(inv, (1, 99, 1), name="inv"))
    t = g.add(g.mul(t, g.constant("ln_w", rng.normal(1, 0.1, c).astype(np.float32))),
              g.constant("ln_b", rng.normal(0, 0.1, c).astype(np.float32)))
    h = g.unary("gelu", g.fully_connected(t, _weights(rng, 4 * c, c, fan_in=c), rng.normal(0, 0.1, 4 * c),
                                          keep_num_dims=True))
    h = g.fully_connected(h, _weights(rng, c, 4 * c, fan_in=4 * c), rng.normal(0, 0.1, c), keep_num_dims=True)
    h = g.mul(g.reshape(h, (1, 9, 11, c)), g.constant("gamma", np.full((c,), 0.5, np.float32)))
    return [g.add(x, h)]


@case("net-attention-between-convs")
def _attention(g, rng):
    """A MobileViT / non-local style block as litert-torch writes it: a conv,
    its pixels as tokens ([2, 42, 16]), queries / keys / values by
    FULLY_CONNECTED, softmax(q k^T / 4) (BATCH_MATMUL with the keys adjoint),
    times the values, a projection, the residual and a conv back; batch 2."""
    c, hw = 16, (6, 7)
    x = g.input("x", (2, *hw, 8))
    y = g.conv2d(x, _weights(rng, c, 3, 3, 8, fan_in=72), rng.normal(0, 0.1, c), activation="relu")
    t = g.reshape(y, (2, hw[0] * hw[1], c))
    q, k, v = (g.fully_connected(t, _weights(rng, c, c, fan_in=c), rng.normal(0, 0.1, c), keep_num_dims=True,
                                 name=name) for name in ("q", "k", "v"))
    a = g.softmax(g.mul(g.batch_matmul(q, k, adj_y=True, name="qk"), _scalar(g, "scale", 0.25)), 1.0)
    o = g.fully_connected(g.batch_matmul(a, v, name="av"), _weights(rng, c, c, fan_in=c), rng.normal(0, 0.1, c),
                          keep_num_dims=True, name="proj")
    y = g.add(y, g.reshape(o, (2, *hw, c), name="tokens_back"))
    return [g.conv2d(y, _weights(rng, 12, 3, 3, c, fan_in=9 * c), rng.normal(0, 0.1, 12))]


@case("net-batchnorm-as-ops-after-concat")
def _densenet(g, rng):
    """DenseNet's pre-activation: a batch norm after a concat cannot fold
    into a conv, so litert-torch writes it as SUB, MUL, MUL, ADD(+ReLU) with
    per-channel constants (one chain step here), then the 1x1 conv."""
    x = g.input("x", (2, 9, 11, 24))
    y = g.conv2d(x, _weights(rng, 12, 3, 3, 24, fan_in=216), rng.normal(0, 0.1, 12), activation="relu")
    c = g.concatenation([x, y], 3)
    t = g.sub(c, g.constant("bn_mean", rng.normal(0, 0.5, (1, 1, 1, 36)).astype(np.float32)))
    t = g.mul(t, g.constant("bn_rstd", _positive((36,), rng)))
    t = g.mul(t, g.constant("bn_gamma", rng.normal(1, 0.2, (1, 1, 1, 36)).astype(np.float32)))
    t = g.add(t, g.constant("bn_beta", rng.normal(0, 0.2, (1, 1, 1, 36)).astype(np.float32)), activation="relu")
    return [g.conv2d(t, _weights(rng, 16, 1, 1, 36, fan_in=36), np.zeros(16))]


@case("net-aspp-image-pooling")
def _aspp(g, rng):
    """DeepLab's ASPP head: dilated 3x3 branches, the image's mean through a
    1x1 conv broadcast back over the map (BROADCAST_TO, as litert-torch
    writes `expand`), all concatenated, a 1x1 conv and an upsampling."""
    x = g.input("x", (2, 9, 11, 16))
    a = g.conv2d(x, _weights(rng, 8, 1, 1, 16, fan_in=16), rng.normal(0, 0.1, 8), activation="relu")
    b = g.conv2d(x, _weights(rng, 8, 3, 3, 16, fan_in=144), rng.normal(0, 0.1, 8), dilation=2, activation="relu")
    p = g.mean(x, [1, 2], keep_dims=True)
    p = g.conv2d(p, _weights(rng, 8, 1, 1, 16, fan_in=16), rng.normal(0, 0.1, 8), activation="relu")
    p = g.broadcast_to(p, (2, 9, 11, 8))
    y = g.conv2d(g.concatenation([a, b, p], 3), _weights(rng, 5, 1, 1, 24, fan_in=24), np.zeros(5))
    return [g.resize_nearest(y, 18, 22)]


@case("net-masked-residual", annotate=True)
def _masked(g, rng):
    x = g.input("x", (2, 10, 10, 16))
    mask = (rng.random((10, 10)) > 0.3).astype(np.float32)
    y = g.masked_conv2d(x, _weights(rng, 16, 3, 3, 16, fan_in=144), rng.normal(0, 0.1, 16), mask,
                        activation="relu", name="block.conv1")
    mask2 = (rng.random((10, 10)) > 0.3).astype(np.float32)
    y = g.masked_conv2d(y, _weights(rng, 16, 3, 3, 16, fan_in=144), rng.normal(0, 0.1, 16), mask2,
                        name="block.conv2")
    return [g.add(y, x, activation="relu")]


@case("net-split-by-unsupported-op", partitions=2, refusals=("(ELU): op not supported",))
def _split(g, rng):
    s = g._s
    x = g.input("x", (1, 6, 6, 7))
    y = g.conv2d(x, _weights(rng, 7, 3, 3, 7, fan_in=63), np.zeros(7), activation="relu")
    z = g.activation("elu/out", g.shape(y))
    g.op(s.BuiltinOperator.ELU, [y], [z])
    return [g.conv2d(z, _weights(rng, 7, 1, 1, 7, fan_in=7), np.zeros(7))]


def build(c: Case) -> tuple[bytes, list[np.ndarray]]:
    """The model and its inputs (in the order of the graph's inputs)."""
    rng = np.random.default_rng(_seed(c.name))
    g = GraphBuilder()
    outputs = c.build(g, rng)
    model = g.finish(outputs, annotate=c.annotate)
    inputs = []
    for i, t in enumerate(g.subgraph.inputs):
        make = c.inputs.get(i, lambda shape, r: r.standard_normal(shape).astype(np.float32))
        inputs.append(make(g.shape(t), rng))
    return model, inputs


def _seed(name: str) -> int:
    # Stable across processes (str hash is salted).
    return sum((i + 1) * ord(ch) for i, ch in enumerate(name))
