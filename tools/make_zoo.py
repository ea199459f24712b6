"""Build the model zoo of tests/fixtures/zoo: reduced-width versions of the topologies OpenVINO users
run, written as OpenVINO IR by OpenVINO's own PyTorch frontend and serializer.

    .venv/bin/python tools/make_zoo.py

Needs torch (not torchvision: every architecture is written here, with its characteristic ops).
Weights are random (seeded): the zoo tests the plugin's plumbing against OpenVINO, not accuracy.
Writes NAME.xml/.bin (FP32, static shapes) for every model and README.md with their op-type counts.
"""
from __future__ import annotations

import math
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import openvino as ov
import torch
import torch.nn.functional as F
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "zoo"
IMAGE = [1, 3, 32, 32]
SEQ = 16
VOCAB = 64  # every embedding table has >= 16 rows: the tests draw ids in [0, 16)


def randomize_bn(module: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics, so that a mishandled BN shows in the outputs."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return module


def conv_bn(cin, cout, k=3, stride=1, padding=None, groups=1, act: type[nn.Module] | None = nn.ReLU, eps=1e-5):
    padding = tuple(x // 2 for x in k) if isinstance(k, tuple) else k // 2 if padding is None else padding
    layers = [nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=eps)]
    return nn.Sequential(*layers, *([act()] if act else []))


def fold_bn(module: nn.Module) -> nn.Module:
    """Fold every Conv2d+BatchNorm2d pair of nn.Sequential containers (as Model Optimizer IRs have it)."""
    for name, child in module.named_children():
        if isinstance(child, nn.Sequential):
            items = list(child)
            for i in range(len(items) - 1):
                if isinstance(items[i], nn.Conv2d) and isinstance(items[i + 1], nn.BatchNorm2d):
                    items[i] = torch.nn.utils.fusion.fuse_conv_bn_eval(items[i], items[i + 1])
                    items[i + 1] = nn.Identity()
            setattr(module, name, nn.Sequential(*items))
        fold_bn(getattr(module, name))
    return module


# ----------------------------------------------------------------------------------------- ResNet

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, act=None))
        self.down = conv_bn(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return F.relu(self.body(x) + self.down(x))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 8, 5, 1), nn.MaxPool2d(3, 2, padding=1))
        self.layers = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2), BasicBlock(16, 16, 1))
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


# ------------------------------------------------------------------------------------ MobileNets

class MobileNetV1(nn.Module):
    def __init__(self):
        super().__init__()
        cfg = [(8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 48, 2)]
        blocks = [conv_bn(3, 8, 3, 2)]
        for cin, cout, s in cfg:  # depthwise 3x3 + BN + ReLU, pointwise 1x1 + BN + ReLU
            blocks += [conv_bn(cin, cin, 3, s, groups=cin), conv_bn(cin, cout, 1)]
        self.features = nn.Sequential(*blocks)
        self.fc = nn.Linear(48, 10)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn(cin, hidden, 1, act=nn.ReLU6)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6), conv_bn(hidden, cout, 1, act=None)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self):
        super().__init__()
        cfg = [(8, 8, 1, 1), (8, 12, 2, 4), (12, 12, 1, 4), (12, 16, 2, 4), (16, 16, 1, 4)]
        self.features = nn.Sequential(conv_bn(3, 8, 3, 2, act=nn.ReLU6),
                                      *(InvertedResidual(*c) for c in cfg), conv_bn(16, 64, 1, act=nn.ReLU6))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1)).flatten(1))


# ------------------------------------------------------------------------------------- Inception

class InceptionA(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.b1 = conv_bn(cin, 8, 1, eps=1e-3)
        self.b5 = nn.Sequential(conv_bn(cin, 6, 1, eps=1e-3), conv_bn(6, 8, 5, eps=1e-3))
        self.b3 = nn.Sequential(conv_bn(cin, 8, 1, eps=1e-3), conv_bn(8, 12, 3, eps=1e-3), conv_bn(12, 12, 3, eps=1e-3))
        self.pool = conv_bn(cin, 4, 1, eps=1e-3)

    def forward(self, x):
        pooled = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)  # exclude-pad
        return torch.cat([self.b1(x), self.b5(x), self.b3(x), self.pool(pooled)], 1)


