"""irtool.metrics against hand-computed numbers, a published worked example, a loop-by-loop reference
of the VOC devkit and pycocotools rules, and pycocotools itself where it is installed."""
from __future__ import annotations

import json

import numpy as np
import pytest

from irtool.errors import InputError
from irtool.metrics import Annotations, all_point_ap, get_metric, voc11_ap

METHODS = ("map", "map:all", "map:coco")


def batch(*rows, k: int = 8) -> dict[str, np.ndarray]:
    """One DetectionOutput result [1, 1, k, 7]: the rows, then -1 padding."""
    out = np.full((1, 1, k, 7), -1.0, np.float32)
    if rows:
        out[0, 0, :len(rows)] = rows
    return {"detection_out": out}


def truth(boxes, labels, images, difficult=None, num_images=None) -> Annotations:
    return Annotations(gt_boxes=np.array(boxes, float).reshape(-1, 4), gt_labels=np.array(labels),
                       gt_image=np.array(images), gt_difficult=difficult, num_images=num_images)


def maps(outputs, annotations) -> dict[str, float]:
    return {m: get_metric(m).compute(outputs, annotations) for m in METHODS}


A, B, C = [0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9], [0.0, 0.0, 0.5, 0.5]
FAR = [0.95, 0.95, 0.99, 0.99]  # overlaps nothing


# --- classification ------------------------------------------------------------------------------

def test_topk_with_ties_and_4d_logits_over_batches():
    logits = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [0, 0, 5, 1]], np.float32)
    labels = np.array([2, 0, 3])
    # row 0: label 2 ties class 1, which ranks first (lower index, as argmax); row 1: all tie, label 0 first;
    # row 2: label 3 is second -> top-1 right only on row 1, top-2 right everywhere
    outputs = [{"logits": logits[:2, :, None, None]}, {"logits": logits[2:, :, None, None]}]
    truth_ = Annotations(labels=labels)
    assert get_metric("top1").compute(outputs, truth_) == pytest.approx(1 / 3)
    assert get_metric("topk:2").compute(outputs, truth_) == 1.0
    assert get_metric("top5").compute(outputs, truth_) == 1.0  # k beyond the classes: everything counts
    assert get_metric("top1").per_sample(outputs, truth_).tolist() == [0.0, 1.0, 0.0]
    assert get_metric("top1").name == "top1" and get_metric("TOPK:3").name == "top3"


def test_top1_is_argmax_and_nan_is_never_right():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((200, 10)), rng.integers(0, 10, 200)
    top1 = get_metric("top1").compute([{"y": logits}], Annotations(labels=labels))
    assert top1 == np.mean(logits.argmax(1) == labels)
    logits[0] = np.nan
    assert get_metric("top1").per_sample([{"y": logits}], Annotations(labels=labels))[0] == 0.0


def test_classification_errors():
    outputs = [{"y": np.zeros((3, 4))}]
    with pytest.raises(InputError, match="2 labels for 3 outputs"):
        get_metric("top1").compute(outputs, Annotations(labels=[0, 1]))
    with pytest.raises(InputError, match="labels span 0..4, but the output has 4 classes"):
        get_metric("top1").compute(outputs, Annotations(labels=[0, 1, 4]))
    with pytest.raises(InputError, match="'labels' must hold integer ids"):
        Annotations(labels=np.array([0.5, 1.0]))
    assert Annotations(labels=np.array([1.0, 2.0])).labels.dtype == np.int64  # whole floats are fine


# --- output error --------------------------------------------------------------------------------

def test_cosine_and_nmse_by_hand():
    ref = [{"y": np.array([[3.0, 4.0], [1.0, 0.0]])}, {"y": np.array([[0.0, 0.0]])}]
    out = [{"y": np.array([[3.0, 4.0], [1.0, 1.0]])}, {"y": np.array([[0.0, 0.0]])}]
    cosine, nmse = get_metric("cosine"), get_metric("nmse")
    assert cosine.per_sample(out, None, ref) == pytest.approx([1.0, 1 / np.sqrt(2), 1.0])  # zero vs zero: equal
    assert nmse.per_sample(out, None, ref) == pytest.approx([0.0, -1.0, 0.0])  # per_sample: higher is better
    assert nmse.compute(out, None, ref) == pytest.approx(1 / 3) and not nmse.higher_is_better
    assert cosine.compute(out, None, ref) == pytest.approx((2 + 1 / np.sqrt(2)) / 3)
    # 4-D outputs flatten per sample; a zero reference against a non-zero output is infinitely wrong
    assert get_metric("nmse").compute([{"y": np.ones((1, 2, 1, 1))}], None, [{"y": np.zeros((1, 2, 1, 1))}]) == np.inf
    assert get_metric("cosine").compute([{"y": np.ones((1, 2))}], None, [{"y": np.zeros((1, 2))}]) == 0.0


