"""The INT8 micro-kernels chosen for the CPU (cpu.int8_isa): int16 pairs on vpmaddwd (``avx2``), u8 x
s8 quads on vpdpbusd (``vnni``) and AMX tiles (``amx``), where the CPU has them, give bit-identical
results, layer by layer and on whole models; ``IRTOOL_ISA`` forces one, and the counters name the
one that ran."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import irtool
from irtool.errors import UnsupportedError
from irtool.runtime import cpu, threads
from irtool.runtime.kernels.conv import convolution_reference
from irtool.runtime.kernels.int8_conv import (pack_conv_weights, pack_conv_weights_vnni, prepare_convolution_int8,
                                              unpack_conv_weights)
from irtool.runtime.kernels.int8_epilogue import epilogue, epilogue_reference
from irtool.runtime.kernels.int8_matmul import prepare_matmul_int8

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
vnni = pytest.mark.skipif(not cpu.has_vnni(), reason="this CPU has no VNNI (AVX512-VNNI or AVX-VNNI)")
# the paths this CPU has beyond the pairs'
FAST = [isa for isa, has in (("vnni", cpu.has_vnni()), ("amx", cpu.has_amx() and cpu.has_vnni())) if has]
# what a layer forced onto a path may run by (AMX leaves small layers to VNNI)
NAMES = {"vnni": {cpu.int8_exec_isa("vnni")}, "amx": {cpu.int8_exec_isa("amx"), cpu.int8_exec_isa("vnni")}}


def _paths(monkeypatch, make):
    """``make()`` under IRTOOL_ISA=avx2, then each of FAST: [(path, make's result)]."""
    out = []
    for isa in ("avx2", *FAST):
        monkeypatch.setenv("IRTOOL_ISA", isa)
        out.append((isa, make()))
    return out


def test_an_unknown_or_missing_isa_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("IRTOOL_ISA", "sse9")
    with pytest.raises(UnsupportedError, match="IRTOOL_ISA=sse9: not one of avx2, avx512, vnni"):
        irtool.compile_model(SAMPLES / "digits_cnn_int8.xml")
    if not cpu.has_vnni():
        monkeypatch.setenv("IRTOOL_ISA", "vnni")
        with pytest.raises(UnsupportedError, match="does not have it"):
            irtool.compile_model(SAMPLES / "digits_cnn_int8.xml")


def test_weights_unpack_to_what_was_packed():
    w = np.random.default_rng(0).integers(-255, 256, (6, 3, 3, 5)).astype(np.int16)
    back = unpack_conv_weights(pack_conv_weights(w))
    np.testing.assert_array_equal(back[:6, ..., :5], w)
    assert not back[6:].any() and not back[..., 5:].any()
    assert pack_conv_weights_vnni(w) is None  # (past s8: the pairs path takes them)


# geometry: (N, C, H, W, O, k, stride, pad, dilation); C and O off multiples of 4, odd sizes, phases
GEOMETRIES = [(1, 3, 16, 16, 8, 3, 1, 1, 1), (2, 5, 9, 11, 7, 1, 1, 0, 1), (1, 16, 14, 14, 24, 3, 2, 1, 1),
              (1, 7, 10, 10, 5, 3, 1, 2, 2), (1, 32, 28, 28, 64, 1, 2, 0, 1), (1, 64, 8, 8, 16, 1, 1, 0, 1),
              (1, 13, 12, 17, 9, 5, 2, 2, 1),
              # AMX's: written in place (1x1 without padding; stride 2 with rows of 16), through its grid
              (2, 130, 6, 7, 20, 1, 1, 0, 1), (1, 16, 32, 32, 40, 3, 2, 1, 1), (1, 36, 11, 9, 33, 3, 1, 1, 2)]


@vnni
@pytest.mark.parametrize("g", GEOMETRIES, ids=lambda g: "x".join(map(str, g)))
@pytest.mark.parametrize("levels", [0, 256])
def test_convolution_paths_are_bit_identical(g, levels, monkeypatch):
    """Per-channel zero points (the padding reads them), float32 and u8 outputs, against numpy too."""
    N, C, H, W, O, k, s, p, d = g
    rng = np.random.default_rng(sum(g) + levels)
    codes = rng.integers(0, 256, (N, C, H, W)).astype(np.uint8)
    w = rng.integers(-128, 128, (O, k, k, C)).astype(np.int16)
    z = rng.integers(0, 256, C).tolist()
    ep = epilogue(O, rng.random(O) * 1e-3, rng.standard_normal(O), -1.0, 6.0, *((40.3, 100.0) if levels else ()))
    geometry = dict(strides=[s, s], dilations=[d, d], pads_begin=[p, p], pads_end=[p, p])

    def make():
        run = prepare_convolution_int8(pack_conv_weights(w), ep, zero_point=z, levels=levels, **geometry)
        return run(codes).copy(), run
    (_, (a, run_a)), *others = _paths(monkeypatch, make)
    assert run_a.isa == "avx2"
    acc = convolution_reference(codes.astype(np.int64) - np.array(z)[:, None, None],
                                np.moveaxis(w, -1, 1).astype(np.int64), **geometry)
    np.testing.assert_array_equal(a, epilogue_reference(acc, ep, levels, axis=1))
    for isa, (b, run_b) in others:
        assert run_b.isa in NAMES[isa]
        np.testing.assert_array_equal(b, a, err_msg=isa)


@vnni
@pytest.mark.parametrize("parallel", [False, True])
def test_residual_and_input_quantize_paths_are_bit_identical(parallel, monkeypatch):
    if parallel:
        monkeypatch.setattr(threads, "PARALLEL_MACS", 0)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 20, 9, 13)).astype(np.float32)
    codes = rng.integers(0, 256, (2, 20, 9, 13)).astype(np.uint8)
    other = rng.integers(0, 256, (2, 40, 9, 13)).astype(np.uint8)
    w = rng.integers(-128, 128, (40, 3, 3, 20)).astype(np.int16)
    ep = epilogue(40, rng.random(40) * 1e-3, rng.standard_normal(40), 0.0, 6.0, 40.3, 3.0)
    geometry = dict(strides=[1, 1], dilations=[1, 1], pads_begin=[1, 1], pads_end=[1, 1], zero_point=[9])
    residual = (np.array([0.0213, -1.07]), np.array([0.0311, -2.3]), [0.0, 5.0], [50.3, 3.0, 255])

    def make():
        add = prepare_convolution_int8(w, ep, levels=256, residual=residual, **geometry)
        quantized = prepare_convolution_int8(w, ep, levels=256, quantize=(-3.0, 3.0, 42.5, 128.0), **geometry)
        return add(codes, w, ep, other).copy(), quantized(x).copy()
    (_, (a1, q1)), *others = _paths(monkeypatch, make)
    for isa, (a2, q2) in others:
        np.testing.assert_array_equal(a2, a1, err_msg=isa)
        np.testing.assert_array_equal(q2, q1, err_msg=isa)