class InceptionB(nn.Module):  # grid reduction
    def __init__(self, cin):
        super().__init__()
        self.b3 = conv_bn(cin, 16, 3, 2, padding=0, eps=1e-3)

    def forward(self, x):
        return torch.cat([self.b3(x), F.max_pool2d(x, 3, 2)], 1)


class InceptionC(nn.Module):  # factorized 7x7
    def __init__(self, cin, c7=6):
        super().__init__()
        self.b1 = conv_bn(cin, 8, 1, eps=1e-3)
        self.b7 = nn.Sequential(conv_bn(cin, c7, 1, eps=1e-3), conv_bn(c7, c7, (1, 7), eps=1e-3),
                                conv_bn(c7, 8, (7, 1), eps=1e-3))
        self.b7dbl = nn.Sequential(conv_bn(cin, c7, 1, eps=1e-3), conv_bn(c7, c7, (7, 1), eps=1e-3),
                                   conv_bn(c7, c7, (1, 7), eps=1e-3), conv_bn(c7, 8, (7, 1), eps=1e-3),
                                   conv_bn(8, 8, (1, 7), eps=1e-3))
        self.pool = conv_bn(cin, 8, 1, eps=1e-3)

    def forward(self, x):
        pooled = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        return torch.cat([self.b1(x), self.b7(x), self.b7dbl(x), self.pool(pooled)], 1)


class Inception(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 16, 3, eps=1e-3), nn.MaxPool2d(3, 2))  # 32 -> 15
        self.blocks = nn.Sequential(InceptionA(16), InceptionB(32), InceptionC(48))  # 15 -> 7
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(F.dropout(F.adaptive_avg_pool2d(x, 1), training=False).flatten(1))


# -------------------------------------------------------------------------------------- DenseNet

class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bn_size=2):
        super().__init__()
        self.net = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, bn_size * growth, 1, bias=False),
                                 nn.BatchNorm2d(bn_size * growth), nn.ReLU(),
                                 nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False))

    def forward(self, features: list[torch.Tensor]):
        return self.net(torch.cat(features, 1))


class DenseBlock(nn.Module):
    def __init__(self, n, cin, growth):
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(cin + i * growth, growth) for i in range(n))

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseNet(nn.Module):
    def __init__(self, growth=6):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 12, 3), nn.MaxPool2d(3, 2, 1))  # 32 -> 16
        self.block1 = DenseBlock(3, 12, growth)  # 12 -> 30 channels
        self.transition = nn.Sequential(nn.BatchNorm2d(30), nn.ReLU(), nn.Conv2d(30, 15, 1, bias=False),
                                        nn.AvgPool2d(2, 2))  # 16 -> 8
        self.block2 = DenseBlock(3, 15, growth)  # 15 -> 33 channels
        self.norm = nn.BatchNorm2d(33)
        self.fc = nn.Linear(33, 10)

    def forward(self, x):
        x = self.block2(self.transition(self.block1(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(F.relu(self.norm(x)), (1, 1)).flatten(1))


# ------------------------------------------------------------------------------------ SqueezeNet

class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1 = nn.Conv2d(squeeze, expand, 1)
        self.expand3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x):
        s = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1(s)), F.relu(self.expand3(s))], 1)


class SqueezeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(),  # 32 -> 16
                                      nn.MaxPool2d(3, 2, ceil_mode=True),  # 16 -> 8 (7 without ceil)
                                      Fire(16, 4, 8), Fire(16, 4, 8),
                                      nn.MaxPool2d(3, 2, ceil_mode=True),  # 8 -> 4 (3 without ceil)
                                      Fire(16, 6, 12), Fire(24, 6, 12))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(24, 10, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


# ------------------------------------------------------------------------------------------- VGG

class VGG(nn.Module):
    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for v in [8, 8, "M", 16, 16, "M", 16, 16, 16, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(16 * 4 * 4, 32), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, 10))

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))


