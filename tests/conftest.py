"""Shared fixtures: real IRs written by OpenVINO's own serializer."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.oracle import BUILDERS, save


@pytest.fixture(params=[(name, fp16) for name in BUILDERS for fp16 in (False, True)],
                ids=lambda p: f"{p[0]}{'-fp16' if p[1] else ''}")
def ov_ir(request, tmp_path) -> Path:
    """Each builder's model as OpenVINO writes it (f32, and FP16-compressed)."""
    name, fp16 = request.param
    return save(BUILDERS[name](), tmp_path / f"{name}.xml", fp16)