def test_output_option_picks_the_output():
    outputs = [{"a": np.array([[0.0, 1.0]]), "b": np.array([[1.0, 0.0]])}]
    truth_ = Annotations(labels=[0])
    assert get_metric("top1").compute(outputs, truth_) == 0.0
    assert get_metric("top1", output="b").compute(outputs, truth_) == 1.0
    with pytest.raises(InputError, match="no output 'c' \\(outputs: a, b\\)"):
        get_metric("top1", output="c").compute(outputs, truth_)
    with pytest.raises(InputError, match=r"outputs \[1, 2\] and reference \[2, 2\] differ"):
        get_metric("nmse").compute(outputs, None, [{"a": np.zeros((2, 2))}])


# --- detection: hand-computed cases --------------------------------------------------------------

def test_no_detections_is_zero_and_perfect_is_one():
    gt = truth([A, B, C], [1, 1, 2], [0, 1, 1], num_images=2)
    assert maps([batch(), batch()], gt) == dict.fromkeys(METHODS, 0.0)
    perfect = [batch([0, 1, 0.9, *A]), batch([0, 1, 0.3, *B], [0, 2, 0.8, *C])]
    assert maps(perfect, gt) == dict.fromkeys(METHODS, 1.0)


# Two classes. Class 1: boxes A (image 0) and B (image 1); detections: A exact (0.9), a miss in image 1
# (0.8), then B at IoU 0.72 (0.7): TP FP TP. Class 2: box C (image 0); detections: a miss (0.95), then
# C exact (0.6): FP TP.
D3 = [0.5, 0.5, 0.9, 0.788]  # 0.4 x 0.288 inside B (0.4 x 0.4): IoU 0.72, a hit at IoU 0.50..0.70 only
TWO_CLASSES = [batch([0, 1, 0.9, *A], [0, 2, 0.95, *FAR], [0, 2, 0.6, *C]),
               batch([0, 1, 0.8, *FAR], [0, 1, 0.7, *D3])]
TWO_CLASSES_TRUTH = dict(boxes=[A, B, C], labels=[1, 1, 2], images=[0, 1, 0], num_images=2)


def test_two_classes_by_hand():
    # class 1: recall .5 .5 1, precision 1 .5 2/3
    #   11-point: t = 0...5 -> 1 (6 points), t = .6..1 -> 2/3 (5 points): 28/33
    #   all-point: .5 * 1 + .5 * 2/3 = 5/6
    #   COCO, 5 thresholds <= .72 as above: 51 recall points at 1, 50 at 2/3 -> (51 + 100/3) / 101;
    #   5 thresholds > .72: TP FP FP -> 51 points at 1 -> 51/101
    # class 2: recall 0 1, precision 0 .5 -> every method gives 0.5
    gt = truth(**TWO_CLASSES_TRUTH)
    coco1 = ((51 + 100 / 3) / 101 + 51 / 101) / 2
    expected = {"map": (28 / 33 + 0.5) / 2, "map:all": (5 / 6 + 0.5) / 2, "map:coco": (coco1 + 0.5) / 2}
    assert maps(TWO_CLASSES, gt) == pytest.approx(expected, abs=1e-12)
    assert get_metric("map:coco").per_class(TWO_CLASSES, gt) == pytest.approx({1: coco1, 2: 0.5}, abs=1e-12)
    assert get_metric("map").per_sample(TWO_CLASSES, gt) is None


def test_iou_option_moves_the_voc_threshold():
    gt = truth(**TWO_CLASSES_TRUTH)
    # at IoU 0.75, B's detection (0.72) misses: class 1 is TP FP FP -> 11-point 6/11, all-point 1/2
    assert get_metric("map", iou=0.75).per_class(TWO_CLASSES, gt) == pytest.approx({1: 6 / 11, 2: 0.5})
    assert get_metric("map:all", iou=0.75).per_class(TWO_CLASSES, gt) == pytest.approx({1: 0.5, 2: 0.5})


