"""Kernels, one module per op family; importing this package registers all of them.

Each module keeps a short numpy reference beside any fast (numba) kernel; the tests hold the two
against each other and against OpenVINO.
"""
import importlib
import pkgutil

for _mod in pkgutil.iter_modules(__path__):
    if not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")
