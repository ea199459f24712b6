#!/usr/bin/env python3
"""Build the SSD detection sample samples/ssd_digits.* from scikit-learn's digits.

Run from the repository root:

    .venv/bin/python samples/make_detection.py

Scenes are 64x64 canvases with 1..3 digits of ``sklearn.datasets.load_digits``, upscaled to a random
size and pasted at random places; a small SSD (two feature maps, 8x8 and 4x4) is trained on them in
torch, converted with ``openvino.convert_model`` and completed with the OpenVINO opset API the way
real SSD IRs look (ShapeOf -> StridedSlice -> PriorBox-8, SoftMax, DetectionOutput-8). It writes

    ssd_digits.xml/.bin        FP32 IR, input "input" [1,1,64,64] f32, output "detection_out" [1,1,100,7]
    ssd_digits_int8.xml/.bin   NNCF post-training INT8 IR (default settings)
    ssd_digits_calib.npz       {"input": [300,1,64,64] f32}, canvases of training digits
    ssd_digits_val.npz         {"input", "gt_boxes", "gt_labels", "gt_image", "gt_difficult"},
                               canvases of held-out digits

and refreshes the detection block of samples/README.md. Everything is seeded and single-threaded.
"""

from __future__ import annotations

import collections
import re
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import nncf
import openvino as ov
import openvino.opset8 as ops

SEED = 0
OUT = Path(__file__).resolve().parent
NAME = "ssd_digits"
CANVAS = 64                  # canvas side, pixels
SCALES = (12, 28)            # digit side after upscaling, pixels (inclusive range)
MAX_DIGITS = 3
INK = 0.25                   # a pixel is ink when its intensity (0..1) is at least this
NUM_CLASSES = 11             # background + digits 0..9 (digit d -> label d + 1)
VARIANCE = (0.1, 0.1, 0.2, 0.2)
N_CALIB, N_VAL = 300, 300
EPOCHS, PER_EPOCH, BATCH, LR = 20, 2000, 64, 4e-3

torch.set_num_threads(1)


def seed_all(seed: int = SEED) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------
# Priors: OpenVINO PriorBox-8, in numpy
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class PriorSpec:
    """PriorBox-8 attributes of one feature map (sizes and step in input pixels)."""
    side: int                  # the feature map is side x side
    min_size: float
    max_size: float
    step: float
    aspect_ratio: tuple[float, ...] = (2.0,)
    flip: bool = True
    clip: bool = True
    offset: float = 0.5

    def attrs(self) -> dict:
        return dict(min_size=[float(self.min_size)], max_size=[float(self.max_size)],
                    aspect_ratio=[float(a) for a in self.aspect_ratio], flip=self.flip, clip=self.clip,
                    step=float(self.step), offset=float(self.offset), variance=list(VARIANCE),
                    scale_all_sizes=True, min_max_aspect_ratios_order=True)


# Ink boxes are 12..28 px tall and 4..25 px wide (a "1" is thin): the 8x8 cells take the small
# digits, the 4x4 cells the large ones; ratio 2 flipped gives the tall 1:2 priors digits need.
PRIOR_SPECS = (PriorSpec(side=8, min_size=12.0, max_size=20.0, step=8.0),
               PriorSpec(side=4, min_size=22.0, max_size=30.0, step=16.0))


def prior_ratios(spec: PriorSpec) -> list[float]:
    """PriorBox's ratio list: 1 first, each new ratio followed by its inverse when flip (duplicates skipped)."""
    ratios = [1.0]
    for ar in spec.aspect_ratio:
        if all(abs(ar - r) >= 1e-6 for r in ratios):
            ratios.append(ar)
            if spec.flip:
                ratios.append(float(np.float32(1.0) / np.float32(ar)))
    return ratios


