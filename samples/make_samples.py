#!/usr/bin/env python3
"""Build the sample OpenVINO IR models in samples/ from scikit-learn's digits.

Run from the repository root:

    .venv/bin/python samples/make_samples.py

Everything is deterministic (fixed seeds, fixed thread count) and trained on
real data: ``sklearn.datasets.load_digits`` (1797 8x8 grey-scale digits, ships
with scikit-learn, no network).  For every model NAME it writes

    NAME.xml/.bin          FP32 IR (static batch-1 input "input", output "logits")
    NAME_int8.xml/.bin     NNCF post-training INT8 IR (FakeQuantize), FP32 weights
    NAME_calib.npz         {"input": first 300 training samples}
    NAME_val.npz           {"input": whole test split, "labels": int64}

plus ``digits_cnn_fp16.xml/.bin`` (digits_cnn with FP16-compressed weights) and
refreshes the tables in ``samples/README.md`` between the AUTOGEN markers.
"""

from __future__ import annotations

import collections
import os
import random
import re
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import nncf
import openvino as ov

SEED = 0
N_CALIB = 300
OUT = Path(__file__).resolve().parent
NUM_THREADS = 2

torch.set_num_threads(NUM_THREADS)


def seed_all(seed: int = SEED) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def load_data():
    digits = load_digits()
    x = digits.images.astype(np.float32)  # [N, 8, 8], values 0..16
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=y)
    return x_tr, x_te, y_tr, y_te


def to_images(x8: np.ndarray) -> np.ndarray:
    """[N,8,8] raw 0..16 -> [N,1,32,32] float32 in [0,1] (bilinear upscale)."""
    t = torch.from_numpy(x8 / 16.0).float().unsqueeze(1)
    t = F.interpolate(t, size=(32, 32), mode="bilinear", align_corners=False)
    return t.numpy().astype(np.float32)


def to_tokens(x8: np.ndarray) -> np.ndarray:
    """[N,8,8] raw 0..16 -> [N,64] int64 tokens (vocabulary 17)."""
    return np.rint(x8).astype(np.int64).reshape(len(x8), 64)


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))      # 16x32x32
        x = F.relu(self.conv2(x))      # 32x16x16
        x = self.pool(x)               # 32x8x8
        x = F.relu(self.conv3(x))      # 64x8x8
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.shortcut is None else self.shortcut(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + idt)


