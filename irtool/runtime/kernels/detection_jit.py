"""The numba kernel of DetectionOutput (detection_output.py holds the op, its numpy reference
``detect`` and the semantics): every njit function it calls is here, in one file, since numba's
on-disk cache checks only the file of the function it compiles.
"""
from __future__ import annotations

import numba
import numpy as np

F32 = np.float32

# One kernel does an image's work after the exponentials: the candidates of each class (a sort of
# integer keys: the score's bits ordered best first, then the prior), the decoding of those boxes
# alone, greedy NMS, keep_top_k and the output rows. The exponentials of CENTER_SIZE stay numpy's
# (``_exps``): numpy's vectorized float32 exp and the libm one numba would call can differ in the
# last bit, and the reference's boxes come from numpy's.
_ZERO, _ONE, _TWO = F32(0), F32(1), F32(2)
_LOW31 = (1 << 31) - 1  # the key's index bits: prior, or class * P + prior


@numba.njit(cache=True, inline="always")
def _iou(boxes, sizes, a, b):  # pragma: no cover (jit)
    """OpenVINO's JaccardOverlap, float32."""
    if (boxes[b, 0] > boxes[a, 2] or boxes[b, 2] < boxes[a, 0] or boxes[b, 1] > boxes[a, 3]
            or boxes[b, 3] < boxes[a, 1]):
        return np.float32(0.0)
    w = min(boxes[a, 2], boxes[b, 2]) - max(boxes[a, 0], boxes[b, 0])
    h = min(boxes[a, 3], boxes[b, 3]) - max(boxes[a, 1], boxes[b, 1])
    if w <= 0 or h <= 0:
        return np.float32(0.0)
    inter = w * h
    return inter / (sizes[a] + sizes[b] - inter)


@numba.njit(cache=True)
def _best_first(bits, v):  # pragma: no cover (jit)
    """A 32-bit key of float32 score ``v`` (``bits`` its bit pattern, NaN excluded) that sorts
    higher scores first, -0.0 and 0.0 alike (numpy's sorts compare them equal)."""
    b = np.int64(bits) & 0xFFFFFFFF
    if v == 0:
        b = 0
    ascending = 0xFFFFFFFF - b if b >= 0x80000000 else b + 0x80000000
    return 0xFFFFFFFF - ascending


@numba.njit(cache=True)
def _select(a, k):  # pragma: no cover (jit)
    """Reorder distinct ``a`` (0 < k <= a.size) so that ``a[:k]`` holds its ``k`` smallest: quickselect
    (Hoare partitions, median-of-three pivots). np.partition does the same, but takes numba six
    seconds to compile."""
    t, lo, hi = k - 1, 0, a.size - 1
    while lo < hi:
        x, y, z = a[lo], a[(lo + hi) >> 1], a[hi]
        pivot = max(min(x, y), min(max(x, y), z))
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if t <= j:  # a[lo:j + 1] <= pivot <= a[i:hi + 1], and a[j + 1:i] == pivot
            hi = j
        elif t >= i:
            lo = i
        else:
            break


@numba.njit(cache=True)
def _smallest(keys, k):  # pragma: no cover (jit)
    """The ``k`` smallest of distinct ``keys`` in order (all of them when k < 0 or k >= their number);
    ``keys`` is scratch."""
    if k < 0 or k >= keys.size:
        return np.sort(keys)
    if k == 0:
        return np.empty(0, np.int64)
    _select(keys, k)
    return np.sort(keys[:k])


@numba.njit(cache=True)
def _clip01(v):  # pragma: no cover (jit)
    """np.clip(v, 0, 1): NaN and -0.0 stay as they are, as in numpy."""
    if v < 0:
        return _ZERO
    if v > 1:
        return _ONE
    return v