# ------------------------------------------------------------------------------------------ UNet

def double_conv(cin, cout):
    return nn.Sequential(conv_bn(cin, cout, 3), conv_bn(cout, cout, 3))


class UNet(nn.Module):
    def __init__(self, c=6, classes=3):
        super().__init__()
        self.enc1, self.enc2, self.enc3 = double_conv(3, c), double_conv(c, 2 * c), double_conv(2 * c, 4 * c)
        self.bottom = double_conv(4 * c, 4 * c)
        self.up3 = nn.ConvTranspose2d(4 * c, 4 * c, 2, stride=2)  # learned upsampling
        self.dec3 = double_conv(8 * c, 2 * c)
        self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec2 = double_conv(4 * c, c)
        self.dec1 = double_conv(2 * c, c)
        self.head = nn.Conv2d(c, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)  # 32
        e2 = self.enc2(F.max_pool2d(e1, 2))  # 16
        e3 = self.enc3(F.max_pool2d(e2, 2))  # 8
        b = self.bottom(F.max_pool2d(e3, 2))  # 4
        d3 = self.dec3(torch.cat([self.up3(b), e3], 1))  # 8
        d2 = self.dec2(torch.cat([self.up2(d3), e2], 1))  # 16
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="nearest"), e1], 1))  # 32
        return self.head(d1)


# ------------------------------------------------------------------------------------------- BERT

class SelfAttention(nn.Module):
    def __init__(self, hidden, heads, sdpa):
        super().__init__()
        self.heads, self.head_dim, self.sdpa = heads, hidden // heads, sdpa
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.out = nn.Linear(hidden, hidden)

    def split(self, x):  # [B, S, H] -> [B, heads, S, head_dim]
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        if self.sdpa:
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask
            ctx = torch.matmul(F.softmax(scores, dim=-1), v)
        ctx = ctx.permute(0, 2, 1, 3).contiguous()
        return self.out(ctx.view(ctx.shape[0], ctx.shape[1], -1))


class EncoderLayer(nn.Module):
    def __init__(self, hidden, heads, sdpa):
        super().__init__()
        self.attn = SelfAttention(hidden, heads, sdpa)
        self.norm1, self.norm2 = nn.LayerNorm(hidden, eps=1e-12), nn.LayerNorm(hidden, eps=1e-12)
        self.ffn_in, self.ffn_out = nn.Linear(hidden, 2 * hidden), nn.Linear(2 * hidden, hidden)
        self.gelu = "tanh" if sdpa else "none"

    def forward(self, x, mask):
        x = self.norm1(x + self.attn(x, mask))
        return self.norm2(x + self.ffn_out(F.gelu(self.ffn_in(x), approximate=self.gelu)))


class Bert(nn.Module):
    def __init__(self, sdpa=False, hidden=32, heads=4, layers=2):
        super().__init__()
        self.tokens, self.positions = nn.Embedding(VOCAB, hidden), nn.Embedding(SEQ, hidden)
        self.token_types = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, sdpa) for _ in range(layers))
        self.pooler = nn.Linear(hidden, hidden)
        self.sdpa = sdpa
        self.register_buffer("position_ids", torch.arange(SEQ).unsqueeze(0))

    def forward(self, input_ids, attention_mask):
        x = self.tokens(input_ids) + self.positions(self.position_ids[:, :input_ids.shape[1]])
        x = self.norm(x + self.token_types(torch.zeros_like(input_ids)))
        big = torch.finfo(x.dtype).min if self.sdpa else -10000.0  # today's HF / the original BERT
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * big  # additive mask
        for layer in self.layers:
            x = layer(x, mask)
        return x, torch.tanh(self.pooler(x[:, 0]))