@vnni
@pytest.mark.parametrize("R, K, O", [(1, 64, 10), (7, 33, 17), (50, 130, 40), (5, 3, 2), (70, 200, 100)])
def test_matmul_paths_are_bit_identical(R, K, O, monkeypatch):
    rng = np.random.default_rng(R * K)
    codes = rng.integers(0, 256, (R, K)).astype(np.uint8)
    w = rng.integers(-128, 128, (O, K)).astype(np.int16)
    ep = epilogue(O, rng.random(O) * 1e-3, rng.standard_normal(O))

    def make():
        run = prepare_matmul_int8(w, ep, zero_point=[77])
        return run(codes).copy(), run
    (_, (a, run_a)), *others = _paths(monkeypatch, make)
    assert run_a.isa == "avx2"
    np.testing.assert_array_equal(a, epilogue_reference((codes.astype(np.int64) - 77) @ w.astype(np.int64).T, ep))
    for isa, (b, run_b) in others:
        assert run_b.isa in NAMES[isa]
        np.testing.assert_array_equal(b, a, err_msg=isa)


@vnni
def test_weights_past_s8_stay_on_the_pairs_path(monkeypatch):
    """Centred u8 weights may reach +-255: vpdpbusd cannot take them, the pairs path does (exactly)."""
    monkeypatch.setenv("IRTOOL_ISA", "vnni")
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (1, 4, 8, 8)).astype(np.uint8)
    w = rng.integers(-255, 256, (8, 3, 3, 4)).astype(np.int16)
    ep = epilogue(8, np.full(8, 1e-3))
    geometry = dict(strides=[1, 1], dilations=[1, 1], pads_begin=[1, 1], pads_end=[1, 1])
    run = prepare_convolution_int8(w, ep, zero_point=[3], **geometry)
    assert run.isa == "avx2"
    acc = convolution_reference(codes.astype(np.int64) - 3, np.moveaxis(w, -1, 1).astype(np.int64), **geometry)
    np.testing.assert_array_equal(run(codes), epilogue_reference(acc, ep, 0, axis=1))


