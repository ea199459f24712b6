"""Random numbers: RandomUniform (opset8) and Multinomial (opset13), bit for bit as OpenVINO's CPU
plugin draws them for given seeds (measured against it on an AVX-512 x86 machine; both seeds 0 mean
"non-deterministic" there, and an entropy seed here).

RandomUniform, alignment ``tensorflow``: Philox4x32-10 keyed by ``global_seed``, counter ``op_seed``,
block number ``n`` (element ``k`` takes word ``k % 4`` of block ``k // 4``). The CPU plugin's JIT:
- f32: ``fma(bits(0x3f800000 | w & 0x7fffff) - 1, max - min, min)``, one rounding (fused);
- i32: ``fmod(double(w), double(int32(max - min))) + min`` (the range wraps in int32; truncating
  division, so a wrapped, negative range gives ``w mod |range|``), all in int32;
- f16: the f32 path, then rounded to f16 (the f16 kernel needs AVX512-FP16, absent here);
- i64: the i32 path with min and max converted to i32 (the plugin runs i64 as i32): constants
  saturate, tensors arriving at run time wrap;
- each run continues the sequence: ``n`` advances by 256 per element drawn (the plugin's
  ``SKIP_CONST``), so a compiled model gives new numbers at every inference, as OpenVINO's does.
Alignment ``pytorch``: MT19937 seeded with ``global_seed`` (op_seed unused), one tempered word per
element, the same numbers at every run; f32 ``(w & (2^24 - 1)) * 2^-24 * range + min`` (no FMA),
i32 ``floor``-mod of the word by the signed int32 range, f16 and i64 as above.

Multinomial: the plugin's own std::mt19937 seeded through std::seed_seq{global_seed, op_seed} (not
RandomUniform's generator), samples ``float(word) / float(2^32 - 1)``, the f32 running sum of the
probabilities (exp'd first for log_probs) divided by its last element, a sample's class the first
whose cumulative value is >= the sample; without replacement, the drawn class's mass is removed
and the rest renormalized in f32 after each draw, in the plugin's order.
"""
from __future__ import annotations

import os

import numpy as np

from irtool.errors import IRFormatError
from irtool.ir.element_types import element_type
from irtool.runtime.kernels.elementwise import _numpy_type
from irtool.runtime.registry import kernel, keyword_defaults, specializer

_M32 = 0xFFFFFFFF
_SKIP = 256  # Philox blocks skipped per element between runs (the CPU plugin's SKIP_CONST)


def _seeds(global_seed: int, op_seed: int) -> tuple[int, int]:
    """Both 0: OpenVINO draws a seed from the clock; here one from the OS's entropy."""
    if global_seed == 0 and op_seed == 0:
        global_seed = int.from_bytes(os.urandom(4), "little") or 1
    return global_seed & 0xFFFFFFFFFFFFFFFF, op_seed & 0xFFFFFFFFFFFFFFFF