# -------------------------------------------------------------------------------------------- NCF

class NCF(nn.Module):
    def __init__(self, users=40, items=50, gmf=8, mlp=16):
        super().__init__()
        self.gmf_user, self.gmf_item = nn.Embedding(users, gmf), nn.Embedding(items, gmf)
        self.mlp_user, self.mlp_item = nn.Embedding(users, mlp), nn.Embedding(items, mlp)
        self.mlp = nn.Sequential(nn.Linear(2 * mlp, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU())
        self.predict = nn.Linear(gmf + 8, 1)

    def forward(self, user, item):
        gmf = self.gmf_user(user) * self.gmf_item(item)
        mlp = self.mlp(torch.cat([self.mlp_user(user), self.mlp_item(item)], -1))
        return torch.sigmoid(self.predict(torch.cat([gmf, mlp], -1)))


# -------------------------------------------------------------------------------------- the zoo

def image_model(cls, fold=False):
    return lambda: (fold_bn(randomize_bn(cls()).eval()) if fold else randomize_bn(cls()).eval(),
                    {"input": (IMAGE, torch.float32)})


TEXT = {"input_ids": ([1, SEQ], torch.int64), "attention_mask": ([1, SEQ], torch.int64)}
ZOO = {  # name -> builder of (eval module, {input name: (shape, dtype)})
    "resnet_mini": image_model(ResNet, fold=True),
    "mobilenet_v1_mini": image_model(MobileNetV1),
    "mobilenet_v2_mini": image_model(MobileNetV2),
    "inception_mini": image_model(Inception),
    "densenet_mini": image_model(DenseNet),
    "squeezenet_mini": image_model(SqueezeNet),
    "vgg_mini": image_model(VGG),
    "unet_mini": image_model(UNet),
    "bert_mini": lambda: (Bert(sdpa=False).eval(), TEXT),
    "bert_sdpa_mini": lambda: (Bert(sdpa=True).eval(), TEXT),
    "ncf_mini": lambda: (NCF().eval(), {"user": ([8], torch.int64), "item": ([8], torch.int64)}),
}


def example(name, shape, dtype):
    if dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype)
    if "mask" in name:  # ones, then padding zeros
        return (torch.arange(shape[-1]) < shape[-1] - 3).to(dtype).expand(shape)
    return torch.randint(0, 16, shape, dtype=dtype)


def build(name: str) -> Path:
    torch.manual_seed(sum(map(ord, name)))
    module, inputs = ZOO[name]()
    examples = tuple(example(n, *spec) for n, spec in inputs.items())
    with torch.no_grad():
        model = ov.convert_model(module, example_input=examples,
                                 input=[(ov.PartialShape(s), ov.Type.f32 if d.is_floating_point else ov.Type.i64)
                                        for s, d in inputs.values()])
    for name_, param in zip(inputs, model.inputs):
        param.get_tensor().set_names({name_})
        param.get_node().set_friendly_name(name_)
    for i, out in enumerate(model.outputs):
        out.get_tensor().set_names({f"output{i}" if len(model.outputs) > 1 else "output"})
    model.set_friendly_name(name)
    for i, op in enumerate(model.get_ordered_ops()):  # OpenVINO's auto names count per process
        if re.fullmatch(r"[A-Za-z]+_\d+", op.get_friendly_name()):
            op.set_friendly_name(f"{op.get_type_name()}_{i}")
    path = OUT / f"{name}.xml"
    ov.save_model(model, str(path), compress_to_fp16=False)
    check(path, module, examples)
    return path


def check(path: Path, module: nn.Module, examples: tuple[torch.Tensor, ...]) -> None:
    """The written IR must compute what the torch module computes (OpenVINO, f32 precision)."""
    with torch.no_grad():
        expected = module(*examples)
    expected = expected if isinstance(expected, tuple) else (expected,)
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled([x.numpy() for x in examples])
    for out, ref in zip(compiled.outputs, expected):
        ref = ref.numpy()
        err = abs(got[out] - ref).max()
        assert got[out].shape == ref.shape and err <= 1e-4 * abs(ref).max(), f"{path.name}: {err} vs torch"


