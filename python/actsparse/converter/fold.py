"""Fold BatchNorm into masked convs on the exported (aten) graph.

After ``torch.export``, a masked conv reads::

    y = aten.conv2d(x, W, b0, ...)          # b0 may be None
    z = aten.mul(y, <...>.activation_mask)  # [H, W] of 0/1
    o = aten.batch_norm(z, gamma, beta, mean, var, training=False, ..., eps)

With s = gamma / sqrt(var + eps) this is rewritten, exactly, into::

    y = aten.conv2d(x, W*s, b0*s, ...)      # bias dropped when b0 is None
    z = aten.mul(y, mask)
    o = aten.add(z, beta - mean*s)          # [1, C, 1, 1]

which litert-torch emits as CONV_2D -> MUL(mask) -> ADD(bias, fused act).
Masked pixels then equal act(beta - mean*s) as in the trained model (the mask
zeroes the conv bias too, which is why b0*s stays inside the conv).
A masked conv with no BatchNorm after it keeps conv -> mul.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.fx as fx

from actsparse.converter import ConversionError
from actsparse.fd_capture import capture_fd2_outcome

MASK_BUFFER = "activation_mask"
INPUT_SHAPE_BUFFER = "example_input_shape"

_aten = torch.ops.aten
_CONV_TARGETS = {_aten.conv2d.default, getattr(_aten.conv2d, "padding", None)} - {None}


@dataclass
class FoldedLayer:
    """A masked conv after folding, in the layouts the .tflite will use."""

    name: str                 # module path, e.g. "layer1.0.conv1"
    mask: np.ndarray          # uint8 [H, W], 1 = keep
    depthwise: bool
    weight_tflite: np.ndarray  # OHWI, or [1, KH, KW, C*M] for depthwise
    has_bn: bool


def set_inference_mode(module: torch.nn.Module) -> torch.nn.Module:
    """``module.eval()``, also for modules of ExportedPrograms, which refuse
    ``.eval()`` but whose exported graph is already in inference form."""
    for submodule in module.modules():
        submodule.training = False
    return module


def recorded_input_shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """Model input shapes recorded by attach_masks, per masked conv."""
    shapes = {}
    for name, buffer in module.named_buffers():
        if name.endswith("." + INPUT_SHAPE_BUFFER) and buffer.numel() == 4 and bool((buffer > 0).all()):
            shapes[name[: -len(INPUT_SHAPE_BUFFER) - 1]] = tuple(int(v) for v in buffer.tolist())
    return shapes


def mask_buffers(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``{conv module path: mask}`` for every activation mask in ``module``."""
    return {name[: -len(MASK_BUFFER) - 1]: buffer for name, buffer in module.named_buffers()
            if name.endswith("." + MASK_BUFFER) or name == MASK_BUFFER}


def _attr(gm: fx.GraphModule, node: fx.Node) -> torch.Tensor:
    value = gm
    for part in node.target.split("."):
        value = getattr(value, part)
    return value


def _is_get_attr(node: object) -> bool:
    return isinstance(node, fx.Node) and node.op == "get_attr"


class _MaskFitChecker(fx.Interpreter):
    """Runs a GraphModule and checks every conv-output x mask multiply's shapes."""

    def run_node(self, node: fx.Node):
        if node.op == "call_function" and node.target == _aten.mul.Tensor:
            masks = [a for a in node.args if _is_get_attr(a) and a.target.split(".")[-1] == MASK_BUFFER]
            others = [a for a in node.args if isinstance(a, fx.Node) and a not in masks]
            if masks and others:
                mask_shape = tuple(_attr(self.module, masks[0]).shape)
                value = self.env[others[0]]
                if tuple(value.shape[-2:]) != mask_shape:
                    name = masks[0].target[: -len(MASK_BUFFER) - 1]
                    raise ConversionError(f"{name} outputs {value.shape[-2]}x{value.shape[-1]} but its "
                                          f"mask is {mask_shape[0]}x{mask_shape[1]}")
        return super().run_node(node)


