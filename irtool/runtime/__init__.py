"""irtool's CPU plugin: load-time transformations, numba/numpy kernels, performance counters."""
import os

# numba's OpenMP threads busy-wait after each parallel region by default; on a small machine they then
# fight OpenBLAS's threads (and anything else running) for the cores: measured on 2 cores under load,
# a ResNet-sized model went from 1.7 ms to 212 ms median. Sleeping waiters cost microseconds instead.
# Set before the first parallel region starts the OpenMP runtime; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from irtool.runtime.plugin import CompiledModel, InferRequest, Outputs, TensorSpec, compile_model
from irtool.runtime.profiling import ProfilingInfo
from irtool.runtime.registry import kernel, supported_ops

__all__ = ["CompiledModel", "InferRequest", "Outputs", "ProfilingInfo", "TensorSpec", "compile_model", "kernel",
           "supported_ops"]
