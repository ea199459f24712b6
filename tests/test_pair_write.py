"""The .xml/.bin pair is replaced as a pair (issue 15): a writer killed between its two renames leaves
a pair the reader refuses in one line; temporaries do not outlive their writer (SIGKILL aside: the next
writer of the same file removes those); OpenVINO still reads what irtool writes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import irtool
from irtool.errors import IRFormatError
from irtool.ir.pair import marker_path
from tests.test_bad_input import run_cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"

WRITER = textwrap.dedent("""
    import sys, irtool
    model = irtool.read_model(sys.argv[1])
    irtool.save_model(model, sys.argv[2])
""")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def start_writer(source: Path, dest: Path, pause: float) -> subprocess.Popen:
    env = dict(os.environ, IRTOOL_TEST_PAUSE_BETWEEN_RENAMES=str(pause), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(source), str(dest)], stderr=subprocess.PIPE, env=env,
                            text=True)
    line = proc.stderr.readline()  # the writer is now between its renames
    assert "test pause between renames" in line, line + proc.stderr.read()
    return proc


def test_a_writer_killed_between_the_renames_leaves_a_pair_the_reader_refuses(tmp_path, capsys):
    dest = tmp_path / "model.xml"
    irtool.save_model(irtool.read_model(SAMPLES / "resnet_mini.xml"), dest)  # the old pair
    old_xml = dest.read_bytes()
    proc = start_writer(SAMPLES / "digits_cnn.xml", dest, 600)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert dest.read_bytes() == old_xml  # the .xml is still the old one...
    assert dest.with_suffix(".bin").read_bytes() == (SAMPLES / "digits_cnn.bin").read_bytes()  # ...the .bin new
    with pytest.raises(IRFormatError) as info:
        irtool.read_model(dest)
    text = str(info.value)
    assert "\n" not in text
    assert "model.xml and model.bin: a save of this model was interrupted" in text and "save the model again" in text
    code, out, err = run_cli(["info", str(dest)], capsys)  # the CLI: one line, exit 2
    assert code == 2 and "Traceback" not in out + err and "interrupted" in err
    # the killed writer's .xml temporary is there until the next writer of the model removes it
    assert any(name.startswith(".model.xml.") and name.endswith(".tmp") for name in leftovers(tmp_path))
    irtool.save_model(irtool.read_model(SAMPLES / "digits_cnn.xml"), dest)
    assert leftovers(tmp_path) == []
    assert len(irtool.read_model(dest).layers) == len(irtool.read_model(SAMPLES / "digits_cnn.xml").layers)


def test_a_reader_waits_for_a_live_writer_between_its_renames(tmp_path, monkeypatch):
    dest = tmp_path / "model.xml"
    irtool.save_model(irtool.read_model(SAMPLES / "resnet_mini.xml"), dest)
    proc = start_writer(SAMPLES / "digits_cnn.xml", dest, 1.0)
    t0 = time.monotonic()
    model = irtool.read_model(dest)  # waits for the second rename, then reads the new pair whole
    assert time.monotonic() - t0 < 5
    proc.wait()
    assert model.name == irtool.read_model(SAMPLES / "digits_cnn.xml").name
    assert leftovers(tmp_path) == []


def test_sigterm_between_the_renames_completes_the_pair_and_leaves_no_temporary(tmp_path):
    dest = tmp_path / "model.xml"
    irtool.save_model(irtool.read_model(SAMPLES / "resnet_mini.xml"), dest)
    proc = start_writer(SAMPLES / "digits_cnn.xml", dest, 600)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == -signal.SIGTERM
    assert leftovers(tmp_path) == []
    assert dest.read_bytes() == (SAMPLES / "digits_cnn.xml").read_bytes()
    irtool.read_model(dest)


def test_a_failed_write_leaves_the_old_pair_and_no_temporary(tmp_path, monkeypatch):
    dest = tmp_path / "model.xml"
    irtool.save_model(irtool.read_model(SAMPLES / "digits_cnn.xml"), dest)
    before = dest.read_bytes(), dest.with_suffix(".bin").read_bytes()
    from irtool.ir import writer

    def broken(*args):
        yield "<net"
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writer, "_xml_lines", broken)
    with pytest.raises(RuntimeError):
        irtool.save_model(irtool.read_model(SAMPLES / "resnet_mini.xml"), dest)
    assert (dest.read_bytes(), dest.with_suffix(".bin").read_bytes()) == before
    assert leftovers(tmp_path) == [] and not marker_path(dest).exists()


def test_openvino_reads_and_compiles_what_irtool_writes(tmp_path):
    pytest.importorskip("openvino")
    import numpy as np

    from tests.oracle import ov_outputs

    dest = irtool.save_model(irtool.read_model(SAMPLES / "digits_cnn.xml"), tmp_path / "m.xml")
    x = np.load(SAMPLES / "digits_cnn_val.npz")["input"][:1]
    ours = irtool.compile_model(dest).infer({"input": x})["logits"]
    np.testing.assert_allclose(ov_outputs(dest, {"input": x})[0], ours, rtol=1e-4, atol=1e-4)
    assert leftovers(tmp_path) == []