def does_not_run(input_shape: tuple[int, ...], exc: Exception) -> ConversionError:
    """The error for a model that fails on ``input_shape`` (NCHW) with ``exc``."""
    return ConversionError(f"the model does not run on input shape {tuple(input_shape)}: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def check_masks_fit(module: torch.nn.Module, input_shape: tuple[int, ...], misfit_hint: str = "") -> None:
    """Raise ConversionError naming every masked conv whose output size for
    ``input_shape`` (NCHW) differs from its mask's (``misfit_hint`` appended
    to that message), or saying that the model does not run on it."""
    from actsparse.torch.masks import conv_output_sizes

    masks = mask_buffers(module)
    sample = torch.zeros(input_shape)
    prefix = f"input shape {tuple(input_shape)} (NCHW) does not fit the masks: "
    try:
        if isinstance(module, fx.GraphModule):  # from a .pt2: no submodule calls to hook
            with torch.no_grad():
                _MaskFitChecker(module).run(sample)
            return
        modules = dict(module.named_modules())
        sizes = conv_output_sizes(module, sample, [n for n in masks if n in modules], partial=True)
    except ConversionError as exc:
        raise ConversionError(prefix + str(exc) + misfit_hint) from None
    except Exception as exc:
        raise does_not_run(input_shape, exc) from None
    wrong = [f"{n} outputs {sizes[n][0]}x{sizes[n][1]} but its mask is "
             f"{tuple(masks[n].shape)[0]}x{tuple(masks[n].shape)[1]}"
             for n in sizes if tuple(masks[n].shape) != sizes[n]]
    if wrong:
        raise ConversionError(prefix + "; ".join(wrong) + misfit_hint)
    try:  # shapes fit; anything else that stops the model is reported as such
        with torch.no_grad():
            module(sample)
    except Exception as exc:
        raise does_not_run(input_shape, exc) from None


def _conv_weight_to_tflite(weight: torch.Tensor, depthwise: bool) -> np.ndarray:
    w = weight.detach().cpu().numpy().astype(np.float32)
    if depthwise:  # [C*M, 1, KH, KW] -> [1, KH, KW, C*M]
        return np.ascontiguousarray(w.transpose(1, 2, 3, 0))
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1))  # OIHW -> OHWI