def op_counts(xml: Path) -> Counter:
    return Counter(layer.get("type") for layer in ET.parse(xml).getroot().iter("layer"))


NOTABLE = {"MaxPool": ("rounding_type", "pads_begin"), "AvgPool": ("exclude-pad", "pads_begin"),
           "Interpolate": ("mode", "coordinate_transformation_mode"), "Gelu": ("approximation_mode",),
           "MVN": ("eps_mode", "normalize_variance"), "Clamp": ("min", "max"), "ScaledDotProductAttention": ("causal",)}


def op_variants(paths: list[Path]) -> list[str]:
    """`Type-version` of every op, with the characteristic attribute values the zoo exercises."""
    seen: dict[str, set[str]] = {}
    for p in paths:
        for layer in ET.parse(p).getroot().iter("layer"):
            key = f"{layer.get('type')}-{layer.get('version')}"
            data = layer.find("data")
            attrs = "; ".join(f"{a}={data.get(a)}" for a in NOTABLE.get(layer.get("type"), ()) if data is not None)
            seen.setdefault(key, set()).update([attrs] if attrs else [])
    return [f"- {k}" + (f": {' | '.join(sorted(v))}" if v else "") for k, v in sorted(seen.items())]


def write_readme(paths: list[Path]) -> None:
    total = Counter()
    rows = []
    for p in paths:
        counts = op_counts(p)
        total.update(counts.keys())
        size = p.stat().st_size + p.with_suffix(".bin").stat().st_size
        ops = ", ".join(f"{t} {n}" for t, n in sorted(counts.items()) if t not in ("Parameter", "Result", "Const"))
        rows.append(f"| {p.stem} | {size / 1024:.0f} KB | {ops} |")
    sizes = sum(p.stat().st_size + p.with_suffix(".bin").stat().st_size for p in paths)
    text = f"""# Model zoo

Reduced-width, random-weight (seeded) versions of the topologies OpenVINO users run, converted from
PyTorch by OpenVINO's own frontend (`openvino.convert_model`, static shapes) and written FP32 by
`openvino.save_model(..., compress_to_fp16=False)`. `tests/test_zoo.py` runs every IR here in irtool's
CPU plugin and in OpenVINO and compares all outputs. Generated by (needs torch, not torchvision):

    .venv/bin/python tools/make_zoo.py

Images are 1x3x32x32 f32 (`input`); the BERT-like encoders take `input_ids` and `attention_mask`
(1x{SEQ} i64, vocabulary {VOCAB}); NCF takes `user` and `item` (8 i64 ids each). Every embedding table has
at least 16 rows. Total {sizes / 1024:.0f} KB.

| model | .xml + .bin | op types (count; Parameter/Const/Result left out) |
|---|---|---|
{chr(10).join(rows)}

Op types in the zoo ({len(total)}), with the attribute variants that matter:

{chr(10).join(op_variants(paths))}

BatchNorm is folded into the convolutions by OpenVINO's frontend (ResNet's is also folded in torch
before conversion, as Model Optimizer IRs have it); DenseNet's pre-activation BatchNorm becomes
Multiply + Add. Global average pooling becomes ReduceMean, LayerNorm MVN + Multiply + Add, the
int64 attention mask Convert/Subtract/Multiply into an additive f32 mask (-10000 in bert_mini,
float32 min in bert_sdpa_mini). `make_zoo.py` checks every IR against the torch module in OpenVINO.
"""
    (OUT / "README.md").write_text(text)


def main(names: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names or ZOO:
        path = build(name)
        print(f"{path.name}: {sum(op_counts(path).values())} layers")
    write_readme(sorted(OUT.glob("*.xml")))


if __name__ == "__main__":
    main(sys.argv[1:])
