"""Mutation fuzzing of irtool's loaders and plugin (issue 15): ``make fuzz FUZZ_N=20000 FUZZ_SEED=1``.

Every sample IR (samples/*.xml) is mutated (attributes, element types, port dims and ids, edges, layer
types and versions, Const shapes, .bin bytes) and each mutant is driven through ``read_model``, the
check pass and ``irtool.ir.validate``, ``compile_model`` and one inference, in a pool of persistent
worker processes (a segfault kills a worker, not the campaign); a slice also goes through
``quantize`` and the ``irtool`` command line (run in the worker, as ``irtool.cli.main``).

Each mutant ends in one outcome: ``ok`` (it ran), ``clean`` (an :class:`~irtool.errors.IrToolError`),
``foreign`` (any other exception: a bug), ``traceback`` (the CLI let an exception out), ``crash``
(the worker died by a signal), ``hang`` (over ``--timeout`` seconds), ``memory`` (MemoryError under
the worker's address-space cap: a model that asks for more than the cap). Every mutant but ok/clean
gets a reproducer in ``--out`` (its .xml/.bin and a one-line command). Mutant ``i`` of seed ``s`` is
the same mutant on every run: ``python tools/fuzz.py --seed s --only i`` replays it.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = ("ok", "clean", "foreign", "traceback", "crash", "hang", "memory")
BAD = ("foreign", "traceback", "crash", "hang")

# ----------------------------------------------------------------------------------------------
# Mutators: each takes (rng, lxml root, bin bytearray) and edits them in place; returns a label.

VALUES = ["nan", "inf", "-inf", "1e309", "-1e309", "99999999999999999999", "4294967297", "-1", "-7", "0", "",
          "abc", "0x10", "1,2", " ", "1.5", "-0", "1e-45", "2147483648", "true", "none", "1,,2", "1, -1", "3e38"]
TYPES = ["f32", "f16", "bf16", "f64", "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "u1", "u4", "i4",
         "boolean", "string", "dynamic", "undefined", "nf4", "f8e4m3", "f8e5m2", "bogus", "FP32", "FP16", "I64"]
VERSIONS = ["opset1", "opset3", "opset4", "opset5", "opset6", "opset8", "opset13", "opset15", "opset99", "extension",
            "", "opset0"]


def _int_plus(text, n: int) -> str:
    try:
        return str(int(text) + n)
    except (TypeError, ValueError):
        return str(n)


def _layers(root):
    return root.findall("./layers/layer")


def _pick(rng, seq):
    return seq[rng.randrange(len(seq))] if seq else None


def m_attr_value(rng, root, binary, ops):
    datas = [d for d in root.iter("data") if d.attrib]
    d = _pick(rng, datas)
    if d is None:
        return "noop"
    key = _pick(rng, sorted(d.attrib))
    old = d.get(key)
    if rng.random() < 0.3 and re.search(r"\d", old):  # a nearby value keeps the rest plausible
        digits = [m.start() for m in re.finditer(r"\d", old)]
        at = _pick(rng, digits)
        new = old[:at] + str(rng.randrange(10)) + old[at + 1:]
    else:
        new = _pick(rng, VALUES)
    d.set(key, new)
    return f"attr {key}={new!r}"


def m_attr_drop(rng, root, binary, ops):
    datas = [d for d in root.iter("data") if d.attrib]
    d = _pick(rng, datas)
    if d is None:
        return "noop"
    key = _pick(rng, sorted(d.attrib))
    del d.attrib[key]
    return f"drop attr {key}"


def m_element_type(rng, root, binary, ops):
    layer = _pick(rng, [l for l in _layers(root) if l.get("type") in ("Const", "Parameter", "Convert")])
    if layer is None:
        return "noop"
    d = layer.find("data")
    t = _pick(rng, TYPES)
    key = "destination_type" if layer.get("type") == "Convert" else "element_type"
    if d is not None:
        d.set(key, t)
    if rng.random() < 0.5:
        for p in layer.iter("port"):
            if p.get("precision") is not None:
                p.set("precision", t.upper() if rng.random() < 0.5 else t)
    return f"{layer.get('type')} {key}={t}"


def m_precision(rng, root, binary, ops):
    ports = [p for p in root.iter("port") if p.get("precision") is not None]
    p = _pick(rng, ports)
    if p is None:
        return "noop"
    t = _pick(rng, TYPES)
    p.set("precision", t.upper())
    return f"port precision={t}"


def m_dim(rng, root, binary, ops):
    ports = list(root.iter("port"))
    p = _pick(rng, ports)
    if p is None:
        return "noop"
    dims = p.findall("dim")
    choice = rng.random()
    if dims and choice < 0.6:
        d = _pick(rng, dims)
        d.text = _pick(rng, ["-7", "-1", "0", "1", "2", "3", "1000000000", "x", "", _int_plus(d.text, 1)])
        return f"dim={d.text!r}"
    if dims and choice < 0.8:
        p.remove(_pick(rng, dims))
        return "drop dim"
    el = p.makeelement("dim", {})
    el.text = _pick(rng, ["1", "2", "-1"])
    p.append(el)
    return "add dim"


def m_port_id(rng, root, binary, ops):
    p = _pick(rng, list(root.iter("port")))
    if p is None:
        return "noop"
    p.set("id", _pick(rng, ["0", "1", "2", "5", "-1", "x"]))
    return f"port id={p.get('id')}"


def m_port_drop(rng, root, binary, ops):
    layer = _pick(rng, _layers(root))
    side = layer.find(_pick(rng, ["input", "output"]))
    if side is None or not len(side):
        return "noop"
    side.remove(_pick(rng, list(side)))
    return f"drop {side.tag} port of {layer.get('type')}"


def m_edge(rng, root, binary, ops):
    edges_el = root.find("edges")
    edges = list(edges_el) if edges_el is not None else []
    e = _pick(rng, edges)
    if e is None:
        return "noop"
    choice = rng.random()
    if choice < 0.3:
        edges_el.remove(e)
        return "drop edge"
    if choice < 0.5:
        edges_el.append(e.makeelement("edge", dict(e.attrib)))
        return "duplicate edge"
    if choice < 0.8:
        other = _pick(rng, _layers(root))
        ports = other.findall("./output/port")
        e.set("from-layer", other.get("id"))
        e.set("from-port", _pick(rng, ports).get("id") if ports else "0")
        return "rewire edge source"
    other = _pick(rng, _layers(root))
    ports = other.findall("./input/port")
    e.set("to-layer", other.get("id"))
    e.set("to-port", _pick(rng, ports).get("id") if ports else "0")
    return "rewire edge target"


def m_retype(rng, root, binary, ops):
    layer = _pick(rng, _layers(root))
    if rng.random() < 0.3:
        new = _pick(rng, ["Result", "Gather", "Parameter", "Const", "Concat", "Add", "Convolution", "MatMul",
                          "Reshape", "Softmax", "MVN", "FakeQuantize", "Transpose", "Split"])
    else:
        new = _pick(rng, ops)
    layer.set("type", new)
    if rng.random() < 0.5:
        layer.set("version", _pick(rng, VERSIONS))
    return f"retype {layer.get('name')} -> {new}"


def m_version(rng, root, binary, ops):
    layer = _pick(rng, _layers(root))
    layer.set("version", _pick(rng, VERSIONS))
    return f"version {layer.get('version')}"


def m_const_shape(rng, root, binary, ops):
    layer = _pick(rng, [l for l in _layers(root) if l.get("type") in ("Const", "Parameter")])
    if layer is None or layer.find("data") is None:
        return "noop"
    d = layer.find("data")
    shape = d.get("shape", "")
    new = _pick(rng, ["-1", "-1, -1", ",".join(["1"] * 65), "", "0", "1", shape + ", 2", shape.replace("1", "-1", 1),
                      "?", "...", "2..5", "1, 2, 3, 4, 5, 6, 7, 8", shape.replace(",", ",,", 1), "-7"])
    d.set("shape", new)
    return f"shape={new!r}"


def m_bin(rng, root, binary, ops):
    if not binary:
        return "noop"
    choice = rng.random()
    if choice < 0.25:
        del binary[rng.randrange(len(binary)):]
        return "truncate bin"
    if choice < 0.6:  # NaN / Inf / huge float32 words
        word = _pick(rng, [b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f", b"\x00\x00\x80\xff", b"\xff\xff\x7f\x7f",
                           b"\x00\x00\x00\x00"])
        n = rng.choice([1, 4, 64, len(binary) // 4])
        start = rng.randrange(max(1, len(binary) // 4 - n + 1)) * 4
        for i in range(start, min(len(binary) - 3, start + 4 * n), 4):
            binary[i:i + 4] = word
        return f"float words {word.hex()} x{n}"
    for _ in range(rng.choice([1, 8, 64])):
        i = rng.randrange(len(binary))
        binary[i] = rng.randrange(256)
    return "flip bin bytes"


def m_const_offset(rng, root, binary, ops):
    layer = _pick(rng, [l for l in _layers(root) if l.get("type") == "Const"])
    if layer is None:
        return "noop"
    d = layer.find("data")
    key = _pick(rng, ["offset", "size"])
    d.set(key, _pick(rng, ["0", "1", "3", "-4", "999999999", _int_plus(d.get(key, "0"), 4)]))
    return f"const {key}={d.get(key)}"


def m_layer_id(rng, root, binary, ops):
    layer = _pick(rng, _layers(root))
    layer.set("id", _pick(rng, ["0", "1", "-1", "x", "99999"]))
    return f"layer id={layer.get('id')}"


MUTATORS = [m_attr_value] * 6 + [m_attr_drop, m_element_type, m_element_type, m_precision, m_dim, m_dim, m_port_id,
                                 m_port_drop, m_edge, m_edge, m_retype, m_retype, m_version, m_const_shape,
                                 m_const_shape, m_bin, m_bin, m_const_offset, m_layer_id]


def mutate(seed: int, index: int, samples: list[Path], ops: list[str]) -> tuple[Path, bytes, bytes, list[str]]:
    """Mutant ``index`` of ``seed``: (its sample, .xml bytes, .bin bytes, what was done)."""
    from lxml import etree

    rng = random.Random(seed * 1_000_003 + index)
    sample = samples[rng.randrange(len(samples))]
    root = etree.fromstring(sample.read_bytes())
    binary = bytearray(sample.with_suffix(".bin").read_bytes())
    done = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        done.append(_pick(rng, MUTATORS)(rng, root, binary, ops))
    return sample, etree.tostring(root, xml_declaration=True, encoding="utf-8"), bytes(binary), done


# ----------------------------------------------------------------------------------------------
# The worker: reads one job a line on stdin, answers one JSON line on stdout.

def _inputs(compiled, rng):
    import numpy as np

    feed = {}
    for spec in compiled.inputs:
        shape = tuple(1 if d < 0 else d for d in spec.shape)
        if int(np.prod(shape, dtype=np.float64)) > 5_000_000:
            return None
        if spec.dtype.kind in "SUO":
            feed[spec.name] = np.full(shape, "ab", dtype=object)
        elif spec.dtype.kind == "b":
            feed[spec.name] = rng.random(shape) > 0.5
        elif spec.dtype.kind in "iu":
            feed[spec.name] = rng.integers(0, 3, shape).astype(spec.dtype)
        else:
            feed[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
    return feed


def _cli(args: list[str]) -> tuple[str, str]:
    """``irtool ARGS`` in this process: (outcome, detail). A SystemExit is how it ends; anything else
    is a traceback a user would see."""
    import contextlib
    import io

    from irtool.cli import main

    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            main(args)
    except SystemExit as e:
        text = buf.getvalue()
        if "Traceback" in text:
            return "traceback", text[-2000:]
        return ("ok" if not e.code else "clean"), ""
    except MemoryError:
        return "memory", ""
    except BaseException as e:  # noqa: BLE001 (what the fuzzer is for)
        import traceback

        return "traceback", "".join(traceback.format_exception(e))[-4000:]
    return "ok", ""


def _run_job(job: dict) -> dict:
    import traceback
    import warnings

    import numpy as np

    import irtool
    from irtool.errors import IrToolError

    warnings.simplefilter("ignore")
    xml = job["xml"]
    stage = "read"
    result = {"outcome": "ok", "stage": None, "detail": ""}
    try:
        model = irtool.read_model(xml)
        stage = "validate"
        from irtool.ir.checks import model_problems
        from irtool.ir.validate import validate

        validate(xml)
        model_problems(model, structure=True)
        if job.get("cli"):
            stage = "cli " + job["cli"][0]
            outcome, detail = _cli(job["cli"])
            if outcome in ("traceback", "memory"):
                return {"outcome": outcome, "stage": stage, "detail": detail}
        stage = "compile"
        compiled = irtool.compile_model(model)
        stage = "infer"
        feed = _inputs(compiled, np.random.default_rng(job["index"]))
        if feed is not None:
            compiled.infer(feed)
        if job.get("quantize"):
            stage = "quantize"
            rng = np.random.default_rng(0)
            calib = [_inputs(compiled, rng) for _ in range(2)]
            if calib[0] is not None:
                irtool.quantize(model, calib)
    except IrToolError as e:
        result = {"outcome": "clean", "stage": stage, "detail": f"{type(e).__name__}: {e}"[:500]}
    except MemoryError:
        result = {"outcome": "memory", "stage": stage, "detail": ""}
    except Exception as e:  # noqa: BLE001
        result = {"outcome": "foreign", "stage": stage,
                  "detail": "".join(traceback.format_exception(e))[-4000:]}
    return result


def worker(memory_gb: float) -> None:
    import resource

    if memory_gb > 0:  # a mutant asking for terabytes gets a MemoryError, not the machine's OOM killer
        limit = int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = sys.stdout
    sys.stdout = sys.stderr  # (a stray print must not break the protocol)
    for line in sys.stdin:
        job = json.loads(line)
        result = _run_job(job)
        out.write(json.dumps(result) + "\n")
        out.flush()


# ----------------------------------------------------------------------------------------------
# The campaign.

class _Worker:
    def __init__(self, memory_gb: float):
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   IRTOOL_NUM_THREADS="1", OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker",
                                      "--memory-gb", str(memory_gb)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
                                     bufsize=1)
        self.job = None
        self.started = 0.0
        self.history: collections.deque = collections.deque(maxlen=50)  # the mutants this process ran

    def send(self, job: dict) -> None:
        self.job = job
        self.history.append(job["index"])
        self.started = time.monotonic()
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def campaign(n: int, seed: int, out: Path, workers: int, timeout: float, quantize_every: int, cli_every: int,
             memory_gb: float, only: list[int] | None = None, verbose: bool = False) -> dict:
    """Run mutants 0..n-1 (or ``only``); return the counts per outcome and where each bad one went."""
    from irtool.ir.validate import _op_table

    samples = sorted(p for p in (ROOT / "samples").glob("*.xml"))
    ops = sorted(_op_table().ops)
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="irtool-fuzz-"))
    counts = collections.Counter()
    stages = collections.Counter()
    bad: list[dict] = []
    todo = collections.deque(only if only is not None else range(n))
    pool = [_Worker(memory_gb) for _ in range(min(workers, len(todo)) or 1)]
    t0 = time.monotonic()
    cli_commands = ("info", "validate", "run", "quantize")

    def job_for(i: int) -> dict:
        sample, xml, binary, done = mutate(seed, i, samples, ops)
        path = scratch / f"m{i}.xml"
        path.write_bytes(xml)
        path.with_suffix(".bin").write_bytes(binary)
        job = {"index": i, "xml": str(path), "sample": sample.name, "done": done}
        if quantize_every and i % quantize_every == 0:
            job["quantize"] = True
        if cli_every and i % cli_every == 1:
            cmd = cli_commands[(i // cli_every) % len(cli_commands)]
            args = [cmd, str(path)]
            if cmd == "quantize":
                calib = sample.with_name(sample.stem.removesuffix("_int8").removesuffix("_fp16")
                                         .removesuffix("_fragile") + "_calib.npz")
                args += ["--data", str(calib), "--subset", "2", "-o", str(scratch / f"q{i}.xml")]
            job["cli"] = args
        return job

    def finish(w: _Worker, result: dict) -> None:
        job = w.job
        if result["outcome"] in ("crash", "hang"):  # it may need what the process ran before it
            result["detail"] += (f"\nthis worker's last mutants (replay in order): python tools/fuzz.py --seed {seed} "
                                 f"--workers 1 --only {' '.join(map(str, w.history))}")
        w.job = None
        outcome = result["outcome"]
        counts[outcome] += 1
        stages[f"{outcome}@{result.get('stage')}"] += 1
        path = Path(job["xml"])
        if outcome not in ("ok", "clean"):
            dest = out / f"{outcome}-{seed}-{job['index']}"
            dest.mkdir(exist_ok=True)
            shutil.copy(path, dest / "model.xml")
            shutil.copy(path.with_suffix(".bin"), dest / "model.bin")
            (dest / "repro.txt").write_text(
                f"python tools/fuzz.py --seed {seed} --only {job['index']}   # {job['sample']}: "
                f"{'; '.join(job['done'])}; stage {result.get('stage')}\n\n{result.get('detail', '')}\n")
            bad.append({"index": job["index"], "outcome": outcome, "stage": result.get("stage"),
                        "sample": job["sample"], "done": job["done"], "dir": str(dest),
                        "detail": result.get("detail", "")[-300:]})
            if verbose or outcome in BAD:
                print(f"  {outcome} #{job['index']} ({job['sample']}: {'; '.join(job['done'])}) at "
                      f"{result.get('stage')}: {result.get('detail', '').strip().splitlines()[-1:] }", flush=True)
        for p in (path, path.with_suffix(".bin")):
            p.unlink(missing_ok=True)

    total = len(todo)
    last_report = t0
    try:
        while todo or any(w.job for w in pool):
            for w in pool:
                if w.job is None and todo:
                    w.send(job_for(todo.popleft()))
            busy = {w.proc.stdout.fileno(): w for w in pool if w.job is not None}
            ready, _, _ = select.select(list(busy), [], [], 1.0)
            for fd in ready:
                w = busy[fd]
                line = w.proc.stdout.readline()
                if line:
                    finish(w, json.loads(line))
                    continue
                code = w.proc.wait()
                finish(w, {"outcome": "crash", "stage": "worker", "detail": f"worker exit code {code}"})
                pool[pool.index(w)] = _Worker(memory_gb)
            now = time.monotonic()
            for i, w in enumerate(pool):
                if w.job is not None and now - w.started > timeout:
                    w.kill()
                    finish(w, {"outcome": "hang", "stage": "?", "detail": f"over {timeout} s"})
                    pool[i] = _Worker(memory_gb)
            if now - last_report > 30:
                last_report = now
                doneN = sum(counts.values())
                print(f"  {doneN}/{total} in {now - t0:.0f} s: {dict(counts)}", flush=True)
    finally:
        for w in pool:
            w.kill()
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.monotonic() - t0
    summary = {"mutants": total, "seed": seed, "seconds": round(seconds, 1),
               "counts": {k: counts.get(k, 0) for k in OUTCOMES}, "stages": dict(sorted(stages.items())),
               "bad": bad}
    (out / f"summary-{seed}.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="mutants")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "fuzz-out", help="reproducers and summary")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a mutant may take (more is a hang)")
    ap.add_argument("--quantize-every", type=int, default=25, help="every Nth mutant is also quantized")
    ap.add_argument("--cli-every", type=int, default=50, help="every Nth mutant also goes through the CLI")
    ap.add_argument("--memory-gb", type=float, default=6.0, help="address-space cap of a worker")
    ap.add_argument("--only", type=int, nargs="*", help="replay these mutant indices")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.memory_gb)
        return 0
    s = campaign(args.n, args.seed, args.out, args.workers, args.timeout, args.quantize_every, args.cli_every,
                 args.memory_gb, args.only, args.verbose)
    import platform

    print(f"fuzz: {s['mutants']} mutants, seed {s['seed']}, {s['seconds']} s on {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()})")
    print("  " + ", ".join(f"{k} {v}" for k, v in s["counts"].items()))
    print("  by stage: " + ", ".join(f"{k} {v}" for k, v in s["stages"].items()))
    escapes = sum(s["counts"][k] for k in BAD)
    if escapes:
        print(f"  {escapes} escapes: reproducers in {args.out}")
    return 1 if escapes else 0


if __name__ == "__main__":
    sys.exit(main())
