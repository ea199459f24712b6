"""Write `irtool ops`' summary line into README.md, between its coverage markers (`make conformance`)."""
from __future__ import annotations

import re
from pathlib import Path

import irtool

README = Path(__file__).resolve().parents[1] / "README.md"
text = README.read_text()
new = re.sub(r"(<!-- coverage -->).*?(<!-- /coverage -->)", lambda m: m[1] + irtool.coverage().summary() + m[2],
             text, flags=re.S)
if new != text:
    README.write_text(new)
print(irtool.coverage().summary())
