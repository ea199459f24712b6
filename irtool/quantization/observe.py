"""Watching a model run: every layer's outputs and every model input, sample by sample."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from irtool.ir.graph import Layer, Model

Observer = Callable[[Layer, int, np.ndarray], None]  # (layer, output index, value)


def run_observed(model: Model, samples: Sequence[Mapping[str, np.ndarray]], observe: Observer,
                 progress: Callable[[int, int], None] | None = None) -> None:
    """Run the FP32 plugin over ``samples``; ``observe`` sees each layer output (the Parameters'
    included: model inputs are not produced by a step). The graph runs exactly as it is: no fusion,
    no INT8 passes, so every layer is a step of its own and its output is seen."""
    from irtool.runtime import compile_model

    compiled = compile_model(model, precision="fp32", fuse=False)
    request = compiled.create_infer_request()
    params = {spec.name: next(l for l in model.parameters if spec.name in (*l.outputs[0].names, l.name))
              for spec in compiled.inputs}
    for n, sample in enumerate(samples):
        request.infer(sample, observe)
        for name, value in sample.items():
            observe(params[compiled.input(name).name], 0, np.asarray(value))
        if progress:
            progress(n + 1, len(samples))
