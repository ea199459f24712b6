"""Safe XML parsing: the only place irtool turns .xml bytes into an lxml tree.

The parser never resolves entities, loads a DTD or touches the network, and a document that
declares a DOCTYPE at all is refused: an IR never needs one, and refusing it closes both the
billion-laughs and the XXE doors.
"""
from __future__ import annotations

import codecs
import re
from pathlib import Path

from lxml import etree

from irtool.errors import IRFormatError


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=True, remove_comments=True, remove_pis=True)


# The encodings an IR may be in: UTF-8 (what OpenVINO writes) and the ones every XML parser must read,
# plus ASCII/Latin-1 (ASCII-compatible: the scan below reads them as UTF-8 does). Any other (EBCDIC,
# UTF-7...) could spell "<!DOCTYPE" in bytes the scan does not see.
_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "iso_8859-1", "utf-16",
              "utf-16le", "utf-16be", "utf-32", "utf-32le", "utf-32be", "ucs-2", "ucs-4"}
_DECLARED = re.compile(r"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""", re.I)
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.I)


def _as_text(data: bytes) -> str:
    """``data`` decoded as libxml2 would read it (BOM, or the byte pattern of ``<?`` in UTF-16/32),
    with undecodable bytes replaced: only markup is looked for."""
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
                       (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    head = data[:4]
    codec = {b"<\0\0\0": "utf-32-le", b"\0\0\0<": "utf-32-be"}.get(head) or \
        {b"<\0": "utf-16-le", b"\0<": "utf-16-be"}.get(head[:2], "utf-8")
    return data.decode(codec, errors="replace")


def refuse_declarations(data: bytes, path: str | Path = "<xml>") -> None:
    """Raise :class:`IRFormatError` if ``data`` holds a DOCTYPE or any DTD declaration (ENTITY...)
    anywhere, in a comment or CDATA too, in any case, or declares an encoding the scan cannot read:
    checked on the bytes, before libxml2 sees them (it would expand internal entities first)."""
    text = _as_text(data)
    declared = _DECLARED.match(text)
    if declared and declared.group(1).strip().lower() not in _ENCODINGS:
        raise IRFormatError(f"{path}:1: encoding \"{declared.group(1)}\" is not one irtool reads; write the IR in "
                            "UTF-8 (as OpenVINO does)")
    found = _DECLARATION.search(text)
    line = text.count("\n", 0, found.start()) + 1 if found is not None else 1
    if found is None and "\0" in text:  # (UTF-16 without a BOM or "<?" first)
        found = _DECLARATION.search(text.replace("\0", ""))
    if found is not None:
        raise IRFormatError(f"{path}:{line}: a DOCTYPE/DTD is not allowed in an IR (a {found.group(1).upper()} "
                            "declaration: irtool never resolves entities); remove it")


def parse_xml(path: str | Path) -> etree._ElementTree:
    """Parse ``path`` safely; raise :class:`IRFormatError` with the line on malformed XML."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IRFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise IRFormatError(f"{path}: is a directory, expected an IR .xml file") from None
    except OSError as e:
        raise IRFormatError(f"{path}: cannot read: {e.strerror}") from None
    refuse_declarations(data, path)
    try:
        tree = etree.fromstring(data, _parser()).getroottree()
    except etree.XMLSyntaxError as e:
        line = e.position[0] if e.position else e.lineno
        raise IRFormatError(f"{path}:{line}: malformed XML: {e.msg}") from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise IRFormatError(f"{path}:1: a DOCTYPE/DTD is not allowed in an IR (entities are never resolved)")
    return tree
