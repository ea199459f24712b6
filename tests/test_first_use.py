"""What a new user meets first (issue 18): counters without numba's compile time and with units,
one-line refusals instead of tracebacks, warnings where irtool would otherwise stay silent (a
short subset, NaN data, two different models), the HTML report's layout and the help text."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import irtool
from irtool.compare import compare
from irtool.compare_report import CHAR, write_html
from irtool.runtime import compile_model
from tests.test_bad_input import run_cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
DIGITS, DIGITS_INT8, RESNET = SAMPLES / "digits_cnn.xml", SAMPLES / "digits_cnn_int8.xml", SAMPLES / "resnet_mini.xml"
CALIB = SAMPLES / "digits_cnn_calib.npz"


def one_error_line(code: int, err: str, pattern: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("irtool: error: "), err
    assert re.search(pattern, lines[0]), lines[0]


# ------------------------------------------------------------------------------------------- counters
def test_first_inference_counters_leave_out_compilation():
    """numba compiles a kernel on its first call (seconds); the counters of a model's first inference
    must not see it. A kernel made slow on its first call stands in for the compile."""
    compiled = compile_model(DIGITS)
    plan = list(compiled._plan)
    conv = next(i for i, entry in enumerate(plan) if entry[0].layer.type == "Convolution")
    calls = []

    def slow_first_call(*args, _run=plan[conv][1]):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.3)
        return _run(*args)

    plan[conv] = (plan[conv][0], slow_first_call, *plan[conv][2:])
    compiled._plan = plan
    spec = compiled.inputs[0]
    x = {spec.name: np.zeros(spec.shape, np.float32)}
    compiled.infer(x)
    first = {r.node_name: r.real_time for r in compiled.get_profiling_info()}
    assert len(calls) == 2  # the untimed warm-up, then the timed inference
    assert first[plan[conv][0].layer.name] < 100_000  # us: the 0.3 s of the first call is not in it
    compiled.infer(x)
    assert len(calls) == 3  # warm once, not on every inference


def test_counters_print_units_on_every_row(capsys):
    code, out, _ = run_cli(["run", str(DIGITS_INT8), "-pc"], capsys)
    assert code in (0, None)
    rows = [line for line in out.splitlines() if "layerType:" in line]
    assert len(rows) > 5
    assert all(re.search(r"realTime: +[\d.]+ us +cpu: +[\d.]+ us", row) for row in rows), rows
    assert re.search(r"^Total time: [\d.]+ us$", out, re.M) and re.search(r"^Total CPU time: [\d.]+ us$", out, re.M)


# ------------------------------------------------------------------------------------------- refusals
def test_run_into_a_missing_folder_fails_before_any_work(tmp_path, capsys, monkeypatch):
    import irtool.runtime

    monkeypatch.setattr(irtool.runtime, "compile_model", lambda *a, **k: pytest.fail("the model was compiled"))
    code, _, err = run_cli(["run", str(DIGITS), "-o", str(tmp_path / "nodir" / "r.npz")], capsys)
    one_error_line(code, err, r"nodir does not exist; create it or choose another path")


@pytest.mark.parametrize("args,message", [(["-niter", "0"], r"-niter"), (["-niter", "-3"], r"-niter"),
                                          (["-t", "0"], r"-t|time")])
def test_benchmark_refuses_no_iterations(args, message, capsys):
    code, _, err = run_cli(["benchmark", str(DIGITS), *args], capsys)
    one_error_line(code, err, message)


def test_run_refuses_the_weights_file(capsys):
    code, _, err = run_cli(["run", str(DIGITS.with_suffix(".bin"))], capsys)
    one_error_line(code, err, r"digits_cnn\.bin: this is an IR's weights file; give the model's \.xml")


def test_data_that_is_not_an_array_file_says_so(tmp_path, capsys):
    code, _, err = run_cli(["quantize", str(DIGITS), "--data", str(ROOT / "README.md"),
                            "-o", str(tmp_path / "q.xml")], capsys)
    one_error_line(code, err, r"README\.md: not an \.npz or \.npy file")
    assert "pickle" not in err and not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------- warnings
def test_a_subset_larger_than_the_data_is_said(tmp_path, capsys):
    with np.load(CALIB) as c:
        held = len(c["input"])
    code, _, err = run_cli(["quantize", str(DIGITS), "--data", str(CALIB), "--subset", "100000",
                            "-o", str(tmp_path / "q.xml")], capsys)
    assert code in (0, None)
    assert f"irtool: warning: a subset of 100000 samples was asked for; the data holds {held}: using all of them" \
        in " ".join(err.split())
    assert (tmp_path / "q.xml").exists()


def test_the_default_subset_does_not_warn(recwarn):
    with np.load(CALIB) as c:
        samples = [{"input": c["input"][i:i + 1]} for i in range(20)]
    irtool.quantize(DIGITS, samples)  # 300 by default: a ceiling, not a request
    assert not [w for w in recwarn if issubclass(w.category, irtool.IrToolWarning)]


@pytest.mark.parametrize("model", [DIGITS, DIGITS_INT8, RESNET])
def test_nan_inputs_propagate_silently_as_in_openvino(model):
    ov = pytest.importorskip("openvino")
    compiled = compile_model(model)
    spec = compiled.inputs[0]
    x = np.random.default_rng(0).random(spec.shape).astype(np.float32)
    x.flat[::7] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would fail here
        ours = list(compiled.infer({spec.name: x}).values())[0]
    if model == DIGITS_INT8:
        # INT8: OpenVINO's own result depends on the CPU's INT8 kernels; only silence is asked for
        assert ours.shape == tuple(compiled.outputs[0].shape)
        return
    theirs = ov.Core().compile_model(str(model), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(x)[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    assert np.isnan(ours).any() == np.isnan(theirs).any()


def test_compare_of_two_different_models_warns(capsys):
    result = compare(DIGITS, RESNET, latency=False, max_samples=1)
    assert any("different models" in w for w in result.warnings)
    assert not compare(DIGITS, DIGITS_INT8, latency=False, max_samples=1).warnings


# ------------------------------------------------------------------------------------------- the report
def test_html_keeps_whole_names_and_separate_titles_at_full_width(tmp_path):
    result = compare(DIGITS, DIGITS_INT8, latency=False, max_samples=1)
    long = "__module.features.denseblock4.denselayer16.conv2/aten::_convolution/Convolution"
    result.layers[0] = dataclasses.replace(result.layers[0], name=long)
    html = write_html(result, tmp_path / "r.html").read_text()
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert f">{long}<title>" in svg  # the whole name, not its tail
    assert re.search(r"svg\.chart \{[^}]*width: 100%", html)
    label_x = int(re.search(r'<text x="(\d+)" y="\d+" text-anchor="end"', svg)[1]) + 6
    assert label_x >= CHAR * len(long)  # the label column holds the longest name
    titles = re.findall(r'<text x="(\d+)" y="(\d+)">([^<]*)</text>', svg)
    by_row: dict[str, list[tuple[int, str]]] = {}
    for x, y, text in titles:
        by_row.setdefault(y, []).append((int(x), text))
    for row in by_row.values():  # on one line, a title ends before the next panel's begins
        row.sort()
        for (x, text), (next_x, _) in zip(row, row[1:]):
            assert x + CHAR * len(text.replace("&#181;", "u")) < next_x, (text, x, next_x)
    width = int(re.search(r'viewBox="0 0 (\d+) ', svg)[1])
    assert width >= 1300  # the chart spans the page, not half of it


# ------------------------------------------------------------------------------------------- help
def help_text(columns: int, *args: str) -> str:
    env = dict(os.environ, COLUMNS=str(columns), TERM="dumb", NO_COLOR="1")
    done = subprocess.run([sys.executable, "-m", "irtool.cli", *args, "--help"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_keeps_whole_option_names_at_80_columns():
    text = help_text(80, "quantize")
    assert "--disable_weights_compression" in text and "--reverse-input-channels" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_help_shows_no_value_for_flags():
    for columns in (80, 140):
        text = help_text(columns, "run")
        assert "--perf-counters" in text and "<bool>" not in text
        assert "--json" in text


def test_run_json_has_both_spellings(capsys):
    outs = []
    for flag in (["--json"], ["--report", "json"]):
        code, out, _ = run_cli(["run", str(DIGITS), *flag], capsys)
        assert code in (0, None)
        outs.append({k: v for k, v in json.loads(out).items() if k != "perf_counters"})  # (times vary)
    assert outs[0] == outs[1] and outs[0]["outputs"]
