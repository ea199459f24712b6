"""Inputs for the real pretrained models (tests/test_real_models.py, benchmarks/bench_real_models.py),
made here from real material, and the decoding their packages apply to the outputs.

- ``text_lines``: lines of scikit-learn's handwritten digits on a page, as PP-OCR sees text.
- ``captchas``: 4-6 characters in Pillow's bundled FreeType font (Aileron), each at its own height,
  with noise lines and pixel noise, scaled as ddddocr scales a captcha (height 64, x / 255, grey).
  The alphabet leaves out what Aileron draws ambiguously for ddddocr's recognizer (0/O, 1/I/l, 7,
  c/o/s/v/w/x/z whose case only size tells); answers are compared case-insensitively, as captchas are.
- ``click_captchas``: 4-6 characters at separate places on a coloured, noisy 416 x 416 page, the
  boxes Pillow drew them in as ground truth, in BGR as ddddocr's detector reads them (cv2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
ALPHABET = "ABCDEFGHKLMNPRSTUVWXYZabdefghkmnprtuy2345689"


def text_lines(shape: tuple[int, int, int, int], name: str, n: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Text as PP-OCR sees it: lines of real handwritten digits (the digits sample's) dark on a light
    page, each glyph 32 px high, scaled as RapidOCR scales its input ((x - 0.5) / 0.5)."""
    _, _, h, w = shape
    glyphs = np.load(SAMPLES / "digits_cnn_val.npz")["input"][:, 0]  # [360, 32, 32] in [0, 1]
    rng = np.random.default_rng(seed)
    batch = []
    for _ in range(n):
        page = np.full((h, w), 0.92, np.float32)
        for top in range(8, h - 32, 48) if h > 64 else [(h - 32) // 2]:
            left = int(rng.integers(4, 24))
            while left + 32 <= w - 4 and rng.random() > 0.04:
                page[top:top + 32, left:left + 32] -= 0.8 * glyphs[rng.integers(len(glyphs))]
                left += 24 + int(rng.integers(0, 12))
        batch.append({name: np.repeat(((page - 0.5) / 0.5)[None, None], 3, axis=1)})
    return batch


def captchas(n: int, seed: int, size: tuple[int, int] = (192, 64)) -> list[tuple[str, np.ndarray]]:
    """``n`` (answer, [1, 1, 64, W] f32 image) pairs."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        text = "".join(rng.choice(list(ALPHABET), int(rng.integers(4, 7))))
        im = Image.new("L", size, int(rng.integers(200, 250)))
        draw = ImageDraw.Draw(im)
        for _ in range(3):
            ends = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(2)]
            draw.line(ends, fill=int(rng.integers(120, 200)), width=1)
        px = int(rng.integers(30, 38))
        font = ImageFont.load_default(size=px)
        x = int(rng.integers(4, 14))
        for ch in text:
            draw.text((x, int(rng.integers(2, h - px - 4))), ch, fill=int(rng.integers(0, 90)), font=font)
            x += int(draw.textlength(ch, font=font)) + int(rng.integers(0, 4))
        a = np.asarray(im, np.float32) + rng.normal(0, 8, (h, w)).astype(np.float32)
        out.append((text, (np.clip(a, 0, 255) / 255)[None, None].astype(np.float32)))
    return out


def ctc_decode(logits: np.ndarray, charset: list[str]) -> str:
    """ddddocr's decoding of its recognizer's [T, 1, classes] output: best class per step, repeats
    merged, blanks (class 0) dropped."""
    best = logits[:, 0].argmax(1)
    keep = (best != 0) & np.r_[True, best[1:] != best[:-1]]
    return "".join(charset[i] for i in best[keep])


def click_captchas(n: int, seed: int, size: int = 416) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` (truth boxes [k, 4] x1 y1 x2 y2, [1, 3, size, size] f32 BGR image in 0..255) pairs."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.integers(150, 240, 3)
        ramp = np.linspace(-30, 30, size, dtype=np.float32)
        page = base[None, None, :] + ramp[:, None, None] * rng.uniform(-1, 1, 3)[None, None, :]
        im = Image.fromarray(np.clip(page + np.zeros((size, size, 3)), 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(im)
        boxes: list[tuple[int, int, int, int]] = []
        for ch in rng.choice(list(ALPHABET), int(rng.integers(4, 7))):
            font = ImageFont.load_default(size=int(rng.integers(40, 60)))
            for _ in range(50):  # a place that overlaps no earlier glyph
                x, y = (int(v) for v in rng.integers(8, size - 72, 2))
                box = draw.textbbox((x, y), ch, font=font)
                if all(box[2] < b[0] - 4 or box[0] > b[2] + 4 or box[3] < b[1] - 4 or box[1] > b[3] + 4 for b in boxes):
                    draw.text((x, y), ch, fill=tuple(int(v) for v in rng.integers(0, 110, 3)), font=font)
                    boxes.append(box)
                    break
        a = np.asarray(im, np.float32) + rng.normal(0, 6, (size, size, 3)).astype(np.float32)
        bgr = np.clip(a, 0, 255)[:, :, ::-1].transpose(2, 0, 1)[None]
        out.append((np.array(boxes, np.float32), np.ascontiguousarray(bgr, dtype=np.float32)))
    return out


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` [n, 4] with every box of ``b`` [m, 4] (x1 y1 x2 y2): [n, m]."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:4] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def recall(detections: np.ndarray, truth: np.ndarray, at: float = 0.5) -> tuple[int, int]:
    """(truth boxes some detection covers at IoU >= ``at``, truth boxes)."""
    if len(detections) == 0:
        return 0, len(truth)
    return int((iou(truth, detections[:, :4]).max(axis=1) >= at).sum()), len(truth)
