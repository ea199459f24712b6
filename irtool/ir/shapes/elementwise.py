"""Shape rules of the element-wise ops: unary ones keep their input's shape, binary ones broadcast
(``auto_broadcast`` numpy or none), FakeQuantize and Select broadcast all their inputs."""
from __future__ import annotations

from irtool.ir.shapes import Refusal, T, attr_str, attr_type, broadcast, merge_types, rule, same

# Ops whose output is their first input, shape and element type (further inputs are parameters:
# Swish's beta, Selu's alpha/lambda, PReLU's slope, the updates of a Scatter...).
SAME_AS_INPUT = """
    Abs Acos Acosh Asin Asinh Atan Atanh Ceiling Clamp Cos Cosh Elu Erf ErfInv Exp Floor Gelu HSigmoid
    HSwish Log Mish Negative ReLU Round Sigmoid Sign Sin Sinh SoftPlus SoftSign Sqrt Tan Tanh Swish
    HardSigmoid Selu PReLU Identity MVN NormalizeL2 LRN GRN CumSum ReverseSequence Roll
    ScatterUpdate ScatterElementsUpdate ScatterNDUpdate ShuffleChannels GroupNormalization Assign FakeConvert
""".split()
ARITHMETIC = "Add Subtract Multiply Divide Maximum Minimum Power SquaredDifference FloorMod Mod".split()
COMPARISON = "Equal NotEqual Less LessEqual Greater GreaterEqual".split()
LOGICAL = "LogicalAnd LogicalOr LogicalXor".split()
BITWISE = "BitwiseAnd BitwiseOr BitwiseXor BitwiseLeftShift BitwiseRightShift".split()


@rule(*SAME_AS_INPUT)
def _same(layer, ins):
    return same(ins[0].shape, ins[0].et)


@rule("SoftMax", "LogSoftmax")
def _softmax(layer, ins):
    shape = ins[0].shape
    text = layer.attrs.get("axis")
    if shape is not None and text is not None:
        axis, rank = int(text), len(shape)
        low = 0 if layer.type == "SoftMax" and layer.version == "opset1" else -rank
        if not low <= axis < rank:
            raise Refusal(f"axis {axis} is out of the range [{low}, {rank - 1}] of a rank-{rank} input")
    return same(shape, ins[0].et)


@rule("Clamp")
def _clamp(layer, ins):
    low, high = (float(layer.attrs.get(k, "0")) for k in ("min", "max"))
    if low > high:
        raise Refusal(f"attribute min={layer.attrs.get('min')} is greater than max={layer.attrs.get('max')}")
    return same(ins[0].shape, ins[0].et)


@rule("BatchNormInference")
def _batch_norm(layer, ins):
    data = ins[2] if layer.version == "opset1" else ins[0]  # opset1: gamma, beta, data, mean, variance
    return same(data.shape, data.et)


@rule("Convert")
def _convert(layer, ins):
    return same(ins[0].shape, attr_type(layer, "destination_type", None))


@rule("ConvertLike")
def _convert_like(layer, ins):
    return same(ins[0].shape, ins[1].et)


@rule("IsNaN", "IsInf", "IsFinite")
def _is_class(layer, ins):
    return same(ins[0].shape, "boolean")


@rule("LogicalNot")
def _logical_not(layer, ins):
    return same(ins[0].shape, None)


@rule(*ARITHMETIC)
def _arithmetic(layer, ins):
    et = merge_types(layer, ins)
    if et == "boolean":
        raise Refusal("arithmetic on boolean inputs")
    return same(broadcast(layer, [t.shape for t in ins]), et)


@rule(*BITWISE, "BitwiseNot")
def _bitwise(layer, ins):
    for t in ins:
        if t.et is not None and (t.et.startswith(("f", "bf", "nf")) or t.et == "string"):
            raise Refusal(f"a bitwise op takes integer or boolean inputs, not {t.et}")
    return same(broadcast(layer, [t.shape for t in ins]), merge_types(layer, ins))


@rule(*COMPARISON)
def _comparison(layer, ins):
    merge_types(layer, ins)
    return same(broadcast(layer, [t.shape for t in ins]), "boolean")


@rule(*LOGICAL)
def _logical(layer, ins):
    for t in ins:
        if t.et not in (None, "boolean", "dynamic", "undefined"):
            raise Refusal(f"a logical op takes boolean inputs, not {t.et}")
    return same(broadcast(layer, [t.shape for t in ins]), "boolean")


@rule("Select")
def _select(layer, ins):
    if ins[0].et not in (None, "boolean", "dynamic", "undefined"):
        raise Refusal(f"the condition (input 0) must be boolean, not {ins[0].et}")
    et = merge_types(layer, ins[1:], "then and else inputs")
    return same(broadcast(layer, [t.shape for t in ins]), et)


@rule("FakeQuantize")
def _fake_quantize(layer, ins):
    levels = int(layer.attrs.get("levels", "256"))
    if levels < 2:  # (levels - 1 is the divisor of the quantization step)
        raise Refusal(f"levels={levels}: a FakeQuantize has at least 2 levels")
    return same(broadcast(layer, [t.shape for t in ins]), ins[0].et)


__all__ = ["SAME_AS_INPUT", "T"]
