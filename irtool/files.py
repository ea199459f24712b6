"""Writing files whole or not at all: a temporary file beside the destination, renamed over it.

Temporaries never outlive the process that made them (SIGKILL aside): they are removed when their
context ends, at exit (``atexit``) and on SIGTERM/SIGHUP (a handler, installed with the first
temporary where the signal has its default action). Their names carry the writer's process id,
``.<name>.<pid>.<random>.tmp``, so the next writer of the same file removes those of a writer that
was killed (:func:`remove_stale_temporaries`).
"""
from __future__ import annotations

import atexit
import os
import re
import signal
import tempfile
import threading
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


_LIVE: set[str] = set()  # temporaries of this process not yet renamed or removed
_FINISH: list = []  # callables that complete a commit in progress (a pair between its two renames)
_HOOKED = False


def _remove_live() -> None:
    for finish in list(_FINISH):
        try:
            finish()
        except OSError:
            pass
    for tmp in list(_LIVE):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        _LIVE.discard(tmp)


def _on_signal(signum, frame) -> None:
    _remove_live()
    signal.signal(signum, signal.SIG_DFL)  # then die of it, as without the handler
    os.kill(os.getpid(), signum)


def _hook() -> None:
    """atexit + SIGTERM/SIGHUP handlers, once, where nothing else handles those signals."""
    global _HOOKED
    if _HOOKED:
        return
    _HOOKED = True
    atexit.register(_remove_live)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, _on_signal)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(dest: str | Path) -> list[Path]:
    """Remove the temporaries of ``dest`` left by writers that no longer run (killed); returns them."""
    dest = Path(dest)
    pattern = re.compile(rf"\.{re.escape(dest.name)}\.(\d+)\.[^.]+\.tmp")
    removed = []
    try:
        names = os.listdir(dest.parent or ".")
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            try:
                os.unlink(dest.parent / name)
                removed.append(dest.parent / name)
            except OSError:
                pass
    return removed


class AtomicFile:
    """A temporary file in ``dest``'s folder; :meth:`commit` renames it over ``dest``, leaving the
    context without committing removes it. The result has the permissions a plainly created file
    would (``mkstemp`` makes 0600 files: a model written for a team must stay readable)."""

    def __init__(self, dest: str | Path, mode: str = "wb", encoding: str | None = None):
        self.dest = check_writable(dest)
        _hook()
        remove_stale_temporaries(self.dest)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.dest.name}.{os.getpid()}.", suffix=".tmp",
                                        dir=self.dest.parent or ".")
        _LIVE.add(self.tmp)
        try:
            os.chmod(self.tmp, 0o666 & ~_umask())
            self.file: IO = os.fdopen(fd, mode, encoding=encoding)
        except BaseException:
            os.close(fd)
            self._remove()
            raise
        self.done = False

    def __enter__(self) -> AtomicFile:
        return self

    def close(self) -> None:
        """Finish writing the temporary (before it is renamed)."""
        self.file.close()

    def commit(self) -> None:
        self.close()
        os.replace(self.tmp, self.dest)
        _LIVE.discard(self.tmp)
        self.done = True

    def _remove(self) -> None:
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass
        _LIVE.discard(self.tmp)

    def __exit__(self, *exc) -> None:
        if not self.done:
            self.file.close()
            self._remove()


@contextmanager
def atomic_write(dest: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """``with atomic_write(path) as f: ...``: ``path`` appears, complete, only if the block succeeds."""
    with AtomicFile(dest, mode, encoding) as tmp:
        yield tmp.file
        tmp.commit()
