"""The .xml/.bin pair replaced as a pair: a reader never takes a new .bin with an old .xml.

An IR is two files and a rename replaces one: between the two renames of a save, or after a writer
was killed there, the folder holds one new file beside one old. So before its first rename a writer
leaves a marker, ``.<model>.xml.pair``, recording the identity (inode, size, modification time) of the
old files and of the new ones; it removes the marker after the second rename. A reader that finds a
marker accepts the pair only if both files are the old ones or both the new ones (waiting a moment
for a writer that still runs); a mixed pair is one :class:`~irtool.errors.IRFormatError` naming the
files and what to do. Nothing is hashed: a rename keeps the inode, so identity is exact and cheap.

Test hook: ``IRTOOL_TEST_PAUSE_BETWEEN_RENAMES=<seconds>`` makes a writer say so on stderr and sleep
between the two renames (the test kills it there).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from irtool.errors import IRFormatError
from irtool.files import _FINISH, AtomicFile, _pid_alive, atomic_write

WAIT_S = 5.0  # how long a reader waits for a live writer to finish its renames


def marker_path(xml: Path) -> Path:
    return xml.parent / f".{xml.name}.pair"


def _identity(path: Path | str) -> list[int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def commit_pair(xml_tmp: AtomicFile, bin_tmp: AtomicFile) -> None:
    """Rename both temporaries into place, the .bin first, under a marker (see the module's doc)."""
    xml_tmp.close()
    bin_tmp.close()
    xml, binary = xml_tmp.dest, bin_tmp.dest
    marker = marker_path(xml)
    record = {"pid": os.getpid(), "xml": xml.name, "bin": binary.name,
              "old": [_identity(xml), _identity(binary)], "new": [_identity(xml_tmp.tmp), _identity(bin_tmp.tmp)]}
    with atomic_write(marker, "w", encoding="utf-8") as f:
        json.dump(record, f)

    def finish() -> None:  # (also what a SIGTERM between the renames runs: the pair then ends whole)
        if not xml_tmp.done:
            xml_tmp.commit()
        if marker.exists():
            marker.unlink()
        if finish in _FINISH:
            _FINISH.remove(finish)

    bin_tmp.commit()
    _FINISH.append(finish)
    pause = os.environ.get("IRTOOL_TEST_PAUSE_BETWEEN_RENAMES")
    if pause:
        print(f"irtool: test pause between renames ({binary})", file=sys.stderr, flush=True)
        time.sleep(float(pause))
    finish()


def check_pair(xml: Path, binary: Path) -> None:
    """Refuse ``xml`` + ``binary`` if a writer's marker says they are not one pair."""
    marker = marker_path(xml)
    if not marker.exists() or binary != xml.with_suffix(".bin"):
        return
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            record = json.loads(marker.read_text(encoding="utf-8"))
            pid, old, new = record["pid"], record["old"], record["new"]
        except FileNotFoundError:
            return  # the writer just finished
        except (OSError, ValueError, KeyError, TypeError):
            record = pid = old = new = None
        now = [_identity(xml), _identity(binary)]
        if record is not None and now in (old, new):
            return
        if pid is not None and pid != os.getpid() and _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # a writer between its two renames
            continue
        raise IRFormatError(f"{xml} and {binary.name}: a save of this model was interrupted between writing its .bin "
                            f"and its .xml ({marker.name} records it), so the two files do not belong together; "
                            f"save the model again (or delete {marker.name} if you know the pair is good)")