def fold_masked_convs(module: torch.nn.Module, sample: torch.Tensor) -> tuple[fx.GraphModule, list[FoldedLayer]]:
    """Export ``module`` for ``sample`` and fold BN into every masked conv.

    Returns the rewritten GraphModule (same outputs as ``module``) and one
    :class:`FoldedLayer` per masked conv, in graph order.
    """
    set_inference_mode(module)

    # torch prints the traced graph (dozens of lines) before some failures:
    # the user first needs one line that says what to change.
    program, failure, printed = capture_fd2_outcome(lambda: torch.export.export(module, (sample,)))
    if failure is not None:
        name = type(failure).__name__
        hint = ("; the model's forward branches on tensor values (data-dependent control flow): make it "
                "depend on shapes only, or move that logic out of forward" if "DataDependent" in name else "")
        error = ConversionError(f"torch.export failed for input shape {tuple(sample.shape)}: {name}: "
                                f"{str(failure).splitlines()[0] if str(failure) else ''}{hint}")
        error.details = printed
        raise error from None
    if printed:
        sys.stderr.write(printed)
    gm = program.module()
    graph = gm.graph
    folded: list[FoldedLayer] = []
    for mul in list(graph.nodes):
        if mul.op != "call_function" or mul.target != _aten.mul.Tensor or len(mul.args) != 2:
            continue
        mask_node = next((a for a in mul.args if _is_get_attr(a) and a.target.split(".")[-1] == MASK_BUFFER), None)
        if mask_node is None:
            continue
        name = mask_node.target[: -len(MASK_BUFFER) - 1]
        conv = mul.args[0] if mul.args[1] is mask_node else mul.args[1]
        if not (isinstance(conv, fx.Node) and conv.op == "call_function" and conv.target in _CONV_TARGETS):
            raise ConversionError(f"{name}: its activation mask multiplies something that is not a "
                                  "2-D convolution output; masks must follow an nn.Conv2d")
        if len(conv.users) != 1:
            raise ConversionError(f"{name}: the conv output is used before the mask is applied "
                                  f"({len(conv.users)} users); cannot express the masked conv")
        args = list(conv.args) + [None] * (7 - len(conv.args))
        weight_node, bias_node = args[1], args[2]
        groups = args[6] if args[6] is not None else 1
        if not _is_get_attr(weight_node) or (bias_node is not None and not _is_get_attr(bias_node)):
            raise ConversionError(f"{name}: conv weights are not constants of the model")
        weight = _attr(gm, weight_node).detach()
        in_channels = weight.shape[1] * groups
        # Depthwise (one input channel per group) becomes DEPTHWISE_CONV_2D;
        # other groups a CONV_2D whose filter has in_channels / groups inputs.
        depthwise = groups > 1 and groups == in_channels
        mask = _attr(gm, mask_node).detach()
        mask_np = mask.cpu().numpy()
        if mask.ndim != 2 or not np.isin(mask_np, (0.0, 1.0)).all():
            raise ConversionError(f"{name}: activation_mask must be [H, W] of 0/1, got shape {tuple(mask.shape)}")
        conv_bias = _attr(gm, bias_node).detach() if bias_node is not None else None

        bn = next(iter(mul.users)) if len(mul.users) == 1 else None
        has_bn = bn is not None and bn.op == "call_function" and bn.target == _aten.batch_norm.default
        if has_bn:
            _, gamma_n, beta_n, mean_n, var_n, training, _momentum, eps = bn.args[:8]
            if training:
                raise ConversionError(f"{name}: BatchNorm after the mask runs in training mode")
            if not all(n is None or _is_get_attr(n) for n in (gamma_n, beta_n)) or \
                    not (_is_get_attr(mean_n) and _is_get_attr(var_n)):
                raise ConversionError(f"{name}: BatchNorm after the mask has no running statistics "
                                      "(track_running_stats=False) and cannot be folded")
            mean, var = _attr(gm, mean_n).detach(), _attr(gm, var_n).detach()
            gamma = _attr(gm, gamma_n).detach() if gamma_n is not None else torch.ones_like(mean)
            beta = _attr(gm, beta_n).detach() if beta_n is not None else torch.zeros_like(mean)
            scale = gamma / torch.sqrt(var + eps)
            weight = weight * scale.reshape(-1, 1, 1, 1)
            if conv_bias is not None:
                conv_bias = conv_bias * scale
            shift = (beta - mean * scale).reshape(1, -1, 1, 1)

        prefix = f"_actsparse_{len(folded)}"
        gm.register_buffer(f"{prefix}_weight", weight.clone())
        with graph.inserting_before(conv):
            new_weight = graph.get_attr(f"{prefix}_weight")
            new_bias = None
            if conv_bias is not None:
                gm.register_buffer(f"{prefix}_conv_bias", conv_bias.clone())
                new_bias = graph.get_attr(f"{prefix}_conv_bias")
        args[1], args[2] = new_weight, new_bias
        while len(args) > 3 and args[-1] is None:
            args.pop()
        conv.args = tuple(args)
        if has_bn:
            gm.register_buffer(f"{prefix}_shift", shift.clone())
            with graph.inserting_after(mul):
                shift_node = graph.get_attr(f"{prefix}_shift")
            with graph.inserting_after(shift_node):
                add = graph.call_function(_aten.add.Tensor, (mul, shift_node))
            bn.replace_all_uses_with(add)
            graph.erase_node(bn)
        folded.append(FoldedLayer(name, mask_np.astype(np.uint8), depthwise,
                                  _conv_weight_to_tflite(weight, depthwise), has_bn))
    graph.eliminate_dead_code()
    graph.lint()
    gm.recompile()
    return gm, folded
