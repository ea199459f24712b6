"""Kernels, one module per op family, imported by op type as models need them (see
:mod:`irtool.runtime.registry`: ``find_kernel`` imports the modules of an op, ``load_all`` every one).

Each module keeps a short numpy reference beside any fast (numba) kernel; the tests hold the two
against each other and against OpenVINO.
"""


def load_all() -> None:
    """Import every kernel module: every kernel registered."""
    from irtool.runtime.registry import load_all as _load_all

    _load_all()
