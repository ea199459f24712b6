"""Safe XML parsing: the only place irtool turns .xml bytes into an lxml tree.

The parser never resolves entities, loads a DTD or touches the network, and a document that
declares a DOCTYPE at all is refused: an IR never needs one, and refusing it closes both the
billion-laughs and the XXE doors.
"""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from irtool.errors import IRFormatError


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=True, remove_comments=True, remove_pis=True)


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
    # A DOCTYPE can only stand before the root element: look there, before any parsing.
    root_at = data.find(b"<net")
    if data.find(b"<!DOCTYPE", 0, root_at if root_at >= 0 else 65536) >= 0:
        raise IRFormatError(f"{path}:1: a DOCTYPE/DTD is not allowed in an IR (entities are never resolved)")
    try:
        tree = etree.fromstring(data, _parser()).getroottree()
    except etree.XMLSyntaxError as e:
        line = e.position[0] if e.position else e.lineno
        raise IRFormatError(f"{path}:{line}: malformed XML: {e.msg}") from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise IRFormatError(f"{path}:1: a DOCTYPE/DTD is not allowed in an IR (entities are never resolved)")
    return tree