def prior_boxes(spec: PriorSpec, image: int = CANVAS) -> np.ndarray:
    """[side*side*A, 4] corner boxes (x_min, y_min, x_max, y_max) in 0..1, in PriorBox-8's order.

    Mirrors OpenVINO's reference in float32: centres ``(offset + w) * step`` (with step 0 it would be
    ``(w + 0.5) * image / side`` and ignore offset), per cell the min_size square, the
    sqrt(min_size * max_size) square, then min_size * (sqrt(ar), 1 / sqrt(ar)) for every ratio but 1;
    half-extents divided by the image side, clipped to [0, 1] when clip."""
    f32 = np.float32
    half = [(f32(spec.min_size) * f32(0.5),) * 2,
            (np.sqrt(f32(spec.min_size) * f32(spec.max_size)) * f32(0.5),) * 2]
    for ar in prior_ratios(spec)[1:]:
        root = np.sqrt(f32(ar))
        half.append((f32(spec.min_size) * f32(0.5) * root, f32(spec.min_size) * f32(0.5) / root))
    hw = np.array(half, np.float32)                                       # [A, 2] half width, height
    pos = (f32(spec.offset) + np.arange(spec.side, dtype=np.float32)) * f32(spec.step)
    cy, cx = np.meshgrid(pos, pos, indexing="ij")                          # row-major cells
    c = np.stack([cx.ravel(), cy.ravel()], 1)[:, None, :]                  # [HW, 1, 2]
    inv = f32(1.0) / f32(image)
    boxes = np.concatenate([(c - hw) * inv, (c + hw) * inv], 2).reshape(-1, 4)
    return np.clip(boxes, 0.0, 1.0) if spec.clip else boxes


def all_priors() -> np.ndarray:
    """[P, 4] priors of every feature map, in the order of the concatenated PriorBox outputs."""
    return np.concatenate([prior_boxes(s) for s in PRIOR_SPECS]).astype(np.float32)


# --------------------------------------------------------------------------
# Data: digits pasted on 64x64 canvases
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class DigitBank:
    """Every digit of a split pre-rendered at every size (bilinear, quantized to k/255 like an 8-bit
    image, which also keeps the .npz files small): patches[s] [N,s,s], ink[s] [N,4] ink box in the
    patch (x0, y0, x1, y1), pixel edges, x1/y1 exclusive."""
    patches: dict[int, np.ndarray]
    ink: dict[int, np.ndarray]
    digits: np.ndarray


@dataclass(frozen=True)
class Scenes:
    """Canvases and their ground truth as flat arrays (one row per digit)."""
    images: np.ndarray         # [n, 1, 64, 64] f32 in 0..1, zero background
    boxes: np.ndarray          # [T, 4] f32 normalized x_min, y_min, x_max, y_max
    labels: np.ndarray         # [T] int64, digit + 1
    image: np.ndarray          # [T] int64, canvas index


def load_splits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The same 80/20 split as make_samples.py: scenes of held-out digits measure generalisation."""
    d = load_digits()
    return train_test_split(d.images.astype(np.float32), d.target.astype(np.int64),
                            test_size=0.2, random_state=0, stratify=d.target)


def ink_box(patch: np.ndarray) -> np.ndarray:
    """Tight box (x0, y0, x1, y1), x1/y1 exclusive, of the pixels >= INK."""
    rows, cols = np.nonzero(patch >= INK)
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], np.int64)


def make_bank(x8: np.ndarray, y: np.ndarray) -> DigitBank:
    patches, ink = {}, {}
    t = torch.from_numpy(x8 / 16.0).float().unsqueeze(1)
    for s in range(SCALES[0], SCALES[1] + 1):
        up = F.interpolate(t, size=(s, s), mode="bilinear", align_corners=False)[:, 0].numpy()
        patches[s] = (np.round(up.clip(0, 1) * 255) / 255).astype(np.float32)
        ink[s] = np.stack([ink_box(p) for p in patches[s]])
    return DigitBank(patches, ink, y)


def overlaps(a: np.ndarray, b: np.ndarray, gap: int = 1) -> bool:
    """Whether two pixel boxes come closer than ``gap`` pixels (ink must stay apart)."""
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def make_scenes(bank: DigitBank, n: int, rng: np.random.Generator) -> Scenes:
    """n canvases of 1..MAX_DIGITS digits whose ink boxes do not touch; a digit that finds no free
    place in 20 tries is left out (every canvas keeps its first digit)."""
    images = np.zeros((n, 1, CANVAS, CANVAS), np.float32)
    boxes, labels, image = [], [], []
    for i in range(n):
        placed: list[np.ndarray] = []
        for _ in range(rng.integers(1, MAX_DIGITS + 1)):
            for _try in range(20):
                s, k = int(rng.integers(SCALES[0], SCALES[1] + 1)), int(rng.integers(len(bank.digits)))
                x, y = (int(v) for v in rng.integers(0, CANVAS - s + 1, size=2))
                box = bank.ink[s][k] + [x, y, x, y]
                if not any(overlaps(box, p) for p in placed):
                    break
            else:
                continue
            region = images[i, 0, y:y + s, x:x + s]
            np.maximum(region, bank.patches[s][k], out=region)  # max: margins may lie over a neighbour
            placed.append(box)
            boxes.append(box / CANVAS)
            labels.append(bank.digits[k] + 1)
            image.append(i)
    return Scenes(images, np.array(boxes, np.float32), np.array(labels, np.int64), np.array(image, np.int64))


# --------------------------------------------------------------------------
# SSD targets and loss
# --------------------------------------------------------------------------

def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[A, B] intersection over union of corner boxes (normalized: no +1 on extents)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), 2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def encode(gt: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """CENTER_SIZE encoding with variances, the inverse of DetectionOutput's decoding."""
    pw, ph = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
    pcx, pcy = (priors[:, 0] + priors[:, 2]) / 2, (priors[:, 1] + priors[:, 3]) / 2
    gw, gh = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    gcx, gcy = (gt[:, 0] + gt[:, 2]) / 2, (gt[:, 1] + gt[:, 3]) / 2
    v = VARIANCE
    return np.stack([(gcx - pcx) / pw / v[0], (gcy - pcy) / ph / v[1],
                     np.log(gw / pw) / v[2], np.log(gh / ph) / v[3]], 1).astype(np.float32)