@numba.njit(cache=True)
def _decode_jit(x0, y0, x1, y1, loc, exps, priors, n, pi, p, l, L, center, venc, normalized, iw, ih,
                clip):  # pragma: no cover (jit)
    """``_decode`` of box ``l`` of prior ``p`` in image ``n`` from the prior corners given; ``exps``
    holds exp(variance * logit) of the size logits for CENTER_SIZE."""
    o = (p * L + l) * 4
    a0, a1, a2, a3 = loc[n, o], loc[n, o + 1], loc[n, o + 2], loc[n, o + 3]
    if not venc:
        a0, a1 = priors[pi, 1, 4 * p] * a0, priors[pi, 1, 4 * p + 1] * a1
        a2, a3 = priors[pi, 1, 4 * p + 2] * a2, priors[pi, 1, 4 * p + 3] * a3
    if not normalized:
        x0, x1 = x0 / iw, x1 / iw
        y0, y1 = y0 / ih, y1 / ih
    if center:
        pw, ph = x1 - x0, y1 - y0
        cx = a0 * pw + (x0 + x1) / _TWO
        cy = a1 * ph + (y0 + y1) / _TWO
        w, h = exps[n, p, l, 0] * pw, exps[n, p, l, 1] * ph
        b0, b1, b2, b3 = cx - w / _TWO, cy - h / _TWO, cx + w / _TWO, cy + h / _TWO
    else:
        b0, b1, b2, b3 = x0 + a0, y0 + a1, x1 + a2, y1 + a3
    if clip:
        b0, b1, b2, b3 = _clip01(b0), _clip01(b1), _clip01(b2), _clip01(b3)
    return b0, b1, b2, b3


@numba.njit(cache=True)
def _box_jit(loc, exps, arm, arm_loc, arm_exps, priors, n, pi, p, l, L, size, center, venc, normalized, iw, ih, clip,
             box):  # pragma: no cover (jit)
    """Decode box ``l`` of prior ``p`` into ``box`` (4 values): from the ARM box when there are ARM
    logits, else from the prior."""
    o = p * size + size - 4
    x0, y0, x1, y1 = priors[pi, 0, o], priors[pi, 0, o + 1], priors[pi, 0, o + 2], priors[pi, 0, o + 3]
    if arm:
        x0, y0, x1, y1 = _decode_jit(x0, y0, x1, y1, arm_loc, arm_exps, priors, n, pi, p, l, L, center, venc,
                                     normalized, iw, ih, clip)
    box[0], box[1], box[2], box[3] = _decode_jit(x0, y0, x1, y1, loc, exps, priors, n, pi, p, l, L, center, venc,
                                                 normalized, iw, ih, clip)


