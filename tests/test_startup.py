"""Start-up (issue 16): a model imports only the kernel modules of its ops, the op index they come from
matches a full import and finds a new module by itself, cached kernels load without scipy.linalg or
numba's full target, numba's cache survives a second install, and the CLI parses without pydantic.

Each check runs in a fresh interpreter: what a process has imported is the thing measured."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "samples" / "digits_cnn.xml"
DIGITS_INT8 = ROOT / "samples" / "digits_cnn_int8.xml"
VAL = ROOT / "samples" / "digits_cnn_val.npz"


def python(code: str, env: dict | None = None, cwd: Path = ROOT) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last, returned."""
    full = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=cwd, env=full, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


RUN_MODEL = """
import json, sys
import numpy as np
import irtool
compiled = irtool.compile_model(sys.argv[1] if len(sys.argv) > 1 else {model!r})
compiled({{"input": np.zeros((1, 1, 32, 32), np.float32)}})
mods = sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("irtool.runtime.kernels."))
print(json.dumps({{"kernels": mods, "scipy_linalg": "scipy.linalg" in sys.modules,
                  "numba_registries": "numba.np.arraymath" in sys.modules}}))
"""


@pytest.mark.parametrize("model", [DIGITS, DIGITS_INT8], ids=["fp32", "int8"])
def test_a_model_imports_only_the_kernel_modules_of_its_ops(model):
    python(RUN_MODEL.format(model=str(model)))  # the kernels compiled or loaded once: the cache is warm now
    got = python(RUN_MODEL.format(model=str(model)))
    public = [m for m in got["kernels"] if not m.startswith("_")]
    everything = [p.stem for p in (ROOT / "irtool/runtime/kernels").glob("*.py") if not p.stem.startswith("_")]
    assert len(public) <= 12 < len(everything) / 3, public  # conv, pooling, reduce, shape, matmul... not ~50
    assert not {"recurrent", "nms", "detection_output", "strings", "fft", "interpolate"} & set(public)
    if model == DIGITS:
        # an FP32 model runs no INT8 kernel (int8_epilogue: the epilogue tables fused.py shares)
        assert not [m for m in public if m.startswith("int8_") and m != "int8_epilogue"], public
    # loading cached kernels needs neither numba's lowering registries nor scipy.linalg (0.4 s)
    assert not got["scipy_linalg"] and not got["numba_registries"], got


def test_the_op_index_matches_a_full_import(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    code = """
    import json, sys
    from irtool.runtime import registry
    index = registry.op_index()
    loaded = sorted(m for m in sys.modules if m.startswith("irtool.runtime.kernels."))
    full = registry.full_index()
    print(json.dumps({"index": index, "full": full, "loaded_by_index": loaded}))
    """
    first = python(code, env)  # makes the index (a full import) and saves it
    assert first["index"] == first["full"]
    again = python(code, env)  # reads it: no kernel module imported to know which op is where
    assert again["loaded_by_index"] == [], again["loaded_by_index"]
    assert again["index"] == again["full"] == first["full"]
    assert (tmp_path / "irtool" / "kernel-index.json").is_file()
    conv = dict(map(tuple, ((m, tuple(v) if v else None) for m, v in again["index"]["Convolution"])))
    assert conv["irtool.runtime.kernels.conv"] == ("opset1",)
    assert conv["irtool.runtime.kernels.int8_conv"] == ("irtool-int8",)


def test_a_new_kernel_module_is_found_without_listing_it(tmp_path):
    """A module added to the kernels package (another engineer's, tomorrow) is in the index the next
    time a process asks: the saved index is keyed by the package's files."""
    cache, extra = tmp_path / "cache", tmp_path / "extra"
    extra.mkdir()
    (extra / "zz_startup_test.py").write_text(textwrap.dedent("""
        from irtool.runtime.registry import kernel, specializer

        @kernel("IrtoolStartupTestOp", versions=("opset1",))
        def startup_test_op(x):
            return x + 1
    """))
    code = """
    import json, sys
    import irtool.runtime.kernels as kernels
    if len(sys.argv) > 1:
        kernels.__path__.append(sys.argv[1])
    import numpy as np
    from irtool.ir.graph import Layer
    from irtool.runtime import registry
    index = registry.op_index()
    found = None
    if "IrtoolStartupTestOp" in index:
        layer = Layer(id=0, name="t", type="IrtoolStartupTestOp", version="opset1")
        found = int(registry.find_kernel(layer).fn(np.int64(1)))
    print(json.dumps({"ops": len(index), "found": found}))
    """
    env = {"NUMBA_CACHE_DIR": str(cache)}
    before = python(code, env)
    assert before["found"] is None
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(extra)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **env}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = json.loads(proc.stdout.strip().splitlines()[-1])
    assert after["found"] == 2 and after["ops"] == before["ops"] + 1