def match(boxes: np.ndarray, labels: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per prior: its regression target [P,4] and class [P] (0 = background).

    A prior is positive when its IoU with a ground truth is >= 0.5; each ground truth also claims its
    best prior, so a box between prior shapes still gets trained."""
    overlap = iou(boxes, priors)                     # [G, P]
    best_gt, best_iou = overlap.argmax(0), overlap.max(0)
    for g, p in enumerate(overlap.argmax(1)):
        best_gt[p], best_iou[p] = g, 2.0
    conf = np.where(best_iou >= 0.5, labels[best_gt], 0)
    return encode(boxes[best_gt], priors), conf.astype(np.int64)


def targets(scenes: Scenes, priors: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """match() for every canvas: [n, P, 4] regression targets, [n, P] classes."""
    loc, conf = zip(*(match(scenes.boxes[scenes.image == i], scenes.labels[scenes.image == i], priors)
                      for i in range(len(scenes.images))))
    return torch.from_numpy(np.stack(loc)), torch.from_numpy(np.stack(conf))


def ssd_loss(loc: torch.Tensor, conf: torch.Tensor, loc_t: torch.Tensor, conf_t: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 on positive priors + cross entropy on positives and the 3x as many hardest negatives,
    both divided by the number of positives."""
    ce = F.cross_entropy(conf.reshape(-1, NUM_CLASSES), conf_t.reshape(-1), reduction="none").view(conf_t.shape)
    pos = conf_t > 0
    n_pos = pos.sum(1, keepdim=True)
    mining = ce.detach().masked_fill(pos, 0.0)
    rank = mining.argsort(1, descending=True).argsort(1)
    neg = rank < (3 * n_pos).clamp(max=conf_t.shape[1] - 1)
    loc_loss = F.smooth_l1_loss(loc[pos], loc_t[pos], reduction="sum")
    return (loc_loss + ce[pos | neg].sum()) / n_pos.sum().clamp(min=1)


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------

def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SSDDigits(nn.Module):
    """A small SSD: backbone to an 8x8 and a 4x4 feature map, a 3x3 loc and conf head on each.

    forward returns loc [B, P*4] and raw conf logits [B, P*11] flattened in PriorBox order (cell
    row-major, then prior), plus both feature maps, whose shapes the IR's PriorBoxes read."""

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Sequential(conv_bn(1, 16, 2), conv_bn(16, 32), nn.MaxPool2d(2),   # 16x16
                                    conv_bn(32, 64), nn.MaxPool2d(2), conv_bn(64, 64))      # 8x8
        self.stage2 = conv_bn(64, 128, 2)                                                    # 4x4
        n = [len(prior_ratios(s)) + 1 for s in PRIOR_SPECS]   # priors per cell: ratios + max square
        self.loc = nn.ModuleList([nn.Conv2d(c, a * 4, 3, padding=1) for c, a in zip((64, 128), n)])
        self.conf = nn.ModuleList([nn.Conv2d(c, a * NUM_CLASSES, 3, padding=1) for c, a in zip((64, 128), n)])

    @staticmethod
    def flat(t: torch.Tensor) -> torch.Tensor:  # NCHW -> N, H*W*C: the order of PriorBox's output
        return t.permute(0, 2, 3, 1).flatten(1)

    def forward(self, x: torch.Tensor):
        f1 = self.stage1(x)
        f2 = self.stage2(f1)
        loc = torch.cat([self.flat(h(f)) for h, f in zip(self.loc, (f1, f2))], 1)
        conf = torch.cat([self.flat(h(f)) for h, f in zip(self.conf, (f1, f2))], 1)
        return loc, conf, f1, f2


def train(model: SSDDigits, bank: DigitBank, priors: np.ndarray, rng: np.random.Generator) -> None:
    """AdamW + one-cycle; fresh canvases every epoch (a new scene draw is the augmentation)."""
    seed_all()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=EPOCHS * (PER_EPOCH // BATCH))
    n = len(priors)
    model.train()
    for epoch in range(EPOCHS):
        scenes = make_scenes(bank, PER_EPOCH, rng)
        x, (loc_t, conf_t) = torch.from_numpy(scenes.images), targets(scenes, priors)
        total = 0.0
        for i in range(0, PER_EPOCH - BATCH + 1, BATCH):
            loc, conf, _, _ = model(x[i:i + BATCH])
            loss = ssd_loss(loc.view(-1, n, 4), conf.view(-1, n, NUM_CLASSES), loc_t[i:i + BATCH], conf_t[i:i + BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(f"epoch {epoch + 1:2d}/{EPOCHS}: loss {total / (PER_EPOCH // BATCH):.3f}", flush=True)
    model.eval()


# --------------------------------------------------------------------------
# Export: torch -> IR, completed with PriorBox / SoftMax / DetectionOutput
# --------------------------------------------------------------------------

def spatial_dims(node: ov.Output) -> ov.Node:
    """ShapeOf(x)[2:4], as SSD IRs feed PriorBox."""
    return ops.strided_slice(ops.shape_of(node), np.array([2], np.int64), np.array([4], np.int64),
                             np.array([1], np.int64), begin_mask=[0], end_mask=[0])


DETECTION_ATTRS = dict(background_label_id=0, top_k=200, keep_top_k=[100], nms_threshold=0.45,
                       confidence_threshold=0.01, code_type="caffe.PriorBoxParameter.CENTER_SIZE",
                       share_location=True, variance_encoded_in_target=False, normalized=True,
                       clip_before_nms=False, clip_after_nms=False, decrease_label_id=False)


def export(model: SSDDigits) -> ov.Model:
    """The trained net as an OpenVINO model whose only output is DetectionOutput's [1,1,100,7] rows."""
    net = ov.convert_model(model, example_input=torch.zeros(1, 1, CANVAS, CANVAS),
                           input=[([1, 1, CANVAS, CANVAS], ov.Type.f32)])
    image = net.get_parameters()[0]
    image.set_friendly_name("input")
    image.output(0).get_tensor().set_names({"input"})
    loc, conf, *fmaps = (r.input_value(0) for r in net.get_results())  # what the torch outputs are
    image_hw = spatial_dims(image.output(0))
    priors = [ops.unsqueeze(ops.prior_box(spatial_dims(f), image_hw, spec.attrs()), np.array([0], np.int64))
              for f, spec in zip(fmaps, PRIOR_SPECS)]
    probs = ops.softmax(ops.reshape(conf, np.array([0, -1, NUM_CLASSES], np.int64), True), 2)
    det = ops.detection_output(loc, ops.reshape(probs, np.array([0, -1], np.int64), True),
                               ops.concat(priors, 2), DETECTION_ATTRS)
    det.set_friendly_name("detection_out")
    det.output(0).get_tensor().set_names({"detection_out"})
    return ov.Model([det], [image], NAME)


def ov_priors(core: ov.Core, xml: Path) -> np.ndarray:
    """The DetectionOutput's prior input [1, 2, P*4] as OpenVINO's CPU plugin computes it from the IR."""
    m = core.read_model(str(xml))
    det = next(op for op in m.get_ops() if op.get_type_name() == "DetectionOutput")
    m.add_outputs([det.input_value(2)])
    compiled = core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(np.zeros((1, 1, CANVAS, CANVAS), np.float32))[compiled.outputs[1]]


# --------------------------------------------------------------------------
# Evaluation: VOC mAP@0.5 on OpenVINO's detections
# --------------------------------------------------------------------------

def detect(core: ov.Core, xml: Path, images: np.ndarray) -> np.ndarray:
    """[D, 7] DetectionOutput rows (image, label, score, x_min, y_min, x_max, y_max), image = canvas index."""
    compiled = core.compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    rows = []
    for i in range(len(images)):
        out = request.infer({"input": images[i:i + 1]})[0].reshape(-1, 7)
        end = np.flatnonzero(out[:, 0] < 0)           # rows after an image id of -1 are padding
        out = out[:end[0] if len(end) else len(out)].copy()
        out[:, 0] = i
        rows.append(out)
    return np.concatenate(rows)


def average_precision(recall: np.ndarray, precision: np.ndarray, eleven_point: bool) -> float:
    """VOC AP: the 11-point interpolation (VOC2007) or the area under the monotone PR curve (VOC2010+)."""
    if eleven_point:
        return float(np.mean([precision[recall >= t].max(initial=0.0) for t in np.linspace(0, 1, 11)]))
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.maximum.accumulate(np.concatenate([[0.0], precision, [0.0]])[::-1])[::-1]
    step = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[step + 1] - r[step]) * p[step + 1]))


def voc_map(dets: np.ndarray, gt_boxes: np.ndarray, gt_labels: np.ndarray, gt_image: np.ndarray,
            iou_threshold: float = 0.5) -> tuple[float, float]:
    """(all-point, 11-point) mean AP over the classes that have ground truth; a detection is a true
    positive when it overlaps a not yet matched ground truth of its class by >= iou_threshold, taken in
    descending score order (no difficult boxes in these scenes)."""
    aps = []
    for c in np.unique(gt_labels):
        d = dets[dets[:, 1] == c]
        d = d[np.argsort(-d[:, 2], kind="stable")]
        gt = np.flatnonzero(gt_labels == c)
        used = np.zeros(len(gt), bool)
        tp = np.zeros(len(d))
        for j, row in enumerate(d):
            mine = gt_image[gt] == row[0]
            if not mine.any():
                continue
            overlap = np.where(mine, iou(row[None, 3:7], gt_boxes[gt])[0], -1.0)
            best = int(overlap.argmax())
            if overlap[best] >= iou_threshold and not used[best]:
                tp[j], used[best] = 1, True
        hits = np.cumsum(tp)
        recall, precision = hits / len(gt), hits / np.arange(1, len(d) + 1)
        aps.append([average_precision(recall, precision, e) for e in (False, True)])
    return tuple(np.mean(aps, 0).tolist())


# --------------------------------------------------------------------------
# Files, README
# --------------------------------------------------------------------------

def save_scenes(val: Scenes, calib: Scenes) -> None:
    np.savez_compressed(OUT / f"{NAME}_calib.npz", input=calib.images)
    np.savez_compressed(OUT / f"{NAME}_val.npz", input=val.images, gt_boxes=val.boxes, gt_labels=val.labels,
                        gt_image=val.image, gt_difficult=np.zeros(len(val.labels), bool))


def op_summary(xml: Path) -> str:
    counts = collections.Counter(layer.get("type") for layer in ET.parse(xml).getroot().iter("layer"))
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def check_ir(xml: Path) -> None:
    """The structure issue #7 asks for: PriorBox-8 fed by ShapeOf -> StridedSlice, one DetectionOutput."""
    root = ET.parse(xml).getroot()
    layers = {layer.get("id"): layer for layer in root.iter("layer")}
    source = {(e.get("to-layer"), e.get("to-port")): e.get("from-layer") for e in root.iter("edge")}
    boxes = [layer for layer in layers.values() if layer.get("type") == "PriorBox"]
    assert len(boxes) == len(PRIOR_SPECS) and all(b.get("version") == "opset8" for b in boxes)
    for b in boxes:
        for port in ("0", "1"):
            sliced = layers[source[(b.get("id"), port)]]
            assert sliced.get("type") == "StridedSlice"
            assert layers[source[(sliced.get("id"), "0")]].get("type") == "ShapeOf"
    assert [layer.get("type") for layer in layers.values()].count("DetectionOutput") == 1


def update_readme(text: str) -> None:
    readme = OUT / "README.md"
    begin, end = "<!-- AUTOGEN DETECTION BEGIN -->", "<!-- AUTOGEN DETECTION END -->"
    cur = readme.read_text()
    if begin not in cur or end not in cur:
        print("README.md has no AUTOGEN DETECTION markers; summary on stdout only\n" + text)
        return
    readme.write_text(re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: f"{begin}\n{text}{end}",
                             cur, flags=re.S))