def test_duplicate_detection_is_a_false_positive():
    # A found twice (0.9, 0.8), then B (0.7): TP FP TP, as class 1 above; counting the duplicate as a
    # hit would give recall 1 at the second detection (all-point 1.0)
    outputs = [batch([0, 1, 0.9, *A], [0, 1, 0.8, *A]), batch([0, 1, 0.7, *B])]
    gt = truth([A, B], [1, 1], [0, 1], num_images=2)
    assert maps(outputs, gt) == pytest.approx({"map": 28 / 33, "map:all": 5 / 6, "map:coco": (51 + 100 / 3) / 101})


def test_difficult_box_neither_counts_nor_penalizes():
    # A is difficult: its detection (0.9, found twice) is ignored, B is the only positive -> AP 1;
    # were A an ordinary box, the same detections would give TP FP TP
    outputs = [batch([0, 1, 0.9, *A], [0, 1, 0.85, *A], [0, 1, 0.8, *B])]
    assert maps(outputs, truth([A, B], [1, 1], [0, 0], difficult=[True, False])) == dict.fromkeys(METHODS, 1.0)
    assert get_metric("map:all").compute(outputs, truth([A, B], [1, 1], [0, 0])) == pytest.approx(5 / 6)
    # a class whose only box is difficult is not averaged, even with detections
    only_difficult = truth([A, B], [1, 3], [0, 0], difficult=[False, True])
    assert get_metric("map").per_class([batch([0, 1, 0.9, *A], [0, 3, 0.9, *FAR])], only_difficult) == {1: 1.0}


def test_ordinary_box_before_difficult_one():
    # the detection repeats a difficult box and overlaps an ordinary one at 2/3. VOC devkit: it goes to the
    # box it overlaps most, the difficult one -> ignored, nothing found (AP 0). pycocotools prefers an
    # ordinary box while one is free at IoU >= t: TP at 0.50..0.65 (AP 1), ignored above (AP 0)
    g_difficult, g_ordinary = [0.0, 0.0, 0.5, 0.5], [0.1, 0.0, 0.6, 0.5]
    gt = truth([g_difficult, g_ordinary], [1, 1], [0, 0], difficult=[True, False])
    outputs = [batch([0, 1, 0.9, *g_difficult])]
    assert maps(outputs, gt) == pytest.approx({"map": 0.0, "map:all": 0.0, "map:coco": 0.4})


def test_classes_without_ground_truth_are_ignored():
    outputs = [batch([0, 1, 0.9, *A], [0, 7, 0.99, *B], [0, 7, 0.98, *A])]
    assert maps(outputs, truth([A], [1], [0])) == dict.fromkeys(METHODS, 1.0)


def test_voc_and_coco_matching_differ_on_overlapping_boxes():
    # Two boxes of one class overlap; the second detection repeats the first box (claimed) and overlaps
    # the free one at 2/3. VOC devkit: it goes to the claimed box -> a duplicate (FP); pycocotools: it
    # takes the free box -> TP at IoU thresholds <= 2/3.
    g1, g2 = [0.0, 0.0, 0.5, 0.5], [0.1, 0.0, 0.6, 0.5]  # IoU(g1, g2) = 0.2 / 0.3
    gt = truth([g1, g2], [1, 1], [0, 0])
    outputs = [batch([0, 1, 0.9, *g1], [0, 1, 0.8, *g1])]
    assert get_metric("map:all").compute(outputs, gt) == pytest.approx(0.5)  # TP FP: recall .5 at precision 1
    # COCO: TP TP (AP 1) at IoU 0.50, 0.55, 0.60, 0.65; TP FP (51 of 101 recall points) at 0.70..0.95
    assert get_metric("map:coco").compute(outputs, gt) == pytest.approx((4 + 6 * 51 / 101) / 10)


def test_padding_rows_and_batch_image_offsets():
    gt = truth([A, B, C, A], [1, 1, 1, 1], [0, 1, 2, 3], num_images=4)
    # two batches of two images; rows after the first image_id -1 are padding, whatever they hold
    first = batch([0, 1, 0.9, *A], [1, 1, 0.8, *B])
    first["detection_out"][0, 0, 3] = [0, 1, 0.99, *FAR]  # after the -1 at row 2: not a detection
    second = batch([0, 1, 0.7, *C], [1, 1, 0.6, *A])
    assert maps([first, second], gt) == dict.fromkeys(METHODS, 1.0)
    # the same detections read as if image ids were global would miss images 2 and 3
    swapped = batch([1, 1, 0.7, *C], [0, 1, 0.6, *A])
    assert get_metric("map:all").compute([first, swapped], gt) == 0.5