# ------------------------------------------------------------------------------------ generators
def philox_words(global_seed: int, op_seed: int, count: int, n_state: int = 0) -> np.ndarray:
    """The first ``count`` 32-bit words of Philox4x32-10 from block ``n_state`` (uint64 array).

    The plugin's round, with its names: ``n`` (the block number) and ``counter`` (op_seed) are the
    two 64-bit halves of the Philox counter, ``global_seed`` the key; a block's words are
    ``n_lo, n_hi, counter_lo, counter_hi`` after ten rounds (the key raised between rounds)."""
    m32, s32 = np.uint64(_M32), np.uint64(32)
    n = np.arange(-(-count // 4), dtype=np.uint64) + np.uint64(n_state & 0xFFFFFFFFFFFFFFFF)
    k0, k1 = global_seed & _M32, global_seed >> 32 & _M32
    n0, n1 = n & m32, n >> s32
    c0, c1 = np.full_like(n, op_seed & _M32), np.full_like(n, op_seed >> 32 & _M32)
    for _ in range(10):
        p0, p1 = np.uint64(0xD2511F53) * n0, np.uint64(0xCD9E8D57) * c0  # 32 x 32 -> 64 bits, no overflow
        n0, n1, c0, c1 = (p1 >> s32) ^ n1 ^ np.uint64(k0), p1 & m32, (p0 >> s32) ^ c1 ^ np.uint64(k1), p0 & m32
        k0, k1 = (k0 + 0x9E3779B9) & _M32, (k1 + 0xBB67AE85) & _M32
    return np.stack([n0, n1, c0, c1], axis=1).reshape(-1)[:count]


def mt19937_words(key: np.ndarray | int, count: int) -> np.ndarray:
    """``count`` tempered MT19937 outputs (uint64 array): from ``init_genrand(key)`` for an int, or
    from a 624-word state (std::mt19937's after ``seed(seed_seq)``); the first twist comes first."""
    bits = np.random.MT19937(0)
    if isinstance(key, int):
        bits._legacy_seeding(key & _M32)  # init_genrand, as std::mt19937(seed) and the plugin's
    else:
        bits.state = {"bit_generator": "MT19937", "state": {"key": np.asarray(key, np.uint32), "pos": 624}}
    return bits.random_raw(count).astype(np.uint64)


def seed_seq(values, n: int = 624) -> np.ndarray:
    """std::seed_seq{values...}.generate() of ``n`` words (the C++ standard's algorithm; the
    values are taken modulo 2^32)."""
    v = [int(x) & _M32 for x in values]
    s = len(v)
    t = 11 if n >= 623 else 7 if n >= 68 else 5 if n >= 39 else 3 if n >= 7 else (n - 1) // 2
    p, q, m = (n - t) // 2, (n - t) // 2 + t, max(s + 1, n)
    b = [0x8B8B8B8B] * n
    for k in range(m):
        x = b[k % n] ^ b[(k + p) % n] ^ b[(k - 1) % n]
        r1 = 1664525 * (x ^ x >> 27) & _M32
        r2 = r1 + (s if k == 0 else k % n + v[k - 1] if k <= s else k % n) & _M32
        b[(k + p) % n] = b[(k + p) % n] + r1 & _M32
        b[(k + q) % n] = b[(k + q) % n] + r2 & _M32
        b[k % n] = r2
    for k in range(m, m + n):
        x = b[k % n] + b[(k + p) % n] + b[(k - 1) % n] & _M32
        r3 = 1566083941 * (x ^ x >> 27) & _M32
        r4 = r3 - k % n & _M32
        b[(k + p) % n] ^= r3
        b[(k + q) % n] ^= r4
        b[k % n] = r4
    key = np.array(b, np.uint32)
    if not key[0] & 0x80000000 and not key[1:].any():  # std::mersenne_twister_engine::seed's rule
        key[0] = 0x80000000
    return key


def fma_f32(a, b, c) -> np.ndarray:
    """float32 ``fma(a, b, c)``, rounded once: the product is exact in float64, the sum's error
    exact by TwoSum, and rounding the sum to odd first makes the final rounding to float32 correct."""
    a, b, c = (np.asarray(v, np.float32).astype(np.float64) for v in (a, b, c))
    p = a * b
    s = p + c
    bb = s - p
    err = (p - (s - bb)) + (c - bb)
    even = (s.view(np.int64) & 1) == 0
    with np.errstate(invalid="ignore"):
        s = np.where((err != 0) & even, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    return s.astype(np.float32)


# ---------------------------------------------------------------------------------- RandomUniform
def _int32(v: int, saturate: bool) -> int:
    """An i64 bound as the plugin's i32: constants saturate (constant folding), run-time values wrap."""
    if saturate:
        return min(max(v, -2 ** 31), 2 ** 31 - 1)
    return (v + 2 ** 31) % 2 ** 32 - 2 ** 31


def _to_output(words: np.ndarray, dtype: np.dtype, lo, hi, philox: bool, saturate: bool) -> np.ndarray:
    if dtype.kind == "f":  # f16 (and f64) go through the f32 kernel
        lo32, hi32 = np.float32(lo), np.float32(hi)
        rng = hi32 - lo32
        if philox:
            x = (np.uint32(0x3F800000) | words.astype(np.uint32) & np.uint32(0x7FFFFF)).view(np.float32)
            out = fma_f32(x - np.float32(1), rng, lo32)
        else:
            x = (words & np.uint64(0xFFFFFF)).astype(np.float32) * np.float32(2.0 ** -24)
            out = x * rng + lo32
        return out.astype(dtype)
    lo_i, hi_i = int(lo), int(hi)
    if dtype == np.int64:
        lo_i, hi_i = _int32(lo_i, saturate), _int32(hi_i, saturate)
    span = (hi_i - lo_i + 2 ** 31) % 2 ** 32 - 2 ** 31  # int32 arithmetic
    if span == 0:  # x / 0 -> NaN -> the conversion's "integer indefinite"
        rem = np.full(words.shape, -2 ** 31, np.int64)
    elif philox:  # truncating division: the remainder takes the word's sign (>= 0)
        rem = np.fmod(words.astype(np.int64), abs(span))
    else:  # floor division: the remainder takes the range's sign
        rem = words.astype(np.int64) % span
    return ((rem + lo_i + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32).astype(dtype)


def _random_uniform(shape, minval, maxval, output_type, global_seed, op_seed, alignment, n_state, saturate):
    dims = [int(d) for d in np.asarray(shape).reshape(-1)]
    if any(d < 0 for d in dims):
        raise ValueError(f"RandomUniform shape {dims} has a negative dimension")
    dtype = _numpy_type(output_type)
    if dtype.kind not in "fi" or dtype.itemsize < 2 or element_type(output_type).name == "bf16":
        raise ValueError(f"RandomUniform output_type {output_type} is not f16, f32, f64, i32 or i64")
    count = int(np.prod(dims, dtype=np.int64))
    lo, hi = np.asarray(minval).reshape(-1)[0], np.asarray(maxval).reshape(-1)[0]
    g, o = _seeds(global_seed, op_seed)
    philox = alignment.lower() != "pytorch"
    words = philox_words(g, o, count, n_state) if philox else mt19937_words(g, count)
    return _to_output(words, dtype, lo, hi, philox, saturate).reshape(dims)


@kernel("RandomUniform", versions=("opset8",), foldable=False)
def random_uniform(shape, minval, maxval, *, output_type: str, global_seed: int = 0, op_seed: int = 0,
                   alignment: str = "tensorflow"):
    """The numbers of a compiled model's first inference (``_prepare_random_uniform`` continues the
    Philox sequence at the later ones). Not folded at load time: it is not a constant."""
    return _random_uniform(shape, minval, maxval, output_type, global_seed, op_seed, alignment, 0, False)


@specializer(random_uniform)
def _prepare_random_uniform(consts, **attrs):
    """A run that keeps the Philox position between inferences, as the plugin's node does; constant
    bounds saturate to i32 for an i64 output, and bounds OpenVINO refuses are refused at load."""
    kw = {**keyword_defaults(random_uniform), **attrs}
    saturate = consts[1] is not None and consts[2] is not None
    if saturate:
        dtype = _numpy_type(kw["output_type"])
        lo, hi = np.asarray(consts[1]).reshape(-1)[0], np.asarray(consts[2]).reshape(-1)[0]
        if dtype == np.int64:
            lo, hi = _int32(int(lo), True), _int32(int(hi), True)
        if not lo < hi:
            raise IRFormatError(f"RandomUniform: min {lo} must be less than max {hi}"
                                + (" (as i32, which OpenVINO's CPU plugin runs i64 in)" if dtype == np.int64 else ""))
    state = {"n": 0}
    philox = kw["alignment"].lower() != "pytorch"

    def run(shape, minval, maxval):
        out = _random_uniform(shape, minval, maxval, kw["output_type"], kw["global_seed"], kw["op_seed"],
                              kw["alignment"], state["n"], saturate)
        if philox:
            state["n"] = (state["n"] + out.size * _SKIP) & 0xFFFFFFFFFFFFFFFF
        return out
    # the untimed warm-up inference (plugin.InferRequest.infer) puts the position back
    run.snapshot = lambda: state["n"]
    run.restore = lambda n: state.update(n=n)
    return run


# ------------------------------------------------------------------------------------ Multinomial
@kernel("Multinomial", versions=("opset13",), foldable=False)
def multinomial(probs, num_samples, *, convert_type: str, with_replacement: bool, log_probs: bool,
                global_seed: int = 0, op_seed: int = 0):
    """``[batch, num_samples]`` class indices drawn from each row of ``probs`` [batch, classes]
    (unnormalized probabilities, or log-probabilities), in f32 as the plugin computes them."""
    p = np.asarray(probs).astype(np.float32)
    if p.ndim != 2:
        raise ValueError(f"Multinomial probs must be 2-D, got shape {list(p.shape)}")
    n = int(np.asarray(num_samples).reshape(-1)[0])
    batch, classes = p.shape
    if log_probs:  # std::exp on floats; the f64 exp rounded to f32 is the correctly rounded expf
        p = np.exp(p.astype(np.float64)).astype(np.float32)
    cdf = np.cumsum(p, axis=1, dtype=np.float32)  # the sequential f32 partial sums
    g, o = _seeds(global_seed, op_seed)
    words = mt19937_words(seed_seq([g, o]), batch * n)
    samples = (words.astype(np.float32) / np.float32(4294967295.0)).reshape(batch, n)
    if classes:
        cdf = cdf / np.maximum(cdf[:, -1:], np.finfo(np.float32).tiny)
    out = np.zeros((batch, n), _numpy_type(convert_type))
    for b in range(batch):
        if with_replacement:
            out[b] = np.minimum(np.searchsorted(cdf[b], samples[b], side="left"), max(classes - 1, 0))
            continue
        c = cdf[b].copy()
        for s in range(n):
            sel = int(np.searchsorted(c, samples[b, s], side="left"))  # the first class with c >= sample
            if sel >= classes:  # none (every class drawn): the plugin leaves the output as it is
                continue
            out[b, s] = sel
            mass = c[sel] - c[sel - 1] if sel else c[0]
            c[sel:] -= mass
            with np.errstate(divide="ignore", invalid="ignore"):
                c /= np.float32(1) - mass
    return out
