"""irtool's CPU plugin: load-time transformations, numba/numpy kernels, performance counters."""
import os

# numba's OpenMP threads busy-wait after each parallel region by default; on a small machine they then
# fight anything else running for the cores: measured on 2 cores with one other busy process, a
# ResNet-sized model went from 0.6 ms to 17 ms median with even a short spin (GOMP_SPINCOUNT=10000)
# and to 127 ms with a long one (and on an idle machine spinning gained nothing reliable: resnet_mini
# 0.46-0.49 ms against 0.59, the digits CNN 0.24-0.40 ms, once 24 ms, against 0.21). Sleeping waiters
# cost ~13 us to wake per parallel region instead, so only layers with work to match go parallel
# (threads.PARALLEL_MACS). Set before the first parallel region starts the OpenMP runtime; a user's
# own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from irtool.runtime import jit_cache

jit_cache.install()  # numba's cache of the kernels: before any kernel module is imported (see jit_cache)
from irtool.runtime.plugin import CompiledModel, InferRequest, Outputs, TensorSpec, compile_model
from irtool.runtime.profiling import ProfilingInfo
from irtool.runtime.registry import kernel, supported_ops

__all__ = ["CompiledModel", "InferRequest", "Outputs", "ProfilingInfo", "TensorSpec", "compile_model", "kernel",
           "supported_ops"]