@numba.njit(cache=True)
def _detect_jit(loc, conf, priors, exps, arm, arm_conf, arm_loc, arm_exps, C, L, size, ip, fp,
                out):  # pragma: no cover (jit)
    """``detect`` from ``_image_detections`` on, for every image, into ``out`` [R, 7] (zeros on entry).
    ``ip``: keep_top_k, top_k, background_label_id and the flags variance_encoded_in_target,
    normalized, clip_before_nms, clip_after_nms, decrease_label_id, CENTER_SIZE; ``fp``:
    confidence_threshold, nms_threshold, objectness_score, input_width, input_height. The arrays a
    layer lacks (``exps`` for CORNER, the ARM ones without ``arm``) come empty: one signature, one
    compilation. One thread: the plugin runs heads with
    fewer than threads.SERIAL_BELOW box logits on one anyway, and little work is left after the selection."""
    keep_top_k, top_k, bg = ip[0], ip[1], ip[2]
    venc, normalized, clip_before, clip_after = ip[3] != 0, ip[4] != 0, ip[5] != 0, ip[6] != 0
    decrease, center = ip[7] != 0, ip[8] != 0
    thr, nms_thr, objectness, iw, ih = fp[0], fp[1], fp[2], fp[3], fp[4]
    N, Np, P, R = conf.shape[0], priors.shape[0], priors.shape[2] // size, out.shape[0]
    row = 0
    for n in range(N):
        pi = n if Np > 1 else 0
        n_priors = P
        if not normalized:  # image id -1 ends the priors
            for p in range(P):
                if priors[pi, 0, p * size] == -1:
                    n_priors = p
                    break
        score = conf[n]
        if arm:  # weak ARM objectness: background only
            score = score.copy()
            for p in range(P):
                if arm_conf[n, 2 * p + 1] < objectness:
                    for c in range(C):
                        score[p * C + c] = _ONE if c == bg else _ZERO
        bits = score.view(np.int32)

        # candidates: cand[c, :count[c]] the priors of class c, best first (ties: lower prior)
        cap = top_k if 0 <= top_k < n_priors else n_priors
        cand = np.empty((C, max(cap, 1)), np.int64)
        count = np.zeros(C, np.int64)
        if decrease:  # MXNet: each prior's best class but 0, the image's top_k best
            keys = np.empty(n_priors, np.int64)
            m = 0
            for p in range(n_priors):
                best, bv = -1, _ZERO
                for c in range(1, C):
                    v = score[p * C + c]
                    if v >= thr and v > -1 and (best < 0 or v > bv):
                        best, bv = c, v
                if best >= 0:
                    keys[m] = (_best_first(bits[p * C + best], bv) << 31) | (best * P + p)
                    m += 1
            for key in _smallest(keys[:m], top_k):
                i = key & _LOW31
                c = i // P
                cand[c, count[c]] = i - c * P
                count[c] += 1
        else:  # Caffe: per class but the background, confidence > threshold, top_k best
            keys2 = np.empty((C, max(n_priors, 1)), np.int64)
            m2 = np.zeros(C, np.int64)
            if top_k != 0:
                # which confidences pass, a byte each (a loop that vectorizes), the background's
                # cleared; then read 8 at a time, so that a run of weak ones costs little
                nv = n_priors * C
                passed = np.zeros((nv + 7) // 8 * 8, np.uint8)
                for i in range(nv):
                    passed[i] = score[i] > thr
                if 0 <= bg < C:
                    for p in range(n_priors):
                        passed[p * C + bg] = 0
                words = passed.view(np.uint64)
                for w in range(words.size):
                    if words[w] != 0:
                        for i in range(8 * w, 8 * w + 8):
                            if passed[i]:  # in memory order: each class's priors ascending
                                p = i // C
                                c = i - p * C
                                keys2[c, m2[c]] = (_best_first(bits[i], score[i]) << 31) | p
                                m2[c] += 1
            for c in range(C):
                if m2[c] > 0:
                    best_keys = _smallest(keys2[c, :m2[c]], top_k)
                    for j in range(best_keys.size):
                        cand[c, j] = best_keys[j] & _LOW31
                    count[c] = best_keys.size

        # greedy NMS per class, decoding only the candidates; the kept ones move to the front of cand
        boxes = np.empty((C, max(cap, 1), 4), np.float32)
        sizes = np.empty((C, max(cap, 1)), np.float32)
        kept = np.zeros(C, np.int64)
        for c in range(C):
            k = 0
            for i in range(count[c]):
                p = cand[c, i]
                b = boxes[c, k]
                _box_jit(loc, exps, arm, arm_loc, arm_exps, priors, n, pi, p, 0 if L == 1 else c, L, size, center,
                         venc, normalized, iw, ih, clip_before, b)
                sizes[c, k] = (b[2] - b[0]) * (b[3] - b[1])
                ok = True
                for j in range(k):
                    if _iou(boxes[c], sizes[c], k, j) > nms_thr:
                        ok = False
                        break
                if ok:
                    cand[c, k] = p
                    k += 1
            kept[c] = k

        # keep_top_k: the best by (score, lower prior, lower class); rows class by class, best first
        total = 0
        for c in range(C):
            total += kept[c]
        limit = 0 <= keep_top_k < total
        kth, need = np.int64(0), 0
        if limit and keep_top_k > 0:
            keys = np.empty(total, np.int64)
            i = 0
            for c in range(C):
                for j in range(kept[c]):
                    p = cand[c, j]
                    keys[i] = (_best_first(bits[p * C + c], score[p * C + c]) << 31) | p
                    i += 1
            best = keys.copy()
            _select(best, keep_top_k)
            kth = best[:keep_top_k].max()
            need = keep_top_k
            for i in range(total):
                if keys[i] < kth:
                    need -= 1
        for c in range(C):
            for j in range(kept[c]):
                p = cand[c, j]
                s = score[p * C + c]
                take = not limit
                if limit and keep_top_k > 0:
                    key = (_best_first(bits[p * C + c], s) << 31) | p
                    if key < kth:
                        take = True
                    elif key == kth and need > 0:  # equal keys: the lower class first
                        take = True
                        need -= 1
                if take and row < R:
                    out[row, 0] = n
                    out[row, 1] = c - 1 if decrease else c
                    out[row, 2] = s
                    for t in range(4):
                        v = boxes[c, j, t]
                        out[row, 3 + t] = _clip01(v) if clip_after else v
                    row += 1
    if row < R:
        out[row, 0] = -1


@numba.njit(cache=True)
def _size_logits(logits, priors, venc, P, L, t):  # pragma: no cover (jit)
    """t[n, p, l] = variance * size logits of box l of prior p (the reference's product); True when
    exp(t) may overflow to inf (some t > 88)."""
    N, Np = t.shape[0], priors.shape[0]
    big = False
    for n in range(N):
        pi = n if Np > 1 else 0
        for p in range(P):
            for l in range(L):
                for j in range(2):
                    v = logits[n, (p * L + l) * 4 + 2 + j]
                    if not venc:
                        v = priors[pi, 1, 4 * p + 2 + j] * v
                    t[n, p, l, j] = v
                    big |= v > 88
    return big
