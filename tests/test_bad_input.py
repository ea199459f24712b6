"""Bad input: one clear line naming file and line, exit code 2, no traceback, nothing written."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from irtool.cli import main
from tests.oracle import build_convnet, save


@pytest.fixture
def good(tmp_path) -> Path:
    return save(build_convnet(), tmp_path / "m.xml")


def edit(path: Path, old: str, new: str, count: int = 1) -> Path:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))
    return path


def first_const_data(path: Path) -> str:
    return re.search(r'<data element_type="f32" shape="4, 3, 3, 3" offset="\d+" size="\d+" />', path.read_text())[0]


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# name -> (mutation, expected message pattern); a mutation returns the model path to read
CASES = {
    "old-version": (lambda p: edit(p, 'version="11"', 'version="7"'),
                    r"m\.xml:2: IR version 7 is not supported: irtool reads IR v10 and v11"),
    "no-version": (lambda p: edit(p, ' version="11"', ""), r"m\.xml:2: <net> has no version attribute"),
    "malformed": (lambda p: edit(p, "</layers>", "</layerz>"), r"m\.xml:\d+: malformed XML: .*layer"),
    "missing-bin": (lambda p: (p.with_suffix(".bin").unlink(), p)[1], r"m\.bin does not exist"),
    "short-bin": (lambda p: (p.with_suffix(".bin").write_bytes(p.with_suffix(".bin").read_bytes()[:50]), p)[1],
                  r"is beyond the end of m\.bin \(50 bytes\)"),
    "offset-beyond": (lambda p: edit(p, first_const_data(p), first_const_data(p).replace('offset="0"', 'offset="999999"')),
                      r"m\.xml:\d+: Const '.*': offset 999999 \+ size 432 = 1000431 is beyond the end"),
    "size-vs-shape": (lambda p: edit(p, first_const_data(p), first_const_data(p).replace('size="432"', 'size="40"')),
                      r"size=40 is too small for f32 \[4, 3, 3, 3\] \(432 bytes needed\)"),
    "unknown-type": (lambda p: edit(p, first_const_data(p), first_const_data(p).replace('"f32"', '"f13"')),
                     r"m\.xml:\d+: unknown element type 'f13'"),
    "edge-missing-layer": (lambda p: edit(p, 'from-layer="0" from-port="0"', 'from-layer="77" from-port="0"'),
                           r"m\.xml:\d+: edge refers to layer id 77, which does not exist"),
    "edge-missing-port": (lambda p: edit(p, 'from-layer="0" from-port="0"', 'from-layer="0" from-port="5"'),
                          r"edge from layer 'input' port 5: no such output port"),
    "duplicate-id": (lambda p: edit(p, '<layer id="1" ', '<layer id="0" '), r"m\.xml:\d+: duplicate layer id 0"),
    "cycle": (lambda p: edit(p, '<edge from-layer="0" from-port="0" to-layer="2" to-port="0" />',
                             '<edge from-layer="3" from-port="1" to-layer="2" to-port="0" />'),
              r"m\.xml:\d+: the graph has a cycle through layer"),
    "billion-laughs": (lambda p: edit(p, '<?xml version="1.0"?>\n', '<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY a "aaaaaaaa">'
                                      '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>\n'),
                       r"m\.xml:[12]: a DOCTYPE/DTD is not allowed"),
    "xxe": (lambda p: edit(p, '<?xml version="1.0"?>\n<net name="convnet"',
                           '<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<net name="&x;"'),
            r"m\.xml:[12]: a DOCTYPE/DTD is not allowed"),
    "not-an-ir": (lambda p: (p.write_text("<html><body/></html>"), p)[1], r"root element is <html>, expected <net>"),
    "missing-xml": (lambda p: p.with_name("nothere.xml"), r"nothere\.xml: no such file"),
}


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_nothing_written(case, good, tmp_path, capsys):
    mutate, pattern = CASES[case]
    model = mutate(good)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, out, err = run_cli(["copy", str(model), "-o", str(tmp_path / "out.xml")], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("irtool: error: "), err
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in err + out
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing written, input untouched


def test_malformed_xml_names_the_line(good, tmp_path, capsys):
    edit(good, "</layers>", "</layerz>")
    code, _, err = run_cli(["info", str(good)], capsys)
    assert code == 2 and f"m.xml:{line_of(good, '</layerz>')}:" in err


def test_output_over_input_is_refused(good, capsys):
    code, _, err = run_cli(["copy", str(good), "-o", str(good)], capsys)
    assert code == 2 and "would overwrite the input model" in err