class ResNetMini(nn.Module):
    def __init__(self, widths=(16, 32, 64)):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(BasicBlock(cin, w, stride))   # 32x32, 16x16, 8x8
            cin = w
        self.layers = nn.Sequential(*layers)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(self.gap(x), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hid = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.block = nn.Sequential(
            nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(inplace=True),
            nn.Conv2d(hid, hid, 3, stride=stride, padding=1, groups=hid, bias=False),
            nn.BatchNorm2d(hid), nn.ReLU6(inplace=True),
            nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.block(x)
        return x + out if self.use_res else out


class MobileNetV2Mini(nn.Module):
    # (expand, out_channels, repeats, first_stride)
    CFG = [(1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 64, 2, 2)]

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(inplace=True))
        blocks, cin = [], 16
        for t, c, n, s in self.CFG:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Conv2d(cin, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU6(inplace=True))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


class EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer with explicit multi-head attention.

    Written so that OpenVINO's conversion keeps the attention as plain
    MatMul/Softmax ops: the textbook ``softmax(q @ k^T * s) @ v`` is fused by
    convert_model into a single ``ScaledDotProductAttention`` op, so the
    second product is computed as ``(v^T @ att^T)^T`` (identical maths) which
    that fusion does not match.  Separate q/k/v projections and
    unflatten/flatten (instead of chunk/reshape with traced sizes) keep
    shape-computing subgraphs (ShapeOf/Mod/...) out of the IR.
    """

    def __init__(self, d_model=64, n_heads=4, d_ff=128, dropout=0.0):
        super().__init__()
        self.h, self.dk = n_heads, d_model // n_heads
        self.ln1 = nn.LayerNorm(d_model)
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)
        self.drop = nn.Dropout(dropout)

    def heads(self, t):                        # [b,n,d] -> [b,h,n,dk]
        return t.unflatten(-1, (self.h, self.dk)).transpose(1, 2)

    def forward(self, x):
        hx = self.ln1(x)
        q, k, v = self.heads(self.q(hx)), self.heads(self.k(hx)), self.heads(self.v(hx))
        att = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / self.dk ** 0.5)
        att = self.drop(torch.softmax(att, dim=-1))                   # [b,h,n,n]
        y = torch.matmul(v.transpose(-2, -1), att.transpose(-2, -1))  # [b,h,dk,n]
        y = y.permute(0, 3, 1, 2).flatten(2)                          # [b,n,d]
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.ff2(self.drop(F.gelu(self.ff1(self.ln2(x))))))
        return x


class TransformerMini(nn.Module):
    def __init__(self, vocab=17, seq=64, d_model=64, n_heads=4, d_ff=128, n_layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        nn.init.normal_(self.tok.weight, std=0.02)
        # Learned positional embedding, factorised as row + column of the 8x8
        # grid (a better inductive bias on 1.4k training digits); it folds to a
        # single [1,64,d_model] constant in the IR.
        side = int(round(seq ** 0.5))
        assert side * side == seq
        self.side = side
        self.pos_row = nn.Parameter(torch.randn(side, 1, d_model) * 0.02)
        self.pos_col = nn.Parameter(torch.randn(1, side, d_model) * 0.02)
        self.layers = nn.ModuleList(
            [EncoderLayer(d_model, n_heads, d_ff) for _ in range(n_layers)])
        self.ln = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 10)

    def forward(self, tokens):
        pos = (self.pos_row + self.pos_col).reshape(1, self.side * self.side, -1)
        x = self.tok(tokens) + pos
        for layer in self.layers:
            x = layer(x)
        x = self.ln(x).mean(dim=1)
        return self.fc(x)


# --------------------------------------------------------------------------
# Training / evaluation
# --------------------------------------------------------------------------

def train(model, x_tr, y_tr, *, epochs, lr, batch=64, wd=0.0, augment=None):
    seed_all()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    steps = epochs * ((len(x_tr) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            xb, yb = xt[idx], yt[idx]
            if augment is not None:
                xb = augment(xb, gen)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return model


def shift_augment(xb, gen):
    """Random +-2 pixel translation of [B,1,32,32] images (zero fill)."""
    b = xb.shape[0]
    padded = F.pad(xb, (2, 2, 2, 2))
    dx = torch.randint(0, 5, (b,), generator=gen)
    dy = torch.randint(0, 5, (b,), generator=gen)
    out = torch.empty_like(xb)
    for i in range(b):
        out[i] = padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
    return out


def token_noise_augment(xb, gen):
    """Perturb ~25% of the pixel intensities by +-1 or +-2 (clamped to 0..16)."""
    mask = torch.rand(xb.shape, generator=gen) < 0.25
    delta = torch.randint(-2, 3, xb.shape, generator=gen)
    return torch.where(mask, (xb + delta).clamp(0, 16), xb)


@torch.no_grad()
def torch_accuracy(model, x, y):
    model.eval()
    pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def ov_accuracy(core, xml_path, x, y):
    compiled = core.compile_model(core.read_model(xml_path), "CPU")
    req = compiled.create_infer_request()
    out = compiled.outputs[0]
    correct = 0
    for i in range(len(x)):
        res = req.infer({"input": x[i:i + 1]})
        correct += int(np.argmax(res[out][0]) == y[i])
    return correct / len(x)


def op_counts(xml_path):
    root = ET.parse(xml_path).getroot()
    return collections.Counter(l.get("type") for l in root.iter("layer"))


def const_precisions(xml_path):
    root = ET.parse(xml_path).getroot()
    c = collections.Counter()
    for l in root.iter("layer"):
        if l.get("type") == "Const":
            c[l.find("data").get("element_type")] += 1
    return c


def file_size(path):
    return os.path.getsize(path)


def ir_size(xml):
    return file_size(xml) + file_size(Path(str(xml)[:-4] + ".bin"))


# --------------------------------------------------------------------------
# Per-model pipeline
# --------------------------------------------------------------------------

def convert(model, name, shape, ov_type, example):
    ov_model = ov.convert_model(model, example_input=example, input=[(shape, ov_type)])
    ov_model.inputs[0].get_tensor().set_names({"input"})
    ov_model.outputs[0].get_tensor().set_names({"logits"})
    ov_model.set_friendly_name(name)
    return ov_model


def build(name, model, train_kwargs, data, core, results):
    x_tr, y_tr, x_te, y_te, shape, ov_type = data
    print(f"\n=== {name} ===", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    t0 = time.perf_counter()
    train(model, x_tr, y_tr, **train_kwargs)
    t_train = time.perf_counter() - t0
    acc_torch = torch_accuracy(model, x_te, y_te)
    print(f"{name}: {n_params} params, trained in {t_train:.1f}s, "
          f"torch val acc {acc_torch:.4f}", flush=True)

    calib = np.ascontiguousarray(x_tr[:N_CALIB])
    np.savez_compressed(OUT / f"{name}_calib.npz", input=calib)
    np.savez_compressed(OUT / f"{name}_val.npz", input=x_te, labels=y_te.astype(np.int64))

    example = torch.from_numpy(x_tr[:1])
    ov_model = convert(model, name, shape, ov_type, example)
    fp32_xml = OUT / f"{name}.xml"
    ov.save_model(ov_model, str(fp32_xml), compress_to_fp16=False)

    t0 = time.perf_counter()
    calib_ds = nncf.Dataset([calib[i:i + 1] for i in range(len(calib))])
    qkw = {"subset_size": N_CALIB}
    if name.startswith("transformer"):
        qkw["model_type"] = nncf.ModelType.TRANSFORMER
    q_model = nncf.quantize(core.read_model(str(fp32_xml)), calib_ds, **qkw)
    int8_xml = OUT / f"{name}_int8.xml"
    ov.save_model(q_model, str(int8_xml), compress_to_fp16=False)
    t_q = time.perf_counter() - t0

    acc_fp32 = ov_accuracy(core, str(fp32_xml), x_te, y_te)
    acc_int8 = ov_accuracy(core, str(int8_xml), x_te, y_te)
    print(f"{name}: OV FP32 {acc_fp32:.4f}  OV INT8 {acc_int8:.4f}  "
          f"(quantize {t_q:.1f}s)", flush=True)
    results[name] = dict(params=n_params, torch=acc_torch, fp32=acc_fp32,
                         int8=acc_int8, t_train=t_train, t_quant=t_q)
    return model


# --------------------------------------------------------------------------
# README tables
# --------------------------------------------------------------------------

def human(n):
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"


def readme_tables(results, n_val):
    lines = []
    lines.append(f"Validation accuracy on the test split ({n_val} digits):\n")
    lines.append("| model | params | torch FP32 | OpenVINO FP32 | OpenVINO NNCF-INT8 |")
    lines.append("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        if "params" not in r:
            continue
        lines.append(f"| `{name}` | {r['params']:,} | {r['torch']:.4f} | "
                     f"{r['fp32']:.4f} | {r['int8']:.4f} |")
    if "digits_cnn_fp16" in results:
        lines.append(f"\n`digits_cnn_fp16` (FP16-compressed weights) OpenVINO accuracy: "
                     f"{results['digits_cnn_fp16']['fp32']:.4f}")
    lines.append("\nFiles (sizes in bytes; IR size = .xml + .bin):\n")
    lines.append("| file | bytes |")
    lines.append("|---|---:|")
    for p in sorted(OUT.iterdir()):
        if p.suffix in (".xml", ".bin", ".npz"):
            lines.append(f"| `{p.name}` | {file_size(p):,} |")
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    lines.append(f"\nTotal size of `samples/` (all files): {total:,} bytes ({human(total)}).")
    lines.append("\nOp types per IR (count of `<layer type=...>` in the .xml, plus the "
                 "element types of the Const layers):\n")
    for xml in sorted(OUT.glob("*.xml")):
        ops = op_counts(xml)
        cp = const_precisions(xml)
        ops_s = ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))
        cp_s = ", ".join(f"{k} {v}" for k, v in sorted(cp.items()))
        lines.append(f"- `{xml.name}` ({sum(ops.values())} layers; Const: {cp_s}): {ops_s}")
    return "\n".join(lines) + "\n"


def update_readme(text):
    readme = OUT / "README.md"
    begin, end = "<!-- AUTOGEN BEGIN -->", "<!-- AUTOGEN END -->"
    if readme.exists():
        cur = readme.read_text()
        if begin in cur and end in cur:
            new = re.sub(re.escape(begin) + r".*?" + re.escape(end),
                         lambda _: f"{begin}\n{text}{end}", cur, flags=re.S)
            readme.write_text(new)
            return
    print("README.md has no AUTOGEN markers; tables written to stdout only")
    print(text)


EXPECTED_OPS = {
    "digits_cnn": ("Convolution", "ReLU", "MaxPool", "MatMul"),
    "resnet_mini": ("Convolution", "ReLU", "Add", "MatMul"),
    "mobilenetv2_mini": ("Convolution", "GroupConvolution", "Clamp", "Add", "MatMul"),
    "transformer_mini": ("Gather", "MatMul", "SoftMax", "MVN", "Gelu", "ReduceMean"),
}


def stem_of(xml):
    """The trained model an IR derives from (its INT8/FP16 versions, the fragile digits CNN)."""
    return xml.stem.replace("_int8", "").replace("_fp16", "").replace("_fragile", "")


# --------------------------------------------------------------------------

def main():
    t_start = time.perf_counter()
    seed_all()
    core = ov.Core()
    x8_tr, x8_te, y_tr, y_te = load_data()
    img_tr, img_te = to_images(x8_tr), to_images(x8_te)
    tok_tr, tok_te = to_tokens(x8_tr), to_tokens(x8_te)
    print(f"digits: train {len(y_tr)}, test {len(y_te)}; torch {torch.__version__}, "
          f"openvino {ov.__version__}, nncf {nncf.__version__}, threads {torch.get_num_threads()}")

    img = (img_tr, y_tr, img_te, y_te, [1, 1, 32, 32], ov.Type.f32)
    tok = (tok_tr, y_tr, tok_te, y_te, [1, 64], ov.Type.i64)
    results = {}

    seed_all()
    build("digits_cnn", DigitsCNN(),
          dict(epochs=30, lr=1e-2), img, core, results)
    seed_all()
    build("resnet_mini", ResNetMini(),
          dict(epochs=6, lr=3e-3, wd=1e-4, augment=shift_augment), img, core, results)
    seed_all()
    build("mobilenetv2_mini", MobileNetV2Mini(),
          dict(epochs=8, lr=5e-3, wd=1e-4, augment=shift_augment), img, core, results)
    seed_all()
    build("transformer_mini", TransformerMini(),
          dict(epochs=30, lr=5e-3, wd=1e-2, batch=128, augment=token_noise_augment),
          tok, core, results)

    # FP16-compressed copy of digits_cnn (from a fresh read of the FP32 IR so the
    # FP32 model object is never touched).
    fp16_xml = OUT / "digits_cnn_fp16.xml"
    ov.save_model(core.read_model(str(OUT / "digits_cnn.xml")), str(fp16_xml),
                  compress_to_fp16=True)
    results["digits_cnn_fp16"] = dict(
        fp32=ov_accuracy(core, str(fp16_xml), img_te, y_te))

    # ---- verification -----------------------------------------------------
    print("\n=== verification ===")
    for xml in sorted(OUT.glob("*.xml")):
        if xml.stem.startswith("ssd_"):
            continue  # the detection sample: make_detection.py builds and checks it
        m = core.read_model(str(xml))
        assert [set(i.get_names()) for i in m.inputs] == [{"input"}], (xml, m.inputs)
        assert "logits" in m.outputs[0].get_names(), (xml, m.outputs)
        ops = op_counts(xml)
        cp = const_precisions(xml)
        if xml.stem.endswith("_int8"):
            assert ops.get("FakeQuantize", 0) > 0, f"{xml.name}: no FakeQuantize"
        for op in EXPECTED_OPS.get(stem_of(xml), ()):
            assert ops.get(op, 0) > 0, f"{xml.name}: no {op}"
        assert "ScaledDotProductAttention" not in ops, f"{xml.name}: fused SDPA"
        if xml.stem == "digits_cnn_fp16":
            assert cp.get("f16", 0) > 0, "fp16 copy has no f16 constants"
        else:
            assert cp.get("f16", 0) == 0, f"{xml.name}: unexpected f16 constants"
        val = np.load(OUT / f"{stem_of(xml)}_val.npz")
        compiled = core.compile_model(m, "CPU")
        out = compiled(val["input"][:1])[compiled.outputs[0]]
        assert out.shape == (1, 10) and np.isfinite(out).all(), (xml, out)
        print(f"{xml.name}: OK, {sum(ops.values())} layers, FakeQuantize {ops.get('FakeQuantize', 0)}")

    print("\n| model | torch | OV FP32 | OV INT8 | train s | quantize s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        if "torch" in r:
            print(f"| {name} | {r['torch']:.4f} | {r['fp32']:.4f} | {r['int8']:.4f} | "
                  f"{r['t_train']:.1f} | {r['t_quant']:.1f} |")
    print(f"digits_cnn_fp16 OV accuracy: {results['digits_cnn_fp16']['fp32']:.4f}")

    tables = readme_tables(results, len(y_te))
    update_readme(tables)
    print(f"\nTotal script time: {time.perf_counter() - t_start:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