def test_published_worked_example():
    """rafaelpadilla/Object-Detection-Metrics' README: 7 images, 15 boxes, 24 detections; AP 26.84%
    (11-point) and 24.56% (all points). Hits are drawn as exact boxes, misses as boxes far away."""
    hits = {"R": 5, "J": 3, "B": 1, "P": 5, "E": 2, "X": 7, "G": 3}
    conf = dict(A=88, B=70, C=80, D=71, E=54, F=74, G=18, H=67, I=38, J=91, K=44, L=35, M=78, N=45, O=14, P=62,
                Q=44, R=95, S=23, T=45, U=84, V=43, X=48, Y=95)
    image = dict(A=1, B=1, C=1, D=2, E=2, F=2, G=3, H=3, I=3, J=3, K=3, L=4, M=4, N=4, O=4, P=5, Q=5, R=5, S=5,
                 T=6, U=6, V=6, X=7, Y=7)
    gt_images = [1, 1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 2]  # 15 boxes; one per hit, the rest never found
    boxes = [[0.05 * i, 0.0, 0.05 * i + 0.04, 0.04] for i in range(15)]
    box_of_hit, free = {}, list(range(15))
    for name, img in hits.items():
        box_of_hit[name] = next(i for i in free if gt_images[i] == img)
        free.remove(box_of_hit[name])
    outputs = []
    for img in range(1, 8):
        rows = [[0, 1, conf[n] / 100, *(boxes[box_of_hit[n]] if n in hits else FAR)]
                for n in sorted(conf) if image[n] == img]
        outputs.append(batch(*rows))
    gt = truth(boxes, [1] * 15, [i - 1 for i in gt_images], num_images=7)
    assert get_metric("map").compute(outputs, gt) == pytest.approx(0.2684, abs=1e-4)
    assert get_metric("map:all").compute(outputs, gt) == pytest.approx(0.2456, abs=1e-4)


def test_ap_functions_on_precision_recall():
    recall, precision = np.array([0.1, 0.3, 0.3, 0.6]), np.array([1.0, 0.75, 0.5, 0.4])
    # 11-point: t=0,.1 -> 1; .2,.3 -> .75 (recall exactly .3 counts); .4..0.6 -> .4; beyond -> 0
    assert voc11_ap(recall, precision) == pytest.approx((2 + 1.5 + 1.2) / 11)
    assert all_point_ap(recall, precision) == pytest.approx(0.1 + 0.2 * 0.75 + 0.3 * 0.4)
    assert voc11_ap(np.zeros(0), np.zeros(0)) == all_point_ap(np.zeros(0), np.zeros(0)) == 0.0


# --- detection: against a loop-by-loop reference and pycocotools ---------------------------------

