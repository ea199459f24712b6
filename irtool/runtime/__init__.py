"""irtool's CPU plugin: load-time transformations, numba/numpy kernels, performance counters."""
from irtool.runtime.plugin import CompiledModel, InferRequest, Outputs, TensorSpec, compile_model
from irtool.runtime.profiling import ProfilingInfo
from irtool.runtime.registry import kernel, supported_ops

__all__ = ["CompiledModel", "InferRequest", "Outputs", "ProfilingInfo", "TensorSpec", "compile_model", "kernel",
           "supported_ops"]