def readme_block(r: dict) -> str:
    files = [f"{NAME}{suffix}" for suffix in (".xml", ".bin", "_int8.xml", "_int8.bin", "_calib.npz", "_val.npz")]
    lines = [f"`{NAME}`: {r['params']:,} parameters, {r['priors']} priors, trained in {r['t_train']:.0f} s "
             f"(1 thread). Validation: {r['n_val']} canvases, {r['n_gt']} digits.\n",
             "| IR (OpenVINO CPU, f32 precision hint) | mAP@0.5 VOC all-point | mAP@0.5 VOC 11-point |",
             "|---|---:|---:|",
             f"| `{NAME}.xml` (FP32) | {r['fp32'][0]:.4f} | {r['fp32'][1]:.4f} |",
             f"| `{NAME}_int8.xml` (NNCF INT8) | {r['int8'][0]:.4f} | {r['int8'][1]:.4f} |",
             "\n| file | bytes |", "|---|---:|"]
    lines += [f"| `{f}` | {(OUT / f).stat().st_size:,} |" for f in files]
    lines.append("\nOp types (count of `<layer type=...>`):\n")
    lines += [f"- `{NAME}{s}.xml`: {op_summary(OUT / f'{NAME}{s}.xml')}" for s in ("", "_int8")]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------

