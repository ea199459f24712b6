"""The `irtool` command line: thin typer commands over the Python API, rendered with rich.

Every :class:`~irtool.errors.IrToolError` becomes one line on stderr and exit code 2; nothing
else is caught, so a traceback always means a bug in irtool.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from irtool.errors import IrToolError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="INT8 post-training quantization and CPU inference of OpenVINO IR models.")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ModelArg = Annotated[Path, typer.Argument(help="the model's .xml (its .bin beside it)", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object instead of tables")]


@app.command()
def info(model: ModelArg, as_json: JsonOpt = False) -> None:
    """IR version, inputs/outputs, ops by type and opset, weights by element type, quantization."""
    from irtool import read_model, summarize

    s = summarize(read_model(model))
    if as_json:
        print(json.dumps(s.to_dict(), indent=2))
        return
    out.print(f"[bold]{s.name}[/]  IR v{s.ir_version}, {s.layers} layers  ({model})")
    io = Table("", "name", "tensor names", "shape", "type", box=None, pad_edge=False)
    for kind, tensors in (("input", s.inputs), ("output", s.outputs)):
        for t in tensors:
            io.add_row(kind, t.name, ", ".join(t.tensor_names), "[" + ",".join(map(str, t.shape)) + "]",
                       t.element_type)
    out.print(io)
    ops = Table("op", "opset", "count", box=None, pad_edge=False)
    for key, n in s.ops.items():
        op, _, opset = key.partition("/")
        ops.add_row(op, opset, str(n))
    out.print(ops)
    weights = ", ".join(f"{k} {_size(v)}" for k, v in s.weights_bytes.items()) or "none"
    out.print(f"weights: {weights}")
    if s.quantized:
        compressed = ", ".join(f"{n} {k}" for k, n in s.compressed_weights.items()) or "none"
        by = ", ".join(s.quantized_by) or "unknown tool"
        out.print(f"quantized: yes, by {by}; FakeQuantize layers: {s.fake_quantize}; compressed weights: {compressed}")
        for k, v in s.quantization_info.items():
            out.print(f"  {k} = {v}")
    else:
        fp16 = s.compressed_weights.get("f16", 0)
        out.print("quantized: no" + (f" (weights compressed to FP16: {fp16})" if fp16 else ""))


@app.command()
def validate(model: ModelArg, as_json: JsonOpt = False) -> None:
    """Check the .xml/.bin against schemas/ (XML skeleton + known ops and attributes); exit 1 on errors."""
    from irtool.ir.validate import validate as run_validate

    problems = run_validate(model)
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        print(json.dumps([{"line": p.line, "severity": p.severity, "message": p.message} for p in problems], indent=2))
    else:
        for p in problems:
            color = "red" if p.severity == "error" else "yellow"
            out.print(f"{model}:{p.line}: [{color}]{p.severity}[/]: {p.message}")
        warnings = len(problems) - len(errors)
        out.print(f"{model}: {len(errors)} error(s), {warnings} warning(s)" if problems else f"{model}: valid")
    raise typer.Exit(1 if errors else 0)


@app.command()
def copy(model: ModelArg,
         output: Annotated[Path, typer.Option("-o", "--output", help="where to write the .xml")]) -> None:
    """Read an IR and write it back (irtool's writer, OpenVINO's layout): a round trip."""
    from irtool import read_model, save_model

    _refuse_overwrite(model, output)
    save_model(read_model(model), output)
    out.print(f"wrote {output} and {output.with_suffix('.bin')}")


def _refuse_overwrite(src: Path, dst: Path) -> None:
    if dst.resolve() == src.resolve():
        raise IrToolError(f"{dst}: the output would overwrite the input model; choose another -o path")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def main(argv: Optional[list[str]] = None) -> None:
    """Console entry point: run the app, turning irtool's errors into one line and exit code 2."""
    try:
        app(args=argv, prog_name="irtool", standalone_mode=True)
    except IrToolError as e:
        err.print(f"irtool: error: {e}", markup=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("irtool: interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
