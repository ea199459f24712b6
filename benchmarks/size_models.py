"""Real-size models for the benchmarks (issue 16), built with OpenVINO's opset API and written by its
serializer: ResNet-18 and ResNet-50 at 224, MobileNetV2 at 224 (batch norms folded into the
convolutions, as OpenVINO's converters leave them), and a BERT-base-sized encoder (12 layers, hidden
768, 12 heads, FFN 3072, sequence 128). Weights are random (seeded, He-scaled so activations stay in
range): these models measure speed, not accuracy; the INT8 IRs are NNCF's (``nncf.quantize`` with 16
random inputs; the encoder with ``ModelType.TRANSFORMER``), as users would make them.

    .venv/bin/python benchmarks/size_models.py      # or: make bench, which builds what is missing

Cached in ``$IRTOOL_MODEL_CACHE/bench`` (default ``~/.cache/irtool/models/bench``), not committed.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("IRTOOL_MODEL_CACHE", Path.home() / ".cache" / "irtool" / "models")) / "bench"
MODELS = ("resnet18", "resnet50", "mobilenet_v2", "bert_base")


class _Builder:
    def __init__(self, seed: int):
        import openvino.opset13 as op

        self.op, self.rng = op, np.random.default_rng(seed)

    def const(self, a):
        return self.op.constant(np.asarray(a, np.float32))

    def conv(self, x, cin, cout, k, stride=1, groups=1, act="relu", gain=1.0):
        op, pad = self.op, k // 2
        fan_in = cin // groups * k * k
        if groups == 1:
            w = self.rng.normal(0, gain * np.sqrt(2 / fan_in), (cout, cin, k, k))
            y = op.convolution(x, self.const(w), [stride] * 2, [pad] * 2, [pad] * 2, [1, 1])
        else:
            w = self.rng.normal(0, gain * np.sqrt(2 / fan_in), (groups, cout // groups, cin // groups, k, k))
            y = op.group_convolution(x, self.const(w), [stride] * 2, [pad] * 2, [pad] * 2, [1, 1])
        y = op.add(y, self.const(self.rng.normal(0, 0.05, (1, cout, 1, 1))))
        if act == "relu":
            return op.relu(y)
        if act == "relu6":
            return op.clamp(y, 0.0, 6.0)
        return y

    def head(self, x, cin, classes=1000):
        op = self.op
        y = op.reduce_mean(x, op.constant(np.array([2, 3], np.int64)), keep_dims=False)
        w = self.rng.normal(0, np.sqrt(1 / cin), (classes, cin))
        return op.add(op.matmul(y, self.const(w), False, True), self.const(np.zeros(classes)))


def resnet(depth: int):
    import openvino as ov
    import openvino.opset13 as op

    b = _Builder(depth)
    x = op.parameter([1, 3, 224, 224], np.float32, name="input")
    y = b.conv(x, 3, 64, 7, 2)
    y = op.max_pool(y, [2, 2], [1, 1], [1, 1], [1, 1], [3, 3], "floor", "explicit").output(0)
    blocks = {18: [2, 2, 2, 2], 50: [3, 4, 6, 3]}[depth]
    bottleneck = depth >= 50
    cin = 64
    for stage, n in enumerate(blocks):
        width = 64 * 2 ** stage
        cout = width * 4 if bottleneck else width
        for i in range(n):
            stride = 2 if i == 0 and stage > 0 else 1
            if bottleneck:
                h = b.conv(y, cin, width, 1)
                h = b.conv(h, width, width, 3, stride)
                h = b.conv(h, width, cout, 1, act=None, gain=0.3)
            else:
                h = b.conv(y, cin, width, 3, stride)
                h = b.conv(h, width, cout, 3, act=None, gain=0.3)
            short = b.conv(y, cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else y
            y, cin = op.relu(op.add(h, short)), cout
    return ov.Model([op.result(b.head(y, cin))], [x], f"resnet{depth}")


def mobilenet_v2():
    import openvino as ov
    import openvino.opset13 as op

    b = _Builder(2)
    x = op.parameter([1, 3, 224, 224], np.float32, name="input")
    y, cin = b.conv(x, 3, 32, 3, 2, act="relu6"), 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)]:
        for i in range(n):
            stride, hidden = (s if i == 0 else 1), cin * t
            h = b.conv(y, cin, hidden, 1, act="relu6") if t != 1 else y
            h = b.conv(h, hidden, hidden, 3, stride, groups=hidden, act="relu6")
            h = b.conv(h, hidden, c, 1, act=None, gain=0.5)
            y, cin = (op.add(h, y) if stride == 1 and cin == c else h), c
    y = b.conv(y, cin, 1280, 1, act="relu6")
    return ov.Model([op.result(b.head(y, 1280))], [x], "mobilenet_v2")


def bert_base(layers: int = 12, hidden: int = 768, heads: int = 12, ffn: int = 3072, seq: int = 128):
    import openvino as ov
    import openvino.opset13 as op

    b = _Builder(3)
    x = op.parameter([1, seq, hidden], np.float32, name="embeddings")  # (token + position embeddings)
    mask = op.parameter([1, 1, 1, seq], np.float32, name="attention_mask")  # additive: 0 or -10000

    def dense(v, cin, cout):
        w = b.rng.normal(0, np.sqrt(1 / cin), (cin, cout))
        return op.add(op.matmul(v, b.const(w), False, False), b.const(b.rng.normal(0, 0.02, cout)))

    def layer_norm(v):
        n = op.mvn(v, op.constant(np.array([-1], np.int64)), True, 1e-12, "inside_sqrt")
        return op.add(op.multiply(n, b.const(1 + b.rng.normal(0, 0.05, hidden))), b.const(b.rng.normal(0, 0.05, hidden)))

    def split_heads(v):
        v = op.reshape(v, op.constant(np.array([1, seq, heads, hidden // heads], np.int64)), False)
        return op.transpose(v, op.constant(np.array([0, 2, 1, 3], np.int64)))

    y = x
    for _ in range(layers):
        q, k, v = (split_heads(dense(y, hidden, hidden)) for _ in range(3))
        scores = op.add(op.multiply(op.matmul(q, k, False, True), b.const(1 / np.sqrt(hidden // heads))), mask)
        ctx = op.matmul(op.softmax(scores, -1), v, False, False)
        ctx = op.reshape(op.transpose(ctx, op.constant(np.array([0, 2, 1, 3], np.int64))),
                         op.constant(np.array([1, seq, hidden], np.int64)), False)
        y = layer_norm(op.add(y, dense(ctx, hidden, hidden)))
        y = layer_norm(op.add(y, dense(op.gelu(dense(y, hidden, ffn), "erf"), ffn, hidden)))
    return ov.Model([op.result(y)], [x, mask], "bert_base")


def inputs(model, n: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Random inputs of ``model``'s shapes: images in N(0, 1); the encoder's embeddings in N(0, 1) and
    a mask keeping the first 100 tokens."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        feed = {}
        for p in model.inputs:
            shape = tuple(p.get_partial_shape().to_shape())
            if p.get_any_name() == "attention_mask":
                m = np.zeros(shape, np.float32)
                m[..., 100:] = -10000.0
                feed[p.get_any_name()] = m
            else:
                feed[p.get_any_name()] = rng.standard_normal(shape).astype(np.float32)
        out.append(feed)
    return out


def build(name: str, log=print) -> tuple[Path, Path]:
    """``name``'s FP32 IR and NNCF INT8 IR, made once into the cache."""
    import nncf
    import openvino as ov

    fp32, int8 = CACHE / f"{name}.xml", CACHE / f"{name}_int8.xml"
    if fp32.exists() and int8.exists():
        return fp32, int8
    CACHE.mkdir(parents=True, exist_ok=True)
    model = {"resnet18": lambda: resnet(18), "resnet50": lambda: resnet(50), "mobilenet_v2": mobilenet_v2,
             "bert_base": bert_base}[name]()
    log(f"{name}: writing FP32 and NNCF INT8 IRs into {CACHE}")
    for path, m in ((fp32, model), (int8, None)):
        if m is None:
            kind = {"model_type": nncf.ModelType.TRANSFORMER} if name == "bert_base" else {}
            m = nncf.quantize(ov.Core().read_model(str(fp32)), nncf.Dataset(inputs(model, 16, seed=0)),
                              subset_size=16, **kind)
        staged = path.with_name(f".{path.stem}.tmp.xml")  # whole, then renamed
        ov.save_model(m, str(staged), compress_to_fp16=False)
        staged.with_suffix(".bin").replace(path.with_suffix(".bin"))
        staged.replace(path)
    return fp32, int8


if __name__ == "__main__":
    for name in MODELS:
        build(name)
