"""Writing files whole or not at all: a temporary file beside the destination, renamed over it."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from irtool.errors import InputError


def check_writable(dest: str | Path) -> Path:
    """``dest`` as a Path, or an :class:`InputError` when it cannot be written: its folder missing,
    not a folder, or read-only; ``dest`` a folder. Called before long work, not after it."""
    dest = Path(dest)
    folder = dest.parent
    if dest.is_dir():
        raise InputError(f"{dest}: is a folder; give a file name")
    if not folder.exists():
        raise InputError(f"{dest}: the folder {folder} does not exist; create it or choose another path")
    if not folder.is_dir():
        raise InputError(f"{dest}: {folder} is not a folder; choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{dest}: the folder {folder} is not writable; choose another path")
    return dest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicFile:
    """A temporary file in ``dest``'s folder; :meth:`commit` renames it over ``dest``, leaving the
    context without committing removes it. The result has the permissions a plainly created file
    would (``mkstemp`` makes 0600 files: a model written for a team must stay readable)."""

    def __init__(self, dest: str | Path, mode: str = "wb", encoding: str | None = None):
        self.dest = check_writable(dest)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.dest.name}.", suffix=".tmp", dir=self.dest.parent or ".")
        os.chmod(self.tmp, 0o666 & ~_umask())
        self.file: IO = os.fdopen(fd, mode, encoding=encoding)
        self.done = False

    def __enter__(self) -> AtomicFile:
        return self

    def commit(self) -> None:
        self.file.close()
        os.replace(self.tmp, self.dest)
        self.done = True

    def __exit__(self, *exc) -> None:
        if not self.done:
            self.file.close()
            os.unlink(self.tmp)


@contextmanager
def atomic_write(dest: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """``with atomic_write(path) as f: ...``: ``path`` appears, complete, only if the block succeeds."""
    with AtomicFile(dest, mode, encoding) as tmp:
        yield tmp.file
        tmp.commit()