def test_numba_cache_is_valid_for_a_second_install(tmp_path):
    """numba keyed a cached kernel by its file's absolute path: another install (a venv, a checkout)
    compiled everything again. irtool's kernels are keyed by what the files hold."""
    cache = tmp_path / "cache"
    site = tmp_path / "site"
    shutil.copytree(ROOT / "irtool", site / "irtool", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "schemas", site / "schemas")
    code = """
    import json, os, sys
    import numpy as np
    import irtool
    compiled = irtool.compile_model(os.environ["MODEL"])
    compiled({"input": np.zeros((1, 1, 32, 32), np.float32)})
    print(json.dumps({"where": irtool.__file__}))
    """
    env = {"NUMBA_CACHE_DIR": str(cache), "MODEL": str(DIGITS), "NUMBA_DEBUG_CACHE": "1"}
    first = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, **env}, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "data saved" in first.stdout  # compiled, cached
    second = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            cwd=tmp_path, env={**os.environ, **env, "PYTHONPATH": str(site)}, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads(second.stdout.strip().splitlines()[-1])["where"].startswith(str(site))
    assert "data loaded" in second.stdout and "data saved" not in second.stdout, second.stdout[-2000:]


def test_a_helper_edit_invalidates_the_modules_that_inline_it(tmp_path, monkeypatch):
    """A kernel's cache stamp covers the private helpers (kernels/_*.py) other modules' kernels inline:
    an edit to one once left stale machine code behind."""
    from irtool.runtime import jit_cache

    kernels = tmp_path / "kernels"
    kernels.mkdir()
    (kernels / "_helper.py").write_text("A = 1\n")
    monkeypatch.setattr(jit_cache, "KERNELS", kernels)
    before = jit_cache.helpers_digest()
    (kernels / "_helper.py").write_text("A = 2\n")
    assert jit_cache.helpers_digest() != before


def test_jitted_blas_still_works():
    """numba's BLAS check at registry load looks for scipy's cython_blas without importing scipy.linalg;
    a jitted np.dot still compiles and runs (importing it when called)."""
    got = python("""
    import json, sys
    import numpy as np
    import irtool.runtime  # installs irtool's numba settings
    import numba

    @numba.njit
    def dot(a, b):
        return np.dot(a, b)

    a = np.arange(6.0).reshape(2, 3)
    print(json.dumps({"dot": dot(a, a.T).tolist()}))
    """, {"NUMBA_CACHE_DIR": str(ROOT / ".numba_cache")})
    assert got["dot"] == [[5.0, 14.0], [14.0, 50.0]]


def test_the_cli_parses_without_pydantic():
    """typer >= 0.2x builds a pydantic TypeAdapter per parameter (0.06 s); plain values skip it, and a
    bad value still gets typer's own message."""
    got = python(f"""
    import json, sys
    from irtool.cli import main
    try:
        main(["run", {str(DIGITS)!r}, "--seed", "3", "--shape", "input:1,1,32,32", "-pc", "--precision", "auto"])
    except SystemExit as e:
        code = e.code
    print(json.dumps({{"code": code, "pydantic": "pydantic" in sys.modules}}))
    """)
    assert got == {"code": 0, "pydantic": False}
    proc = subprocess.run([sys.executable, "-m", "irtool.cli", "run", str(DIGITS), "--seed", "x"], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2 and "--seed" in proc.stderr and "integer" in proc.stderr, proc.stderr


def test_the_console_command_flushes_before_its_fast_exit(tmp_path):
    """The console command ends with os._exit (no interpreter teardown): what it printed and wrote is
    all there, and its exit code is kept."""
    out = tmp_path / "out.npz"
    proc = subprocess.run([sys.executable, "-m", "irtool.cli", "run", str(DIGITS), "-i", str(VAL), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "top-1 accuracy" in proc.stdout and proc.stdout.endswith("\n")
    import numpy as np

    assert np.load(out)["logits"].shape == (360, 10)
    bad = subprocess.run([sys.executable, "-m", "irtool.cli", "run", str(tmp_path / "missing.xml")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert bad.returncode == 2 and bad.stderr.startswith("irtool: error: "), bad.stderr
