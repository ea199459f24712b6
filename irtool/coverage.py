"""Which OpenVINO ops irtool's CPU plugin runs, and how well that is checked: what `irtool ops` shows.

Three sources, all shipped with the package: ``schemas/ops.json`` (every op type and version of
OpenVINO's opsets, generated from OpenVINO), the kernel registry (what the plugin runs), and
``schemas/conformance.json`` (``make conformance``: each conformance case's outcome against
OpenVINO, its element types, and the versions OpenVINO's CPU plugin itself refuses).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

# Graph plumbing the plugin handles itself rather than through a kernel; every case exercises them.
_GRAPH_OPS = ("Parameter", "Const", "Result")


@dataclass(frozen=True)
class OpCoverage:
    """One op type: its versions in OpenVINO's opsets, those irtool runs, and its conformance record."""

    op: str
    versions: tuple[str, ...]  # version ids as IRs spell them ("opset1", "opset8"), from ops.json
    supported: tuple[str, ...]  # those irtool's CPU plugin runs
    refused_by_openvino: tuple[str, ...] = ()  # those OpenVINO's CPU plugin refuses to compile
    element_types: tuple[str, ...] = ()  # element types its conformance cases feed it
    cases: int = 0
    passed: int = 0

    @property
    def status(self) -> str:
        """``runs`` (every version OpenVINO's CPU plugin runs), ``partial``, ``missing``, ``refused``
        (OpenVINO's CPU plugin runs no version either) or ``graph`` (Parameter, Const, Result)."""
        if self.op in _GRAPH_OPS:
            return "graph"
        runnable = [v for v in self.versions if v not in self.refused_by_openvino]
        if not runnable:
            return "refused"
        done = [v for v in runnable if v in self.supported]
        return "runs" if len(done) == len(runnable) else "partial" if done else "missing"


@dataclass(frozen=True)
class Coverage:
    """The whole table, one :class:`OpCoverage` per op type of ``schemas/ops.json``."""

    ops: tuple[OpCoverage, ...]
    openvino: str  # the OpenVINO release the op list and the conformance outcomes come from
    conformance_openvino: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line, as the README quotes it."""
        c = self.counts
        runs = c.get("runs", 0) + c.get("graph", 0)
        cases = sum(o.cases for o in self.ops)
        passed = sum(o.passed for o in self.ops)
        refused = c.get("refused", 0)
        return (f"{runs} of {len(self.ops)} op types run in irtool"
                + (f" ({c['partial']} more in part)" if c.get("partial") else "")
                + (f", {refused} refused by OpenVINO's CPU plugin too" if refused else "")
                + f"; {passed} of {cases} conformance cases pass against OpenVINO")

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "openvino": self.openvino, "counts": dict(self.counts),
                "ops": [dict(asdict(o), status=o.status) for o in self.ops]}


def coverage() -> Coverage:
    """The coverage table: for each OpenVINO op type, the versions irtool runs and their conformance
    cases (``irtool ops``)."""
    from irtool.ir.validate import _schema_dir
    from irtool.runtime.registry import _REGISTRY, supported_ops

    schema = json.loads((_schema_dir() / "ops.json").read_text(encoding="utf-8"))
    conformance_path = _schema_dir() / "conformance.json"
    record = (json.loads(conformance_path.read_text(encoding="utf-8")) if conformance_path.is_file()
              else {"ops": {}})
    supported_ops()  # loads every kernel module
    rows = []
    for op, versions in sorted(schema["ops"].items()):
        if op in _GRAPH_OPS:
            supported = tuple(versions)
        else:
            kernels = _REGISTRY.get(op, [])
            supported = tuple(v for v in versions if any(k.versions is None or v in k.versions for k in kernels))
        entry = record["ops"].get(op, {})
        outcomes = list(entry.get("cases", {}).values())
        # a version is refused when all its cases are (one refused setting of a version that runs is not)
        refused = tuple(v for v in entry.get("refused", ()) if v not in entry.get("versions", ()))
        rows.append(OpCoverage(
            op, tuple(versions), supported, refused, tuple(entry.get("element_types", ())),
            cases=len(outcomes), passed=sum(r in ("passed", "refused") for r in outcomes)))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return Coverage(tuple(rows), schema.get("openvino", ""), record.get("openvino", ""), counts)
