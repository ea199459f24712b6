"""Random-number kernels beyond one inference: the Philox position carried between a compiled model's
inferences as OpenVINO's CPU plugin carries it, and the helpers held to exact arithmetic."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from tests.oracle import ov, save

from openvino import opset1, opset8  # noqa: E402  (after oracle's importorskip)

from irtool.runtime import compile_model  # noqa: E402
from irtool.runtime.kernels import rng  # noqa: E402


@pytest.mark.parametrize("alignment", ["tensorflow", "pytorch"])
@pytest.mark.parametrize("et, lo, hi", [("f32", -2.0, 5.0), ("i32", -7, 1000)])
def test_later_inferences_match_openvino(tmp_path, alignment, et, lo, hi):
    """tensorflow (Philox): each inference continues the sequence; pytorch (MT19937): it restarts."""
    dt = np.float32 if et == "f32" else np.int32
    node = opset8.random_uniform(opset1.constant(np.array([3, 11], np.int64)), opset1.constant(np.array(lo, dt)),
                                 opset1.constant(np.array(hi, dt)), et, 41, 17, alignment)
    path = save(ov.Model([node], []), tmp_path / "ru.xml")
    request = ov.Core().compile_model(str(path), "CPU").create_infer_request()
    ours = compile_model(path)
    for _ in range(4):
        ref = np.array(request.infer({})[0])
        got = list(ours({}).values())[0]
        np.testing.assert_array_equal(got, ref)


def test_seed_seq_is_libstdcxx():
    """std::seed_seq{1, 2} then std::mt19937 (values printed by a g++ build)."""
    words = rng.mt19937_words(rng.seed_seq([1, 2]), 5)
    assert words.tolist() == [3232623227, 3218984147, 1585538226, 694568912, 1813065045]
    words = rng.mt19937_words(rng.seed_seq([(1 << 40) + 3, 77]), 3)
    assert words.tolist() == [4287760818, 1149260952, 1020935665]


def test_fma_f32_rounds_once():
    r = np.random.default_rng(3)
    a, b = (r.standard_normal(2000) * 10).astype(np.float32), (r.standard_normal(2000) * 10).astype(np.float32)
    c = (r.standard_normal(2000) * 1e-3).astype(np.float32)
    got = rng.fma_f32(a, b, c)
    for x, y, z, g in zip(a, b, c, got):
        exact = Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))
        lo = np.float32(float(exact))  # the nearest float64, then float32: may round twice
        cands = [np.nextafter(lo, np.float32(-np.inf)), lo, np.nextafter(lo, np.float32(np.inf))]
        best = min(cands, key=lambda v: (abs(Fraction(float(v)) - exact), int(np.float32(v).view(np.int32)) & 1))
        assert g == best


def test_philox_words_known_block():
    """Philox4x32-10 of block 0 for key 150, counter 10, as OpenVINO's CPU plugin returns its words."""
    words = rng.philox_words(150, 10, 8)
    assert [hex(int(w)) for w in words[:4]] == ["0xe059be6b", "0x7aa7173a", "0x96f83b54", "0xd5790989"]
