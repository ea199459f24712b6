"""numba's on-disk cache of irtool's kernels: where it lives, when it is fresh, what loading costs.

Three changes to numba's defaults, installed by :func:`install` (``irtool.runtime`` calls it before any
kernel module is imported; each is measured on a warm ``irtool run`` of the digits sample):

* **Location.** numba keys a cached kernel by the absolute path of its source file (a hash of the
  folder, under ``NUMBA_CACHE_DIR``, or ``__pycache__`` beside it): every install, virtual environment
  or checkout of irtool compiled every kernel again (~5 s for the digits CNN). irtool's kernels are
  cached under ``<root>/irtool/<module folder inside the package>`` instead, ``<root>`` being
  ``NUMBA_CACHE_DIR`` or, unset, numba's user-wide cache folder (``~/.cache/numba``).
* **Freshness.** A module's cache is valid while its own source *and* the private helpers other kernel
  modules inline (``kernels/_*.py``) are byte-for-byte the same (a SHA-256 of their contents, not
  time stamps): an edit to a helper once left stale machine code behind (a segfault), and a new
  checkout or install of the same sources reuses the cache.
* **Loading.** Before loading a cached kernel numba "refreshes" its CPU target: it imports every
  lowering registry it has (numba.np.linalg, arraymath, random, typed containers...; 0.2 s, and
  0.2 s more for scipy.linalg, which numba.np.arraymath imports to see whether BLAS is there). Loading
  machine code needs none of it, only numba's runtime (NRT): irtool's kernels load with that alone.
  Compiling (a cache miss) still refreshes the target first, as numba does, and its BLAS check there
  looks for scipy's cython_blas file instead of importing scipy.linalg (imported when a jitted BLAS
  call first runs, if ever).
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # .../irtool
KERNELS = PACKAGE / "runtime" / "kernels"

_installed = False
_stamps: dict[tuple[str, int, int], str] = {}  # (path, mtime_ns, size) -> sha256 of its bytes
_ready: set[str] = set()  # cache folders made and found writable in this process


def _digest(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _stamps:
        _stamps[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _stamps[key]


def helpers_digest() -> str:
    """One hash of every private kernel helper (``kernels/_*.py``, inlined into other modules' kernels)."""
    h = hashlib.sha256()
    for p in sorted(KERNELS.glob("_*.py")):
        if p.name != "__init__.py":
            h.update(p.name.encode() + b"\0" + _digest(p).encode() + b"\0")
    return h.hexdigest()


def cache_root() -> Path:
    """Where irtool's kernels are cached: ``NUMBA_CACHE_DIR``, else numba's user-wide cache folder."""
    from numba.core import config

    if config.CACHE_DIR:
        return Path(config.CACHE_DIR)
    from numba.misc.appdirs import AppDirs

    return Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)


def _make_locator():
    from numba.core.caching import _CacheLocator

    class KernelCacheLocator(_CacheLocator):
        """numba cache locator for functions defined in irtool's own source files (see the module)."""

        def __init__(self, py_func, py_file: Path):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = str(cache_root() / "irtool" / py_file.parent.relative_to(PACKAGE))

        def ensure_cache_path(self):
            if self._cache_path not in _ready:
                os.makedirs(self._cache_path, exist_ok=True)
                tempfile.TemporaryFile(dir=self._cache_path).close()  # writable?
                _ready.add(self._cache_path)

        def get_cache_path(self):
            return self._cache_path

        def get_source_stamp(self):
            return "irtool-sha256", _digest(self._py_file), helpers_digest()

        def get_disambiguator(self):
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            try:
                path = Path(py_file).resolve()
                path.relative_to(PACKAGE)
            except (ValueError, OSError):
                return None  # not irtool's: numba's own locators
            if not path.is_file():
                return None
            self = cls(py_func, path)
            try:
                self.ensure_cache_path()
            except OSError:
                return None  # not writable: numba's locators try theirs
            return self

    return KernelCacheLocator


def _cheap_blas_check() -> None:
    """numba.np.arraymath's "is BLAS there?" without importing scipy.linalg: scipy's cython_blas file."""
    import importlib.util

    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("scipy 0.16+ is required for linear algebra")
    for folder in spec.submodule_search_locations:
        if any(Path(folder, "linalg").glob("cython_blas*")):
            return
    raise ImportError("scipy 0.16+ is required for linear algebra")


def install() -> None:
    """Install the locator, the light cache loading and the cheap BLAS check (once per process)."""
    global _installed
    if _installed:
        return
    from numba.core import caching
    from numba.core.cpu import CPUContext
    from numba.core.runtime import rtsys

    locator = _make_locator()
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # (renamed in numba 0.61)
    impl._locator_classes.insert(0, locator)

    full_load = caching.Cache.load_overload

    def load_overload(self, sig, target_context):
        if not isinstance(getattr(self._impl, "locator", None), locator) or not isinstance(target_context, CPUContext):
            return full_load(self, sig, target_context)
        rtsys.initialize(target_context)  # what running loaded machine code needs of the refresh
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    caching.Cache.load_overload = load_overload

    registries = CPUContext.load_additional_registries

    def load_additional_registries(self):
        if "numba.np.arraymath" not in sys.modules:
            from numba.np import linalg

            real = linalg.ensure_blas
            linalg.ensure_blas = _cheap_blas_check  # what arraymath binds at import for its check
            try:
                import numba.np.arraymath  # noqa: F401
            finally:
                linalg.ensure_blas = real  # lowering a BLAS call still checks for real
        return registries(self)

    CPUContext.load_additional_registries = load_additional_registries
    _installed = True