def _inputs(xml: Path) -> dict[str, np.ndarray]:
    data = np.load(str(xml).replace("_int8.xml", "_val.npz"))
    names = {spec.name for spec in irtool.compile_model(xml).inputs}
    return {k: v[:4] for k, v in data.items() if k in names}


@vnni
@pytest.mark.parametrize("name", ["digits_cnn", "resnet_mini", "mobilenetv2_mini", "ssd_digits", "transformer_mini"])
def test_nncf_samples_are_bit_identical_on_both_paths(name, monkeypatch):
    """Every shipped NNCF INT8 IR: the same outputs, bit for bit; the counters name the ISA that ran."""
    xml = SAMPLES / f"{name}_int8.xml"
    inputs = _inputs(xml)
    runs = {}
    for isa in ("avx2", *FAST):
        monkeypatch.setenv("IRTOOL_ISA", isa)
        compiled = irtool.compile_model(xml)
        request = compiled.create_infer_request()
        outputs = [request.infer({k: v[i:i + 1] for k, v in inputs.items()}) for i in range(len(next(iter(inputs.values()))))]
        exec_types = {p.exec_type for p in request.get_profiling_info() if p.node_type in ("Convolution", "MatMul")
                      and p.exec_type.endswith("_I8")} - {f"jit_{cpu.isa()}_I8"}  # (activation x activation MatMuls)
        runs[isa] = (outputs, exec_types)
    assert runs["avx2"][1] == {"jit_avx2_I8"}
    for isa in FAST:
        for got, want in zip(runs[isa][0], runs["avx2"][0]):
            for name_, value in want.items():
                np.testing.assert_array_equal(got[name_], value, err_msg=isa)
        assert runs[isa][1] and runs[isa][1] <= {f"jit_{n}_I8" for n in NAMES[isa]}


@pytest.mark.skipif(not (cpu.has_amx() and cpu.has_vnni()), reason="this CPU has no AMX tiles (or Linux refuses them)")
def test_amx_runs_the_big_layers(monkeypatch):
    """A layer of 128 products a pixel or more runs on the tiles (the counters say so), a smaller one on VNNI."""
    monkeypatch.setenv("IRTOOL_ISA", "amx")
    ep = epilogue(32, np.full(32, 1e-3))
    geometry = dict(strides=[1, 1], dilations=[1, 1], pads_begin=[1, 1], pads_end=[1, 1], zero_point=[3])
    big = prepare_convolution_int8(np.ones((32, 3, 3, 16), np.int16), ep, **geometry)
    small = prepare_convolution_int8(np.ones((32, 3, 3, 8), np.int16), ep, **geometry)
    assert (big.isa, small.isa) == (cpu.int8_exec_isa("amx"), cpu.int8_exec_isa("vnni"))