def main() -> None:
    t_start = time.perf_counter()
    seed_all()
    core = ov.Core()
    x_tr, x_te, y_tr, y_te = load_splits()
    train_bank, test_bank = make_bank(x_tr, y_tr), make_bank(x_te, y_te)
    val = make_scenes(test_bank, N_VAL, np.random.default_rng(1))
    calib = make_scenes(train_bank, N_CALIB, np.random.default_rng(2))
    save_scenes(val, calib)
    priors = all_priors()
    print(f"torch {torch.__version__}, openvino {ov.__version__}, nncf {nncf.__version__}; "
          f"{len(priors)} priors; val: {N_VAL} canvases, {len(val.labels)} digits", flush=True)

    model = SSDDigits()
    params = sum(p.numel() for p in model.parameters())
    t0 = time.perf_counter()
    train(model, train_bank, priors, np.random.default_rng(3))
    t_train = time.perf_counter() - t0
    print(f"{params:,} params, trained in {t_train:.1f} s", flush=True)

    fp32_xml = OUT / f"{NAME}.xml"
    ov.save_model(export(model), str(fp32_xml), compress_to_fp16=False)
    check_ir(fp32_xml)
    got = ov_priors(core, fp32_xml)
    want = np.stack([priors.ravel(), np.tile(np.float32(VARIANCE), len(priors))])[None]
    assert got.shape == want.shape and np.array_equal(got, want), np.abs(got - want).max()
    print("PriorBox in OpenVINO == the training priors (bit-exact)", flush=True)

    int8_xml = OUT / f"{NAME}_int8.xml"
    dataset = nncf.Dataset([calib.images[i:i + 1] for i in range(N_CALIB)])
    ov.save_model(nncf.quantize(core.read_model(str(fp32_xml)), dataset, subset_size=N_CALIB),
                  str(int8_xml), compress_to_fp16=False)

    result = dict(params=params, priors=len(priors), t_train=t_train, n_val=N_VAL, n_gt=len(val.labels))
    for key, xml in (("fp32", fp32_xml), ("int8", int8_xml)):
        result[key] = voc_map(detect(core, xml, val.images), val.boxes, val.labels, val.image)
        print(f"{xml.name}: mAP@0.5 all-point {result[key][0]:.4f}, 11-point {result[key][1]:.4f}", flush=True)
    update_readme(readme_block(result))
    print(f"total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