def random_detection_set(seed: int, images: int = 40, classes: int = 4, per_image: int = 12,
                         difficult_rate: float = 0.15):
    """Ground truth and noisy detections: jittered copies (some repeated, some mislabeled), random boxes,
    confidences rounded to 0.01 (ties)."""
    rng = np.random.default_rng(seed)
    gt_boxes, gt_labels, gt_image = [], [], []
    for i in range(images):
        for _ in range(rng.integers(0, 5)):
            xy = rng.uniform(0, 0.7, 2)
            gt_boxes.append([*xy, *(xy + rng.uniform(0.05, 0.3, 2))])
            gt_labels.append(int(rng.integers(1, classes + 1)))
            gt_image.append(i)
    gt_boxes, gt_labels, gt_image = np.array(gt_boxes), np.array(gt_labels), np.array(gt_image)
    difficult = rng.random(len(gt_boxes)) < difficult_rate
    outputs = []
    for i in range(images):
        rows = []
        for g in np.flatnonzero(gt_image == i):
            for _ in range(rng.integers(0, 3)):
                label = gt_labels[g] if rng.random() < 0.85 else rng.integers(1, classes + 1)
                box = gt_boxes[g] + rng.normal(0, 0.015, 4)
                box[2:] = np.maximum(box[2:], box[:2] + 0.01)
                rows.append([0, label, np.round(rng.uniform(0.3, 1.0), 2), *box])
        target = rng.integers(per_image // 2, per_image + 1)
        while len(rows) < target:
            xy = rng.uniform(0, 0.8, 2)
            rows.append([0, rng.integers(1, classes + 1), np.round(rng.uniform(0.0, 0.7), 2), *xy, *(xy + 0.1)])
        outputs.append(batch(*rows[:per_image], k=per_image + 2))
    return outputs, truth(gt_boxes, gt_labels, gt_image, difficult, num_images=images)


def iou_one(a, b) -> float:
    iw, ih = max(0.0, min(a[2], b[2]) - max(a[0], b[0])), max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    return iw * ih / union if union > 0 else 0.0


def reference_flags(outputs, gt, cls, threshold, rule):
    """tp/fp flags of one class's detections in confidence order, one detection at a time (VOC devkit's
    loop, or pycocotools' evaluateImg loop); the number of positives."""
    dets = [(r[2], i, r) for i, o in enumerate(outputs) for r in o["detection_out"].reshape(-1, 7).astype(float)
            if r[0] != -1 and round(r[1]) == cls]
    dets.sort(key=lambda d: -d[0])  # sort is stable: ties stay in image order
    mine = [g for g in range(len(gt.gt_labels)) if gt.gt_labels[g] == cls]
    used, flags = set(), []
    for _, img, r in dets:
        cand = [g for g in mine if gt.gt_image[g] == img]
        if rule == "voc":
            ious = [iou_one(r[3:], gt.gt_boxes[g]) for g in cand]
            if not ious or max(ious) < threshold:
                flags.append("fp")
                continue
            g = cand[int(np.argmax(ious))]
            flags.append("ignore" if gt.gt_difficult[g] else "fp" if g in used else "tp")
            used.add(g)
        else:
            best, best_iou = None, min(threshold, 1 - 1e-10)
            for g in sorted(cand, key=lambda g: gt.gt_difficult[g]):  # ordinary boxes first
                if g in used:
                    continue
                if best is not None and not gt.gt_difficult[best] and gt.gt_difficult[g]:
                    break
                v = iou_one(r[3:], gt.gt_boxes[g])
                if v >= best_iou:
                    best, best_iou = g, v
            if best is not None and not gt.gt_difficult[best]:
                used.add(best)
            flags.append("fp" if best is None else "ignore" if gt.gt_difficult[best] else "tp")
    return [f for f in flags if f != "ignore"], sum(1 for g in mine if not gt.gt_difficult[g])


def reference_map(outputs, gt, method):
    aps = []
    for cls in sorted(set(gt.gt_labels[~gt.gt_difficult].tolist())):
        per_t = []
        for t in (np.linspace(0.5, 0.95, 10) if method == "coco" else [0.5]):
            flags, npos = reference_flags(outputs, gt, cls, t, "coco" if method.startswith("coco") else "voc")
            tp = np.cumsum([f == "tp" for f in flags])
            rec, prec = tp / npos, tp / np.arange(1, len(flags) + 1)
            if method == "voc11":
                per_t.append(sum(max([p for p, r in zip(prec, rec) if r >= k / 10], default=0) for k in range(11)) / 11)
            elif method == "all":
                per_t.append(sum((r1 - r0) * max(prec[j:]) for j, (r0, r1) in enumerate(zip([0, *rec], rec))))
            else:
                per_t.append(np.mean([max(prec[j:]) if (j := np.searchsorted(rec, r)) < len(rec) else 0
                                      for r in np.linspace(0, 1, 101)]))
        aps.append(np.mean(per_t))
    return float(np.mean(aps))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_equals_the_loop_reference(seed):
    outputs, gt = random_detection_set(seed)
    for name, method in (("map", "voc11"), ("map:all", "all"), ("map:coco", "coco"), ("map:coco50", "coco50")):
        assert get_metric(name).compute(outputs, gt) == pytest.approx(reference_map(outputs, gt, method), abs=1e-12)


def test_map_coco_equals_pycocotools():
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    outputs, gt = random_detection_set(3, images=60, difficult_rate=0.0)  # pycocotools has no difficult boxes
    scale = 100.0  # pycocotools' area ranges are in pixels; all boxes here fall in 'all' anyway
    xywh = lambda b: [b[0] * scale, b[1] * scale, (b[2] - b[0]) * scale, (b[3] - b[1]) * scale]  # noqa: E731
    dataset = {"images": [{"id": i} for i in range(60)], "categories": [{"id": c} for c in range(1, 5)],
               "annotations": [{"id": j + 1, "image_id": int(gt.gt_image[j]), "category_id": int(gt.gt_labels[j]),
                                "bbox": xywh(gt.gt_boxes[j]), "area": float(np.prod(xywh(gt.gt_boxes[j])[2:])),
                                "iscrowd": 0} for j in range(len(gt.gt_image))]}
    coco_gt = COCO()
    coco_gt.dataset = json.loads(json.dumps(dataset))
    coco_gt.createIndex()
    dets = [{"image_id": i, "category_id": int(r[1]), "score": float(r[2]), "bbox": xywh(r[3:])}
            for i, o in enumerate(outputs) for r in o["detection_out"].reshape(-1, 7).astype(float) if r[0] != -1]
    ev = COCOeval(coco_gt, coco_gt.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    precision = ev.eval["precision"][:, :, :, 0, 2]  # [T, R, K] at area 'all', maxDets 100
    per_class = [precision[:, :, k].mean() for k in range(precision.shape[2]) if (precision[:, :, k] > -1).all()]
    assert get_metric("map:coco").compute(outputs, gt) == pytest.approx(np.mean(per_class), abs=1e-9)


def test_map_is_fast_for_300_images_of_100_detections():
    import time

    outputs, gt = random_detection_set(4, images=300, classes=20, per_image=100)
    for name in METHODS:
        start = time.perf_counter()
        get_metric(name).compute(outputs, gt)
        assert time.perf_counter() - start < 2.0, name


# --- annotations and errors ----------------------------------------------------------------------

def test_annotations_from_npz_arrays_and_subsets():
    arrays = {"input": np.zeros((3, 2)), "gt_boxes": np.array([A, B, C]), "gt_labels": np.array([1, 2, 1]),
              "gt_image": np.array([0, 2, 2])}
    gt = Annotations.from_arrays(arrays)
    assert gt.num_images == 3 and gt.labels is None and gt.gt_difficult.tolist() == [False] * 3
    sub = gt.select([2, 1])
    assert sub.num_images == 2 and sub.gt_image.tolist() == [0, 0] and sub.gt_labels.tolist() == [2, 1]
    assert Annotations.from_arrays({"input": np.zeros((5, 2)), "labels": np.arange(3)}).num_images == 3
    assert Annotations(labels=[3, 4, 5]).select([2, 0]).labels.tolist() == [5, 3]


def test_annotation_keys_are_never_inputs():
    from irtool.data import match_inputs
    from irtool.runtime.plugin import TensorSpec

    spec = TensorSpec("image", ("image",), (1, 2), np.dtype(np.float32), 0)
    arrays = {"x": np.zeros((3, 2)), "labels": np.zeros(3, int), "gt_boxes": np.zeros((1, 4)),
              "gt_labels": np.ones(1, int), "gt_image": np.zeros(1, int), "gt_difficult": np.zeros(1, bool)}
    assert list(match_inputs(arrays, [spec], "val.npz")) == ["image"]


@pytest.mark.parametrize("make, message", [
    (lambda: get_metric("top7x"), r"unknown metric 'top7x': use one of top1, top5, topk:K, map, .*nmse"),
    (lambda: get_metric("map:voc12"), "unknown metric 'map:voc12'"),
    (lambda: get_metric("top0"), "unknown metric 'top0'"),
    (lambda: get_metric("top1").compute([{"y": np.zeros((1, 2))}], Annotations()),
     "metric 'top1' needs class labels: add a 'labels' array"),
    (lambda: get_metric("map").compute([batch()], Annotations(labels=[1])),
     r"metric 'map' needs detection ground truth: add gt_boxes \[T,4\], gt_labels \[T\] and gt_image \[T\]"),
    (lambda: get_metric("cosine").compute([{"y": np.zeros((1, 2))}]), "metric 'cosine' compares with the FP32 model"),
    (lambda: Annotations.from_arrays({"gt_boxes": np.zeros((1, 4)), "gt_labels": np.ones(1, int)}),
     "detection ground truth needs .*; missing: gt_image"),
    (lambda: truth([A], [1, 2], [0]), "gt_labels has 2 entries for 1 gt_boxes"),
    (lambda: Annotations(gt_boxes=[[0, 0, 1]], gt_labels=[1], gt_image=[0]), r"gt_boxes must be \[T, 4\]"),
    (lambda: truth([A], [1], [3], num_images=2), r"gt_image 3 is not a sample index \(0..1\)"),
    (lambda: get_metric("map").compute([batch([2, 1, 0.5, *A])], truth([A], [1], [0], num_images=2)),
     r"batch 0: detection image_id 2 is not one of the batch's 2 image\(s\)"),
    (lambda: get_metric("map").compute([batch(), batch()], truth([A], [1], [0], num_images=3)),
     "3 images do not split into 2 equal batches"),
    (lambda: get_metric("map").compute([batch(), batch()], truth([A], [1], [0])),
     r"several batches needs the number of images"),
    (lambda: get_metric("map").compute([{"y": np.zeros((1, 5))}], truth([A], [1], [0])),
     r"mAP reads DetectionOutput rows .* the output has shape \[1, 5\]"),
    (lambda: get_metric("map").compute([batch()], truth([A], [1], [0], difficult=[True])),
     "at least one ground-truth box that is not difficult"),
])
def test_errors_are_one_clear_line(make, message):
    with pytest.raises(InputError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


def test_callables_and_metric_objects():
    def agreement(outputs, annotations):
        return float(np.mean(outputs[0]["y"].argmax(1) == annotations.labels))

    metric = get_metric(agreement)
    assert metric.name == "agreement" and metric.higher_is_better and metric.per_sample([], None) is None
    assert metric.compute([{"y": np.eye(2)}], Annotations(labels=[0, 0])) == 0.5
    loss = get_metric(lambda o, a: 3.0, name="loss", higher_is_better=False)
    assert (loss.name, loss.higher_is_better, loss.compute([], None)) == ("loss", False, 3.0)
    assert get_metric(get_metric("top1"), output="b").output == "b"
    assert get_metric("map:coco").needs == "boxes" and get_metric("nmse").needs == "reference"


# --- irtool run ----------------------------------------------------------------------------------

def test_cli_run_prints_top1_and_map(tmp_path, capsys):
    ov = pytest.importorskip("openvino")
    from openvino import opset13 as ops

    from irtool.cli import main
    from tests.oracle import build_convnet, save

    def run(*args):
        with pytest.raises(SystemExit) as info:
            main(["run", *map(str, args)])
        captured = capsys.readouterr()
        assert info.value.code == 0, captured.err
        return captured.out

    convnet = save(build_convnet(), tmp_path / "convnet.xml")
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "val.npz", input=x, labels=np.array([1, 2, 3, 4]))
    import irtool

    compiled = irtool.compile_model(convnet)
    predicted = np.array([compiled({"input": x[i:i + 1]})["probs"].argmax() for i in range(4)])
    top1 = json.loads(run(convnet, "-i", tmp_path / "val.npz", "--json"))["top1"]
    assert top1 == np.mean(predicted == [1, 2, 3, 4])
    assert "top-1 accuracy against the labels in val.npz" in run(convnet, "-i", tmp_path / "val.npz")

    # a detector stand-in: its DetectionOutput-shaped input passed through; two images, batch 1
    p = ops.parameter([1, 1, 4, 7], np.float32, name="rows")
    save(ov.Model([ops.multiply(p, ops.constant(np.float32(1)))], [p], "det"), tmp_path / "det.xml")
    rows = np.concatenate([batch([0, 1, 0.9, *A], k=4)["detection_out"],
                           batch([0, 1, 0.8, *FAR], k=4)["detection_out"]])
    np.savez(tmp_path / "det.npz", rows=rows, gt_boxes=np.array([A, B]), gt_labels=np.array([1, 1]),
             gt_image=np.array([0, 1]))
    report = json.loads(run(tmp_path / "det.xml", "-i", tmp_path / "det.npz", "--json"))
    assert report["map"] == pytest.approx(6 / 11)  # TP FP over two boxes: precision 1 up to recall .5
    text = run(tmp_path / "det.xml", "-i", tmp_path / "det.npz")
    assert "mAP (VOC 11-point, IoU 0.5) against the boxes in det.npz: 54.55% (2 images, 2 boxes)" in text
